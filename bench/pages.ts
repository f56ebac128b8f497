/**
 * What page pictures cost at ingest: the same PDFs (text pages, as reports are) ingested with every page rendered
 * whole to a `page` picture (the default) and with `ingest.maxPageImages: 0`, pages/s for each and the share of the
 * ingest time the page pictures take; with LibreOffice on the PATH, a slide deck the same way (its conversion to PDF
 * included). Fixture CLIP model, OCR off; each setting run `--repeat` times (default 2), the fastest run kept.
 *   npm run bench:pages [-- --files 4 --pages 10 --slides 10 --repeat 2]
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigSchema } from '../src/config.js';
import { loadClipEmbedder } from '../src/embed/clip.js';
import type { LoaderContext } from '../src/ingest/loader.js';
import { renderPdfPages } from '../src/ingest/loaders/pdf.js';
import { openKnowledgeBase } from '../src/kb.js';
import { decodeToRgb } from '../src/media/image-decode.js';
import { findSoffice } from '../src/media/soffice.js';
import { type DrawnPage, flatOdf, sofficeConvert } from '../test/helpers/make-drawing.js';
import { makePdf } from '../test/helpers/make-pdf.js';
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
  process.stderr.write(`[pages bench] ${message}\n`);
}

function arg(name: string, fallback: number): number {
  const argv = process.argv.slice(2);
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
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

interface Run {
  seconds: number;
  textItems: number;
  imageItems: number;
}

type Embedder = Awaited<ReturnType<typeof loadClipEmbedder>>;

/** One ingest of `input` into a fresh knowledge base; the embedder is shared (closing a kb would dispose its own). */
async function ingestOnce(
  root: string,
  input: string,
  maxPageImages: number,
  embedder: Embedder,
): Promise<Run> {
  const dir = path.join(root, `kb-${maxPageImages}-${Math.random().toString(36).slice(2)}`);
  const kb = await openKnowledgeBase({
    kb: dir,
    embed: { model: FIXTURE_MODEL, allowRemote: false, batchSize: BATCH },
    ingest: { ocr: false, maxPageImages },
    transcribe: { provider: 'none' },
  });
  kb.models.useEmbedder({
    modelId: embedder.modelId,
    dim: embedder.dim,
    embedTexts: (t) => embedder.embedTexts(t),
    embedImages: (i) => embedder.embedImages(i),
    dispose: async () => {},
  });
  const start = performance.now();
  const summary = await kb.ingest([input]);
  const seconds = (performance.now() - start) / 1000;
  await kb.close();
  rmSync(dir, { recursive: true, force: true });
  if (summary.failed > 0)
    throw new Error(`${input}: ${summary.failed} files failed: ${summary.outcomes[0]?.reason}`);
  return { seconds, textItems: summary.textItems, imageItems: summary.imageItems };
}

/**
 * Where a page picture's time goes, per page, outside the pipeline: pdf.js drawing the page at 1,024 px and the PNG
 * encode (`renderPdfPages`, what the loader calls), then decoding it and embedding it with the image model.
 */
async function pageParts(pdfs: string[], embedder: Embedder): Promise<{ renderMs: number; embedMs: number }> {
  const ingest = ConfigSchema.parse({}).ingest;
  const ctx: LoaderContext = {
    fetchRemote: false,
    allowPrivateNetwork: false,
    minTextLength: 30,
    chunkSize: 256,
    chunkOverlap: 64,
    remoteTimeoutMs: 1000,
    limits: ingest,
    warn: log,
  };
  const pngs: Uint8Array[] = [];
  let start = performance.now();
  for (const file of pdfs) {
    const { pages } = await renderPdfPages(readFileSync(file), ingest.maxPageImages, file, ctx);
    pngs.push(...pages.map((p) => p.png));
  }
  const renderMs = (performance.now() - start) / pngs.length;
  start = performance.now();
  for (let i = 0; i < pngs.length; i += BATCH) {
    const batch = pngs.slice(i, i + BATCH);
    const images = await Promise.all(
      batch.map((png) => decodeToRgb(Buffer.from(png), { maxPixels: ingest.maxImagePixels, maxSide: 1024 })),
    );
    await embedder.embedImages(images);
  }
  return { renderMs, embedMs: (performance.now() - start) / pngs.length };
}

/** The fastest of `repeat` runs of each setting, the settings alternated so that load drifts hit both alike. */
async function compare(
  root: string,
  input: string,
  repeat: number,
  embedder: Embedder,
): Promise<{ withPages: Run; without: Run }> {
  let withPages: Run | undefined;
  let without: Run | undefined;
  for (let i = 0; i < repeat; i++) {
    const a = await ingestOnce(root, input, 500, embedder);
    const b = await ingestOnce(root, input, 0, embedder);
    if (!withPages || a.seconds < withPages.seconds) withPages = a;
    if (!without || b.seconds < without.seconds) without = b;
  }
  return { withPages: withPages!, without: without! };
}

