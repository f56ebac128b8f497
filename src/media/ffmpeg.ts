/**
 * ffmpeg and ffprobe as child processes: probing, decoding audio to 16 kHz mono floats, extracting frames,
 * and reading embedded subtitle tracks. Always spawned with argument arrays (no shell), killed on abort or
 * timeout, with bounded output.
 *
 * The binaries are `ffmpeg` and `ffprobe` on the PATH, or the paths in `MMRAG_FFMPEG` / `MMRAG_FFPROBE`.
 */
import { spawn } from 'node:child_process';
import { basename, resolve } from 'node:path';
import { MmragError } from '../errors.js';

const INSTALL_HINT = 'install ffmpeg: apt-get install ffmpeg / brew install ffmpeg';
const STDERR_TAIL_BYTES = 8192;

export interface MediaInfo {
  /** Seconds; 0 when the container does not say. */
  duration: number;
  hasAudio: boolean;
  /** A real video stream (cover art attached to an audio file does not count). */
  hasVideo: boolean;
  width?: number;
  height?: number;
  /** A subtitle stream ffmpeg can convert to WebVTT (text, not bitmap subtitles). */
  hasTextSubtitles: boolean;
}

export interface VideoFrame {
  /** Seconds from the start. */
  time: number;
  png: Uint8Array;
}

export interface ExtractFramesOptions {
  /** A frame at least this often (seconds). */
  everySeconds: number;
  /** Also a frame where ffmpeg's scene-change score exceeds this (0..1; 0.3 is a common choice). */
  sceneThreshold: number;
  maxFrames: number;
  /** Frame width in pixels (never enlarged; height keeps the aspect ratio). */
  width: number;
  /** Only look at the first this many seconds. */
  maxSeconds?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export function ffmpegPath(): string {
  return process.env.MMRAG_FFMPEG || 'ffmpeg';
}

export function ffprobePath(): string {
  return process.env.MMRAG_FFPROBE || 'ffprobe';
}

interface RunOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  /** Fail when stdout grows past this many bytes. */
  maxStdoutBytes: number;
  /** What the run is for, for messages: "read talk.mp3". */
  purpose: string;
  /** Called with every complete stderr line (for showinfo). */
  onStderrLine?: (line: string) => void;
}

interface RunResult {
  stdout: Buffer;
  stderrTail: string;
}

function missingBinaryError(bin: string, purpose: string, cause: unknown): MmragError {
  return new MmragError(
    `${bin} is not installed or not on the PATH (needed to ${purpose})`,
    INSTALL_HINT,
    'ffmpeg_missing',
    { cause },
  );
}

function lastLines(text: string, count: number): string {
  return text
    .trim()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join(' | ');
}

/** Run a tool to completion, collecting stdout (bounded) and the tail of stderr. */
function run(bin: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason ?? new Error('aborted'));
      return;
    }
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrTail = '';
    let pendingLine = '';
    let failure: unknown;
    let settled = false;

    const stop = (reason: unknown) => {
      if (failure === undefined) failure = reason;
      child.kill('SIGKILL');
    };
    const onAbort = () => stop(options.signal?.reason ?? new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () =>
        stop(
          new MmragError(
            `${basename(bin)} took longer than ${Math.round(options.timeoutMs / 1000)} s to ${options.purpose}`,
            'The file may be very long or damaged.',
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

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > options.maxStdoutBytes) {
        stop(
          new MmragError(
            `${basename(bin)} produced more than ${options.maxStdoutBytes} bytes to ${options.purpose}`,
            undefined,
            'too_large',
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderrTail = (stderrTail + text).slice(-STDERR_TAIL_BYTES);
      if (!options.onStderrLine) return;
      const lines = (pendingLine + text).split(/\r?\n|\r/);
      pendingLine = lines.pop() ?? '';
      for (const line of lines) options.onStderrLine(line);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      finish(err.code === 'ENOENT' ? missingBinaryError(basename(bin), options.purpose, err) : err);
    });
    child.on('close', (code) => {
      if (pendingLine && options.onStderrLine) options.onStderrLine(pendingLine);
      if (failure !== undefined) {
        finish(failure);
        return;
      }
      if (code !== 0) {
        finish(
          new MmragError(
            `cannot ${options.purpose}: ${lastLines(stderrTail, 2) || `${basename(bin)} exited with code ${code}`}`,
            'The file may be damaged or in a format this ffmpeg build does not read.',
            'bad_media',
          ),
        );
        return;
      }
      finish(undefined, { stdout: Buffer.concat(chunks), stderrTail });
    });
  });
}

/**
 * Input arguments for a local file: the `file:` protocol so a name like `concat:a|b` or `http:x` is never read
 * as another protocol, and a whitelist so a playlist inside the file cannot make ffmpeg fetch URLs.
 */
