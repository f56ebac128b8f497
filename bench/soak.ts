/**
 * Soak test of `mmrag serve`: a real server process (the built CLI) over a small knowledge base, 50 concurrent
 * clients mixing searches and questions (JSON and streamed) for 60 s against a loopback LLM, everything on
 * 127.0.0.1. Reports throughput, p50/p95/p99 latency per kind, errors, and the server's resident memory
 * (after a warm-up, sampled every second); fails when any request fails or memory grows past the stated bound.
 *
 *   npm run bench:soak                       # 60 s, 50 clients
 *   node .../soak.js --seconds 20 --clients 20 --out results.json
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startLoopbackLlm } from '../test/helpers/loopback-llm.js';
import { formatTable, machineInfo, percentile, seededRandom, writeResults } from './lib.js';

const ROOT = process.cwd();
const MODEL = join(ROOT, 'models', 'tiny-clip-shapes');
const TOKEN = 'soak-token';
/** Growth of the server's resident memory, from the end of the warm-up to the end, that counts as a leak. */
const RSS_GROWTH_BOUND_MB = 150;
const WARMUP_SECONDS = 5;

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const SECONDS = Number(option('seconds', process.env.MMRAG_SOAK_SECONDS ?? '60'));
const CLIENTS = Number(option('clients', '50'));
const ASK_SHARE = Number(option('ask-share', '0.3'));
const OUT = process.argv.includes('--out') ? option('out', '') : null;

const QUERIES = [
  'a red circle',
  'the blue square on the customs office',
  'green triangle lifeboat station',
  'when does the ferry leave',
  'fuel dock diesel',
  'a yellow circle on a white background',
  'mooring post number 12',
  'purple square',
];

function cliEnv(llmUrl: string): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MMRAG_')));
  return {
    ...clean,
    MMRAG_EMBED_MODEL: MODEL,
    MMRAG_OCR: '0',
    MMRAG_TRANSCRIBE: 'none',
    MMRAG_LLM: 'ollama',
    MMRAG_LLM_URL: llmUrl,
  };
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'mmrag.js'), ...args], {
      env,
      stdio: 'inherit',
    });
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`mmrag ${args[0]} exited ${code}`)),
    );
  });
}

async function writeCorpus(dir: string): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const colours = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'];
  const shapes = ['circle', 'square', 'triangle'];
  const places = [
    'the fuel dock',
    'the customs office',
    'the lifeboat station',
    'the ferry pier',
    'the fish market',
  ];
  let files = 0;
  for (let i = 0; i < 60; i++) {
    const colour = colours[i % colours.length]!;
    const shape = shapes[i % shapes.length]!;
    const place = places[i % places.length]!;
    const body =
      shape === 'circle'
        ? '<circle cx="48" cy="48" r="32"'
        : shape === 'square'
          ? '<rect x="16" y="16" width="64" height="64"'
          : '<polygon points="48,12 86,84 10,84"';
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96"><rect width="96" height="96" fill="white"/>${body} fill="${colour}"/></svg>`;
    const png = (await sharp(Buffer.from(svg)).png().toBuffer()).toString('base64');
    const prose = `A ${colour} ${shape} marks ${place}, mooring post number ${i}. Boats leave the quay at dawn and the ferry leaves the north pier at seven.`;
    writeFileSync(
      join(dir, `page-${i}.html`),
      `<!doctype html><html><head><title>Harbour page ${i}</title></head><body><h1>Post ${i}</h1><p>${prose}</p><p>${prose.toUpperCase()}</p><img src="data:image/png;base64,${png}" alt="A ${colour} ${shape}"></body></html>`,
    );
    files++;
  }
  return files;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

async function startServe(kb: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'mmrag.js'), 'serve', '--kb', kb, '--port', '0', '--token', TOKEN],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /(http:\/\/[^\s/]+:\d+)/.exec(out);
      if (match) resolve({ child, url: match[1]! });
    });
    child.on('exit', (code) => reject(new Error(`mmrag serve exited ${code}`)));
  });
}

interface Sample {
  kind: 'search' | 'ask' | 'ask-stream';
  ms: number;
  ok: boolean;
  error?: string;
}

