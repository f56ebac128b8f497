/**
 * Media fixtures made with the real tools: speech spoken by espeak-ng, videos encoded by ffmpeg from
 * pictures of coloured shapes drawn with sharp, and subtitle files. Everything goes into the given folder.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const exec = promisify(execFile);

export interface Cue {
  start: number;
  end: number;
  text: string;
}

/** Run a tool (no shell); failures carry its stderr. */
export async function runTool(bin: string, args: string[]): Promise<void> {
  try {
    await exec(bin, args, { maxBuffer: 16 << 20 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`${bin} ${args.join(' ')} failed: ${stderr.slice(-2000)}`);
  }
}

function vttTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

export function toVtt(cues: readonly Cue[]): string {
  return `WEBVTT\n\n${cues.map((c) => `${vttTime(c.start)} --> ${vttTime(c.end)}\n${c.text}\n`).join('\n')}`;
}

export function toSrt(cues: readonly Cue[]): string {
  return cues
    .map(
      (c, i) =>
        `${i + 1}\n${vttTime(c.start).replace('.', ',')} --> ${vttTime(c.end).replace('.', ',')}\n${c.text}\n`,
    )
    .join('\n');
}

export async function writeVtt(path: string, cues: readonly Cue[]): Promise<string> {
  await writeFile(path, toVtt(cues));
  return path;
}

export type Shape = 'circle' | 'square';

/** A large centred shape on white, as PNG bytes. */
export async function drawShapePng(shape: Shape, colour: string, size = 128): Promise<Buffer> {
  const c = size / 2;
  const body =
    shape === 'circle'
      ? `<circle cx="${c}" cy="${c}" r="${size * 0.38}" fill="${colour}"/>`
      : `<rect x="${size * 0.15}" y="${size * 0.15}" width="${size * 0.7}" height="${size * 0.7}" fill="${colour}"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="white"/>${body}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A WAV of espeak-ng speaking `sentence` (22.05 kHz mono 16-bit). */
export async function makeSpeechWav(path: string, sentence: string): Promise<string> {
  await runTool('espeak-ng', ['-w', path, '-s', '170', sentence]);
  return path;
}

/** A WAV of a 440 Hz tone (16 kHz mono), made with ffmpeg: a recording with no words in it. */
export async function makeToneWav(path: string, seconds = 1): Promise<string> {
  await runTool('ffmpeg', [
    '-y',
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:sample_rate=16000:duration=${seconds}`,
    path,
  ]);
  return path;
}

export interface ShapesVideoOptions {
  /** Seconds of the red circle, then of the blue square (default 4 each). */
  secondsEach?: number;
  /** Frames per second (default 10). */
  fps?: number;
  /** Add an audio track (a 440 Hz tone for the whole video). */
  audio?: boolean;
  /** Cues muxed in as an embedded mov_text subtitle track (mp4). */
  embeddedSubtitles?: readonly Cue[];
}

/** An H.264 MP4: a red circle for the first `secondsEach` seconds, then a blue square. */
export async function makeShapesVideo(
  path: string,
  workDir: string,
  options: ShapesVideoOptions = {},
): Promise<string> {
  const each = options.secondsEach ?? 4;
  const fps = options.fps ?? 10;
  const red = join(workDir, 'red-circle.png');
  const blue = join(workDir, 'blue-square.png');
  await writeFile(red, await drawShapePng('circle', 'red'));
  await writeFile(blue, await drawShapePng('square', 'blue'));
  const args = ['-y', '-hide_banner', '-loglevel', 'error'];
  for (const picture of [red, blue])
    args.push('-loop', '1', '-framerate', String(fps), '-t', String(each), '-i', picture);
  let next = 2;
  const maps = ['-map', '[v]'];
  if (options.audio) {
    args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=16000:duration=${each * 2}`);
    maps.push('-map', `${next++}:a`);
  }
  if (options.embeddedSubtitles) {
    const srt = join(workDir, 'embedded.srt');
    await writeFile(srt, toSrt(options.embeddedSubtitles));
    args.push('-i', srt);
    maps.push('-map', `${next++}:s`);
  }
  args.push('-filter_complex', '[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p[v]', ...maps);
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-r', String(fps));
  if (options.audio) args.push('-c:a', 'aac');
  if (options.embeddedSubtitles) args.push('-c:s', 'mov_text');
  args.push(path);
  await runTool('ffmpeg', args);
  return path;
}
