import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { mergeLayers, resolveConfig } from '../config.js';
import { errorMessage, MmragError } from '../errors.js';
import { type KnowledgeBase, openKnowledgeBase } from '../kb.js';
import type { KbFlags, LlmFlags } from './flags.js';
import { displayPath } from './format.js';
import { configFromFlags } from './options.js';
import { printable } from './terminal.js';

/** Print an error the way a person can act on it; returns the exit code. */
export function reportError(err: unknown): number {
  // Messages name files and quote servers: data, printed with control characters made visible.
  if (err instanceof MmragError) {
    process.stderr.write(`Error: ${printable(err.message, { multiline: true })}\n`);
    if (err.hint) process.stderr.write(`  ${printable(err.hint, { multiline: true })}\n`);
    return err.code === 'usage' ? 2 : 1;
  }
  process.stderr.write(`Error: ${printable(errorMessage(err), { multiline: true })}\n`);
  if (process.env.MMRAG_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return 1;
}

function downloadReporter(): (model: string, file: string, percent: number) => void {
  let last = '';
  return (model, file, percent) => {
    const line = `Downloading ${model} (first use): ${file} ${Math.floor(percent)}%`;
    if (line === last) return;
    last = line;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${percent >= 100 ? '\n' : ''}`);
    else if (percent >= 100) process.stderr.write(`${line}\n`);
  };
}

/** Whether the knowledge base the flags name exists (without creating it). */
export function knowledgeBaseExists(flags: KbFlags): boolean {
  const config = resolveConfig({ flags: configFromFlags(flags), configPath: flags.config });
  return config.kb.includes('://') || existsSync(resolve(config.kb));
}

/**
 * Open the knowledge base the flags name. Commands that only read (`search`, `ask`, `eval`, ...) pass
 * `mustExist`: a knowledge base that is not there is reported, never created as an empty folder.
 */
export async function openFromFlags(
  flags: KbFlags & LlmFlags,
  extra = {},
  options: { mustExist?: boolean } = {},
): Promise<KnowledgeBase> {
  const flagLayer = mergeLayers(configFromFlags(flags) as Record<string, unknown>, extra);
  const config = resolveConfig({ flags: flagLayer, configPath: flags.config });
  if (options.mustExist && !config.kb.includes('://') && !existsSync(resolve(config.kb))) {
    throw new MmragError(
      `There is no knowledge base at ${displayPath(resolve(config.kb))}.`,
      'Create it by adding files: mmrag ingest <files or folders>' + (flags.kb ? ` --kb ${flags.kb}` : ''),
      'empty_kb',
    );
  }
  return openKnowledgeBase({ config, onModelDownload: downloadReporter() });
}

export async function withKb<T>(kb: KnowledgeBase, run: (kb: KnowledgeBase) => Promise<T>): Promise<T> {
  try {
    return await run(kb);
  } finally {
    await kb.close();
  }
}
