/**
 * The `--where` filter language: a conjunction of clauses over an item's source, type, section, title, modality,
 * location and ingest date.
 *
 *   clause   := field op value | field "in" "(" value ("," value)* ")"
 *   filter   := clause (("and" | ",") clause)*
 *   op       := "=" | "!=" | "~" | ">" | ">=" | "<" | "<="
 *   value    := 'quoted' | "quoted" | bare   (bare: up to the next "," or " and ", trimmed)
 *
 * Examples: `type in (pdf, docx) and page >= 3`, `source = report.pdf, start >= 1:30`,
 * `section ~ "rock and roll"`, `ingested >= 2024-05-01`.
 *
 * Semantics:
 * - `=` on `source` matches the stored source exactly or by its trailing path segments (`report.pdf` matches
 *   `/home/me/docs/report.pdf`, `docs/report.pdf` too, but `port.pdf` does not). Paths are case-sensitive.
 * - `=` on other text fields compares case-insensitively; `~` is a case-insensitive substring test.
 * - `>`, `>=`, `<`, `<=` apply to the numeric fields only: page, slide, start, end (seconds, `m:ss` or
 *   `h:mm:ss`) and ingested (an ISO date `2024-05-01` means that whole UTC day; a date-time without an offset
 *   is UTC).
 * - An item without the field (a web page has no `page`) fails every clause on it except `!=`.
 */
import { MmragError } from '../errors.js';
import type { ItemType, Location, Modality } from '../types.js';

export const WHERE_FIELDS = [
  'source',
  'type',
  'section',
  'title',
  'modality',
  'page',
  'slide',
  'sheet',
  'start',
  'end',
  'ingested',
] as const;
export type WhereField = (typeof WHERE_FIELDS)[number];

export const WHERE_OPERATORS = ['=', '!=', '~', '>', '>=', '<', '<=', 'in'] as const;
export type WhereOperator = (typeof WHERE_OPERATORS)[number];

/** Every item type: the loaders' types, and `page` (a page or slide rendered whole). */
const ITEM_TYPES: readonly ItemType[] = [
  'html',
  'pdf',
  'docx',
  'pptx',
  'xlsx',
  'csv',
  'markdown',
  'text',
  'json',
  'image',
  'audio',
  'video',
  'subtitles',
  'page',
];
const MODALITIES: readonly Modality[] = ['text', 'image'];

type TextField = 'source' | 'type' | 'section' | 'title' | 'modality' | 'sheet';
type NumberField = 'page' | 'slide' | 'start' | 'end' | 'ingested';
const NUMBER_FIELDS: readonly WhereField[] = ['page', 'slide', 'start', 'end', 'ingested'];

/** A numeric value as the half-open interval it stands for: a point (`hi === lo`) or a whole day. */
export interface NumberRange {
  lo: number;
  hi: number;
}

export type WhereClause =
  | { field: TextField; op: WhereOperator; values: string[] }
  | { field: NumberField; op: WhereOperator; values: NumberRange[] };

export interface WhereFilter {
  /** The expression as given. */
  readonly expr: string;
  readonly clauses: readonly WhereClause[];
}

/** What a filter looks at: a stored item, or a search hit with its ingest time. */
export interface WhereSubject {
  modality: Modality;
  type: ItemType;
  source: string;
  title: string;
  section: string;
  location?: Location;
  /** Milliseconds since the epoch. */
  ingestedAt?: number;
}

const HINT = `Fields: ${WHERE_FIELDS.join(', ')}. Operators: ${WHERE_OPERATORS.join(' ')} (~ is "contains"; > >= < <= only on page, slide, start, end, ingested). Example: --where "type in (pdf, docx) and page >= 3".`;

function usage(message: string): MmragError {
  return new MmragError(message, HINT, 'usage');
}

const DAY_MS = 86_400_000;

/** Seconds from `90`, `1.5`, `1:30`, `1:02:03` (minutes and seconds below 60 after the first part). */
export function parseTimeSeconds(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const mss = /^(\d+):([0-5]\d)(\.\d+)?$/.exec(text);
  if (mss) return Number(mss[1]) * 60 + Number(mss[2]) + Number(mss[3] ?? 0);
  const hmmss = /^(\d+):([0-5]\d):([0-5]\d)(\.\d+)?$/.exec(text);
  if (hmmss)
    return Number(hmmss[1]) * 3600 + Number(hmmss[2]) * 60 + Number(hmmss[3]) + Number(hmmss[4] ?? 0);
  return undefined;
}

