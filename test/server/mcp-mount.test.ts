import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { folderForm, startTestServer, type TestServer, waitForJob } from './helpers.js';

// `mmrag serve` serves MCP at /mcp beside the API, behind the same token.
describe('MCP at /mcp of mmrag serve', () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: TestServer;
  const token = 'mcp-mount-token';
  const auth = { authorization: `Bearer ${token}` };

  beforeAll(async () => {
    tmp = tempDir('mmrag-mcp-mount-');
    await writeShapesPage(join(tmp.dir, 'site'));
    server = await startTestServer(join(tmp.dir, 'kb'), { provider: 'none' }, { token });
    const res = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: auth,
      body: folderForm(join(tmp.dir, 'site'), tmp.dir),
    });
    await waitForJob(server.url, ((await res.json()) as { id: string }).id, auth);
  });

  afterAll(async () => {
    await server?.stop();
    tmp?.cleanup();
  });

  it('refuses a client without the token', async () => {
    const res = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
  });

  it('lists the tools and searches the same knowledge base as the API', async () => {
    const client = new Client({ name: 'mmrag-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: auth } }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(
        ['ask', 'delete_source', 'get_item', 'ingest', 'list_sources', 'search'].sort(),
      );
      const result = (await client.callTool({ name: 'search', arguments: { query: 'a red circle' } })) as {
        content: Array<{ type: string }>;
      };
      expect(result.content.some((c) => c.type === 'image')).toBe(true);
    } finally {
      await client.close();
    }
  });
});
