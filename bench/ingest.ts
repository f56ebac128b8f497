/**
 * Ingest throughput with the fixture CLIP model: pictures/s and text chunks/s through KnowledgeBase.ingest,
 * against the raw model's own speed (embedImages / embedTexts on the same decoded inputs, same batch size) in the
 * same run, and per file type (PDF pages, OCR'd pictures, spreadsheet rows).
 *   npx tsc -p bench/tsconfig.json && node node_modules/.cache/mmrag-bench/bench/ingest.js [--pictures 200]
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClipEmbedder } from '../src/embed/clip.js';
import { type KnowledgeBase, openKnowledgeBase } from '../src/kb.js';
import type { RgbImage } from '../src/media/image-decode.js';
import { decodeToRgb } from '../src/media/image-decode.js';
import { textForm } from '../src/text-form.js';
import { COLOURS, drawShape, type Shape } from '../test/helpers/fixtures.js';
import { makeXlsx } from '../test/helpers/make-office.js';
import { makePdf, printedTextSvg, svgToPixels } from '../test/helpers/make-pdf.js';
import { formatMarkdownTable, formatTable, peakRssMb, seededRandom, writeResults } from './lib.js';

const FIXTURE_MODEL = path.resolve('models', 'tiny-clip-shapes');
const BATCH = 16;
const SENTENCES = [
  'The harbour office keeps the tide tables for every month of the year on the wall by the door.',
  'Fishing boats leave before dawn and come back in the afternoon with their catch for the market.',
  'The lantern is lit only on the night of the autumn festival, above the harbour gate.',
  'Visitors can rent small rowing boats at the slipway from spring until the end of the summer.',
  'The old customs house is now a museum about the history of the harbour and its trade routes.',
  'A narrow road climbs from the square to the lighthouse, past the mill and the orchard.',
];

function log(message: string): void {
  process.stderr.write(`[ingest bench] ${message}\n`);
}

function prose(random: () => number, words: number): string {
  const parts: string[] = [];
  let count = 0;
  while (count < words) {
    const s = SENTENCES[Math.floor(random() * SENTENCES.length)]!;
    parts.push(s);
    count += s.split(' ').length;
  }
  return parts.join(' ');
}

interface Inputs {
  pictures: string;
  pictureFiles: string[];
  text: string;
  pdf: string;
  pdfPages: number;
  ocr: string;
  ocrImages: number;
  xlsx: string;
  xlsxRows: number;
}

async function makeInputs(root: string, pictures: number): Promise<Inputs> {
  const random = seededRandom(11);
  const dirs = Object.fromEntries(
    ['pictures', 'text', 'pdf', 'ocr', 'xlsx'].map((d) => {
      const p = path.join(root, d);
      mkdirSync(p, { recursive: true });
      return [d, p];
    }),
  ) as Record<'pictures' | 'text' | 'pdf' | 'ocr' | 'xlsx', string>;
  const colours = Object.keys(COLOURS) as Array<keyof typeof COLOURS>;
  const shapes: Shape[] = ['circle', 'square', 'triangle'];
  const pictureFiles: string[] = [];
  for (let i = 0; i < pictures; i++) {
    const file = path.join(dirs.pictures, `shape-${i}.png`);
    // Distinct sizes make distinct files (each one an item); 300-400 px, like a web picture.
    writeFileSync(file, await drawShape(colours[i % colours.length]!, shapes[i % 3]!, 300 + (i % 100)));
    pictureFiles.push(file);
  }
  for (let i = 0; i < 20; i++) writeFileSync(path.join(dirs.text, `notes-${i}.txt`), prose(random, 3000));
  const pdfFiles = 10;
  const pagesPerPdf = 10;
  for (let f = 0; f < pdfFiles; f++) {
    const pages = Array.from({ length: pagesPerPdf }, () => ({
      lines: prose(random, 350).match(/.{1,90}(\s|$)/g) ?? [],
    }));
    writeFileSync(path.join(dirs.pdf, `report-${f}.pdf`), makePdf({ pages, title: `Report ${f}` }));
  }
  const ocrImages = 8;
  const { default: sharp } = await import('sharp');
  for (let i = 0; i < ocrImages; i++) {
    const pixels = await svgToPixels(printedTextSvg(`Invoice ${1000 + i} paid`));
    const png = await sharp(pixels.data, {
      raw: { width: pixels.width, height: pixels.height, channels: pixels.channels },
    })
      .png()
      .toBuffer();
    writeFileSync(path.join(dirs.ocr, `scan-${i}.png`), png);
  }
  const xlsxFiles = 4;
  const rowsPerSheet = 2500;
  for (let f = 0; f < xlsxFiles; f++) {
    const rows = [
      ['Date', 'Region', 'Product', 'Units', 'Price'],
      ...Array.from({ length: rowsPerSheet }, (_, r) => [
        `2026-${String((r % 12) + 1).padStart(2, '0')}-01`,
        ['North', 'South', 'East', 'West'][r % 4]!,
        `Item ${r % 97}`,
        r % 50,
        (r % 13) + 0.5,
      ]),
    ];
    writeFileSync(path.join(dirs.xlsx, `sales-${f}.xlsx`), await makeXlsx([{ name: 'Sales', rows }]));
  }
  return {
    ...dirs,
    pictureFiles,
    pdfPages: pdfFiles * pagesPerPdf,
    ocrImages,
    xlsxRows: xlsxFiles * rowsPerSheet,
  };
}

async function ingestRun(
  root: string,
  name: string,
  input: string,
  options: { ocr: boolean },
  embedder: Awaited<ReturnType<typeof loadClipEmbedder>>,
): Promise<{
  kb: KnowledgeBase;
  seconds: number;
  pipelineSeconds: number;
  textItems: number;
  imageItems: number;
  /** Sizes of the embedImages calls the pipeline made. */
  imageBatches: number[];
}> {
  const kb = await openKnowledgeBase({
    kb: path.join(root, `kb-${name}`),
    embed: { model: FIXTURE_MODEL, allowRemote: false, batchSize: BATCH },
    ingest: { ocr: options.ocr },
    transcribe: { provider: 'none' },
  });
  // Shared across runs: closing a knowledge base disposes its embedder, so hand it one that outlives it.
  const imageBatches: number[] = [];
  kb.models.useEmbedder({
    modelId: embedder.modelId,
    dim: embedder.dim,
    embedTexts: (t) => embedder.embedTexts(t),
    embedImages: (i) => {
      if (i.length > 0) imageBatches.push(i.length);
      return embedder.embedImages(i);
    },
    dispose: async () => {},
  });
  const start = performance.now();
  const summary = await kb.ingest([input]);
  const seconds = (performance.now() - start) / 1000;
  if (summary.failed > 0)
    throw new Error(`${name}: ${summary.failed} files failed: ${summary.outcomes[0]?.reason}`);
  return {
    kb,
    seconds,
    pipelineSeconds: summary.seconds,
    textItems: summary.textItems,
    imageItems: summary.imageItems,
    imageBatches,
  };
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1000;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--pictures');
  const pictures = at >= 0 ? Number(argv[at + 1]) : 200;
  const outAt = argv.indexOf('--out');
  const out = outAt >= 0 ? argv[outAt + 1]! : null;
  const root = path.join(os.tmpdir(), `mmrag-bench-ingest-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  log(`generating inputs in ${root}`);
  const inputs = await makeInputs(root, pictures);
  const embedder = await loadClipEmbedder({
    model: FIXTURE_MODEL,
    allowRemote: false,
    dtype: 'fp32',
    batchSize: BATCH,
  });
  // Warm the sessions (first calls compile kernels).
  await embedder.embedTexts(['a red circle']);
  await embedder.embedImages([
    await decodeToRgb(readFileSync(inputs.pictureFiles[0]!), { maxPixels: 1e8, maxSide: 1024 }),
  ]);

  log('pictures through kb.ingest (OCR off)');
  const pics = await ingestRun(root, 'pictures', inputs.pictures, { ocr: false }, embedder);
  log('pictures through the raw model');
  const decoded: RgbImage[] = [];
  for (const f of inputs.pictureFiles)
    decoded.push(await decodeToRgb(readFileSync(f), { maxPixels: 1e8, maxSide: 1024 }));
  const rawPictureSeconds = await timed(async () => {
    for (let i = 0; i < decoded.length; i += BATCH) await embedder.embedImages(decoded.slice(i, i + BATCH));
  });
  const rawBatch = async (size: number) =>
    timed(async () => {
      for (let i = 0; i < decoded.length; i += size) await embedder.embedImages(decoded.slice(i, i + size));
    });
  const rawBatch1Seconds = await rawBatch(1);
  const rawBatch3Seconds = await rawBatch(3);
  const decodeSeconds = await timed(async () => {
    for (const f of inputs.pictureFiles)
      await decodeToRgb(readFileSync(f), { maxPixels: 1e8, maxSide: 1024 });
  });
  // What mmrag also embeds for each picture: its caption through the text tower (the item's text form).
  const captions = (await Promise.all((await pics.kb.sources()).map((s) => pics.kb.items(s.source)))).flat();
  const captionSeconds = await timed(async () => {
    const texts = captions.map((c) => textForm(c));
    for (let i = 0; i < texts.length; i += BATCH) await embedder.embedTexts(texts.slice(i, i + BATCH));
  });
  await pics.kb.close();

  log('text through kb.ingest');
  const text = await ingestRun(root, 'text', inputs.text, { ocr: false }, embedder);
  const chunks = (await Promise.all((await text.kb.sources()).map((s) => text.kb.items(s.source))))
    .flat()
    .map((item) => textForm(item));
  await text.kb.close();
  log(`text: ${chunks.length} chunks through the raw model`);
  const rawTextSeconds = await timed(async () => {
    for (let i = 0; i < chunks.length; i += BATCH) await embedder.embedTexts(chunks.slice(i, i + BATCH));
  });

  log('PDF');
  const pdf = await ingestRun(root, 'pdf', inputs.pdf, { ocr: true }, embedder);
  await pdf.kb.close();
  log('OCR');
  const ocr = await ingestRun(root, 'ocr', inputs.ocr, { ocr: true }, embedder);
  await ocr.kb.close();
  log('spreadsheets');
  const xlsx = await ingestRun(root, 'xlsx', inputs.xlsx, { ocr: false }, embedder);
  await xlsx.kb.close();
  await embedder.dispose();
  rmSync(root, { recursive: true, force: true });

  const picturesPerSecond = pics.imageItems / pics.seconds;
  const rawPicturesPerSecond = decoded.length / rawPictureSeconds;
  const chunksPerSecond = text.textItems / text.seconds;
  const rawChunksPerSecond = chunks.length / rawTextSeconds;
  const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const throughput = [
    [
      'pictures (PNG 300-400 px, OCR off)',
      String(pics.imageItems),
      f1(picturesPerSecond),
      f1(rawPicturesPerSecond),
      (picturesPerSecond / rawPicturesPerSecond).toFixed(2),
    ],
    [
      'text chunks (.txt)',
      String(text.textItems),
      f1(chunksPerSecond),
      f1(rawChunksPerSecond),
      (chunksPerSecond / rawChunksPerSecond).toFixed(2),
    ],
  ];
  const perType = [
    [
      'PDF pages (text, 10-page files)',
      String(inputs.pdfPages),
      f1(inputs.pdfPages / pdf.seconds),
      `${pdf.textItems + pdf.imageItems} items`,
    ],
    [
      "OCR'd pictures (printed text)",
      String(inputs.ocrImages),
      f1(inputs.ocrImages / ocr.seconds),
      `${ocr.imageItems} pictures`,
    ],
    [
      'spreadsheet rows (.xlsx)',
      String(inputs.xlsxRows),
      f1(inputs.xlsxRows / xlsx.seconds),
      `${xlsx.textItems} chunks`,
    ],
  ];
  const breakdown = [
    [`raw model: embedImages, batches of ${BATCH}`, ((rawPictureSeconds * 1000) / decoded.length).toFixed(2)],
    ['raw model: embedImages, batches of 3', ((rawBatch3Seconds * 1000) / decoded.length).toFixed(2)],
    ['raw model: embedImages, batches of 1', ((rawBatch1Seconds * 1000) / decoded.length).toFixed(2)],
    ['decode (sharp, to RGB)', ((decodeSeconds * 1000) / decoded.length).toFixed(2)],
    ['caption through the text tower', ((captionSeconds * 1000) / decoded.length).toFixed(2)],
    ['kb.ingest, all in (per picture)', ((pics.seconds * 1000) / pics.imageItems).toFixed(2)],
    [
      '  of which the pipeline (before optimize)',
      ((pics.pipelineSeconds * 1000) / pics.imageItems).toFixed(2),
    ],
  ];
  const h1 = ['input', 'items', 'mmrag items/s', 'raw model items/s', 'mmrag / raw'];
  const h2 = ['file type', 'units', 'units/s', 'items'];
  const meanBatch = pics.imageBatches.reduce((a, b) => a + b, 0) / Math.max(1, pics.imageBatches.length);
  breakdown.push(['mean embedImages batch inside kb.ingest (pictures)', meanBatch.toFixed(1)]);
  const h3 = ['per picture', 'ms'];
  console.log(`\nIngest throughput, fixture CLIP model (tiny-clip-shapes, fp32, batch ${BATCH})`);
  console.log(formatTable(h1, throughput));
  console.log(`\n${formatTable(h2, perType)}`);
  console.log(`\n${formatTable(h3, breakdown)}`);
  console.log(`\npeak RSS ${peakRssMb().toFixed(0)} MB`);
  console.log(
    `\n${[formatMarkdownTable(h1, throughput), formatMarkdownTable(h2, perType), formatMarkdownTable(h3, breakdown)].join('\n\n')}`,
  );
  const file = writeResults('ingest', out, {
    settings: { pictures, batch: BATCH, model: 'tiny-clip-shapes fp32' },
    pictures: {
      meanBatch,
      rawBatch1Seconds,
      rawBatch3Seconds,
      items: pics.imageItems,
      seconds: pics.seconds,
      pipelineSeconds: pics.pipelineSeconds,
      rawSeconds: rawPictureSeconds,
      decodeSeconds,
      captionSeconds,
    },
    text: {
      items: text.textItems,
      seconds: text.seconds,
      pipelineSeconds: text.pipelineSeconds,
      rawSeconds: rawTextSeconds,
    },
    pdf: { pages: inputs.pdfPages, seconds: pdf.seconds },
    ocr: { images: inputs.ocrImages, seconds: ocr.seconds },
    xlsx: { rows: inputs.xlsxRows, seconds: xlsx.seconds, chunks: xlsx.textItems },
    peakRssMb: peakRssMb(),
  });
  console.log(`\nwrote ${file}`);
}

await main();
