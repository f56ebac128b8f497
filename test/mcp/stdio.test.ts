import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawShape, FIXTURE_MODEL, ROOT, tempDir } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { callTool, cleanEnv, textOf, writeCorpus } from './helpers.js';
import { type McpTestContext, toolSuite } from './suite.js';

const CLI = join(ROOT, 'bin', 'mmrag.js');

function serverArgs(kbDir: string, llmUrl: string | undefined): string[] {
  const llmFlags = llmUrl ? ['--llm', 'ollama', '--llm-url', llmUrl] : ['--llm', 'none'];
  return [CLI, 'mcp', '--kb', kbDir, '--embed-model', FIXTURE_MODEL, ...llmFlags];
}

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;

beforeAll(async () => {
  tmp = tempDir('mmrag-mcp-stdio-');
  await writeCorpus(join(tmp.dir, 'corpus'));
  llm = await startLoopbackLlm();
});

afterAll(async () => {
  await llm?.close();
  tmp?.cleanup();
});

describe('mmrag mcp over stdio, through the SDK client', () => {
  let client: Client;
  let transport: StdioClientTransport;
  let stderr = '';
  const corpusDir = () => join(tmp.dir, 'corpus');

  beforeAll(async () => {
    transport = new StdioClientTransport({
      command: process.execPath,
      args: serverArgs(join(tmp.dir, 'kb'), llm.url),
      cwd: tmp.dir,
      env: cleanEnv(),
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    client = new Client({ name: 'mmrag-test', version: '1.0.0' });
    await client.connect(transport);
    const ingested = await callTool(client, 'ingest', { paths: [join(corpusDir(), 'docs')] });
    expect(ingested.structuredContent).toMatchObject({ ingested: 1, textItems: 4, imageItems: 3 });
  });

  afterAll(async () => {
    await client?.close();
  });

  toolSuite((): McpTestContext => ({ client, corpusDir: corpusDir(), llm }));

  it('searches by a picture given as a path on this machine', async () => {
    const path = join(tmp.dir, 'query-triangle.png');
    writeFileSync(path, await drawShape('green', 'triangle'));
    const result = await callTool(client, 'search', { image: path, k: 1 });
    expect(result.isError, textOf(result)).toBeFalsy();
    const images = (result.structuredContent as { images: Array<{ caption: string; section: string }> })
      .images;
    expect(images[0]!.section).toBe('Triangles');
  });

  it('ask without a reachable model says so plainly and still lists the sources', async () => {
    // A second server over the same knowledge base, with answering turned off.
    const quiet = new Client({ name: 'mmrag-test', version: '1.0.0' });
    await quiet.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: serverArgs(join(tmp.dir, 'kb'), undefined),
        cwd: tmp.dir,
        env: cleanEnv(),
        stderr: 'pipe',
      }),
    );
    try {
      const result = await callTool(quiet, 'ask', { question: 'a red circle' });
      expect(result.isError, textOf(result)).toBeFalsy();
      const text = textOf(result);
      expect(text).toContain('No language model answered');
      expect(text).toContain('Retrieved sources:');
      expect(text).toContain('[1] Shapes of the harbour');
      expect(text).toContain('Retrieved picture:');
      const structured = result.structuredContent as {
        answer: null;
        picturesShown: string[];
        error: { code: string };
      };
      expect(structured.answer).toBeNull();
      expect(structured.picturesShown).toEqual([]);
      expect(structured.error.code).toBe('llm_none');
    } finally {
      await quiet.close();
    }
  });

  it('logs to stderr', () => {
    expect(stderr).toContain('mmrag mcp: serving');
    expect(stderr).toMatch(/mmrag mcp: ingest 1\/1 .*shapes\.html: ingested/);
  });
});

/** One line of stdout from the server, parsed: every line must be a JSON-RPC message. */
interface Line {
  raw: string;
  message?: { id?: number; result?: unknown; method?: string; params?: Record<string, unknown> };
  valid: boolean;
}

describe('mmrag mcp stdout', () => {
  it('carries nothing but JSON-RPC messages, one per line', async () => {
    const child = spawn(process.execPath, serverArgs(join(tmp.dir, 'kb-raw'), llm.url), {
      cwd: tmp.dir,
      env: cleanEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const lines: Line[] = [];
    const waiting = new Map<number, (line: Line) => void>();
    createInterface({ input: child.stdout }).on('line', (raw) => {
      let line: Line = { raw, valid: false };
      try {
        const parsed = JSONRPCMessageSchema.safeParse(JSON.parse(raw));
        line = { raw, valid: parsed.success, message: JSON.parse(raw) };
      } catch {
        // not JSON: recorded as invalid
      }
      lines.push(line);
      const id = line.message?.id;
      if (typeof id === 'number' && line.message?.method === undefined) waiting.get(id)?.(line);
    });
    let nextId = 1;
    const send = (message: object) =>
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
    const request = (method: string, params: object) =>
      new Promise<Line>((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        send({ id, method, params });
      });

    await request('initialize', {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'raw', version: '1' },
    });
    send({ method: 'notifications/initialized' });
    // Garbage on stdin must not break the session.
    child.stdin.write('this is not json\n');
    await request('tools/list', {});
    const ingest = await request('tools/call', {
      name: 'ingest',
      arguments: { paths: [join(tmp.dir, 'corpus', 'docs')] },
      _meta: { progressToken: 'p1' },
    });
    expect(JSON.stringify(ingest.message?.result)).toContain('"ingested":1');
    await request('tools/call', { name: 'search', arguments: { query: 'a red circle' } });
    await request('tools/call', { name: 'ask', arguments: { question: 'a blue square' } });
    await request('tools/call', { name: 'search', arguments: { k: 'many' } });
    child.stdin.end();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code).toBe(0);
    expect(lines.length).toBeGreaterThanOrEqual(7);
    expect(lines.filter((l) => !l.valid).map((l) => l.raw)).toEqual([]);
    expect(lines.some((l) => l.message?.method === 'notifications/progress')).toBe(true);
    expect(stderr).toContain('mmrag mcp: serving');
    expect(stderr).toContain('mmrag mcp: stopped');
  });

  it('sends what a library prints to stdout to stderr instead', async () => {
    const script = `
      import { claimStdoutForProtocol } from ${JSON.stringify(join(ROOT, 'dist', 'mcp', 'stdio.js'))};
      import { Worker } from 'node:worker_threads';
      const protocol = claimStdoutForProtocol();
      console.log('noise from console.log');
      process.stdout.write('noise from process.stdout\\n');
      const worker = new Worker("console.log('noise from a worker thread')", { eval: true });
      await new Promise((resolve) => worker.on('exit', resolve));
      protocol.write('{"jsonrpc":"2.0","method":"ping"}\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(0);
    expect(stdout).toBe('{"jsonrpc":"2.0","method":"ping"}\n');
    expect(stderr).toContain('noise from console.log');
    expect(stderr).toContain('noise from process.stdout');
    expect(stderr).toContain('noise from a worker thread');
  });
});
