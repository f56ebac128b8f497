import { deflateRawSync } from 'node:zlib';
import JSZip from 'jszip';
import { describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import {
  archiveLimitViolation,
  openZipSafely,
  readCentralDirectory,
  readZipBytes,
  readZipText,
  verifyZipExpansion,
  type ZipEntryInfo,
} from '../../src/ingest/zip.js';
import { buildZip, zerosDeflate } from '../helpers/make-office.js';

const limits = { maxArchiveBytes: 10 * 1024 * 1024, maxArchiveRatio: 100 };
const MiB = 1024 * 1024;

async function sampleZip(): Promise<Uint8Array> {
  const zip = new JSZip();
  zip.file('a.txt', 'hello '.repeat(100));
  zip.file('dir/b.bin', new Uint8Array([1, 2, 3]), { compression: 'STORE' });
  zip.file('ünïcode.xml', '<x/>');
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE', comment: 'a comment' });
}

const entry = (uncompressedSize: number, compressedSize: number, name = 'e'): ZipEntryInfo => ({
  name,
  method: 8,
  compressedSize,
  uncompressedSize,
  encrypted: false,
});

describe('readCentralDirectory', () => {
  it('lists the declared entries of a real zip without inflating', async () => {
    const entries = readCentralDirectory(await sampleZip());
    expect(entries.map((e) => [e.name, e.uncompressedSize, e.method])).toEqual([
      ['a.txt', 600, 8],
      ['dir/', 0, 0],
      ['dir/b.bin', 3, 0],
      ['ünïcode.xml', 4, 8],
    ]);
    expect(entries[0]!.compressedSize).toBeLessThan(600);
  });

  it('rejects every truncation of a zip', async () => {
    const bytes = await sampleZip();
    for (let cut = 0; cut < bytes.length; cut += 7) {
      expect(() => readCentralDirectory(bytes.subarray(0, cut))).toThrow();
    }
  });

  it('reads what a hand-built zip declares, even when it lies', () => {
    const data = new Uint8Array(deflateRawSync(Buffer.from('x')));
    const bytes = buildZip([{ name: 'big', data, method: 8, crc: 0, declaredSize: 0xfffffff0 }]);
    expect(readCentralDirectory(bytes)).toEqual([
      { name: 'big', method: 8, compressedSize: data.length, uncompressedSize: 0xfffffff0, encrypted: false },
    ]);
  });
});

describe('archiveLimitViolation', () => {
  it('accepts ordinary archives, including tiny very repetitive parts', () => {
    expect(archiveLimitViolation([entry(1000, 10), entry(5 * MiB, 1 * MiB)], limits)).toBeUndefined();
  });

  it('refuses a total over the byte limit', () => {
    expect(archiveLimitViolation([entry(6 * MiB, 3 * MiB), entry(6 * MiB, 3 * MiB)], limits)).toMatch(
      /expands to 12\.0 MiB, over the limit of 10\.0 MiB/,
    );
  });

  it('refuses one large part with a bomb ratio even when the archive is otherwise small', () => {
    expect(archiveLimitViolation([entry(2 * MiB, 1000, 'x.xml'), entry(1000, 900 * 1000)], limits)).toMatch(
      /part x\.xml expands 2097 times/,
    );
  });

  it('refuses a whole archive with a bomb ratio', () => {
    const parts = Array.from({ length: 8 }, (_, i) => entry(MiB, 5000, `p${i}`));
    expect(archiveLimitViolation(parts, limits)).toMatch(/expands 210 times, over the limit of 100/);
  });
});

describe('openZipSafely and bounded reads', () => {
  it('opens a good zip and reads its parts', async () => {
    const zip = await openZipSafely(await sampleZip(), limits, 'good.zip');
    expect(await readZipText(zip, 'a.txt', 1000)).toBe('hello '.repeat(100));
    expect(await readZipBytes(zip, 'dir/b.bin', 3)).toEqual(new Uint8Array([1, 2, 3]));
    expect(await readZipText(zip, 'missing.xml', 1000)).toBeUndefined();
    await expect(verifyZipExpansion(zip, limits, 'good.zip')).resolves.toBeUndefined();
  });

  it('refuses a part that inflates past the read bound', async () => {
    const zip = await openZipSafely(await sampleZip(), limits, 'good.zip');
    await expect(readZipText(zip, 'a.txt', 100, 'good.zip')).rejects.toThrow(
      /good\.zip: refused: its part a\.txt expands past 100 bytes/,
    );
  });

  it('stops inflating a lying part at the limit', async () => {
    const bytes = buildZip([
      { name: 'liar.xml', data: zerosDeflate(256), method: 8, crc: 0, declaredSize: 10 },
    ]);
    const zip = await openZipSafely(bytes, limits, 'liar.zip');
    await expect(readZipBytes(zip, 'liar.xml', 4 * MiB, 'liar.zip')).rejects.toThrow(/expands past 4\.0 MiB/);
    await expect(verifyZipExpansion(zip, limits, 'liar.zip')).rejects.toThrow(
      /liar\.zip: refused: it expands past 10\.0 MiB/,
    );
  });

  it('names the file and the reason for non-zips and encrypted zips', async () => {
    const err = await openZipSafely(new TextEncoder().encode('just text'), limits, 'notes.docx').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MmragError);
    expect((err as MmragError).message).toMatch(
      /notes\.docx: cannot open as a zip-based office file: too short/,
    );

    const bytes = await sampleZip();
    // Set the "encrypted" flag of the first central directory entry.
    const cd = Buffer.from(bytes).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    const patched = new Uint8Array(bytes);
    patched[cd + 8] = patched[cd + 8]! | 1;
    await expect(openZipSafely(patched, limits, 'secret.xlsx')).rejects.toThrow(
      /secret\.xlsx: the archive is encrypted/,
    );
  });
});
