/**
 * The worker threads that parse files (src/ingest/parse-pool.ts): results and warnings come back from the worker,
 * a worker that dies with several files in it costs only the file to blame, an ingest can be stopped mid-parse,
 * a file's output is bounded, and a loader given by the library's caller still runs (in the caller's thread).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { MmragError } from '../../src/errors.js';
import type { Loader, LoaderContext, LoaderInput } from '../../src/ingest/loader.js';
import { ParsePool } from '../../src/ingest/parse-pool.js';
import { loaderContext } from '../../src/ingest/pipeline.js';
import { LOADERS, LoaderRegistry } from '../../src/ingest/registry.js';
import { openKnowledgeBase } from '../../src/kb.js';
import type { ItemDraft } from '../../src/types.js';
import { FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { ensureBuiltCli } from '../helpers/robustness.js';
import { makeDeepHtml, makeHugeSlidePptx } from './hostile-files.js';

let tmp: ReturnType<typeof tempDir>;

beforeAll(async () => {
  await ensureBuiltCli();
  tmp = tempDir('mmrag-parse-pool-');
}, 180_000);

afterAll(() => tmp?.cleanup());

function context(
  ingest: Record<string, number> = {},
  signal?: AbortSignal,
): LoaderContext & { warnings: string[] } {
  const warnings: string[] = [];
  const ctx = loaderContext(parseConfig({ ingest: { ocr: false, ...ingest } }), {}, warnings, signal);
  return Object.assign(ctx, { warnings });
}

function pool(memoryMb = 256, timeoutMs = 60_000): ParsePool {
  return new ParsePool({ memoryMb, timeoutMs, maxFileBytes: 200 * 1024 * 1024, workers: 1, concurrency: 4 });
}

describe('ParsePool', () => {
  it('parses a file in a worker: its items, its hash, and its warnings as they happen', async () => {
    const file = join(tmp.dir, 'note.md');
    writeFileSync(
      file,
      '# Harbour\n\nThe lantern above the harbour gate is lit on the night of the autumn festival.\n\n![gone](missing.png)\n',
    );
    const parser = pool();
    try {
      const ctx = context();
      const result = await parser.parse({ kind: 'file', path: file, type: 'markdown' }, ctx);
      expect(result.drafts).toHaveLength(1);
      expect(result.drafts[0]).toMatchObject({ modality: 'text', section: 'Harbour' });
      expect(result.hash).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
      expect(result.bytes).toBe(readFileSync(file).length);
      expect(ctx.warnings).toHaveLength(1);
      expect(ctx.warnings[0]).toMatch(/image "missing\.png" skipped: picture file not found/);
    } finally {
      await parser.close();
    }
  });

  it('a worker that dies with several files in it: each is parsed again alone, and only the culprit fails', async () => {
    const huge = join(tmp.dir, 'huge-slide.pptx');
    writeFileSync(huge, await makeHugeSlidePptx(40));
    const notes = Array.from({ length: 3 }, (_, i) => {
      const path = join(tmp.dir, `note-${i}.md`);
      writeFileSync(
        path,
        `# Note ${i}\n\nThe mooring post number ${i} is painted with a red circle every spring.\n`,
      );
      return path;
    });
    const parser = pool(128);
    try {
      const limits = { maxPartBytes: 1024 * 1024 * 1024 };
      const jobs = [
        parser.parse({ kind: 'file', path: huge, type: 'pptx' }, context(limits)),
        ...notes.map((path) => parser.parse({ kind: 'file', path, type: 'markdown' }, context(limits))),
      ];
      const [hugeResult, ...noteResults] = await Promise.allSettled(jobs);
      expect(hugeResult!.status).toBe('rejected');
      const error = (hugeResult as PromiseRejectedResult).reason as MmragError;
      expect(error).toBeInstanceOf(MmragError);
      expect(error.message).toBe(
        `${huge}: parsing stopped: it needed more than 128 MB of memory (raise ingest.maxParseMemoryMb if the file is genuine)`,
      );
      for (const result of noteResults) {
        expect(result.status).toBe('fulfilled');
        expect((result as PromiseFulfilledResult<{ drafts: ItemDraft[] }>).value.drafts).toHaveLength(1);
      }
    } finally {
      await parser.close();
    }
  }, 60_000);

  it('stops a file being parsed when the ingest is aborted', async () => {
    const deep = join(tmp.dir, 'deep.html');
    writeFileSync(deep, makeDeepHtml(200_000));
    const parser = pool();
    const controller = new AbortController();
    try {
      const started = performance.now();
      const job = parser.parse(
        { kind: 'file', path: deep, type: 'html' },
        context({ maxNestingDepth: 10_000_000 }, controller.signal),
      );
      setTimeout(() => controller.abort(), 300);
      const error = await job.catch((err: unknown) => err);
      expect((error as Error).name).toBe('AbortError');
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await parser.close();
    }
  });

  it('refuses a file that gives more items or text than allowed', async () => {
    const file = join(tmp.dir, 'long.txt');
    writeFileSync(file, 'The harbour keeps its tide tables on the wall by the door. '.repeat(2000));
    const parser = pool();
    try {
      const items = await parser
        .parse({ kind: 'file', path: file, type: 'text' }, context({ maxItems: 100 }))
        .catch((err: unknown) => err);
      expect((items as Error).message).toMatch(
        /long\.txt: refused: it gives \d+ items, over the limit of 100 \(ingest\.maxItems\)/,
      );
      const text = await parser
        .parse({ kind: 'file', path: file, type: 'text' }, context({ maxTextChars: 10_000 }))
        .catch((err: unknown) => err);
      expect((text as Error).message).toMatch(
        /long\.txt: refused: it gives \d+ characters of text, over the limit of 10000 \(ingest\.maxTextChars\)/,
      );
    } finally {
      await parser.close();
    }
  });
});

/** A loader a library user adds: every line of a `.log` file is one item. */
class LineLoader implements Loader {
  readonly type = 'text' as const;

  async load(input: LoaderInput): Promise<ItemDraft[]> {
    return new TextDecoder()
      .decode(input.bytes)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((text) => ({ modality: 'text', title: basename(input.path), section: 'log', text }));
  }
}

describe("a loader given by the library's caller", () => {
  it("runs in the caller's thread (a worker can load only the built-in loaders)", async () => {
    const folder = join(tmp.dir, 'logs');
    mkdirSync(folder);
    writeFileSync(join(folder, 'ferry.log'), 'ferry left at 06:10\nferry back at 18:40\n');
    const loaders = new LoaderRegistry({
      ...LOADERS,
      text: { extensions: ['.log'], load: async () => new LineLoader() },
    });
    expect(loaders.isBuiltIn('text')).toBe(false);
    expect(loaders.isBuiltIn('markdown')).toBe(true);
    const kb = await openKnowledgeBase({
      kb: join(tmp.dir, 'kb-custom'),
      embed: { model: FIXTURE_MODEL },
      ingest: { ocr: false },
      transcribe: { provider: 'none' },
      llm: { provider: 'none' },
      loaders,
    });
    try {
      const summary = await kb.ingest([folder]);
      expect(summary.outcomes[0]).toMatchObject({ status: 'ingested', items: 2 });
      expect((await kb.items(join(folder, 'ferry.log'))).map((i) => i.text)).toEqual([
        'ferry left at 06:10',
        'ferry back at 18:40',
      ]);
    } finally {
      await kb.close();
    }
  });
});
