import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { MmragError } from '../errors.js';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One writer per knowledge base: an exclusive lock file holding the writer's pid. A lock left by a process that
 * no longer exists (a crash) is taken over.
 */
export function acquireWriteLock(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new MmragError(
          `Another mmrag process (pid ${pid}) is writing to this knowledge base.`,
          'Wait for it to finish, or stop it; searches can run meanwhile.',
          'kb_locked',
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new MmragError(`Could not take the write lock ${path}.`, 'Try again.', 'kb_locked');
}