/** An ISO date (the whole UTC day) or date-time (UTC unless it carries an offset) as a millisecond range. */
export function parseIngestDate(text: string): NumberRange | undefined {
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (date) {
    const [y, m, d] = [Number(date[1]), Number(date[2]), Number(date[3])];
    const lo = Date.UTC(y, m - 1, d);
    const check = new Date(lo);
    if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d)
      return undefined;
    return { lo, hi: lo + DAY_MS };
  }
  const dateTime = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(:\d{2}(\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$/i.exec(text);
  if (!dateTime) return undefined;
  if (!parseIngestDate(dateTime[1]!)) return undefined;
  const ms = Date.parse(`${dateTime[1]}T${dateTime[2]}${dateTime[5] ?? 'Z'}`);
  return Number.isFinite(ms) ? { lo: ms, hi: ms } : undefined;
}

function convertValue(field: WhereField, raw: string, part: string): string | NumberRange {
  switch (field) {
    case 'page':
    case 'slide': {
      const n = Number(raw);
      if (raw === '' || !Number.isInteger(n))
        throw usage(`In "${part}": ${field} must be a whole number, got "${raw}".`);
      return { lo: n, hi: n };
    }
    case 'start':
    case 'end': {
      const seconds = parseTimeSeconds(raw);
      if (seconds === undefined)
        throw usage(`In "${part}": ${field} must be a time in seconds, m:ss or h:mm:ss, got "${raw}".`);
      return { lo: seconds, hi: seconds };
    }
    case 'ingested': {
      const range = parseIngestDate(raw);
      if (!range)
        throw usage(
          `In "${part}": ingested must be an ISO date (2024-05-01) or date-time (2024-05-01T14:30Z), got "${raw}".`,
        );
      return range;
    }
    case 'type': {
      const value = raw.toLowerCase();
      if (!(ITEM_TYPES as readonly string[]).includes(value))
        throw usage(`In "${part}": unknown type "${raw}". Types: ${ITEM_TYPES.join(', ')}.`);
      return value;
    }
    case 'modality': {
      const value = raw.toLowerCase();
      if (!(MODALITIES as readonly string[]).includes(value))
        throw usage(`In "${part}": modality is text or image, got "${raw}".`);
      return value;
    }
    default:
      return raw;
  }
}

/** Character-level reader over the expression, with the position of each clause for messages. */
class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length;
  }
  peek(): string | undefined {
    return this.text[this.pos];
  }
  match(re: RegExp): string | undefined {
    const m = new RegExp(`^(?:${re.source})`, re.flags).exec(this.text.slice(this.pos));
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }
  /** A quoted or bare value; a bare one ends at `,` or ` and ` (in a list: at `,` or `)`). */
  value(inList: boolean): string | undefined {
    this.skipSpace();
    const quote = this.peek();
    if (quote === '"' || quote === "'") {
      const close = this.text.indexOf(quote, this.pos + 1);
      if (close < 0) throw usage(`Unclosed ${quote} in "${this.text.slice(this.pos)}".`);
      const value = this.text.slice(this.pos + 1, close);
      this.pos = close + 1;
      return value;
    }
    const rest = this.text.slice(this.pos);
    const end = inList ? /,|\)/.exec(rest) : /,|\s+and(\s|$)/i.exec(rest);
    const length = end ? end.index : rest.length;
    const value = rest.slice(0, length).trim();
    this.pos += length;
    return value === '' ? undefined : value;
  }
}

