import { randomBytes } from 'node:crypto';
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

describe('per-part limits of an opened archive (issue 18, findings 1 and 2)', () => {
  const partLimits = { ...limits, maxPartBytes: MiB, maxPartReferences: 2, maxNestingDepth: 50 };

  async function zipOf(files: Record<string, string | Uint8Array>): Promise<Uint8Array> {
    const zip = new JSZip();
    for (const [name, content] of Object.entries(files)) zip.file(name, content);
    return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
  }

  it('refuses an XML part declared larger than maxPartBytes before inflating anything', async () => {
    const big = `<a>${randomBytes(1.5 * MiB).toString('base64')}</a>`; // 2 MiB, hardly compressible
    await expect(
      openZipSafely(await zipOf({ 'word/document.xml': big }), partLimits, 'big.docx'),
    ).rejects.toThrow(
      /big\.docx: refused: its part word\/document\.xml expands to 2\.0 MiB, over the limit of 1\.0 MiB per part \(ingest\.maxPartBytes\)/,
    );
    // Pictures are bounded by their own limit, not this one.
    const picture = new Uint8Array(randomBytes(2 * MiB));
    await expect(
      openZipSafely(await zipOf({ 'media/a.bin': picture }), partLimits, 'pic.pptx'),
    ).resolves.toBeDefined();
  });

  it('stops an XML part whose header lies at maxPartBytes, while inflating', async () => {
    const bytes = buildZip([
      { name: 'slide.xml', data: zerosDeflate(64), method: 8, crc: 0, declaredSize: 10 },
    ]);
    const zip = await openZipSafely(bytes, partLimits, 'liar.pptx');
    await expect(readZipText(zip, 'slide.xml', 1024 * MiB, 'liar.pptx')).rejects.toThrow(
      /liar\.pptx: refused: its part slide\.xml expands past 1\.0 MiB/,
    );
    await expect(verifyZipExpansion(zip, partLimits, 'liar.pptx')).rejects.toThrow(
      /slide\.xml expands past 1\.0 MiB/,
    );
  });

  it('reads one XML part at most maxPartReferences times', async () => {
    const zip = await openZipSafely(await zipOf({ 'slide1.xml': '<p:sld/>' }), partLimits, 'again.pptx');
    expect(await readZipText(zip, 'slide1.xml', MiB)).toBe('<p:sld/>');
    expect(await readZipText(zip, 'slide1.xml', MiB)).toBe('<p:sld/>');
    await expect(readZipText(zip, 'slide1.xml', MiB, 'again.pptx')).rejects.toThrow(
      /again\.pptx: refused: its part slide1\.xml is used more than 2 times \(ingest\.maxPartReferences/,
    );
  });

  it('inflates a picture once, however many times it is read', async () => {
    const zip = await openZipSafely(
      await zipOf({ 'media/logo.png': new Uint8Array(1000).fill(1) }),
      partLimits,
      'x',
    );
    const first = await readZipBytes(zip, 'media/logo.png', MiB);
    const again = await readZipBytes(zip, 'media/logo.png', MiB);
    expect(again).toBe(first);
    await expect(readZipBytes(zip, 'media/logo.png', 10, 'x')).rejects.toThrow(/expands past 10 bytes/);
  });

  it('refuses an XML part nested deeper than maxNestingDepth, while inflating', async () => {
    const deep = `${'<a>'.repeat(60)}${'</a>'.repeat(60)}`;
    const zip = await openZipSafely(
      await zipOf({ 'content.xml': deep, 'ok.xml': '<a><b/></a>' }),
      partLimits,
      'deep.odt',
    );
    expect(await readZipText(zip, 'ok.xml', MiB)).toBe('<a><b/></a>');
    await expect(readZipText(zip, 'content.xml', MiB, 'deep.odt')).rejects.toThrow(
      /deep\.odt: refused: its part content\.xml nests elements more than 50 levels deep \(ingest\.maxNestingDepth\)/,
    );
    await expect(verifyZipExpansion(zip, partLimits, 'deep.odt')).rejects.toThrow(
      /content\.xml nests elements/,
    );
  });
});
