/**
 * A worker thread that parses files for the pipeline (see `parse-pool.ts`): it reads and hashes the file, runs the
 * loader of its type from the default registry, checks what the loader produced against the limits, and sends the
 * drafts back. A file that exhausts this thread's heap or runs past its time takes only this thread down.
 *
 * OCR and transcription stay with the main thread (their engines are shared by the whole run and already work off
 * the event loop); the loader reaches them through messages. Warnings are sent as they happen. Remote pictures and
 * pages are fetched from here.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { MmragError } from '../errors.js';
import type { ItemDraft, SourceType } from '../types.js';
import type { Loader, LoaderContext } from './loader.js';
import {
  checkOutput,
  deserializeError,
  type FromWorker,
  type ServiceCall,
  serializeError,
  type ToWorker,
  transferablePictures,
} from './parse-protocol.js';
import { LOADERS } from './registry.js';

const port = parentPort;
if (!port) throw new Error('parse-worker.ts runs as a worker thread only');

const loaders = new Map<SourceType, Promise<Loader>>();
const aborts = new Map<number, AbortController>();
const pendingCalls = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
let nextCall = 0;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function callMain<T>(id: number, call: ServiceCall, transfer: ArrayBuffer[]): Promise<T> {
  const number = nextCall++;
  return new Promise<T>((resolve, reject) => {
    pendingCalls.set(number, { resolve: resolve as (value: unknown) => void, reject });
    post({ kind: 'call', id, call: number, ...call }, transfer);
  });
}

function loaderOf(type: SourceType): Promise<Loader> {
  let loader = loaders.get(type);
  if (!loader) {
    loader = LOADERS[type].load();
    loaders.set(type, loader);
  }
  return loader;
}

async function parse(message: Extract<ToWorker, { kind: 'parse' }>, signal: AbortSignal): Promise<void> {
  const { id, source, settings, services } = message;
  const context: LoaderContext = {
    ...settings,
    warn: (text) => post({ kind: 'warn', id, message: text }),
    signal,
  };
  if (services.ocr) {
    context.ocr = {
      // The engine may keep the bytes while it works: it gets a copy, the loader keeps its own.
      recognize: (image) => {
        const copy = image.slice();
        return callMain(id, { service: 'ocr', image: copy }, [copy.buffer]);
      },
      dispose: async () => {},
    };
  }
  if (services.transcriber !== undefined) {
    context.transcriber = {
      modelId: services.transcriber,
      // Decoded audio is used once: it moves to the main thread rather than being copied.
      transcribe: (samples) => {
        const own =
          samples.byteOffset === 0 && samples.byteLength === samples.buffer.byteLength
            ? samples
            : samples.slice();
        return callMain(
          id,
          { service: 'transcribe', samples: own },
          own.buffer instanceof ArrayBuffer ? [own.buffer] : [],
        );
      },
      dispose: async () => {},
    };
  }

  let drafts: ItemDraft[];
  let hash: string | undefined;
  let bytes = 0;
  if (source.kind === 'url') {
    const { loadUrl } = await import('./loaders/url.js');
    drafts = (await loadUrl(source.url, context)).items;
    checkOutput(drafts, settings.limits, source.url);
  } else {
    const content = new Uint8Array(await readFile(source.path, { signal }));
    if (content.length > message.maxFileBytes) {
      throw new MmragError(
        `${source.path}: the file grew to ${content.length} bytes while being read, over ingest.maxFileBytes`,
        undefined,
        'too_large',
      );
    }
    hash = createHash('sha256').update(content).digest('hex');
    bytes = content.length;
    drafts = await (await loaderOf(source.type)).load({ path: source.path, bytes: content }, context);
    checkOutput(drafts, settings.limits, source.path);
  }
  const transfer = transferablePictures(drafts);
  post({ kind: 'done', id, drafts, hash, bytes, heapUsed: process.memoryUsage().heapUsed }, transfer);
}

port.on('message', (message: ToWorker) => {
  if (message.kind === 'reply') {
    const pending = pendingCalls.get(message.call);
    pendingCalls.delete(message.call);
    if (message.ok) pending?.resolve(message.value);
    else pending?.reject(deserializeError(message.error));
    return;
  }
  if (message.kind === 'abort') {
    aborts.get(message.id)?.abort();
    return;
  }
  const controller = new AbortController();
  aborts.set(message.id, controller);
  parse(message, controller.signal)
    .catch((err: unknown) => {
      post({
        kind: 'failed',
        id: message.id,
        error: serializeError(err),
        heapUsed: process.memoryUsage().heapUsed,
      });
    })
    .finally(() => aborts.delete(message.id));
});
