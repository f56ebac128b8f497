import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSavedPageAssets, isSidecarSubtitles, walkFiles } from '../../src/ingest/walk.js';
import { tempDir } from '../helpers/fixtures.js';

let tmp: ReturnType<typeof tempDir>;

function touch(...parts: string[]) {
  const path = join(tmp.dir, ...parts);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, 'x');
}

async function walk(
  paths: string[],
  extra: { includeGlobs?: string[]; excludeGlobs?: string[]; exclude?: string[] } = {},
) {
  const errors: string[] = [];
  const files: string[] = [];
  for await (const f of walkFiles(paths, {
    exclude: extra.exclude ?? [],
    ...extra,
    onError: (p, r) => errors.push(`${relative(tmp.dir, p)}: ${r}`),
  })) {
    files.push(relative(tmp.dir, f.path));
  }
  return { files, errors };
}

beforeEach(() => {
  tmp = tempDir('mmrag-walk-');
});
afterEach(() => tmp.cleanup());

describe('walkFiles', () => {
  it('walks depth first in name order, skipping hidden entries and dependency folders', async () => {
    touch('b.md');
    touch('a', 'z.txt');
    touch('.hidden', 'x.md');
    touch('.env');
    touch('node_modules', 'pkg', 'index.js');
    expect((await walk([tmp.dir])).files).toEqual(['a/z.txt', 'b.md']);
  });

  it('honours .gitignore and .mmragignore in every folder', async () => {
    touch('keep.md');
    touch('build', 'out.txt');
    touch('docs', 'draft.md');
    touch('docs', 'final.md');
    touch('logs', 'a.log');
    writeFileSync(join(tmp.dir, '.gitignore'), 'build/\n*.log\n');
    writeFileSync(join(tmp.dir, 'docs', '.mmragignore'), 'draft.md\n');
    expect((await walk([tmp.dir])).files).toEqual(['docs/final.md', 'keep.md']);
  });

  it('applies --include and --exclude globs relative to the folder given, but never to named files', async () => {
    touch('a.md');
    touch('b.pdf');
    touch('sub', 'c.md');
    touch('sub', 'private', 'd.md');
    expect(
      (await walk([tmp.dir], { includeGlobs: ['**/*.md'], excludeGlobs: ['sub/private'] })).files,
    ).toEqual(['a.md', 'sub/c.md']);
    expect((await walk([join(tmp.dir, 'b.pdf')], { includeGlobs: ['**/*.md'] })).files).toEqual(['b.pdf']);
  });

  it('skips a saved page assets folder and subtitles that belong to a recording', async () => {
    touch('page.html');
    touch('page_files', 'pic.png');
    touch('other_files', 'pic.png');
    touch('talk.mp3');
    touch('talk.vtt');
    touch('talk.en.srt');
    touch('lonely.vtt');
    expect((await walk([tmp.dir])).files).toEqual([
      'lonely.vtt',
      'other_files/pic.png',
      'page.html',
      'talk.mp3',
    ]);
    expect(isSavedPageAssets('page_files', new Set(['page.htm']))).toBe(true);
    expect(isSidecarSubtitles('talk.en.vtt', new Set(['talk.mp4']))).toBe(true);
    expect(isSidecarSubtitles('talk.vtt', new Set(['other.mp4']))).toBe(false);
  });

  it('survives symlink loops, visits each file once, and reports missing paths', async () => {
    touch('dir', 'a.md');
    symlinkSync(join(tmp.dir, 'dir'), join(tmp.dir, 'dir', 'loop'));
    symlinkSync(join(tmp.dir, 'dir', 'a.md'), join(tmp.dir, 'alias.md'));
    const { files, errors } = await walk([tmp.dir, join(tmp.dir, 'missing.md')]);
    expect(files).toEqual(['alias.md']);
    expect(errors).toEqual(['missing.md: no such file or folder']);
  });

  it('never enters the knowledge base folder', async () => {
    touch('kb', 'media', 'x.png');
    touch('doc.md');
    expect((await walk([tmp.dir], { exclude: [join(tmp.dir, 'kb')] })).files).toEqual(['doc.md']);
  });
});
