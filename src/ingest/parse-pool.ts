// The worker's module is loaded by URL, not imported: this keeps it in every build that includes the pool.
/// <reference path="./parse-worker.ts" />
/**
 * Parsing off the main thread: files are read, parsed and checked in worker threads (`parse-worker.ts`), each with
 * a bounded heap and each file with a time budget, so that no file can stall the event loop (a server answering
 * searches while it ingests) or take the process down. A worker that runs out of memory, or a file that runs past
 * its time, ends as one failed file with the limit named; the run goes on.
 *
 * What stays on the main thread: walking folders, hashing, detecting types from the first bytes, decoding pictures
 * (sharp works on its own threads), embedding, and the services a loader may call, OCR and transcription (their
 * engines are shared by the whole run; the worker asks for them by message, and the time they take is not counted
 * against the file's budget).
 *
 * A worker parses a few files at once, as the main thread used to (a page waiting for its remote pictures does not
 * hold up the next file). When a worker dies with several files in it, the one to blame is unknown: each of them is
 * parsed again alone, one at a time, and only the one that fails alone is reported.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { errorMessage, MmragError } from '../errors.js';
import type { ItemDraft } from '../types.js';
import type { LoaderContext } from './loader.js';
import {
  deserializeError,
  type FromWorker,
  loaderSettings,
  type ParseSource,
  serializeError,
  type ToWorker,
} from './parse-protocol.js';

export interface ParsePoolOptions {
  /** Heap of each worker, in MB (`ingest.maxParseMemoryMb`). */
  memoryMb: number;
  /** Time one file may take, in ms (`ingest.maxParseSeconds`), not counting OCR and transcription. */
  timeoutMs: number;
  maxFileBytes: number;
  /** Worker threads (default: half the cores, 1 to 4). */
  workers?: number;
  /** Files one worker parses at once (default 4). */
  concurrency?: number;
}

export interface ParseResult {
  drafts: ItemDraft[];
  /** SHA-256 of the file's bytes as parsed (files only). */
  hash?: string;
  bytes: number;
}

interface Job {
  id: number;
  source: ParseSource;
  context: LoaderContext;
  /** Parse in a worker of its own (after a worker died with it and others inside). */
  solo: boolean;
  settled: boolean;
  resolve(result: ParseResult): void;
  reject(err: Error): void;
  slot?: Slot;
  /** The file's time budget. */
  timeoutMs: number;
  remainingMs: number;
  resumedAt: number;
  timer?: NodeJS.Timeout;
  /** Service calls (OCR, transcription) in progress: the clock stops while there are any. */
  calls: number;
  onAbort?: () => void;
}

interface Slot {
  worker: Worker;
  jobs: Set<Job>;
  solo: boolean;
  /** Ended by the pool (idle after a heavy file, overrun, closing): its exit is not a crash. */
  ending: boolean;
  /** The job whose overrun ended this worker; the others in it are not to blame. */
  overrun?: Job;
  /** Ended because a file ran out of time while others shared its thread: which one held it is unknown. */
  retryAll?: boolean;
  /** Heap the worker reported after its last file. */
  heapUsed: number;
}

/**
 * The worker's script: beside this module once built. When this module runs from its TypeScript (the test runner),
 * a worker thread cannot load TypeScript, so the built copy in `dist/` is used, and refused when the sources are
 * newer than it (a stale parser would test old code).
 */
export function parseWorkerScript(): URL {
  const here = import.meta.url;
  const fromSource = here.endsWith('.ts');
  const script = fromSource
    ? new URL('../../dist/ingest/parse-worker.js', here)
    : new URL('./parse-worker.js', here);
  const path = fileURLToPath(script);
  if (!existsSync(path)) {
    throw new MmragError(
      `The file parser ${path} is missing.`,
      'Build mmrag first (npm run build).',
      'install',
    );
  }
  if (fromSource) {
    builtIsCurrent ??= newestSource(fileURLToPath(new URL('..', here))) <= statSync(path).mtimeMs;
    if (!builtIsCurrent) {
      throw new MmragError(
        `The built file parser ${path} is older than the sources.`,
        'Run `npm run build`: files are parsed by the built code in a worker thread.',
        'install',
      );
    }
  }
  return script;
}

let builtIsCurrent: boolean | undefined;

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function describe(source: ParseSource): string {
  return source.kind === 'file' ? source.path : source.url;
}

