import { type Config, DEFAULT_EMBED_MODEL } from '../config.js';
import { MmragError } from '../errors.js';
import type { Embedder, TextSpace } from './embedder.js';
import { localModelFolder } from './model-source.js';

/** What a knowledge base remembers of its models (its manifest, `kb.json`). */
export interface RememberedModels {
  embedModel: string;
  textModel?: string;
  /** Set once vectors exist: from then on the text model is fixed too. */
  dim?: number;
}

/** The models a knowledge base uses. */
export interface ModelChoice {
  /** The CLIP-family model (a hub id, or an absolute folder for local models). */
  embedModel: string;
  /** The dedicated text model; undefined: CLIP's text tower. */
  textModel: string | undefined;
}

/**
 * The models to use: the ones the knowledge base was built with. A configured model that differs from them is
 * refused (its vectors would not be comparable); an empty knowledge base takes the configured ones. Local model
 * folders are named by their absolute path.
 */
export function chooseModels(
  manifest: RememberedModels | undefined,
  embed: Pick<Config['embed'], 'model' | 'textModel'>,
  where: string,
): ModelChoice {
  const local = (model: string | undefined) => (model ? (localModelFolder(model) ?? model) : undefined);
  const configured = { embedModel: local(embed.model), textModel: local(embed.textModel) };
  if (manifest && configured.embedModel && configured.embedModel !== manifest.embedModel) {
    throw new MmragError(
      `The knowledge base ${where} was built with the embedding model ${manifest.embedModel}, not ${configured.embedModel}.`,
      `Leave --embed-model out (the knowledge base remembers its model), pass --embed-model ${manifest.embedModel}, or use a new --kb folder.`,
      'model_mismatch',
    );
  }
  const built = manifest?.dim !== undefined;
  if (built && configured.textModel !== undefined && configured.textModel !== manifest.textModel) {
    throw new MmragError(
      `The knowledge base ${where} was built with ${manifest.textModel ? `the text model ${manifest.textModel}` : "CLIP's text tower for text forms"}, not ${configured.textModel}.`,
      'Leave the text model setting out (the knowledge base remembers it), or use a new --kb folder.',
      'model_mismatch',
    );
  }
  return {
    embedModel: manifest?.embedModel ?? configured.embedModel ?? DEFAULT_EMBED_MODEL,
    textModel: built ? manifest.textModel : configured.textModel,
  };
}

export interface EmbeddingModelsOptions {
  /** The CLIP-family model: a hub id, or an absolute folder. */
  embedModel: string;
  /** The dedicated text model; undefined: CLIP's text tower embeds text forms too. */
  textModel: string | undefined;
  embed: Config['embed'];
  /** Progress of hub downloads on first use (percent 0-100 per file). */
  onDownload?: (model: string, file: string, percent: number) => void;
}

/**
 * The embedding models of one knowledge base, each loaded once on first use: a re-run over unchanged files, or
 * `mmrag sources`, never loads a model. A failed load is forgotten, so the next use tries again.
 */
export class EmbeddingModels {
  private clip: Promise<Embedder> | undefined;
  private text: Promise<TextSpace> | undefined;

  constructor(private readonly options: EmbeddingModelsOptions) {}

  get embedModel(): string {
    return this.options.embedModel;
  }

  get textModel(): string | undefined {
    return this.options.textModel;
  }

  /** The CLIP-family embedder (text and pictures in one space). */
  embedder(): Promise<Embedder> {
    if (!this.clip) {
      const { embedModel, embed, onDownload } = this.options;
      const loading = (async () => {
        const { loadClipEmbedder } = await import('./clip.js');
        return loadClipEmbedder({
          model: embedModel,
          dtype: embed.dtype,
          batchSize: embed.batchSize,
          cacheDir: embed.cacheDir,
          allowRemote: embed.allowRemote,
          onDownload: (file, percent) => onDownload?.(embedModel, file, percent),
        });
      })();
      this.clip = loading;
      loading.catch(() => {
        if (this.clip === loading) this.clip = undefined;
      });
    }
    return this.clip;
  }

  /** Use an already-loaded embedder (shared between knowledge bases, or the demo's fallback model). */
  useEmbedder(embedder: Embedder): void {
    this.clip = Promise.resolve(embedder);
  }

  /** The text embedder for text forms: the dedicated text model, or CLIP's text tower. */
  textSpace(): Promise<TextSpace> {
    if (!this.text) {
      const loading = (async (): Promise<TextSpace> => {
        const { textModel, embed } = this.options;
        if (!textModel) {
          const clip = await this.embedder();
          return {
            isClip: true,
            embedder: {
              modelId: clip.modelId,
              dim: clip.dim,
              embedTexts: (t) => clip.embedTexts(t),
              dispose: async () => {},
            },
          };
        }
        const { loadTextEmbedder } = await import('./text-embedder.js');
        const embedder = await loadTextEmbedder({
          model: textModel,
          cacheDir: embed.cacheDir,
          allowRemote: embed.allowRemote,
        });
        return { isClip: false, embedder };
      })();
      this.text = loading;
      loading.catch(() => {
        if (this.text === loading) this.text = undefined;
      });
    }
    return this.text;
  }

  /** Release the models that were loaded. */
  async dispose(): Promise<void> {
    const clip = this.clip;
    const text = this.text;
    this.clip = undefined;
    this.text = undefined;
    if (clip) await (await clip.catch(() => undefined))?.dispose();
    if (text) await (await text.catch(() => undefined))?.embedder.dispose();
  }
}
