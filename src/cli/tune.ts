import { MmragError } from '../errors.js';
import type { KnowledgeBase } from '../kb.js';
import type { HeldOutComparison } from '../retrieve/query-adapter.js';
import { type TuneEvent, type TunePhase, type TuneReport, tuneKnowledgeBase } from '../tune/run.js';
import type { TuneFlags } from './flags.js';
import { displayPath } from './format.js';
import { openFromFlags, withKb } from './open.js';

function wholeNumber(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new MmragError(`--${flag} expects a whole number >= ${min}, got "${value}".`, undefined, 'usage');
  return n;
}

const PHASE_LABELS: Record<TunePhase, string> = {
  synthetic: 'Writing questions',
  pairs: 'Building pairs',
  embedding: 'Embedding queries',
  training: 'Training',
  measuring: 'Measuring',
};

/**
 * Tune progress on stderr: a live bar per phase on a terminal (questions written, queries embedded, training
 * batches with the loss and the validation MRR), one line per phase and per epoch otherwise; nothing with --json.
 */
async function tuneReporter(stream: NodeJS.WriteStream, quiet: boolean) {
  if (quiet) return { onEvent: (_: TuneEvent) => {}, stop() {} };
  if (!stream.isTTY) {
    return {
      onEvent(event: TuneEvent) {
        if (event.kind === 'phase') stream.write(`${PHASE_LABELS[event.phase]}…\n`);
        else if (event.kind === 'note') stream.write(`  note: ${event.message}\n`);
        else if (event.kind === 'training' && event.progress.validation) {
          const p = event.progress;
          stream.write(
            `  epoch ${p.epoch}/${p.epochs}: loss ${p.loss.toFixed(3)}, validation MRR ${p.validation!.mrr.toFixed(3)}, R@${p.validation!.k} ${p.validation!.recall.toFixed(3)}\n`,
          );
        }
      },
      stop() {},
    };
  }
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  let bar: InstanceType<typeof SingleBar> | undefined;
  let phase: TunePhase | undefined;
  let validation = '';
  const start = (total: number, format: string) => {
    bar?.stop();
    bar = new SingleBar(
      { format, stream, hideCursor: true, clearOnComplete: true, etaBuffer: 30 },
      Presets.shades_classic,
    );
    bar.start(total, 0, { loss: '-', validation });
  };
  return {
    onEvent(event: TuneEvent) {
      switch (event.kind) {
        case 'phase':
          bar?.stop();
          bar = undefined;
          phase = event.phase;
          if (phase !== 'synthetic' && phase !== 'embedding' && phase !== 'training')
            stream.write(`${PHASE_LABELS[phase]}…\n`);
          break;
        case 'note':
          bar?.stop();
          stream.write(`  note: ${event.message}\n`);
          bar = undefined;
          break;
        case 'synthetic':
          if (!bar)
            start(
              event.progress.total,
              `${PHASE_LABELS.synthetic} {bar} {value}/{total} items | ETA {eta_formatted}`,
            );
          bar!.update(event.progress.done);
          break;
        case 'embedding':
          if (!bar)
            start(event.total, `${PHASE_LABELS.embedding} {bar} {value}/{total} | ETA {eta_formatted}`);
          bar!.update(event.done);
          break;
        case 'training': {
          const p = event.progress;
          if (!bar)
            start(
              p.epochs * p.batches,
              `${PHASE_LABELS.training} {bar} epoch {epoch}/{epochs} | loss {loss} | {validation} | ETA {eta_formatted}`,
            );
          if (p.validation) validation = `validation MRR ${p.validation.mrr.toFixed(3)}`;
          bar!.update((p.epoch - 1) * p.batches + p.batch, {
            epoch: p.epoch,
            epochs: p.epochs,
            loss: p.loss.toFixed(3),
            validation,
          });
          break;
        }
      }
    },
    stop() {
      bar?.stop();
    },
  };
}

const percent = (x: number) => x.toFixed(3);

