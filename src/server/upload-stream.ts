import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { Busboy, type BusboyInstance } from '@fastify/busboy';
import { errorMessage, MmragError } from '../errors.js';
import type { ByteBudget } from './byte-budget.js';
import { httpError } from './http-errors.js';
import type { SpooledFile, SpooledUpload, UploadSpool } from './spool.js';
import { sanitizeRelativePath, uniquePath } from './uploads.js';

export interface UploadLimits {
  /** Most bytes of the whole request. */
  maxUploadBytes: number;
  maxUploadFiles: number;
  maxFileBytes: number;
}

/** Longest relative path of an uploaded file, in UTF-8 bytes (folder names included). */
export const MAX_UPLOAD_PATH_BYTES = 1024;
/** Seconds a client is asked to wait when the server is receiving too much at once. */
export const RETRY_AFTER_SECONDS = 10;

const mb = (bytes: number) => (bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0);

export function requestTooLarge(limit: number): MmragError {
  return httpError(
    'too_large',
    `The upload is over the ${mb(limit)} MB limit of one request.`,
    'Upload fewer files at a time, or ingest large folders with `mmrag ingest` on the server.',
  );
}

function fileTooLarge(name: string, limit: number): MmragError {
  return httpError(
    'too_large',
    `${name} is over the ${mb(limit)} MB limit for one file.`,
    'Raise ingest.maxFileBytes in the configuration, or leave the file out.',
  );
}

function serverBusy(): MmragError {
  return httpError(
    'busy',
    'The server is receiving as many uploads as it takes at once.',
    `Try again in ${RETRY_AFTER_SECONDS} seconds (server.maxInFlightBytes bounds the bytes received at once).`,
  );
}

/**
 * A failure to write an upload (a full disk, a file system's refusal): the reason's code, never its message, which
 * names the server's folders.
 */
function notSaved(err: unknown): MmragError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return httpError(
    'internal',
    `The upload could not be saved on the server${typeof code === 'string' ? ` (${code})` : ''}.`,
    "Try again; if it keeps failing, the server's disk may be full.",
  );
}

/** A request body as it arrives, and how to stop reading it without closing the connection (the answer is still to be sent). */
export interface BodySource {
  chunks: AsyncIterator<Uint8Array>;
  stop(): void;
}

/**
 * The body of a request, read with backpressure. On Node the request's own stream is read directly when nothing
 * else has started reading it: Node 20's web-stream adapter of a Node stream queues up to 16,384 chunks (about
 * 1 GB) ahead of its reader, which would hold a large upload in memory. Elsewhere (or when the body was already
 * taken), the web stream of the request.
 */
export function bodySource(request: Request, incoming: Readable | undefined): BodySource | undefined {
  if (
    incoming &&
    !incoming.readableFlowing &&
    incoming.listenerCount('data') === 0 &&
    !incoming.readableDidRead
  ) {
    const chunks = incoming.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>;
    return { chunks, stop: () => void chunks.return?.() };
  }
  const reader = request.body?.getReader();
  if (!reader) return undefined;
  return {
    chunks: {
      next: async () => {
        const next = await reader.read();
        return next.done ? { done: true, value: undefined } : { done: false, value: next.value };
      },
    },
    stop: () => void reader.cancel().catch(() => undefined),
  };
}

/**
 * `step`, or the signal's reason as soon as it aborts. The abort listener is removed once `step` settles: racing
 * every chunk against one long-lived promise instead would keep every chunk reachable until the upload ends.
 */
