// One contender of the write-lock race (test/robustness/lock-race.test.ts): for each round it waits for the
// round's start file, takes the lock of the built package (dist/), and while holding it creates a marker file
// exclusively: a marker that already exists means two holders at once. Results go to results-<id>, one per line.
import { appendFileSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, dir, id, roundsText] = process.argv.slice(2);
const { acquireWriteLock } = await import(pathToFileURL(join(root, 'dist', 'store', 'lock.js')).href);
const rounds = Number(roundsText);
const lockPath = join(dir, 'kb', 'write.lock');
const inside = join(dir, 'kb', 'inside');

const spin = (ms) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {}
};

for (let round = 0; round < rounds; round++) {
  const go = join(dir, `go-${round}`);
  const deadline = Date.now() + 30_000;
  while (!existsSync(go)) {
    if (Date.now() > deadline) process.exit(2);
  }
  let result;
  try {
    const lock = acquireWriteLock(lockPath);
    // Older versions returned the release function itself.
    const release = typeof lock === 'function' ? lock : () => lock.release();
    try {
      writeFileSync(inside, id, { flag: 'wx' });
      result = 'acquired';
      spin(3);
      unlinkSync(inside);
    } catch (err) {
      result = err.code === 'EEXIST' ? 'overlap' : `error ${err.message}`;
    } finally {
      release();
    }
  } catch (err) {
    result = err.code === 'kb_locked' ? 'locked' : `error ${err.message}`;
  }
  appendFileSync(join(dir, `results-${id}`), `${round} ${result}\n`);
  writeFileSync(join(dir, `done-${round}-${id}`), '');
}
