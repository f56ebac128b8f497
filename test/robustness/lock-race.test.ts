/**
 * Issue 18, finding 5: the write lock must never admit two writers. Four processes taking the lock at the same
 * instant overlapped in 34 of 40 trials with a stale lock present and 2 of 40 without one (the lock file existed
 * empty before the pid was written, and removing a stale lock raced); a stale lock whose pid now belongs to another
 * process was permanent; and two ingests of different folders started together both reported success while one
 * folder's rows were later deleted as orphans.
 *
 * Here: 100 races of four processes (not promises), a quarter each with no lock, a lock of a dead process, a lock
 * whose pid was reused by a live process, and a lock in the older pid-only format; then two real ingests of
 * different folders started together, several times over a stale lock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKnowledgeBase } from '../../src/kb.js';
import { LanceStore } from '../../src/store/lance.js';
import { acquireWriteLock, isStale, processStartTicks } from '../../src/store/lock.js';
import type { StoreRow } from '../../src/store/store.js';
import type { SourceRecord } from '../../src/types.js';
import { FIXTURE_MODEL, ROOT, tempDir } from '../helpers/fixtures.js';
import { rejection } from '../helpers/items.js';
import { collect, ensureBuiltCli, spawnCli } from '../helpers/robustness.js';

const CONTENDERS = 4;
const ROUNDS = 100;
/** A pid no process has (above the kernel's pid_max). */
const DEAD_PID = 4_194_999;

let tmp: ReturnType<typeof tempDir>;

beforeAll(async () => {
  await ensureBuiltCli();
  tmp = tempDir('mmrag-lock-race-');
}, 180_000);

afterAll(() => tmp?.cleanup());

/** A lock file as a crashed holder of each kind would leave it. */
function plantStaleLock(path: string, kind: number): void {
  if (kind === 1) {
    writeFileSync(path, JSON.stringify({ pid: DEAD_PID, host: hostname(), token: 'dead-holder', start: 1 }));
  } else if (kind === 2) {
    // A live pid (this test's own process) with another start time: the holder died and its pid was reused.
    const start = (processStartTicks('self') ?? 0) + 12_345;
    writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), token: 'reused-pid', start }));
  } else if (kind === 3) {
    writeFileSync(path, String(DEAD_PID)); // the format of older mmrag versions
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the contenders');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('the write lock under races between processes', () => {
  it(`${ROUNDS} races of ${CONTENDERS} processes never admit two writers, stale locks or not`, async () => {
    const dir = join(tmp.dir, 'race');
    mkdirSync(join(dir, 'kb'), { recursive: true });
    const script = join(ROOT, 'test', 'robustness', 'children', 'lock-contender.mjs');
    const children: ChildProcess[] = Array.from({ length: CONTENDERS }, (_, id) =>
      spawn(process.execPath, [script, ROOT, dir, String(id), String(ROUNDS)], { stdio: 'ignore' }),
    );
    const exits = children.map((child) => new Promise((resolve) => child.on('exit', resolve)));
    const lockPath = join(dir, 'kb', 'write.lock');
    try {
      for (let round = 0; round < ROUNDS; round++) {
        plantStaleLock(lockPath, round % 4);
        writeFileSync(join(dir, `go-${round}`), '');
        await waitFor(
          () =>
            Array.from({ length: CONTENDERS }, (_, id) => join(dir, `done-${round}-${id}`)).every(existsSync),
          30_000,
        );
        expect(existsSync(lockPath), `round ${round}: the lock was released`).toBe(false);
      }
    } finally {
      for (const child of children) child.kill();
    }
    await Promise.all(exits);
    const results = Array.from({ length: CONTENDERS }, (_, id) =>
      readFileSync(join(dir, `results-${id}`), 'utf8')
        .trim()
        .split('\n'),
    ).flat();
    const byRound = new Map<number, string[]>();
    for (const line of results) {
      const [round, ...rest] = line.split(' ');
      byRound.set(Number(round), [...(byRound.get(Number(round)) ?? []), rest.join(' ')]);
    }
    expect(results.filter((r) => r.includes('overlap'))).toEqual([]);
    expect(results.filter((r) => r.includes('error'))).toEqual([]);
    for (let round = 0; round < ROUNDS; round++) {
      expect(byRound.get(round)?.length, `round ${round}`).toBe(CONTENDERS);
      expect(byRound.get(round), `round ${round}: someone got the lock`).toContain('acquired');
    }
    // No takeover marker or half-made lock is left behind.
    expect(readdirSync(join(dir, 'kb'))).toEqual([]);
  }, 120_000);

  it('a stale lock whose pid now belongs to a live process is taken over; a live holder is not', () => {
    const dir = join(tmp.dir, 'reuse');
    mkdirSync(dir);
    const path = join(dir, 'write.lock');
    plantStaleLock(path, 2);
    const lock = acquireWriteLock(path);
    try {
      expect(lock.holds()).toBe(true);
      const owner = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; token: string };
      expect(owner.pid).toBe(process.pid);
      expect(owner.token).toBe(lock.owner.token);
      // This process's own live lock: another taker sees a live holder.
      expect(isStale(lock.owner, Date.now())).toBe(false);
    } finally {
      lock.release();
    }
    expect(existsSync(path)).toBe(false);
    // An older pid-only lock whose pid is live but started after the lock was written: the pid was reused.
    writeFileSync(path, String(process.pid));
    const old = new Date('2001-01-01T00:00:00Z');
    utimesSync(path, old, old);
    acquireWriteLock(path).release();
    // A lock from another machine (a shared folder) is judged by its lease.
    expect(isStale({ pid: 1, host: 'elsewhere', token: 'x' }, Date.now())).toBe(false);
    expect(isStale({ pid: 1, host: 'elsewhere', token: 'x' }, Date.now() - 120_000)).toBe(true);
  });
});