function unlessAborted<T>(step: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    step.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    step.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** The sanitised path of an uploaded file's name, refused (400) when it is too long to be a file name here. */
export function uploadPath(name: string, taken: Set<string>): string {
  const rel = uniquePath(sanitizeRelativePath(name), taken);
  const bytes = Buffer.byteLength(rel);
  if (bytes > MAX_UPLOAD_PATH_BYTES) {
    const shown = [...name].slice(0, 60).join('');
    throw httpError(
      'bad_request',
      `The file name "${shown}…" is ${bytes} bytes long, over the limit of ${MAX_UPLOAD_PATH_BYTES} bytes for an uploaded path.`,
      'Rename the file or upload it from a folder nearer the top.',
    );
  }
  taken.add(rel);
  return rel;
}

/**
 * Receive a multipart upload (field `files`) into the spool as its bytes arrive. The limits are checked as bytes
 * arrive, not after: the first file over `maxFileBytes`, the first file past `maxUploadFiles`, or the first byte
 * past `maxUploadBytes` refuses the request (413) there and then, and what was written is removed. Bytes are taken
 * from the shared budget as they arrive (a declared Content-Length all at once); when it is spent the request is
 * refused with 503 (the error's code is `busy`). Memory use does not depend on the size of the upload.
 */
export async function receiveUpload(
  request: Request,
  incoming: Readable | undefined,
  spool: UploadSpool,
  limits: UploadLimits,
  budget: ByteBudget,
): Promise<{ upload: SpooledUpload; files: SpooledFile[] }> {
  const contentType = request.headers.get('content-type') ?? '';
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limits.maxUploadBytes)
    throw requestTooLarge(limits.maxUploadBytes);
  const lease = budget.lease();
  if (Number.isFinite(declared) && !lease.take(declared)) throw serverBusy();
  let leased = Number.isFinite(declared) ? declared : 0;

  let parser: BusboyInstance;
  try {
    parser = Busboy({
      headers: { 'content-type': contentType },
      preservePath: true,
      limits: {
        files: limits.maxUploadFiles + 1,
        fileSize: limits.maxFileBytes,
        fields: 100,
        fieldSize: 64 * 1024,
        parts: limits.maxUploadFiles + 101,
        headerPairs: 100,
      },
    });
  } catch (err) {
    lease.release();
    throw httpError('bad_request', `The upload could not be read: ${errorMessage(err)}.`);
  }

  const upload = await spool.begin();
  const writes: Array<Promise<SpooledFile>> = [];
  const open = new Set<Readable>();
  const taken = new Set<string>();
  let count = 0;
  let failure: unknown;
  const failed = new AbortController();
  const fail = (err: unknown) => {
    if (failure !== undefined) return;
    failure = err;
    for (const stream of open) {
      if (!stream.readableEnded && !stream.destroyed)
        stream.destroy(err instanceof Error ? err : new Error(String(err)));
    }
    failed.abort(err);
  };

  parser.on('file', (field, stream, filename) => {
    if (failure !== undefined || field !== 'files') {
      stream.resume();
      return;
    }
    count++;
    if (count > limits.maxUploadFiles) {
      stream.resume();
      fail(
        httpError(
          'too_large',
          `More than ${limits.maxUploadFiles} files in one upload, over the limit of ${limits.maxUploadFiles}.`,
          'Upload fewer files at a time.',
        ),
      );
      return;
    }
    let rel: string;
    try {
      rel = uploadPath(filename, taken);
    } catch (err) {
      stream.resume();
      fail(err);
      return;
    }
    open.add(stream);
    // Its failures reach the write below; a stream destroyed after its write ended must not throw on its own.
    stream.on('error', () => undefined);
    stream.on('limit', () => fail(fileTooLarge(rel, limits.maxFileBytes)));
    const write = upload.write(rel, stream).finally(() => open.delete(stream));
    write.catch((err: unknown) => fail(err));
    writes.push(write);
  });
  parser.on('error', (err: unknown) =>
    fail(httpError('bad_request', `The upload could not be read: ${errorMessage(err)}.`)),
  );
  const finished = once(parser, 'finish');
  finished.catch(() => undefined);
  const untilFailure = <T>(step: Promise<T>) => unlessAborted(step, failed.signal);

  const body = bodySource(request, incoming);
  let received = 0;
  try {
    if (!body) throw httpError('bad_request', 'The upload is empty.');
    for (;;) {
      const next = await untilFailure(body.chunks.next());
      if (next.done) break;
      received += next.value.byteLength;
      if (received > limits.maxUploadBytes) throw requestTooLarge(limits.maxUploadBytes);
      if (received > leased) {
        if (!lease.take(received - leased)) throw serverBusy();
        leased = received;
      }
      if (!parser.write(next.value)) await untilFailure(once(parser, 'drain'));
    }
    parser.end();
    await untilFailure(finished);
    const files = await untilFailure(Promise.all(writes));
    if (files.length === 0) throw httpError('bad_request', 'No files in the upload (field "files").');
    return { upload, files };
  } catch (err) {
    fail(err);
    // Stop reading: the rest of a refused body is drained and the connection closed after the answer.
    body?.stop();
    parser.destroy();
    await Promise.allSettled(writes);
    await upload.discard();
    throw failure instanceof MmragError ? failure : notSaved(failure);
  } finally {
    lease.release();
  }
}
