import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_MODEL, ROOT, tempDir } from '../helpers/fixtures.js';
import { startTestServer, type TestServer, waitForJob } from './helpers.js';

const BOUNDARY = 'mmrag-test-boundary';
const MiB = 1024 * 1024;

/**
 * A multipart body of one file of `bytes` bytes, generated as it is sent (never held whole): the head, then the
 * bytes in 1 MiB pieces, then the closing boundary. `hold` pauses it after `holdAfter` bytes until resolved.
 */
function multipartStream(
  name: string,
  bytes: number,
  options: { holdAfter?: number; hold?: Promise<void> } = {},
): ReadableStream<Uint8Array> {
  const head = new TextEncoder().encode(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = new TextEncoder().encode(`\r\n--${BOUNDARY}--\r\n`);
  const piece = new Uint8Array(MiB).fill(97);
  let sent = 0;
  let headSent = false;
  let held = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headSent) {
        headSent = true;
        controller.enqueue(head);
        return;
      }
      if (!held && options.holdAfter !== undefined && sent >= options.holdAfter) {
        held = true;
        await options.hold;
      }
      if (sent >= bytes) {
        controller.enqueue(tail);
        controller.close();
        return;
      }
      const until = !held && options.holdAfter !== undefined ? options.holdAfter : bytes;
      const size = Math.min(MiB, until - sent);
      controller.enqueue(size === MiB ? piece : piece.subarray(0, size));
      sent += size;
    },
  });
}

/** POST a streamed (chunked: no Content-Length) multipart upload; a refused upload may close the connection. */
async function streamUpload(
  url: string,
  body: ReadableStream<Uint8Array>,
): Promise<{ status: number; body: string; retryAfter: string | null }> {
  try {
    const res = await fetch(`${url}/api/ingest`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body,
      duplex: 'half',
    } as RequestInit);
    return { status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') };
  } catch (err) {
    return { status: 0, body: String((err as Error).cause ?? err), retryAfter: null };
  }
}

describe('uploads are streamed to disk under a shared budget', () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: TestServer;

  beforeAll(async () => {
    tmp = tempDir('mmrag-upload-budget-');
    server = await startTestServer(
      join(tmp.dir, 'kb'),
      { provider: 'none' },
      { maxInFlightBytes: 100_000, maxUploadBytes: 80_000, maxFileBytes: 1_000_000 },
    );
  });

  afterAll(async () => {
    await server?.stop();
    tmp?.cleanup();
  });

  it('an upload that would pass the bytes in flight is refused at once with 503 and Retry-After; later it goes through', async () => {
    let release!: () => void;
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first upload sends 60,000 bytes and waits: they are on the server's disk, in its spool, not in a job.
    const first = streamUpload(server.url, multipartStream('first.txt', 70_000, { holdAfter: 60_000, hold }));
    const spool = join(server.uploadsDir, '.spool');
    const spooled = () =>
      existsSync(spool)
        ? readdirSync(spool).reduce((n, d) => {
            const file = join(spool, d, 'first.txt');
            return n + (existsSync(file) ? statSync(file).size : 0);
          }, 0)
        : 0;
    for (let i = 0; i < 200 && spooled() < 60_000; i++) await new Promise((r) => setTimeout(r, 20));
    expect(spooled()).toBe(60_000);
    expect(readdirSync(server.uploadsDir)).toEqual(['.spool']);

    const second = new FormData();
    second.append('files', new Blob([new Uint8Array(50_000).fill(98)]), 'second.txt');
    const busy = await fetch(`${server.url}/api/ingest`, { method: 'POST', body: second });
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('10');
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('busy');

    release();
    const done = await first;
    expect(done.status).toBe(202);
    const { job } = await waitForJob(server.url, (JSON.parse(done.body) as { id: string }).id);
    expect((job.files as Array<{ name: string; status: string }>)[0]).toMatchObject({ name: 'first.txt' });
    const again = await fetch(`${server.url}/api/ingest`, { method: 'POST', body: second });
    expect(again.status).toBe(202);
    // The spool is empty again (its folder is gone).
    expect(existsSync(spool)).toBe(false);
  });

  it('a chunked body over the request limit is refused as the bytes arrive, and what was written is removed', async () => {
    const refused = await streamUpload(server.url, multipartStream('big.bin', 20 * MiB));
    expect(refused.status).toBe(413);
    expect(refused.body).toContain('limit of one request');
    expect(existsSync(join(server.uploadsDir, '.spool'))).toBe(false);
  });
});

