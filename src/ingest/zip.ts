import type JSZip from 'jszip';
import { MmragError } from '../errors.js';
import { NestingMeter, tooDeep } from './nesting.js';

/** The archive limits every zip-based loader enforces (a subset of `LoaderLimits`). */
export interface ArchiveLimits {
  /** Total uncompressed bytes the archive may expand to. */
  maxArchiveBytes: number;
  /** Largest uncompressed/compressed ratio, for the whole archive and for each large entry. */
  maxArchiveRatio: number;
  /** Inflated bytes of one XML part (unset: only the archive's total bounds it). */
  maxPartBytes?: number;
  /** Times one XML part may be read (unset: any number). */
  maxPartReferences?: number;
  /** Nesting depth of the elements of one XML part (unset: not measured). */
  maxNestingDepth?: number;
}

/** What one opened archive may still do: its limits, how often each XML part was read, the pictures read. */
interface ArchiveState {
  limits: ArchiveLimits;
  file: string;
  reads: Map<string, number>;
  /** Non-XML parts (pictures) already inflated: read once per file however many times they are referred to. */
  parts: Map<string, Uint8Array>;
}

/**
 * The state of each archive `openZipSafely` opened: every read through `readZipBytes` / `readZipText` is bounded by
 * it, so loaders need no bookkeeping of their own.
 */
const archives = new WeakMap<JSZip, ArchiveState>();

/** XML parts (content, relationships, metadata): the ones parsers turn into trees. */
export function isXmlPart(name: string): boolean {
  return /\.(xml|rels)$/i.test(name);
}

/** One entry of a zip's central directory, as declared (nothing inflated yet). */
export interface ZipEntryInfo {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  encrypted: boolean;
}

/** Ratios are only judged above this many uncompressed bytes: tiny, very repetitive XML parts are normal. */
const RATIO_FLOOR_BYTES = 1024 * 1024;
/** No office file has anywhere near this many parts; more is an attack or not an office file. */
const MAX_ENTRIES = 100_000;

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;

class ZipFormatError extends Error {}

/**
 * Read the central directory of a zip (including zip64) without inflating anything.
 * Throws a plain Error describing the defect when the bytes are not a complete zip.
 */
export function readCentralDirectory(bytes: Uint8Array): ZipEntryInfo[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => {
    const value = view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('a zip64 size is out of range');
    return Number(value);
  };
  const inside = (at: number, length: number) => at >= 0 && at + length <= bytes.length;

  if (bytes.length < 22) throw new ZipFormatError('too short to be a zip archive');
  let eocd = -1;
  const lowest = Math.max(0, bytes.length - 22 - 0xffff);
  for (let at = bytes.length - 22; at >= lowest; at--) {
    if (u32(at) === SIG_EOCD && at + 22 + u16(at + 20) <= bytes.length) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0)
    throw new ZipFormatError('no zip end-of-directory record (the file is truncated or not a zip)');

  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (!inside(locator, 20) || u32(locator) !== SIG_ZIP64_LOCATOR) {
      throw new ZipFormatError('a zip64 archive without its zip64 locator (truncated)');
    }
    const record = u64(locator + 8);
    if (!inside(record, 56) || u32(record) !== SIG_ZIP64_EOCD) {
      throw new ZipFormatError('the zip64 end-of-directory record is missing (truncated)');
    }
    count = u64(record + 32);
    cdSize = u64(record + 40);
    cdOffset = u64(record + 48);
  }
  if (count > MAX_ENTRIES) throw new ZipFormatError(`the archive declares ${count} entries`);
  if (!inside(cdOffset, cdSize))
    throw new ZipFormatError('the central directory lies outside the file (truncated)');

  const entries: ZipEntryInfo[] = [];
  const decoder = new TextDecoder();
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (!inside(at, 46) || u32(at) !== SIG_CENTRAL) {
      throw new ZipFormatError(`central directory entry ${i + 1} of ${count} is damaged`);
    }
    const flags = u16(at + 8);
    const method = u16(at + 10);
    let compressedSize = u32(at + 20);
    let uncompressedSize = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    if (!inside(at + 46, nameLength + extraLength + commentLength)) {
      throw new ZipFormatError(`central directory entry ${i + 1} of ${count} is cut short`);
    }
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff) {
      // The zip64 extra field holds the real values, in this order, only for the fields set to 0xffffffff.
      let extra = at + 46 + nameLength;
      const extraEnd = extra + extraLength;
      while (extra + 4 <= extraEnd) {
        const id = u16(extra);
        const size = u16(extra + 2);
        if (id === 0x0001) {
          let field = extra + 4;
          if (uncompressedSize === 0xffffffff && field + 8 <= extra + 4 + size) {
            uncompressedSize = u64(field);
            field += 8;
          }
          if (compressedSize === 0xffffffff && field + 8 <= extra + 4 + size) compressedSize = u64(field);
          break;
        }
        extra += 4 + size;
      }
    }
    entries.push({ name, method, compressedSize, uncompressedSize, encrypted: (flags & 1) === 1 });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/**
 * Why an archive with these declared entries must not be inflated, or undefined when it is within limits.
 * Pure: judges the central directory only.
 */
