import { basename, extname } from 'node:path';
import type { ItemDraft } from '../../types.js';
import { chunkText } from '../chunk.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { decodeTextFile } from '../text-decode.js';

/** Prose read as paragraphs (`.log` is line-oriented and chunked like code). */
export const TEXT_EXTENSIONS: ReadonlySet<string> = new Set([
  '.txt',
  '.text',
  '.log',
  '.rst',
  '.adoc',
  '.org',
  '.tex',
]);

/** Source code and configuration: chunked at blank lines and line ends. */
export const CODE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.ts',
  '.tsx',
  '.mts',
  '.cts',
  '.js',
  '.jsx',
  '.mjs',
  '.cjs',
  '.py',
  '.pyi',
  '.go',
  '.rs',
  '.java',
  '.kt',
  '.kts',
  '.scala',
  '.groovy',
  '.gradle',
  '.c',
  '.h',
  '.cpp',
  '.cc',
  '.cxx',
  '.hpp',
  '.hh',
  '.hxx',
  '.cs',
  '.fs',
  '.m',
  '.mm',
  '.swift',
  '.rb',
  '.php',
  '.pl',
  '.pm',
  '.lua',
  '.r',
  '.jl',
  '.dart',
  '.ex',
  '.exs',
  '.erl',
  '.hs',
  '.ml',
  '.clj',
  '.elm',
  '.zig',
  '.nim',
  '.v',
  '.sh',
  '.bash',
  '.zsh',
  '.fish',
  '.ps1',
  '.bat',
  '.cmd',
  '.sql',
  '.css',
  '.scss',
  '.sass',
  '.less',
  '.vue',
  '.svelte',
  '.graphql',
  '.proto',
  '.tf',
  '.hcl',
  '.cmake',
  '.mk',
  '.yaml',
  '.yml',
  '.toml',
  '.ini',
  '.cfg',
  '.conf',
  '.properties',
  '.xml',
  '.xsd',
  '.dtd',
]);

/** Extension-less files that are code. */
export const CODE_FILE_NAMES: ReadonlySet<string> = new Set([
  'Makefile',
  'GNUmakefile',
  'Dockerfile',
  'Containerfile',
  'Rakefile',
  'Gemfile',
  'Jenkinsfile',
  'Vagrantfile',
  'CMakeLists.txt',
]);

/** How a file's text is cut into chunks. */
export type TextLayout = 'prose' | 'lines';

/** A piece of a section: prose is re-flowed, lines (code, tables, lists, logs) keep their line breaks. */
export interface TextBlock {
  text: string;
  kind: TextLayout;
}

/** `lines` for source code, configuration and logs; `prose` for everything else. */
export function layoutOf(path: string): TextLayout {
  const name = basename(path);
  const ext = extname(name).toLowerCase();
  return CODE_FILE_NAMES.has(name) || CODE_EXTENSIONS.has(ext) || ext === '.log' ? 'lines' : 'prose';
}

function clampOverlap(overlap: number): number {
  return Number.isFinite(overlap) ? Math.min(Math.max(overlap, 0), 0.9) : 0;
}

function trimBlankLines(lines: string[]): string[] {
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start] === '') start++;
  while (end > start && lines[end - 1] === '') end--;
  return lines.slice(start, end);
}

/**
 * Chunk line-structured text (code, tables, logs) without cutting lines:
 * 1. A chunk takes as many whole lines as fit in `size` characters (line breaks count).
 * 2. If more lines follow, the cut moves back to the last blank line inside the chunk when that keeps at
 *    least half of `size`, so functions and paragraphs of code stay together.
 * 3. The next chunk starts after the blank line (no overlap: the blank line is a natural boundary), or,
 *    after a cut at an ordinary line end, repeats the last whole lines that fit in `overlap * size`.
 * 4. A single line longer than `size` is split with `chunkText` (at spaces).
 * Trailing spaces are removed; blank lines at a chunk's edges are dropped.
 */
export function chunkLines(text: string, size: number, overlap: number): string[] {
  const lines = text.split('\n').map((line) => line.trimEnd());
  const width = Math.max(1, Math.floor(size));
  const back = Math.floor(width * clampOverlap(overlap));
  const chunks: string[] = [];
  let i = 0;
  while (i < lines.length) {
    while (i < lines.length && lines[i] === '') i++;
    if (i >= lines.length) break;
    const first = lines[i]!;
    if (first.length > width) {
      chunks.push(...chunkText(first, width, overlap));
      i++;
      continue;
    }
    let j = i;
    let used = 0;
    while (j < lines.length) {
      const add = (j > i ? 1 : 0) + lines[j]!.length;
      if (used + add > width) break;
      used += add;
      j++;
    }
    let end = j;
    let atBlank = j < lines.length && lines[j] === '';
    if (j < lines.length && !atBlank) {
      for (let b = j - 1; b > i; b--) {
        if (lines[b] !== '') continue;
        if (lines.slice(i, b).join('\n').length >= width / 2) {
          end = b;
          atBlank = true;
        }
        break;
      }
    }
    const chunk = trimBlankLines(lines.slice(i, end)).join('\n');
    if (chunk) chunks.push(chunk);
    if (end >= lines.length) break;
    if (atBlank) {
      i = end + 1;
      continue;
    }
    let next = end;
    let kept = 0;
    while (next - 1 > i) {
      const length = lines[next - 1]!.length + 1;
      if (kept + length > back) break;
      kept += length;
      next--;
    }
    i = next;
  }
  return chunks;
}

