import { existsSync, mkdirSync, readdirSync, watch, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/server/sse.js';
import { drawShape, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { folderForm, startTestServer, type TestServer, waitForJob } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
let server: TestServer;
let base: string;

interface HitJson {
  id: string;
  modality: string;
  caption?: string;
  text?: string;
  mediaUrl?: string;
  source: string;
  scores?: { vector?: number; bm25?: number; rerank?: number };
}

interface SearchJson {
  query: string;
  level: number;
  mode: string;
  text: HitJson[];
  images: HitJson[];
}

interface OllamaChat {
  messages: Array<{ role: string; content: string; images?: string[] }>;
}

const getJson = async <T>(path: string): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as T };
};

const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  tmp = tempDir('mmrag-api-');
  await writeShapesPage(join(tmp.dir, 'site'));
  writeFileSync(
    join(tmp.dir, 'notes.md'),
    '# Harbour notes\n\nThe ferry to the island leaves from the north pier every morning at seven o clock sharp.\n',
  );
  llm = await startLoopbackLlm({
    reply: 'The fuel dock has a red circle [1]. See the picture [5].',
    chunks: 5,
  });
  server = await startTestServer(join(tmp.dir, 'kb'), { provider: 'ollama', url: llm.url });
  base = server.url;
});

afterAll(async () => {
  await server?.stop();
  await llm?.close();
  tmp?.cleanup();
});