async function oneRequest(url: string, kind: Sample['kind'], query: string): Promise<Sample> {
  const started = performance.now();
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
  try {
    if (kind === 'search') {
      const res = await fetch(`${url}/api/search?q=${encodeURIComponent(query)}`, { headers });
      const body = (await res.json()) as { text?: unknown[]; error?: unknown };
      const ok = res.status === 200 && Array.isArray(body.text);
      return {
        kind,
        ms: performance.now() - started,
        ok,
        ...(ok ? {} : { error: `${res.status} ${JSON.stringify(body).slice(0, 200)}` }),
      };
    }
    const res = await fetch(`${url}/api/ask`, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        ...(kind === 'ask-stream' ? { accept: 'text/event-stream' } : {}),
      },
      body: JSON.stringify({ question: query }),
    });
    const text = await res.text();
    let ok = res.status === 200;
    if (kind === 'ask') {
      const body = JSON.parse(text) as { answer?: string | null; error?: unknown };
      ok &&= typeof body.answer === 'string' && body.answer.length > 0 && body.error === undefined;
    } else {
      ok &&= text.includes('event: token') && text.includes('event: done') && !text.includes('"error"');
    }
    return {
      kind,
      ms: performance.now() - started,
      ok,
      ...(ok ? {} : { error: `${res.status} ${text.slice(0, 200)}` }),
    };
  } catch (err) {
    return {
      kind,
      ms: performance.now() - started,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mmrag-soak-'));
  // A model that streams its answer in 6 pieces, 15 ms apart: a fast local LLM.
  const llm = await startLoopbackLlm({
    reply: 'The fuel dock is marked by a red circle [1], as the picture shows [2].',
    chunks: 6,
    chunkDelayMs: 15,
  });
  let server: ChildProcess | undefined;
  try {
    const corpus = join(work, 'corpus');
    const files = await writeCorpus(corpus);
    const kb = join(work, 'kb');
    const env = cliEnv(llm.url);
    process.stderr.write(`soak: ingesting ${files} pages...\n`);
    await run(['ingest', corpus, '--kb', kb], env);
    const started = await startServe(kb, env);
    server = started.child;
    const pid = server.pid!;
    const url = started.url;
    process.stderr.write(`soak: ${CLIENTS} clients for ${SECONDS} s against ${url} (pid ${pid})\n`);

    const samples: Sample[] = [];
    const rss: Array<{ t: number; mb: number }> = [];
    const begin = performance.now();
    const end = begin + (SECONDS + WARMUP_SECONDS) * 1000;
    const sampler = setInterval(
      () => rss.push({ t: (performance.now() - begin) / 1000, mb: rssMb(pid) }),
      1000,
    );
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      const random = seededRandom(1000 + c);
      while (performance.now() < end) {
        const r = random();
        const kind: Sample['kind'] = r < ASK_SHARE / 2 ? 'ask' : r < ASK_SHARE ? 'ask-stream' : 'search';
        const sample = await oneRequest(url, kind, QUERIES[Math.floor(random() * QUERIES.length)]!);
        if (performance.now() - begin >= WARMUP_SECONDS * 1000) samples.push(sample);
      }
    });
    await Promise.all(clients);
    clearInterval(sampler);
    const measured = rss.filter((s) => s.t >= WARMUP_SECONDS);
    const baseline = measured[0]?.mb ?? Number.NaN;
    const peak = Math.max(...measured.map((s) => s.mb));
    const last = measured.at(-1)?.mb ?? Number.NaN;
    const growth = last - baseline;
    const errors = samples.filter((s) => !s.ok);

    const kinds = ['search', 'ask', 'ask-stream', 'all'] as const;
    const stats = kinds.map((kind) => {
      const ms = samples.filter((s) => kind === 'all' || s.kind === kind).map((s) => s.ms);
      return {
        kind,
        requests: ms.length,
        perSecond: ms.length / SECONDS,
        p50: ms.length ? percentile(ms, 50) : 0,
        p95: ms.length ? percentile(ms, 95) : 0,
        p99: ms.length ? percentile(ms, 99) : 0,
        max: ms.length ? Math.max(...ms) : 0,
        errors: samples.filter((s) => (kind === 'all' || s.kind === kind) && !s.ok).length,
      };
    });
    const result = {
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      clients: CLIENTS,
      askShare: ASK_SHARE,
      corpus: { pages: files },
      llm: 'loopback Ollama stand-in, 6 chunks 15 ms apart',
      latencyMs: stats,
      errors: errors.length,
      firstErrors: errors.slice(0, 5).map((e) => `${e.kind}: ${e.error}`),
      rssMb: { afterWarmup: baseline, peak, end: last, growth, bound: RSS_GROWTH_BOUND_MB },
      chatRequests: llm.chatRequests().length,
    };
    console.log(
      formatTable(
        ['kind', 'requests', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors'],
        stats.map((s) => [
          s.kind,
          String(s.requests),
          s.perSecond.toFixed(1),
          s.p50.toFixed(0),
          s.p95.toFixed(0),
          s.p99.toFixed(0),
          s.max.toFixed(0),
          String(s.errors),
        ]),
      ),
    );
    console.log(
      `server RSS: ${baseline.toFixed(0)} MB after warm-up, peak ${peak.toFixed(0)} MB, end ${last.toFixed(0)} MB (growth ${growth.toFixed(0)} MB; bound ${RSS_GROWTH_BOUND_MB} MB)`,
    );
    console.log(`machine: ${JSON.stringify(machineInfo())}`);
    console.log(`results: ${writeResults('soak', OUT, result)}`);
    if (errors.length > 0) {
      console.error(`FAIL: ${errors.length} requests failed, e.g. ${result.firstErrors.join(' | ')}`);
      process.exitCode = 1;
    }
    if (!(growth <= RSS_GROWTH_BOUND_MB)) {
      console.error(
        `FAIL: server memory grew ${growth.toFixed(0)} MB, over the ${RSS_GROWTH_BOUND_MB} MB bound`,
      );
      process.exitCode = 1;
    }
  } finally {
    server?.kill('SIGTERM');
    await llm.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
