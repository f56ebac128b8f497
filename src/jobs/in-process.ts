import type { FileOutcome } from '../ingest/pipeline.js';
import {
  type IngestRunner,
  type Job,
  type JobError,
  type JobEvent,
  type JobFile,
  type JobQueue,
  type JobSpec,
  newJobId,
} from './queue.js';

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
 * Ingest jobs, kept in memory, run one at a time in this process: a knowledge base has one writer, so every write
 * (ingest jobs and deletes, through `exclusive`) is chained on one queue while searches go on beside it. The last
 * 200 finished jobs are remembered until the process ends.
 */
export class InProcessJobQueue implements JobQueue {
  private readonly jobs = new Map<string, Job>();
  private readonly listeners = new Map<string, Set<(event: JobEvent) => void>>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly run: IngestRunner) {}

  submit(spec: JobSpec, id = newJobId()): Promise<Job> {
    const job: Job = { id, status: 'queued', createdAt: Date.now(), uploaded: spec.uploaded, files: [] };
    this.jobs.set(id, job);
    this.prune();
    void this.exclusive(() => this.execute(job, spec)).catch(() => {
      // execute() records its own failure on the job.
    });
    // The job as queued: the live one may already be running by the time the caller reads it.
    return Promise.resolve({ ...job, files: [] });
  }

  /** The live job: it changes as the job runs. */
  get(id: string): Promise<Job | undefined> {
    return Promise.resolve(this.jobs.get(id));
  }

  list(): Promise<Job[]> {
    return Promise.resolve(this.sorted());
  }

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

  exclusive<T>(write: () => Promise<T>): Promise<T> {
    const result = this.tail.then(write, write);
    this.tail = result.catch(() => undefined);
    return result;
  }

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

  private sorted(): Job[] {
    return [...this.jobs.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  private prune(): void {
    const finished = this.sorted().filter((j) => j.status === 'done' || j.status === 'failed');
    for (const job of finished.slice(KEEP_FINISHED)) this.jobs.delete(job.id);
  }
}
