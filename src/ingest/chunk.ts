/**
 * Split text into overlapping chunks the way the reference pipeline does (~256 characters, 25% overlap,
 * cut at a space).
 *
 * Exact semantics:
 * 1. Whitespace runs (spaces, tabs, newlines, ...) collapse to one space and the text is trimmed. Empty
 *    text gives no chunk; text of at most `size` characters gives exactly one chunk.
 * 2. A chunk starts at `start` (always a word start, except inside a hard-cut word, see 4) and would end
 *    at `limit = start + size`. If the rest of the text fits (`length - start <= size`) it is the last chunk.
 * 3. Otherwise the chunk is cut back to the last space in `(start, limit]`, so no word is split and no
 *    chunk is longer than `size`. The space itself belongs to neither chunk.
 * 4. If there is no such space (one word longer than `size`), the chunk is cut hard at `limit`.
 * 5. The next chunk starts `back = floor(size * overlap)` characters (at most `size - 1`) before the
 *    previous chunk's end, moved forward to the first word start at or after that point (and after the
 *    previous start). If no word starts there before the previous chunk's end: after a hard cut the next
 *    chunk starts exactly `back` characters before the cut (continuing the split word); otherwise it starts
 *    at the word right after the previous chunk (no overlap is possible without repeating the whole chunk).
 * 6. A chunk that would end where the previous one ended (all its words already in the previous chunk,
 *    because the word after them does not fit) is not emitted; the next chunk starts right after the
 *    previous one instead.
 * Every step moves `start` forward by at least one character, so it terminates for every input.
 */
export function chunkText(text: string, size = 256, overlap = 0.25): string[] {
  return chunkSpans(text, size, overlap).map((span) => span.text);
}

/** A chunk and where it lies in the text with its whitespace collapsed (`collapseWhitespace`): `[start, end)`. */
export interface ChunkSpan {
  text: string;
  start: number;
  end: number;
}

/** Whitespace runs as one space, trimmed: the text `chunkSpans` offsets refer to. */
export function collapseWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** `chunkText` with each chunk's place, so that a chunk can be traced back to what it was made from. */
export function chunkSpans(text: string, size = 256, overlap = 0.25): ChunkSpan[] {
  const clean = collapseWhitespace(text);
  if (clean.length === 0) return [];
  const width = Math.max(1, Math.floor(size));
  if (clean.length <= width) return [{ text: clean, start: 0, end: clean.length }];
  const ratio = Number.isFinite(overlap) ? Math.min(Math.max(overlap, 0), 1) : 0;
  const back = Math.min(width - 1, Math.floor(width * ratio));

  const chunks: ChunkSpan[] = [];
  let start = 0;
  let previousEnd = 0;
  while (start < clean.length) {
    if (clean.length - start <= width) {
      chunks.push({ text: clean.slice(start), start, end: clean.length });
      break;
    }
    const limit = start + width;
    let end: number;
    let hardCut = false;
    if (clean[limit] === ' ') {
      end = limit;
    } else {
      const space = clean.lastIndexOf(' ', limit - 1);
      if (space > start) {
        end = space;
      } else {
        end = limit;
        hardCut = true;
      }
    }
    if (end <= previousEnd) {
      start = previousEnd + 1;
      continue;
    }
    chunks.push({ text: clean.slice(start, end), start, end });
    previousEnd = end;

    const from = Math.max(end - back, start + 1);
    const next = firstWordStart(clean, from, end);
    if (next !== -1) start = next;
    else if (hardCut) start = from;
    else start = end + 1;
  }
  return chunks;
}

/** First index in [from, before) where a word starts (a non-space after a space), or -1. */
function firstWordStart(text: string, from: number, before: number): number {
  for (let i = Math.max(from, 1); i < before; i++) {
    if (text[i] !== ' ' && text[i - 1] === ' ') return i;
  }
  return -1;
}
