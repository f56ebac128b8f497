import { describe, expect, it } from 'vitest';
import { displayUrl, redact, redactAndClip, urlHasSecrets } from '../../src/redact.js';

describe('redact', () => {
  const key = 'sk-test-1234567890abcdef';

  it('hides a given secret and its URL-encoded form', () => {
    expect(redact(`bad key ${key} sent`, [key])).toBe('bad key *** sent');
    const odd = 'p@ss/word+1';
    expect(redact(`?k=${encodeURIComponent(odd)} and ${odd}`, [odd])).toBe('?k=*** and ***');
  });

  it('hides URL credentials, bearer tokens and key-like query parameters without being told the secret', () => {
    expect(redact('connect ECONNREFUSED http://alice:s3cret@10.0.0.5:8000/v1/chat')).toBe(
      'connect ECONNREFUSED http://***@10.0.0.5:8000/v1/chat',
    );
    expect(redact('Authorization: Bearer abcdef123456')).toBe('Authorization: Bearer ***');
    expect(redact('GET /v1/models?api_key=abc123&x=1')).toBe('GET /v1/models?api_key=***&x=1');
  });

  it('ignores empty and very short secrets rather than mangling the text', () => {
    expect(redact('a b c', ['', undefined, 'b'])).toBe('a b c');
  });

  it('scrubs before it cuts, so no part of a key survives the cut', () => {
    const body = `${'x'.repeat(490)}${key}${'y'.repeat(100)}`;
    const out = redactAndClip(body, [key], 500);
    expect(out).not.toContain(key.slice(0, 8));
    expect(out.endsWith('…')).toBe(true);
  });
});

describe('displayUrl', () => {
  it('drops user, password and query string', () => {
    expect(displayUrl('http://u:p@host:1234/v1?key=abc')).toBe('http://host:1234/v1?…');
    expect(displayUrl('http://127.0.0.1:11434/')).toBe('http://127.0.0.1:11434');
    expect(urlHasSecrets('http://u:p@host/')).toBe(true);
    expect(urlHasSecrets('http://host/v1')).toBe(false);
  });

  it('redacts text that is not a URL', () => {
    expect(displayUrl('not a url Bearer abcdefgh')).toBe('not a url Bearer ***');
  });
});
