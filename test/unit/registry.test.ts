import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectType } from '../../src/ingest/detect.js';
import { LOADERS, LoaderRegistry } from '../../src/ingest/registry.js';
import type { SourceType } from '../../src/types.js';
import { ROOT } from '../helpers/fixtures.js';

/** The README's table of file types: `type` in the first column, `.ext` names in the second. */
function readmeTypes(): Map<string, string[]> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## What each file type becomes'));
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const cells = line.split('|').map((c) => c.trim());
    const type = /^`([a-z]+)`/.exec(cells[1] ?? '')?.[1];
    if (!type) continue;
    // `xlsx` / `csv` rows name two types: their files are split on " / " in the same order.
    const types = cells[1]!.match(/`([a-z]+)`/g)!.map((t) => t.slice(1, -1));
    const groups = types.length > 1 ? cells[2]!.split(' / ') : [cells[2]!];
    types.forEach((t, i) => {
      rows.set(t, (groups[i] ?? '').match(/`\.[a-z0-9]+`/g)?.map((e) => e.slice(1, -1)) ?? []);
    });
  }
  return rows;
}

describe('the loader registry', () => {
  it("agrees with the README's table of types", () => {
    const documented = readmeTypes();
    expect([...documented.keys()].sort()).toEqual(Object.keys(LOADERS).sort());
    for (const [type, extensions] of documented) {
      const registered: readonly string[] = LOADERS[type as SourceType].extensions;
      // Every extension the README names is read by that type...
      for (const ext of extensions) expect(registered, `${type} ${ext}`).toContain(ext);
      // ...and the README names every extension of a type, except source code (too many to list).
      if (type !== 'text') expect([...extensions].sort(), type).toEqual([...registered].sort());
    }
  });

  it('detects by name through the registry it is given, and a type it lacks has no loader', async () => {
    const onlyText = new LoaderRegistry({ text: LOADERS.text });
    expect(detectType('/a/notes.txt', new TextEncoder().encode('hello'), onlyText)).toEqual({ type: 'text' });
    expect(detectType('/a/page.md', new TextEncoder().encode('# hi'), onlyText)).toHaveProperty(
      'unsupported',
    );
    expect(onlyText.loader('markdown')).toBeUndefined();
    expect((await onlyText.loader('text'))?.type).toBe('text');
  });

  it('knows source files by whole name and by extension', () => {
    const registry = new LoaderRegistry();
    expect(registry.typeOfName('/x/Makefile')).toBe('text');
    expect(registry.typeOfName('/x/main.rs')).toBe('text');
    expect(registry.typeOfName('/x/photo.JPG')).toBe('image');
    expect(registry.typeOfName('/x/archive.zip')).toBeUndefined();
  });
});
