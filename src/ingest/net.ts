import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { errorMessage, MmragError } from '../errors.js';

export interface FetchBoundedOptions {
  /** Whole request, redirects and body included. */
  timeoutMs: number;
  /** Largest body accepted; the download stops as soon as it is passed. */
  maxBytes: number;
  /** Allow hosts that resolve to loopback, private, link-local, unspecified or CGNAT addresses. */
  allowPrivateNetwork: boolean;
  signal?: AbortSignal;
  /** Redirects followed before giving up (default 5). */
  maxRedirects?: number;
  /** Addresses let through even when private (an allow-list, e.g. one known intranet host). */
  allowAddress?: (ip: string) => boolean;
}

export interface FetchedBody {
  bytes: Uint8Array;
  contentType?: string;
  /** The URL the body came from, after redirects. */
  finalUrl: string;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * GET a URL with a time limit, a size limit and a guard against private-network targets, following
 * redirects itself so that every hop is checked.
 *
 * Known limit: the address check resolves the name before `fetch` resolves it again, so a DNS server
 * that answers differently the second time (DNS rebinding) is not caught.
 */
export async function fetchBounded(url: string, opts: FetchBoundedOptions): Promise<FetchedBody> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const fail = (err: unknown, current: string): never => {
    if (err instanceof MmragError) throw err;
    if (timeout.aborted) {
      throw new MmragError(
        `${current}: no complete answer within ${opts.timeoutMs} ms`,
        'The server is slow or unreachable; raise the remote timeout or try again later.',
        'timeout',
        { cause: err },
      );
    }
    if (opts.signal?.aborted) throw new MmragError(`${current}: download cancelled`, undefined, 'aborted');
    throw new MmragError(
      `${current}: cannot download (${describeCause(err)})`,
      'Check the URL and the network connection (network unavailable?).',
      'network',
      { cause: err },
    );
  };

  let current = url;
  for (let hop = 0; ; hop++) {
    const target = parseHttpUrl(current);
    try {
      await raceAbort(assertAllowedHost(target, opts), signal);
    } catch (err) {
      return fail(err, current);
    }
    let response: Response;
    try {
      response = await fetch(target, { redirect: 'manual', signal });
    } catch (err) {
      return fail(err, current);
    }
    if (REDIRECT_STATUSES.has(response.status)) {
      await response.body?.cancel().catch(() => undefined);
      const location = response.headers.get('location');
      if (!location) {
        throw new MmragError(
          `${current}: HTTP ${response.status} redirect without a Location`,
          undefined,
          'http_status',
        );
      }
      if (hop >= maxRedirects) {
        throw new MmragError(
          `${url}: more than ${maxRedirects} redirects`,
          'The server redirects in a loop or too often; use the final URL directly.',
          'too_many_redirects',
        );
      }
      current = new URL(location, target).href;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new MmragError(
        `${current}: the server answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`,
        'Check that the URL is right and reachable without logging in.',
        'http_status',
      );
    }
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw tooLarge(current, opts.maxBytes);
    }
    let bytes: Uint8Array;
    try {
      bytes = await readBounded(response, opts.maxBytes, current);
    } catch (err) {
      return fail(err, current);
    }
    const contentType = response.headers.get('content-type') ?? undefined;
    return contentType === undefined
      ? { bytes, finalUrl: current }
      : { bytes, contentType, finalUrl: current };
  }
}

/** Settle with `work`, or reject as soon as `signal` aborts (for steps that take no signal, like DNS). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

async function readBounded(response: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(url, maxBytes);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function tooLarge(url: string, maxBytes: number): MmragError {
  return new MmragError(
    `${url}: larger than the limit of ${maxBytes} bytes`,
    'Raise the size limit if the file is genuine.',
    'too_large',
  );
}

function parseHttpUrl(raw: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new MmragError(`"${raw}" is not a valid URL`, undefined, 'bad_url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new MmragError(
      `${raw}: only http and https URLs can be downloaded, not ${parsed.protocol}`,
      undefined,
      'bad_url',
    );
  }
  return parsed;
}

async function assertAllowedHost(target: URL, opts: FetchBoundedOptions): Promise<void> {
  if (opts.allowPrivateNetwork) return;
  const host = target.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (err) {
      throw new MmragError(
        `${target.href}: cannot resolve host "${host}" (network unavailable?)`,
        'Check the host name and the network connection.',
        'network',
        { cause: err },
      );
    }
  }
  const blocked = addresses.find((ip) => isPrivateAddress(ip) && !opts.allowAddress?.(ip));
  if (blocked !== undefined) {
    throw new MmragError(
      `${target.href}: host "${host}" resolves to the private address ${blocked}; refused`,
      'Fetching from loopback, private or link-local addresses is off; allow the private network in the config if this is intended.',
      'private_address',
    );
  }
}

function describeCause(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = (cause as { code?: unknown } | undefined)?.code;
  const message = errorMessage(cause);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/**
 * True for addresses that must not be fetched from by default: loopback (127/8, ::1), private
 * (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), unspecified and
 * "this network" (0/8, ::), CGNAT (100.64/10), multicast and broadcast; IPv4 addresses embedded in
 * IPv6 (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96) are judged as the IPv4 address. Anything that is not a
 * valid IP address counts as private (refused), to fail closed.
 */
export function isPrivateAddress(ip: string): boolean {
  const address = ip.trim().replace(/^\[|\]$/g, '');
  const kind = isIP(address);
  if (kind === 4) return isPrivateV4(parseV4(address)!);
  if (kind === 6) {
    const words = parseV6(address.replace(/%.*$/, ''));
    return words === undefined ? true : isPrivateV6(words);
  }
  return true;
}

function parseV4(address: string): number[] | undefined {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts;
}

function isPrivateV4([a, b]: number[]): boolean {
  if (a === undefined || b === undefined) return true;
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    a >= 224
  );
}

/** Eight 16-bit words of an IPv6 address (with an optional dotted IPv4 tail), or undefined. */
function parseV6(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v4 = parseV4(tail[1]!);
    if (!v4) return undefined;
    text = `${text.slice(0, tail.index)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const words = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest].map((w) =>
    Number.parseInt(w, 16),
  );
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff)
    ? words
    : undefined;
}

function isPrivateV6(w: number[]): boolean {
  const [w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0] = w;
  const embeddedV4 = [w6 >> 8, w6 & 0xff, w7 >> 8, w7 & 0xff];
  const firstFiveZero = w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0 && w4 === 0;
  if (firstFiveZero && w5 === 0 && w6 === 0) return true; // :: and ::1 (and ::x, not routable)
  if (firstFiveZero && (w5 === 0xffff || w5 === 0)) return isPrivateV4(embeddedV4); // mapped / compatible
  if (w0 === 0x64 && w1 === 0xff9b && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0)
    return isPrivateV4(embeddedV4);
  if ((w0 & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((w0 & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
  if ((w0 & 0xff00) === 0xff00) return true; // multicast
  return false;
}