describe('HTTP API on loopback', () => {
  it('health and config answer; config has no secrets and gives the levels, level, mode and reranker', async () => {
    const health = await fetch(`${base}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const config = (await (await fetch(`${base}/api/config`)).json()) as Record<string, unknown>;
    expect(config.levels).toEqual([1, 2, 3]);
    expect(config.level).toBe(3);
    expect(config.mode).toBe('hybrid');
    expect(config.rerank).toBe(false);
    expect(config.urlIngest).toBe(true);
    expect(JSON.stringify(config)).not.toMatch(/apiKey":"[^*]/);
  });

  it('search on an empty knowledge base returns no hits, not an error', async () => {
    const res = await fetch(`${base}/api/search?q=${encodeURIComponent('a red circle')}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      query: 'a red circle',
      level: 3,
      mode: 'hybrid',
      text: [],
      images: [],
    });
  });

  it('an uploaded page cannot pull a picture from elsewhere on the server into the knowledge base', async () => {
    const secret = join(tmp.dir, 'private-photo.png');
    writeFileSync(secret, await drawShape('purple', 'circle'));
    const page = `<html><head><title>Sneaky</title></head><body>
<p>A page whose pictures point outside the folder it was uploaded with, on the server's own disk.</p>
<img src="${secret}" alt="absolute"><img src="file://${secret}" alt="file URL"><img src="../../../private-photo.png" alt="relative"></body></html>`;
    const form = new FormData();
    form.append('files', new Blob([page]), 'sneaky.html');
    const res = await fetch(`${base}/api/ingest`, { method: 'POST', body: form });
    const { job } = await waitForJob(base, ((await res.json()) as { id: string }).id);
    const file = (job.files as Array<{ name: string; imageItems: number; warnings: string[] }>)[0]!;
    expect(file.imageItems).toBe(0);
    expect(file.warnings.join('\n')).toMatch(/not found among the files uploaded with it/);
    const { sources } = (await (await fetch(`${base}/api/sources`)).json()) as {
      sources: Array<{ id: string; name: string }>;
    };
    const sneaky = sources.find((x) => x.name === 'sneaky.html')!;
    expect((await fetch(`${base}/api/sources/${sneaky.id}`, { method: 'DELETE' })).status).toBe(200);
  });

  it('uploads a folder and a file, reports per-file progress, and lists the sources', async () => {
    const form = folderForm(join(tmp.dir, 'site'), tmp.dir);
    form.append('files', new Blob([new Uint8Array(await drawShape('yellow', 'square'))]), 'yellow.png');
    const res = await fetch(`${base}/api/ingest`, { method: 'POST', body: form });
    expect(res.status).toBe(202);
    const { id, uploaded } = (await res.json()) as { id: string; uploaded: number };
    expect(uploaded).toBe(5);
    const { job, events } = await waitForJob(base, id);
    expect(job.status).toBe('done');
    const files = job.files as Array<{ name: string; status: string; imageItems: number }>;
    // The saved page's picture folder belongs to the page: two files, not five.
    expect(files.map((f) => [f.name, f.status]).sort()).toEqual([
      ['site/shapes.html', 'ingested'],
      ['yellow.png', 'ingested'],
    ]);
    expect(files.find((f) => f.name === 'site/shapes.html')?.imageItems).toBe(3);
    expect(events.filter((e) => e.event === 'file').length).toBeGreaterThanOrEqual(2);

    const polled = (await (await fetch(`${base}/api/jobs/${id}`)).json()) as { status: string };
    expect(polled.status).toBe('done');

    const sources = (await (await fetch(`${base}/api/sources`)).json()) as {
      sources: Array<{ id: string; name: string; source: string; items: number }>;
    };
    expect(sources.sources.map((s) => s.name).sort()).toEqual(['site/shapes.html', 'yellow.png']);
    const page = sources.sources.find((s) => s.name === 'site/shapes.html')!;
    expect(page.source).toBe(join(server.uploadsDir, id, 'site', 'shapes.html'));
    expect(existsSync(page.source)).toBe(true);

    const items = (await (await fetch(`${base}/api/sources/${page.id}/items`)).json()) as {
      items: Array<{ id: string; modality: string; mediaUrl?: string; media?: string }>;
    };
    expect(items.items).toHaveLength(7);
    const picture = items.items.find((i) => i.modality === 'image')!;
    expect(picture.mediaUrl).toBe(`/api/media/${picture.id}`);
    expect(picture.media).toBeUndefined();
    const one = await fetch(`${base}/api/items/${picture.id}`);
    expect(((await one.json()) as { id: string }).id).toBe(picture.id);
  });

  it('search returns the search --json shape with a mediaUrl per picture, red circle first', async () => {
    const res = await fetch(`${base}/api/search?q=${encodeURIComponent('a red circle')}&imageK=2`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { query: string; text: HitJson[]; images: HitJson[] };
    expect(body.query).toBe('a red circle');
    expect(body.images.length).toBeLessThanOrEqual(2);
    expect(body.images[0]!.caption).toBe('The fuel dock marker');
    expect(body.images[0]!.mediaUrl).toBe(`/api/media/${body.images[0]!.id}`);
    for (const hit of body.text) expect(hit.mediaUrl).toBeUndefined();
  });

  it('searches by a dropped picture (multipart image)', async () => {
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(await drawShape('yellow', 'square'))]), 'query.png');
    const res = await fetch(`${base}/api/search`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { images: HitJson[] };
    expect(body.images[0]!.source.endsWith('yellow.png')).toBe(true);
  });

  it('searches by a picture from memory: no file appears in the temporary folder', async () => {
    const picture = new Uint8Array(await drawShape('yellow', 'square'));
    // os.tmpdir() follows TMPDIR: point it at an empty folder of this test, and watch every entry made in it
    // during the call (a temporary file removed before the answer would leave the folder empty afterwards).
    const watched = join(tmp.dir, 'watched-tmp');
    mkdirSync(watched);
    const created: string[] = [];
    let sentinelSeen!: () => void;
    const sentinel = new Promise<void>((resolve) => {
      sentinelSeen = resolve;
    });
    const watcher = watch(watched, (_event, name) => {
      if (name === 'sentinel') sentinelSeen();
      else created.push(String(name));
    });
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = watched;
    let res: Response;
    try {
      const form = new FormData();
      form.append('image', new Blob([picture]), 'query.png');
      form.append('q', 'yellow');
      form.append('level', '3');
      res = await fetch(`${base}/api/search`, { method: 'POST', body: form });
      await res.clone().arrayBuffer();
      // Events arrive in order: once the sentinel's is seen, any earlier entry's has been too.
      writeFileSync(join(watched, 'sentinel'), '');
      await sentinel;
    } finally {
      watcher.close();
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    expect(res.status).toBe(200);
    const body = (await res.json()) as SearchJson;
    expect(body.images[0]!.source.endsWith('yellow.png')).toBe(true);
    expect(created).toEqual([]);
  });

  it('a picture query at level 1 or 2 is refused with the reason', async () => {
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(await drawShape('red', 'circle'))]), 'query.png');
    form.append('level', '1');
    const res = await fetch(`${base}/api/search`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('level 3');
  });

  it('searches at each level and mode, and says which answered', async () => {
    for (const level of [1, 2, 3]) {
      const { status, body } = await getJson<SearchJson>(
        `/api/search?q=${encodeURIComponent('fuel dock')}&level=${level}`,
      );
      expect(status, `level ${level}`).toBe(200);
      expect(body.level).toBe(level);
      expect(body.mode).toBe('hybrid');
      expect(body.text.length + body.images.length, `level ${level}`).toBeGreaterThan(0);
    }
    const bm25 = await getJson<SearchJson>(`/api/search?q=${encodeURIComponent('fuel dock')}&mode=bm25`);
    expect(bm25.body.mode).toBe('bm25');
    // Only passages holding the words come back from BM25, each with its BM25 score.
    expect(bm25.body.text.length).toBeGreaterThan(0);
    for (const hit of bm25.body.text) {
      expect(hit.text).toMatch(/fuel|dock/i);
      expect(hit.scores?.bm25).toBeGreaterThan(0);
    }
    const json = await postJson('/api/search', { q: 'fuel dock', level: 1, mode: 'vector', diversity: 0.5 });
    expect(json.status).toBe(200);
    expect((await json.json()) as SearchJson).toMatchObject({ level: 1, mode: 'vector' });
  });

  it('filters with where, in GET, multipart and JSON searches', async () => {
    const unfiltered = await getJson<SearchJson>(`/api/search?q=${encodeURIComponent('a yellow square')}`);
    expect(unfiltered.body.images[0]!.source.endsWith('yellow.png')).toBe(true);
    const where = 'type = html';
    const filtered = await getJson<SearchJson>(
      `/api/search?q=${encodeURIComponent('a yellow square')}&where=${encodeURIComponent(where)}`,
    );
    expect(filtered.status).toBe(200);
    const all = [...filtered.body.text, ...filtered.body.images];
    expect(all.length).toBeGreaterThan(0);
    for (const hit of all) expect(hit.source.endsWith('shapes.html')).toBe(true);

    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(await drawShape('yellow', 'square'))]), 'query.png');
    form.append('where', 'source = yellow.png');
    const byPicture = (await (
      await fetch(`${base}/api/search`, { method: 'POST', body: form })
    ).json()) as SearchJson;
    expect(byPicture.images.map((h) => h.source.split('/').pop())).toEqual(['yellow.png']);
    expect(byPicture.text).toEqual([]);

    const byJson = (await (
      await postJson('/api/search', { q: 'a yellow square', where: 'modality = text' })
    ).json()) as SearchJson;
    expect(byJson.images).toEqual([]);
    expect(byJson.text.length).toBeGreaterThan(0);
  });

  it('a bad where, mode, diversity or rerank is a 400 with the reason, also before an answer stream', async () => {
    const bad = await getJson<{ error: { code: string; message: string } }>(
      `/api/search?q=x&where=${encodeURIComponent('colour = red')}`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('Unknown field "colour"');
    const form = new FormData();
    form.append('q', 'x');
    form.append('where', 'page ~ 3');
    const multipart = await fetch(`${base}/api/search`, { method: 'POST', body: form });
    expect(multipart.status).toBe(400);
    expect(((await multipart.json()) as { error: { message: string } }).error.message).toContain(
      'page is a number',
    );
    const streamed = await postJson(
      '/api/ask',
      { question: 'x', where: 'type >= pdf' },
      { accept: 'text/event-stream' },
    );
    expect(streamed.status).toBe(400);
    expect(streamed.headers.get('content-type')).toContain('application/json');
    expect(((await streamed.json()) as { error: { message: string } }).error.message).toContain(
      'compares numbers',
    );
    expect((await fetch(`${base}/api/search?q=x&mode=fuzzy`)).status).toBe(400);
    expect((await fetch(`${base}/api/search?q=x&diversity=2`)).status).toBe(400);
    expect((await fetch(`${base}/api/search?q=x&level=4`)).status).toBe(400);
    expect((await fetch(`${base}/api/search?q=x&rerank=maybe`)).status).toBe(400);
    const rerank = await getJson<{ error: { message: string } }>('/api/search?q=x&rerank=true');
    expect(rerank.status).toBe(400);
    expect(rerank.body.error.message).toContain('no reranker');
    expect((await fetch(`${base}/api/search?q=x&rerank=false`)).status).toBe(200);
  });

  it('asks at levels 1, 2 and 3: level 1 shows the model no pictures, 2 and 3 attach them', async () => {
    for (const level of [1, 2, 3] as const) {
      const before = llm.chatRequests().length;
      const res = await postJson('/api/ask', { question: 'Which shape marks the fuel dock?', level });
      expect(res.status, `level ${level}`).toBe(200);
      const body = (await res.json()) as { level: number; model: string; sources: HitJson[] };
      expect(body.level).toBe(level);
      expect(body.model).toBe('ollama/llama3.2-vision');
      const pictures = body.sources.filter((s) => s.modality === 'image').length;
      expect(pictures, `level ${level} retrieves pictures`).toBeGreaterThan(0);
      const sent = llm.chatRequests()[before]!.body as OllamaChat;
      const attached = sent.messages.reduce((n, m) => n + (m.images?.length ?? 0), 0);
      if (level === 1) {
        expect(attached).toBe(0);
        expect(sent.messages.at(-1)!.content).toContain('not attached');
      } else expect(attached, `level ${level}`).toBe(pictures);
    }
  });

  it('asks with a where filter: only matching sources reach the model', async () => {
    const res = await postJson('/api/ask', { question: 'a yellow square', where: 'source = yellow.png' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { sources: HitJson[] };
    expect(body.sources.length).toBeGreaterThan(0);
    for (const s of body.sources) expect(s.source.endsWith('yellow.png')).toBe(true);
  });

  it('serves a picture by item id with its type, nosniff and cache headers', async () => {
    const search = (await (await fetch(`${base}/api/search?q=a%20blue%20square`)).json()) as {
      images: HitJson[];
    };
    const hit = search.images[0]!;
    const res = await fetch(`${base}${hit.mediaUrl}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toContain('max-age');
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(1, 4)].map((b) => String.fromCharCode(b)).join('')).toBe('PNG');
    const again = await fetch(`${base}${hit.mediaUrl}`, {
      headers: { 'if-none-match': res.headers.get('etag')! },
    });
    expect(again.status).toBe(304);
    const textHit = search.images[0]!.id;
    expect((await fetch(`${base}/api/media/${'0'.repeat(24)}`)).status).toBe(404);
    expect(textHit).toMatch(/^[0-9a-f]+$/);
  });

  it('refuses path tricks in media, item and source URLs', async () => {
    const attempts = [
      '/api/media/..%2F..%2Fkb.json',
      '/api/media/%2e%2e%2fkb.json',
      '/api/media/..%5Ckb.json',
      '/api/media/kb.json',
      '/api/items/..%2Fkb.json',
      '/api/sources/..%2F..%2Fetc%2Fpasswd/items',
    ];
    for (const path of attempts) {
      const res = await fetch(`${base}${path}`);
      expect([400, 404], path).toContain(res.status);
      expect(res.headers.get('content-type'), path).toContain('application/json');
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message.length).toBeGreaterThan(0);
    }
    // Unescaped dot segments are resolved by the URL parser before routing: they never reach a file either.
    const raw = await fetch(`${base}/api/media/../../kb.json`);
    expect(raw.status).toBe(404);
    expect(await raw.text()).not.toContain('embedModel');
    // The static web app cannot be used to leave its folder.
    const escaped = await fetch(`${base}/..%2F..%2Fpackage.json`);
    expect(await escaped.text()).not.toContain('"dependencies"');
  });

  it('asks with JSON: the answer from the loopback LLM, numbered sources with mediaUrl, citations', async () => {
    const res = await fetch(`${base}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'Which shape marks the fuel dock?', image: { k: 2 } }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      answer: string;
      sources: HitJson[];
      model: string;
      citations: number[];
    };
    expect(body.answer).toBe('The fuel dock has a red circle [1]. See the picture [5].');
    expect(body.model).toBe('ollama/llama3.2-vision');
    expect(body.citations[0]).toBe(1);
    expect(body.sources.filter((s) => s.modality === 'image').length).toBeLessThanOrEqual(2);
    for (const s of body.sources.filter((h) => h.modality === 'image'))
      expect(s.mediaUrl).toMatch(/^\/api\/media\//);
  });

  it('says exactly what the model was sent: the prompt and the pictures attached, in order; the reference prompt on request', async () => {
    const before = llm.chatRequests().length;
    const res = await postJson('/api/ask', { question: 'Which shape marks the fuel dock?' });
    const body = (await res.json()) as {
      prompt: string;
      attached: Array<{ id: string; path: string; mediaUrl: string }>;
      sources: HitJson[];
    };
    const sent = llm.chatRequests()[before]!.body as OllamaChat;
    expect(body.prompt).toBe(sent.messages.at(-1)!.content);
    const pictures = body.sources.filter((h) => h.modality === 'image');
    expect(body.attached.map((a) => a.id)).toEqual(pictures.map((h) => h.id));
    expect(body.attached.length).toBe(sent.messages.at(-1)!.images!.length);
    for (const a of body.attached) expect(a.mediaUrl).toBe(`/api/media/${a.id}`);

    const reference = (await (
      await postJson('/api/ask', { question: 'Which shape marks the fuel dock?', prompt: 'reference' })
    ).json()) as { prompt: string };
    expect(reference.prompt).not.toBe(body.prompt);
    expect(reference.prompt).toContain('Image Caption');
    expect((await postJson('/api/ask', { question: 'x', prompt: 'other' })).status).toBe(400);
  });

  it('a question may turn answering off or keep the configured model, never switch to a provider the operator did not configure', async () => {
    const before = llm.chatRequests().length;
    const openai = await postJson('/api/ask', { question: 'a red circle', llm: { provider: 'openai' } });
    expect(openai.status).toBe(400);
    const refusal = ((await openai.json()) as { error: { message: string; hint: string } }).error;
    expect(refusal.message).toContain('may not switch to "openai"');
    const auto = await postJson('/api/ask', { question: 'a red circle', llm: { provider: 'auto' } });
    expect(auto.status).toBe(400);
    const model = await postJson('/api/ask', { question: 'a red circle', llm: { model: 'gpt-4o' } });
    expect(model.status).toBe(400);
    expect(((await model.json()) as { error: { message: string } }).error.message).toContain(
      'The model "gpt-4o" is not one this server offers',
    );
    // Nothing reached any model.
    expect(llm.chatRequests().length).toBe(before);
    const same = await postJson('/api/ask', { question: 'a red circle', llm: { provider: 'ollama' } });
    expect(same.status).toBe(200);
    const off = await postJson('/api/ask', {
      question: 'a red circle',
      llm: { provider: 'none', model: 'x' },
    });
    expect(off.status).toBe(200);
    expect(((await off.json()) as { answer: null }).answer).toBeNull();
    const config = (await (await fetch(`${base}/api/config`)).json()) as {
      answering: { provider: string; models: string[] };
    };
    expect(config.answering).toEqual({ provider: 'ollama', models: [] });
  });

  it('streams tokens, then sources, then done; history reaches the model before the question', async () => {
    const before = llm.chatRequests().length;
    const res = await fetch(`${base}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        question: 'And which one marks customs?',
        history: [
          { role: 'user', content: 'Which shape marks the fuel dock?' },
          { role: 'assistant', content: 'A red circle [1].' },
        ],
      }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = parseSse(await res.text());
    const tokens = events.filter((e) => e.event === 'token');
    expect(tokens.length).toBeGreaterThan(1);
    expect(tokens.map((t) => t.data).join('')).toBe(
      'The fuel dock has a red circle [1]. See the picture [5].',
    );
    // The sources (and the exact prompt) come as soon as retrieval is done, before the first token.
    const order = events.map((e) => e.event).filter((e, i, all) => all.indexOf(e) === i);
    expect(order).toEqual(['sources', 'prompt', 'token', 'done']);
    const prompt = JSON.parse(events.find((e) => e.event === 'prompt')!.data) as {
      prompt: string;
      attached: Array<{ id: string; mediaUrl: string }>;
      willAnswer: boolean;
    };
    expect(prompt.willAnswer).toBe(true);
    expect(prompt.prompt).toContain('And which one marks customs?');
    const sources = JSON.parse(events.find((e) => e.event === 'sources')!.data) as HitJson[];
    expect(sources.length).toBeGreaterThan(0);
    const done = JSON.parse(events.find((e) => e.event === 'done')!.data) as {
      model: string;
      citations: number[];
    };
    expect(done.model).toBe('ollama/llama3.2-vision');
    const sent = llm.chatRequests()[before]!.body as { messages: Array<{ role: string; content: string }> };
    expect(sent.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(sent.messages[0]!.content).toBe('Which shape marks the fuel dock?');
    expect(sent.messages[2]!.content).toContain('And which one marks customs?');
  });

  it('aborting a streamed answer aborts the LLM call', async () => {
    // An Ollama stand-in that sends one piece, then waits, and records when the server hangs up on it.
    let chatClosed!: () => void;
    const closed = new Promise<void>((resolve) => {
      chatClosed = resolve;
    });
    const stalling = createServer((req, res) => {
      if (req.url === '/api/version') {
        res.end(JSON.stringify({ version: '0.6.2' }));
        return;
      }
      req.resume();
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(
        `${JSON.stringify({ model: 'm', created_at: new Date().toISOString(), message: { role: 'assistant', content: 'The ' }, done: false })}\n`,
      );
      res.on('close', () => chatClosed());
    });
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
    const port = (stalling.address() as AddressInfo).port;
    const other = await startTestServer(join(tmp.dir, 'kb-abort'), {
      provider: 'ollama',
      url: `http://127.0.0.1:${port}`,
    });
    try {
      const controller = new AbortController();
      const res = await fetch(`${other.url}/api/ask`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ question: 'a red circle' }),
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      let seen = '';
      while (!seen.includes('event: token')) {
        const next = await reader.read();
        if (next.done) break;
        seen += new TextDecoder().decode(next.value);
      }
      expect(seen).toContain('event: token');
      controller.abort();
      // Resolves only when the server's ask aborted its request to the model (else the test times out).
      await closed;
    } finally {
      await other.stop();
      stalling.closeAllConnections();
      await new Promise<void>((resolve) => stalling.close(() => resolve()));
    }
  });

  it('without any model: sources and an error saying no model answered', async () => {
    const res = await fetch(`${base}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'a red circle', llm: { provider: 'none' } }),
    });
    const body = (await res.json()) as {
      answer: null;
      sources: unknown[];
      error: { code: string; message: string };
    };
    expect(res.status).toBe(200);
    expect(body.answer).toBeNull();
    expect(body.sources.length).toBeGreaterThan(0);
    expect(body.error.code).toBe('llm_none');
    expect(body.error.message).toContain('No language model answered');
  });

  it('gives JSON errors a person can act on, with the right status', async () => {
    const empty = await fetch(`${base}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ question: '' }),
    });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { message: string } }).error.message).toContain('question');
    const badJson = await fetch(`${base}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(badJson.status).toBe(400);
    const level = await fetch(`${base}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'x', level: 4 }),
    });
    expect(level.status).toBe(400);
    expect((await fetch(`${base}/api/search?q=x&textK=many`)).status).toBe(400);
    expect((await fetch(`${base}/api/jobs/ffff`)).status).toBe(404);
    for (const method of ['GET', 'POST', 'DELETE']) {
      const unknown = await fetch(`${base}/api/nothing-here`, { method });
      expect(unknown.status, method).toBe(404);
      expect(unknown.headers.get('content-type')).toContain('application/json');
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
    const badUrls = await fetch(`${base}/api/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ urls: ['file:///etc/passwd'] }),
    });
    expect(badUrls.status).toBe(400);
    const foreign = await fetch(`${base}/api/ingest`, {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
      body: new FormData(),
    });
    expect(foreign.status).toBe(403);
  });

  it('ingests URLs as a job; a private address is refused by default, with the reason', async () => {
    const res = await fetch(`${base}/api/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ urls: [`${llm.url}/page.html`] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const { job } = await waitForJob(base, id);
    const [file] = job.files as Array<{ name: string; status: string; reason?: string }>;
    expect(file!.name).toBe(`${llm.url}/page.html`);
    expect(file!.status).toBe('failed');
    expect(file!.reason).toMatch(/private|loopback|local/i);
  });

  it('a file that fails is reported in its job with the reason, and leaves no upload behind', async () => {
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array([0, 1, 2, 3, 255, 254, 0, 0])]), 'broken.png');
    const res = await fetch(`${base}/api/ingest`, { method: 'POST', body: form });
    const { id } = (await res.json()) as { id: string };
    const { job } = await waitForJob(base, id);
    const [file] = job.files as Array<{ name: string; status: string; reason?: string }>;
    expect(file!.status).toBe('failed');
    expect(file!.reason).toBeTruthy();
    expect(existsSync(join(server.uploadsDir, id))).toBe(false);
  });

  it('the same bytes uploaded again are unchanged, not added again: a file, and a page with its pictures', async () => {
    const { sources: before } = (await (await fetch(`${base}/api/sources`)).json()) as {
      sources: Array<{ name: string; source: string }>;
    };
    const upload = async (form: FormData) => {
      const res = await fetch(`${base}/api/ingest`, { method: 'POST', body: form });
      expect(res.status).toBe(202);
      return waitForJob(base, ((await res.json()) as { id: string }).id);
    };
    const again = folderForm(join(tmp.dir, 'site'), tmp.dir);
    again.append('files', new Blob([new Uint8Array(await drawShape('yellow', 'square'))]), 'yellow.png');
    const { job } = await upload(again);
    const files = job.files as Array<{ name: string; status: string; imageItems: number }>;
    expect(files.map((f) => [f.name, f.status]).sort()).toEqual([
      ['site/shapes.html', 'unchanged'],
      ['yellow.png', 'unchanged'],
    ]);
    expect(files.find((f) => f.name === 'site/shapes.html')!.imageItems).toBe(3);
    expect(job.summary).toMatchObject({ files: 2, unchanged: 2, ingested: 0 });
    const { sources: after } = (await (await fetch(`${base}/api/sources`)).json()) as {
      sources: Array<{ name: string; source: string }>;
    };
    // The earlier copies stay, nothing was added, and the new copies are gone with their job folder.
    expect(after.map((s) => s.source).sort()).toEqual(before.map((s) => s.source).sort());
    expect(existsSync(join(server.uploadsDir, job.id as string))).toBe(false);

    // A page whose picture changed is not unchanged: it is ingested again and replaces the older copy.
    const pageFiles = folderForm(join(tmp.dir, 'site'), tmp.dir).getAll('files') as File[];
    const form = new FormData();
    for (const file of pageFiles) {
      if (file.name.endsWith('red-circle.png'))
        form.append('files', new Blob([new Uint8Array(await drawShape('orange', 'circle'))]), file.name);
      else form.append('files', file, file.name);
    }
    const second = await upload(form);
    expect((second.job.files as Array<{ status: string }>)[0]!.status).toBe('ingested');
  });

  it('a new upload of the same file name replaces the older one', async () => {
    const sourcesBefore = (await (await fetch(`${base}/api/sources`)).json()) as {
      sources: Array<{ name: string }>;
    };
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(await drawShape('purple', 'circle'))]), 'yellow.png');
    const { id } = (await (await fetch(`${base}/api/ingest`, { method: 'POST', body: form })).json()) as {
      id: string;
    };
    await waitForJob(base, id);
    const after = (await (await fetch(`${base}/api/sources`)).json()) as {
      sources: Array<{ name: string; source: string }>;
    };
    expect(after.sources.length).toBe(sourcesBefore.sources.length);
    expect(after.sources.find((s) => s.name === 'yellow.png')!.source).toContain(id);
  });

  it('deletes a source by id, with its uploaded copy; a second delete is 404', async () => {
    const { sources } = (await (await fetch(`${base}/api/sources`)).json()) as {
      sources: Array<{ id: string; name: string; source: string }>;
    };
    const target = sources.find((s) => s.name === 'yellow.png')!;
    const res = await fetch(`${base}/api/sources/${target.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { removed: number }).removed).toBe(1);
    expect(existsSync(target.source)).toBe(false);
    const jobFolders = readdirSync(server.uploadsDir);
    expect(jobFolders).toHaveLength(1);
    expect((await fetch(`${base}/api/sources/${target.id}`, { method: 'DELETE' })).status).toBe(404);
    expect((await fetch(`${base}/api/sources/not-an-id`, { method: 'DELETE' })).status).toBe(400);
  });

  it('reports progress within a large file while it is embedded, and names the job', async () => {
    const paragraphs = Array.from(
      { length: 200 },
      (_, i) =>
        `Paragraph ${i}: the tide table for the harbour lists the high water of day ${i} at the north pier.`,
    );
    const form = new FormData();
    form.append('files', new Blob([paragraphs.join('\n\n')]), 'tides.md');
    const { id } = (await (await fetch(`${base}/api/ingest`, { method: 'POST', body: form })).json()) as {
      id: string;
    };
    const { job, events } = await waitForJob(base, id);
    expect(job.label).toBe('tides.md');
    const progress = events
      .filter((e) => e.event === 'file')
      .map(
        (e) => (JSON.parse(e.data) as { file: { progress?: { done: number; total: number } } }).file.progress,
      )
      .filter((p) => p !== undefined);
    const items = (job.files as Array<{ items: number; progress?: unknown }>)[0]!;
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]!.done).toBeLessThan(progress[0]!.total);
    expect(progress.at(-1)).toEqual({ done: items.items, total: items.items });
    // The finished file carries its outcome, not its progress.
    expect(items.progress).toBeUndefined();
  });

  it('compresses the web app and JSON answers for clients that accept it', async () => {
    const { request } = await import('node:http');
    const raw = (path: string, encoding: string) =>
      new Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }>(
        (resolve, reject) => {
          const req = request(`${base}${path}`, { headers: { 'accept-encoding': encoding } }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
          });
          req.on('error', reject);
          req.end();
        },
      );
    const { brotliDecompressSync, gunzipSync } = await import('node:zlib');
    const plain = await raw('/', 'identity');
    const br = await raw('/', 'gzip, deflate, br');
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toContain('Accept-Encoding');
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(plain.body.toString())![1]!;
    const js = await raw(script, 'gzip');
    expect(js.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(js.body).length).toBeGreaterThan(js.body.length * 2);
    const openapi = await raw('/api/openapi.json', 'gzip');
    expect(openapi.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(openapi.body).toString()).openapi).toBe('3.1.0');
  });

  it('serves the web app at / with a content security policy', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('mmrag');
  });
});
