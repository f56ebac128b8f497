import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { TranscriptSegment } from '../../enrich/types.js';
import { MmragError } from '../../errors.js';
import { decodeAudio16kMono, type MediaInfo, probeMedia } from '../../media/ffmpeg.js';
import type { TextItemDraft } from '../../types.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { formatTimestamp } from '../subtitles.js';
import { subtitleSegments, transcriptItems } from './subtitles.js';

export const AUDIO_EXTENSIONS = ['.mp3', '.wav', '.m4a', '.ogg', '.flac', '.opus', '.aac'] as const;

/** Subtitle files larger than this beside a recording are not read (a real one is well under 1 MB an hour). */
const MAX_SIDECAR_BYTES = 32 * 1024 * 1024;

/**
 * Rank of a file name as the subtitles of the recording whose name without extension is `stem`: `talk.vtt`,
 * then `talk.srt`, then `talk.<language>.vtt|srt` (English first); undefined when it is not one.
 */
export function sidecarRank(stem: string, fileName: string): number | undefined {
  if (!fileName.startsWith(`${stem}.`)) return undefined;
  const rest = fileName.slice(stem.length + 1);
  const match = /^(?:([A-Za-z0-9_-]{1,20})\.)?(vtt|srt)$/i.exec(rest);
  if (!match) return undefined;
  const format = match[2]!.toLowerCase() === 'vtt' ? 0 : 1;
  const language = match[1]?.toLowerCase();
  if (language === undefined) return format;
  const english = language === 'en' || language.startsWith('en-') || language.startsWith('en_');
  return (english ? 2 : 4) + format;
}

/** The subtitle file beside a recording (`talk.mp3` -> `talk.vtt`, `talk.srt`, `talk.en.vtt`, ...), if any. */
export async function findSidecarSubtitles(mediaPath: string): Promise<string | undefined> {
  const folder = dirname(mediaPath);
  const stem = basename(mediaPath, extname(mediaPath));
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return undefined;
  }
  const ranked = names
    .map((name) => ({ name, rank: sidecarRank(stem, name) }))
    .filter((c): c is { name: string; rank: number } => c.rank !== undefined)
    .sort((a, b) => a.rank - b.rank || a.name.localeCompare(b.name));
  return ranked[0] ? join(folder, ranked[0].name) : undefined;
}

/** Timed segments of a subtitle file beside a recording. */
export async function readSidecarSegments(subtitlePath: string): Promise<TranscriptSegment[]> {
  const info = await stat(subtitlePath);
  if (info.size > MAX_SIDECAR_BYTES) {
    throw new MmragError(
      `${subtitlePath}: subtitle file of ${info.size} bytes is too large`,
      undefined,
      'too_large',
    );
  }
  return subtitleSegments(new Uint8Array(await readFile(subtitlePath)), subtitlePath);
}

/** Refuse recordings longer than the limit, before decoding anything. */
export function checkDuration(info: MediaInfo, path: string, maxSeconds: number): void {
  if (info.duration > maxSeconds) {
    throw new MmragError(
      `${path}: recording is ${formatTimestamp(info.duration)} long, over the limit of ${formatTimestamp(maxSeconds)}`,
      'Raise ingest.maxDurationSeconds if the recording is genuine.',
      'too_large',
    );
  }
}

export function noTranscriptError(path: string): MmragError {
  const stem = basename(path, extname(path));
  return new MmragError(
    `${path}: no transcript: enable transcription or add ${stem}.vtt beside it`,
    'Turn on transcription (Whisper, or an OpenAI-compatible transcription server), or put a WebVTT/SRT file named like the recording next to it.',
    'no_transcript',
  );
}

/** Decode the first audio track and transcribe it with the context's transcriber. */
export async function transcribeRecording(
  path: string,
  context: LoaderContext,
): Promise<TranscriptSegment[]> {
  if (!context.transcriber) throw noTranscriptError(path);
  const samples = await decodeAudio16kMono(path, {
    maxSeconds: context.limits.maxDurationSeconds,
    signal: context.signal,
  });
  return context.transcriber.transcribe(samples, context.signal);
}

/**
 * Recordings: a subtitle file beside the recording is used as the transcript when present; otherwise the
 * audio is decoded with ffmpeg and transcribed. Transcript segments become timed text items.
 */
export class AudioLoader implements Loader {
  readonly type = 'audio' as const;

  async load(input: LoaderInput, context: LoaderContext): Promise<TextItemDraft[]> {
    const title = basename(input.path);
    const sidecar = await findSidecarSubtitles(input.path);
    if (sidecar) return transcriptItems(await readSidecarSegments(sidecar), title, context.chunkSize);
    if (!context.transcriber) throw noTranscriptError(input.path);
    const info = await probeMedia(input.path, { signal: context.signal });
    checkDuration(info, input.path, context.limits.maxDurationSeconds);
    if (!info.hasAudio)
      throw new MmragError(`${input.path}: the file has no audio track`, undefined, 'bad_media');
    const segments = await transcribeRecording(input.path, context);
    if (segments.length === 0) context.warn(`${input.path}: no speech recognised`);
    return transcriptItems(segments, title, context.chunkSize);
  }
}
