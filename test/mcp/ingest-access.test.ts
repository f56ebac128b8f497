import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileOutcome, IngestSummary } from '../../src/ingest/pipeline.js';
import { combineIngest, planIngest } from '../../src/mcp/ingest-access.js';
import { tempDir } from '../helpers/fixtures.js';

const tmp = tempDir('mmrag-mcp-access-');
afterAll(() => tmp.cleanup());

const rootA = join(tmp.dir, 'a');
const rootB = join(tmp.dir, 'b');
mkdirSync(join(rootA, 'docs'), { recursive: true });
mkdirSync(rootB, { recursive: true });
writeFileSync(join(rootA, 'docs', 'one.md'), '# one');
writeFileSync(join(rootB, 'two.md'), '# two');
writeFileSync(join(tmp.dir, 'outside.md'), '# outside');
symlinkSync(tmp.dir, join(rootA, 'up'));

describe('planIngest', () => {
  it('over stdio takes every path as it is, in one run', () => {
    expect(planIngest(['/etc', 'x', 'https://e.example/'], { kind: 'any' })).toEqual({
      groups: [{ paths: ['/etc', 'x', 'https://e.example/'] }],
      refused: [],
    });
  });

  it('over HTTP groups paths by root (pictures read only inside it), URLs apart', () => {
    const plan = planIngest(
      [join(rootA, 'docs'), 'two.md', 'docs/one.md', 'https://e.example/page', 'HTTP://E.EXAMPLE/other'],
      { kind: 'roots', roots: [rootA, rootB] },
    );
    expect(plan.refused).toEqual([]);
    expect(plan.groups).toEqual([
      { paths: [join(rootA, 'docs'), join(rootA, 'docs', 'one.md')], localRoot: rootA },
      { paths: [join(rootB, 'two.md')], localRoot: rootB },
      { paths: ['https://e.example/page', 'HTTP://E.EXAMPLE/other'] },
    ]);
  });

  it('refuses paths outside the roots, through symbolic links, and other schemes', () => {
    const plan = planIngest(
      [
        join(tmp.dir, 'outside.md'),
        '../outside.md',
        'up/outside.md',
        'up/missing.md',
        'file:///etc/passwd',
        'ftp://e.example/x',
      ],
      { kind: 'roots', roots: [rootA] },
    );
    expect(plan.groups).toEqual([]);
    expect(plan.refused.map((o) => o.file)).toHaveLength(6);
    expect(plan.refused.every((o) => o.status === 'failed' && o.reason?.includes(rootA))).toBe(true);
    expect(plan.refused[2]!.reason).toContain('symbolic link');
    expect(plan.refused[3]!.reason).toContain('symbolic link');
  });

  it('without roots takes URLs only', () => {
    const plan = planIngest(['docs', 'https://e.example/'], { kind: 'roots', roots: [] });
    expect(plan.groups).toEqual([{ paths: ['https://e.example/'] }]);
    expect(plan.refused[0]!.reason).toContain('only http(s) URLs');
  });

  it('passes a missing file inside a root on, for the ingest to report', () => {
    const plan = planIngest(['docs/missing.md'], { kind: 'roots', roots: [rootA] });
    expect(plan.groups).toEqual([{ paths: [join(rootA, 'docs', 'missing.md')], localRoot: rootA }]);
  });
});

describe('combineIngest', () => {
  const outcome = (file: string, status: FileOutcome['status'], items = 0): FileOutcome => ({
    file,
    status,
    items,
    textItems: items,
    imageItems: 0,
    warnings: [],
  });
  const summary = (outcomes: FileOutcome[]) => ({ outcomes }) as IngestSummary;

  it('counts every run and the refusals', () => {
    const combined = combineIngest(
      [
        summary([outcome('a', 'ingested', 3), outcome('b', 'unchanged', 2)]),
        summary([outcome('c', 'ingested', 1)]),
      ],
      [outcome('d', 'failed')],
      1.5,
    );
    expect(combined).toMatchObject({
      files: 4,
      ingested: 2,
      unchanged: 1,
      skipped: 0,
      failed: 1,
      items: 4,
      textItems: 4,
      imageItems: 0,
      seconds: 1.5,
    });
  });
});
