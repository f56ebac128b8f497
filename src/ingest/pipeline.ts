import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Config } from '../config.js';
import type { Embedder, RgbImage, TextSpace } from '../embed/embedder.js';
import type { OcrEngine, Transcriber } from '../enrich/types.js';
import { errorMessage, MmragError } from '../errors.js';
import { decodeToRgb, EMBED_MAX_SIDE, sniffImageMime } from '../media/image-decode.js';
import type { MediaStore } from '../store/media-store.js';
import type { Store, StoreRow } from '../store/store.js';
import { textForm } from '../text-form.js';
import type { ItemDraft, SourceRecord, SourceType } from '../types.js';
import { l2normalize } from '../vector/dot.js';
import { detectType } from './detect.js';
import { hashFile, readProbe } from './file-probe.js';
import type { LoaderContext } from './loader.js';
import { ParsePool } from './parse-pool.js';
import { checkOutput } from './parse-protocol.js';
import { embedPictures, HeldPictures } from './picture-batches.js';
import type { LoaderRegistry } from './registry.js';
import { walkFiles } from './walk.js';

export type FileStatus = 'ingested' | 'unchanged' | 'skipped' | 'failed';

/** What happened to one file: one line of `ingest --json`. */
export interface FileOutcome {
  file: string;
  status: FileStatus;
  type?: SourceType;
  items: number;
  textItems: number;
  imageItems: number;
  warnings: string[];
  reason?: string;
}

export type IngestEvent =
  | { kind: 'walked'; files: number }
  | { kind: 'file-start'; file: string; index: number }
  | { kind: 'file-done'; outcome: FileOutcome; index: number }
  /** Items of a file embedded so far (`done` of `total`), while a large file is embedded. */
  | { kind: 'file-progress'; index: number; file: string; done: number; total: number };

export interface TypeCounts {
  ingested: number;
  unchanged: number;
  skipped: number;
  failed: number;
  items: number;
}

export interface IngestSummary {
  files: number;
  ingested: number;
  unchanged: number;
  skipped: number;
  failed: number;
  items: number;
  textItems: number;
  imageItems: number;
  seconds: number;
  byType: Partial<Record<SourceType | 'unknown', TypeCounts>>;
  /** Problems that did not stop a file (their messages are in each outcome's `warnings`). */
  warnings: WarningCounts;
  outcomes: FileOutcome[];
  /** Sources removed because their files are gone (`--prune`). */
  pruned?: string[];
}

/** How many warnings a run had, and how many of them were pictures that could not be had or network failures. */
export interface WarningCounts {
  total: number;
  /** Pictures a document refers to that were left out (missing, unreadable, not fetched). */
  pictures: number;
  /** Warnings caused by the network (offline, a name that does not resolve, a refused connection). */
  network: number;
}

const PICTURE_WARNING = /^picture |: image "|\bpicture\b.*\bskipped\b/i;
const NETWORK_WARNING =
  /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|fetch failed|network|timed out|did not answer|remote fetching is off/i;

/** Count one outcome's warnings into `counts` (pure: classified by what the message says). */
export function countWarnings(counts: WarningCounts, warnings: readonly string[]): void {
  for (const warning of warnings) {
    counts.total++;
    if (PICTURE_WARNING.test(warning)) counts.pictures++;
    if (NETWORK_WARNING.test(warning)) counts.network++;
  }
}

export interface IngestDependencies {
  store: Store;
  media: MediaStore;
  /** Loaded on first need: a re-run over unchanged files never loads the model. */
  embedder: () => Promise<Embedder>;
  /** The text embedder for text forms (CLIP's text tower unless a dedicated text model is configured). */
  textSpace: () => Promise<TextSpace>;
  /** Describes a picture with a multimodal LLM (level-1 captioning), when `--caption` is on. */
  describePicture?: (picture: { bytes: Uint8Array; mime: string }, context: string) => Promise<string>;
  config: Config;
  /** Which loader reads which type. */
  loaders: LoaderRegistry;
  /** Folders never walked into (the knowledge base itself). */
  exclude: string[];
  /** Local files a document refers to are read only from inside this folder (server uploads). */
  localRoot?: string;
}

export interface IngestOptions {
  onEvent?: (event: IngestEvent) => void;
  signal?: AbortSignal;
}

