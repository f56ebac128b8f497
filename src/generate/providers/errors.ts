/**
 * Turning the failures of an LLM server into MmragErrors a person can act on (both providers share it).
 *
 * Codes: `llm_unreachable` (connection refused, DNS, timeout), `llm_model_missing`, `llm_images_refused`,
 * `llm_auth` (401/403), `llm_error` (anything else, with the server's own message).
 * The API key never appears in a message: it is scrubbed from server messages, and the SDK error (whose
 * response body may echo the key) is not attached as `cause`.
 */
import { MmragError } from '../../errors.js';
import { displayUrl, redact, redactAndClip } from '../../redact.js';

export interface LlmEndpoint {
  provider: 'ollama' | 'openai';
  /** The URL the user configured (shown in messages, without any credentials). */
  url: string;
  model: string;
  apiKey?: string;
  timeoutMs: number;
}

/** What a failure tells us, independent of the SDK's error classes. */
export interface FailureFacts {
  /** HTTP status when the server answered. */
  statusCode?: number;
  /** The raw response body when the server answered. */
  responseBody?: string;
  /** The error's own message. */
  message: string;
  /** A Node/undici network error code (ECONNREFUSED, ENOTFOUND, ...) when the request never got an answer. */
  networkCode?: string;
  /** No answer (or no further chunk) within the timeout. */
  timedOut?: boolean;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Find a network error code anywhere in a cause chain (including AggregateError members). */
function findNetworkCode(err: unknown, depth = 0): string | undefined {
  if (!isRecord(err) || depth > 6) return undefined;
  if (typeof err.code === 'string' && NETWORK_CODES.has(err.code)) return err.code;
  if (Array.isArray(err.errors)) {
    for (const inner of err.errors) {
      const code = findNetworkCode(inner, depth + 1);
      if (code) return code;
    }
  }
  return findNetworkCode(err.cause, depth + 1);
}

/**
 * Read an AI SDK error (APICallError: statusCode, responseBody; RetryError: lastError) or a plain
 * fetch/network error by shape, so this module needs no SDK import.
 */
export function failureFacts(err: unknown): FailureFacts {
  let current: unknown = err;
  if (isRecord(current) && 'lastError' in current && current.lastError !== undefined)
    current = current.lastError;
  const record = isRecord(current) ? current : {};
  const message = current instanceof Error ? current.message : String(current);
  const facts: FailureFacts = { message };
  if (typeof record.statusCode === 'number') facts.statusCode = record.statusCode;
  if (typeof record.responseBody === 'string') facts.responseBody = record.responseBody;
  if (facts.statusCode === undefined) {
    const code = findNetworkCode(current);
    if (code) facts.networkCode = code;
    else if (/^Cannot connect to API/.test(message)) facts.networkCode = 'ECONNREFUSED';
  }
  return facts;
}

/** The server's own words from an error body: `{error: "..."}`, `{error: {message}}`, `{message}`, `{detail}`. */
export function serverMessage(
  body: string | undefined,
  secrets: ReadonlyArray<string | undefined> = [],
): { message?: string; code?: string } {
  if (body === undefined || body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { message: redactAndClip(body.trim(), secrets, 500) };
  }
  if (!isRecord(parsed)) return { message: redactAndClip(body.trim(), secrets, 500) };
  const error = parsed.error;
  if (typeof error === 'string') return { message: error };
  if (isRecord(error)) {
    const code = typeof error.code === 'string' ? error.code : undefined;
    return { message: typeof error.message === 'string' ? error.message : JSON.stringify(error), code };
  }
  if (typeof parsed.message === 'string') return { message: parsed.message };
  if (typeof parsed.detail === 'string') return { message: parsed.detail };
  return { message: redactAndClip(body.trim(), secrets, 500) };
}

const MODEL_MISSING =
  /model[\s\S]*\bnot found\b|does not exist|no such model|unknown model|model_not_found|pull(ing)? it first/i;
const IMAGES_REFUSED = [
  /does not support (image|images|vision|multi-?modal)/i,
  /(image|vision|multi-?modal) (input|inputs|content)s? (is |are )?not supported/i,
  /missing data required for image input/i,
  /not a multi-?modal model/i,
  /image_url is only supported/i,
  /(images?|vision) (is |are )?not supported/i,
];

function serverName(endpoint: LlmEndpoint): string {
  return endpoint.provider === 'ollama' ? 'Ollama' : 'the OpenAI-compatible server';
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Pure: map the facts of a failure to the MmragError the user sees. */
export function classifyLlmFailure(facts: FailureFacts, endpoint: LlmEndpoint): MmragError {
  const url = displayUrl(endpoint.url);
  const name = serverName(endpoint);
  const Name = capitalize(name);
  const isOllama = endpoint.provider === 'ollama';
  const scrub = (text: string) => redact(text, [endpoint.apiKey]);
  const noneHint = 'or pass --llm none to get the sources without an answer';

  if (facts.timedOut) {
    const seconds = Math.round(endpoint.timeoutMs / 100) / 10;
    return new MmragError(
      `No answer from ${name} at ${url} within ${seconds} s (model ${endpoint.model}).`,
      `Check that the server is running and not overloaded, raise the timeout (MMRAG_LLM_TIMEOUT_MS), ${noneHint}.`,
      'llm_unreachable',
    );
  }
  if (facts.statusCode === undefined) {
    if (facts.networkCode !== undefined) {
      const hint = isOllama
        ? 'Start it with `ollama serve`, pass --llm-url, or --llm none.'
        : `Check --llm-url (MMRAG_LLM_URL) and that the server is running, ${noneHint}.`;
      return new MmragError(
        `Could not reach ${name} at ${url} (${facts.networkCode}).`,
        hint,
        'llm_unreachable',
      );
    }
    return new MmragError(
      `${Name} at ${url} failed: ${scrub(facts.message)}`,
      `Check that ${url} is a${isOllama ? 'n Ollama' : 'n OpenAI-compatible'} server, ${noneHint}.`,
      'llm_error',
    );
  }

  const status = facts.statusCode;
  const said = serverMessage(facts.responseBody, [endpoint.apiKey]);
  const text = scrub(said.message ?? facts.message);
  const detail = `(HTTP ${status}): ${text}`;

  if (status === 401 || status === 403) {
    return new MmragError(
      `${Name} at ${url} refused the request ${detail}`,
      isOllama
        ? 'The server needs credentials: set MMRAG_LLM_API_KEY, or check --llm-url.'
        : 'Set MMRAG_LLM_API_KEY (or OPENAI_API_KEY) to a valid key for this server.',
      'llm_auth',
    );
  }
  if (said.code === 'model_not_found' || (status === 404 && MODEL_MISSING.test(text))) {
    return new MmragError(
      `${Name} at ${url} has no model "${endpoint.model}" ${detail}`,
      isOllama
        ? `Run \`ollama pull ${endpoint.model}\`, or choose an installed model with --llm-model.`
        : 'Check --llm-model (MMRAG_LLM_MODEL): the server does not serve that model.',
      'llm_model_missing',
    );
  }
  if (IMAGES_REFUSED.some((pattern) => pattern.test(text))) {
    return new MmragError(
      `The model "${endpoint.model}" does not accept images ${detail}`,
      isOllama
        ? 'Choose a vision model such as llama3.2-vision (--llm-model llama3.2-vision), or use --level 1 (text only).'
        : 'Choose a vision model (such as gpt-4o-mini) with --llm-model, or use --level 1 (text only).',
      'llm_images_refused',
    );
  }
  if (status === 404) {
    return new MmragError(
      `${Name} at ${url} answered 404 ${detail}`,
      isOllama
        ? 'Check --llm-url: it should be the Ollama base URL, such as http://127.0.0.1:11434.'
        : 'Check --llm-url: it should end in /v1, such as http://127.0.0.1:8000/v1.',
      'llm_error',
    );
  }
  return new MmragError(
    `${Name} at ${url} failed ${detail}`,
    `See the server's log for details, ${noneHint}.`,
    'llm_error',
  );
}

/** Map any failure of a chat call to an MmragError (MmragErrors pass through). */
export function toLlmError(err: unknown, endpoint: LlmEndpoint): MmragError {
  if (err instanceof MmragError) return err;
  return classifyLlmFailure(failureFacts(err), endpoint);
}
