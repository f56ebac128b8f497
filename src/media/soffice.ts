/**
 * LibreOffice (`soffice`) as a bounded child process: a presentation converted to PDF, so that its slides can be
 * drawn as pictures. Each conversion runs with a LibreOffice profile of its own in a temporary folder (a LibreOffice
 * the user has open is never handed the work, and nothing is written to their profile), spawned with an argument
 * array (no shell) in a process group of its own that is killed on timeout or abort, and the folder is removed
 * afterwards, whatever happened.
 *
 * The binary is `soffice` on the PATH, or the path in `MMRAG_SOFFICE`.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MmragError } from '../errors.js';

export const SOFFICE_INSTALL_HINT =
  'Install LibreOffice (apt-get install libreoffice-impress-nogui / brew install --cask libreoffice) and put soffice on the PATH, or set MMRAG_SOFFICE.';

/** Time one conversion may take by default (LibreOffice starts in 1-3 s; a large deck takes longer). */
export const SOFFICE_TIMEOUT_MS = 180_000;

const STDERR_TAIL_BYTES = 4096;

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Where `soffice` is: `MMRAG_SOFFICE`, else the first `soffice` on the PATH; undefined when there is none. */
export async function findSoffice(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const configured = env.MMRAG_SOFFICE?.trim();
  if (configured) return (await isExecutable(configured)) ? configured : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, process.platform === 'win32' ? 'soffice.exe' : 'soffice');
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

let found: Promise<string | undefined> | undefined;

/** `findSoffice` for this process, looked up once. */
export function sofficeOnPath(): Promise<string | undefined> {
  found ??= findSoffice();
  return found;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderrTail: string;
}

/** Run soffice in its own process group, killing the whole group (LibreOffice forks) on timeout or abort. */
function run(
  bin: string,
  args: string[],
  options: { timeoutMs: number; signal?: AbortSignal; purpose: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason ?? new Error('aborted'));
      return;
    }
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    let stdout = '';
    let stderrTail = '';
    let failure: unknown;
    let settled = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const stop = (reason: unknown) => {
      if (failure === undefined) failure = reason;
      killGroup();
    };
    const onAbort = () => stop(options.signal?.reason ?? new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () =>
        stop(
          new MmragError(
            `LibreOffice took longer than ${Math.round(options.timeoutMs / 1000)} s to ${options.purpose}`,
            'The file may be very large or damaged.',
            'timeout',
          ),
        ),
      options.timeoutMs,
    );
    const finish = (error: unknown, result?: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) reject(error);
      else resolve(result!);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (stdout.length < STDERR_TAIL_BYTES) stdout += chunk;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      finish(
        err.code === 'ENOENT'
          ? new MmragError(
              `LibreOffice (${bin}) is not installed or not on the PATH (needed to ${options.purpose})`,
              SOFFICE_INSTALL_HINT,
              'soffice_missing',
              { cause: err },
            )
          : err,
      );
    });
    child.on('close', (code) => {
      // Whatever LibreOffice left running in its group goes too.
      killGroup();
      finish(failure, { code, stdout, stderrTail });
    });
  });
}

/** `soffice --version`'s first line (`LibreOffice 7.4.7.2 ...`), or undefined when it cannot be run. */
export async function sofficeVersion(bin?: string): Promise<string | undefined> {
  const path = bin ?? (await sofficeOnPath());
  if (!path) return undefined;
  try {
    const { stdout } = await run(path, ['--version'], { timeoutMs: 30_000, purpose: 'say its version' });
    return stdout.trim().split('\n')[0]?.trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface ConvertToPdfOptions {
  /** The file's extension, without the dot (`pptx`, `odp`): LibreOffice reads the name too. */
  extension: string;
  /** What the file is, for messages. */
  name: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Refuse a PDF larger than this many bytes. */
  maxOutputBytes: number;
  bin?: string;
}

/**
 * A presentation converted to PDF by LibreOffice Impress, hidden slides included (so that page n is slide n), in a
 * temporary folder removed afterwards.
 */
export async function convertPresentationToPdf(
  bytes: Uint8Array,
  options: ConvertToPdfOptions,
): Promise<Uint8Array> {
  const bin = options.bin ?? (await sofficeOnPath());
  if (!bin) {
    throw new MmragError(
      `LibreOffice (soffice) is not installed or not on the PATH (needed to draw the slides of ${options.name})`,
      SOFFICE_INSTALL_HINT,
      'soffice_missing',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'mmrag-soffice-'));
  try {
    const extension = /^[a-z0-9]{1,8}$/i.test(options.extension) ? options.extension : 'bin';
    const input = join(dir, `deck.${extension}`);
    const out = join(dir, 'out');
    await writeFile(input, bytes);
    const purpose = `draw the slides of ${options.name}`;
    const result = await run(
      bin,
      [
        '--headless',
        '--invisible',
        '--nologo',
        '--norestore',
        '--nolockcheck',
        `-env:UserInstallation=${pathToFileURL(join(dir, 'profile')).href}`,
        '--convert-to',
        'pdf:impress_pdf_Export:{"ExportHiddenSlides":{"type":"boolean","value":"true"}}',
        '--outdir',
        out,
        input,
      ],
      { timeoutMs: options.timeoutMs ?? SOFFICE_TIMEOUT_MS, signal: options.signal, purpose },
    );
    const pdf = join(out, 'deck.pdf');
    const info = await stat(pdf).catch(() => undefined);
    if (!info?.isFile()) {
      const why = result.stderrTail.trim().split('\n').slice(-2).join(' | ');
      throw new MmragError(
        `LibreOffice could not ${purpose} (exit ${result.code}${why ? `: ${why}` : ''})`,
        'The file may be damaged, or not a presentation LibreOffice reads.',
        'bad_file',
      );
    }
    if (info.size > options.maxOutputBytes) {
      throw new MmragError(
        `LibreOffice made a ${(info.size / 1e6).toFixed(0)} MB PDF of ${options.name}, over the limit of ${(options.maxOutputBytes / 1e6).toFixed(0)} MB`,
        undefined,
        'too_large',
      );
    }
    return new Uint8Array(await readFile(pdf));
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}