function record(source: string, version: string): SourceRecord {
  return {
    source,
    type: 'text',
    hash: version,
    bytes: 1,
    version,
    items: 1,
    textItems: 1,
    imageItems: 0,
    ingestedAt: Date.now(),
  };
}

function row(source: string, version: string): StoreRow {
  return {
    id: `${version}-0`,
    version,
    modality: 'text',
    type: 'text',
    source,
    title: source,
    section: '',
    text: `The note ${source} about the harbour.`,
    ingestedAt: Date.now(),
    vector: new Float32Array([1, 0, 0, 0]),
    textVector: new Float32Array([1, 0, 0, 0]),
  };
}

// The store's own guard, for writers that got past the lock anyway (a lock taken over wrongly, or a store written
// by something that never took it): the last one to commit used to write a registry read before the other's
// commit, dropping the other's sources (and the next run deleted their rows as orphans).
describe('a commit on a registry that changed underneath it', () => {
  it("is refused, and the other writer's sources stay", async () => {
    const dir = join(tmp.dir, 'registry-check');
    const first = await LanceStore.open(dir);
    const second = await LanceStore.open(dir);
    try {
      await first.commit([record('/notes/base.md', 'v0')], [row('/notes/base.md', 'v0')]);
      await second.refresh();
      await first.refresh();
      await second.commit([record('/notes/north.md', 'v1')], [row('/notes/north.md', 'v1')]);
      const err = await rejection(
        first.commit([record('/notes/south.md', 'v2')], [row('/notes/south.md', 'v2')]),
      );
      expect(err.code).toBe('kb_conflict');
      expect(err.message).toMatch(/source registry .* changed while this process was writing/);
    } finally {
      await first.close();
      await second.close();
    }
    const after = await LanceStore.open(dir);
    try {
      expect((await after.listSources()).map((s) => s.source)).toEqual(['/notes/base.md', '/notes/north.md']);
    } finally {
      await after.close();
    }
  });

  it('is refused when the write lock was taken over from this process', async () => {
    const dir = join(tmp.dir, 'lock-lost');
    const store = await LanceStore.open(dir);
    const release = await store.lockWrites();
    try {
      // Another process took the lock over (it judged this holder gone).
      writeFileSync(
        join(dir, 'write.lock'),
        JSON.stringify({ pid: process.ppid, host: hostname(), token: 'someone-else' }),
      );
      const err = await rejection(
        store.commit([record('/notes/late.md', 'v9')], [row('/notes/late.md', 'v9')]),
      );
      expect(err.code).toBe('kb_locked');
      expect(await store.listSources()).toEqual([]);
    } finally {
      release();
      await store.close();
    }
    // Releasing leaves the other holder's lock in place.
    expect(JSON.parse(readFileSync(join(dir, 'write.lock'), 'utf8')).token).toBe('someone-else');
  });
});