export class ParsePool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private readonly jobs = new Map<number, Job>();
  private readonly workers: number;
  private readonly concurrency: number;
  private nextId = 0;
  private closed = false;

  constructor(private readonly options: ParsePoolOptions) {
    this.workers = options.workers ?? Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)));
    this.concurrency = options.concurrency ?? 4;
  }

  /**
   * Parse one file (or page) in a worker; warnings and service calls go through `context`. `timeoutMs` overrides
   * the pool's time budget for this file.
   */
  parse(
    source: ParseSource,
    context: LoaderContext,
    timeoutMs = this.options.timeoutMs,
  ): Promise<ParseResult> {
    if (this.closed) return Promise.reject(new Error('the parse pool is closed'));
    if (context.signal?.aborted) return Promise.reject(context.signal.reason);
    return new Promise<ParseResult>((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        source,
        context,
        solo: false,
        settled: false,
        resolve,
        reject,
        timeoutMs,
        remainingMs: timeoutMs,
        resumedAt: 0,
        calls: 0,
      };
      if (context.signal) {
        job.onAbort = () => this.abort(job);
        context.signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.jobs.set(job.id, job);
      this.queue.push(job);
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.jobs.values()]) this.settle(job, new Error('the parse pool was closed'));
    await Promise.all([...this.slots].map((slot) => this.end(slot)));
  }

  private pump(): void {
    for (let i = 0; i < this.queue.length; ) {
      const job = this.queue[i]!;
      const slot = job.solo ? this.soloSlot() : this.sharedSlot();
      if (!slot) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(job, slot);
    }
  }

  /** A worker with room for one more file, started if there are fewer than allowed. */
  private sharedSlot(): Slot | undefined {
    let live = 0;
    for (const slot of this.slots) {
      if (slot.solo || slot.ending) continue;
      live++;
      if (slot.jobs.size < this.concurrency) return slot;
    }
    return live < this.workers ? this.spawn(false) : undefined;
  }

  /** A fresh worker for one file; one at a time, so that retries cannot pile up heaps. */
  private soloSlot(): Slot | undefined {
    for (const slot of this.slots) if (slot.solo && !slot.ending) return undefined;
    return this.spawn(true);
  }

  private spawn(solo: boolean): Slot {
    const worker = new Worker(parseWorkerScript(), {
      resourceLimits: { maxOldGenerationSizeMb: this.options.memoryMb },
    });
    const slot: Slot = { worker, jobs: new Set(), solo, ending: false, heapUsed: 0 };
    worker.on('message', (message: FromWorker) => this.onMessage(slot, message));
    let failure: Error | undefined;
    worker.on('error', (err) => {
      failure = err;
    });
    worker.on('exit', () => this.onExit(slot, failure));
    this.slots.add(slot);
    return slot;
  }

  private start(job: Job, slot: Slot): void {
    job.slot = slot;
    slot.jobs.add(job);
    job.remainingMs = job.timeoutMs;
    this.resume(job);
    const services: Extract<ToWorker, { kind: 'parse' }>['services'] = { ocr: job.context.ocr !== undefined };
    if (job.context.transcriber) services.transcriber = job.context.transcriber.modelId;
    const message: ToWorker = {
      kind: 'parse',
      id: job.id,
      source: job.source,
      settings: loaderSettings(job.context),
      services,
      maxFileBytes: this.options.maxFileBytes,
    };
    slot.worker.postMessage(message);
  }

  private pause(job: Job): void {
    if (job.calls++ > 0) return;
    clearTimeout(job.timer);
    job.remainingMs -= performance.now() - job.resumedAt;
  }

  private resume(job: Job): void {
    if (job.calls > 0 && --job.calls > 0) return;
    job.resumedAt = performance.now();
    clearTimeout(job.timer);
    job.timer = setTimeout(() => this.overrun(job), Math.max(0, job.remainingMs));
    job.timer.unref();
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    const job = this.jobs.get(message.id);
    if (!job || job.slot !== slot) return;
    switch (message.kind) {
      case 'warn':
        job.context.warn(message.message);
        return;
      case 'call':
        this.serve(job, slot, message);
        return;
      case 'done': {
        slot.heapUsed = message.heapUsed;
        const result: ParseResult = { drafts: message.drafts, bytes: message.bytes };
        if (message.hash !== undefined) result.hash = message.hash;
        this.finish(job, result);
        return;
      }
      case 'failed':
        slot.heapUsed = message.heapUsed;
        this.finish(job, deserializeError(message.error));
        return;
    }
  }

  /** Run a service the worker asked for, with the file's clock stopped. */
  private serve(job: Job, slot: Slot, call: Extract<FromWorker, { kind: 'call' }>): void {
    this.pause(job);
    const signal = job.context.signal;
    const work: Promise<unknown> =
      call.service === 'ocr'
        ? job.context.ocr
          ? job.context.ocr.recognize(call.image, signal)
          : Promise.reject(new Error('OCR is off'))
        : job.context.transcriber
          ? job.context.transcriber.transcribe(call.samples, signal)
          : Promise.reject(new Error('transcription is off'));
    work.then(
      (value) => this.reply(slot, { kind: 'reply', call: call.call, ok: true, value }),
      (err: unknown) =>
        this.reply(slot, { kind: 'reply', call: call.call, ok: false, error: serializeError(err) }),
    );
    work.finally(() => {
      if (!job.settled) this.resume(job);
    });
  }

  private reply(slot: Slot, message: ToWorker): void {
    if (!slot.ending) slot.worker.postMessage(message);
  }

  /**
   * A file took longer than its budget. Alone in its worker, it fails and the worker is ended. Sharing the worker's
   * thread with other files, it may only have been kept waiting by one of them: every file in the worker is parsed
   * again alone, with a fresh budget.
   */
  private overrun(job: Job): void {
    const slot = job.slot;
    if (!slot || job.settled || slot.ending) return;
    if (slot.jobs.size > 1 && !job.solo) {
      slot.retryAll = true;
      void this.end(slot);
      return;
    }
    const seconds = Math.round(job.timeoutMs / 1000);
    this.settle(
      job,
      new MmragError(
        `${describe(job.source)}: parsing stopped after ${seconds} s, the time one file may take (raise ingest.maxParseSeconds if the file is genuine)`,
        'Raise ingest.maxParseSeconds if the file is genuine.',
        'timeout',
      ),
    );
    slot.overrun = job;
    void this.end(slot);
  }

  private finish(job: Job, outcome: ParseResult | Error): void {
    const slot = job.slot;
    this.settle(job, outcome);
    if (!slot) return;
    // A worker whose heap grew large on a big file is replaced once it is idle, rather than kept at that size.
    if (slot.solo || slot.heapUsed > (this.options.memoryMb * 1024 * 1024) / 2) {
      if (slot.jobs.size === 0) void this.end(slot);
      else slot.ending = true;
    }
    this.pump();
  }

  private settle(job: Job, outcome: ParseResult | Error): void {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    this.jobs.delete(job.id);
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    job.slot?.jobs.delete(job);
    if (job.onAbort) job.context.signal?.removeEventListener('abort', job.onAbort);
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
    const slot = job.slot;
    if (slot?.ending && slot.jobs.size === 0) void this.end(slot);
  }

  private abort(job: Job): void {
    const slot = job.slot;
    if (slot && !slot.ending) slot.worker.postMessage({ kind: 'abort', id: job.id } satisfies ToWorker);
    const reason = job.context.signal?.reason;
    this.settle(
      job,
      reason instanceof Error ? reason : new DOMException('The ingest was aborted', 'AbortError'),
    );
  }

  private async end(slot: Slot): Promise<void> {
    slot.ending = true;
    for (const job of slot.jobs) clearTimeout(job.timer);
    await slot.worker.terminate();
  }

  private onExit(slot: Slot, failure: Error | undefined): void {
    this.slots.delete(slot);
    const orphans = [...slot.jobs].filter((job) => !job.settled);
    slot.jobs.clear();
    const crashed = !slot.ending || failure !== undefined;
    for (const job of orphans) {
      job.slot = undefined;
      clearTimeout(job.timer);
      job.calls = 0;
      if (slot.retryAll && !this.closed) {
        job.solo = true;
        this.queue.unshift(job);
        continue;
      }
      if (!crashed || slot.overrun) {
        // Not to blame: the worker ended for another file (or the pool is closing).
        if (!this.closed) this.queue.unshift(job);
        continue;
      }
      if (orphans.length === 1 || job.solo) {
        this.settle(job, this.deathReason(job, failure));
        continue;
      }
      job.solo = true;
      this.queue.unshift(job);
    }
    if (!this.closed) this.pump();
  }

  private deathReason(job: Job, failure: Error | undefined): MmragError {
    const file = describe(job.source);
    if ((failure as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return new MmragError(
        `${file}: parsing stopped: it needed more than ${this.options.memoryMb} MB of memory (raise ingest.maxParseMemoryMb if the file is genuine)`,
        'Raise ingest.maxParseMemoryMb if the file is genuine.',
        'too_large',
      );
    }
    return new MmragError(
      `${file}: the parser stopped while reading it${failure ? ` (${errorMessage(failure)})` : ''}`,
      'The file may be damaged.',
      'bad_file',
    );
  }
}
