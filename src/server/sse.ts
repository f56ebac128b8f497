/** One Server-Sent Events frame: `event:` and one `data:` line per line of the payload. */
export function sseFrame(event: string, data: string): string {
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}`);
  return `event: ${event}\n${lines.join('\n')}\n\n`;
}

export interface SseMessage {
  event: string;
  data: string;
}

/** Parse an SSE stream's text into messages (for clients and tests); a trailing partial frame is left out. */
export function parseSse(text: string): SseMessage[] {
  const messages: SseMessage[] = [];
  for (const frame of text.split(/\n\n/)) {
    if (!frame.trim()) continue;
    let event = 'message';
    const data: string[] = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    messages.push({ event, data: data.join('\n') });
  }
  return messages;
}

/**
 * A text/event-stream response fed by `produce`; `signal` aborts when the client goes away, so the producer can
 * stop (and abort the LLM call it is waiting on).
 */
export function sseResponse(
  produce: (send: (event: string, data: string) => void, signal: AbortSignal) => Promise<void>,
  requestSignal?: AbortSignal,
): Response {
  const controller = new AbortController();
  const onRequestAbort = () => controller.abort();
  requestSignal?.addEventListener('abort', onRequestAbort, { once: true });
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async start(sink) {
      const send = (event: string, data: string) => {
        if (controller.signal.aborted) return;
        try {
          sink.enqueue(encoder.encode(sseFrame(event, data)));
        } catch {
          controller.abort();
        }
      };
      try {
        await produce(send, controller.signal);
      } finally {
        requestSignal?.removeEventListener('abort', onRequestAbort);
        try {
          sink.close();
        } catch {
          // Already cancelled by the client.
        }
      }
    },
    cancel() {
      controller.abort();
    },
  });
  return new Response(stream, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    },
  });
}
