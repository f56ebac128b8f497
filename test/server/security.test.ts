import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import { tokenMatches } from '../../src/server/auth.js';
import { errorBody, serverPathHider } from '../../src/server/http-errors.js';
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

  it('POST /api/session sets an HttpOnly media cookie that opens pictures only and is not the token', async () => {
    expect((await fetch(`${server.url}/api/session`, { method: 'POST' })).status).toBe(401);
    const session = await fetch(`${server.url}/api/session`, { method: 'POST', headers: auth });
    expect(session.status).toBe(204);
    const setCookie = session.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^mmrag_media=[0-9a-f]{64}; /);
    expect(setCookie).toContain('Path=/api/media');
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).not.toContain(TOKEN);
    const cookie = { cookie: setCookie.split(';')[0]! };
    const picture = `${server.url}/api/media/${'a'.repeat(24)}`;
    // 404: past the token check (there is no such picture); without the cookie it is a 401.
    expect((await fetch(picture, { headers: cookie })).status).toBe(404);
    expect((await fetch(picture)).status).toBe(401);
    expect((await fetch(`${server.url}/api/sources`, { headers: cookie })).status).toBe(401);
    // The raw token in a cookie opens nothing (a cookie is never a bearer token).
    for (const name of ['mmrag_media', 'mmrag_token'])
      expect((await fetch(picture, { headers: { cookie: `${name}=${TOKEN}` } })).status).toBe(401);
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

  it('leaves nothing behind when it refuses an upload: no job folder, no partial file', async () => {
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(500).fill(66)]), 'ok.txt');
    form.append('files', new Blob([new Uint8Array(5000).fill(67)]), 'too-big.txt');
    const res = await fetch(`${server.url}/api/ingest`, { method: 'POST', headers: auth, body: form });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(existsSync(server.uploadsDir) ? readdirSync(server.uploadsDir) : []).toEqual([]);
  });

  it('refuses an upload path too long to store with a clear 400 that shows no server path', async () => {
    const form = new FormData();
    const deep = Array.from({ length: 30 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(150)}`);
    form.append('files', new Blob(['hello']), `${deep.join('/')}/notes.txt`);
    const res = await fetch(`${server.url}/api/ingest`, { method: 'POST', headers: auth, body: form });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toContain('over the limit of 1024 bytes');
    expect(body).not.toContain(tmp.dir);
    expect(body).not.toMatch(/\/tmp\//);
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

describe('error bodies', () => {
  it('never show where things live on the server', () => {
    const hide = serverPathHider({ '<kb>': '/srv/data/.mmrag', '~': '/home/ann' });
    const unexpected = errorBody(
      new Error("ENAMETOOLONG: name too long, open '/srv/data/.mmrag/uploads/ab/x.txt' (from /opt/app/x.js)"),
      hide,
    );
    expect(unexpected.status).toBe(500);
    expect(unexpected.body.error.message).toBe(
      "The server failed: ENAMETOOLONG: name too long, open '<kb>/uploads/ab/x.txt' (from <path>)",
    );
    const known = errorBody(
      new MmragError('Locked: /home/ann/kb/.lock', 'See /home/ann/kb', 'kb_locked'),
      hide,
    );
    expect(known.status).toBe(409);
    expect(JSON.stringify(known.body)).not.toContain('/home/ann');
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
