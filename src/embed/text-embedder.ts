import { loadModel, modelLoadError } from './model-source.js';

export { modelLoadError, prepareModelSource } from './model-source.js';

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
  const { pipeline } = await import('@huggingface/transformers');
  const extractor = await loadModel(options, what, async (id, folder) => {
    try {
      const load = pipeline as unknown as (
        task: 'feature-extraction',
        model: string,
        opts: { dtype?: string },
      ) => Promise<FeatureExtractor>;
      return await load('feature-extraction', id, options.dtype ? { dtype: options.dtype } : {});
    } catch (err) {
      throw modelLoadError(what, options.model, folder, options.allowRemote, err);
    }
  });

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
