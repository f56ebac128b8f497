import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_IN_DOCUMENTS } from '../../src/generate/answer.js';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';

describe('"not in your documents"', () => {
  let tmp: ReturnType<typeof tempDir>;
  let llm: LoopbackLlm;
  let kb: KnowledgeBase;

  beforeAll(async () => {
    tmp = tempDir();
    await writeShapesPage(
      join(tmp.dir, 'site'),
      'The quartermaster keeps the zanzibarian ledger in the tower.',
    );
    llm = await startLoopbackLlm({ reply: 'The red circle marks the fuel dock [1].' });
    kb = await openKnowledgeBase({
      kb: join(tmp.dir, 'kb'),
      embed: { model: FIXTURE_MODEL },
      ingest: { ocr: false },
      llm: { provider: 'ollama', url: llm.url },
    });
    await kb.ingest([join(tmp.dir, 'site')]);
  });

  afterAll(async () => {
    await kb?.close();
    await llm?.close();
    tmp?.cleanup();
  });

  it('a question the documents do not answer never reaches the model, and shows the closest sources', async () => {
    const before = llm.chatRequests().length;
    const result = await kb.ask('How do I reset the password of my email account?');
    expect(result.answerable).toBe(false);
    expect(result.answer).toBe(NOT_IN_DOCUMENTS);
    expect(result.model).toBeNull();
    expect(result.error).toBeUndefined();
    expect(result.sources.length).toBeGreaterThan(0);
    expect(result.answerability?.because).toEqual([]);
    expect(llm.chatRequests().length).toBe(before);
  });

  it('a question they answer goes to the model with its pictures, and says why it was let through', async () => {
    const result = await kb.ask('What does the red circle mark?');
    expect(result.answerable).toBe(true);
    expect(result.answerability?.because.length).toBeGreaterThan(0);
    expect(result.answer).toContain('fuel dock');
    const body = llm.chatRequests().at(-1)!.body as { messages: Array<{ images?: string[] }> };
    expect(body.messages.at(-1)!.images?.length).toBeGreaterThan(0);
  });

  it('a rare word only one document holds is evidence enough', async () => {
    const result = await kb.ask('zanzibarian ledger');
    expect(result.answerable).toBe(true);
    expect(result.answerability?.because).toContain('text.bm25');
  });

  it('--no-gate asks the model whatever was found', async () => {
    const before = llm.chatRequests().length;
    const result = await kb.ask('How do I reset the password of my email account?', { gate: false });
    expect(result.answerable).toBe(true);
    expect(result.answerability).toBeUndefined();
    expect(llm.chatRequests().length).toBe(before + 1);
  });

  it('calibrates once per version of the corpus, and again after it changes', async () => {
    const file = join(tmp.dir, 'kb', 'gate.json');
    const stamp = statSync(file).mtimeMs;
    await kb.ask('Who wrote the symphony?');
    expect(statSync(file).mtimeMs).toBe(stamp);
    writeFileSync(
      join(tmp.dir, 'site', 'more.txt'),
      'A purple ring marks the harbour master office by the quay.\n',
    );
    await kb.ingest([join(tmp.dir, 'site')]);
    await kb.ask('Who wrote the symphony?');
    const stored = JSON.parse((await kb.store.readText('gate.json'))!) as { floors: Record<string, unknown> };
    expect(Object.keys(stored.floors).length).toBe(2);
  });
});
