/** A picture attached to a chat message. */
export interface ChatImage {
  bytes: Uint8Array;
  mime: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  images?: ChatImage[];
}

export interface ChatRequest {
  messages: ChatMessage[];
  temperature?: number;
  signal?: AbortSignal;
}

/**
 * A multimodal chat model. Each provider (Ollama, OpenAI-compatible, ...) is a thin adapter to this.
 * Failures are thrown as MmragError with codes `llm_unreachable`, `llm_model_missing`,
 * `llm_images_refused`, `llm_auth`, `llm_error`.
 */
export interface LanguageModel {
  readonly provider: string;
  readonly model: string;
  /** Streams the answer's text as it arrives. */
  stream(request: ChatRequest): AsyncIterable<string>;
}
