import { type Dirent, realpathSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface WalkOptions {
  /** Absolute folders never entered (the knowledge base itself). */
  exclude: string[];
  /** Report a folder or file that could not be read; the walk goes on. */
  onError(path: string, reason: string): void;
}

export interface WalkedFile {
  path: string;
  /** True when the user named this file directly (not found by walking a folder). */
  explicit: boolean;
}

const SKIPPED_DIRS = new Set(['node_modules', '__pycache__']);

/**
 * Every file under the given paths, depth first in name order: hidden entries, the excluded folders and
 * dependency folders are skipped; symlinks are followed once (a loop is visited only once).
 */
export async function* walkFiles(paths: string[], options: WalkOptions): AsyncGenerator<WalkedFile> {
  const excluded = new Set(options.exclude.map((p) => safeRealpath(resolve(p)) ?? resolve(p)));
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();

  async function* visit(path: string, explicit: boolean): AsyncGenerator<WalkedFile> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (err) {
      options.onError(path, describe(err));
      return;
    }
    const real = safeRealpath(path) ?? path;
    if (info.isDirectory()) {
      if (excluded.has(real) || seenDirs.has(real)) return;
      seenDirs.add(real);
      let entries: Dirent[];
      try {
        entries = await readdir(path, { withFileTypes: true });
      } catch (err) {
        options.onError(path, describe(err));
        return;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const names = new Set(entries.map((e) => e.name));
      for (const entry of entries) {
        if (entry.name.startsWith('.') || SKIPPED_DIRS.has(entry.name)) continue;
        if (entry.isDirectory() && isSavedPageAssets(entry.name, names)) continue;
        yield* visit(join(path, entry.name), false);
      }
      return;
    }
    if (!info.isFile() || seenFiles.has(real)) return;
    seenFiles.add(real);
    yield { path, explicit };
  }

  for (const p of paths) yield* visit(resolve(p), true);
}

/**
 * `page_files/` beside `page.html` is what browsers write for "Save page, complete": its pictures belong to the
 * page (ingested with their captions through it), so the folder is not walked on its own.
 */
export function isSavedPageAssets(dirName: string, siblings: Set<string>): boolean {
  if (!dirName.endsWith('_files')) return false;
  const base = dirName.slice(0, -'_files'.length);
  return ['.html', '.htm', '.xhtml', '.mhtml'].some((ext) => siblings.has(base + ext));
}

function safeRealpath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file or folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'symbolic link loop';
    default:
      return e.message;
  }
}