/** The held-out table: R@k and MRR without and with the adapter, overall and per modality. */
export function formatHeldOut(heldOut: HeldOutComparison, previous?: TuneReport['previous']): string {
  const k = heldOut.k;
  const rows: string[][] = [
    ['', 'without', 'with adapter', ...(previous ? [`in place (rev ${previous.revision})`] : [])],
  ];
  rows.push([
    `R@${k}`,
    percent(heldOut.before.recall),
    percent(heldOut.after.recall),
    ...(previous ? [percent(previous.figures.recall)] : []),
  ]);
  rows.push([
    'MRR',
    percent(heldOut.before.mrr),
    percent(heldOut.after.mrr),
    ...(previous ? [percent(previous.figures.mrr)] : []),
  ]);
  for (const [modality, figures] of Object.entries(heldOut.byModality)) {
    if (!figures || Object.keys(heldOut.byModality).length < 2) continue;
    const name = modality === 'image' ? 'pictures' : 'text';
    rows.push([
      `${name} (${figures.before.pairs}) R@${k} / MRR`,
      `${percent(figures.before.recall)} / ${percent(figures.before.mrr)}`,
      `${percent(figures.after.recall)} / ${percent(figures.after.mrr)}`,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   ')}`.trimEnd(),
    )
    .join('\n');
}

function formatReport(report: TuneReport, kbDir: string): string {
  const t = report.training;
  const kinds = Object.entries(t.pairs)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  const lines = [
    `Pairs: ${t.split.train + t.split.validation + t.split.test} used (${kinds}): ${t.split.train} to train on, ${t.split.validation} for validation, ${t.split.test} held out for the test.`,
    `Trained ${t.epochs} epoch${t.epochs === 1 ? '' : 's'} in ${t.seconds.toFixed(1)} s${t.bestEpoch > 0 ? `, best at epoch ${t.bestEpoch}` : ''}${t.stoppedEarly ? ' (stopped early)' : ''}; ${t.settings.rank ? `low-rank adapter, rank ${t.settings.rank}` : 'full matrix'}.`,
  ];
  if (report.synthetic) {
    const s = report.synthetic;
    lines.push(
      `Questions by the LLM: ${s.written} written now, ${s.cached} from the cache${s.failed ? `, ${s.failed} failed` : ''}.`,
    );
  }
  for (const u of report.unused.slice(0, 5))
    lines.push(`  unused: ${displayPath(u.file)} line ${u.line}: ${u.reason}`);
  if (report.unused.length > 5) lines.push(`  unused: ${report.unused.length - 5} more lines`);
  lines.push(
    '',
    `Held-out test: ${report.heldOut.pairs} pairs whose items were never trained on, each ranked among the ${report.heldOut.candidates} items that have a pair:`,
    formatHeldOut(report.heldOut, report.previous),
    '',
  );
  if (report.kept) {
    lines.push(
      `Kept: query adapter revision ${report.revision} in ${displayPath(report.path ?? kbDir)}. Searches use it from now on;`,
      '  `mmrag search --no-adapter` compares, `mmrag eval` shows both, `mmrag tune --reset` removes it.',
    );
  } else {
    lines.push(`Not kept: ${report.reason}`);
  }
  return lines.join('\n');
}

async function requireContent(kb: KnowledgeBase): Promise<void> {
  if ((await kb.stats()).sources === 0) {
    throw new MmragError(
      `The knowledge base ${kb.dir} is empty.`,
      'Add files first: mmrag ingest <files or folders>',
      'empty_kb',
    );
  }
}

/** `mmrag tune`: train (or with --reset remove) the knowledge base's query adapter. Exit code 1 when not kept. */
export async function tuneCommand(flags: TuneFlags): Promise<void> {
  const epochs = wholeNumber('epochs', flags.epochs, 1);
  const synthetic = wholeNumber('synthetic', flags.synthetic, 1);
  const rank = wholeNumber('rank', flags.rank, 1);
  const seed = wholeNumber('seed', flags.seed, 0);
  if (flags.reset) {
    const training = ['pairs', 'eval', 'epochs', 'synthetic', 'rank', 'seed'].filter(
      (f) => flags[f as keyof TuneFlags] !== undefined,
    );
    if (training.length > 0)
      throw new MmragError(
        `--reset removes the adapter; it does not train (drop --${training.join(', --')}).`,
        'Run `mmrag tune --reset`, then `mmrag tune ...` to train a new one.',
        'usage',
      );
  }
  const kb = await openFromFlags(flags);
  await withKb(kb, async () => {
    if (flags.reset) {
      const removed = await kb.queryAdapter.reset();
      if (flags.json) process.stdout.write(`${JSON.stringify({ reset: true, removed })}\n`);
      else
        process.stdout.write(
          removed
            ? `Removed the query adapter of ${displayPath(kb.dir)}: searches use the model as it is.\n`
            : `${displayPath(kb.dir)} has no query adapter: nothing to remove.\n`,
        );
      return;
    }
    await requireContent(kb);
    const controller = new AbortController();
    const onSignal = () => {
      process.stderr.write('\nStopping… (the adapter in place is kept)\n');
      controller.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    const reporter = await tuneReporter(process.stderr, Boolean(flags.json));
    if (!flags.json) process.stderr.write(`Tuning the query adapter of ${displayPath(kb.dir)}\n`);
    let report: TuneReport;
    try {
      report = await tuneKnowledgeBase(kb, {
        pairsFile: flags.pairs,
        evalFile: flags.eval,
        epochs,
        synthetic,
        rank,
        seed,
        onEvent: reporter.onEvent,
        signal: controller.signal,
      });
    } finally {
      reporter.stop();
      process.off('SIGINT', onSignal);
    }
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${formatReport(report, kb.dir)}\n`);
    if (!report.kept) process.exitCode = 1;
  });
}
