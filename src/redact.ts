/**
 * Secrets kept out of everything mmrag prints, logs or sends back: API keys, the credentials inside URLs, bearer
 * tokens and key-like query parameters. Every place that shows an error, a URL or a server's reply goes through
 * here, and text is always scrubbed before it is cut (a key cut in half is no longer recognisable).
 */

const HIDDEN = '***';

/** `scheme://user:password@host` -> `scheme://***@host` (also when the URL sits inside a sentence). */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{4,}/g;
/** `?api_key=...`, `&token=...`: the usual names keys travel under in a query string. */
const KEY_PARAMETER =
  /([?&](?:api[-_]?key|apikey|key|token|access[-_]?token|auth|secret|password|sig|signature)=)[^&#\s"']+/gi;

/** Secrets shorter than this are not searched for: replacing every "ab" in a message would make it unreadable. */
const MIN_SECRET_LENGTH = 4;

/**
 * `text` with every given secret (and its URL-encoded form), URL credentials, bearer tokens and key-like query
 * parameters replaced by `***`.
 */
export function redact(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
    out = out.split(secret).join(HIDDEN);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join(HIDDEN);
  }
  return out
    .replace(URL_CREDENTIALS, `$1${HIDDEN}@`)
    .replace(BEARER, `$1${HIDDEN}`)
    .replace(KEY_PARAMETER, `$1${HIDDEN}`);
}

/** Redact, then cut to at most `max` characters (with an ellipsis when cut). */
export function redactAndClip(text: string, secrets: ReadonlyArray<string | undefined>, max: number): string {
  const clean = redact(text, secrets);
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/**
 * A URL as it may be shown: without user and password, and without a query string (where keys often travel);
 * the trailing slash of a bare origin is dropped. Text that is not a URL is redacted as text.
 */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const hadQuery = parsed.search !== '';
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    const shown = parsed.toString().replace(/\/$/, '');
    return hadQuery ? `${shown}?…` : shown;
  } catch {
    return redact(url);
  }
}

/** Whether a URL carries credentials or a query string that `displayUrl` hides. */
export function urlHasSecrets(url: string): boolean {
  try {
    const parsed = new URL(url);
    return Boolean(parsed.username || parsed.password || parsed.search);
  } catch {
    return false;
  }
}