/** The peak resident memory of a process (kB), from /proc. */
function peakRssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1] ?? Number.NaN);
}

describe.skipIf(!existsSync('/proc/self/status') || !existsSync(join(ROOT, 'dist', 'cli', 'main.js')))(
  'a real `mmrag serve` receiving gigabytes keeps its memory bounded',
  () => {
    let tmp: ReturnType<typeof tempDir>;
    let child: ChildProcess;
    let url: string;
    /** A web site whose page never answers: a URL job that holds the writer while uploads queue behind it. */
    let stall: Server;

    beforeAll(async () => {
      tmp = tempDir('mmrag-upload-rss-');
      stall = createServer(() => undefined);
      await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
      const config = join(tmp.dir, 'mmrag.config.json');
      writeFileSync(
        config,
        JSON.stringify({
          // 160 MiB per file and per request: the 150 MiB uploads below are kept, the 1 GiB one refused.
          server: { maxUploadBytes: 160 * MiB },
          ingest: { maxFileBytes: 160 * MiB, allowPrivateNetwork: true, remoteTimeoutMs: 120_000 },
        }),
      );
      const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MMRAG_')));
      child = spawn(
        process.execPath,
        [join(ROOT, 'bin', 'mmrag.js'), 'serve', '--kb', join(tmp.dir, 'kb'), '--port', '0'],
        {
          cwd: tmp.dir,
          env: {
            ...clean,
            MMRAG_CONFIG: config,
            MMRAG_EMBED_MODEL: FIXTURE_MODEL,
            MMRAG_OFFLINE: '1',
            MMRAG_LLM: 'none',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const found = /web app and API: (http:\/\/\S+?)\/\s/.exec(out);
          if (found) resolve(found[1]!);
        });
        child.stderr!.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.once('exit', (code) => reject(new Error(`mmrag serve exited (${code}): ${out}`)));
      });
    });

    afterAll(async () => {
      child?.kill('SIGKILL');
      stall?.closeAllConnections();
      if (stall) await new Promise<void>((resolve) => stall.close(() => resolve()));
      tmp?.cleanup();
    });

    it('a 1 GB chunked upload is refused at the file limit as it arrives; four 150 MB uploads at once are saved; peak memory grows by less than 100 MB', async () => {
      const before = peakRssKb(child.pid!);
      const refused = await streamUpload(url, multipartStream('huge.bin', 1024 * MiB));
      expect([413, 0]).toContain(refused.status);
      if (refused.status === 413) expect(refused.body).toContain('too_large');

      // Hold the writer with a page that never answers, so the uploads below wait as queued jobs.
      const { port } = stall.address() as AddressInfo;
      const holding = await fetch(`${url}/api/ingest`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ urls: [`http://127.0.0.1:${port}/slow.html`] }),
      });
      expect(holding.status).toBe(202);
      const uploads = await Promise.all(
        [1, 2, 3, 4].map((n) => streamUpload(url, multipartStream(`part${n}.bin`, 150 * MiB))),
      );
      expect(uploads.map((u) => u.status)).toEqual([202, 202, 202, 202]);
      const after = peakRssKb(child.pid!);
      const grewMb = (after - before) / 1024;
      console.log(
        `mmrag serve peak RSS: ${(before / 1024).toFixed(0)} MB before, ${(after / 1024).toFixed(0)} MB after 1 GB refused and 600 MB saved (+${grewMb.toFixed(0)} MB)`,
      );
      expect(grewMb).toBeLessThan(100);
      const jobs = readdirSync(join(tmp.dir, 'kb', 'uploads')).filter((d) => d !== '.spool');
      const sizes = jobs.map(
        (d) =>
          statSync(join(tmp.dir, 'kb', 'uploads', d, readdirSync(join(tmp.dir, 'kb', 'uploads', d))[0]!))
            .size,
      );
      expect(sizes).toEqual([150 * MiB, 150 * MiB, 150 * MiB, 150 * MiB]);
    });
  },
);
