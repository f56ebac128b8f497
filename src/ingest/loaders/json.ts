import { basename, extname } from 'node:path';
import { errorMessage, MmragError } from '../../errors.js';
import type { ItemDraft } from '../../types.js';
import { chunkText } from '../chunk.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { decodeTextFile } from '../text-decode.js';

export const JSON_EXTENSIONS: ReadonlySet<string> = new Set(['.json', '.jsonl', '.ndjson']);

/** Deepest nesting of arrays and objects accepted; deeper documents are refused, not truncated. */
export const MAX_JSON_DEPTH = 256;

export interface FlattenLimits {
  /** Leaf values kept per file. */
  maxValues: number;
  /** Characters of flattened text kept per file. */
  maxChars: number;
}

export const DEFAULT_FLATTEN_LIMITS: FlattenLimits = { maxValues: 1_000_000, maxChars: 50_000_000 };

/** One leaf of a JSON document: its key path and its value as text. */
export interface JsonLine {
  path: string;
  value: string;
}

/**
 * Deepest nesting of `[`/`{` outside strings, by a linear scan (no recursion, so any depth is safe). Used
 * before `JSON.parse`, which accepts very deep input that later recursive steps could not handle.
 */
export function jsonNesting(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** `parent.key`, or `parent["odd key"]` when the key is not a plain name; `parent[3]` for indices. */
export function keyPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (PLAIN_KEY.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

function scalarText(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\s+/g, ' ').trim();
  return value === null ? 'null' : String(value);
}

export interface FlattenState {
  values: number;
  chars: number;
  /** Set when a limit stopped the flattening. */
  truncated: boolean;
}

/**
 * Leaves of a parsed JSON value in document order, as key paths (`user.address.city`,
 * `items[3].name`), iteratively (an explicit stack, no recursion). Empty arrays and objects are kept as
 * `[]` and `{}`. Stops, setting `state.truncated`, when `limits` are reached.
 */
export function flattenJson(
  value: unknown,
  rootPath: string,
  limits: FlattenLimits = DEFAULT_FLATTEN_LIMITS,
  state: FlattenState = { values: 0, chars: 0, truncated: false },
): JsonLine[] {
  const out: JsonLine[] = [];
  const stack: [string, unknown][] = [[rootPath, value]];
  while (stack.length > 0) {
    const [path, node] = stack.pop()!;
    let text: string | undefined;
    if (Array.isArray(node)) {
      if (node.length === 0) text = '[]';
      for (let i = node.length - 1; i >= 0; i--) stack.push([keyPath(path, i), node[i]]);
    } else if (node !== null && typeof node === 'object') {
      const entries = Object.entries(node);
      if (entries.length === 0) text = '{}';
      for (let i = entries.length - 1; i >= 0; i--)
        stack.push([keyPath(path, entries[i]![0]), entries[i]![1]]);
    } else {
      text = scalarText(node);
    }
    if (text === undefined) continue;
    if (state.values + 1 > limits.maxValues || state.chars + path.length + text.length > limits.maxChars) {
      state.truncated = true;
      break;
    }
    state.values++;
    state.chars += path.length + text.length;
    out.push({ path, value: text });
  }
  return out;
}

/**
 * Group one section's lines (`path: value`) into chunks of at most `size` characters, cut only between
 * lines; a line longer than `size` is split at spaces with its path repeated on every piece.
 */
export function packJsonLines(lines: JsonLine[], size: number): string[] {
  const width = Math.max(1, Math.floor(size));
  const chunks: string[] = [];
  let current = '';
  for (const { path, value } of lines) {
    const line = path ? `${path}: ${value}` : value;
    if (line.length > width) {
      if (current) chunks.push(current);
      current = '';
      const prefix = path ? `${path}: ` : '';
      const room = Math.max(width - prefix.length, Math.floor(width / 2));
      for (const piece of chunkText(value, room, 0)) chunks.push(`${prefix}${piece}`);
      continue;
    }
    if (current && current.length + 1 + line.length > width) {
      chunks.push(current);
      current = '';
    }
    current = current ? `${current}\n${line}` : line;
  }
  if (current) chunks.push(current);
  return chunks;
}

export interface JsonSection {
  section: string;
  lines: JsonLine[];
}

/** Sections of a parsed JSON document: one per top-level key (or array element); a scalar is one. */
export function jsonSections(
  value: unknown,
  fallback: string,
  limits?: FlattenLimits,
  state?: FlattenState,
): JsonSection[] {
  const st = state ?? { values: 0, chars: 0, truncated: false };
  const sections: JsonSection[] = [];
  const parts: [string, unknown][] = Array.isArray(value)
    ? value.map((element, i): [string, unknown] => [keyPath('', i), element])
    : value !== null && typeof value === 'object'
      ? Object.entries(value).map(([key, element]): [string, unknown] => [keyPath('', key), element])
      : [];
  if (parts.length === 0) {
    const lines = flattenJson(value, '', limits, st);
    return lines.length > 0 ? [{ section: fallback, lines }] : [];
  }
  for (const [path, element] of parts) {
    if (st.truncated) break;
    const lines = flattenJson(element, path, limits, st);
    if (lines.length > 0) sections.push({ section: path, lines });
  }
  return sections;
}

function tooDeep(path: string, where: string): MmragError {
  return new MmragError(
    `${path}: ${where}JSON is nested more than ${MAX_JSON_DEPTH} levels deep`,
    'Such data is not readable as key paths; flatten or split it before ingesting.',
    'too_deep',
  );
}

/** `JSON.parse` with the nesting bound and errors that name the file (and line, for JSONL). */
export function parseJsonText(text: string, path: string, where = ''): unknown {
  if (jsonNesting(text) > MAX_JSON_DEPTH) throw tooDeep(path, where);
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep(path, where);
    throw new MmragError(
      `${path}: ${where}not valid JSON (${errorMessage(err)})`,
      'Fix the file, or exclude it from the ingest.',
      'bad_json',
      { cause: err },
    );
  }
}