export function archiveLimitViolation(entries: ZipEntryInfo[], limits: ArchiveLimits): string | undefined {
  let total = 0;
  let compressed = 0;
  for (const entry of entries) {
    total += entry.uncompressedSize;
    compressed += entry.compressedSize;
    if (
      entry.uncompressedSize > RATIO_FLOOR_BYTES &&
      entry.uncompressedSize / Math.max(entry.compressedSize, 1) > limits.maxArchiveRatio
    ) {
      const ratio = Math.round(entry.uncompressedSize / Math.max(entry.compressedSize, 1));
      return `its part ${entry.name} expands ${ratio} times (${formatBytes(entry.compressedSize)} to ${formatBytes(entry.uncompressedSize)}), over the limit of ${limits.maxArchiveRatio} (a zip bomb?)`;
    }
  }
  if (total > limits.maxArchiveBytes) {
    return `it expands to ${formatBytes(total)}, over the limit of ${formatBytes(limits.maxArchiveBytes)} (a zip bomb?)`;
  }
  if (total > RATIO_FLOOR_BYTES && total / Math.max(compressed, 1) > limits.maxArchiveRatio) {
    const ratio = Math.round(total / Math.max(compressed, 1));
    return `it expands ${ratio} times, over the limit of ${limits.maxArchiveRatio} (a zip bomb?)`;
  }
  const partLimit = limits.maxPartBytes;
  const huge =
    partLimit === undefined
      ? undefined
      : entries.find((e) => isXmlPart(e.name) && e.uncompressedSize > partLimit);
  if (huge) {
    return `its part ${huge.name} expands to ${formatBytes(huge.uncompressedSize)}, over the limit of ${formatBytes(partLimit!)} per part (ingest.maxPartBytes)`;
  }
  return undefined;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

const ARCHIVE_HINT =
  'Raise ingest.maxArchiveBytes / ingest.maxArchiveRatio / ingest.maxPartBytes if the file is genuine.';

/**
 * Open a zip-based office file after checking its central directory: refuses truncated files, non-zips
 * (legacy or password-protected Office files), encrypted entries and archives whose declared sizes exceed
 * the limits, all before anything is inflated. Declared sizes can lie: read parts with `readZipBytes` /
 * `readZipText` (bounded while inflating), or call `verifyZipExpansion` before handing the bytes to a
 * library that inflates on its own.
 */
export async function openZipSafely(bytes: Uint8Array, limits: ArchiveLimits, file: string): Promise<JSZip> {
  if (isCompoundFile(bytes)) {
    throw new MmragError(
      `${file}: not a zip-based office file: it is a legacy (.doc/.xls/.ppt) or password-protected Office file`,
      'Save it in the current format (.docx/.xlsx/.pptx) without a password, then ingest it again.',
      'unsupported',
    );
  }
  let entries: ZipEntryInfo[];
  try {
    entries = readCentralDirectory(bytes);
  } catch (err) {
    throw new MmragError(
      `${file}: cannot open as a zip-based office file: ${(err as Error).message}`,
      'Check that the file is complete and really is the type its name says; re-save it from its application.',
      'bad_file',
      { cause: err },
    );
  }
  if (entries.some((e) => e.encrypted)) {
    throw new MmragError(
      `${file}: the archive is encrypted`,
      'Remove the password and ingest it again.',
      'encrypted',
    );
  }
  const violation = archiveLimitViolation(entries, limits);
  if (violation) throw new MmragError(`${file}: refused: ${violation}`, ARCHIVE_HINT, 'too_large');

  const { default: JSZipClass } = await import('jszip');
  try {
    const zip = await JSZipClass.loadAsync(bytes);
    archives.set(zip, { limits, file, reads: new Map(), parts: new Map() });
    return zip;
  } catch (err) {
    throw new MmragError(
      `${file}: cannot open as a zip-based office file: ${zipFailureReason(err)}`,
      'Check that the file is complete; re-save it from its application.',
      'bad_file',
      { cause: err },
    );
  }
}

/**
 * JSZip's and zlib's words for a damaged archive, said plainly (their messages hold raw bytes and "Bug" for
 * what is damaged input).
 */
export function zipFailureReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/uncompressed data size mismatch|crc32 mismatch/i.test(message))
    return 'its content does not match the size or checksum recorded for it';
  if (/unexpected signature/i.test(message))
    return 'an entry is not where the zip directory says (the file is damaged)';
  if (/compression .* unknown/i.test(message))
    return 'an entry has an unknown compression method (the file is damaged)';
  if (/End of data reached/i.test(message))
    return 'the zip data ends early (the file is truncated or damaged)';
  if (/records in central dir/i.test(message)) return 'the zip directory is damaged';
  if (
    /invalid|incorrect|unexpected end|too far back/i.test(message) &&
    /(code|block|distance|header|length|stored)/i.test(message)
  )
    return `compressed data is damaged (${message})`;
  const printable = [...message]
    .map((ch) =>
      ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) < 0xa0) ? '?' : ch,
    )
    .join('');
  return printable.trim() || 'the file is damaged';
}