async function main(): Promise<void> {
  const files = arg('files', 4);
  const pagesPerFile = arg('pages', 10);
  const slides = arg('slides', 10);
  const repeat = arg('repeat', 2);
  const outAt = process.argv.indexOf('--out');
  const out = outAt >= 0 ? process.argv[outAt + 1]! : null;
  const root = path.join(os.tmpdir(), `mmrag-bench-pages-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  const random = seededRandom(7);
  const pdfDir = path.join(root, 'pdf');
  mkdirSync(pdfDir, { recursive: true });
  for (let f = 0; f < files; f++) {
    const pages = Array.from({ length: pagesPerFile }, () => ({
      lines: prose(random, 350).match(/.{1,90}(\s|$)/g) ?? [],
    }));
    writeFileSync(path.join(pdfDir, `report-${f}.pdf`), makePdf({ pages, title: `Report ${f}` }));
  }
  const soffice = slides > 0 ? await findSoffice() : undefined;
  let deck: string | undefined;
  if (soffice) {
    const deckDir = path.join(root, 'deck');
    mkdirSync(deckDir, { recursive: true });
    const drawn: DrawnPage[] = Array.from({ length: slides }, (_, i) => ({
      texts: [{ text: `Slide ${i + 1}: ${prose(random, 12)}`, x: 2, y: 1, width: 22, height: 2 }],
      shapes: [{ kind: 'ellipse', fill: '#ff0000', x: 8, y: 4, width: 9, height: 9 }],
    }));
    const source = path.join(deckDir, 'harbour-deck.fodp');
    writeFileSync(source, flatOdf('presentation', drawn));
    deck = sofficeConvert(source, 'pptx', deckDir);
    rmSync(source);
  } else if (slides > 0) log('LibreOffice (soffice) is not on the PATH: no slide deck measured');

  const embedder = await loadClipEmbedder({
    model: FIXTURE_MODEL,
    allowRemote: false,
    dtype: 'fp32',
    batchSize: BATCH,
  });
  await embedder.embedTexts(['a red circle']);
  const load = os.loadavg()[0]!;
  log(`PDF: ${files} files x ${pagesPerFile} pages, ${repeat} runs each way (load ${load.toFixed(2)})`);
  const pdf = await compare(root, pdfDir, repeat, embedder);
  log('render and embed, outside the pipeline');
  const parts = await pageParts(
    readdirSync(pdfDir).map((f) => path.join(pdfDir, f)),
    embedder,
  );
  if (deck) log(`deck: ${slides} slides`);
  const slideRuns = deck ? await compare(root, deck, repeat, embedder) : undefined;
  await embedder.dispose();
  rmSync(root, { recursive: true, force: true });
  const loadAfter = os.loadavg()[0]!;

  const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const row = (label: string, units: number, r: { withPages: Run; without: Run }) => {
    const added = r.withPages.seconds - r.without.seconds;
    return [
      label,
      String(units),
      f1(units / r.withPages.seconds),
      f1(units / r.without.seconds),
      ((added * 1000) / units).toFixed(0),
      pct(added / r.withPages.seconds),
      String(r.withPages.imageItems - r.without.imageItems),
    ];
  };
  const header = [
    'input',
    'pages',
    'pages/s with page pictures',
    'pages/s without',
    'ms added per page',
    'share of ingest time',
    'page items',
  ];
  const rows = [row(`PDF (${files} x ${pagesPerFile} text pages)`, files * pagesPerFile, pdf)];
  if (slideRuns) rows.push(row(`slide deck (.pptx, through soffice)`, slides, slideRuns));
  console.log('\nPage pictures at ingest, fixture CLIP model (tiny-clip-shapes, fp32), OCR off');
  console.log(formatTable(header, rows));
  const partsHeader = ['per page picture (PDF, outside the pipeline)', 'ms'];
  const partsRows = [
    ['pdf.js render at 1,024 px + PNG encode', parts.renderMs.toFixed(0)],
    ['PNG decode + image embedding (batches of 16)', parts.embedMs.toFixed(0)],
  ];
  console.log(`\n${formatTable(partsHeader, partsRows)}`);
  console.log(
    `\nload average ${load.toFixed(2)} before, ${loadAfter.toFixed(2)} after; peak RSS ${peakRssMb().toFixed(0)} MB`,
  );
  console.log(`\n${formatMarkdownTable(header, rows)}\n\n${formatMarkdownTable(partsHeader, partsRows)}`);
  const file = writeResults('pages', out, {
    settings: { files, pagesPerFile, slides: deck ? slides : 0, repeat, model: 'tiny-clip-shapes fp32' },
    loadAverage: { before: load, after: loadAfter },
    pdf,
    perPageOutsidePipeline: parts,
    ...(slideRuns ? { slides: slideRuns } : {}),
    peakRssMb: peakRssMb(),
  });
  console.log(`\nwrote ${file}`);
}

await main();