/** Parse a `--where` expression; a usage MmragError names the bad part and lists fields and operators. */
export function parseWhere(expr: string): WhereFilter {
  const reader = new Reader(expr);
  const clauses: WhereClause[] = [];
  if (reader.atEnd()) throw usage('The --where filter is empty.');
  for (;;) {
    reader.skipSpace();
    const start = reader.pos;
    const part = () => expr.slice(start, reader.pos).trim() || expr.slice(start).trim();
    const name = reader.match(/[A-Za-z_]+/);
    if (!name) throw usage(`Expected a field name at "${expr.slice(start)}".`);
    const field = name.toLowerCase() as WhereField;
    if (!WHERE_FIELDS.includes(field)) throw usage(`Unknown field "${name}" in "${expr.slice(start)}".`);
    reader.skipSpace();
    let op: WhereOperator;
    let raws: string[];
    if (reader.match(/in(?=\s|\()/i)) {
      op = 'in';
      reader.skipSpace();
      if (!reader.match(/\(/)) throw usage(`Expected "(" after "in" in "${part()}".`);
      raws = [];
      for (;;) {
        const value = reader.value(true);
        if (value === undefined) throw usage(`Missing a value in the list of "${part()}".`);
        raws.push(value);
        reader.skipSpace();
        if (reader.match(/\)/)) break;
        if (!reader.match(/,/)) throw usage(`Expected "," or ")" in the list of "${part()}".`);
      }
    } else {
      const symbol = reader.match(/>=|<=|!=|==|=|~|>|</);
      if (!symbol) throw usage(`Expected an operator after "${name}" in "${expr.slice(start)}".`);
      op = symbol === '==' ? '=' : (symbol as WhereOperator);
      const value = reader.value(false);
      if (value === undefined) throw usage(`Missing a value after "${name} ${symbol}".`);
      raws = [value];
    }
    const numeric = NUMBER_FIELDS.includes(field);
    if (!numeric && ['>', '>=', '<', '<='].includes(op))
      throw usage(`In "${part()}": ${op} compares numbers; ${field} is text (use =, != or ~).`);
    if (numeric && op === '~')
      throw usage(`In "${part()}": ~ (contains) is for text fields; ${field} is a number (use = > >= < <=).`);
    const values = raws.map((raw) => convertValue(field, raw, part()));
    clauses.push({ field, op, values } as WhereClause);
    if (reader.atEnd()) break;
    if (!reader.match(/,|and(?=\s|$)/i))
      throw usage(`Unexpected "${expr.slice(reader.pos)}" after "${part()}".`);
    if (reader.atEnd()) throw usage(`The --where filter "${expr}" ends with a dangling "and" or ",".`);
  }
  return { expr, clauses };
}

function isPathSeparator(c: string | undefined): boolean {
  return c === '/' || c === '\\';
}

/**
 * True when `source` is `entry`, or ends with it on a path boundary: `kite.html` matches `/a/b/kite.html` and
 * `https://x.org/kite.html`, but not `/a/b/bigkite.html`. A leading `./` on the entry is ignored.
 */
export function sourceMatches(source: string, entry: string): boolean {
  const wanted = entry.replace(/^\.[/\\]/, '');
  if (wanted === '') return false;
  if (source === wanted) return true;
  if (!source.endsWith(wanted)) return false;
  return isPathSeparator(wanted[0]) || isPathSeparator(source[source.length - wanted.length - 1]);
}

function textOf(subject: WhereSubject, field: TextField): string | undefined {
  switch (field) {
    case 'source':
      return subject.source;
    case 'type':
      return subject.type;
    case 'section':
      return subject.section;
    case 'title':
      return subject.title;
    case 'modality':
      return subject.modality;
    case 'sheet':
      return subject.location?.sheet;
  }
}

function numberOf(subject: WhereSubject, field: NumberField): number | undefined {
  switch (field) {
    case 'page':
      return subject.location?.page;
    case 'slide':
      return subject.location?.slide;
    case 'start':
      return subject.location?.start;
    case 'end':
      return subject.location?.end;
    case 'ingested':
      return subject.ingestedAt;
  }
}

function equalsNumber(x: number, r: NumberRange): boolean {
  return r.hi === r.lo ? x === r.lo : x >= r.lo && x < r.hi;
}

function compareNumber(x: number, op: WhereOperator, r: NumberRange): boolean {
  switch (op) {
    case '>':
      return r.hi === r.lo ? x > r.lo : x >= r.hi;
    case '>=':
      return x >= r.lo;
    case '<':
      return x < r.lo;
    case '<=':
      return r.hi === r.lo ? x <= r.lo : x < r.hi;
    default:
      return equalsNumber(x, r);
  }
}

function matchesClause(subject: WhereSubject, clause: WhereClause): boolean {
  if (NUMBER_FIELDS.includes(clause.field)) {
    const { field, op, values } = clause as Extract<WhereClause, { field: NumberField }>;
    const x = numberOf(subject, field);
    if (x === undefined) return op === '!=';
    if (op === '!=') return !equalsNumber(x, values[0]!);
    if (op === 'in' || op === '=') return values.some((r) => equalsNumber(x, r));
    return compareNumber(x, op, values[0]!);
  }
  const { field, op, values } = clause as Extract<WhereClause, { field: TextField }>;
  const x = textOf(subject, field);
  if (x === undefined) return op === '!=';
  const equals = (v: string) =>
    field === 'source' ? sourceMatches(x, v) : x.toLowerCase() === v.toLowerCase();
  switch (op) {
    case '!=':
      return !equals(values[0]!);
    case '~':
      return x.toLowerCase().includes(values[0]!.toLowerCase());
    default:
      return values.some(equals);
  }
}

/** True when the item satisfies every clause of the filter. */
export function matchesWhere(item: WhereSubject, filter: WhereFilter): boolean {
  return filter.clauses.every((clause) => matchesClause(item, clause));
}
