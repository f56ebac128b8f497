/**
 * Readers and writers together: searches answer while an ingest writes (in the same process and from another
 * process), two writers on one knowledge base (one fails clearly with kb_locked, nothing is corrupted), and stores
 * from other versions (a newer schema is refused with a message, a missing version opens).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { drawShape, FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import {
  collect,
  ensureBuiltCli,
  type RecordingServer,
  runCli,
  spawnCli,
  startRecordingServer,
} from '../helpers/robustness.js';

let tmp: ReturnType<typeof tempDir>;

const open = (kb: string): Promise<KnowledgeBase> =>
  openKnowledgeBase({
    kb,
    embed: { model: FIXTURE_MODEL },
    ingest: { ocr: false },
    transcribe: { provider: 'none' },
    llm: { provider: 'none' },
  });

async function writeNotes(dir: string, count: number, topic: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    writeFileSync(
      join(dir, `${topic}-${i}.md`),
      `# ${topic} ${i}\n\nThe ${topic} note number ${i} says the harbour keeps mooring post ${i} painted with a red circle.\n\nA second paragraph for ${topic} ${i}: boats leave the quay at dawn and come back at dusk.\n`,
    );
    if (i % 4 === 0) writeFileSync(join(dir, `${topic}-${i}.png`), await drawShape('blue', 'square', 96));
  }
}

/** Search in a loop until `done` settles; returns how many searches answered (any error rejects). */
async function searchUntil(kb: KnowledgeBase, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  let answered = 0;
  const modes = ['hybrid', 'vector', 'bm25'] as const;
  while (!finished) {
    const result = await kb.search('a red circle on the quay', { mode: modes[answered % modes.length] });
    expect(Array.isArray(result.text)).toBe(true);
    answered++;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return answered;
}

beforeAll(async () => {
  await ensureBuiltCli();
  tmp = tempDir('mmrag-concurrency-');
  await writeNotes(join(tmp.dir, 'first'), 6, 'first');
  await writeNotes(join(tmp.dir, 'second'), 24, 'second');
}, 180_000);

afterAll(() => tmp?.cleanup());

describe('searches during writes', () => {
  it('in one process: searches on the writing instance and on a second instance keep answering', async () => {
    const dir = join(tmp.dir, 'kb-in-process');
    const writer = await open(dir);
    await writer.ingest([join(tmp.dir, 'first')]);
    const reader = await open(dir);
    try {
      const ingest = writer.ingest([join(tmp.dir, 'second')]);
      const [summary, onWriter, onReader] = await Promise.all([
        ingest,
        searchUntil(writer, ingest),
        searchUntil(reader, ingest),
      ]);
      expect(summary.failed).toBe(0);
      expect(summary.ingested).toBeGreaterThan(20);
      expect(onWriter).toBeGreaterThan(0);
      expect(onReader).toBeGreaterThan(0);
      expect((await writer.search('second note number 7', { mode: 'bm25' })).text.length).toBeGreaterThan(0);
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it('across processes: searches keep answering while `mmrag ingest` writes', async () => {
    const dir = join(tmp.dir, 'kb-cross-process');
    const reader = await open(dir);
    await reader.ingest([join(tmp.dir, 'first')]);
    try {
      const run = runCli(['ingest', join(tmp.dir, 'second'), '--kb', dir, '--json'], tmp.dir);
      const answered = await searchUntil(reader, run);
      const result = await run;
      expect(result.code, result.stderr).toBe(0);
      expect(answered).toBeGreaterThan(0);
    } finally {
      await reader.close();
    }
    const after = await open(dir);
    try {
      expect((await after.sources()).length).toBe(6 + 24 + 2 + 6);
    } finally {
      await after.close();
    }
  });

  // A reader keeps the registry and table snapshot it opened with (a consistent, older view) until it writes or
  // reopens; it must never lose a file another process re-ingested meanwhile.
  it('a reader sees a file another process re-ingested (old or new version, never neither)', async () => {
    const dir = join(tmp.dir, 'kb-stale-reader');
    const notes = join(tmp.dir, 'changing');
    mkdirSync(notes);
    const file = join(notes, 'timetable.md');
    writeFileSync(
      file,
      '# Timetable\n\nThe ferry named Albatross leaves the north pier at seven every morning.\n',
    );
    const reader = await open(dir);
    try {
      await reader.ingest([notes]);
      expect((await reader.search('Albatross', { mode: 'bm25' })).text.length).toBe(1);
      writeFileSync(
        file,
        '# Timetable\n\nThe ferry named Albatross now leaves the north pier at eight every morning.\n',
      );
      const run = await runCli(['ingest', notes, '--kb', dir, '--json'], tmp.dir);
      expect(run.code, run.stderr).toBe(0);
      expect((await reader.search('Albatross', { mode: 'bm25' })).text.length).toBe(1);
    } finally {
      await reader.close();
    }
  });
});

describe('two writers on one knowledge base', () => {
  let slow: RecordingServer;
  let release!: () => void;

  beforeAll(async () => {
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    slow = await startRecordingServer(async (_req, res) => {
      await released;
      res.setHeader('content-type', 'text/html');
      res.end(
        '<!doctype html><html><head><title>Slow page</title></head><body><h1>Slow page</h1><p>This page took its time to arrive, and it holds the write lock meanwhile.</p></body></html>',
      );
    });
  });

  afterAll(async () => {
    release?.();
    await slow?.close();
  });

  it('the second fails at once with kb_locked naming the first; the first completes; nothing is corrupted', async () => {
    const dir = join(tmp.dir, 'kb-two-writers');
    const cwd = join(tmp.dir, 'two-writers-cwd');
    mkdirSync(cwd);
    // Only this test's first writer may fetch from loopback: the page it waits for is on 127.0.0.1.
    writeFileSync(join(cwd, 'mmrag.config.json'), JSON.stringify({ ingest: { allowPrivateNetwork: true } }));
    const first = spawnCli(['ingest', `${slow.url}/slow.html`, '--kb', dir, '--json'], cwd);
    const firstRun = collect(first);
    // The first writer holds the lock while it waits for the page.
    const lock = join(dir, 'write.lock');
    for (let i = 0; i < 3000 && !(existsSync(lock) && slow.requests.length > 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect((JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid).toBe(first.pid);

    const second = await runCli(['ingest', join(tmp.dir, 'first'), '--kb', dir, '--json'], cwd);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(
      `Another mmrag process (pid ${first.pid}) is writing to this knowledge base.`,
    );
    expect(second.stderr).toMatch(/Wait for it to finish/);

    release();
    const done = await firstRun;
    expect(done.code, done.stderr).toBe(0);
    expect(existsSync(lock)).toBe(false);

    const kb = await open(dir);
    try {
      const sources = await kb.sources();
      expect(sources.map((s) => s.source)).toEqual([`${slow.url}/slow.html`]);
      expect((await kb.items(`${slow.url}/slow.html`)).length).toBe(sources[0]!.items);
    } finally {
      await kb.close();
    }
    // The second writer, run again, completes.
    const again = await runCli(['ingest', join(tmp.dir, 'first'), '--kb', dir, '--json'], cwd);
    expect(again.code, again.stderr).toBe(0);
  });

  it('in one process too: a second ingest while one holds the lock fails with kb_locked', async () => {
    const dir = join(tmp.dir, 'kb-lock-in-process');
    const kb = await open(dir);
    const cwd = join(tmp.dir, 'lock-cwd');
    mkdirSync(cwd);
    try {
      await kb.ingest([join(tmp.dir, 'first')]);
      writeFileSync(join(dir, 'write.lock'), String(process.ppid));
      const err = await kb.ingest([join(tmp.dir, 'second')]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MmragError);
      expect((err as MmragError).code).toBe('kb_locked');
      // A lock left by a dead process (a crash) is taken over.
      writeFileSync(join(dir, 'write.lock'), '999999999');
      expect((await kb.ingest([join(tmp.dir, 'first')])).unchanged).toBeGreaterThan(0);
    } finally {
      await kb.close();
    }
  });
});

describe('stores from other versions', () => {
  it('a knowledge base from a newer mmrag is refused with a message (library and CLI)', async () => {
    const dir = join(tmp.dir, 'kb-newer');
    const kb = await open(dir);
    await kb.ingest([join(tmp.dir, 'first')]);
    await kb.close();
    const meta = JSON.parse(readFileSync(join(dir, 'kb.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'kb.json'), JSON.stringify({ ...meta, schemaVersion: 99 }));
    const err = await open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmragError);
    expect((err as MmragError).code).toBe('kb_too_new');
    expect((err as MmragError).message).toContain(
      'was written by a newer mmrag (schema 99, this one reads 1)',
    );
    const cli = await runCli(['sources', '--kb', dir], tmp.dir);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain('newer mmrag');
    expect(cli.stderr).toContain('Upgrade mmrag');
  });

  it('a knowledge base written before schema versions existed opens and is searchable', async () => {
    const dir = join(tmp.dir, 'kb-unversioned');
    const kb = await open(dir);
    await kb.ingest([join(tmp.dir, 'first')]);
    await kb.close();
    const { schemaVersion: _dropped, ...meta } = JSON.parse(
      readFileSync(join(dir, 'kb.json'), 'utf8'),
    ) as Record<string, unknown>;
    writeFileSync(join(dir, 'kb.json'), JSON.stringify(meta));
    const reopened = await open(dir);
    try {
      expect((await reopened.sources()).length).toBeGreaterThan(0);
      expect((await reopened.search('red circle')).text.length).toBeGreaterThan(0);
    } finally {
      await reopened.close();
    }
  });

  it('an unreadable source registry is refused with kb_corrupt and a hint', async () => {
    const dir = join(tmp.dir, 'kb-corrupt-registry');
    const kb = await open(dir);
    await kb.ingest([join(tmp.dir, 'first')]);
    await kb.close();
    writeFileSync(join(dir, 'sources.json'), '[{"source": "cut short');
    const err = await open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmragError);
    expect((err as MmragError).code).toBe('kb_corrupt');
    expect((err as MmragError).hint).toMatch(/backup|re-ingest/);
  });

  // Known bug, reported to the lead: KnowledgeBase.open (src/kb.ts) parses kb.json with a bare JSON.parse, so a
  // damaged kb.json surfaces as a SyntaxError without naming the file or what to do.
  it('a damaged kb.json is refused with a message naming the file', async () => {
    const dir = join(tmp.dir, 'kb-corrupt-meta');
    mkdirSync(dir);
    writeFileSync(join(dir, 'kb.json'), '{"schemaVersion": 1, "embedMo');
    const err = await open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmragError);
    expect((err as MmragError).message).toContain(join(dir, 'kb.json'));
  });

  // Known bug, reported to the lead: when the full-text index is missing (a kill between the commit and the index
  // build), nothing rebuilds it: the next ingest skips optimize() because nothing new was ingested, so every hybrid
  // search has to build it from the read path, without the write lock, where the text and picture searches of one
  // query race to create it and one fails with "Retryable commit conflict ... CreateIndex transaction was preempted"
  // (seen about one run in three here; too timing-dependent to assert, so the deterministic half is tested).
  it('a knowledge base that lost its full-text index gets it back at the next ingest', async () => {
    const dir = join(tmp.dir, 'kb-no-fts');
    const kb = await open(dir);
    await kb.ingest([join(tmp.dir, 'first')]);
    await kb.close();
    const lancedb = await import('@lancedb/lancedb');
    const ftsIndexes = async () => {
      const db = await lancedb.connect(join(dir, 'lance'));
      const table = await db.openTable('items');
      try {
        return (await table.listIndices()).filter((i) => i.indexType === 'FTS');
      } finally {
        table.close();
        db.close();
      }
    };
    const db = await lancedb.connect(join(dir, 'lance'));
    const table = await db.openTable('items');
    for (const index of await table.listIndices()) await table.dropIndex(index.name);
    table.close();
    db.close();
    expect(await ftsIndexes()).toEqual([]);
    const reopened = await open(dir);
    try {
      expect((await reopened.ingest([join(tmp.dir, 'first')])).unchanged).toBeGreaterThan(0);
    } finally {
      await reopened.close();
    }
    expect((await ftsIndexes()).length).toBe(1);
  });
});
