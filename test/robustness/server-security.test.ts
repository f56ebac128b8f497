/**
 * `mmrag serve` under attack, on loopback: every route the OpenAPI document lists needs the token (health
 * excepted), pictures only by item id, path traversal in every form, oversized and malformed uploads, an aborted
 * question that must stop its LLM request, and URL fetching that refuses private addresses after DNS and redirects.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import { fetchBounded } from '../../src/ingest/net.js';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { type RunningServer, startServer } from '../../src/server/server.js';
import { FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type RecordingServer, startRecordingServer } from '../helpers/robustness.js';

const TOKEN = 'robustness-token-0123456789abcdef';
const MAX_UPLOAD_BYTES = 256 * 1024;
const MAX_UPLOAD_FILES = 5;

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;
let server: RunningServer;
let llm: RecordingServer;
let imageId: string;
let textId: string;

const auth = { authorization: `Bearer ${TOKEN}` };

/** A raw HTTP request, so the path reaches the server exactly as written (fetch would normalise `..`). */
function raw(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? 'GET',
        agent: false,
        headers: options.headers,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

async function errorOf(res: Response): Promise<{ code: string; message: string; hint?: string }> {
  return ((await res.json()) as { error: { code: string; message: string; hint?: string } }).error;
}

beforeAll(async () => {
  tmp = tempDir('mmrag-server-security-');
  await writeShapesPage(join(tmp.dir, 'site'));
  // An Ollama stand-in that answers /api/version, then sends one piece of every chat answer and stalls.
  llm = await startRecordingServer((req, res) => {
    if (req.url === '/api/version') {
      res.end(JSON.stringify({ version: '0.6.2' }));
      return;
    }
    req.resume();
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(
      `${JSON.stringify({ model: 'm', created_at: new Date().toISOString(), message: { role: 'assistant', content: 'The ' }, done: false })}\n`,
    );
  });
  kb = await openKnowledgeBase({
    kb: join(tmp.dir, 'kb'),
    embed: { model: FIXTURE_MODEL },
    ingest: { ocr: false },
    transcribe: { provider: 'none' },
    llm: { provider: 'ollama', url: llm.url, model: 'm' },
  });
  await kb.ingest([join(tmp.dir, 'site')]);
  const items = await kb.items(join(tmp.dir, 'site', 'shapes.html'));
  imageId = items.find((i) => i.modality === 'image')!.id;
  textId = items.find((i) => i.modality === 'text')!.id;
  server = await startServer(kb, {
    port: 0,
    token: TOKEN,
    maxUploadBytes: MAX_UPLOAD_BYTES,
    maxUploadFiles: MAX_UPLOAD_FILES,
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await kb?.close();
  await llm?.close();
  tmp?.cleanup();
});

describe('authentication on every route', () => {
  it('every route of /api/openapi.json but health refuses a missing or wrong token, and takes the right one', async () => {
    const doc = (await (await fetch(`${server.url}/api/openapi.json`, { headers: auth })).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map((method) => ({
          method: method.toUpperCase(),
          path: path.replace(/\{id\}/g, '0123456789abcdef'),
        })),
    );
    expect(routes.length).toBeGreaterThanOrEqual(15);
    const checked: string[] = [];
    for (const { method, path } of routes) {
      const body = method === 'POST' ? JSON.stringify({ q: 'x', question: 'x' }) : undefined;
      const headers = { 'content-type': 'application/json' };
      const bad: Array<Record<string, string>> = [
        {},
        { authorization: 'Bearer wrong-token' },
        { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: TOKEN },
      ];
      for (const extra of bad) {
        const res = await fetch(`${server.url}${path}?token=${TOKEN}`, {
          method,
          headers: { ...headers, ...extra },
          body,
        });
        if (path === '/api/health') expect(res.status, `${method} ${path}`).toBe(200);
        else {
          expect(res.status, `${method} ${path} with ${JSON.stringify(extra)}`).toBe(401);
          expect((await errorOf(res)).code).toBe('unauthorized');
        }
      }
      if (method === 'DELETE') continue; // never delete for real here
      const ok = await fetch(`${server.url}${path}`, {
        method,
        // An answer streams (its headers come at once; the stand-in model never finishes one).
        headers: { ...headers, ...auth, ...(path === '/api/ask' ? { accept: 'text/event-stream' } : {}) },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      expect(ok.status, `${method} ${path} with the token`).not.toBe(401);
      await ok.body?.cancel();
      checked.push(`${method} ${path}`);
    }
    expect(checked).toContain('GET /api/config');
  });
});

describe('pictures by item id only, and no way out of the folders', () => {
  it('a picture comes by its item id; a text item has none', async () => {
    const res = await fetch(`${server.url}/api/media/${imageId}`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect((await fetch(`${server.url}/api/media/${textId}`, { headers: auth })).status).toBe(404);
  });

  it('traversal attempts in media, item, source and static paths never reach a file outside', async () => {
    const attempts = [
      '/api/media/..%2F..%2Fkb.json',
      '/api/media/..%2f..%2fsources.json',
      '/api/media/%2e%2e%2f%2e%2e%2fkb.json',
      '/api/media/....//....//kb.json',
      '/api/media/%252e%252e%252fkb.json',
      '/api/media/..\\..\\kb.json',
      `/api/media/${imageId}%00.png`,
      '/api/media/?path=/etc/passwd',
      '/api/items/..%2F..%2Fkb.json',
      '/api/sources/..%2F..%2Fkb.json/items',
      '/../../../../etc/passwd',
      '/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/assets/..%2f..%2f..%2fpackage.json',
      '/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
      '//etc/passwd',
      '/..%5c..%5c..%5cpackage.json',
      '/index.html%00.js',
    ];
    for (const path of attempts) {
      const res = await raw(path, { headers: auth });
      expect(res.body, path).not.toMatch(/root:x:0:0|"schemaVersion"|"embedModel"|"devDependencies"/);
      if (path.startsWith('/api/')) expect(res.status, path).toBeGreaterThanOrEqual(400);
      // Outside the API, an unknown path may get the web app's own page (client-side routes), never a file.
      else if (res.status === 200) expect(res.headers['content-type'], path).toMatch(/^text\/html/);
    }
  });
});

describe('uploads', () => {
  const uploadsDir = () => join(tmp.dir, 'kb', 'uploads');
  const uploadsCount = () => (existsSync(uploadsDir()) ? readdirSync(uploadsDir()).length : 0);

  it('an upload over the request limit is refused with 413 and leaves nothing behind', async () => {
    const before = uploadsCount();
    const boundary = 'robustnessboundary';
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n`,
      ),
      Buffer.alloc(MAX_UPLOAD_BYTES + 1024, 0x61),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    // On a connection of its own: the server answers before reading the whole body (and closes the connection).
    const res = await raw('/api/ingest', {
      method: 'POST',
      headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(res.status).toBe(413);
    expect((JSON.parse(res.body) as { error: { message: string } }).error.message).toMatch(
      /over the .* limit/,
    );
    expect(uploadsCount()).toBe(before);
  });

  it('too many files in one upload: 413 naming the limit', async () => {
    const form = new FormData();
    for (let i = 0; i <= MAX_UPLOAD_FILES; i++) form.append('files', new Blob(['tiny note']), `n${i}.txt`);
    const res = await fetch(`${server.url}/api/ingest`, { method: 'POST', headers: auth, body: form });
    expect(res.status).toBe(413);
    expect((await errorOf(res)).message).toContain(`over the limit of ${MAX_UPLOAD_FILES}`);
  });

  it('wrong content types are refused with 400 and say what to send', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'image/png']) {
      const res = await fetch(`${server.url}/api/ingest`, {
        method: 'POST',
        headers: { ...auth, 'content-type': type },
        body: 'files=../../etc/passwd',
      });
      expect(res.status, type).toBe(400);
      expect((await errorOf(res)).message, type).toContain('multipart/form-data');
    }
    const noUrls = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ paths: ['/etc/passwd'] }),
    });
    expect(noUrls.status).toBe(400);
    const fileUrl = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ urls: ['file:///etc/passwd'] }),
    });
    expect(fileUrl.status).toBe(400);
    expect((await errorOf(fileUrl)).message).toContain('only http and https');
  });

  it('malformed multipart bodies are refused with 400 and a reason', async () => {
    const bodies: Array<{ type: string; body: string }> = [
      { type: 'multipart/form-data', body: 'no boundary at all' },
      { type: 'multipart/form-data; boundary=XYZ', body: 'garbage without any boundary line' },
      {
        type: 'multipart/form-data; boundary=XYZ',
        body: '--XYZ\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\ncut short, no closing boundary',
      },
      { type: 'multipart/form-data; boundary=XYZ', body: '--XYZ\r\nno headers here\r\n--XYZ--\r\n' },
    ];
    for (const { type, body } of bodies) {
      const res = await fetch(`${server.url}/api/ingest`, {
        method: 'POST',
        headers: { ...auth, 'content-type': type },
        body,
      });
      expect(res.status, `${type}: ${body.slice(0, 30)}`).toBe(400);
      const error = await errorOf(res);
      expect(error.message.length).toBeGreaterThan(10);
    }
  });

  it('upload names cannot climb out of the upload folder', async () => {
    const marker = `escape-${process.pid}-${Date.now()}`;
    const form = new FormData();
    form.append(
      'files',
      new Blob([`# Escape\n\nThis note tries to leave the upload folder by its name ${marker}.\n`]),
      `../../../../../tmp/${marker}.md`,
    );
    form.append(
      'files',
      new Blob(['# Abs\n\nAn absolute name that must land inside the upload folder too.\n']),
      `/tmp/${marker}-abs.md`,
    );
    const res = await fetch(`${server.url}/api/ingest`, { method: 'POST', headers: auth, body: form });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await fetch(`${server.url}/api/jobs/${id}/events`, { headers: auth }).then((r) => r.text());
    expect(existsSync(`/tmp/${marker}.md`)).toBe(false);
    expect(existsSync(`/tmp/${marker}-abs.md`)).toBe(false);
    const sources = (await kb.sources()).map((s) => s.source).filter((s) => s.includes(marker));
    expect(sources.length).toBe(2);
    for (const s of sources) expect(s.startsWith(join(tmp.dir, 'kb', 'uploads'))).toBe(true);
  });

  it('an oversized or non-JSON question is refused', async () => {
    const big = await fetch(`${server.url}/api/ask`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        question: 'x',
        history: [{ role: 'user', content: 'y'.repeat(5 * 1024 * 1024) }],
      }),
    });
    expect(big.status).toBe(413);
    const notJson = await fetch(`${server.url}/api/ask`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"question": ',
    });
    expect(notJson.status).toBe(400);
    expect((await errorOf(notJson)).message).toContain('not valid JSON');
  });
});

describe('disconnecting clients', () => {
  it('a JSON question whose client hangs up stops its LLM request', async () => {
    // Earlier tests leave model requests closing: count from a quiet moment.
    await new Promise((r) => setTimeout(r, 300));
    const before = llm.disconnects.length;
    const chats = () => llm.requests.filter((r) => r.url === '/api/chat').length;
    const chatsBefore = chats();
    const controller = new AbortController();
    const asked = fetch(`${server.url}/api/ask`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'a red circle' }),
      signal: controller.signal,
    }).catch((err: unknown) => err);
    // Wait until the server's request to the model for this question has started, then hang up.
    while (chats() === chatsBefore) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    await asked;
    // Resolves only when the model request was closed by the server (else the test times out).
    while (llm.disconnects.length === before) await new Promise((r) => setTimeout(r, 10));
    // The request closed is this question's own.
    expect(llm.disconnects.at(-1)).toBe(llm.requests.filter((r) => r.url === '/api/chat').at(-1));
  });
});

