import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { errorMessage, MmragError } from '../errors.js';

/**
 * Where Transformers.js models come from: a hub id or a local folder. Transformers.js keeps these settings in one
 * global `env`, so every model (CLIP, the text embedder, Whisper, the reranker) is loaded through
 * `loadModel`, which applies its settings and runs its loads one at a time: a Whisper download can then never
 * start while CLIP's local-folder settings are in force.
 */

export function defaultModelCacheDir(): string {
  return join(homedir(), '.cache', 'mmrag', 'models');
}

/** A model given as a folder on disk (absolute, `./x`, `../x`, or any existing folder) rather than a hub id. */
export function localModelFolder(model: string, cwd = process.cwd()): string | undefined {
  const looksLikePath =
    isAbsolute(model) || model.startsWith('./') || model.startsWith('../') || model.startsWith('~');
  const candidate = model.startsWith('~') ? join(homedir(), model.slice(1)) : resolve(cwd, model);
  if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
  if (looksLikePath) {
    throw new MmragError(
      `Embedding model folder not found: ${candidate}`,
      'Pass a folder holding config.json, tokenizer.json and onnx/, or a Hugging Face model id.',
      'model_unavailable',
    );
  }
  return undefined;
}

/** The Transformers.js settings this module sets (a subset of its global `env`). */
interface TransformersEnv {
  allowLocalModels: boolean;
  allowRemoteModels: boolean;
  localModelPath: string;
  cacheDir: string | null;
}

/**
 * Point Transformers.js at a model: a local folder (offline, by folder name under its parent) or a hub id.
 * Returns the id to pass to `from_pretrained`. `what` names the model in messages ("text embedding model").
 * Note: `env` is global to Transformers.js, as in src/embed/clip.ts; load models one after another.
 */
export function prepareModelSource(
  env: TransformersEnv,
  options: { model: string; cacheDir?: string; allowRemote: boolean },
  what: string,
): { id: string; folder: string | undefined } {
  let folder: string | undefined;
  try {
    folder = localModelFolder(options.model);
  } catch (err) {
    const detail = errorMessage(err).replace(/^Embedding model folder not found: /, '');
    throw new MmragError(
      `The ${what} folder was not found: ${detail}`,
      'Pass a folder holding config.json, tokenizer.json and onnx/, or a Hugging Face model id.',
      'model_unavailable',
      { cause: err },
    );
  }
  env.cacheDir = options.cacheDir ?? defaultModelCacheDir();
  if (folder) {
    env.allowLocalModels = true;
    env.localModelPath = `${dirname(folder)}/`;
    env.allowRemoteModels = false;
    return { id: basename(folder), folder };
  }
  env.allowRemoteModels = options.allowRemote;
  env.allowLocalModels = false;
  return { id: options.model, folder: undefined };
}

/** The MmragError for a model that could not be loaded, offline or online. */
export function modelLoadError(
  what: string,
  model: string,
  folder: string | undefined,
  allowRemote: boolean,
  err: unknown,
): MmragError {
  const reason = errorMessage(err);
  if (folder) {
    return new MmragError(
      `Cannot load the ${what} from ${folder}: ${reason}`,
      'The folder needs config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx (onnx/model_quantized.onnx for q8).',
      'model_unavailable',
      { cause: err },
    );
  }
  return new MmragError(
    `Cannot load the ${what} ${model}${allowRemote ? ' from the Hugging Face hub' : ' (downloads are off and it is not in the local cache)'}: ${reason}`,
    allowRemote
      ? 'Check the model id and your network, or pass a local model folder.'
      : 'Allow downloads once (drop --offline / MMRAG_OFFLINE) to cache it, or pass a local model folder.',
    'model_unavailable',
    { cause: err },
  );
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Apply a model's source settings and load it, after any load already running (the settings are global).
 * `load` gets the id to pass to `from_pretrained` and the local folder, if any.
 */
export function loadModel<T>(
  options: { model: string; cacheDir?: string; allowRemote: boolean },
  what: string,
  load: (id: string, folder: string | undefined) => Promise<T>,
): Promise<T> {
  const run = async () => {
    const { env } = await import('@huggingface/transformers');
    const { id, folder } = prepareModelSource(env, options, what);
    return load(id, folder);
  };
  const result = queue.then(run, run);
  queue = result.catch(() => undefined);
  return result;
}
