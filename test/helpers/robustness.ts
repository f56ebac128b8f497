/**
 * Helpers for the robustness suites: seeded mutations of valid files, hand-made bombs, a loader context built
 * from the real configuration defaults, a recording loopback HTTP server, and the built CLI as a child process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import JSZip from 'jszip';
import sharp from 'sharp';
import type { LoaderContext } from '../../src/ingest/loader.js';
import { FIXTURE_MODEL, ROOT } from './fixtures.js';
import { testLoaderContext } from './loader-context.js';
import { buildZip, makeDocx, makePptx, makeXlsx, zerosDeflate } from './make-office.js';
import { makePdf } from './make-pdf.js';
import { seededRandom } from './random.js';

export { seededRandom };

// ---------------- seeded randomness and mutations ----------------

export type MutationKind = 'bitflip' | 'truncate' | 'splice' | 'overwrite' | 'duplicate';
export const MUTATION_KINDS: readonly MutationKind[] = [
  'bitflip',
  'truncate',
  'splice',
  'overwrite',
  'duplicate',
];

export interface Mutant {
  bytes: Uint8Array;
  /** What was done, to reproduce a failure (`bitflip x3 @1234`). */
  how: string;
}

/**
 * One mutation of `bytes`: flipped bits, a cut, a range spliced in from another valid file (or the same), a range
 * overwritten with random bytes, or a range repeated. Deterministic for a given `random`.
 */
export function mutate(
  bytes: Uint8Array,
  kind: MutationKind,
  random: () => number,
  donor?: Uint8Array,
): Mutant {
  const n = bytes.length;
  const at = (limit: number) => Math.floor(random() * Math.max(1, limit));
  switch (kind) {
    case 'bitflip': {
      const out = new Uint8Array(bytes);
      const flips = 1 + at(8);
      const where: number[] = [];
      for (let i = 0; i < flips; i++) {
        const pos = at(n);
        out[pos] = out[pos]! ^ (1 << at(8));
        where.push(pos);
      }
      return { bytes: out, how: `bitflip x${flips} @${where.join(',')}` };
    }
    case 'truncate': {
      const cut = at(n);
      return { bytes: bytes.slice(0, cut), how: `truncate to ${cut} of ${n}` };
    }
    case 'splice': {
      const source = donor ?? bytes;
      const from = at(source.length);
      const length = 1 + at(Math.min(4096, source.length - from));
      const to = at(n);
      const out = new Uint8Array(n + length);
      out.set(bytes.subarray(0, to), 0);
      out.set(source.subarray(from, from + length), to);
      out.set(bytes.subarray(to), to + length);
      return {
        bytes: out.subarray(0, n + Math.min(length, source.length - from)),
        how: `splice ${length}@${from} -> ${to}`,
      };
    }
    case 'overwrite': {
      const out = new Uint8Array(bytes);
      const start = at(n);
      const length = 1 + at(Math.min(512, n - start));
      for (let i = start; i < Math.min(n, start + length); i++) out[i] = at(256);
      return { bytes: out, how: `overwrite ${length}@${start}` };
    }
    case 'duplicate': {
      const start = at(n);
      const length = 1 + at(Math.min(2048, n - start));
      const piece = bytes.subarray(start, start + length);
      const out = new Uint8Array(n + piece.length);
      out.set(bytes.subarray(0, start + piece.length), 0);
      out.set(piece, start + piece.length);
      out.set(bytes.subarray(start + piece.length), start + 2 * piece.length);
      return { bytes: out, how: `duplicate ${piece.length}@${start}` };
    }
  }
}

// ---------------- valid fixtures of every loader ----------------

export interface ValidFixture {
  /** File name (its extension chooses the loader). */
  name: string;
  bytes: Uint8Array;
}

const PROSE =
  'The harbour master paints every mooring post with one shape so that sailors can find their berth at night.';

async function circlePng(size = 96): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="white"/><circle cx="${size / 2}" cy="${size / 2}" r="${size / 3}" fill="#e02020"/></svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}

/**
 * One small valid file per document loader: HTML (with an inline picture), Markdown, text, JSON, CSV, WebVTT,
 * SRT, PDF (text and a picture), DOCX, XLSX, PPTX, PNG, JPEG, WebP, GIF.
 */