describe('URL fetching refuses private addresses after DNS and redirects', () => {
  let target: RecordingServer;

  beforeAll(async () => {
    target = await startRecordingServer((req, res) => {
      if (req.url?.startsWith('/redirect-to-')) {
        const to = decodeURIComponent(req.url.slice('/redirect-to-'.length));
        res.writeHead(302, { location: to });
        res.end();
        return;
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('x'.repeat(2 * 1024 * 1024));
        return;
      }
      if (req.url === '/big-chunked') {
        res.writeHead(200, { 'content-type': 'text/html' });
        for (let i = 0; i < 64; i++) res.write('y'.repeat(32 * 1024));
        res.end();
        return;
      }
      if (req.url === '/hang') return;
      res.end('<html><body><p>private content</p></body></html>');
    });
  });

  afterAll(async () => {
    await target?.close();
  });

  const refuse = async (url: string, allowAddress?: (ip: string) => boolean) => {
    const err = await fetchBounded(url, {
      timeoutMs: 5000,
      maxBytes: 1024 * 1024,
      allowPrivateNetwork: false,
      ...(allowAddress ? { allowAddress } : {}),
    }).catch((e: unknown) => e);
    expect(err, url).toBeInstanceOf(MmragError);
    return err as MmragError;
  };

  it('loopback by name, mapped IPv6, link-local and private ranges are refused before any connection', async () => {
    for (const url of [
      `http://localhost:${target.port}/secret`,
      `http://[::ffff:127.0.0.1]:${target.port}/secret`,
      `http://[::1]:${target.port}/secret`,
      `http://127.1:${target.port}/secret`,
      `http://2130706433:${target.port}/secret`,
      'http://169.254.169.254/latest/meta-data/',
      'http://[fe80::1]/x',
      'http://10.1.2.3/x',
      'http://192.168.1.1/x',
      'http://172.16.0.1/x',
      'http://100.64.0.1/x',
      'http://0.0.0.0/x',
    ]) {
      const err = await refuse(url);
      expect(err.code, url).toBe('private_address');
      expect(err.message, url).toContain('refused');
    }
    expect(target.requests).toEqual([]);
  });

  it('a redirect from an allowed host to a private one is refused at the hop, before connecting to it', async () => {
    const allowOnly127001 = (ip: string) => ip === '127.0.0.1';
    for (const to of [
      `http://127.0.0.2:${target.port}/secret`,
      `http://[::1]:${target.port}/secret`,
      `http://[::ffff:7f00:2]:${target.port}/secret`,
      'http://169.254.169.254/latest/meta-data/',
    ]) {
      const before = target.requests.length;
      const err = await refuse(`${target.url}/redirect-to-${encodeURIComponent(to)}`, allowOnly127001);
      expect(err.code, to).toBe('private_address');
      expect(target.requests.slice(before).map((r) => r.url)).toEqual([
        `/redirect-to-${encodeURIComponent(to)}`,
      ]);
    }
  });

  it('size and time are bounded, declared or not', async () => {
    const allow = { timeoutMs: 1500, maxBytes: 1024 * 1024, allowPrivateNetwork: true };
    for (const path of ['/big', '/big-chunked']) {
      const err = await fetchBounded(`${target.url}${path}`, allow).catch((e: unknown) => e);
      expect((err as MmragError).code, path).toBe('too_large');
    }
    const hung = await fetchBounded(`${target.url}/hang`, allow).catch((e: unknown) => e);
    expect((hung as MmragError).code).toBe('timeout');
  });

  it('URL ingest through the API: a host that resolves to loopback fails its job with the reason', async () => {
    const before = target.requests.length;
    const res = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ urls: [`http://localhost:${target.port}/secret`] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await fetch(`${server.url}/api/jobs/${id}/events`, { headers: auth }).then((r) => r.text());
    const job = (await (await fetch(`${server.url}/api/jobs/${id}`, { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    expect(JSON.stringify(job)).toMatch(/private address/);
    expect(target.requests.length).toBe(before);
  });
});

describe('the ingest folder on the server cannot be named by a client', () => {
  it('a JSON body naming server paths is not ingested', async () => {
    const secret = join(tmp.dir, 'server-only');
    mkdirSync(secret);
    writeFileSync(
      join(secret, 'private.md'),
      '# Private\n\nA note on the server that no client may ingest by path.\n',
    );
    for (const body of [{ paths: [secret] }, { urls: [secret] }, { urls: [`file://${secret}/private.md`] }]) {
      const res = await fetch(`${server.url}/api/ingest`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await kb.sources()).some((s) => s.source.includes('server-only'))).toBe(false);
  });
});