/** True for OLE2 compound files (legacy Office, and password-protected OOXML). */
function isCompoundFile(bytes: Uint8Array): boolean {
  const magic = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
  return bytes.length >= 8 && magic.every((b, i) => bytes[i] === b);
}

/**
 * Inflate one entry, refusing (with a clear error) as soon as it grows past `maxBytes`, whatever its header
 * declared. Returns undefined when the entry does not exist.
 *
 * In an archive opened by `openZipSafely`, an XML part is also bounded by `maxPartBytes`, may be read at most
 * `maxPartReferences` times (a deck whose 200 slide ids name one slide is refused, not read 200 times), and is
 * refused when its elements nest deeper than `maxNestingDepth`; any other part (a picture) is inflated once and the
 * same bytes returned to every later read.
 */
export async function readZipBytes(
  zip: JSZip,
  name: string,
  maxBytes: number,
  file = 'archive',
): Promise<Uint8Array | undefined> {
  const entry = zip.file(name);
  if (!entry) return undefined;
  const state = archives.get(zip);
  const xml = isXmlPart(name);
  let limit = maxBytes;
  if (state && xml) {
    const reads = (state.reads.get(name) ?? 0) + 1;
    state.reads.set(name, reads);
    const allowed = state.limits.maxPartReferences;
    if (allowed !== undefined && reads > allowed) {
      throw new MmragError(
        `${file}: refused: its part ${name} is used more than ${allowed} times (ingest.maxPartReferences; one slide listed again and again?)`,
        'Raise ingest.maxPartReferences if the file is genuine.',
        'too_large',
      );
    }
    if (state.limits.maxPartBytes !== undefined) limit = Math.min(limit, state.limits.maxPartBytes);
  } else if (state) {
    const known = state.parts.get(name);
    if (known) {
      if (known.length > maxBytes) throw partTooLarge(file, name, maxBytes);
      return known;
    }
  }
  const depthLimit = xml ? state?.limits.maxNestingDepth : undefined;
  const meter = depthLimit === undefined ? undefined : new NestingMeter(false, depthLimit);
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    await streamEntry(entry, (chunk) => {
      size += chunk.length;
      if (size > limit) throw partTooLarge(file, name, limit);
      if (meter) {
        meter.feed(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1'));
        if (meter.exceeded) throw tooDeep(file, `its part ${name}`, depthLimit!);
      }
      parts.push(chunk);
    });
  } catch (err) {
    if (err instanceof MmragError) throw err;
    throw new MmragError(
      `${file}: its part ${name} is damaged: ${zipFailureReason(err)}`,
      'Re-save the file from its application.',
      'bad_file',
      { cause: err },
    );
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  if (state && !xml) state.parts.set(name, out);
  return out;
}

function partTooLarge(file: string, name: string, limit: number): MmragError {
  return new MmragError(
    `${file}: refused: its part ${name} expands past ${formatBytes(limit)} (a zip bomb?)`,
    ARCHIVE_HINT,
    'too_large',
  );
}

/**
 * Feed an entry's inflated chunks to `onChunk` as they are produced. When `onChunk` throws, the stream is
 * paused and dropped (the inflater stops at once, nothing more is produced) and the promise rejects.
 */
function streamEntry(entry: JSZip.JSZipObject, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = entry.nodeStream('nodebuffer');
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      stream.removeAllListeners('data');
      if (err === undefined) resolve();
      else {
        stream.pause();
        reject(err);
      }
    };
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      try {
        onChunk(chunk);
      } catch (err) {
        finish(err);
      }
    });
    stream.on('error', (err: Error) => finish(err));
    stream.on('end', () => finish());
  });
}