/**
 * Group a section's blocks into chunks of at most `size` characters, joined by blank lines, so short
 * paragraphs are merged with their neighbours instead of being dropped. A block longer than `size` is cut
 * on its own (`chunkText` for prose, `chunkLines` for lines); text gathered before it that is shorter than
 * `minLength` (a lead-in such as "Example:") is cut together with it rather than left alone.
 */
export function packBlocks(blocks: TextBlock[], size: number, overlap: number, minLength: number): string[] {
  const width = Math.max(1, Math.floor(size));
  const out: string[] = [];
  let current = '';
  let currentKind: TextLayout = 'prose';
  for (const block of blocks) {
    const body =
      block.kind === 'prose'
        ? block.text.replace(/\s+/g, ' ').trim()
        : trimBlankLines(block.text.split('\n').map((line) => line.trimEnd())).join('\n');
    if (!body) continue;
    if (body.length > width) {
      let whole = body;
      let kind = block.kind;
      if (current && current.length < minLength) {
        whole = `${current}\n\n${body}`;
        if (currentKind === 'lines') kind = 'lines';
      } else if (current) {
        out.push(current);
      }
      current = '';
      out.push(...(kind === 'prose' ? chunkText(whole, width, overlap) : chunkLines(whole, width, overlap)));
      continue;
    }
    if (current && current.length + 2 + body.length > width) {
      out.push(current);
      current = '';
    }
    if (current) {
      current = `${current}\n\n${body}`;
      if (block.kind === 'lines') currentKind = 'lines';
    } else {
      current = body;
      currentKind = block.kind;
    }
  }
  if (current) out.push(current);
  return out;
}

/** Paragraphs: runs of non-blank lines. */
export function splitParagraphs(text: string): string[] {
  return text
    .split(/\n[ \t]*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph.length > 0);
}

const RST_ADORNMENT = /^([=\-~^"'`#*+:._!$%&,;<>?@|/\\])\1{2,}\s*$/;

export interface TextSection {
  section: string;
  blocks: TextBlock[];
}

/**
 * reStructuredText sections: a title line underlined (and optionally overlined) by a run of one punctuation
 * character at least as long as the title. Text before the first title belongs to `fallback`.
 */
export function splitRstSections(text: string, fallback: string): TextSection[] {
  const lines = text.split('\n');
  const sections: TextSection[] = [];
  let current: TextSection = { section: fallback, blocks: [] };
  let paragraph: string[] = [];
  const endParagraph = () => {
    if (paragraph.length > 0) current.blocks.push({ text: paragraph.join('\n'), kind: 'prose' });
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const next = lines[i + 1];
    const title = line.trim();
    const isTitle =
      title !== '' &&
      !RST_ADORNMENT.test(line) &&
      next !== undefined &&
      RST_ADORNMENT.test(next) &&
      next.trim().length >= title.length &&
      paragraph.length === 0;
    if (isTitle) {
      if (current.blocks.length > 0) sections.push(current);
      current = { section: title, blocks: [] };
      i++;
      continue;
    }
    if (title === '' || RST_ADORNMENT.test(line)) {
      endParagraph();
      continue;
    }
    paragraph.push(line);
  }
  endParagraph();
  if (current.blocks.length > 0) sections.push(current);
  return sections;
}

function draftsFor(title: string, sections: TextSection[], ctx: LoaderContext): ItemDraft[] {
  const items: ItemDraft[] = [];
  for (const { section, blocks } of sections) {
    for (const text of packBlocks(blocks, ctx.chunkSize, ctx.chunkOverlap, ctx.minTextLength)) {
      items.push({ modality: 'text', title, section, text });
    }
  }
  return items;
}

/**
 * Plain text, logs, reStructuredText and source code. Title = the file name. Code, configuration and logs
 * keep their lines (section = the file name); prose is cut into paragraphs (section = the file name, or
 * the reStructuredText section title).
 */
export class TextLoader implements Loader {
  readonly type = 'text' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    const { text } = decodeTextFile(input.bytes, input.path);
    const name = basename(input.path);
    if (layoutOf(input.path) === 'lines') {
      return draftsFor(name, [{ section: name, blocks: [{ text, kind: 'lines' }] }], ctx);
    }
    if (extname(name).toLowerCase() === '.rst') return draftsFor(name, splitRstSections(text, name), ctx);
    const blocks = splitParagraphs(text).map((paragraph): TextBlock => ({ text: paragraph, kind: 'prose' }));
    return draftsFor(name, [{ section: name, blocks }], ctx);
  }
}