describe('what a killed lock taker leaves', () => {
  it('old half-made lock copies and takeover markers are cleared by the next holder; fresh ones are left', () => {
    const dir = join(tmp.dir, 'leftovers');
    mkdirSync(dir);
    const old = new Date(Date.now() - 5 * 60_000);
    for (const name of ['write.lock.0a1b.tmp', 'write.lock.takeover-dead-token']) {
      writeFileSync(join(dir, name), '{}');
      utimesSync(join(dir, name), old, old);
    }
    writeFileSync(join(dir, 'write.lock.fresh.tmp'), '{}');
    writeFileSync(join(dir, 'unrelated.tmp'), 'x');
    utimesSync(join(dir, 'unrelated.tmp'), old, old);
    const lock = acquireWriteLock(join(dir, 'write.lock'));
    lock.release();
    expect(readdirSync(dir).sort()).toEqual(['unrelated.tmp', 'write.lock.fresh.tmp']);
  });
});

describe('two ingests started together', () => {
  async function notes(dir: string, topic: string, count: number): Promise<void> {
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < count; i++) {
      writeFileSync(
        join(dir, `${topic}-${i}.md`),
        `# ${topic} ${i}\n\nThe ${topic} note ${i} records which mooring post the harbour painted with a red circle.\n`,
      );
    }
  }

  it('never lose one folder: each run that reports success has every one of its files stored', async () => {
    await notes(join(tmp.dir, 'north'), 'north', 8);
    await notes(join(tmp.dir, 'south'), 'south', 8);
    // The second run starts a little later in each trial, so that its start meets each phase of the first one
    // (taking the lock and dropping orphan rows, embedding, appending, committing).
    const delays = [0, 200, 400, 600, 900, 1200];
    for (const [trial, delay] of delays.entries()) {
      const kb = join(tmp.dir, `kb-${trial}`);
      mkdirSync(kb);
      // A lock left by a crash makes both take it over at the same moment (the worst case measured).
      plantStaleLock(join(kb, 'write.lock'), 1 + (trial % 3));
      const runs = await Promise.all(
        ['north', 'south'].map(async (folder, i) => {
          if (i === 1) await new Promise((resolve) => setTimeout(resolve, delay));
          return collect(spawnCli(['ingest', join(tmp.dir, folder), '--kb', kb, '--json'], tmp.dir));
        }),
      );
      const succeeded = ['north', 'south'].filter((_, i) => runs[i]!.code === 0);
      for (const run of runs) {
        if (run.code !== 0)
          expect(run.stderr, `trial ${trial}`).toMatch(/writing to this knowledge base|kb_locked/);
      }
      expect(succeeded.length, `trial ${trial}: at least one run succeeds`).toBeGreaterThan(0);
      const reader = await openKnowledgeBase({
        kb,
        embed: { model: FIXTURE_MODEL },
        ingest: { ocr: false },
        transcribe: { provider: 'none' },
        llm: { provider: 'none' },
      });
      try {
        const sources = (await reader.sources()).map((s) => s.source);
        for (const folder of succeeded) {
          for (let i = 0; i < 8; i++)
            expect(sources, `trial ${trial}`).toContain(join(tmp.dir, folder, `${folder}-${i}.md`));
        }
        for (const source of await reader.sources()) {
          expect((await reader.items(source.source)).length, source.source).toBe(source.items);
        }
      } finally {
        await reader.close();
      }
      rmSync(kb, { recursive: true, force: true });
    }
  }, 180_000);
});
