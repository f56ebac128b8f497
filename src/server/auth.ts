import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time comparison of a presented token with the expected one (hashing first hides the length). */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** The value of one cookie from a `Cookie` header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The cookie that lets `<img>` requests fetch pictures (`GET /api/media/...`) when the server has a token. */
export const MEDIA_COOKIE = 'mmrag_media';

/**
 * The media cookie's value: a key derived from the token, so the cookie opens pictures only and never gives the
 * token itself away (it is HttpOnly as well: scripts cannot read it).
 */
export function mediaKeyOf(token: string): string {
  return createHmac('sha256', token).update('mmrag media cookie v1').digest('hex');
}
