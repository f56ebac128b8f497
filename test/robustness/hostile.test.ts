/**
 * Files made to break a run (issue 18), generated at test time (see hostile-files.ts), ingested by the built CLI
 * beside good files, with the CLI's peak resident memory measured (GNU time, or the child's VmHWM):
 *
 * - finding 1: a 5.7 MB .pptx and a 3 MB .docx whose one part is 300 MB of XML (under the ratio and total checks),
 *   and the same with the sizes in the zip headers lying: OOM at 4.7 GB before;
 * - finding 2: a .pptx listing one slide 200 times, an .xlsx whose 2,000 cells share one 100 KB string (minutes and
 *   gigabytes before), a page showing one 1024x1024 picture 1,500 times (4.9 GB before);
 * - finding 3: a PDF with four 20000x20000 pictures (5.7 GB here before) and one whose page inflates to 600 MB;
 * - finding 4: pages nested 40,000 and 200,000 levels deep (23 s and more than 10 minutes before);
 * - the worker's own limits as the last line: with the limits above raised, a file that exhausts the parser's heap
 *   and one that runs past its time each end as one failed line;
 * - finding 9 (an upload's pictures cannot tell which server files exist), finding 10 (a replaced picture leaves
 *   the media store; unsupported files are skipped by their first bytes, not read whole).
 */
import { mkdirSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileOutcome } from '../../src/ingest/pipeline.js';
import { openKnowledgeBase } from '../../src/kb.js';
import { drawShape, FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { makePptx } from '../helpers/make-office.js';
import { ensureBuiltCli, makeZipBomb, runCliMeasured } from '../helpers/robustness.js';
import {
  makeContentBombPdf,
  makeDeepHtml,
  makeHugeDocx,
  makeHugeSlidePptx,
  makeManyPicturesPage,
  makePixelBombPdf,
  makeRepeatedSlidePptx,
  makeSharedStringXlsx,
} from './hostile-files.js';

/** The bound of the issue: a hostile file must not take the process anywhere near the machine's memory. */
const PEAK_RSS_MB = 1536;

let tmp: ReturnType<typeof tempDir>;

function outcomesOf(stdout: string): Map<string, FileOutcome> {
  const outcomes = new Map<string, FileOutcome>();
  for (const line of stdout.trim().split('\n')) {
    const parsed = JSON.parse(line) as FileOutcome | { summary: unknown };
    if ('file' in parsed) outcomes.set(parsed.file.slice(parsed.file.lastIndexOf('/') + 1), parsed);
  }
  return outcomes;
}

async function goodFiles(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'harbour.md'),
    '# Harbour\n\nThe lantern above the harbour gate is lit on the night of the autumn festival.\n',
  );
  writeFileSync(join(dir, 'buoy.png'), await drawShape('red', 'circle', 96));
}

beforeAll(async () => {
  await ensureBuiltCli();
  tmp = tempDir('mmrag-hostile-');
}, 180_000);

afterAll(() => tmp?.cleanup());

