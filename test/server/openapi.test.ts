import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';

type Operation = { responses: Record<string, unknown>; parameters?: Array<{ name: string; in: string }> };
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

let tmp: ReturnType<typeof tempDir>;
let server: TestServer;
let doc: Doc;

beforeAll(async () => {
  tmp = tempDir('mmrag-openapi-');
  server = await startTestServer(join(tmp.dir, 'kb'), { provider: 'none' });
  doc = (await (await fetch(`${server.url}/api/openapi.json`)).json()) as Doc;
});

afterAll(async () => {
  await server?.stop();
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

function documentedRoutes(): string[] {
  return Object.entries(doc.paths)
    .flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((m) => METHODS.includes(m))
        .map((m) => `${m} ${path}`),
    )
    .sort();
}

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

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and documents exactly the routes the app registers', () => {
    expect(doc.openapi).toBe('3.1.0');
    const registered = registeredRoutes();
    expect(registered.length).toBeGreaterThan(10);
    expect(documentedRoutes()).toEqual(registered);
  });

  it('is well formed: every operation has responses, path parameters are declared, refs resolve', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      const params = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(ops)) {
        expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(0);
        for (const code of Object.keys(op.responses)) expect(code).toMatch(/^[1-5]\d\d$/);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared.sort(), `${method} ${path}`).toEqual([...params].sort());
      }
    }
    for (const ref of collectRefs(doc)) {
      const name = ref.replace('#/components/schemas/', '');
      expect(doc.components.schemas[name], ref).toBeDefined();
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
      ['get', '/api/jobs/{id}', '/api/jobs/abcdef'],
      ['get', '/api/items/{id}', '/api/items/zz'],
      ['get', '/api/media/{id}', `/api/media/${'b'.repeat(24)}`],
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
    ];
    for (const [method, path, url, init] of calls) {
      const res = await fetch(`${server.url}${url}`, init);
      const op = doc.paths[path]![method]!;
      const documented = op.responses[String(res.status)] as
        | { content?: Record<string, unknown> }
        | undefined;
      expect(documented, `${method} ${url} -> ${res.status}`).toBeDefined();
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!;
      if (documented?.content) expect(Object.keys(documented.content), `${method} ${url}`).toContain(type);
      await res.arrayBuffer();
    }
  });
});