function inputArgs(path: string): string[] {
  return ['-protocol_whitelist', 'file,pipe', '-i', `file:${resolve(path)}`];
}

/** True when `ffmpeg -version` runs. */
export async function ffmpegAvailable(): Promise<boolean> {
  try {
    await run(ffmpegPath(), ['-hide_banner', '-version'], {
      timeoutMs: 15_000,
      maxStdoutBytes: 1 << 20,
      purpose: 'report its version',
    });
    return true;
  } catch {
    return false;
  }
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  duration?: string;
  disposition?: { attached_pic?: number };
}

interface ProbeOutput {
  format?: { duration?: string };
  streams?: ProbeStream[];
}

const TEXT_SUBTITLE_CODECS = new Set(['subrip', 'srt', 'ass', 'ssa', 'mov_text', 'webvtt', 'text']);

/** Media facts from ffprobe's JSON (pure: exported for tests). */
export function mediaInfoFromProbe(probe: ProbeOutput): MediaInfo {
  const streams = probe.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const durations = [probe.format?.duration, ...streams.map((s) => s.duration)]
    .map((d) => Number(d))
    .filter((d) => Number.isFinite(d) && d > 0);
  const formatDuration = Number(probe.format?.duration);
  const info: MediaInfo = {
    duration:
      Number.isFinite(formatDuration) && formatDuration > 0 ? formatDuration : Math.max(0, ...durations),
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
    hasVideo: video !== undefined,
    hasTextSubtitles: streams.some(
      (s) =>
        s.codec_type === 'subtitle' && s.codec_name !== undefined && TEXT_SUBTITLE_CODECS.has(s.codec_name),
    ),
  };
  if (video?.width) info.width = video.width;
  if (video?.height) info.height = video.height;
  return info;
}

/** Duration and streams of a media file (ffprobe). */
export async function probeMedia(path: string, options: { signal?: AbortSignal } = {}): Promise<MediaInfo> {
  const { stdout } = await run(
    ffprobePath(),
    ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...inputArgs(path)],
    { signal: options.signal, timeoutMs: 60_000, maxStdoutBytes: 8 << 20, purpose: `read ${basename(path)}` },
  );
  let parsed: ProbeOutput;
  try {
    parsed = JSON.parse(stdout.toString('utf8')) as ProbeOutput;
  } catch (err) {
    throw new MmragError(
      `cannot read ${basename(path)}: ffprobe printed no valid JSON`,
      undefined,
      'bad_media',
      {
        cause: err,
      },
    );
  }
  if (!parsed.streams || parsed.streams.length === 0) {
    throw new MmragError(
      `cannot read ${basename(path)}: no audio or video stream found`,
      undefined,
      'bad_media',
    );
  }
  return mediaInfoFromProbe(parsed);
}

const SAMPLE_RATE = 16_000;
const DEFAULT_MAX_SECONDS = 4 * 3600;

/**
 * The first audio stream as 16 kHz mono PCM floats in [-1, 1], at most `maxSeconds` long (default 4 hours).
 */
