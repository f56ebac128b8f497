/**
 * Cold start of the CLI: `mmrag --help`, and a first `search` in a fresh process (model load + knowledge base
 * open + query), each spawned as `node bin/mmrag.js ...`, with the child's peak RSS (GNU time).
 * Needs the built CLI: `npx tsc -p tsconfig.build.json` first (npm run bench:startup does it).
 *   npx tsc -p bench/tsconfig.json && node node_modules/.cache/mmrag-bench/bench/startup.js [--runs 10]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { COLOURS, drawShape, type Shape } from '../test/helpers/fixtures.js';
import { formatMarkdownTable, formatMs, formatTable, percentile, writeResults } from './lib.js';

const FIXTURE_MODEL = path.resolve('models', 'tiny-clip-shapes');
const CLI = path.resolve('bin', 'mmrag.js');
const GNU_TIME = '/usr/bin/time';

function log(message: string): void {
  process.stderr.write(`[startup bench] ${message}\n`);
}

/** Wall time and peak RSS of one `node bin/mmrag.js ...` run. */
function run(args: string[]): { ms: number; rssMb: number | null } {
  const withTime = existsSync(GNU_TIME);
  const command = withTime ? GNU_TIME : process.execPath;
  const argv = withTime ? ['-f', 'MAXRSS_KB=%M', process.execPath, CLI, ...args] : [CLI, ...args];
  const start = performance.now();
  const child = spawnSync(command, argv, { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const ms = performance.now() - start;
  if (child.status !== 0) throw new Error(`mmrag ${args.join(' ')} failed: ${child.stderr}`);
  const match = /MAXRSS_KB=(\d+)/.exec(child.stderr ?? '');
  return { ms, rssMb: match ? Number(match[1]) / 1024 : null };
}

function summarize(samples: Array<{ ms: number; rssMb: number | null }>) {
  const ms = samples.map((s) => s.ms);
  const rss = samples.map((s) => s.rssMb ?? 0);
  return { p50: percentile(ms, 50), min: Math.min(...ms), max: Math.max(...ms), rssMb: Math.max(...rss) };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--runs');
  const runs = at >= 0 ? Number(argv[at + 1]) : 10;
  const outAt = argv.indexOf('--out');
  const out = outAt >= 0 ? argv[outAt + 1]! : null;
  if (!existsSync(path.resolve('dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: build first with npx tsc -p tsconfig.build.json');
  }
  const root = path.join(os.tmpdir(), `mmrag-bench-startup-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  const docs = path.join(root, 'docs');
  mkdirSync(docs, { recursive: true });
  const colours = Object.keys(COLOURS) as Array<keyof typeof COLOURS>;
  const shapes: Shape[] = ['circle', 'square', 'triangle'];
  for (let i = 0; i < 24; i++) {
    writeFileSync(
      path.join(docs, `shape-${i}.png`),
      await drawShape(colours[i % colours.length]!, shapes[i % 3]!, 128 + i),
    );
  }
  writeFileSync(
    path.join(docs, 'notes.md'),
    '# Shapes\n\nThe red circle sits left of the blue square. The green triangle points up.\n'.repeat(20),
  );
  const kb = path.join(root, 'kb');
  log('ingesting a small knowledge base');
  run(['ingest', docs, '--kb', kb, '--embed-model', FIXTURE_MODEL, '--offline', '--no-ocr']);

  run(['--help']);
  log(`mmrag --help x ${runs}`);
  const help = summarize(Array.from({ length: runs }, () => run(['--help'])));
  log(`mmrag search x ${runs}`);
  const search = summarize(
    Array.from({ length: runs }, () => run(['search', 'a red circle', '--kb', kb, '--offline', '--json'])),
  );
  rmSync(root, { recursive: true, force: true });

  const header = ['command (fresh process)', 'p50 ms', 'min ms', 'max ms', 'peak RSS MB', 'target'];
  const rows = [
    [
      'mmrag --help',
      formatMs(help.p50),
      formatMs(help.min),
      formatMs(help.max),
      help.rssMb.toFixed(0),
      '< 300 ms',
    ],
    [
      'mmrag search (first query: model load + search, 25 items)',
      formatMs(search.p50),
      formatMs(search.min),
      formatMs(search.max),
      search.rssMb.toFixed(0),
      '-',
    ],
  ];
  console.log(`\nCold start (${runs} runs each)`);
  console.log(formatTable(header, rows));
  console.log(`\n${formatMarkdownTable(header, rows)}`);
  const file = writeResults('startup', out, { settings: { runs }, help, search });
  console.log(`\nwrote ${file}`);
}

await main();
