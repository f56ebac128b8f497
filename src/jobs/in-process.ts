import { emptySummary, type FileOutcome, type IngestSummary } from '../ingest/pipeline.js';
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
/** A file's progress is sent to listeners at most this often (its state is always current). */
const PROGRESS_INTERVAL_MS = 250;

function jobFile(name: string, outcome?: FileOutcome, display: (text: string) => string = (t) => t): JobFile {
  if (!outcome) return { name, status: 'processing', items: 0, textItems: 0, imageItems: 0, warnings: [] };
  return {
    name,
    status: outcome.status,
    ...(outcome.type ? { type: outcome.type } : {}),
    items: outcome.items,
    textItems: outcome.textItems,
    imageItems: outcome.imageItems,
    warnings: outcome.warnings.map(display),
    ...(outcome.reason ? { reason: display(outcome.reason) } : {}),
  };
}

/** The summary with the files settled before the ingest counted in (as unchanged). */
function withSettled(summary: IngestSummary, settled: JobFile[]): IngestSummary {
  const out = { ...summary, byType: { ...summary.byType } };
  for (const file of settled) {
    out.files++;
    out.unchanged++;
    const key = file.type ?? 'unknown';
    const counts = { ...(out.byType[key] ?? { ingested: 0, unchanged: 0, skipped: 0, failed: 0, items: 0 }) };
    counts.unchanged++;
    out.byType[key] = counts;
  }
  return out;
}

function toJobError(err: unknown, display: (text: string) => string = (t) => t): JobError {
  if (err instanceof Error) {
    const e = err as Error & { hint?: string; code?: string };
    return {
      code: typeof e.code === 'string' ? e.code : 'error',
      message: display(e.message),
      ...(e.hint ? { hint: display(e.hint) } : {}),
    };
  }
  return { code: 'error', message: display(String(err)) };
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
    const job: Job = {
      id,
      label: spec.label,
      status: 'queued',
      createdAt: Date.now(),
      uploaded: spec.uploaded,
      files: [],
    };
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
    const lastProgress = new Map<number, number>();
    try {
      const { paths, settled } = spec.settle
        ? await spec.settle()
        : { paths: spec.paths, settled: [] as JobFile[] };
      // Settled files come first; the ingest's files are numbered after them.
      const offset = settled.length;
      settled.forEach((file, index) => {
        job.files[index] = file;
        this.emit(job.id, { type: 'file', index, file });
      });
      if (paths.length === 0) {
        job.total = offset;
        this.emit(job.id, { type: 'job', job });
      }
      const ingested =
        paths.length === 0
          ? emptySummary()
          : await this.run(paths, (event) => {
              if (event.kind === 'walked') {
                job.total = offset + event.files;
                this.emit(job.id, { type: 'job', job });
                return;
              }
              const index = offset + event.index;
              if (event.kind === 'file-progress') {
                const file = job.files[index];
                if (file?.status !== 'processing') return;
                file.progress = { done: event.done, total: event.total };
                const now = Date.now();
                if (event.done < event.total && now - (lastProgress.get(index) ?? 0) < PROGRESS_INTERVAL_MS)
                  return;
                lastProgress.set(index, now);
                this.emit(job.id, { type: 'file', index, file });
                return;
              }
              const name = spec.displayName(event.kind === 'file-start' ? event.file : event.outcome.file);
              const file = jobFile(
                name,
                event.kind === 'file-done' ? event.outcome : undefined,
                spec.displayText,
              );
              job.files[index] = file;
              this.emit(job.id, { type: 'file', index, file });
            });
      // Files never started (an aborted run) are left out rather than shown as processing forever.
      job.files = job.files.filter((f): f is JobFile => f !== undefined);
      const summary = withSettled(ingested, settled);
      const { outcomes: _outcomes, ...rest } = summary;
      job.summary = rest;
      await spec.after?.(summary);
      job.status = 'done';
    } catch (err) {
      job.status = 'failed';
      job.error = toJobError(err, spec.displayText);
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
