import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { folderForm, readSse, startTestServer, type TestServer, waitForJob } from './helpers.js';

describe('POST /api/ask and the answerability gate', () => {
  let tmp: ReturnType<typeof tempDir>;
  let llm: LoopbackLlm;
  let server: TestServer;

  beforeAll(async () => {
    tmp = tempDir('mmrag-api-gate-');
    await writeShapesPage(join(tmp.dir, 'site'));
    llm = await startLoopbackLlm({ reply: 'The red circle marks the fuel dock [1].' });
    server = await startTestServer(join(tmp.dir, 'kb'), { provider: 'ollama', url: llm.url });
    const res = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      body: folderForm(join(tmp.dir, 'site'), tmp.dir),
    });
    await waitForJob(server.url, ((await res.json()) as { id: string }).id);
  });

  afterAll(async () => {
    await server?.stop();
    await llm?.close();
    tmp?.cleanup();
  });

  const ask = (body: Record<string, unknown>, stream = false) =>
    fetch(`${server.url}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(stream ? { accept: 'text/event-stream' } : {}) },
      body: JSON.stringify(body),
    });

  it('says the documents do not answer, without asking the model, in JSON and in the stream', async () => {
    const before = llm.chatRequests().length;
    const json = (await (
      await ask({ question: 'How do I reset the password of my email account?' })
    ).json()) as {
      answerable: boolean;
      answer: string;
      sources: unknown[];
      answerability: { because: string[] };
    };
    expect(json).toMatchObject({ answerable: false, answerability: { because: [] } });
    expect(json.sources.length).toBeGreaterThan(0);
    const events = await readSse(
      await ask({ question: 'How do I reset the password of my email account?' }, true),
    );
    const done = JSON.parse(events.find((e) => e.event === 'done')!.data) as {
      answerable: boolean;
      answer: string;
    };
    expect(done).toMatchObject({ answerable: false, answer: json.answer });
    expect(llm.chatRequests().length).toBe(before);
  });

  it('answers what the documents hold, and gate: false lets any question through', async () => {
    const answered = (await (await ask({ question: 'What does the red circle mark?' })).json()) as {
      answerable: boolean;
      answer: string;
    };
    expect(answered).toMatchObject({ answerable: true, answer: expect.stringContaining('fuel dock') });
    const forced = (await (await ask({ question: 'How do I reset my password?', gate: false })).json()) as {
      answerable: boolean;
      model: string;
    };
    expect(forced).toMatchObject({ answerable: true, model: 'ollama/llama3.2-vision' });
  });
});
