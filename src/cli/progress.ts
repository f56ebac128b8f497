import type { FileOutcome, IngestEvent } from '../ingest/pipeline.js';
import { displayPath } from './format.js';
import { printable } from './terminal.js';

function outcomeLine(o: FileOutcome): string {
  const file = displayPath(o.file);
  switch (o.status) {
    case 'ingested':
      return `  ✓ ${file}: ${o.textItems} text, ${o.imageItems} pictures`;
    case 'unchanged':
      return `  = ${file}: unchanged`;
    case 'skipped':
      return `  - ${file}: skipped, ${printable(o.reason ?? '')}`;
    case 'failed':
      return `  ✗ ${file}: ${printable(o.reason ?? '')}`;
  }
}

/**
 * Reports ingest progress: a live bar on a terminal (files, items, current file, ETA), plain lines otherwise, or
 * one JSON line per file with `--json`. Problems always get their own line.
 */
export async function ingestReporter(mode: { json: boolean; stream: NodeJS.WriteStream }) {
  const { stream, json } = mode;
  let items = 0;
  if (json) {
    return {
      onEvent(event: IngestEvent) {
        if (event.kind === 'file-done') process.stdout.write(`${JSON.stringify(event.outcome)}\n`);
      },
      stop() {},
    };
  }
  if (!stream.isTTY) {
    return {
      onEvent(event: IngestEvent) {
        if (event.kind === 'walked') stream.write(`Ingesting ${event.files} files\n`);
        if (event.kind === 'file-done') {
          stream.write(`${outcomeLine(event.outcome)}\n`);
          for (const w of event.outcome.warnings) stream.write(`    warning: ${printable(w)}\n`);
        }
      },
      stop() {},
    };
  }
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  const bar = new SingleBar(
    {
      format: '{bar} {value}/{total} files | {items} items | ETA {eta_formatted} | {file}',
      stream,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  let started = false;
  let done = 0;
  return {
    onEvent(event: IngestEvent) {
      if (event.kind === 'walked') {
        bar.start(event.files, 0, { items: 0, file: '' });
        started = true;
      } else if (event.kind === 'file-start') {
        bar.update({ file: displayPath(event.file).slice(-40) });
      } else if (event.kind === 'file-done') {
        done++;
        if (event.outcome.status === 'ingested') items += event.outcome.items;
        const o = event.outcome;
        if (o.status === 'failed' || o.status === 'skipped' || o.warnings.length > 0) {
          bar.stop();
          stream.write(`${outcomeLine(o)}\n`);
          for (const w of o.warnings) stream.write(`    warning: ${printable(w)}\n`);
          bar.start(bar.getTotal(), done, { items, file: '' });
        } else {
          bar.update(done, { items });
        }
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
