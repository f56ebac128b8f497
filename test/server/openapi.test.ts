import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  askEventSchema,
  askResultSchema,
  ingestAcceptedSchema,
  itemSchema,
  jobEventSchema,
  jobSchema,
  jobsSchema,
  searchResultSchema,
  serverConfigSchema,
  sourceItemsSchema,
  sourcesSchema,
  statsSchema,
} from '../../src/server/contract.js';
import { drawShape, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { folderForm, readSse, startTestServer, type TestServer, waitForJob } from './helpers.js';

type Parameter = { name: string; in: string; schema?: { pattern?: string } };
type Response = { content?: Record<string, { schema?: unknown }> };
type Operation = {
  operationId?: string;
  summary?: string;
  tags?: string[];
  responses: Record<string, Response>;
  parameters?: Parameter[];
};
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { oneOf?: Array<{ properties: { event: { enum: string[] } } }> }> };
};

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
let server: TestServer;
let doc: Doc;

beforeAll(async () => {
  tmp = tempDir('mmrag-openapi-');
  llm = await startLoopbackLlm({ reply: 'The fuel dock has a red circle [1].', chunks: 3 });
  server = await startTestServer(join(tmp.dir, 'kb'), { provider: 'ollama', url: llm.url });
  doc = (await (await fetch(`${server.url}/api/openapi.json`)).json()) as Doc;
});

afterAll(async () => {
  await server?.stop();
  await llm?.close();
  tmp?.cleanup();
});

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

/** `/api/sources/:id/items` -> `/api/sources/{id}/items` */
const toOpenApi = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** The routes the app really registers (handlers, not middleware): method + OpenAPI path. */
function registeredRoutes(): string[] {
  const routes = server.app.routes
    .filter((r) => r.path.startsWith('/api/') && !r.path.includes('*') && r.method !== 'ALL')
    .map((r) => `${r.method.toLowerCase()} ${toOpenApi(r.path)}`);
  return [...new Set(routes)].sort();
}

function documentedOperations(): Array<{ method: string; path: string; op: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ method, path, op })),
  );
}

const documentedRoutes = () =>
  documentedOperations()
    .map(({ method, path }) => `${method} ${path}`)
    .sort();

function collectRefs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) collectRefs(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else collectRefs(v, out);
    }
  }
  return out;
}

/** A value for a path parameter that passes its documented pattern (so the request reaches the handler). */
function sampleParameter(param: Parameter): string {
  const pattern = param.schema?.pattern;
  for (const candidate of ['c'.repeat(16), 'b'.repeat(24), 'abcdef']) {
    if (!pattern || new RegExp(pattern).test(candidate)) return candidate;
  }
  throw new Error(`no sample for ${param.name} matching ${pattern}`);
}

