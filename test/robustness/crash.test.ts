/**
 * Crash safety of the real CLI: `mmrag ingest` is killed with SIGKILL at seeded random points (and right after its
 * first commit), files change between runs, and after every kill the knowledge base must open with each file
 * fully present (as many items as a clean ingest gives) or absent. A last run completes without duplicates.
 */
import { appendFileSync, type Dirent, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKnowledgeBase } from '../../src/kb.js';
import { drawShape, FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { collect, ensureBuiltCli, runCli, seededRandom, spawnCli } from '../helpers/robustness.js';

const FILES = 30;
const SEED = Number(process.env.MMRAG_CRASH_SEED ?? 4242);

let tmp: ReturnType<typeof tempDir>;
let corpus: string;

/**
 * When each round's kill lands: at a random moment before the first write, as soon as new rows reach the table
 * (before the registry names them), as soon as the registry is replaced (old versions not yet deleted), and once
 * the run reports its files (indexes being rebuilt).
 */
const TRIGGERS = [
  'early',
  'rows-appended',
  'registry-replaced',
  'first-output',
  'rows-appended',
  'registry-replaced',
] as const;

const KILLS = TRIGGERS.length;

function lanceFileCount(kbDir: string): number {
  const walk = (dir: string): number => {
    let n = 0;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return 0;
    }
    for (const e of entries) n += e.isDirectory() ? walk(join(dir, e.name)) : 1;
    return n;
  };
  return walk(join(kbDir, 'lance'));
}

function registryStamp(kbDir: string): string {
  try {
    const info = statSync(join(kbDir, 'sources.json'));
    return `${info.mtimeMs}/${info.size}/${info.ino}`;
  } catch {
    return 'none';
  }
}

async function writeCorpus(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const colours = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'] as const;
  const shapes = ['circle', 'square', 'triangle'] as const;
  for (let i = 0; i < FILES; i++) {
    const colour = colours[i % colours.length]!;
    const shape = shapes[i % shapes.length]!;
    const prose = Array.from(
      { length: 1 + (i % 4) },
      (_, p) =>
        `Paragraph ${p + 1} of note ${i}: the ${colour} ${shape} marks mooring post number ${i * 7 + p} on the quay.`,
    ).join('\n\n');
    if (i % 3 === 0) {
      const png = (await drawShape(colour, shape, 96)).toString('base64');
      writeFileSync(
        join(dir, `page-${i}.html`),
        `<!doctype html><html><head><title>Page ${i}</title></head><body><h1>Page ${i}</h1><p>${prose}</p><img src="data:image/png;base64,${png}" alt="A ${colour} ${shape}"></body></html>`,
      );
    } else if (i % 3 === 1) {
      writeFileSync(join(dir, `note-${i}.md`), `# Note ${i}\n\n${prose}\n`);
    } else {
      writeFileSync(join(dir, `shape-${i}.png`), await drawShape(colour, shape, 96));
    }
  }
}

/** Sources and their stored items, checked for wholeness; returns source -> item count. */
async function inspect(kbDir: string): Promise<Map<string, number>> {
  const kb = await openKnowledgeBase({ kb: kbDir, embed: { model: FIXTURE_MODEL } });
  try {
    const counts = new Map<string, number>();
    for (const record of await kb.sources()) {
      const items = await kb.items(record.source);
      expect(items.length, `${record.source}: stored items vs its record`).toBe(record.items);
      expect(new Set(items.map((i) => i.id)).size, `${record.source}: duplicate ids`).toBe(items.length);
      counts.set(record.source, items.length);
    }
    // Searching works on whatever is there (vector mode: a crash before the full-text index was built trips a
    // separate, reported bug in hybrid search; see concurrency.test.ts).
    await kb.search('a red circle', { mode: 'vector' });
    return counts;
  } finally {
    await kb.close();
  }
}

/** Rows physically in the LanceDB table (live or orphaned). */
async function rawRows(kbDir: string): Promise<number> {
  const lancedb = await import('@lancedb/lancedb');
  const db = await lancedb.connect(join(kbDir, 'lance'));
  try {
    if (!(await db.tableNames()).includes('items')) return 0;
    const table = await db.openTable('items');
    const n = await table.countRows();
    table.close();
    return n;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  await ensureBuiltCli();
  tmp = tempDir('mmrag-crash-');
  corpus = join(tmp.dir, 'corpus');
  await writeCorpus(corpus);
}, 180_000);

afterAll(() => tmp?.cleanup());

