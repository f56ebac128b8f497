import { randomBytes } from 'node:crypto';
import type { FileStatus, IngestEvent, IngestSummary } from '../ingest/pipeline.js';
import type { SourceType } from '../types.js';

// The job shapes are defined once, here, as TypeScript types: this layer knows nothing of HTTP. Their wire form is
// described by the zod schemas of src/server/contract.ts (the OpenAPI document and the web app's types come from
// those), and src/server/routes/jobs.ts fails to compile if the two ever disagree.

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
  /** While a large file is embedded: its items embedded so far, of all its items. */
  progress?: { done: number; total: number };
}

export interface JobError {
  code: string;
  message: string;
  hint?: string;
}

/** What a finished job did: the ingest summary without the per-file outcomes (those are the job's files). */
export type JobSummary = Omit<IngestSummary, 'outcomes'>;

export interface Job {
  id: string;
  /** What the job ingests, for a person: a file name, "12 files", a web address. */
  label: string;
  status: JobStatus;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Files received in the upload. */
  uploaded: number;
  /** Files found to process (known once the job starts; saved-page picture folders belong to their page). */
  total?: number;
  files: JobFile[];
  summary?: JobSummary;
  error?: JobError;
}

export type JobEvent =
  | { type: 'job'; job: Job }
  | { type: 'file'; index: number; file: JobFile }
  | { type: 'done'; job: Job };

export interface JobSpec {
  paths: string[];
  uploaded: number;
  /** What the job ingests, for a person (`Job.label`). */
  label: string;
  /** How a file's absolute path is shown (upload-relative name). */
  displayName(path: string): string;
  /** How a reason or warning is shown (the server's folders left out); default: as it is. */
  displayText?(text: string): string;
  /**
   * Runs first, inside the writer slot: files known to be unchanged without reading them again (a re-upload of the
   * same bytes) are settled here, and the paths left are the ones to ingest.
   */
  settle?(): Promise<{ paths: string[]; settled: JobFile[] }>;
  /** Runs after the ingest, inside the writer slot (e.g. replacing older uploads of the same file). */
  after?(summary: IngestSummary): Promise<void>;
}

/** Runs one ingest: the knowledge base's `ingest`, reporting progress through `onEvent`. */
export type IngestRunner = (paths: string[], onEvent: (event: IngestEvent) => void) => Promise<IngestSummary>;

/**
 * The seam between the server and whatever runs ingest jobs: in process (the default, `InProcessJobQueue`), or a
 * queue that other processes work on. A knowledge base has one writer, so every write (jobs, and deletes through
 * `exclusive`) runs after the writes queued before it, while searches go on beside them.
 */
export interface JobQueue {
  /** Queue an ingest; resolves to the job as queued (status `queued`). `id` defaults to `newJobId()`. */
  submit(spec: JobSpec, id?: string): Promise<Job>;
  /** The job's current state, or undefined for an unknown (or forgotten) job. */
  get(id: string): Promise<Job | undefined>;
  /** The jobs this queue remembers, newest first. */
  list(): Promise<Job[]>;
  /** Listen to one job's events; returns the function that stops listening. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void;
  /** Run a write after every write queued before it; the result (or error) is the caller's. */
  exclusive<T>(write: () => Promise<T>): Promise<T>;
  /** Resolves when every queued write has finished. */
  idle(): Promise<void>;
}

/** A new job id, 16 hex digits (it also names the job's upload folder, so it is chosen before `submit`). */
export function newJobId(): string {
  return randomBytes(8).toString('hex');
}
