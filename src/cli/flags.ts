/**
 * The flags each command takes, as commander hands them over (strings until validated). Types only: every command
 * module imports them from here, so no command module imports another.
 */

/** Flags shared by every command that opens a knowledge base. */
export interface KbFlags {
  kb?: string;
  config?: string;
  embedModel?: string;
  embedDtype?: string;
  textModel?: string;
  offline?: boolean;
}

export interface RetrievalFlags {
  textK?: string;
  imageK?: string;
  textThreshold?: string;
  imageThreshold?: string;
  textTemperature?: string;
  imageTemperature?: string;
  scoring?: string;
  level?: string;
  mode?: string;
  where?: string;
  diversity?: string;
  rerank?: boolean;
  /** false with --no-adapter: search without the query adapter `mmrag tune` trained. */
  adapter?: boolean;
}

export interface LlmFlags {
  llm?: string;
  llmUrl?: string;
  llmModel?: string;
}

export type IngestFlags = KbFlags &
  LlmFlags & {
    json?: boolean;
    remote?: boolean;
    ocr?: boolean;
    caption?: boolean;
    transcribe?: string;
    include?: string[];
    exclude?: string[];
    prune?: boolean;
  };
export type SearchFlags = KbFlags & RetrievalFlags & { image?: string; json?: boolean };
export type AskFlags = SearchFlags &
  LlmFlags & {
    /** Print the exact prompt and the pictures attached before the answer. */
    showPrompt?: boolean;
    prompt?: string;
    /** false with --no-gate: ask the model whatever retrieval found. */
    gate?: boolean;
  };
export type ServeFlags = KbFlags & LlmFlags & { host?: string; port?: string; token?: string };
export type DemoFlags = LlmFlags & { kb?: string; offline?: boolean };
export type McpFlags = KbFlags & LlmFlags;
export type DoctorFlags = KbFlags & LlmFlags & { json?: boolean };
export type SourcesFlags = KbFlags & { json?: boolean };
export type DeleteFlags = KbFlags & { json?: boolean };

export interface EvalFlags extends KbFlags {
  /** Cut-off of recall@k (default 5). */
  k?: string;
  json?: boolean;
  /** Comma-separated names from EVAL_PRESETS (default: one setting, "default", with no options). */
  settings?: string;
}

export type TuneFlags = KbFlags &
  LlmFlags & {
    pairs?: string;
    eval?: string;
    epochs?: string;
    synthetic?: string;
    rank?: string;
    seed?: string;
    reset?: boolean;
    json?: boolean;
  };
