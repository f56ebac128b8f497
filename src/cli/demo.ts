import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_EMBED_MODEL, resolveConfig } from '../config.js';
import type { Embedder } from '../embed/embedder.js';
import { errorMessage } from '../errors.js';
import { openKnowledgeBase } from '../kb.js';
import type { DemoFlags } from './flags.js';
import { displayPath, formatHits, formatSourceList, formatSummary } from './format.js';
import { configFromFlags } from './options.js';
import { ingestReporter } from './progress.js';

/** The package's own folder (holding samples/ and models/), from dist/cli/demo.js or src/cli/demo.ts. */
export function packageRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

interface DemoScript {
  searches: string[];
  question: string;
  /** Searches that suit the bundled shapes-only model. */
  offlineSearches?: string[];
  offlineQuestion?: string;
}

function readScript(root: string): DemoScript {
  const path = join(root, 'samples', 'demo.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as DemoScript;
  return { searches: ['a red circle'], question: 'What does the red circle stand for?' };
}

async function loadModel(
  flags: { offline?: boolean },
  root: string,
): Promise<{ embedder: Embedder; model: string }> {
  const { loadClipEmbedder } = await import('../embed/clip.js');
  const bundled = join(root, 'models', 'tiny-clip-shapes');
  if (!flags.offline) {
    process.stderr.write(`Loading the default embedding model ${DEFAULT_EMBED_MODEL}…\n`);
    try {
      let announced = false;
      const embedder = await loadClipEmbedder({
        model: DEFAULT_EMBED_MODEL,
        onDownload: (file, percent) => {
          if (!announced)
            process.stderr.write(`Downloading ${DEFAULT_EMBED_MODEL} (about 350 MB, first use only)…\n`);
          announced = true;
          if (percent >= 100) process.stderr.write(`  ${file} done\n`);
        },
      });
      return { embedder, model: DEFAULT_EMBED_MODEL };
    } catch (err) {
      const cause =
        err instanceof Error && err.cause instanceof Error ? err.cause.message : errorMessage(err);
      process.stderr.write(
        `Could not get ${DEFAULT_EMBED_MODEL} from the Hugging Face hub (${cause.split('\n')[0]}: no network?).\n` +
          `Using the bundled offline model instead (${displayPath(bundled)}): a tiny CLIP that only knows coloured shapes,\n` +
          'so searches about pictures work and searches about prose are rough. With network access the demo uses the real model.\n',
      );
    }
  }
  return { embedder: await loadClipEmbedder({ model: bundled, allowRemote: false }), model: bundled };
}

/** Ingest the bundled sample pages, run a few searches, and ask a question: the whole pipeline in one command. */
export async function demoCommand(flags: DemoFlags): Promise<void> {
  const root = packageRoot();
  const script = readScript(root);
  const { embedder, model } = await loadModel(flags, root);
  const bundled = model !== DEFAULT_EMBED_MODEL;
  const dir = resolve(
    flags.kb ?? join('.mmrag-demo', bundled ? 'tiny-clip-shapes' : 'clip-vit-base-patch32'),
  );
  const config = resolveConfig({ flags: { ...configFromFlags(flags), kb: dir, embed: { model } } });
  const kb = await openKnowledgeBase({ config, embedder });
  try {
    const samples = join(root, 'samples', 'pages');
    process.stdout.write(`\n== Ingesting ${displayPath(samples)} into ${displayPath(dir)}\n`);
    const reporter = await ingestReporter({ json: false, stream: process.stderr });
    const summary = await kb.ingest([samples], { onEvent: reporter.onEvent });
    reporter.stop();
    process.stdout.write(`${formatSummary(summary)}\n`);

    const searches = bundled ? (script.offlineSearches ?? script.searches) : script.searches;
    for (const query of searches) {
      process.stdout.write(`\n== mmrag search "${query}"\n`);
      const result = await kb.search(query, { text: { k: 3 }, image: { k: 3 } });
      process.stdout.write(`${formatHits(result, kb.config.search.scoring)}\n`);
    }

    const question = bundled ? (script.offlineQuestion ?? script.question) : script.question;
    process.stdout.write(`\n== mmrag ask "${question}"\n`);
    let streamed = false;
    const result = await kb.ask(question, {
      onToken: (piece) => {
        streamed = true;
        process.stdout.write(piece);
      },
    });
    if (streamed) process.stdout.write('\n');
    if (result.error) {
      process.stdout.write(`${result.error.message}\n`);
      if (result.error.hint) process.stdout.write(`  ${result.error.hint}\n`);
    }
    process.stdout.write(
      `\n${result.answer ? 'Sources' : 'Retrieved sources (what a model would have been shown)'}:\n`,
    );
    process.stdout.write(`${formatSourceList(result.sources).join('\n')}\n`);
    process.stdout.write(
      `\nTry it yourself:\n  npx mmrag search "a blue square" --kb ${displayPath(dir)}\n  npx mmrag ingest ~/Documents/some-folder\n`,
    );
  } finally {
    await kb.close();
  }
}
