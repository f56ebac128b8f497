import type { ChatRequest, LanguageModel } from '../llm.js';
import type { LlmEndpoint } from './errors.js';
import { type StreamPart, streamWithErrorMapping, toSdkMessages } from './stream.js';

export const DEFAULT_OLLAMA_URL = 'http://127.0.0.1:11434';

export interface OllamaModelOptions {
  /** The Ollama server, such as http://127.0.0.1:11434 (the API lives under `${url}/api`). */
  url: string;
  model: string;
  temperature?: number;
  /** Abort when no data arrives for this long. */
  timeoutMs: number;
}

/** A LanguageModel that chats with an Ollama server through `/api/chat` (streaming NDJSON). */
export function createOllamaModel(opts: OllamaModelOptions): LanguageModel {
  const url = (opts.url || DEFAULT_OLLAMA_URL).replace(/\/+$/, '');
  const endpoint: LlmEndpoint = { provider: 'ollama', url, model: opts.model, timeoutMs: opts.timeoutMs };
  return {
    provider: 'ollama',
    model: opts.model,
    stream(request: ChatRequest): AsyncIterable<string> {
      const temperature = request.temperature ?? opts.temperature;
      const load = async () => {
        const [{ streamText }, { createOllama }] = await Promise.all([
          import('ai'),
          import('ollama-ai-provider-v2'),
        ]);
        const ollama = createOllama({ baseURL: `${url}/api` });
        return (signal: AbortSignal): AsyncIterable<StreamPart> =>
          streamText({
            model: ollama.chat(opts.model),
            messages: toSdkMessages(request.messages),
            allowSystemInMessages: true,
            maxRetries: 0,
            abortSignal: signal,
            // The provider sends a top-level `temperature`, which Ollama ignores; `options.temperature` works.
            ...(temperature === undefined
              ? {}
              : { providerOptions: { ollama: { options: { temperature } } } }),
            onError: () => {},
          }).fullStream;
      };
      return streamWithErrorMapping(load, endpoint, request.signal);
    },
  };
}
