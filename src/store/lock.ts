import { randomBytes } from 'node:crypto';
import {
  linkSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { MmragError } from '../errors.js';

/**
 * What a lock file holds: who wrote it, precisely enough to tell a live holder from a dead one whose pid was given
 * to another process, and a token no other acquisition shares.
 */
export interface LockOwner {
  pid: number;
  /** The holder's start time in clock ticks since boot (`/proc/<pid>/stat`), where the system tells it. */
  start?: number;
  host: string;
  token: string;
}

/** A lock this process holds. */
export interface WriteLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** True while the lock file still names this holder. */
  holds(): boolean;
  release(): void;
}

/** Locks this process holds: a second writer in the same process must not take over its own pid's lock. */
const held = new Set<string>();

/** Where the start time of a process cannot be read, a holder refreshes its lock's time this often... */
const HEARTBEAT_MS = 10_000;
/** ...and a lock not refreshed for this long is taken to be left by a holder that is gone. */
export const LEASE_MS = 60_000;
/** Attempts before giving up when other processes keep winning the lock's takeover. */
const ATTEMPTS = 50;

/** A process's start time in clock ticks since boot (Linux), or undefined where it cannot be read. */
export function processStartTicks(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2, the command name, may hold spaces and parentheses: the fields after its closing parenthesis are
    // plain, and the start time is the 22nd field of the line (the 20th after the parenthesis).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/** The epoch milliseconds a process started at (Linux), for locks written before they recorded start times. */
function processStartedAt(pid: number): number | undefined {
  const ticks = processStartTicks(pid);
  if (ticks === undefined) return undefined;
  try {
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // USER_HZ is 100 on every Linux architecture Node runs on.
    return Number.isFinite(boot) ? boot * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file's owner, or undefined when there is no lock file. A lock of older mmrag versions holds a pid only. */
function readOwner(
  path: string,
): { owner: Partial<LockOwner> & { pid?: number }; mtimeMs: number } | undefined {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed === 'object' && parsed !== null) return { owner: parsed, mtimeMs };
  } catch {
    // not JSON: the older format, or damaged
  }
  const pid = Number(text.trim());
  return { owner: Number.isInteger(pid) && pid > 0 ? { pid } : {}, mtimeMs };
}

/**
 * True when the holder of a lock is certainly gone: its pid is not running, or it is running but started after the
 * lock was written or at another time than the lock records (the pid was reused). A lock from another machine (a
 * folder shared over the network) or a system without start times is judged by its lease: held while refreshed.
 */
export function isStale(owner: Partial<LockOwner>, mtimeMs: number, now = Date.now()): boolean {
  const pid = owner.pid;
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return now - mtimeMs > LEASE_MS;
  if (owner.host !== undefined && owner.host !== hostname()) return now - mtimeMs > LEASE_MS;
  if (!pidAlive(pid)) return true;
  if (owner.start !== undefined) {
    const start = processStartTicks(pid);
    if (start !== undefined) return start !== owner.start;
    return now - mtimeMs > LEASE_MS;
  }
  const startedAt = processStartedAt(pid);
  // An older lock without a start time: a holder that started after the lock was written cannot have written it.
  if (startedAt !== undefined) return startedAt > mtimeMs + 1000;
  return now - mtimeMs > LEASE_MS;
}

function lockedError(pid: number | undefined): MmragError {
  return new MmragError(
    pid === undefined
      ? 'Another mmrag process is writing to this knowledge base.'
      : `Another mmrag process (pid ${pid}) is writing to this knowledge base.`,
    'Wait for it to finish, or stop it; searches can run meanwhile.',
    'kb_locked',
  );
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Create `path` holding `content` if it does not exist, atomically and never half-written: write, then link. On a
 * file system without hard links the file is created exclusively and then written; a reader that finds it empty
 * meanwhile takes it for a live lock (an owner it cannot read is judged by its lease).
 */
function createExclusive(path: string, content: string, token: string): boolean {
  const temporary = `${path}.${token}.tmp`;
  writeFileSync(temporary, content, { flag: 'wx' });
  try {
    linkSync(temporary, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EXDEV') {
      try {
        writeFileSync(path, content, { flag: 'wx' });
        return true;
      } catch (inner) {
        if ((inner as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw inner;
      }
    }
    throw err;
  } finally {
    tryUnlink(temporary);
  }
}

/** Wait a few milliseconds (the lock is taken synchronously, so this blocks; it happens only in a race). */
function pause(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2 + Math.random() * 8);
}

/**
 * One writer per knowledge base: a lock file created atomically (written in full under a name of its own, then
 * linked into place: it exists complete or not at all) holding the writer's pid, start time, host and a random
 * token. A second writer, in another process or this one, is refused at once with `kb_locked`.
 *
 * A lock whose holder is gone (see `isStale`) is taken over, by one process only: the taker first creates a marker
 * named after the stale lock's token (exclusively), then checks that the lock still holds that token, and only then
 * removes it and creates its own. A process that cannot create the marker knows another one is taking over, and
 * tries again. The holder's lock is released only if the file still names it.
 */
export function acquireWriteLock(lockPath: string): WriteLock {
  const path = resolve(lockPath);
  if (held.has(path)) {
    throw new MmragError(
      'This process is already writing to this knowledge base.',
      'Wait for the running ingest or delete to finish before starting another.',
      'kb_locked',
    );
  }
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    token: randomBytes(12).toString('hex'),
  };
  const start = processStartTicks('self');
  if (start !== undefined) owner.start = start;
  const content = `${JSON.stringify(owner)}\n`;

  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (createExclusive(path, content, owner.token)) return holdLock(path, owner);
    const found = readOwner(path);
    if (!found) continue; // released meanwhile: try again
    if (found.owner.token === owner.token) return holdLock(path, owner);
    if (!isStale(found.owner, found.mtimeMs)) throw lockedError(found.owner.pid);
    takeOver(path, found.owner, found.mtimeMs);
  }
  throw new MmragError(
    `Could not take the write lock ${path}: other processes kept taking it.`,
    'Try again.',
    'kb_locked',
  );
}

/** Remove a stale lock, if this process wins the right to (see `acquireWriteLock`). */
function takeOver(path: string, stale: Partial<LockOwner>, mtimeMs: number): void {
  // The marker is named after what identifies the stale lock: its token, or for an older lock its pid and time.
  const identity = stale.token ?? `${stale.pid ?? 'unknown'}-${Math.round(mtimeMs)}`;
  const marker = `${path}.takeover-${identity.replace(/[^\w-]/g, '')}`;
  const mine = randomBytes(12).toString('hex');
  const markerOwner: LockOwner = { pid: process.pid, host: hostname(), token: mine };
  const start = processStartTicks('self');
  if (start !== undefined) markerOwner.start = start;
  if (!createExclusive(marker, `${JSON.stringify(markerOwner)}\n`, mine)) {
    // Another process is taking over. If it died doing so (its marker is stale), clear its marker; either way the
    // caller looks at the lock again, after a moment.
    const other = readOwner(marker);
    if (other && isStale(other.owner, other.mtimeMs) && Date.now() - other.mtimeMs > 1000) {
      tryUnlink(marker);
    }
    pause();
    return;
  }
  try {
    const now = readOwner(path);
    const same =
      now !== undefined &&
      (stale.token !== undefined
        ? now.owner.token === stale.token
        : now.owner.token === undefined && now.owner.pid === stale.pid && now.mtimeMs === mtimeMs);
    if (same) tryUnlink(path);
  } finally {
    tryUnlink(marker);
  }
}

/** Files a holder killed mid-way left beside the lock (its half-made copies, takeover markers), once they are old. */
function clearLeftovers(path: string): void {
  const folder = dirname(path);
  const prefix = `${basename(path)}.`;
  try {
    for (const name of readdirSync(folder)) {
      if (!name.startsWith(prefix) || !(name.endsWith('.tmp') || name.includes('.takeover-'))) continue;
      const leftover = join(folder, name);
      if (Date.now() - statSync(leftover).mtimeMs > LEASE_MS) tryUnlink(leftover);
    }
  } catch {
    // best effort: leftovers are harmless
  }
}

function holdLock(path: string, owner: LockOwner): WriteLock {
  held.add(path);
  clearLeftovers(path);
  const heartbeat = setInterval(() => {
    try {
      if (readOwner(path)?.owner.token === owner.token) {
        const now = new Date();
        utimesSync(path, now, now);
      }
    } catch {
      // the next beat tries again
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  let released = false;
  return {
    path,
    owner,
    holds: () => !released && readOwner(path)?.owner.token === owner.token,
    release: () => {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      held.delete(path);
      if (readOwner(path)?.owner.token === owner.token) tryUnlink(path);
    },
  };
}
