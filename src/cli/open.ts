import { mergeLayers, resolveConfig } from '../config.js';
import { errorMessage, MmragError } from '../errors.js';
import { type KnowledgeBase, openKnowledgeBase } from '../kb.js';
import type { KbFlags, LlmFlags } from './flags.js';
import { configFromFlags } from './options.js';

/** Print an error the way a person can act on it; returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof MmragError) {
    process.stderr.write(`Error: ${err.message}\n`);
    if (err.hint) process.stderr.write(`  ${err.hint}\n`);
    return err.code === 'usage' ? 2 : 1;
  }
  process.stderr.write(`Error: ${errorMessage(err)}\n`);
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

export async function openFromFlags(flags: KbFlags & LlmFlags, extra = {}): Promise<KnowledgeBase> {
  const flagLayer = mergeLayers(configFromFlags(flags) as Record<string, unknown>, extra);
  const config = resolveConfig({ flags: flagLayer, configPath: flags.config });
  return openKnowledgeBase({ config, onModelDownload: downloadReporter() });
}

export async function withKb<T>(kb: KnowledgeBase, run: (kb: KnowledgeBase) => Promise<T>): Promise<T> {
  try {
    return await run(kb);
  } finally {
    await kb.close();
  }
}
