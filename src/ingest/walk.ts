import { type Dirent, realpathSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import picomatch from 'picomatch';
import { LOADERS } from './registry.js';

export interface WalkOptions {
  /** Absolute folders never entered (the knowledge base itself). */
  exclude: string[];
  /** Globs (relative to each folder given) a file must match to be taken; empty: every file. */
  includeGlobs?: string[];
  /** Globs (relative to each folder given) of files and folders to leave out. */
  excludeGlobs?: string[];
  /** Report a folder or file that could not be read; the walk goes on. */
  onError(path: string, reason: string): void;
}

export interface WalkedFile {
  path: string;
  /** True when the user named this file directly (not found by walking a folder). */
  explicit: boolean;
}

const SKIPPED_DIRS = new Set(['node_modules', '__pycache__']);
/** Ignore files honoured in every folder, with .gitignore syntax. */
const IGNORE_FILES = ['.gitignore', '.mmragignore'];
/** Recordings whose subtitle files beside them are their transcript. */
const MEDIA_EXTENSIONS = new Set<string>([...LOADERS.audio.extensions, ...LOADERS.video.extensions]);

interface IgnoreScope {
  base: string;
  rules: Ignore;
}

/**
 * Every file under the given paths, depth first in name order. Skipped: hidden entries, dependency folders, the
 * excluded folders, whatever `.gitignore`/`.mmragignore` files say, `--exclude` globs (and files not matching
 * `--include`), a saved page's `_files/` folder, and subtitles that belong to a recording beside them. Symlinks
 * are followed once (a loop is visited only once). A file named directly is always taken.
 */
export async function* walkFiles(paths: string[], options: WalkOptions): AsyncGenerator<WalkedFile> {
  const excluded = new Set(options.exclude.map((p) => safeRealpath(resolve(p)) ?? resolve(p)));
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();
  const include = options.includeGlobs?.length ? picomatch(options.includeGlobs, { dot: false }) : undefined;
  const excludeGlob = options.excludeGlobs?.length
    ? picomatch(options.excludeGlobs, { dot: false })
    : undefined;

  async function* visit(
    path: string,
    root: string,
    scopes: IgnoreScope[],
    explicit: boolean,
  ): AsyncGenerator<WalkedFile> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (err) {
      options.onError(path, describe(err));
      return;
    }
    const real = safeRealpath(path) ?? path;
    const rel = toPosix(relative(root, path));
    if (info.isDirectory()) {
      if (excluded.has(real) || seenDirs.has(real)) return;
      if (!explicit && (ignoredBy(scopes, path, true) || excludeGlob?.(rel) || excludeGlob?.(`${rel}/`)))
        return;
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
      const inner = [...scopes, ...(await readIgnoreScope(path, names))];
      for (const entry of entries) {
        if (entry.name.startsWith('.') || SKIPPED_DIRS.has(entry.name)) continue;
        if (entry.isDirectory() && isSavedPageAssets(entry.name, names)) continue;
        if (entry.isFile() && isSidecarSubtitles(entry.name, names)) continue;
        yield* visit(join(path, entry.name), root, inner, false);
      }
      return;
    }
    if (!info.isFile() || seenFiles.has(real)) return;
    if (!explicit) {
      if (ignoredBy(scopes, path, false) || excludeGlob?.(rel)) return;
      if (include && !include(rel)) return;
    }
    seenFiles.add(real);
    yield { path, explicit };
  }

  for (const p of paths) {
    const abs = resolve(p);
    yield* visit(abs, abs, [], true);
  }
}

async function readIgnoreScope(dir: string, names: Set<string>): Promise<IgnoreScope[]> {
  const scopes: IgnoreScope[] = [];
  for (const file of IGNORE_FILES) {
    if (!names.has(file)) continue;
    try {
      scopes.push({ base: dir, rules: ignore().add(await readFile(join(dir, file), 'utf8')) });
    } catch {
      // An unreadable ignore file ignores nothing.
    }
  }
  return scopes;
}

function ignoredBy(scopes: IgnoreScope[], path: string, isDir: boolean): boolean {
  for (const scope of scopes) {
    const rel = toPosix(relative(scope.base, path));
    if (!rel || rel.startsWith('..')) continue;
    if (scope.rules.ignores(isDir ? `${rel}/` : rel)) return true;
  }
  return false;
}

function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
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

/**
 * `talk.vtt` / `talk.srt` / `talk.en.vtt` beside `talk.mp3` is the recording's transcript: the audio or video
 * loader reads it, so it is not ingested a second time on its own.
 */
export function isSidecarSubtitles(fileName: string, siblings: Set<string>): boolean {
  const ext = extname(fileName).toLowerCase();
  if (ext !== '.vtt' && ext !== '.srt') return false;
  let stem = fileName.slice(0, -ext.length);
  for (;;) {
    for (const sibling of siblings) {
      const sibExt = extname(sibling).toLowerCase();
      if (MEDIA_EXTENSIONS.has(sibExt) && sibling.slice(0, -sibExt.length) === stem) return true;
    }
    // `talk.en` -> `talk`: a language tag between the name and the extension.
    const dot = stem.lastIndexOf('.');
    if (dot <= 0) return false;
    stem = stem.slice(0, dot);
  }
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
