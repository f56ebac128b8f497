import { MmragError } from '../errors.js';
import type { Embedder, RgbImage } from './embedder.js';
import { loadModel } from './model-source.js';

export { defaultModelCacheDir, localModelFolder } from './model-source.js';

export interface ClipEmbedderOptions {
  /** Hub id (`Xenova/clip-vit-base-patch32`) or a local folder in the same layout. */
  model: string;
  dtype?: 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4';
  batchSize?: number;
  /** Where hub downloads are cached (default `~/.cache/mmrag/models`). */
  cacheDir?: string;
  /** Allow downloading from the Hugging Face hub. */
  allowRemote?: boolean;
  /** Download progress (0-100) of model files, for a progress bar on first use. */
  onDownload?: (file: string, percent: number) => void;
}

// Transformers.js's own types are broad; these are the parts we call.
interface TensorLike {
  dims: number[];
  data: Float32Array;
}
type Callable<I, O> = (input: I) => Promise<O>;

/**
 * CLIP-family embedder through Transformers.js: the text tower (CLIPTextModelWithProjection) and the vision tower
 * (CLIPVisionModelWithProjection), loaded separately so that each modality runs only what it needs.
 */
export async function loadClipEmbedder(options: ClipEmbedderOptions): Promise<Embedder> {
  const {
    AutoTokenizer,
    AutoProcessor,
    CLIPTextModelWithProjection,
    CLIPVisionModelWithProjection,
    RawImage,
  } = await import('@huggingface/transformers');
  const dtype = options.dtype ?? 'fp32';
  const source = {
    model: options.model,
    cacheDir: options.cacheDir,
    allowRemote: options.allowRemote ?? true,
  };
  const loaded = await loadModel(source, 'embedding model', async (id, folder) => {
    // Transformers.js reports progress for cached and local files too; only a file seen below 100% is a download.
    const downloading = new Set<string>();
    const progress = (info: { status: string; file?: string; progress?: number }) => {
      if (folder || info.status !== 'progress' || !info.file || typeof info.progress !== 'number') return;
      if (info.progress < 100) downloading.add(info.file);
      if (downloading.has(info.file)) options.onDownload?.(info.file, info.progress);
    };
    const common = { progress_callback: progress } as const;
    try {
      return await Promise.all([
        AutoTokenizer.from_pretrained(id, common),
        AutoProcessor.from_pretrained(id, common),
        CLIPTextModelWithProjection.from_pretrained(id, { ...common, dtype }),
        CLIPVisionModelWithProjection.from_pretrained(id, { ...common, dtype }),
      ]);
    } catch (err) {
      const reason = (err as Error).message;
      if (folder) {
        throw new MmragError(
          `Cannot load the embedding model from ${folder}: ${reason}`,
          `The folder needs config.json, tokenizer.json, preprocessor_config.json and onnx/text_model${dtypeSuffix(dtype)}.onnx + onnx/vision_model${dtypeSuffix(dtype)}.onnx.`,
          'model_unavailable',
          { cause: err },
        );
      }
      throw new MmragError(
        `Cannot load the embedding model ${options.model} from the Hugging Face hub: ${reason}`,
        'Check the model id and your network, or pass a local model folder with --embed-model.',
        'model_unavailable',
        { cause: err },
      );
    }
  });
  const [tok, proc, text, vision] = loaded;
  const tokenize = tok as unknown as (texts: string[], opts: object) => unknown;
  const tokenizer = (texts: string[]) =>
    Promise.resolve(tokenize(texts, { padding: true, truncation: true }));
  const processor = proc as unknown as Callable<unknown[], Record<string, unknown>>;
  const textModel = text as unknown as Callable<unknown, { text_embeds: TensorLike }>;
  const visionModel = vision as unknown as Callable<unknown, { image_embeds: TensorLike }>;
  const disposeAll = async () => {
    await Promise.all([
      (text as { dispose(): Promise<unknown> }).dispose(),
      (vision as { dispose(): Promise<unknown> }).dispose(),
    ]);
  };

  const batchSize = options.batchSize ?? 16;

  const rows = (tensor: TensorLike): Float32Array[] => {
    const [n, d] = tensor.dims as [number, number];
    const out: Float32Array[] = [];
    for (let i = 0; i < n; i++) out.push(tensor.data.slice(i * d, (i + 1) * d));
    return out;
  };

  const embedTexts = async (texts: string[]): Promise<Float32Array[]> => {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += batchSize) {
      const inputs = await tokenizer(texts.slice(i, i + batchSize));
      const { text_embeds } = await textModel(inputs);
      out.push(...rows(text_embeds));
    }
    return out;
  };

  const embedImages = async (images: RgbImage[]): Promise<Float32Array[]> => {
    const out: Float32Array[] = [];
    for (let i = 0; i < images.length; i += batchSize) {
      const raws = images
        .slice(i, i + batchSize)
        .map((img) => new RawImage(img.data, img.width, img.height, 3));
      const inputs = await processor(raws);
      const { image_embeds } = await visionModel(inputs);
      out.push(...rows(image_embeds));
    }
    return out;
  };

  // The projection width, read once from a real forward pass so any CLIP-family model works.
  const probe = await embedTexts(['a photo']);
  const dim = probe[0]!.length;

  return {
    modelId: options.model,
    dim,
    embedTexts,
    embedImages,
    dispose: () => disposeAll(),
  };
}

function dtypeSuffix(dtype: string): string {
  return dtype === 'fp32' ? '' : dtype === 'q8' ? '_quantized' : `_${dtype}`;
}
