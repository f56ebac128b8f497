import type { ConfigInput } from '../config.js';
import { MmragError } from '../errors.js';
import type { SearchOptions } from '../kb.js';
import type { KbFlags, LlmFlags, RetrievalFlags } from './flags.js';

function number(flag: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new MmragError(
      `--${flag} expects ${integer ? 'a whole number' : 'a number'}, got "${value}".`,
      undefined,
      'usage',
    );
  }
  return n;
}

/** The configuration layer the flags give (highest precedence). */
export function configFromFlags(flags: KbFlags & LlmFlags): ConfigInput {
  if (flags.kb !== undefined && (flags.kb.startsWith('-') || flags.kb.trim() === '')) {
    throw new MmragError(
      `--kb needs a folder, got "${flags.kb}".`,
      'Give the knowledge base folder after --kb (e.g. --kb ./notes-kb), or leave --kb out for ./.mmrag.',
      'usage',
    );
  }
  return {
    kb: flags.kb,
    embed: {
      model: flags.embedModel,
      textModel: flags.textModel,
      dtype: flags.embedDtype as NonNullable<ConfigInput['embed']>['dtype'],
      allowRemote: flags.offline ? false : undefined,
    },
    llm: {
      provider: flags.llm as NonNullable<ConfigInput['llm']>['provider'],
      url: flags.llmUrl,
      model: flags.llmModel,
    },
  };
}

/** Per-query retrieval overrides from the flags (thresholds apply to the scoring in use). */
export function searchOptionsFromFlags(flags: RetrievalFlags): SearchOptions {
  if (flags.scoring !== undefined && flags.scoring !== 'softmax' && flags.scoring !== 'cosine') {
    throw new MmragError(`--scoring is softmax or cosine, got "${flags.scoring}".`, undefined, 'usage');
  }
  const temperature = (flag: string, value: string | undefined) => {
    const t = number(flag, value);
    if (t !== undefined && t <= 0) throw new MmragError(`--${flag} must be above 0.`, undefined, 'usage');
    return t;
  };
  const diversity = number('diversity', flags.diversity);
  if (diversity !== undefined && !(diversity > 0 && diversity <= 1)) {
    throw new MmragError(
      '--diversity is an MMR lambda in (0, 1]: lower is more diverse.',
      undefined,
      'usage',
    );
  }
  return {
    scoring: flags.scoring as SearchOptions['scoring'],
    level: flags.level === undefined ? undefined : (Number(flags.level) as 1 | 2 | 3),
    mode: flags.mode as SearchOptions['mode'],
    where: flags.where,
    diversity,
    rerank: flags.rerank,
    adapter: flags.adapter,
    text: {
      k: number('text-k', flags.textK, true),
      threshold: number('text-threshold', flags.textThreshold),
      temperature: temperature('text-temperature', flags.textTemperature),
    },
    image: {
      k: number('image-k', flags.imageK, true),
      threshold: number('image-threshold', flags.imageThreshold),
      temperature: temperature('image-temperature', flags.imageTemperature),
    },
  };
}
