import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { createMcpHttpHandler } from '../../src/mcp/http.js';
import { drawShape, FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { callTool, textOf, writeCorpus } from './helpers.js';
import { type McpTestContext, toolSuite } from './suite.js';

const TOKEN = 'correct-horse-battery-staple';

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
let kb: KnowledgeBase;
let server: ServerType;
let url: string;
let client: Client;

const corpusDir = () => join(tmp.dir, 'corpus');

async function connect(
  headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
): Promise<Client> {
  const next = new Client({ name: 'mmrag-test', version: '1.0.0' });
  await next.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return next;
}

beforeAll(async () => {
  tmp = tempDir('mmrag-mcp-http-');
  await writeCorpus(corpusDir());
  llm = await startLoopbackLlm();
  kb = await openKnowledgeBase({
    kb: join(tmp.dir, 'kb'),
    embed: { model: FIXTURE_MODEL },
    llm: { provider: 'ollama', url: llm.url },
    ingest: { ocr: false },
    mcp: { ingestRoots: [corpusDir()] },
  });
  const handler = createMcpHttpHandler(kb, { token: TOKEN });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  client = await connect();
  // A relative path is taken inside the ingest root.
  const ingested = await callTool(client, 'ingest', { paths: ['docs'] });
  expect(ingested.structuredContent).toMatchObject({ ingested: 1, textItems: 4, imageItems: 3 });
});

afterAll(async () => {
  await client?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await kb?.close();
  await llm?.close();
  tmp?.cleanup();
});

describe('MCP over streamable HTTP, through the SDK client', () => {
  toolSuite((): McpTestContext => ({ client, corpusDir: corpusDir(), llm }));

  it('refuses a request without the token, or with a wrong one: 401 with WWW-Authenticate', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${TOKEN}`]) {
      const response = await fetch(url, {
        method: 'POST',
        body,
        headers: authorization ? { ...headers, authorization } : headers,
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await response.json()) as { error: { hint: string } }).error.hint).toContain(
        'Authorization: Bearer',
      );
    }
    await expect(connect({})).rejects.toThrow();
    const ok = await fetch(url, {
      method: 'POST',
      body,
      headers: { ...headers, authorization: `Bearer ${TOKEN}` },
    });
    expect(ok.status).toBe(200);
  });

  it('is stateless: no session id, GET and DELETE are 405', async () => {
    const response = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${TOKEN}`,
      },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBeNull();
    await response.text();
    for (const method of ['GET', 'DELETE']) {
      const other = await fetch(url, {
        method,
        headers: { accept: 'text/event-stream', authorization: `Bearer ${TOKEN}` },
      });
      expect(other.status).toBe(405);
      expect(other.headers.get('allow')).toBe('POST');
    }
  });

  it('refuses browser pages from other origins', async () => {
    const response = await fetch(url, {
      method: 'POST',
      body: '{}',
      headers: {
        'content-type': 'application/json',
        origin: 'https://evil.example',
        authorization: `Bearer ${TOKEN}`,
      },
    });
    expect(response.status).toBe(403);
  });

  it('never reads a path of the server for a query picture', async () => {
    const path = join(tmp.dir, 'query.png');
    writeFileSync(path, await drawShape('red', 'circle'));
    const result = await callTool(client, 'search', { image: path });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('Over HTTP, image must be a base64 data URL');
  });

  it('ingests local paths only inside mcp.ingestRoots', async () => {
    const outside = join(tmp.dir, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'secret.png'), await drawShape('purple', 'square'));
    symlinkSync(outside, join(corpusDir(), 'escape'));
    const result = await callTool(client, 'ingest', {
      paths: [
        join(outside, 'secret.png'),
        '/etc/passwd',
        '../outside/secret.png',
        'escape/secret.png',
        'file:///etc/passwd',
      ],
    });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ files: 5, failed: 5, ingested: 0 });
    const reasons = (result.structuredContent as { outcomes: Array<{ reason: string }> }).outcomes.map(
      (o) => o.reason,
    );
    for (const reason of reasons) {
      expect(reason).toMatch(/^refused: /);
      expect(reason).toContain('mcp.ingestRoots');
    }
    expect(reasons[3]).toContain('symbolic link');
    const sources = await callTool(client, 'list_sources', {});
    expect(textOf(sources)).not.toContain('secret.png');
  });
});

describe('MCP over HTTP without ingest roots', () => {
  it('takes URLs only, and says how to allow local paths', async () => {
    const handler = createMcpHttpHandler(kb, { ingestRoots: [] });
    const other = serve({ fetch: handler, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => other.once('listening', resolve));
    const local = new Client({ name: 'mmrag-test', version: '1.0.0' });
    await local.connect(
      new StreamableHTTPClientTransport(
        new URL(`http://127.0.0.1:${(other.address() as AddressInfo).port}/mcp`),
      ),
    );
    try {
      const result = await callTool(local, 'ingest', { paths: [join(corpusDir(), 'docs')] });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain(
        'this server ingests only http(s) URLs for remote clients (local paths need mcp.ingestRoots',
      );
      // A loopback URL is refused by the private-network rule, not read.
      const page = await callTool(local, 'ingest', { paths: ['http://127.0.0.1:9/page.html'] });
      expect(page.isError).toBe(true);
      expect(textOf(page)).toMatch(/private|loopback/i);
    } finally {
      await local.close();
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });
});
