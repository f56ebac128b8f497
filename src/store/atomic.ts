import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';

/** Replace a file all at once (write a temporary copy, flush it, rename it over): readers see old or new, never half. */
export function writeFileAtomic(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