export async function validFixtures(): Promise<ValidFixture[]> {
  const png = await circlePng();
  const dataUri = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
  const text = (s: string) => new TextEncoder().encode(s);
  const rgb = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return [
    {
      name: 'page.html',
      bytes: text(
        `<!doctype html><html><head><title>Harbour</title></head><body><h1>Harbour</h1><p>${PROSE}</p><h2>Fuel</h2><p>A red circle marks the fuel dock, where boats take on diesel before they leave.</p><img src="${dataUri}" alt="Fuel dock marker"></body></html>`,
      ),
    },
    {
      name: 'notes.md',
      bytes: text(
        `---\ntitle: Notes\n---\n# Notes\n\n${PROSE}\n\n## Table\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\`\`\`js\nconst x = 1;\n\`\`\`\n`,
      ),
    },
    { name: 'plain.txt', bytes: text(`${PROSE}\n\n${PROSE.toUpperCase()}\n`) },
    {
      name: 'data.json',
      bytes: text(
        JSON.stringify({
          harbour: { name: 'North', posts: [{ shape: 'circle', colour: 'red' }] },
          note: PROSE,
        }),
      ),
    },
    {
      name: 'table.csv',
      bytes: text('name,shape,colour\nfuel dock,circle,red\ncustoms,square,blue\nlifeboat,triangle,green\n'),
    },
    {
      name: 'talk.vtt',
      bytes: text(
        `WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n${PROSE}\n\n00:00:02.000 --> 00:00:04.000\nSecond cue.\n`,
      ),
    },
    {
      name: 'talk.srt',
      bytes: text(
        `1\n00:00:00,000 --> 00:00:02,000\n${PROSE}\n\n2\n00:00:02,000 --> 00:00:04,000\nSecond cue.\n`,
      ),
    },
    {
      name: 'report.pdf',
      bytes: makePdf({
        title: 'Harbour report',
        pages: [
          {
            lines: [PROSE, 'A red circle marks the fuel dock.'],
            images: [
              {
                pixels: {
                  width: rgb.info.width,
                  height: rgb.info.height,
                  channels: 3,
                  data: new Uint8Array(rgb.data),
                },
                x: 72,
                y: 300,
                width: 96,
                height: 96,
              },
            ],
          },
          { lines: ['Second page about the customs office, open from eight until noon.'] },
        ],
      }),
    },
    {
      name: 'memo.docx',
      bytes: await makeDocx([
        { kind: 'heading', text: 'Memo' },
        { kind: 'paragraph', text: PROSE },
        {
          kind: 'table',
          rows: [
            ['a', 'b'],
            ['1', '2'],
          ],
        },
        { kind: 'picture', png, alt: 'Fuel dock marker' },
      ]),
    },
    {
      name: 'sheet.xlsx',
      bytes: await makeXlsx([
        {
          name: 'Posts',
          rows: [
            ['name', 'shape'],
            ['fuel dock', 'circle'],
            ['customs', 'square'],
          ],
        },
      ]),
    },
    {
      name: 'slides.pptx',
      bytes: await makePptx([
        { title: 'Harbour', body: [PROSE], notes: 'Say hello.', picture: { png, alt: 'Fuel dock marker' } },
        { title: 'Customs', body: ['Open from eight until noon.'] },
      ]),
    },
    { name: 'circle.png', bytes: png },
    { name: 'circle.jpg', bytes: new Uint8Array(await sharp(png).jpeg().toBuffer()) },
    { name: 'circle.webp', bytes: new Uint8Array(await sharp(png).webp().toBuffer()) },
    { name: 'circle.gif', bytes: new Uint8Array(await sharp(png).gif().toBuffer()) },
  ];
}

// ---------------- bombs ----------------

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A valid-looking PNG of `width` x `height` pixels in a few hundred bytes (its pixel data is a short zero run). */
export function makePngBomb(width: number, height: number): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const idat = deflateSync(Buffer.alloc(64 * 1024));
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', idat),
      pngChunk('IEND', new Uint8Array(0)),
    ]),
  );
}

/**
 * A valid Office file with one part replaced by a deflate stream that really expands to `mebibytes` MiB of
 * zeros; its headers state the true size (`truth`) or a small one (`lie`).
 */
export async function makeZipBomb(
  valid: Uint8Array,
  part: string,
  mebibytes: number,
  declare: 'truth' | 'lie',
): Promise<Uint8Array> {
  const zip = await JSZip.loadAsync(valid);
  const entries = [];
  for (const [name, file] of Object.entries(zip.files)) {
    if (file.dir || name === part) continue;
    const data = await file.async('uint8array');
    entries.push({ name, data, method: 0 as const, crc: crc32(data) >>> 0, declaredSize: data.length });
  }
  const size = mebibytes * 1024 * 1024;
  entries.push({
    name: part,
    data: zerosDeflate(mebibytes),
    method: 8 as const,
    crc: 0,
    declaredSize: declare === 'truth' ? Math.min(size, 0xfffffffe) : 4096,
  });
  return buildZip(entries);
}

// ---------------- loaders called directly ----------------

/** The loader context the pipeline builds from the configuration defaults (OCR and transcription off). */
export function loaderContext(
  warnings: string[] = [],
  overrides: Partial<LoaderContext['limits']> & { allowPrivateNetwork?: boolean } = {},
): LoaderContext {
  const { allowPrivateNetwork, ...limits } = overrides;
  return testLoaderContext({
    warn: (m) => warnings.push(m),
    remoteTimeoutMs: 3000,
    limits,
    ...(allowPrivateNetwork === undefined ? {} : { allowPrivateNetwork }),
  });
}

