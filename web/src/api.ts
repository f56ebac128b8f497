// The browser side of the HTTP API (see /api/openapi.json). Pictures are fetched by item id only.

export interface Location {
  page?: number;
  slide?: number;
  sheet?: string;
  rows?: [number, number];
  start?: number;
  end?: number;
}

export interface Hit {
  id: string;
  modality: 'text' | 'image';
  score: number;
  similarity: number;
  title: string;
  section: string;
  source: string;
  type: string;
  location?: Location;
  text?: string;
  caption?: string;
  /** Pictures: the description a multimodal model wrote at ingest. */
  description?: string;
  /** How each retriever scored the hit (hybrid, BM25 and reranked searches). */
  scores?: { vector?: number; bm25?: number; rerank?: number };
  mediaUrl?: string;
}

export type Level = 1 | 2 | 3;
export type SearchMode = 'hybrid' | 'vector' | 'bm25';

export interface SearchResult {
  query: string;
  level?: Level;
  mode?: SearchMode;
  text: Hit[];
  images: Hit[];
}

export interface AskError {
  code: string;
  message: string;
  hint?: string;
}

export interface Source {
  id: string;
  name: string;
  uploaded: boolean;
  source: string;
  type: string;
  items: number;
  textItems: number;
  imageItems: number;
  bytes: number;
  ingestedAt: number;
}

export interface Item {
  id: string;
  modality: 'text' | 'image';
  type: string;
  title: string;
  section: string;
  text: string;
  location?: Location;
  mediaUrl?: string;
}

export interface JobFile {
  name: string;
  status: 'processing' | 'ingested' | 'unchanged' | 'skipped' | 'failed';
  type?: string;
  items: number;
  textItems: number;
  imageItems: number;
  warnings: string[];
  reason?: string;
}

export interface Job {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  createdAt: number;
  uploaded: number;
  total?: number;
  files: JobFile[];
  error?: AskError;
}

export interface ServerConfig {
  version: string;
  embedModel: string;
  levels: Level[];
  level: Level;
  mode: SearchMode;
  /** Whether a reranker is configured. */
  rerank: boolean;
  tokenRequired: boolean;
  urlIngest: boolean;
  limits: { maxUploadBytes: number; maxUploadFiles: number; maxFileBytes: number };
  config: {
    kb: string;
    search: {
      scoring: 'cosine' | 'softmax';
      diversity?: number;
      text: { k: number; threshold: number; temperature: number };
      image: { k: number; threshold: number; temperature: number };
      cosine: { text: { threshold: number }; image: { threshold: number } };
    };
    llm: { provider: string; model?: string; url?: string };
  };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
    readonly code = 'error',
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'mmrag.token';

export function savedToken(): string {
  return localStorage.getItem(TOKEN_KEY) ?? '';
}

/** Remember the token; a SameSite cookie carries it for <img> requests (which cannot send headers). */
export function saveToken(token: string): void {
  localStorage.setItem(TOKEN_KEY, token);
  // biome-ignore lint/suspicious/noDocumentCookie: the cookie is how <img> requests carry the token
  document.cookie = `mmrag_token=${encodeURIComponent(token)}; path=/api/media; SameSite=Strict`;
}

let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = savedToken();
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

async function failure(res: Response): Promise<ApiError> {
  if (res.status === 401) onUnauthorized();
  try {
    const body = (await res.json()) as { error?: AskError };
    if (body.error) return new ApiError(res.status, body.error.message, body.error.hint, body.error.code);
  } catch {
    // not JSON
  }
  return new ApiError(res.status, `The server answered ${res.status} ${res.statusText}.`);
}

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers: headers(init.headers as Record<string, string>) });
  } catch {
    throw new ApiError(0, 'The mmrag server does not answer.', 'Is `mmrag serve` still running?');
  }
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export const api = {
  config: () => call<ServerConfig>('/api/config'),
  sources: () => call<{ sources: Source[] }>('/api/sources').then((r) => r.sources),
  items: (sourceId: string) => call<{ source: Source; items: Item[] }>(`/api/sources/${sourceId}/items`),
  deleteSource: (id: string) => call<{ removed: number }>(`/api/sources/${id}`, { method: 'DELETE' }),
  jobs: () => call<{ jobs: Job[] }>('/api/jobs').then((r) => r.jobs),
  search: (form: FormData) => call<SearchResult>('/api/search', { method: 'POST', body: form }),
  ingestUrls: (urls: string[]) =>
    call<{ id: string; uploaded: number }>('/api/ingest', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ urls }),
    }),
};

export interface SseMessage {
  event: string;
  data: string;
}

/** Read a text/event-stream response, calling `onMessage` per event as it arrives. */
export async function readEvents(res: Response, onMessage: (message: SseMessage) => void): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, '\n');
    let cut = buffer.indexOf('\n\n');
    while (cut >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
      onMessage({ event, data: data.join('\n') });
      cut = buffer.indexOf('\n\n');
    }
  }
}

/** POST a question and stream the answer. */
export async function askStream(
  body: unknown,
  signal: AbortSignal,
  onMessage: (message: SseMessage) => void,
): Promise<void> {
  let res: Response;
  try {
    res = await fetch('/api/ask', {
      method: 'POST',
      headers: headers({ 'content-type': 'application/json', accept: 'text/event-stream' }),
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (signal.aborted) return;
    throw new ApiError(0, 'The mmrag server does not answer.', String(err));
  }
  if (!res.ok) throw await failure(res);
  await readEvents(res, onMessage);
}

/** Follow a job's progress until it is done. */
export async function followJob(id: string, onMessage: (message: SseMessage) => void): Promise<void> {
  const res = await fetch(`/api/jobs/${id}/events`, { headers: headers() });
  if (!res.ok) throw await failure(res);
  await readEvents(res, onMessage);
}

/** Upload files (each named by its relative path) with upload progress from 0 to 1. */
export function upload(
  files: Array<{ file: File; path: string }>,
  onProgress: (fraction: number) => void,
): Promise<{ id: string; uploaded: number }> {
  const form = new FormData();
  for (const { file, path } of files) form.append('files', file, path);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/ingest');
    const token = savedToken();
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'The upload failed: the server does not answer.'));
    xhr.onload = () => {
      let body: { id?: string; uploaded?: number; error?: AskError } = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON
      }
      if (xhr.status === 202 && body.id) resolve({ id: body.id, uploaded: body.uploaded ?? files.length });
      else {
        if (xhr.status === 401) onUnauthorized();
        reject(
          new ApiError(
            xhr.status,
            body.error?.message ?? `The upload failed (${xhr.status}).`,
            body.error?.hint,
          ),
        );
      }
    };
    xhr.send(form);
  });
}