interface ParsedLines {
  sections: { section: string; value: unknown }[];
  errors: string[];
}

function parseJsonLines(text: string, path: string): ParsedLines {
  const sections: ParsedLines['sections'] = [];
  const errors: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      sections.push({ section: `line ${i + 1}`, value: parseJsonText(line, path, `line ${i + 1}: `) });
    } catch (err) {
      errors.push(errorMessage(err));
    }
  }
  return { sections, errors };
}

/**
 * JSON (`.json`) and JSON Lines (`.jsonl`, `.ndjson`) flattened into readable key paths
 * (`user.address.city: Paris`, `items[3].name: ...`), grouped into chunks per top-level key (or array
 * element, or JSONL line). Nesting deeper than MAX_JSON_DEPTH fails the file; a bad JSONL line is reported
 * and skipped; very large documents are cut at DEFAULT_FLATTEN_LIMITS with a warning. A `.json` file that
 * is really JSON Lines is read as such.
 */
export class JsonLoader implements Loader {
  readonly type = 'json' as const;

  constructor(private readonly limits: FlattenLimits = DEFAULT_FLATTEN_LIMITS) {}

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    const { text } = decodeTextFile(input.bytes, input.path);
    const name = basename(input.path);
    const state: FlattenState = { values: 0, chars: 0, truncated: false };
    const sections: JsonSection[] = [];
    if (!text.trim()) return [];

    let lines: ParsedLines | undefined;
    if (extname(name).toLowerCase() === '.json') {
      try {
        sections.push(...jsonSections(parseJsonText(text, input.path), name, this.limits, state));
      } catch (err) {
        const asLines =
          err instanceof MmragError && err.code === 'bad_json' ? parseJsonLines(text, input.path) : undefined;
        if (!asLines || asLines.errors.length > 0 || asLines.sections.length < 2) throw err;
        lines = asLines;
      }
    } else {
      lines = parseJsonLines(text, input.path);
      if (lines.sections.length === 0) {
        throw new MmragError(
          `${input.path}: no line is valid JSON (${lines.errors[0] ?? 'empty'})`,
          'JSON Lines files hold one JSON value per line; fix the file or exclude it.',
          'bad_json',
        );
      }
      for (const message of lines.errors.slice(0, 5)) ctx.warn(`${message}; line skipped`);
      if (lines.errors.length > 5)
        ctx.warn(`${input.path}: ${lines.errors.length - 5} more bad lines skipped`);
    }
    if (lines) {
      for (const { section, value } of lines.sections) {
        if (state.truncated) break;
        const flat = flattenJson(value, '', this.limits, state);
        if (flat.length > 0) sections.push({ section, lines: flat });
      }
    }
    if (state.truncated) {
      ctx.warn(
        `${input.path}: only the first ${state.values} values were kept (limit ${this.limits.maxValues} values, ${this.limits.maxChars} characters)`,
      );
    }

    const items: ItemDraft[] = [];
    for (const { section, lines: flat } of sections) {
      for (const chunk of packJsonLines(flat, ctx.chunkSize)) {
        items.push({ modality: 'text', title: name, section, text: chunk });
      }
    }
    return items;
  }
}
