/**
 * API keys given through the environment never show: not in CLI output (plain or JSON), not in `mmrag serve`'s
 * logs, not in /api/config, not in API errors, not in per-file ingest reasons. The servers here answer 401 and
 * echo the key they were sent, as some real servers do, so a key that is passed on unscrubbed would appear.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKnowledgeBase } from '../../src/kb.js';
import { startServer } from '../../src/server/server.js';
import { FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { makeToneWav } from '../helpers/make-media.js';
import {
  cliEnv,
  collect,
  ensureBuiltCli,
  type RecordingServer,
  runCli,
  spawnCli,
  startRecordingServer,
} from '../helpers/robustness.js';

const SECRET = 'sk-secret-robustness-4f9c2b7e1a0d8e6f';
const OTHER_SECRET = 'sk-transcribe-secret-77aa11bb22cc33dd';

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
let echo: RecordingServer;

beforeAll(async () => {
  await ensureBuiltCli();
  tmp = tempDir('mmrag-secrets-');
  await writeShapesPage(join(tmp.dir, 'site'));
  // Wants another key: answers 401 "Incorrect API key provided: <the key it got>".
  llm = await startLoopbackLlm({ apiKey: 'the-right-key' });
  // A transcription server that answers 401 echoing the Authorization header it got.
  echo = await startRecordingServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Invalid authorization: ${req.headers.authorization}` } }));
    });
  });
  const kbDir = join(tmp.dir, 'kb');
  const run = await runCli(['ingest', join(tmp.dir, 'site'), '--kb', kbDir], tmp.dir);
  expect(run.code, run.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await llm?.close();
  await echo?.close();
  tmp?.cleanup();
});

const openAiEnv = (extra: Record<string, string> = {}) =>
  cliEnv({ MMRAG_LLM: 'openai', MMRAG_LLM_URL: `${llm.url}/v1`, MMRAG_LLM_MODEL: 'gpt-test', ...extra });

describe('the CLI', () => {
  it('the loopback server really echoes the key it gets (so the checks below can fail)', async () => {
    const res = await fetch(`${llm.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain(SECRET);
  });

  for (const [variable, flags] of [
    ['MMRAG_LLM_API_KEY', []],
    ['MMRAG_LLM_API_KEY', ['--json']],
    ['OPENAI_API_KEY', []],
  ] as const) {
    it(`ask with ${variable}${flags.length ? ` ${flags.join(' ')}` : ''}: the 401 is reported, the key never shown`, async () => {
      const run = await runCli(
        ['ask', 'What marks the fuel dock?', '--kb', join(tmp.dir, 'kb'), ...flags],
        tmp.dir,
        openAiEnv({ [variable]: SECRET }),
      );
      const output = run.stdout + run.stderr;
      expect(llm.chatRequests().at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(output).toMatch(/401|API key|unauthori[sz]ed|Incorrect/i);
      expect(output).not.toContain(SECRET);
      expect(output).not.toContain(SECRET.slice(3, 20));
    });
  }

  it('ingest with a remote transcriber that echoes the key: the file fails with a reason, the key never shown', async () => {
    const audio = join(tmp.dir, 'audio');
    mkdirSync(audio);
    await makeToneWav(join(audio, 'tone.wav'));
    for (const flags of [[], ['--json']]) {
      const run = await runCli(
        ['ingest', audio, '--kb', join(tmp.dir, 'kb-audio'), ...flags],
        tmp.dir,
        cliEnv({
          MMRAG_TRANSCRIBE: 'openai',
          MMRAG_TRANSCRIBE_URL: `${echo.url}/v1`,
          MMRAG_TRANSCRIBE_API_KEY: OTHER_SECRET,
        }),
      );
      expect(echo.requests.at(-1)?.headers.authorization).toBe(`Bearer ${OTHER_SECRET}`);
      const output = run.stdout + run.stderr;
      expect(run.code).toBe(1);
      expect(output).toContain('401');
      expect(output).not.toContain(OTHER_SECRET);
    }
  });
});

describe('the server', () => {
  it('/api/config and API errors never carry the key; neither do `mmrag serve` logs', async () => {
    const child = spawnCli(
      ['serve', '--kb', join(tmp.dir, 'kb'), '--port', '0'],
      tmp.dir,
      openAiEnv({
        MMRAG_LLM_API_KEY: SECRET,
        MMRAG_RERANK_API_KEY: SECRET,
        MMRAG_TRANSCRIBE_API_KEY: OTHER_SECRET,
      }),
    );
    const logs = collect(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    while (!/http:\/\/\S+:\d+/.test(out)) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${(await logs).stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const base = /(http:\/\/\S+:\d+)/.exec(out)![1]!;
    try {
      const config = await (await fetch(`${base}/api/config`)).text();
      expect(config).toContain('"apiKey":"***"');
      expect(config).not.toContain(SECRET);
      expect(config).not.toContain(OTHER_SECRET);
      const plain = await (
        await fetch(`${base}/api/ask`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ question: 'What marks the fuel dock?' }),
        })
      ).text();
      expect(llm.chatRequests().at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(plain).toMatch(/401|API key|Incorrect/i);
      expect(plain).not.toContain(SECRET);
      const streamed = await (
        await fetch(`${base}/api/ask`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ question: 'What marks the fuel dock?' }),
        })
      ).text();
      expect(streamed).toContain('event: done');
      expect(streamed).not.toContain(SECRET);
    } finally {
      child.kill('SIGTERM');
      const { stdout, stderr } = await logs;
      expect(stdout + stderr).not.toContain(SECRET);
      expect(stdout + stderr).not.toContain(OTHER_SECRET);
    }
  });

  it('a knowledge base opened with a key in its config: the library server redacts it too', async () => {
    const kb = await openKnowledgeBase({
      kb: join(tmp.dir, 'kb'),
      embed: { model: FIXTURE_MODEL },
      llm: { provider: 'openai', url: `${llm.url}/v1`, model: 'gpt-test', apiKey: SECRET },
      transcribe: { provider: 'openai', apiKey: OTHER_SECRET },
      search: { rerank: { apiKey: SECRET } },
    });
    const server = await startServer(kb, { port: 0 });
    try {
      const config = await (await fetch(`${server.url}/api/config`)).text();
      expect(config).not.toContain(SECRET);
      expect(config).not.toContain(OTHER_SECRET);
      const jobs = await (await fetch(`${server.url}/api/jobs`)).text();
      expect(jobs).not.toContain(SECRET);
    } finally {
      await server.close();
      await kb.close();
    }
  });
});
