import type { ChatRequest, LanguageModel } from '../llm.js';
import type { LlmEndpoint } from './errors.js';
import { type StreamPart, streamWithErrorMapping, toSdkMessages } from './stream.js';

export const DEFAULT_OPENAI_URL = 'https://api.openai.com/v1';

export interface OpenAICompatibleModelOptions {
  /** The API base URL including `/v1`: https://api.openai.com/v1, http://127.0.0.1:8000/v1 (vLLM), ... */
  url: string;
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>`; never shown in messages. */
  apiKey?: string;
  temperature?: number;
  /** Abort when no data arrives for this long. */
  timeoutMs: number;
}

/**
 * A LanguageModel for any OpenAI-compatible chat-completions server (OpenAI, vLLM, LM Studio, llama.cpp
 * server). Pictures are sent as `image_url` content parts holding data URLs.
 */
export function createOpenAICompatibleModel(opts: OpenAICompatibleModelOptions): LanguageModel {
  const url = (opts.url || DEFAULT_OPENAI_URL).replace(/\/+$/, '');
  const endpoint: LlmEndpoint = {
    provider: 'openai',
    url,
    model: opts.model,
    timeoutMs: opts.timeoutMs,
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
  };
  return {
    provider: 'openai',
    model: opts.model,
    stream(request: ChatRequest): AsyncIterable<string> {
      const temperature = request.temperature ?? opts.temperature;
      const load = async () => {
        const [{ streamText }, { createOpenAICompatible }] = await Promise.all([
          import('ai'),
          import('@ai-sdk/openai-compatible'),
        ]);
        const provider = createOpenAICompatible({
          name: 'openai-compatible',
          baseURL: url,
          ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
        });
        return (signal: AbortSignal): AsyncIterable<StreamPart> =>
          streamText({
            model: provider.chatModel(opts.model),
            messages: toSdkMessages(request.messages),
            allowSystemInMessages: true,
            maxRetries: 0,
            abortSignal: signal,
            ...(temperature === undefined ? {} : { temperature }),
            onError: () => {},
          }).fullStream;
      };
      return streamWithErrorMapping(load, endpoint, request.signal);
    },
  };
}