export type Settled<T> =
  | { kind: 'ok'; value: T; ms: number }
  | { kind: 'error'; error: unknown; ms: number }
  | { kind: 'timeout'; ms: number };

/** Settle `work` or give up after `ms` (the work is left running: a hang is the finding). */
export async function settleWithin<T>(work: () => Promise<T>, ms: number): Promise<Settled<T>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout', ms }), ms);
  });
  const run = (async (): Promise<Settled<T>> => {
    try {
      const value = await work();
      return { kind: 'ok', value, ms: performance.now() - started };
    } catch (error) {
      return { kind: 'error', error, ms: performance.now() - started };
    }
  })();
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------- a recording loopback server ----------------

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface RecordingServer {
  url: string;
  port: number;
  requests: Recorded[];
  /** Requests whose client hung up before the response ended. */
  disconnects: Recorded[];
  close(): Promise<void>;
}

/** A loopback HTTP server that records every request and answers with `handler` (default: 200 "ok"). */
export async function startRecordingServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void> = (_req, res) => {
    res.end('ok');
  },
): Promise<RecordingServer> {
  const requests: Recorded[] = [];
  const disconnects: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const record = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) disconnects.push(record);
    });
    Promise.resolve(handler(req, res)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    disconnects,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------- the built CLI ----------------

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Build dist/ when a source file is newer than the built CLI (tsc emits even when other files have type errors). */
export async function ensureBuiltCli(): Promise<void> {
  const built = join(ROOT, 'dist', 'cli', 'main.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newestMtime(join(ROOT, 'src'))) return;
  await new Promise<void>((resolve) => {
    const tsc = spawn(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: ROOT,
        stdio: 'ignore',
      },
    );
    tsc.on('close', () => resolve());
  });
  // Refresh the marker even if nothing changed, so the next run does not build again.
  if (existsSync(built)) writeFileSync(built, (await import('node:fs')).readFileSync(built));
}

/** The environment a CLI child gets: no MMRAG_* from the caller, the fixture model, no OCR, no transcription. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('MMRAG_') && k !== 'OPENAI_API_KEY'),
  );
  return {
    ...clean,
    MMRAG_EMBED_MODEL: FIXTURE_MODEL,
    MMRAG_OCR: '0',
    MMRAG_TRANSCRIBE: 'none',
    MMRAG_LLM_URL: 'http://127.0.0.1:9',
    ...extra,
  };
}

/** Start `node bin/mmrag.js ...args` (the built package). */
export function spawnCli(args: string[], cwd: string, env: NodeJS.ProcessEnv = cliEnv()): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'bin', 'mmrag.js'), ...args], { cwd, env });
}

/** Run the CLI to the end, collecting its output. */
export function runCli(args: string[], cwd: string, env: NodeJS.ProcessEnv = cliEnv()): Promise<CliRun> {
  return collect(spawnCli(args, cwd, env));
}

/** GNU time, when installed (`apt-get install time`): it reports a child's peak resident memory exactly. */
const GNU_TIME = '/usr/bin/time';

/**
 * Run the CLI to the end and measure its peak resident memory in MB (worker threads included: they share the
 * process). With GNU time the figure is the kernel's maximum resident set size; without it, the child's `VmHWM`
 * (its high-water mark) is read from /proc every 20 ms until it exits.
 */
export async function runCliMeasured(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = cliEnv(),
): Promise<CliRun & { peakRssMb: number; seconds: number }> {
  const started = performance.now();
  const cli = [join(ROOT, 'bin', 'mmrag.js'), ...args];
  if (existsSync(GNU_TIME)) {
    const report = join(cwd, `.rss-${process.pid}-${Date.now()}`);
    const run = await collect(
      spawn(GNU_TIME, ['-f', '%M', '-o', report, process.execPath, ...cli], { cwd, env }),
    );
    const kilobytes = Number(readFileSync(report, 'utf8').trim().split('\n').at(-1));
    rmSync(report, { force: true });
    return { ...run, peakRssMb: kilobytes / 1024, seconds: (performance.now() - started) / 1000 };
  }
  const child = spawn(process.execPath, cli, { cwd, env });
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const kilobytes = Number(
        /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1],
      );
      if (kilobytes > peak) peak = kilobytes;
    } catch {
      // exited
    }
  }, 20);
  const run = await collect(child).finally(() => clearInterval(poll));
  return { ...run, peakRssMb: peak / 1024, seconds: (performance.now() - started) / 1000 };
}

/** Collect a started child's output until it exits. */
export function collect(child: ChildProcess): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
