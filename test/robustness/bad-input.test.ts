/**
 * A folder full of bad files, ingested in one run beside good ones: each bad file gets one outcome naming it with
 * a reason, the run goes on, every good file is stored whole, and a second run changes nothing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HtmlLoader } from '../../src/ingest/loaders/html.js';
import type { FileOutcome, IngestSummary } from '../../src/ingest/pipeline.js';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { makeDocxBomb } from '../helpers/make-office.js';
import { makePdf } from '../helpers/make-pdf.js';
import {
  loaderContext,
  makePngBomb,
  makeZipBomb,
  type RecordingServer,
  seededRandom,
  startRecordingServer,
  validFixtures,
} from '../helpers/robustness.js';

const MAX_PAGES = 20;
const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;
const ACCENTED = 'Crème brûlée à la française, déjà vu, naïve café au Noël';
const GREEK = 'Το λιμάνι έχει έναν κόκκινο κύκλο για την αποβάθρα καυσίμων';

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;
let inbox: string;
let trap: RecordingServer;
let summary: IngestSummary;
const good: string[] = [];

function outcome(name: string): FileOutcome {
  const found = summary.outcomes.find((o) => o.file === join(inbox, name));
  if (!found)
    throw new Error(
      `no outcome for ${JSON.stringify(name)}: ${summary.outcomes.map((o) => o.file).join(', ')}`,
    );
  return found;
}

function write(name: string, bytes: Uint8Array | string): string {
  const path = join(inbox, name);
  writeFileSync(path, bytes);
  return path;
}

beforeAll(async () => {
  tmp = tempDir('mmrag-bad-input-');
  inbox = join(tmp.dir, 'inbox');
  mkdirSync(inbox);
  trap = await startRecordingServer();
  const random = seededRandom(7);
  const noise = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));

  const fixtures = await validFixtures();
  for (const f of fixtures) good.push(write(`good-${f.name}`, f.bytes));
  const byName = (n: string) => fixtures.find((f) => f.name === n)!.bytes;
  // Truncated files of every binary type: half of a valid file.
  for (const n of [
    'report.pdf',
    'memo.docx',
    'sheet.xlsx',
    'slides.pptx',
    'circle.png',
    'circle.jpg',
    'circle.webp',
    'circle.gif',
  ]) {
    const bytes = byName(n);
    write(`truncated-${n}`, bytes.subarray(0, Math.floor(bytes.length / 2)));
  }
  write('empty.pdf', '');
  write('empty.txt', '');
  write('random.docx', noise(5000));
  write('random.pdf', noise(5000));
  write('text-named.png', 'This is plain text pretending to be a picture.\n');
  write('encrypted.pdf', makePdf({ pages: [{ lines: ['secret'] }], passwordProtected: true }));
  write(
    'many-pages.pdf',
    makePdf({ pages: Array.from({ length: MAX_PAGES + 15 }, (_, i) => ({ lines: [`Page ${i + 1}`] })) }),
  );
  // A PDF whose xref offsets all point to the wrong place: readers rebuild the table by scanning.
  const pdf = Buffer.from(
    makePdf({
      pages: [{ lines: ['The customs office is open from eight in the morning until noon every weekday.'] }],
    }),
  );
  const xref = pdf.lastIndexOf('xref');
  const broken = Buffer.from(
    pdf
      .toString('latin1')
      .slice(xref)
      .replace(/\d{10} 00000 n/g, '0000000001 00000 n'),
    'latin1',
  );
  write('bad-xref.pdf', Buffer.concat([pdf.subarray(0, xref), broken]));
  write('bomb-lie.docx', await makeDocxBomb(256, 'lie'));
  write('bomb-truth.docx', await makeDocxBomb(256, 'truth'));
  write('bomb.xlsx', await makeZipBomb(byName('sheet.xlsx'), 'xl/worksheets/sheet1.xml', 256, 'lie'));
  write('bomb.pptx', await makeZipBomb(byName('slides.pptx'), 'ppt/slides/slide1.xml', 256, 'lie'));
  write('pixel-bomb.png', makePngBomb(100_000, 100_000));
  write('deep.json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  write('deep-object.json', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`);
  // Encodings.
  write(
    'utf16le.txt',
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${GREEK}.\n\n${ACCENTED}.\n`, 'utf16le')]),
  );
  const be = Buffer.from(`${ACCENTED}.\n\n${GREEK}.\n`, 'utf16le').swap16();
  write('utf16be.txt', Buffer.concat([Buffer.from([0xfe, 0xff]), be]));
  write('latin1.txt', Buffer.from(`${ACCENTED}. The harbour menu has one dessert.\n`, 'latin1'));
  // Names.
  for (const name of ['with spaces.md', 'ünïcødé 文件 📄.md', 'new\nline.md']) {
    good.push(
      write(
        name,
        `# ${name.replace('\n', ' ')}\n\nThe ferry to the island leaves from the north pier every morning at seven.\n`,
      ),
    );
  }
  // A folder walk's traps: a symlink loop, a dangling link, a FIFO (reading it would block forever).
  mkdirSync(join(inbox, 'sub'));
  good.push(
    write(
      join('sub', 'inner.md'),
      '# Inner\n\nA green triangle marks the lifeboat station on the east quay.\n',
    ),
  );
  symlinkSync(inbox, join(inbox, 'sub', 'loop'));
  symlinkSync(join(inbox, 'missing.md'), join(inbox, 'dangling.md'));
  execFileSync('mkfifo', [join(inbox, 'pipe.txt')]);
  // HTML with scripts and pictures on private addresses: nothing may reach the trap server.
  const t = trap.url;
  write(
    'hostile.html',
    `<!doctype html><html><head><title>Hostile</title><script>fetch('${t}/script-ran');</script>
<link rel="stylesheet" href="${t}/style.css"></head><body onload="fetch('${t}/onload')">
<h1>Hostile page</h1><p>This page tries to make the reader fetch from private addresses on the local machine.</p>
<script>new Image().src = '${t}/script-image'; document.write('<p>WRITTEN BY SCRIPT</p>');</script>
<img src="${t}/loopback.png" alt="Loopback picture" onerror="fetch('${t}/onerror')">
<img src="http://localhost:${trap.port}/by-name.png" alt="Loopback by name">
<img src="http://[::ffff:127.0.0.1]:${trap.port}/mapped.png" alt="Mapped IPv6">
<img src="http://169.254.169.254/latest/meta-data/iam.png" alt="Cloud metadata">
<img src="http://10.0.0.1/intranet.png" alt="Intranet">
<iframe src="${t}/frame"></iframe><noscript><img src="${t}/noscript.png"></noscript>
</body></html>`,
  );

  kb = await openKnowledgeBase({
    kb: join(tmp.dir, 'kb'),
    embed: { model: FIXTURE_MODEL },
    ingest: { ocr: false, maxPages: MAX_PAGES, maxArchiveBytes: MAX_ARCHIVE_BYTES, remoteTimeoutMs: 2000 },
    transcribe: { provider: 'none' },
    llm: { provider: 'none' },
  });
  summary = await kb.ingest([inbox]);
}, 120_000);

afterAll(async () => {
  await kb?.close();
  await trap?.close();
  tmp?.cleanup();
});

describe('bad input in one folder', () => {
  it('every good file is stored whole: its items, as many as its record says', async () => {
    for (const path of good) {
      const o = summary.outcomes.find((x) => x.file === path);
      expect(o?.status, `${path}: ${o?.reason}`).toBe('ingested');
      const record = (await kb.sources()).find((r) => r.source === path);
      expect(record, path).toBeDefined();
      expect((await kb.items(path)).length, path).toBe(record!.items);
      expect(record!.items, path).toBeGreaterThan(0);
    }
  });

  it('truncated, empty and mislabelled binary files fail with a reason', () => {
    const failures: Record<string, RegExp> = {
      'truncated-report.pdf': /truncated|PDF/i,
      'truncated-memo.docx': /truncated|zip/i,
      'truncated-sheet.xlsx': /truncated|zip/i,
      'truncated-slides.pptx': /truncated|zip/i,
      'truncated-circle.png': /picture|image/i,
      'truncated-circle.jpg': /picture|JPEG/i,
      'truncated-circle.webp': /picture|webp/i,
      'truncated-circle.gif': /picture|GIF/i,
      'empty.pdf': /empty \(0 bytes\)/,
      'empty.txt': /empty \(0 bytes\)/,
      'random.docx': /named like a docx file but its content is no known format/,
      'random.pdf': /named like a pdf file/,
      'text-named.png': /named like an? image file/,
      'encrypted.pdf': /password/i,
      'many-pages.pdf': new RegExp(`${MAX_PAGES + 15} pages, over the limit of ${MAX_PAGES}`),
    };
    for (const [name, reason] of Object.entries(failures)) {
      const o = outcome(name);
      expect(o.status, name).toBe('failed');
      expect(o.reason, name).toMatch(reason);
      expect(o.items, name).toBe(0);
    }
  });

  it('a PDF with a broken xref table is rebuilt and read, or fails with a reason', async () => {
    const o = outcome('bad-xref.pdf');
    if (o.status === 'ingested') {
      const text = (await kb.items(join(inbox, 'bad-xref.pdf'))).map((i) => i.text).join(' ');
      expect(text).toContain('customs office');
    } else {
      expect(o.status).toBe('failed');
      expect(o.reason).toMatch(/PDF/);
    }
  });

  it('zip bombs in .docx/.xlsx/.pptx and a PNG pixel bomb are refused, whatever their headers say', () => {
    for (const name of ['bomb-lie.docx', 'bomb-truth.docx', 'bomb.xlsx', 'bomb.pptx']) {
      const o = outcome(name);
      expect(o.status, name).toBe('failed');
      expect(o.reason, name).toMatch(/zip bomb|expands|over the limit/);
    }
    const png = outcome('pixel-bomb.png');
    expect(png.status).toBe('failed');
    expect(png.reason).toMatch(/100000x100000 pixels, over the limit/);
  });

  it('deeply nested JSON fails with a reason instead of overflowing the stack', () => {
    for (const name of ['deep.json', 'deep-object.json']) {
      const o = outcome(name);
      expect(o.status, name).toBe('failed');
      expect(o.reason, name).toMatch(/nest|deep|depth/i);
    }
  });

  const readsText = async (name: string, greek: boolean) => {
    const o = outcome(name);
    expect(o.status, `${name}: ${o.reason}`).toBe('ingested');
    const text = (await kb.items(join(inbox, name))).map((i) => i.text).join(' ');
    expect(text, name).toContain(ACCENTED);
    if (greek) expect(text, name).toContain(GREEK);
    expect(text, name).not.toContain('\ufffd');
  };

  it('UTF-16 big-endian with BOM and Latin-1 text are read correctly', async () => {
    await readsText('utf16be.txt', true);
    await readsText('latin1.txt', false);
  });

  // Known bug, reported to the lead: sniffType (src/ingest/detect.ts) takes the UTF-16LE BOM FF FE for an MP3
  // frame sync, so the .txt is read as audio and fails. Fix: return undefined for a BOM before the MP3 check.
  it('UTF-16 little-endian with BOM (what Windows Notepad writes) is read correctly', async () => {
    await readsText('utf16le.txt', true);
  });

  it('names with spaces, unicode and newlines are stored under their exact paths', async () => {
    const sources = (await kb.sources()).map((r) => r.source);
    for (const name of ['with spaces.md', 'ünïcødé 文件 📄.md', 'new\nline.md']) {
      expect(sources).toContain(join(inbox, name));
      expect((await kb.items(join(inbox, name))).length).toBeGreaterThan(0);
    }
  });

  it('a symlink loop is walked once, a dangling link is reported, a FIFO is skipped without blocking', () => {
    // The loop leads back to the inbox: no file may appear twice (by real path) in the outcomes.
    const files = summary.outcomes.map((o) => o.file);
    expect(files.filter((f) => f.includes(`${join('sub', 'loop')}`))).toEqual([]);
    expect(new Set(files).size).toBe(files.length);
    const dangling = outcome('dangling.md');
    expect(dangling.status).toBe('failed');
    expect(dangling.reason).toBe('no such file or folder');
    expect(files).not.toContain(join(inbox, 'pipe.txt'));
  });

  it('hostile HTML: scripts never run, pictures on private addresses are never fetched', async () => {
    const o = outcome('hostile.html');
    expect(o.status).toBe('ingested');
    expect(trap.requests).toEqual([]);
    const items = await kb.items(join(inbox, 'hostile.html'));
    const text = items.map((i) => i.text).join(' ');
    expect(text).toContain('private addresses');
    expect(text).not.toContain('WRITTEN BY SCRIPT');
    expect(text).not.toContain('fetch(');
    // Each refused picture is a warning naming it and why.
    const warnings = o.warnings.join('\n');
    for (const ref of ['loopback.png', 'by-name.png', 'mapped.png', 'iam.png', 'intranet.png']) {
      expect(warnings).toMatch(new RegExp(`${ref}.*(private|refused)`));
    }
  });

  it('the same picture is fetched when the private network is explicitly allowed (the trap works)', async () => {
    const before = trap.requests.length;
    const loader = new HtmlLoader();
    const warnings: string[] = [];
    await loader.load(
      {
        path: join(inbox, 'allowed.html'),
        bytes: new TextEncoder().encode(
          `<html><body><p>An allowed intranet picture for this one test of the loopback trap.</p><img src="${trap.url}/allowed.png" alt="Allowed"></body></html>`,
        ),
      },
      loaderContext(warnings, { allowPrivateNetwork: true }),
    );
    expect(trap.requests.slice(before).map((r) => r.url)).toEqual(['/allowed.png']);
  });

  it('the summary counts every file once; a second run changes nothing and loses nothing', async () => {
    expect(summary.files).toBe(summary.outcomes.length);
    expect(summary.ingested + summary.unchanged + summary.skipped + summary.failed).toBe(summary.files);
    const before = await kb.sources();
    const again = await kb.ingest([inbox]);
    expect(again.ingested).toBe(0);
    expect(again.unchanged).toBe(summary.ingested);
    expect(again.failed).toBe(summary.failed);
    const after = await kb.sources();
    expect(after.map((r) => [r.source, r.version, r.items])).toEqual(
      before.map((r) => [r.source, r.version, r.items]),
    );
    for (const r of after) expect((await kb.items(r.source)).length, r.source).toBe(r.items);
  });

  it.skipIf(process.getuid?.() === 0)(
    'an unreadable file fails with "permission denied" (not testable as root)',
    async () => {
      const dir = join(tmp.dir, 'locked');
      mkdirSync(dir);
      const path = join(dir, 'secret.md');
      writeFileSync(path, '# Secret\n\nNobody may read this file, not even the indexer.\n');
      chmodSync(path, 0o000);
      const result = await kb.ingest([dir]);
      const o = result.outcomes.find((x) => basename(x.file) === 'secret.md');
      expect(o?.status).toBe('failed');
      expect(o?.reason).toMatch(/permission denied|EACCES/);
    },
  );
});
