/**
 * WebVTT and SRT parsing, and grouping of timed cues into chunks of text (pure functions).
 *
 * Both formats are blocks separated by blank lines; a cue block has an optional id line, one timing line
 * `start --> end [settings]` and one or more text lines. WebVTT adds a `WEBVTT` header and NOTE, STYLE and
 * REGION blocks (skipped), cue settings after the end time (ignored) and inline tags (`<v Speaker>`, `<b>`,
 * `<c.class>`, `<00:00:01.000>`), which are removed, keeping the speaker's name as `Speaker: `.
 */
import type { TranscriptSegment } from '../enrich/types.js';
import { chunkText } from './chunk.js';

const TIMESTAMP = /^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$/;

/** Seconds from `hh:mm:ss.mmm`, `mm:ss.mmm` or SRT's `hh:mm:ss,mmm` (milliseconds optional); undefined if malformed. */
export function parseTimestamp(text: string): number | undefined {
  const match = TIMESTAMP.exec(text.trim());
  if (!match) return undefined;
  const hours = match[1] ? Number(match[1]) : 0;
  const minutes = Number(match[2]);
  const seconds = Number(match[3]);
  if (minutes > 59 || seconds > 59) return undefined;
  // "1.5" means 500 ms: the fraction is decimal digits, padded on the right.
  const millis = match[4] ? Number(match[4].padEnd(3, '0')) : 0;
  return hours * 3600 + minutes * 60 + seconds + millis / 1000;
}

/** Times as `m:ss` and ranges as `0:42-1:05` (section names of timed text). */
export { formatTime as formatTimestamp, formatTimeRange } from '../location.js';

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  lrm: '',
  rlm: '',
};

/** Cue text without markup: speaker tags become `Name: `, other tags and ASS overrides (`{\an8}`) go. */
export function cleanCueText(raw: string): string {
  return raw
    .replace(/<v(?:\.[^\s>]*)?\s+([^>]+)>/gi, (_, speaker: string) => `${speaker.trim()}: `)
    .replace(/<[^>]*>/g, '')
    .replace(/\{\\[^}]*\}/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity: string, name: string) => {
      if (name.startsWith('#x') || name.startsWith('#X'))
        return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
      if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
      return ENTITIES[name.toLowerCase()] ?? entity;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

function parseTimingLine(line: string): { start: number; end: number } | undefined {
  const arrow = line.indexOf('-->');
  if (arrow < 0) return undefined;
  const start = parseTimestamp(line.slice(0, arrow));
  // After the end time WebVTT allows cue settings (`align:start position:10%`).
  const endToken = line
    .slice(arrow + 3)
    .trim()
    .split(/\s+/)[0];
  const end = endToken === undefined ? undefined : parseTimestamp(endToken);
  if (start === undefined || end === undefined) return undefined;
  return { start, end: Math.max(start, end) };
}

/**
 * Timed cues of a WebVTT or SRT file, in order of start time (stable for equal starts). Blocks without a
 * valid timing line (the header, NOTE/STYLE/REGION blocks, stray text) and cues without text are skipped.
 */
export function parseSubtitles(text: string): TranscriptSegment[] {
  const blocks = text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/);
  const cues: TranscriptSegment[] = [];
  for (const block of blocks) {
    const lines = block.replace(/^(?:[ \t]*\n)+/, '').split('\n');
    const first = lines[0]?.trim() ?? '';
    if (/^(WEBVTT|NOTE|STYLE|REGION)(\s|$)/.test(first) && !first.includes('-->')) continue;
    const timingIndex = lines.findIndex((line) => line.includes('-->'));
    // The timing line is the first or second line (after a cue id or SRT index); later arrows are text.
    if (timingIndex < 0 || timingIndex > 1) continue;
    const timing = parseTimingLine(lines[timingIndex]!);
    if (!timing) continue;
    const cueText = cleanCueText(lines.slice(timingIndex + 1).join('\n'));
    if (cueText === '') continue;
    cues.push({ start: timing.start, end: timing.end, text: cueText });
  }
  return cues
    .map((cue, index) => ({ cue, index }))
    .sort((a, b) => a.cue.start - b.cue.start || a.index - b.index)
    .map(({ cue }) => cue);
}

/**
 * Merge consecutive segments into chunks of at most `maxChars` characters (joined by a space), each spanning
 * from its first segment's start to its last segment's end. A single segment longer than `maxChars` is split
 * at spaces; its pieces all keep the segment's own start and end (where inside it each piece falls is not
 * known).
 */
export function groupSegments(segments: readonly TranscriptSegment[], maxChars: number): TranscriptSegment[] {
  const limit = Math.max(1, Math.floor(maxChars));
  const groups: TranscriptSegment[] = [];
  let current: TranscriptSegment | undefined;
  const flush = () => {
    if (current) groups.push(current);
    current = undefined;
  };
  for (const segment of segments) {
    const text = segment.text.replace(/\s+/g, ' ').trim();
    if (text === '') continue;
    if (text.length > limit) {
      flush();
      for (const piece of chunkText(text, limit, 0))
        groups.push({ start: segment.start, end: segment.end, text: piece });
      continue;
    }
    if (current && current.text.length + 1 + text.length <= limit) {
      current = {
        start: current.start,
        end: Math.max(current.end, segment.end),
        text: `${current.text} ${text}`,
      };
    } else {
      flush();
      current = { start: segment.start, end: segment.end, text };
    }
  }
  flush();
  return groups;
}

/** Text of the segments that overlap `[start, end)`, joined by spaces. */
export function textBetween(segments: readonly TranscriptSegment[], start: number, end: number): string {
  return segments
    .filter((segment) => segment.start < end && segment.end > start)
    .map((segment) => segment.text.trim())
    .filter((text) => text !== '')
    .join(' ');
}