/** A file read, parsed and decoded, waiting for the model. */
interface Prepared {
  outcome: FileOutcome;
  record?: SourceRecord;
  drafts: ItemDraft[];
  /** Decoded pixels per image draft index, while the run has room to hold them (else decoded again to embed). */
  pixels: Map<number, RgbImage>;
  /** Stored media path per image draft index. */
  mediaPaths: Map<number, string>;
  /** MLLM description per image draft index (captioning on). */
  descriptions: Map<number, string>;
}

/** Files prepared ahead of the model: enough single-picture files to fill an embedding batch. */
const LOOKAHEAD = 16;
const FLUSH_ROWS = 2000;
const FLUSH_FILES = 64;

/** The summary of a run that has done nothing yet. */
export function emptySummary(): IngestSummary {
  return {
    files: 0,
    ingested: 0,
    unchanged: 0,
    skipped: 0,
    failed: 0,
    items: 0,
    textItems: 0,
    imageItems: 0,
    seconds: 0,
    byType: {},
    warnings: { total: 0, pictures: 0, network: 0 },
    outcomes: [],
  };
}

export function newVersion(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

export function itemId(source: string, hash: string, index: number): string {
  return createHash('sha256').update(`${source}\n${hash}\n${index}`).digest('hex').slice(0, 24);
}

function emptyOutcome(file: string): FileOutcome {
  return { file, status: 'failed', items: 0, textItems: 0, imageItems: 0, warnings: [] };
}

/** The level-1 translators one run shares: created once, started on first use, disposed at the end. */
export interface Enrichers {
  ocr?: OcrEngine;
  transcriber?: Transcriber;
}

export async function createEnrichers(config: Config): Promise<Enrichers> {
  const enrichers: Enrichers = {};
  if (config.ingest.ocr) enrichers.ocr = (await import('../enrich/ocr.js')).createTesseractOcr();
  const t = config.transcribe;
  if (t.provider === 'whisper') {
    const { createWhisperTranscriber } = await import('../enrich/transcribe.js');
    enrichers.transcriber = createWhisperTranscriber({
      model: t.model ?? '',
      cacheDir: config.embed.cacheDir,
      allowRemote: config.embed.allowRemote,
      language: t.language,
    });
  } else if (t.provider === 'openai') {
    const { createOpenAiTranscriber } = await import('../enrich/transcribe.js');
    enrichers.transcriber = createOpenAiTranscriber({
      url: t.url ?? 'https://api.openai.com/v1',
      apiKey: t.apiKey,
      model: t.model ?? 'whisper-1',
      language: t.language,
    });
  }
  return enrichers;
}

export function loaderContext(
  config: Config,
  enrichers: Enrichers,
  warnings: string[],
  signal?: AbortSignal,
  localRoot?: string,
): LoaderContext {
  const ingest = config.ingest;
  return {
    localRoot,
    ocr: enrichers.ocr,
    transcriber: enrichers.transcriber,
    fetchRemote: ingest.fetchRemote,
    allowPrivateNetwork: ingest.allowPrivateNetwork,
    minTextLength: ingest.minTextLength,
    chunkSize: ingest.chunkSize,
    chunkOverlap: ingest.chunkOverlap,
    remoteTimeoutMs: ingest.remoteTimeoutMs,
    limits: {
      maxImageBytes: ingest.maxImageBytes,
      maxImagePixels: ingest.maxImagePixels,
      maxPages: ingest.maxPages,
      maxPageImages: ingest.maxPageImages,
      maxDurationSeconds: ingest.maxDurationSeconds,
      maxArchiveBytes: ingest.maxArchiveBytes,
      maxArchiveRatio: ingest.maxArchiveRatio,
      maxPartBytes: ingest.maxPartBytes,
      maxPartReferences: ingest.maxPartReferences,
      maxTextChars: ingest.maxTextChars,
      maxItems: ingest.maxItems,
      maxNestingDepth: ingest.maxNestingDepth,
    },
    warn: (message) => warnings.push(message),
    signal,
  };
}

export function isUrl(path: string): boolean {
  return /^https?:\/\//i.test(path);
}

/** Hash of what a loader found, for sources without file bytes (pages fetched by URL). */
function draftsHash(drafts: ItemDraft[]): string {
  const hash = createHash('sha256');
  for (const d of drafts) {
    hash.update(JSON.stringify([d.modality, d.title, d.section, d.modality === 'text' ? d.text : d.caption]));
    if (d.modality === 'image') hash.update(d.picture.bytes);
  }
  return hash.digest('hex');
}

/** What the files of one run share while they are prepared. */
interface RunState {
  enrichers: Enrichers;
  /** Local files that a source took in as its own (its pictures), and that source. */
  owners: Map<string, string>;
  /** The worker threads that parse files. */
  parser: ParsePool;
  /** Decoded pictures held for the model, within a budget. */
  held: HeldPictures;
  /** Whether the run already said that slides cannot be drawn (no LibreOffice): said once per run. */
  saidNoSoffice?: boolean;
}

/**
 * Slides are drawn as pictures by LibreOffice; without it a deck keeps its text and pictures, and the first deck of
 * a run says so (once, not per deck).
 */
async function noticeNoSoffice(run: RunState, config: Config, outcome: FileOutcome): Promise<void> {
  if (run.saidNoSoffice || config.ingest.maxPageImages === 0) return;
  run.saidNoSoffice = true;
  const { sofficeOnPath, SOFFICE_INSTALL_HINT } = await import('../media/soffice.js');
  if (await sofficeOnPath()) return;
  outcome.warnings.push(
    `slides are not kept as pictures (figures drawn on them cannot be searched): LibreOffice (soffice) is not on the PATH. ${SOFFICE_INSTALL_HINT}`,
  );
}

async function prepare(
  file: { path: string; explicit: boolean },
  deps: IngestDependencies,
  run: RunState,
  signal?: AbortSignal,
): Promise<Prepared> {
  const { enrichers } = run;
  const outcome = emptyOutcome(file.path);
  const prepared: Prepared = {
    outcome,
    drafts: [],
    pixels: new Map(),
    mediaPaths: new Map(),
    descriptions: new Map(),
  };
  if (isUrl(file.path)) return prepareUrl(file.path, prepared, deps, enrichers, run, signal);
  const owner = file.explicit ? undefined : run.owners.get(file.path);
  if (owner !== undefined) return skipOwnedPicture(file.path, owner, prepared, deps);
  try {
    const info = await stat(file.path);
    if (info.size > deps.config.ingest.maxFileBytes) {
      outcome.reason = `file is ${(info.size / 1e6).toFixed(1)} MB, over the ${(deps.config.ingest.maxFileBytes / 1e6).toFixed(0)} MB limit (ingest.maxFileBytes)`;
      return prepared;
    }
    // The type comes from the file's ends; the whole file is read only by the worker that parses it.
    const detection = detectType(file.path, await readProbe(file.path, info.size), deps.loaders);
    if ('type' in detection) outcome.type = detection.type;
    const previous = await deps.store.getSource(file.path);
    const hash = previous ? await hashFile(file.path) : undefined;
    if (previous && previous.hash === hash) {
      Object.assign(outcome, {
        status: 'unchanged',
        type: previous.type,
        items: previous.items,
        textItems: previous.textItems,
        imageItems: previous.imageItems,
      });
      return prepared;
    }
    if ('mismatch' in detection) {
      outcome.reason = detection.mismatch;
      return prepared;
    }
    if ('unsupported' in detection) {
      outcome.status = file.explicit ? 'failed' : 'skipped';
      outcome.reason = detection.unsupported;
      return prepared;
    }
    const loader = deps.loaders.loader(detection.type);
    if (!loader) {
      outcome.status = file.explicit ? 'failed' : 'skipped';
      outcome.reason = `${detection.type} files are not supported yet`;
      return prepared;
    }
    if (detection.type === 'pptx') await noticeNoSoffice(run, deps.config, outcome);
    const context = loaderContext(deps.config, enrichers, outcome.warnings, signal, deps.localRoot);
    let parsed: { drafts: ItemDraft[]; hash?: string; bytes: number };
    if (deps.loaders.isBuiltIn(detection.type)) {
      // Recordings are decoded by ffmpeg, whose own bounds allow a quarter of their longest duration.
      const media = detection.type === 'audio' || detection.type === 'video';
      const seconds =
        deps.config.ingest.maxParseSeconds + (media ? deps.config.ingest.maxDurationSeconds / 4 : 0);
      parsed = await run.parser.parse(
        { kind: 'file', path: file.path, type: detection.type },
        context,
        seconds * 1000,
      );
    } else {
      // A loader given by the library's caller runs here: a worker can only load the built-in ones.
      const bytes = new Uint8Array(await readFile(file.path));
      const drafts = await (await loader).load({ path: file.path, bytes }, context);
      checkOutput(drafts, context.limits, file.path);
      parsed = { drafts, hash: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
    }
    await acceptDrafts(
      prepared,
      parsed.drafts,
      deps,
      {
        source: file.path,
        type: detection.type,
        hash: parsed.hash ?? hash ?? '',
        bytes: parsed.bytes,
      },
      run.held,
    );
    for (const included of prepared.record?.includes ?? []) run.owners.set(included, file.path);
  } catch (err) {
    outcome.status = 'failed';
    outcome.reason = errorMessage(err);
  }
  return prepared;
}

/**
 * A picture file that a document refers to belongs to that document (the usual layout of a static site: a page
 * and its `img/` folder), so a folder walk does not add it a second time on its own. A copy ingested on its own
 * before (by an earlier run) is removed: one picture, one item, with the document's caption.
 */
async function skipOwnedPicture(
  path: string,
  owner: string,
  prepared: Prepared,
  deps: IngestDependencies,
): Promise<Prepared> {
  const standalone = await deps.store.getSource(path);
  if (standalone) await deps.store.deleteSources([path]);
  Object.assign(prepared.outcome, {
    status: 'skipped',
    type: 'image',
    reason: `a picture of ${owner}, ingested with it${standalone ? ' (its copy ingested on its own was removed)' : ''}`,
  });
  return prepared;
}

/** A web page by URL: fetched, its main content extracted, its pictures downloaded. */
async function prepareUrl(
  url: string,
  prepared: Prepared,
  deps: IngestDependencies,
  enrichers: Enrichers,
  run: RunState,
  signal?: AbortSignal,
): Promise<Prepared> {
  const outcome = prepared.outcome;
  outcome.type = 'html';
  try {
    const ctx = loaderContext(deps.config, enrichers, outcome.warnings, signal);
    const loaded = { items: (await run.parser.parse({ kind: 'url', url }, ctx)).drafts };
    const hash = draftsHash(loaded.items);
    const previous = await deps.store.getSource(url);
    if (previous && previous.hash === hash) {
      Object.assign(outcome, {
        status: 'unchanged',
        items: previous.items,
        textItems: previous.textItems,
        imageItems: previous.imageItems,
      });
      return prepared;
    }
    await acceptDrafts(prepared, loaded.items, deps, { source: url, type: 'html', hash, bytes: 0 }, run.held);
  } catch (err) {
    outcome.status = 'failed';
    outcome.reason = errorMessage(err);
  }
  return prepared;
}

/** Decode and store the pictures of a loader's drafts and make the source record; a bad picture costs only itself. */
async function acceptDrafts(
  prepared: Prepared,
  drafts: ItemDraft[],
  deps: IngestDependencies,
  source: { source: string; type: SourceType; hash: string; bytes: number },
  held: HeldPictures,
): Promise<void> {
  const outcome = prepared.outcome;
  let captionFailed = false;
  const kept: ItemDraft[] = [];
  // A picture a file shows many times (the same bytes) is decoded and stored once.
  const seen = new Map<Uint8Array, Promise<{ rel: string; rgb?: RgbImage }>>();
  const accept = async (picture: ItemDraft & { modality: 'image' }) => {
    const mime = picture.picture.mime ?? sniffImageMime(picture.picture.bytes);
    if (!mime) throw new MmragError('not a picture format mmrag reads');
    const rgb =
      picture.picture.decoded ??
      (await decodeToRgb(picture.picture.bytes, {
        maxPixels: deps.config.ingest.maxImagePixels,
        maxSide: EMBED_MAX_SIDE,
      }));
    picture.picture.decoded = undefined;
    const rel = await deps.media.save(picture.picture.bytes, mime);
    return { rel, rgb: held.keep(rgb) ? rgb : undefined };
  };
  for (const draft of drafts) {
    if (draft.modality === 'image') {
      try {
        let accepted = seen.get(draft.picture.bytes);
        if (!accepted) {
          accepted = accept(draft);
          seen.set(draft.picture.bytes, accepted);
        }
        const { rel, rgb } = await accepted;
        const mime = draft.picture.mime ?? sniffImageMime(draft.picture.bytes) ?? 'image/png';
        if (rgb) prepared.pixels.set(kept.length, rgb);
        prepared.mediaPaths.set(kept.length, rel);
        if (deps.describePicture && !captionFailed) {
          try {
            const context = [draft.title, draft.section, draft.caption].filter(Boolean).join(' / ');
            const description = await deps.describePicture({ bytes: draft.picture.bytes, mime }, context);
            if (description.trim()) prepared.descriptions.set(kept.length, description.trim());
          } catch (err) {
            // One warning per file: the model is likely down for all of its pictures.
            captionFailed = true;
            outcome.warnings.push(`describing pictures failed: ${errorMessage(err)}`);
          }
        }
      } catch (err) {
        outcome.warnings.push(`picture ${draft.picture.origin}: ${errorMessage(err)}`);
        continue;
      }
    }
    kept.push(draft);
  }
  prepared.drafts = kept;
  const textItems = kept.filter((d) => d.modality === 'text').length;
  Object.assign(outcome, {
    status: 'ingested',
    items: kept.length,
    textItems,
    imageItems: kept.length - textItems,
  });
  if (kept.length === 0) outcome.warnings.push('no text or pictures found');
  const includes = [
    ...new Set(kept.flatMap((d) => (d.modality === 'image' && d.picture.file ? [d.picture.file] : []))),
  ].sort();
  prepared.record = {
    ...source,
    version: newVersion(),
    items: kept.length,
    textItems,
    imageItems: kept.length - textItems,
    ingestedAt: Date.now(),
    ...(includes.length > 0 ? { includes } : {}),
  };
}

/** Inputs per embedding call when a group is large enough to report progress between calls. */
const PROGRESS_SLICE = 64;

/** Embed the items of several prepared files in shared batches, and turn them into store rows. */

/**
 * Embed the items of several prepared files in shared batches and turn them into store rows: every item gets its
 * CLIP vector (level 3) and its text-form vector (levels 1 and 2; the same vector for text items when the text
 * embedder is CLIP's own text tower).
 */
async function embedBatch(
  group: Prepared[],
  embedder: Embedder,
  textSpace: TextSpace,
  pictures: { batchSize: number; maxPixels: number; held: HeldPictures },
  onProgress?: (fraction: number) => void,
): Promise<StoreRow[]> {
  const texts: string[] = [];
  const textForms: string[] = [];
  for (const p of group) {
    p.drafts.forEach((d, i) => {
      if (d.modality === 'text') texts.push(textForm(d));
      if (d.modality === 'image' || !textSpace.isClip)
        textForms.push(
          textForm({
            section: d.section,
            text: d.modality === 'text' ? d.text : d.caption,
            description: p.descriptions.get(i),
          }),
        );
    });
  }
  const images = group.reduce((n, p) => n + p.drafts.filter((d) => d.modality === 'image').length, 0);
  const units = texts.length + images + textForms.length;
  let embedded = 0;
  const inSlices = async <T>(inputs: T[], embed: (slice: T[]) => Promise<Float32Array[]>) => {
    if (units <= PROGRESS_SLICE) return embed(inputs);
    const out: Float32Array[] = [];
    for (let i = 0; i < inputs.length; i += PROGRESS_SLICE) {
      const slice = inputs.slice(i, i + PROGRESS_SLICE);
      out.push(...(await embed(slice)));
      embedded += slice.length;
      onProgress?.(embedded / units);
    }
    return out;
  };
  const textVectors = await inSlices(texts, (slice) => embedder.embedTexts(slice));
  // Pictures are embedded once per distinct picture, a batch at a time (see embedPictures).
  const imageVectors = await embedPictures(group, embedder, pictures);
  if (images > 0 && units > PROGRESS_SLICE) {
    embedded += images;
    onProgress?.(embedded / units);
  }
  const formVectors = await inSlices(textForms, (slice) => textSpace.embedder.embedTexts(slice));
  const rows: StoreRow[] = [];
  let t = 0;
  let f = 0;
  for (const p of group) {
    const record = p.record!;
    for (const [i, d] of p.drafts.entries()) {
      // A file of tens of thousands of chunks: let searches in (the server's event loop) every so often.
      if (rows.length % 2000 === 1999) await new Promise((resolve) => setImmediate(resolve));
      const vector = l2normalize(
        d.modality === 'text' ? textVectors[t++]! : imageVectors.get(p.mediaPaths.get(i)!)!,
      );
      const textVector = d.modality === 'text' && textSpace.isClip ? vector : l2normalize(formVectors[f++]!);
      rows.push({
        id: itemId(record.source, record.hash, i),
        version: record.version,
        modality: d.modality,
        // A page rendered whole is a `page` item; its source record keeps the loader's type.
        type: d.modality === 'image' && d.kind === 'page' ? 'page' : record.type,
        source: record.source,
        title: d.title,
        section: d.section,
        text: d.modality === 'text' ? d.text : d.caption,
        media: d.modality === 'image' ? p.mediaPaths.get(i) : undefined,
        description: p.descriptions.get(i),
        location: d.location,
        ingestedAt: record.ingestedAt,
        vector,
        textVector,
      });
    }
  }
  return rows;
}

function tally(summary: IngestSummary, outcome: FileOutcome): void {
  summary.outcomes.push(outcome);
  countWarnings(summary.warnings, outcome.warnings);
  summary[outcome.status]++;
  const key = outcome.type ?? 'unknown';
  const counts = summary.byType[key] ?? { ingested: 0, unchanged: 0, skipped: 0, failed: 0, items: 0 };
  summary.byType[key] = counts;
  counts[outcome.status]++;
  if (outcome.status === 'ingested') {
    counts.items += outcome.items;
    summary.items += outcome.items;
    summary.textItems += outcome.textItems;
    summary.imageItems += outcome.imageItems;
  }
}

/**
 * Ingest files and folders: walk, read, detect, load, decode pictures (a few files ahead, in parallel with the
 * model), embed in batches shared across files, and commit in large atomic writes. Per-file failures are
 * outcomes, never exceptions.
 */
export async function ingestPaths(
  paths: string[],
  deps: IngestDependencies,
  options: IngestOptions = {},
): Promise<IngestSummary> {
  const started = performance.now();
  const emit = options.onEvent ?? (() => {});
  const summary = emptySummary();

  const walkErrors: FileOutcome[] = [];
  const files: Array<{ path: string; explicit: boolean }> = paths
    .filter(isUrl)
    .map((url) => ({ path: url, explicit: true }));
  for await (const f of walkFiles(
    paths.filter((p) => !isUrl(p)),
    {
      exclude: deps.exclude,
      includeGlobs: deps.config.ingest.include,
      excludeGlobs: deps.config.ingest.exclude,
      onError: (path, reason) => walkErrors.push({ ...emptyOutcome(path), reason }),
    },
  )) {
    files.push(f);
  }
  // Pictures found by walking a folder come last, once every document of the run has been read: a picture a
  // document refers to is then known to belong to it.
  const isStandalonePicture = (f: { path: string; explicit: boolean }) =>
    !f.explicit && !isUrl(f.path) && deps.loaders.typeOfName(f.path) === 'image';
  files.sort((a, b) => Number(isStandalonePicture(a)) - Number(isStandalonePicture(b)));
  const owners = new Map<string, string>();
  for (const record of await deps.store.listSources())
    for (const included of record.includes ?? []) owners.set(included, record.source);
  const enrichers = await createEnrichers(deps.config);
  const run: RunState = {
    enrichers,
    owners,
    parser: new ParsePool({
      memoryMb: deps.config.ingest.maxParseMemoryMb,
      timeoutMs: deps.config.ingest.maxParseSeconds * 1000,
      maxFileBytes: deps.config.ingest.maxFileBytes,
    }),
    held: new HeldPictures(),
  };
  summary.files = files.length + walkErrors.length;
  emit({ kind: 'walked', files: summary.files });
  let index = 0;
  for (const outcome of walkErrors) {
    tally(summary, outcome);
    emit({ kind: 'file-done', outcome, index: index++ });
  }

  let pendingRecords: SourceRecord[] = [];
  let pendingRows: StoreRow[] = [];
  let pendingOutcomes: Array<{ outcome: FileOutcome; index: number }> = [];
  const flush = async () => {
    if (pendingRecords.length === 0) return;
    try {
      await deps.store.commit(pendingRecords, pendingRows);
    } catch (err) {
      for (const p of pendingOutcomes) {
        p.outcome.status = 'failed';
        p.outcome.reason = `could not write to the knowledge base: ${errorMessage(err)}`;
      }
    }
    for (const p of pendingOutcomes) {
      tally(summary, p.outcome);
      emit({ kind: 'file-done', outcome: p.outcome, index: p.index });
    }
    pendingRecords = [];
    pendingRows = [];
    pendingOutcomes = [];
  };

  // Files are prepared a few ahead of the model; each is awaited in order.
  const queue: Array<{ promise: Promise<Prepared>; index: number; settled: boolean }> = [];
  let next = 0;
  let documentsInFlight = 0;
  const fill = () => {
    while (queue.length < LOOKAHEAD && next < files.length) {
      const file = files[next]!;
      const picture = isStandalonePicture(file);
      if (picture && documentsInFlight > 0) break;
      if (!picture) documentsInFlight++;
      const entry = {
        promise: prepare(file, deps, run, options.signal),
        index: index++,
        settled: false,
      };
      entry.promise.then(() => {
        entry.settled = true;
        if (!picture) documentsInFlight--;
      });
      emit({ kind: 'file-start', file: file.path, index: entry.index });
      queue.push(entry);
      next++;
    }
  };

  try {
    await runQueue();
  } finally {
    await Promise.all([enrichers.ocr?.dispose(), enrichers.transcriber?.dispose(), run.parser.close()]);
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;

  async function runQueue(): Promise<void> {
    fill();
    while (queue.length > 0) {
      if (options.signal?.aborted) break;
      // Take the next file, plus any already-prepared files behind it, to share embedding batches.
      const group: Array<{ prepared: Prepared; index: number }> = [];
      const first = queue.shift()!;
      group.push({ prepared: await first.promise, index: first.index });
      let items = group[0]!.prepared.drafts.length;
      // Fill a whole embedding batch (waiting for files still being prepared), then take whatever else is ready.
      const batch = deps.config.embed.batchSize;
      while (queue.length > 0 && (items < batch || queue[0]!.settled) && items < 64) {
        const entry = queue.shift()!;
        const prepared = await entry.promise;
        items += prepared.drafts.length;
        group.push({ prepared, index: entry.index });
      }
      fill();

      const toEmbed = group.filter((g) => g.prepared.record);
      for (const g of group) {
        if (!g.prepared.record) {
          tally(summary, g.prepared.outcome);
          emit({ kind: 'file-done', outcome: g.prepared.outcome, index: g.index });
        }
      }
      if (toEmbed.length === 0) continue;
      try {
        const embedder = await deps.embedder();
        const rows = await embedBatch(
          toEmbed.map((g) => g.prepared),
          embedder,
          await deps.textSpace(),
          {
            batchSize: deps.config.embed.batchSize,
            maxPixels: deps.config.ingest.maxImagePixels,
            held: run.held,
          },
          (fraction) => {
            for (const { prepared: p, index } of toEmbed) {
              const total = p.drafts.length;
              const done = Math.floor(fraction * total);
              emit({ kind: 'file-progress', index, file: p.outcome.file, done, total });
            }
          },
        );
        pendingRows.push(...rows);
        for (const g of toEmbed) {
          pendingRecords.push(g.prepared.record!);
          pendingOutcomes.push({ outcome: g.prepared.outcome, index: g.index });
        }
      } catch (err) {
        if (err instanceof MmragError && err.code === 'model_unavailable') throw err;
        for (const g of toEmbed) {
          g.prepared.outcome.status = 'failed';
          g.prepared.outcome.reason = `embedding failed: ${errorMessage(err)}`;
          tally(summary, g.prepared.outcome);
          emit({ kind: 'file-done', outcome: g.prepared.outcome, index: g.index });
        }
      }
      if (pendingRows.length >= FLUSH_ROWS || pendingRecords.length >= FLUSH_FILES) await flush();
    }
    await flush();
  }
}
