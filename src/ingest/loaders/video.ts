import { basename, extname } from 'node:path';
import type { TranscriptSegment } from '../../enrich/types.js';
import { errorMessage, MmragError } from '../../errors.js';
import { extractFrames, extractSubtitleTrack, type MediaInfo, probeMedia } from '../../media/ffmpeg.js';
import { dedupeFrames, frameSignature } from '../../media/keyframes.js';
import type { ImageItemDraft, ItemDraft } from '../../types.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { formatTimeRange, formatTimestamp, parseSubtitles, textBetween } from '../subtitles.js';
import { checkDuration, findSidecarSubtitles, readSidecarSegments, transcribeRecording } from './audio.js';
import { round3, transcriptItems } from './subtitles.js';

export const VIDEO_EXTENSIONS = ['.mp4', '.mov', '.webm', '.mkv', '.avi'] as const;

export interface VideoLoaderOptions {
  /** A keyframe at least this often, in seconds (default 5; stretched for long videos, see maxFrames). */
  everySeconds?: number;
  /** ffmpeg scene-change score (0..1) above which a frame is taken too (default 0.3). */
  sceneThreshold?: number;
  /** Most frames taken from one video (default 300). */
  maxFrames?: number;
  /** Width of the stored frames in pixels (default 512; never enlarged). */
  frameWidth?: number;
  /** Frames closer than this to the last kept frame are dropped (mean absolute thumbnail difference, default 0.03). */
  minFrameDistance?: number;
}

/** Spoken text quoted in a frame caption is cut to about this many characters. */
const CAPTION_SPEECH_CHARS = 300;

function truncateAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(' ', max);
  return `${text.slice(0, cut > max / 2 ? cut : max)}…`;
}

export function frameCaption(time: number, fileName: string, spoken: string): string {
  const base = `Frame at ${formatTimestamp(time)} of ${fileName}`;
  return spoken ? `${base}: "${truncateAtWord(spoken, CAPTION_SPEECH_CHARS)}"` : base;
}

/**
 * Videos: keyframes (every N seconds and at scene changes, near-duplicates dropped) as image items timed from
 * their moment to the next keyframe, captioned with the time and what is said then; plus the transcript as
 * timed text items, from a subtitle file beside the video, else an embedded text subtitle track, else the
 * transcribed audio track. A video without an audio track gives frames only.
 */
export class VideoLoader implements Loader {
  readonly type = 'video' as const;
  private readonly options: Required<VideoLoaderOptions>;

  constructor(options: VideoLoaderOptions = {}) {
    this.options = {
      everySeconds: options.everySeconds ?? 5,
      sceneThreshold: options.sceneThreshold ?? 0.3,
      maxFrames: options.maxFrames ?? 300,
      frameWidth: options.frameWidth ?? 512,
      minFrameDistance: options.minFrameDistance ?? 0.03,
    };
  }

  async load(input: LoaderInput, context: LoaderContext): Promise<ItemDraft[]> {
    const title = basename(input.path);
    const info = await probeMedia(input.path, { signal: context.signal });
    checkDuration(info, input.path, context.limits.maxDurationSeconds);
    const segments = await this.transcript(input.path, info, context);
    const frames = info.hasVideo ? await this.keyframes(input.path, info, context, segments) : [];
    if (frames.length === 0 && segments.length === 0) {
      throw new MmragError(
        `${input.path}: nothing to index: no video frames and no transcript`,
        info.hasAudio ? 'Enable transcription or add a subtitle file beside the video.' : undefined,
        'empty',
      );
    }
    return [...frames, ...transcriptItems(segments, title, context.chunkSize)];
  }

  private async transcript(
    path: string,
    info: MediaInfo,
    context: LoaderContext,
  ): Promise<TranscriptSegment[]> {
    const sidecar = await findSidecarSubtitles(path);
    if (sidecar) return readSidecarSegments(sidecar);
    if (info.hasTextSubtitles) {
      try {
        const segments = parseSubtitles(await extractSubtitleTrack(path, { signal: context.signal }));
        if (segments.length > 0) return segments;
      } catch (err) {
        if (context.signal?.aborted) throw err;
        context.warn(`${path}: embedded subtitles unreadable (${errorMessage(err)})`);
      }
    }
    if (!info.hasAudio) return [];
    if (!context.transcriber) {
      const stem = basename(path, extname(path));
      context.warn(`${path}: speech not indexed: enable transcription or add ${stem}.vtt beside it`);
      return [];
    }
    return transcribeRecording(path, context);
  }

  private async keyframes(
    path: string,
    info: MediaInfo,
    context: LoaderContext,
    segments: readonly TranscriptSegment[],
  ): Promise<ImageItemDraft[]> {
    const { maxFrames, minFrameDistance, sceneThreshold, frameWidth } = this.options;
    // Spread the frame budget over long videos, keeping a fifth of it for scene changes.
    const everySeconds = Math.max(this.options.everySeconds, info.duration / (maxFrames * 0.8));
    const raw = await extractFrames(path, {
      everySeconds,
      sceneThreshold,
      maxFrames,
      width: frameWidth,
      maxSeconds: context.limits.maxDurationSeconds,
      signal: context.signal,
    });
    if (raw.length >= maxFrames) {
      const last = raw[raw.length - 1]!.time;
      context.warn(
        `${path}: frame limit of ${maxFrames} reached at ${formatTimestamp(last)}; later frames not indexed`,
      );
    }
    const { decodeToRgb } = await import('../../media/image-decode.js');
    const signed = [];
    for (const frame of raw) {
      const rgb = await decodeToRgb(frame.png, { maxPixels: context.limits.maxImagePixels, maxSide: 64 });
      signed.push({ ...frame, signature: frameSignature(rgb) });
    }
    const kept = dedupeFrames(signed, minFrameDistance);
    const title = basename(path);
    return kept.map((frame, i) => {
      const start = round3(frame.time);
      const end = round3(Math.max(frame.time, kept[i + 1]?.time ?? info.duration));
      return {
        modality: 'image',
        title,
        section: formatTimeRange(start, end),
        caption: frameCaption(start, title, textBetween(segments, start, Math.max(end, start + 0.001))),
        picture: { bytes: frame.png, mime: 'image/png', origin: `${path}#t=${start}` },
        location: { start, end },
      };
    });
  }
}
