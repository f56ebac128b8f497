import type { Hook } from '@hono/zod-openapi';
import type { Env } from 'hono';
import type { z } from 'zod';
import { errorMessage, MmragError } from '../errors.js';
import type { ErrorBody } from './contract.js';

const STATUS_OF_CODE: Record<string, 400 | 401 | 403 | 404 | 409 | 413 | 501 | 503> = {
  busy: 503,
  bad_request: 400,
  bad_query: 400,
  usage: 400,
  invalid_config: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  kb_locked: 409,
  model_mismatch: 409,
  too_large: 413,
  not_implemented: 501,
  model_unavailable: 503,
};

/** An error the API answers with its status (by code) and the `{error: {code, message, hint?}}` body. */
export function httpError(code: string, message: string, hint?: string): MmragError {
  return new MmragError(message, hint, code);
}

/** Text as an error body may show it: the server's folders replaced by what they are. */
export type PathHider = (text: string) => string;

/**
 * Replaces each of the server's folders (`roots`: label -> folder) in a text by its label (`<kb>/uploads/...`), the
 * longest first, so that no error body tells a client where things live on the server.
 */
export function serverPathHider(roots: Record<string, string | undefined>): PathHider {
  const known = Object.entries(roots)
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1].length > 1)
    .sort((a, b) => b[1].length - a[1].length);
  return (text) => {
    let out = text;
    for (const [label, folder] of known) out = out.split(folder).join(label);
    return out;
  };
}

/** Any absolute file path left in an unexpected error's message (`open '/srv/x/y'`), as `<path>`. */
const ABSOLUTE_PATH = /(^|[\s'"(=[,])(?:\/[^\s'"(),[\]]+|[A-Za-z]:\\[^\s'"(),[\]]+)/g;

export function errorBody(err: unknown, hide: PathHider = (t) => t): { status: number; body: ErrorBody } {
  if (err instanceof MmragError) {
    return {
      status: STATUS_OF_CODE[err.code] ?? 500,
      body: {
        error: {
          code: err.code,
          message: hide(err.message),
          ...(err.hint ? { hint: hide(err.hint) } : {}),
        },
      },
    };
  }
  // An unexpected failure: its message may name anything on the server's disk.
  const message = hide(errorMessage(err)).replace(ABSOLUTE_PATH, '$1<path>');
  return { status: 500, body: { error: { code: 'internal', message: `The server failed: ${message}` } } };
}

/** How an issue's path is shown; `rename` maps a flat field to its JSON place (`textK` -> `text.k`). */
function pathOf(issue: z.core.$ZodIssue, rename: Record<string, string>): string {
  const path = issue.path.join('.');
  return rename[path] ?? path;
}

/**
 * The 400 for a request the contract refuses: one readable line naming each field (`Invalid request: question:
 * Too small ...`). An issue marked `complete` (a path id, a field that is not a number) is a whole message by
 * itself: the first one is the answer.
 */
export function invalidRequest(
  issues: readonly z.core.$ZodIssue[],
  rename: Record<string, string> = {},
): MmragError {
  const complete = issues.find((i) => i.code === 'custom' && i.params?.complete === true);
  if (complete) return httpError('bad_request', complete.message);
  const problems = issues.map((i) => `${pathOf(i, rename) || 'body'}: ${i.message}`).join('; ');
  return httpError('bad_request', `Invalid request: ${problems}.`, 'See /api/openapi.json for the fields.');
}

/** Validate a value the handler read itself (a body sent as JSON or multipart) against a contract schema. */
export function parseRequest<S extends z.ZodType>(
  schema: S,
  value: unknown,
  rename?: Record<string, string>,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalidRequest(result.error.issues, rename);
}

/** Hook of every route's generated validators (path and query): refusals become today's 400 body. */
export function validationHook<T, E extends Env, P extends string, R>(
  rename: Record<string, string> = {},
): Hook<T, E, P, R | undefined> {
  return (result) => {
    if (!result.success) throw invalidRequest(result.error.issues, rename);
    return undefined;
  };
}
