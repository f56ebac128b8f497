/**
 * What both LLM providers share around the AI SDK: the streaming loop (idle timeout, abort, error mapping) and
 * the conversion of chat messages to AI SDK messages.
 */
import type { ChatMessage } from '../llm.js';
import { classifyLlmFailure, type LlmEndpoint, toLlmError } from './errors.js';

/** The parts of an AI SDK `fullStream` this loop reads. */
export type StreamPart = { type: string; text?: string; error?: unknown };

/**
 * Drive a stream of SDK parts: yield text deltas, turn failures into MmragErrors, and abort when no data
 * arrives for `endpoint.timeoutMs` (an idle timeout, so a long answer that keeps streaming is never cut).
 * `load` imports the SDK (not counted in the timeout) and returns `start`, which gets the abort signal to
 * hand the SDK. When the caller's own signal aborts, its reason is thrown unchanged (an abort is not an LLM
 * failure). Stopping the iteration early cancels the HTTP request.
 */
export async function* streamWithErrorMapping(
  load: () => Promise<(signal: AbortSignal) => AsyncIterable<StreamPart>>,
  endpoint: LlmEndpoint,
  callerSignal?: AbortSignal,
): AsyncGenerator<string> {
  let start: (signal: AbortSignal) => AsyncIterable<StreamPart>;
  try {
    start = await load();
  } catch (err) {
    throw toLlmError(err, endpoint);
  }
  const idle = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      idle.abort(new Error('LLM idle timeout'));
    }, endpoint.timeoutMs);
  };
  const signal = callerSignal ? AbortSignal.any([callerSignal, idle.signal]) : idle.signal;
  const fail = (err: unknown): never => {
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (timedOut) throw classifyLlmFailure({ message: 'timeout', timedOut: true }, endpoint);
    throw toLlmError(err, endpoint);
  };
  let finished = false;
  arm();
  try {
    for await (const part of start(signal)) {
      arm();
      if (part.type === 'text-delta' && part.text) yield part.text;
      else if (part.type === 'error') fail(part.error);
      else if (part.type === 'abort') fail(new Error('aborted'));
    }
    finished = true;
  } catch (err) {
    finished = true;
    fail(err);
  } finally {
    clearTimeout(timer);
    // The consumer stopped early: cancel the HTTP request too.
    if (!finished) idle.abort(new Error('stream closed by the consumer'));
  }
  if (callerSignal?.aborted) throw callerSignal.reason;
  if (timedOut) fail(new Error('timeout'));
}

/** One message in the shape the AI SDK takes (a structural subset of its `ModelMessage`). */
export type SdkMessage =
  | { role: 'system'; content: string }
  | { role: 'assistant'; content: string }
  | {
      role: 'user';
      content:
        | string
        | Array<{ type: 'text'; text: string } | { type: 'image'; image: string; mediaType: string }>;
    };

/**
 * Chat messages to AI SDK messages. Pictures go as base64 strings with their MIME type (never Uint8Array:
 * the Ollama provider would serialise the bytes as a JSON object). Only user messages carry pictures.
 */
export function toSdkMessages(messages: readonly ChatMessage[]): SdkMessage[] {
  return messages.map((message): SdkMessage => {
    if (message.role !== 'user') return { role: message.role, content: message.content };
    const images = message.images ?? [];
    if (images.length === 0) return { role: 'user', content: message.content };
    return {
      role: 'user',
      content: [
        { type: 'text', text: message.content },
        ...images.map((image) => ({
          type: 'image' as const,
          image: Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength).toString(
            'base64',
          ),
          mediaType: image.mime,
        })),
      ],
    };
  });
}
