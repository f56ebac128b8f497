import { errorMessage, MmragError } from '../errors.js';
import type { KnowledgeBase } from '../kb.js';
import type { AskFlags, DeleteFlags, IngestFlags, SearchFlags, SourcesFlags } from './flags.js';
import {
  displayPath,
  formatAdapterLine,
  formatHits,
  formatPromptShown,
  formatSourceList,
  formatSources,
  formatSummary,
} from './format.js';
import { knowledgeBaseExists, openFromFlags, withKb } from './open.js';
import { searchOptionsFromFlags } from './options.js';
import { ingestReporter } from './progress.js';
import { printable } from './terminal.js';

export async function ingestCommand(paths: string[], flags: IngestFlags): Promise<void> {
  const extra = {
    ingest: {
      fetchRemote: flags.remote === false ? false : undefined,
      ocr: flags.ocr === false ? false : undefined,
      caption: flags.caption ? true : undefined,
      include: flags.include,
      exclude: flags.exclude,
    },
    transcribe: { provider: flags.transcribe as 'whisper' | 'openai' | 'none' | undefined },
  };
  const kb = await openFromFlags(flags, extra);
  const controller = new AbortController();
  const onSignal = () => {
    process.stderr.write('\nStopping after the files in progress (press Ctrl-C again to quit now)…\n');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  await withKb(kb, async () => {
    const reporter = await ingestReporter({ json: Boolean(flags.json), stream: process.stderr });
    let summary: Awaited<ReturnType<KnowledgeBase['ingest']>>;
    try {
      summary = await kb.ingest(paths, {
        onEvent: reporter.onEvent,
        signal: controller.signal,
        prune: flags.prune,
      });
    } finally {
      reporter.stop();
      process.off('SIGINT', onSignal);
    }
    if (flags.json) {
      const { outcomes: _outcomes, ...rest } = summary;
      process.stdout.write(`${JSON.stringify({ summary: rest })}\n`);
    } else {
      process.stdout.write(`${formatSummary(summary)}\n`);
      for (const source of summary.pruned ?? [])
        process.stdout.write(`  pruned ${displayPath(source)} (file gone)\n`);
      const failures = summary.outcomes.filter((o) => o.status === 'failed');
      if (failures.length > 0 && process.stderr.isTTY) {
        process.stderr.write(
          `Failed:\n${failures.map((f) => `  ${displayPath(f.file)}: ${printable(f.reason ?? '')}`).join('\n')}\n`,
        );
      }
    }
    if (summary.failed > 0) process.exitCode = 1;
  });
}

export async function searchCommand(query: string | undefined, flags: SearchFlags): Promise<void> {
  if (!query && !flags.image)
    throw new MmragError('Give a query, --image PATH, or both.', undefined, 'usage');
  const options = searchOptionsFromFlags(flags);
  const kb = await openFromFlags(flags, {}, { mustExist: true });
  await withKb(kb, async () => {
    await requireContent(kb);
    const result = await kb.search({ text: query, image: flags.image }, options);
    if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`${formatHits(result, options.scoring ?? kb.config.search.scoring)}\n`);
  });
}

async function requireContent(kb: KnowledgeBase): Promise<void> {
  const stats = await kb.stats();
  if (stats.sources === 0) {
    throw new MmragError(
      `The knowledge base ${kb.dir} is empty.`,
      'Add files first: mmrag ingest <files or folders>',
      'empty_kb',
    );
  }
}

export async function askCommand(question: string, flags: AskFlags): Promise<void> {
  const options = searchOptionsFromFlags(flags);
  if (flags.prompt !== undefined && flags.prompt !== 'mmrag' && flags.prompt !== 'reference') {
    throw new MmragError(`--prompt is mmrag or reference, got "${flags.prompt}".`, undefined, 'usage');
  }
  const kb = await openFromFlags(flags, {}, { mustExist: true });
  await withKb(kb, async () => {
    await requireContent(kb);
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    let streamed = false;
    const result = await kb.ask(
      { text: question, image: flags.image },
      {
        ...options,
        ...(flags.prompt ? { prompt: flags.prompt as 'mmrag' | 'reference' } : {}),
        ...(flags.gate === false ? { gate: false } : {}),
        signal: controller.signal,
        onRetrieved:
          flags.showPrompt && !flags.json
            ? (retrieved) => {
                process.stdout.write(formatPromptShown(retrieved));
              }
            : undefined,
        onToken: flags.json
          ? undefined
          : (piece) => {
              streamed = true;
              process.stdout.write(printable(piece, { multiline: true }));
            },
      },
    );
    process.off('SIGINT', onSignal);
    if (flags.json) {
      const { answer, answerable, answerability, sources, model, level, citations, error, prompt, attached } =
        result;
      const shown = {
        answer,
        answerable,
        sources,
        model,
        level,
        citations,
        error,
        prompt,
        attached,
        answerability,
      };
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    } else {
      if (streamed) process.stdout.write('\n');
      // An answer nobody streamed: the documents do not say (the model was not asked).
      else if (result.answer) process.stdout.write(`${printable(result.answer, { multiline: true })}\n`);
      if (result.error) {
        process.stderr.write(
          `${streamed ? '\n' : ''}${printable(result.error.message, { multiline: true })}\n`,
        );
        if (result.error.hint)
          process.stderr.write(`  ${printable(result.error.hint, { multiline: true })}\n`);
      }
      const lines = formatSourceList(result.sources, result.citations);
      if (lines.length === 0) process.stdout.write('\nNo sources passed the thresholds.\n');
      else {
        const heading = !result.answerable
          ? 'Closest sources'
          : result.answer
            ? result.citations.length > 0
              ? 'Sources cited'
              : 'Sources'
            : 'Retrieved sources';
        process.stdout.write(`\n${heading}:\n${lines.join('\n')}\n`);
      }
    }
    // No model at all (auto mode) is not a failure: the sources are the answer. A model that failed is.
    if (result.error && result.error.code !== 'llm_none') process.exitCode = 1;
  });
}

/** The query adapter's line for `sources`; a broken adapter is shown, not fatal to the listing. */
function adapterSummary(kb: KnowledgeBase): string | undefined {
  try {
    const info = kb.queryAdapter.info();
    return info ? formatAdapterLine(info) : undefined;
  } catch (err) {
    return `unusable: ${errorMessage(err)}`;
  }
}

export async function sourcesCommand(flags: SourcesFlags): Promise<void> {
  if (!knowledgeBaseExists(flags)) {
    process.stdout.write(flags.json ? '[]\n' : `${formatSources([])}\n`);
    return;
  }
  const kb = await openFromFlags(flags);
  await withKb(kb, async () => {
    const records = await kb.sources();
    if (flags.json) process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    else process.stdout.write(`${formatSources(records, adapterSummary(kb))}\n`);
  });
}

export async function deleteCommand(source: string, flags: DeleteFlags): Promise<void> {
  const kb = await openFromFlags(flags, {}, { mustExist: true });
  await withKb(kb, async () => {
    const removed = await kb.delete(source);
    if (flags.json) process.stdout.write(`${JSON.stringify({ source, removed })}\n`);
    else process.stdout.write(`Removed ${displayPath(source)} (${removed} items).\n`);
  });
}