describe('SIGKILL during ingest', () => {
  it('after every kill each file is whole or absent; the re-run completes the rest without duplicates', async () => {
    // A clean ingest: the reference item count of every file, and how long a run takes here.
    const cleanKb = join(tmp.dir, 'clean');
    const started = performance.now();
    const cleanChild = spawnCli(['ingest', corpus, '--kb', cleanKb, '--json'], tmp.dir);
    let commitAt = 0;
    cleanChild.stdout?.once('data', () => {
      commitAt = performance.now() - started;
    });
    const clean = await collect(cleanChild);
    expect(clean.code, clean.stderr).toBe(0);
    const reference = await inspect(cleanKb);
    expect(reference.size).toBe(FILES);

    const kbDir = join(tmp.dir, 'kb');
    // The table exists before the kills start: a kill inside its very first creation trips a reported bug (see
    // the test below), which would make this test's outcome depend on timing.
    const first = join(tmp.dir, 'first', 'first.md');
    mkdirSync(join(tmp.dir, 'first'));
    writeFileSync(first, '# First\n\nThe first note written to this knowledge base, before any crash.\n');
    expect((await runCli(['ingest', first, '--kb', kbDir], tmp.dir)).code).toBe(0);
    const random = seededRandom(SEED);
    let killedMidway = 0;
    for (let round = 0; round < KILLS; round++) {
      if (round > 0) {
        // Some files change between crashed runs, so every run has work and new versions replace old ones.
        for (let i = 1; i < FILES; i += 3) {
          if (random() < 0.5)
            appendFileSync(
              join(corpus, `note-${i}.md`),
              `\nAn extra paragraph about post ${i} added in round ${round}.\n`,
            );
        }
      }
      const trigger = TRIGGERS[round % TRIGGERS.length]!;
      const baseline = { files: lanceFileCount(kbDir), registry: registryStamp(kbDir) };
      const child = spawnCli(['ingest', corpus, '--kb', kbDir, '--json'], tmp.dir);
      const run = collect(child);
      await new Promise<void>((resolve) => {
        let outputSeen = false;
        child.stdout?.once('data', () => {
          outputSeen = true;
        });
        child.once('exit', () => resolve());
        if (trigger === 'early') {
          setTimeout(resolve, commitAt * 0.8 * random());
          return;
        }
        // Poll the knowledge base folder for the moment the trigger describes.
        const poll = setInterval(() => {
          const fired =
            (trigger === 'rows-appended' && lanceFileCount(kbDir) > baseline.files) ||
            (trigger === 'registry-replaced' && registryStamp(kbDir) !== baseline.registry) ||
            (trigger === 'first-output' && outputSeen);
          if (fired) {
            clearInterval(poll);
            setTimeout(resolve, 15 * random());
          }
        }, 1);
        child.once('exit', () => clearInterval(poll));
      });
      const wasRunning = child.exitCode === null;
      child.kill('SIGKILL');
      const result = await run;
      if (wasRunning && result.signal === 'SIGKILL') killedMidway++;
      const counts = await inspect(kbDir);
      expect(counts.get(first), 'a file committed before the crashes').toBe(1);
      counts.delete(first);
      const live = [...counts.values()].reduce((a, b) => a + b, 0);
      console.log(
        `crash round ${round} (${trigger}): ${wasRunning ? 'killed while running' : 'finished before the kill'}; ${counts.size}/${FILES} files present, ${(await rawRows(kbDir)) - live - 1} orphan rows awaiting cleanup`,
      );
      // Files that never change must hold exactly what a clean ingest gives them.
      for (const [source, n] of counts)
        if (!source.includes('note-')) expect(n, source).toBe(reference.get(source));
    }
    expect(killedMidway, 'kills that landed while ingest was running').toBeGreaterThanOrEqual(KILLS - 2);

    // The re-run: completes, exit 0, nothing duplicated, no orphan rows left behind.
    const rerun = await runCli(['ingest', corpus, '--kb', kbDir, '--json'], tmp.dir);
    expect(rerun.code, rerun.stderr).toBe(0);
    const final = await inspect(kbDir);
    expect(final.get(first)).toBe(1);
    final.delete(first);
    expect(final.size).toBe(FILES);
    const freshKb = join(tmp.dir, 'fresh');
    expect((await runCli(['ingest', corpus, '--kb', freshKb, '--json'], tmp.dir)).code).toBe(0);
    const fresh = await inspect(freshKb);
    expect([...final.entries()].sort()).toEqual([...fresh.entries()].sort());
    const total = [...final.values()].reduce((a, b) => a + b, 1);
    expect(await rawRows(kbDir)).toBe(total);
    // A further run finds everything unchanged.
    const third = await runCli(['ingest', corpus, '--kb', kbDir, '--json'], tmp.dir);
    const summary = JSON.parse(third.stdout.trim().split('\n').at(-1)!) as { summary: { unchanged: number } };
    expect(summary.summary.unchanged).toBe(FILES);
  }, 240_000);

  // Known bug, reported to the lead: LanceStore.open (src/store/lance.ts) lists the half-created table folder
  // (data written, no _versions yet: a kill inside the first createTable) and openTable throws, so the knowledge
  // base never opens again. Nothing was committed (sources.json is absent), so it should open empty and rebuild.
  it('a kill inside the very first table creation leaves a knowledge base that opens and ingests', async () => {
    const kbDir = join(tmp.dir, 'half-created');
    mkdirSync(join(kbDir, 'lance', 'items.lance', 'data'), { recursive: true });
    writeFileSync(join(kbDir, 'lance', 'items.lance', 'data', '0a1b2c3d.lance'), new Uint8Array(4096));
    const kb = await openKnowledgeBase({
      kb: kbDir,
      embed: { model: FIXTURE_MODEL },
      ingest: { ocr: false },
    });
    try {
      expect(await kb.sources()).toEqual([]);
      const summary = await kb.ingest([join(corpus, 'note-1.md')]);
      expect(summary.ingested).toBe(1);
    } finally {
      await kb.close();
    }
  });
});
