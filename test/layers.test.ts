import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/fixtures.js';

const run = promisify(execFile);
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const RULES: Array<{ name: string }> = createRequire(import.meta.url)(CONFIG).forbidden;

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** dependency-cruiser's violations of the project's rules, for the `src` tree under `cwd`. */
async function violations(cwd: string): Promise<Violation[]> {
  const { stdout } = await run(
    process.execPath,
    [DEPCRUISE, 'src', '--config', CONFIG, '--output-type', 'json'],
    { cwd, maxBuffer: 64 * 1024 * 1024 },
  ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('the layers of src/', () => {
  it('every rule catches its violation in a fixture tree that breaks each rule once', async () => {
    const found = await violations(join(ROOT, 'test', 'layers', 'fixture'));
    const fired = new Set(found.map((v) => v.rule.name));
    for (const rule of RULES) expect(fired, `rule ${rule.name} did not fire`).toContain(rule.name);
    expect(found).toContainEqual(
      expect.objectContaining({ from: 'src/store/lance.ts', to: 'src/retrieve/search.ts' }),
    );
  }, 60_000);

  it('the real tree has no import against the flow and no cycle', async () => {
    const found = await violations(ROOT);
    expect(found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  }, 60_000);
});
