import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import { decodeText, decodeTextFile, looksBinary } from '../../src/ingest/text-decode.js';

const utf16le = (text: string) => new Uint8Array(Buffer.from(text, 'utf16le'));
const utf16be = (text: string) => {
  const bytes = Buffer.from(text, 'utf16le');
  bytes.swap16();
  return new Uint8Array(bytes);
};

describe('decodeText', () => {
  it('reads UTF-16LE with a BOM, strips the BOM and normalises CRLF', () => {
    const out = decodeText(utf16le('\uFEFFcafé au lait\r\nsecond line'));
    expect(out).toEqual({ text: 'café au lait\nsecond line', encoding: 'utf-16le' });
  });

  it('reads UTF-16BE with a BOM', () => {
    const out = decodeText(utf16be('\uFEFFnaïve résumé\r\nok'));
    expect(out).toEqual({ text: 'naïve résumé\nok', encoding: 'utf-16be' });
  });

  it('recognises UTF-16 without a BOM by its NUL bytes, both byte orders', () => {
    expect(decodeText(utf16le('Hello world, plain ASCII in UTF-16'))).toEqual({
      text: 'Hello world, plain ASCII in UTF-16',
      encoding: 'utf-16le',
    });
    expect(decodeText(utf16be('Hello world again'))).toEqual({
      text: 'Hello world again',
      encoding: 'utf-16be',
    });
  });

  it('reads Latin-1 / windows-1252 when the bytes are not valid UTF-8', () => {
    const out = decodeText(new Uint8Array(Buffer.from("Un café, s'il vous plaît", 'latin1')));
    expect(out).toEqual({ text: "Un café, s'il vous plaît", encoding: 'windows-1252' });
    // 0x80 is the euro sign in windows-1252 (a C1 control in strict Latin-1)
    expect(decodeText(new Uint8Array([0x31, 0x30, 0x20, 0x80])).text).toBe('10 €');
  });

  it('keeps valid UTF-8 as UTF-8, stripping its BOM', () => {
    const plain = new TextEncoder().encode('café — 日本語 ✓');
    expect(decodeText(plain)).toEqual({ text: 'café — 日本語 ✓', encoding: 'utf-8' });
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...plain]);
    expect(decodeText(withBom)).toEqual({ text: 'café — 日本語 ✓', encoding: 'utf-8' });
  });

  it('normalises CRLF and lone CR line ends', () => {
    expect(decodeText(new TextEncoder().encode('a\r\nb\rc\nd')).text).toBe('a\nb\nc\nd');
  });

  it('decodes empty input to empty text', () => {
    expect(decodeText(new Uint8Array(0))).toEqual({ text: '', encoding: 'utf-8' });
  });
});

describe('looksBinary', () => {
  it('flags compressed data and bytes with NULs', () => {
    const gz = new Uint8Array(gzipSync(Buffer.from('some text '.repeat(500))));
    expect(looksBinary(gz)).toBe(true);
    expect(looksBinary(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0]))).toBe(true);
  });

  it('flags many control bytes even without NULs', () => {
    const bytes = new Uint8Array(1000).map((_, i) => (i % 4 === 0 ? 0x01 : 0x41));
    expect(looksBinary(bytes)).toBe(true);
  });

  it('accepts text in every supported encoding, and ANSI-coloured logs', () => {
    expect(looksBinary(new TextEncoder().encode('plain text\nwith lines\t and tabs'))).toBe(false);
    expect(looksBinary(utf16le('\uFEFFUTF-16 text with a BOM'))).toBe(false);
    expect(looksBinary(utf16be('UTF-16 big-endian text without a BOM'))).toBe(false);
    expect(looksBinary(new Uint8Array(Buffer.from('Latin-1 café', 'latin1')))).toBe(false);
    expect(looksBinary(new TextEncoder().encode('\u001b[31mERROR\u001b[0m disk full\n'))).toBe(false);
    expect(looksBinary(new Uint8Array(0))).toBe(false);
  });

  it('flags UTF-16-looking data whose characters are controls', () => {
    // NULs on odd bytes only (like UTF-16LE) but the even bytes are control codes
    const bytes = new Uint8Array(400).map((_, i) => (i % 2 === 1 ? 0 : i % 8 === 0 ? 0x02 : 0x00 + 0x03));
    expect(looksBinary(bytes)).toBe(true);
  });
});

describe('decodeTextFile', () => {
  it('refuses binary data naming the file', () => {
    const gz = new Uint8Array(gzipSync(Buffer.from('x'.repeat(100))));
    let error: unknown;
    try {
      decodeTextFile(gz, '/data/notes.txt');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).message).toContain('/data/notes.txt');
    expect((error as MmragError).code).toBe('binary');
  });

  it('decodes text files', () => {
    expect(decodeTextFile(new TextEncoder().encode('hello'), 'a.txt')).toEqual({
      text: 'hello',
      encoding: 'utf-8',
    });
  });
});
