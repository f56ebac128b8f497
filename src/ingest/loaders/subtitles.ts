import { basename } from 'node:path';
import type { TranscriptSegment } from '../../enrich/types.js';
import { MmragError } from '../../errors.js';
import type { TextItemDraft } from '../../types.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { formatTimeRange, groupSegments, parseSubtitles } from '../subtitles.js';
import { decodeTextFile } from '../text-decode.js';

/** Timed text items from transcript segments: grouped to about `chunkSize` characters, section `0:42-1:05`. */
export function transcriptItems(
  segments: readonly TranscriptSegment[],
  title: string,
  chunkSize: number,
): TextItemDraft[] {
  return groupSegments(segments, chunkSize).map((group) => ({
    modality: 'text',
    title,
    section: formatTimeRange(group.start, group.end),
    text: group.text,
    location: { start: round3(group.start), end: round3(group.end) },
  }));
}

/** Milliseconds are the precision of subtitle files; float noise beyond that only clutters citations. */
export function round3(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** Parse subtitle file bytes (any text encoding), refusing a file with no cue. */
export function subtitleSegments(bytes: Uint8Array, path: string): TranscriptSegment[] {
  const { text } = decodeTextFile(bytes, path);
  const segments = parseSubtitles(text);
  if (segments.length === 0) {
    throw new MmragError(
      `${path}: no subtitle cue found`,
      'A WebVTT or SRT file needs lines like "00:00:01.000 --> 00:00:04.000" followed by text.',
      'bad_subtitles',
    );
  }
  return segments;
}

/** WebVTT and SRT files on their own: timed text items. */
export class SubtitlesLoader implements Loader {
  readonly type = 'subtitles' as const;

  async load(input: LoaderInput, context: LoaderContext): Promise<TextItemDraft[]> {
    return transcriptItems(
      subtitleSegments(input.bytes, input.path),
      basename(input.path),
      context.chunkSize,
    );
  }
}