/** `readZipBytes` decoded as UTF-8 (BOM dropped). */
export async function readZipText(
  zip: JSZip,
  name: string,
  maxBytes: number,
  file = 'archive',
): Promise<string | undefined> {
  const bytes = await readZipBytes(zip, name, maxBytes, file);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/**
 * Inflate every entry with bounds (total actual bytes <= maxArchiveBytes, each XML part <= maxPartBytes and nested
 * at most maxNestingDepth deep), discarding the output: run this before a library (mammoth, exceljs) inflates and
 * parses the same bytes unbounded, so neither lying size headers nor a huge or deep part reaches it.
 */
export async function verifyZipExpansion(zip: JSZip, limits: ArchiveLimits, file: string): Promise<void> {
  let total = 0;
  for (const entry of Object.values(zip.files)) {
    if (entry.dir) continue;
    const xml = isXmlPart(entry.name);
    const partLimit = xml ? limits.maxPartBytes : undefined;
    const depthLimit = xml ? limits.maxNestingDepth : undefined;
    const meter = depthLimit === undefined ? undefined : new NestingMeter(false, depthLimit);
    let size = 0;
    try {
      await streamEntry(entry, (chunk) => {
        total += chunk.length;
        size += chunk.length;
        if (total > limits.maxArchiveBytes) {
          throw new MmragError(
            `${file}: refused: it expands past ${formatBytes(limits.maxArchiveBytes)} (its part ${entry.name} is larger than declared: a zip bomb?)`,
            ARCHIVE_HINT,
            'too_large',
          );
        }
        if (partLimit !== undefined && size > partLimit) throw partTooLarge(file, entry.name, partLimit);
        if (meter) {
          meter.feed(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1'));
          if (meter.exceeded) throw tooDeep(file, `its part ${entry.name}`, depthLimit!);
        }
      });
    } catch (err) {
      if (err instanceof MmragError) throw err;
      throw new MmragError(
        `${file}: its part ${entry.name} is damaged: ${zipFailureReason(err)}`,
        'Re-save the file from its application.',
        'bad_file',
        { cause: err },
      );
    }
  }
}

/** A part that must exist: its text, or a clear error naming what is missing. */
export async function requireZipText(
  zip: JSZip,
  name: string,
  maxBytes: number,
  file: string,
): Promise<string> {
  const text = await readZipText(zip, name, maxBytes, file);
  if (text === undefined) {
    throw new MmragError(
      `${file}: ${name} is missing, so this is not a valid file of its type`,
      'Re-save the file from its application.',
      'bad_file',
    );
  }
  return text;
}
