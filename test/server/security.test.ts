import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenMatches } from '../../src/server/auth.js';
import { sanitizeRelativePath, sanitizeSegment, uniquePath } from '../../src/server/uploads.js';
import { tempDir } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';

const TOKEN = 's3cret-token-for-tests';

let tmp: ReturnType<typeof tempDir>;
let server: TestServer;

beforeAll(async () => {
  tmp = tempDir('mmrag-api-sec-');
  server = await startTestServer(
    join(tmp.dir, 'kb'),
    { provider: 'none' },
    { token: TOKEN, maxUploadFiles: 3, maxFileBytes: 1000, maxUploadBytes: 20_000 },
  );
});

afterAll(async () => {
  await server?.stop();
  tmp?.cleanup();
});

const auth = { authorization: `Bearer ${TOKEN}` };

function filesForm(count: number, size: number): FormData {
  const form = new FormData();
  for (let i = 0; i < count; i++)
    form.append('files', new Blob([new Uint8Array(size).fill(65)]), `f${i}.txt`);
  return form;
}

describe('token', () => {
  it('health is open; every other API call needs the bearer token (401 with a hint)', async () => {
    expect((await fetch(`${server.url}/api/health`)).status).toBe(200);
    for (const path of ['/api/config', '/api/sources', '/api/search?q=x', '/api/openapi.json', '/api/jobs']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      expect(((await res.json()) as { error: { hint: string } }).error.hint).toContain('Authorization');
    }
    const wrong = await fetch(`${server.url}/api/sources`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const ask = await fetch(`${server.url}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'x' }),
    });
    expect(ask.status).toBe(401);
    const ok = await fetch(`${server.url}/api/sources`, { headers: auth });
    expect(ok.status).toBe(200);
  });

  it('the token cookie counts for pictures only', async () => {
    const cookie = { cookie: `mmrag_token=${TOKEN}` };
    expect((await fetch(`${server.url}/api/media/${'a'.repeat(24)}`, { headers: cookie })).status).toBe(404);
    expect((await fetch(`${server.url}/api/sources`, { headers: cookie })).status).toBe(401);
  });

  it('the web page itself loads without a token (it asks for one)', async () => {
    expect((await fetch(`${server.url}/`)).status).toBe(200);
  });

  it('compares tokens by value only', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(tokenMatches('', TOKEN)).toBe(false);
    expect(tokenMatches(undefined, TOKEN)).toBe(false);
  });
});

describe('upload limits', () => {
  it('refuses too many files with 413 and says the limit', async () => {
    const res = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: auth,
      body: filesForm(4, 10),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('limit of 3');
  });

  it('refuses a file over the per-file limit with 413', async () => {
    const res = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: auth,
      body: filesForm(1, 2000),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('f0.txt');
  });

  it('refuses a request over the total limit with 413', async () => {
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(30_000)]), 'big.bin');
    const res = await fetch(`${server.url}/api/ingest`, { method: 'POST', headers: auth, body: form });
    expect(res.status).toBe(413);
  });

  it('accepts an upload within the limits', async () => {
    const res = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: auth,
      body: filesForm(3, 10),
    });
    expect(res.status).toBe(202);
  });

  it('refuses other host names (DNS rebinding) on a loopback server', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${server.url}/api/health`,
        { headers: { host: `attacker.example:${server.port}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });
});

describe('upload names', () => {
  it('keeps every script, removes separators and dot segments', () => {
    expect(sanitizeSegment('Café 東京 résumé.pdf')).toBe('Café 東京 résumé.pdf');
    expect(sanitizeSegment('..')).toBe('_');
    expect(sanitizeSegment('.')).toBe('_');
    expect(sanitizeSegment('a/b\\c:d*e?.txt')).toBe('a_b_c_d_e_.txt');
    expect(sanitizeSegment('.env')).toBe('_env');
    expect(sanitizeSegment('name. ')).toBe('name');
    expect(sanitizeSegment('bad\u0000\u001fname')).toBe('bad__name');
    const long = sanitizeSegment(`${'é'.repeat(200)}.html`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(180);
    expect(long.endsWith('.html')).toBe(true);
  });

  it('relative paths never leave the upload folder', () => {
    expect(sanitizeRelativePath('../../etc/passwd')).toBe('etc/passwd');
    expect(sanitizeRelativePath('/abs/path.txt')).toBe('abs/path.txt');
    expect(sanitizeRelativePath('site\\..\\..\\x.html')).toBe('site/x.html');
    expect(sanitizeRelativePath('site/./shapes_files/a.png')).toBe('site/shapes_files/a.png');
    expect(sanitizeRelativePath('..')).toBe('upload');
    expect(sanitizeRelativePath('')).toBe('upload');
    for (const tricky of ['../a', '..\\a', 'a/../../b', '/../../c', '....//d']) {
      const out = sanitizeRelativePath(tricky);
      expect(out.split('/')).not.toContain('..');
      expect(out.startsWith('/')).toBe(false);
    }
  });

  it('numbers duplicates', () => {
    expect(uniquePath('a.txt', new Set(['a.txt']))).toBe('a (2).txt');
    expect(uniquePath('a.txt', new Set(['a.txt', 'a (2).txt']))).toBe('a (3).txt');
    expect(uniquePath('b.txt', new Set(['a.txt']))).toBe('b.txt');
  });
});
