import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';

let tmp: ReturnType<typeof tempDir>;
let server: KnowledgeBase;
let cli: KnowledgeBase;

beforeAll(async () => {
  tmp = tempDir('mmrag-shared-');
  mkdirSync(join(tmp.dir, 'a'));
  mkdirSync(join(tmp.dir, 'b'));
  writeFileSync(
    join(tmp.dir, 'a', 'notes.html'),
    '<html><head><title>Notes</title></head><body><p>The Quillback ferry leaves the north pier at seven every morning.</p></body></html>',
  );
  await writeShapesPage(join(tmp.dir, 'b'));
  const open = () => openKnowledgeBase({ kb: join(tmp.dir, 'kb'), embed: { model: FIXTURE_MODEL } });
  server = await open();
  cli = await open();
});

afterAll(async () => {
  await server?.close();
  await cli?.close();
  tmp?.cleanup();
});

describe('two handles on one knowledge base (a server and a CLI)', () => {
  it("each sees the other's writes, and a delete never drops what the other committed", async () => {
    await server.ingest([join(tmp.dir, 'a')]);
    await cli.ingest([join(tmp.dir, 'b')]);
    // The long-lived handle lists and finds what the other one wrote.
    expect((await server.sources()).map((s) => s.type)).toHaveLength(2);
    const found = await server.search('a red circle');
    expect(found.images[0]?.source).toBe(join(tmp.dir, 'b', 'shapes.html'));
    // Deleting through the first handle keeps the second's source.
    await server.delete(join(tmp.dir, 'a', 'notes.html'));
    expect((await cli.sources()).map((s) => s.source)).toEqual([join(tmp.dir, 'b', 'shapes.html')]);
    const reopened = await openKnowledgeBase({ kb: join(tmp.dir, 'kb') });
    expect((await reopened.sources()).map((s) => s.source)).toEqual([join(tmp.dir, 'b', 'shapes.html')]);
    expect((await reopened.items(join(tmp.dir, 'b', 'shapes.html'))).length).toBe(7);
    await reopened.close();
  });

  it('refuses a second writer in the same process instead of sharing the lock', async () => {
    const first = server.ingest([join(tmp.dir, 'a')]);
    await expect(cli.ingest([join(tmp.dir, 'b')])).rejects.toMatchObject({ code: 'kb_locked' });
    await first;
    // The lock is released: a later write goes through.
    expect((await cli.ingest([join(tmp.dir, 'b')])).unchanged).toBe(1);
  });
});
