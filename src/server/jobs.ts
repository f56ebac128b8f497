import { randomBytes } from 'node:crypto';
import type { FileOutcome, FileStatus, IngestEvent, IngestSummary } from '../ingest/pipeline.js';
import type { SourceType } from '../types.js';

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

/** One file of a job as the browser shows it. */
export interface JobFile {
  /** The file's name as uploaded (relative to the upload), or its path for server-side ingest. */
  name: string;
  status: 'processing' | FileStatus;
  type?: SourceType;
  items: number;
  textItems: number;
  imageItems: number;
  warnings: string[];
  reason?: string;
}

export interface JobError {
  code: string;
  message: string;
  hint?: string;
}

export interface Job {
  id: string;
  status: JobStatus;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Files received in the upload. */
  uploaded: number;
  /** Files found to process (known once the job starts; saved-page picture folders belong to their page). */
  total?: number;
  files: JobFile[];
  summary?: Omit<IngestSummary, 'outcomes'>;
  error?: JobError;
}

export type JobEvent =
  | { type: 'job'; job: Job }
  | { type: 'file'; index: number; file: JobFile }
  | { type: 'done'; job: Job };

export interface JobSpec {
  paths: string[];
  uploaded: number;
  /** How a file's absolute path is shown (upload-relative name). */
  displayName(path: string): string;
  /** Runs after the ingest, inside the writer slot (e.g. replacing older uploads of the same file). */
  after?(summary: IngestSummary): Promise<void>;
}

export type IngestRunner = (paths: string[], onEvent: (event: IngestEvent) => void) => Promise<IngestSummary>;

const KEEP_FINISHED = 200;

function jobFile(name: string, outcome?: FileOutcome): JobFile {
  if (!outcome) return { name, status: 'processing', items: 0, textItems: 0, imageItems: 0, warnings: [] };
  return {
    name,
    status: outcome.status,
    ...(outcome.type ? { type: outcome.type } : {}),
    items: outcome.items,
    textItems: outcome.textItems,
    imageItems: outcome.imageItems,
    warnings: outcome.warnings,
    ...(outcome.reason ? { reason: outcome.reason } : {}),
  };
}

function toJobError(err: unknown): JobError {
  if (err instanceof Error) {
    const e = err as Error & { hint?: string; code?: string };
    return {
      code: typeof e.code === 'string' ? e.code : 'error',
      message: e.message,
      ...(e.hint ? { hint: e.hint } : {}),
    };
  }
  return { code: 'error', message: String(err) };
}

/**
 * Ingest jobs, kept in memory, run one at a time: a knowledge base has one writer, so every write (ingest jobs
 * and deletes, through `exclusive`) is chained on one queue while searches go on beside it.
 */
export class JobQueue {
  private readonly jobs = new Map<string, Job>();
  private readonly listeners = new Map<string, Set<(event: JobEvent) => void>>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly run: IngestRunner) {}

  /** Queue an ingest; returns the job at once (status `queued`). */
  submit(spec: JobSpec, id = randomBytes(8).toString('hex')): Job {
    const job: Job = { id, status: 'queued', createdAt: Date.now(), uploaded: spec.uploaded, files: [] };
    this.jobs.set(id, job);
    this.prune();
    void this.exclusive(() => this.execute(job, spec)).catch(() => {
      // execute() records its own failure on the job.
    });
    return job;
  }

  /** A new job id (also names the job's upload folder). */
  static newId(): string {
    return randomBytes(8).toString('hex');
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Listen to one job's events; returns the function that stops listening. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  /** Run a write after every write queued before it; the result (or error) is the caller's. */
  exclusive<T>(write: () => Promise<T>): Promise<T> {
    const result = this.tail.then(write, write);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves when every queued write has finished. */
  async idle(): Promise<void> {
    let seen: Promise<unknown>;
    do {
      seen = this.tail;
      await seen;
    } while (seen !== this.tail);
  }

  private emit(id: string, event: JobEvent): void {
    for (const listener of this.listeners.get(id) ?? []) listener(event);
  }

  private async execute(job: Job, spec: JobSpec): Promise<void> {
    job.status = 'running';
    job.startedAt = Date.now();
    this.emit(job.id, { type: 'job', job });
    try {
      const summary = await this.run(spec.paths, (event) => {
        if (event.kind === 'walked') {
          job.total = event.files;
          this.emit(job.id, { type: 'job', job });
          return;
        }
        const name = spec.displayName(event.kind === 'file-start' ? event.file : event.outcome.file);
        const file = jobFile(name, event.kind === 'file-done' ? event.outcome : undefined);
        job.files[event.index] = file;
        this.emit(job.id, { type: 'file', index: event.index, file });
      });
      // Files never started (an aborted run) are left out rather than shown as processing forever.
      job.files = job.files.filter((f): f is JobFile => f !== undefined);
      const { outcomes: _outcomes, ...rest } = summary;
      job.summary = rest;
      await spec.after?.(summary);
      job.status = 'done';
    } catch (err) {
      job.status = 'failed';
      job.error = toJobError(err);
      job.files = job.files.filter((f): f is JobFile => f !== undefined);
    } finally {
      job.finishedAt = Date.now();
      this.emit(job.id, { type: 'done', job });
    }
  }

  private prune(): void {
    const finished = this.list().filter((j) => j.status === 'done' || j.status === 'failed');
    for (const job of finished.slice(KEEP_FINISHED)) this.jobs.delete(job.id);
  }
}
