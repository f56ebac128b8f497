// The browser side of the HTTP API. Its wire types come from the server's contract (the zod schemas that also
// validate requests and generate /api/openapi.json): imported as types only, so nothing of the server is bundled.
// Pictures are fetched by item id only.
import type {
  AskDone,
  AskPrompt,
  AskRequest,
  AttachedPicture,
  DeletedSource,
  ErrorBody,
  ErrorDetail,
  Hit,
  IngestAccepted,
  Item,
  ItemView,
  Job,
  JobEvent,
  JobFile,
  Jobs,
  Level,
  Location,
  SearchMode,
  SearchResult,
  ServerConfig,
  Source,
  SourceItems,
  Sources,
} from '../../src/server/contract.js';

export type {
  AskDone,
  AskPrompt,
  AskRequest,
  AttachedPicture,
  Hit,
  IngestAccepted,
  Item,
  ItemView,
  Job,
  JobFile,
  Level,
  Location,
  SearchMode,
  SearchResult,
  ServerConfig,
  Source,
};

/** An error as the API reports it (`{error: {code, message, hint?}}`), also shown for a failed answer. */
export type AskError = ErrorDetail;

/** The data of a job stream's `file` event: one file started or finished. */
export type JobFileProgress = Extract<JobEvent, { event: 'file' }>['data'];

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

export function saveToken(token: string): void {
  localStorage.setItem(TOKEN_KEY, token);
}

/**
 * Check a token with the server and let this browser load pictures: POST /api/session answers 204 and sets an
 * HttpOnly cookie that <img> requests carry to /api/media (they cannot send an Authorization header). The cookie
 * lasts until the browser closes, so the app calls this whenever it starts with a saved token. Resolves to
 * false when the server refuses the token.
 */
export async function openSession(token = savedToken()): Promise<boolean> {
  let res: Response;
  try {
    res = await fetch('/api/session', {
      method: 'POST',
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  } catch {
    throw new ApiError(0, 'The mmrag server does not answer.', 'Is `mmrag serve` still running?');
  }
  if (res.status === 401) return false;
  if (!res.ok) throw await failure(res, false);
  return true;
}

let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = savedToken();
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

async function failure(res: Response, report = true): Promise<ApiError> {
  if (res.status === 401 && report) onUnauthorized();
  try {
    const body = (await res.json()) as Partial<ErrorBody>;
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
  sources: () => call<Sources>('/api/sources').then((r) => r.sources),
  items: (sourceId: string) => call<SourceItems>(`/api/sources/${sourceId}/items`),
  view: (itemId: string) => call<ItemView>(`/api/items/${itemId}/view`),
  deleteSource: (id: string) => call<DeletedSource>(`/api/sources/${id}`, { method: 'DELETE' }),
  jobs: () => call<Jobs>('/api/jobs').then((r) => r.jobs),
  search: (form: FormData) => call<SearchResult>('/api/search', { method: 'POST', body: form }),
  ingestUrls: (urls: string[]) =>
    call<IngestAccepted>('/api/ingest', {
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
  body: AskRequest,
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
): Promise<Pick<IngestAccepted, 'id' | 'uploaded'>> {
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
      let body: Partial<IngestAccepted & ErrorBody> = {};
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