describe('hostile files in one run (findings 1-4)', () => {
  it('each is one outcome with its reason, the good files are stored, and memory stays bounded', async () => {
    const hostile = join(tmp.dir, 'hostile');
    mkdirSync(hostile);
    const write = (name: string, bytes: Uint8Array | string) => writeFileSync(join(hostile, name), bytes);
    write('huge-slide.pptx', await makeHugeSlidePptx(300));
    write('huge-body.docx', await makeHugeDocx(300));
    write(
      'liar.pptx',
      await makeZipBomb(
        await makePptx([{ title: 'Liar', body: ['x'] }]),
        'ppt/slides/slide1.xml',
        300,
        'lie',
      ),
    );
    write('one-slide-200-times.pptx', await makeRepeatedSlidePptx(200));
    write('shared-string.xlsx', await makeSharedStringXlsx(2000, 100_000));
    const tiles = await makeManyPicturesPage(1500);
    write('tiles.html', tiles.html);
    write('pixel.png', tiles.png);
    write('pixel-bomb.pdf', makePixelBombPdf(4, 20_000));
    write('content-bomb.pdf', makeContentBombPdf(600));
    write('deep-40000.html', makeDeepHtml(40_000));
    write('deep-200000.html', makeDeepHtml(200_000));
    const good = join(tmp.dir, 'good');
    await goodFiles(good);

    const run = await runCliMeasured(
      ['ingest', hostile, good, '--kb', join(tmp.dir, 'kb'), '--json'],
      tmp.dir,
    );
    const outcomes = outcomesOf(run.stdout);
    console.log(
      `hostile run: ${run.seconds.toFixed(1)} s, peak RSS ${run.peakRssMb.toFixed(0)} MB\n${[
        ...outcomes.values(),
      ]
        .map(
          (o) =>
            `  ${o.status.padEnd(8)} ${o.file.slice(o.file.lastIndexOf('/') + 1)}: ${o.reason ?? `${o.items} items`}`,
        )
        .join('\n')}`,
    );
    expect(run.code, run.stderr).toBe(1); // some files failed; the run itself completed
    expect(outcomes.size).toBe(13);

    const failed = (name: string, reason: RegExp) => {
      const outcome = outcomes.get(name);
      expect(outcome?.status, name).toBe('failed');
      expect(outcome?.reason, name).toMatch(reason);
    };
    failed(
      'huge-slide.pptx',
      /ppt\/slides\/slide1\.xml expands to 300\.0 MiB, over the limit of 64\.0 MiB per part \(ingest\.maxPartBytes\)/,
    );
    failed(
      'huge-body.docx',
      /word\/document\.xml expands to 300\.\d MiB, over the limit of 64\.0 MiB per part/,
    );
    failed('liar.pptx', /ppt\/slides\/slide1\.xml expands past 64\.0 MiB/);
    failed('one-slide-200-times.pptx', /slide1\.xml is used more than 4 times \(ingest\.maxPartReferences/);
    failed(
      'shared-string.xlsx',
      /cells hold more than 100000000 characters of text \(ingest\.maxTextChars\)/,
    );
    failed('content-bomb.pdf', /a stream of the PDF inflates past 64\.0 MiB \(ingest\.maxPartBytes/);
    failed('deep-40000.html', /nests elements more than 2000 levels deep \(ingest\.maxNestingDepth\)/);
    failed('deep-200000.html', /nests elements more than 2000 levels deep/);

    // Legitimate content around hostile parts is kept, within bounds: the page's 1,500 pictures are one picture
    // decoded and embedded once; the PDF's text is kept and its four giant pictures skipped before decoding.
    const tilesOutcome = outcomes.get('tiles.html')!;
    expect(tilesOutcome.status).toBe('ingested');
    expect(tilesOutcome.imageItems).toBe(1500);
    const pdf = outcomes.get('pixel-bomb.pdf')!;
    expect(pdf.status).toBe('ingested');
    expect(pdf.textItems).toBe(1);
    expect(
      pdf.warnings.filter((w) => /skipped a 20000x20000 picture \(over the pixel limit/.test(w)),
    ).toHaveLength(4);

    for (const name of ['harbour.md', 'buoy.png']) expect(outcomes.get(name)?.status, name).toBe('ingested');
    // The page's picture belongs to the page: not ingested a second time on its own.
    expect(outcomes.get('pixel.png')?.reason).toMatch(/a picture of .*tiles\.html, ingested with it/);
    expect(run.peakRssMb).toBeLessThan(PEAK_RSS_MB);
  }, 120_000);
});

describe("the parser's own limits, when the others are raised", () => {
  /** Ingest `name` (made by `make`) beside the good files, with the given `ingest` settings. */
  async function runWith(name: string, bytes: Uint8Array | string, ingest: Record<string, number>) {
    const dir = join(tmp.dir, `backstop-${name}`);
    mkdirSync(join(dir, 'files'), { recursive: true });
    writeFileSync(join(dir, 'files', name), bytes);
    await goodFiles(join(dir, 'good'));
    writeFileSync(join(dir, 'mmrag.config.json'), JSON.stringify({ ingest }));
    const run = await runCliMeasured(
      ['ingest', join(dir, 'files'), join(dir, 'good'), '--kb', join(dir, 'kb'), '--json'],
      dir,
    );
    console.log(
      `${name} (${JSON.stringify(ingest)}): ${run.seconds.toFixed(1)} s, peak RSS ${run.peakRssMb.toFixed(0)} MB`,
    );
    const outcomes = outcomesOf(run.stdout);
    expect(run.code, run.stderr).toBe(1);
    expect(outcomes.get('harbour.md')?.status).toBe('ingested');
    expect(outcomes.get('buoy.png')?.status).toBe('ingested');
    expect(run.peakRssMb).toBeLessThan(PEAK_RSS_MB);
    return outcomes.get(name)!;
  }

  it('a file that exhausts the worker heap is one failed line naming the limit', async () => {
    const outcome = await runWith('huge-slide.pptx', await makeHugeSlidePptx(40), {
      maxPartBytes: 1024 * 1024 * 1024,
      maxParseMemoryMb: 192,
    });
    expect(outcome.status).toBe('failed');
    expect(outcome.reason).toMatch(
      /parsing stopped: it needed more than 192 MB of memory \(raise ingest\.maxParseMemoryMb/,
    );
  }, 60_000);

  it('a file that runs past its time is one failed line naming the limit', async () => {
    const outcome = await runWith('deep-200000.html', makeDeepHtml(200_000), {
      maxNestingDepth: 10_000_000,
      maxParseSeconds: 3,
    });
    expect(outcome.status).toBe('failed');
    expect(outcome.reason).toMatch(
      /parsing stopped after 3 s, the time one file may take \(raise ingest\.maxParseSeconds/,
    );
  }, 60_000);
});

describe('unsupported files (finding 10)', () => {
  it('are skipped by their first bytes, never read whole', async () => {
    const dir = join(tmp.dir, 'unsupported');
    mkdirSync(dir);
    // Sparse files: 150 MB each to the reader, nothing on disk.
    for (let i = 0; i < 8; i++) {
      writeFileSync(join(dir, `disk-image-${i}.bin`), '');
      truncateSync(join(dir, `disk-image-${i}.bin`), 150 * 1024 * 1024);
    }
    writeFileSync(
      join(dir, 'note.md'),
      '# Note\n\nOne readable file among the disk images of the backup folder.\n',
    );
    const run = await runCliMeasured(
      ['ingest', dir, '--kb', join(tmp.dir, 'kb-unsupported'), '--json'],
      tmp.dir,
    );
    const outcomes = outcomesOf(run.stdout);
    console.log(
      `8 unsupported files of 150 MB: ${run.seconds.toFixed(1)} s, peak RSS ${run.peakRssMb.toFixed(0)} MB`,
    );
    expect(run.code, run.stderr).toBe(0);
    expect([...outcomes.values()].filter((o) => o.status === 'skipped')).toHaveLength(8);
    expect(outcomes.get('note.md')?.status).toBe('ingested');
    // Eight files read whole would be 1.2 GB; the process itself needs a few hundred MB.
    expect(run.peakRssMb).toBeLessThan(600);
  }, 60_000);
});

describe('uploads and re-ingests (findings 9 and 10)', () => {
  const open = (kb: string) =>
    openKnowledgeBase({
      kb,
      embed: { model: FIXTURE_MODEL },
      ingest: { ocr: false },
      transcribe: { provider: 'none' },
      llm: { provider: 'none' },
    });

  it('an uploaded page cannot tell which server files exist: a present and a missing file warn alike', async () => {
    const upload = join(tmp.dir, 'upload-job');
    mkdirSync(upload);
    writeFileSync(
      join(upload, 'probe.md'),
      '# Probe\n\nA note whose pictures point at files of the server, one that exists and one that does not.\n\n![a](/etc/shadow)\n\n![b](/etc/no-such-file)\n\n![c](../../../../../../etc/hostname)\n\n![d](../../../../../../etc/no-such-name)\n',
    );
    const kb = await open(join(tmp.dir, 'kb-upload'));
    try {
      const summary = await kb.ingest([upload], { localRoot: upload });
      const warnings = summary.outcomes[0]!.warnings;
      expect(warnings).toHaveLength(4);
      const shapes = warnings.map((w) =>
        w
          .replace(/"[^"]*"/, '"<ref>"')
          .replace(/\/[^\s]*(shadow|no-such-file|hostname|no-such-name)/g, '<path>'),
      );
      expect(new Set(shapes).size, warnings.join('\n')).toBe(1);
      expect(summary.imageItems).toBe(0);
    } finally {
      await kb.close();
    }
  });

  it('a picture replaced by a re-ingest leaves the media store', async () => {
    const folder = join(tmp.dir, 'replaced');
    mkdirSync(folder);
    const picture = join(folder, 'marker.png');
    writeFileSync(picture, await drawShape('red', 'circle', 96));
    const kbDir = join(tmp.dir, 'kb-replaced');
    const kb = await open(kbDir);
    const mediaFiles = () =>
      readdirSync(join(kbDir, 'media'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
        .length;
    try {
      await kb.ingest([folder]);
      expect(mediaFiles()).toBe(1);
      writeFileSync(picture, await drawShape('blue', 'square', 96));
      const again = await kb.ingest([folder]);
      expect(again.ingested).toBe(1);
      expect(mediaFiles()).toBe(1);
      const [item] = await kb.items(picture);
      expect((await kb.media(item!.id))?.path).toBeDefined();
    } finally {
      await kb.close();
    }
  });
});
