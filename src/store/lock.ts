import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { MmragError } from '../errors.js';

/** Locks this process holds: a second writer in the same process must not take over its own pid's lock. */
const held = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One writer per knowledge base: an exclusive lock file holding the writer's pid. A lock left by a process that
 * no longer exists (a crash) is taken over; a second writer, in another process or this one, is refused.
 */
export function acquireWriteLock(lockPath: string): () => void {
  const path = resolve(lockPath);
  if (held.has(path)) {
    throw new MmragError(
      'This process is already writing to this knowledge base.',
      'Wait for the running ingest or delete to finish before starting another.',
      'kb_locked',
    );
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held.add(path);
      return () => {
        held.delete(path);
        if (readPid(path) === process.pid) rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = readPid(path);
      if (pid !== undefined && pid !== process.pid && processAlive(pid)) {
        throw new MmragError(
          `Another mmrag process (pid ${pid}) is writing to this knowledge base.`,
          'Wait for it to finish, or stop it; searches can run meanwhile.',
          'kb_locked',
        );
      }
      // A lock left by a process that is gone (or by this process before a crash of its own writer): take it over.
      rmSync(path, { force: true });
    }
  }
  throw new MmragError(`Could not take the write lock ${path}.`, 'Try again.', 'kb_locked');
}
