import { basename, dirname } from 'node:path';
import { errorMessage, MmragError } from '../errors.js';
import { defaultModelCacheDir, localModelFolder } from './clip.js';

/** A small sentence-embedding model from the hub: 384-d, mean pooling, 22 M parameters. */
export const DEFAULT_TEXT_EMBED_MODEL = 'Xenova/all-MiniLM-L6-v2';

export interface TextEmbedderOptions {
  /** Hub id (`Xenova/all-MiniLM-L6-v2`) or a local folder in the same layout (config.json, tokenizer.json, onnx/). */
  model: string;
  dtype?: string;
  /** Where hub downloads are cached (default `~/.cache/mmrag/models`). */
  cacheDir?: string;
  /** Allow downloading from the Hugging Face hub. */
  allowRemote: boolean;
}

/** Embeds text only, for text-to-text retrieval next to CLIP (whose text tower stops at 77 tokens). */
export interface TextEmbedder {
  readonly modelId: string;
  readonly dim: number;
  /** Unit-length vectors (mean pooled, L2-normalised), one per text. */
  embedTexts(texts: string[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
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

interface TensorLike {
  dims: number[];
  data: Float32Array;
  dispose?(): void;
}
type FeatureExtractor = ((
  texts: string[],
  options: { pooling: 'mean'; normalize: boolean },
) => Promise<TensorLike>) & { dispose(): Promise<unknown> };

const BATCH_SIZE = 32;

/**
 * A sentence-embedding model through the Transformers.js `feature-extraction` pipeline, with mean pooling and
 * L2 normalisation (the recipe of all-MiniLM-L6-v2 and most sentence-transformers models). The width is read
 * from one forward pass, so any such model works.
 */
export async function loadTextEmbedder(options: TextEmbedderOptions): Promise<TextEmbedder> {
  const what = 'text embedding model';
  const { env, pipeline } = await import('@huggingface/transformers');
  const { id, folder } = prepareModelSource(env, options, what);
  let extractor: FeatureExtractor;
  try {
    const load = pipeline as unknown as (
      task: 'feature-extraction',
      model: string,
      opts: { dtype?: string },
    ) => Promise<FeatureExtractor>;
    extractor = await load('feature-extraction', id, options.dtype ? { dtype: options.dtype } : {});
  } catch (err) {
    throw modelLoadError(what, options.model, folder, options.allowRemote, err);
  }

  const embedTexts = async (texts: string[]): Promise<Float32Array[]> => {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += BATCH_SIZE) {
      const tensor = await extractor(texts.slice(i, i + BATCH_SIZE), { pooling: 'mean', normalize: true });
      const [n, d] = tensor.dims as [number, number];
      for (let r = 0; r < n; r++) out.push(tensor.data.slice(r * d, (r + 1) * d));
      tensor.dispose?.();
    }
    return out;
  };

  const dim = (await embedTexts(['a sentence']))[0]!.length;
  return {
    modelId: options.model,
    dim,
    embedTexts,
    dispose: async () => {
      await extractor.dispose();
    },
  };
}
