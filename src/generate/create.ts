import type { Config } from '../config.js';
import type { LanguageModel } from './llm.js';
import { createOllamaModel, DEFAULT_OLLAMA_URL } from './providers/ollama.js';
import { createOpenAICompatibleModel, DEFAULT_OPENAI_URL } from './providers/openai-compatible.js';

export const DEFAULT_OLLAMA_MODEL = 'llama3.2-vision';
export const DEFAULT_OPENAI_MODEL = 'gpt-4o-mini';
const PROBE_TIMEOUT_MS = 1500;

/** True when an Ollama server answers `GET ${url}/api/version` with a JSON version within the timeout. */
export async function probeOllama(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/api/version`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return false;
    const body: unknown = await res.json();
    return typeof body === 'object' && body !== null && 'version' in body;
  } catch {
    return false;
  }
}

/**
 * The configured chat model, or undefined when there is none: provider `none`, or `auto` with no Ollama
 * answering (then `ask` returns the sources only). `auto` probes `${url}/api/version` (1.5 s).
 */
/** What choosing and reaching a chat model needs of the `llm` settings. */
export type LlmSettings = Omit<Config['llm'], 'prompt'>;

export async function createLanguageModel(llm: LlmSettings): Promise<LanguageModel | undefined> {
  const common = {
    timeoutMs: llm.timeoutMs,
    ...(llm.temperature === undefined ? {} : { temperature: llm.temperature }),
  };
  switch (llm.provider) {
    case 'none':
      return undefined;
    case 'ollama':
      return createOllamaModel({
        url: llm.url ?? DEFAULT_OLLAMA_URL,
        model: llm.model ?? DEFAULT_OLLAMA_MODEL,
        ...common,
      });
    case 'openai':
      return createOpenAICompatibleModel({
        url: llm.url ?? DEFAULT_OPENAI_URL,
        model: llm.model ?? DEFAULT_OPENAI_MODEL,
        ...(llm.apiKey ? { apiKey: llm.apiKey } : {}),
        ...common,
      });
    case 'auto': {
      const url = llm.url ?? DEFAULT_OLLAMA_URL;
      if (!(await probeOllama(url))) return undefined;
      return createOllamaModel({ url, model: llm.model ?? DEFAULT_OLLAMA_MODEL, ...common });
    }
  }
}