export async function decodeAudio16kMono(
  path: string,
  options: { maxSeconds?: number; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<Float32Array> {
  const maxSeconds = options.maxSeconds ?? DEFAULT_MAX_SECONDS;
  const maxSamples = Math.ceil(maxSeconds * SAMPLE_RATE);
  const args = [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    ...inputArgs(path),
    '-map',
    '0:a:0',
    '-vn',
    '-sn',
    '-dn',
  ];
  args.push('-t', String(maxSeconds), '-ac', '1', '-ar', String(SAMPLE_RATE), '-f', 'f32le', 'pipe:1');
  const { stdout } = await run(ffmpegPath(), args, {
    signal: options.signal,
    // Decoding runs at hundreds of times real time; allow for slow machines and long files.
    timeoutMs: options.timeoutMs ?? Math.max(120_000, maxSeconds * 200),
    // Resampling can overshoot `-t` by a few samples; allow one second of slack before refusing.
    maxStdoutBytes: (maxSamples + SAMPLE_RATE) * 4,
    purpose: `decode the audio of ${basename(path)}`,
  });
  const sampleCount = Math.min(maxSamples, Math.floor(stdout.length / 4));
  const samples = new Float32Array(sampleCount);
  // Copy through a DataView: the Buffer may not be 4-byte aligned. f32le is little-endian by definition.
  const view = new DataView(stdout.buffer, stdout.byteOffset, sampleCount * 4);
  for (let i = 0; i < sampleCount; i++) samples[i] = view.getFloat32(i * 4, true);
  return samples;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Split concatenated PNG files (ffmpeg's image2pipe output) at their IEND chunks. */
export function splitPngStream(bytes: Uint8Array): Uint8Array[] {
  const images: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start = 0;
  while (start + 8 <= bytes.length) {
    for (let i = 0; i < 8; i++) {
      if (bytes[start + i] !== PNG_SIGNATURE[i]) throw new Error(`not a PNG stream at byte ${start}`);
    }
    let offset = start + 8;
    let ended = false;
    while (offset + 12 <= bytes.length) {
      const length = view.getUint32(offset);
      const type = String.fromCharCode(
        bytes[offset + 4]!,
        bytes[offset + 5]!,
        bytes[offset + 6]!,
        bytes[offset + 7]!,
      );
      offset += 12 + length;
      if (type === 'IEND') {
        ended = true;
        break;
      }
    }
    if (!ended || offset > bytes.length) break;
    images.push(bytes.subarray(start, offset));
    start = offset;
  }
  return images;
}

const SHOWINFO_TIME = /Parsed_showinfo.*\bpts_time:\s*(-?[\d.]+(?:e-?\d+)?)/;

/** The `pts_time` of a showinfo log line, or undefined for other lines. */
export function parseShowinfoTime(line: string): number | undefined {
  const match = SHOWINFO_TIME.exec(line);
  if (!match) return undefined;
  const time = Number(match[1]);
  return Number.isFinite(time) ? time : undefined;
}

/** ffmpeg's filter-expression escaping for a number (always plain decimal). */
function num(value: number): string {
  return String(Number(value.toFixed(6)));
}

/**
 * Frames of the first video stream as PNGs with their timestamps: the first frame, then one whenever
 * `everySeconds` have passed since the last selected frame or the scene changes by more than
 * `sceneThreshold`. One ffmpeg pass: scale (cheap scene detection on small frames), select, showinfo (whose
 * `pts_time` lines on stderr give the time of each selected frame, in output order).
 */
export async function extractFrames(path: string, options: ExtractFramesOptions): Promise<VideoFrame[]> {
  const width = Math.max(16, Math.floor(options.width));
  const maxFrames = Math.max(1, Math.floor(options.maxFrames));
  const select =
    `select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,${num(options.everySeconds)})` +
    `+gt(scene\\,${num(options.sceneThreshold)})'`;
  const filters = [`scale='min(${width}\\,iw)':-2`, select, 'showinfo'].join(',');
  const frameArgs = (fpsMode: string[]) => {
    const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'info', ...inputArgs(path)];
    if (options.maxSeconds !== undefined) args.push('-t', String(options.maxSeconds));
    args.push(
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      filters,
      ...fpsMode,
      '-frames:v',
      String(maxFrames),
    );
    args.push('-f', 'image2pipe', '-c:v', 'png', 'pipe:1');
    return args;
  };
  const extract = async (fpsMode: string[]) => {
    const times: number[] = [];
    const { stdout } = await run(ffmpegPath(), frameArgs(fpsMode), {
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? 600_000,
      // Uncompressed RGBA plus PNG overhead bounds each frame; heights beyond 4x the width are not expected.
      maxStdoutBytes: maxFrames * (width * width * 4 * 4 + 65_536),
      purpose: `extract frames from ${basename(path)}`,
      onStderrLine: (line) => {
        const time = parseShowinfoTime(line);
        if (time !== undefined) times.push(time);
      },
    });
    return { stdout, times };
  };
  // Passthrough: without it the image2pipe muxer repeats each selected frame to fill a constant frame rate.
  // `-fps_mode` is ffmpeg 5.1+; older builds (Ubuntu 22.04 ships 4.4) only know `-vsync`.
  let result: { stdout: Buffer; times: number[] };
  try {
    result = await extract(['-fps_mode', 'passthrough']);
  } catch (err) {
    if (!(err instanceof MmragError && /unrecognized option 'fps_mode'/i.test(err.message))) throw err;
    result = await extract(['-vsync', 'passthrough']);
  }
  const { stdout, times } = result;
  const pngs = splitPngStream(new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.length));
  const count = Math.min(pngs.length, times.length);
  const frames: VideoFrame[] = [];
  for (let i = 0; i < count; i++) frames.push({ time: Math.max(0, times[i]!), png: pngs[i]! });
  return frames;
}

/** The first text subtitle stream converted to WebVTT. */
export async function extractSubtitleTrack(
  path: string,
  options: { signal?: AbortSignal } = {},
): Promise<string> {
  const { stdout } = await run(
    ffmpegPath(),
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      ...inputArgs(path),
      '-map',
      '0:s:0',
      '-f',
      'webvtt',
      'pipe:1',
    ],
    {
      signal: options.signal,
      timeoutMs: 120_000,
      maxStdoutBytes: 32 << 20,
      purpose: `read the subtitles of ${basename(path)}`,
    },
  );
  return stdout.toString('utf8');
}