/** Expect a response to be one the document lists for the operation, with a documented content type. */
function expectDocumented(op: Operation, res: globalThis.Response, what: string): void {
  const documented = op.responses[String(res.status)];
  expect(documented, `${what} -> ${res.status}`).toBeDefined();
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!;
  if (documented?.content) expect(Object.keys(documented.content), what).toContain(type);
}

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and documents exactly the routes the app registers', () => {
    expect(doc.openapi).toBe('3.1.0');
    const registered = registeredRoutes();
    expect(registered.length).toBeGreaterThan(10);
    expect(documentedRoutes()).toEqual(registered);
  });

  it('is well formed: every operation has responses, path parameters are declared, refs resolve', () => {
    for (const { method, path, op } of documentedOperations()) {
      const params = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(0);
      for (const code of Object.keys(op.responses)) expect(code).toMatch(/^[1-5]\d\d$/);
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      expect(declared.sort(), `${method} ${path}`).toEqual([...params].sort());
    }
    for (const ref of collectRefs(doc)) {
      const name = ref.replace('#/components/schemas/', '');
      expect(doc.components.schemas[name], ref).toBeDefined();
    }
  });

  it('names and describes every operation, and every error response is the Error body', () => {
    const ids = new Set<string>();
    for (const { method, path, op } of documentedOperations()) {
      const what = `${method} ${path}`;
      expect(op.operationId, what).toMatch(/^[a-z][A-Za-z]+$/);
      expect(ids.has(op.operationId!), `${what}: operationId ${op.operationId} twice`).toBe(false);
      ids.add(op.operationId!);
      expect(op.summary, what).toBeTruthy();
      expect(op.tags?.length, what).toBeGreaterThan(0);
      for (const [code, response] of Object.entries(op.responses)) {
        if (Number(code) < 400) continue;
        expect(response.content?.['application/json']?.schema, `${what} ${code}`).toEqual({
          $ref: '#/components/schemas/Error',
        });
      }
      if (path !== '/api/health') expect(op.responses['401'], `${what} needs a token`).toBeDefined();
    }
  });

  it('every documented operation is served: a request reaches its handler with a documented status', async () => {
    for (const { method, path, op } of documentedOperations()) {
      const url = path.replace(/\{([^}]+)\}/g, (_, name: string) =>
        sampleParameter(op.parameters!.find((p) => p.name === name)!),
      );
      const init: RequestInit =
        method === 'get'
          ? {}
          : { method: method.toUpperCase(), headers: { 'content-type': 'application/json' }, body: '{}' };
      const res = await fetch(`${server.url}${url}`, init);
      const body = await res.text();
      expect(body, `${method} ${url}`).not.toContain('No API route');
      expectDocumented(op, res, `${method} ${url}`);
    }
  });

  it('responses match the documented status codes and content types', async () => {
    const calls: Array<[string, string, string, RequestInit?]> = [
      ['get', '/api/health', '/api/health'],
      ['get', '/api/config', '/api/config'],
      ['get', '/api/stats', '/api/stats'],
      ['get', '/api/sources', '/api/sources'],
      ['get', '/api/jobs', '/api/jobs'],
      ['get', '/api/search', '/api/search?q=a%20red%20circle'],
      ['get', '/api/search', '/api/search'],
      ['get', '/api/search', '/api/search?q=a&textK=many'],
      ['get', '/api/jobs/{id}', '/api/jobs/abcdef'],
      ['get', '/api/jobs/{id}/events', '/api/jobs/abcdef/events'],
      ['get', '/api/items/{id}', '/api/items/zz'],
      ['get', '/api/media/{id}', `/api/media/${'b'.repeat(24)}`],
      ['get', '/api/sources/{id}/items', '/api/sources/zz/items'],
      ['delete', '/api/sources/{id}', `/api/sources/${'c'.repeat(16)}`, { method: 'DELETE' }],
      [
        'post',
        '/api/ingest',
        '/api/ingest',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"urls":["https://a.example"]}',
        },
      ],
      ['post', '/api/ingest', '/api/ingest', { method: 'POST', body: new FormData() }],
      [
        'post',
        '/api/ask',
        '/api/ask',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"question":"a red circle"}',
        },
      ],
      [
        'post',
        '/api/ask',
        '/api/ask',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
      ],
      [
        'post',
        '/api/search',
        '/api/search',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"q": 1}' },
      ],
    ];
    for (const [method, path, url, init] of calls) {
      const res = await fetch(`${server.url}${url}`, init);
      expectDocumented(doc.paths[path]![method]!, res, `${method} ${url}`);
      await res.arrayBuffer();
    }
  });

  it('what the server sends parses with the contract the document is generated from', async () => {
    // Parsing drops fields a schema does not list: equal to what was sent means every field is documented.
    const conforms = <S extends z.ZodType>(schema: S, sent: unknown, what: string): z.output<S> => {
      const parsed = schema.parse(sent, { reportInput: true });
      expect(parsed, what).toEqual(sent);
      return parsed;
    };
    const site = join(tmp.dir, 'site');
    await writeShapesPage(site);
    const form = folderForm(site, tmp.dir);
    form.append('files', new Blob([new Uint8Array(await drawShape('yellow', 'square'))]), 'yellow.png');
    const accepted = await fetch(`${server.url}/api/ingest`, { method: 'POST', body: form });
    const { id } = ingestAcceptedSchema.parse(await accepted.json());
    const { events } = await waitForJob(server.url, id);
    expect(events.length).toBeGreaterThan(2);
    for (const e of events) conforms(jobEventSchema, { event: e.event, data: JSON.parse(e.data) }, e.event);

    const getJson = async <S extends z.ZodType>(schema: S, path: string, init?: RequestInit) => {
      const res = await fetch(`${server.url}${path}`, init);
      expect(res.status, path).toBe(200);
      return conforms(schema, await res.json(), path);
    };
    expect((await getJson(jobsSchema, '/api/jobs')).jobs[0]!.id).toBe(id);
    await getJson(jobSchema, `/api/jobs/${id}`);
    await getJson(serverConfigSchema, '/api/config');
    await getJson(statsSchema, '/api/stats');
    const { sources } = await getJson(sourcesSchema, '/api/sources');
    expect(sources.length).toBe(2);
    for (const source of sources) {
      const { items } = await getJson(sourceItemsSchema, `/api/sources/${source.id}/items`);
      await getJson(itemSchema, `/api/items/${items[0]!.id}`);
    }
    const found = await getJson(searchResultSchema, '/api/search?q=a%20red%20circle&level=3');
    expect(found.images.length).toBeGreaterThan(0);
    const picture = new FormData();
    picture.append('image', new Blob([new Uint8Array(await drawShape('red', 'circle'))]), 'q.png');
    await getJson(searchResultSchema, '/api/search', { method: 'POST', body: picture });

    const question = JSON.stringify({ question: 'Which shape marks the fuel dock?' });
    const asked = await getJson(askResultSchema, '/api/ask', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: question,
    });
    expect(asked.sources.length).toBeGreaterThan(0);
    const stream = await fetch(`${server.url}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: question,
    });
    const answer = await readSse(stream);
    expect(answer.map((e) => e.event)).toContain('token');
    expect(answer.map((e) => e.event)).toContain('prompt');
    for (const e of answer) {
      conforms(
        askEventSchema,
        { event: e.event, data: e.event === 'token' ? e.data : JSON.parse(e.data) },
        e.event,
      );
    }
    // The document lists exactly the events the contract knows.
    const eventsOf = (name: string) =>
      doc.components.schemas[name]!.oneOf!.flatMap((o) => o.properties.event.enum).sort();
    expect(eventsOf('AskEvent')).toEqual(['done', 'error', 'prompt', 'sources', 'token']);
    expect(eventsOf('JobEvent')).toEqual(['done', 'file', 'job']);
  });
});
