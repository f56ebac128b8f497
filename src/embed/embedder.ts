import type { RgbImage } from '../media/image-decode.js';

export type { RgbImage };

/**
 * Embeds text and pictures into one vector space (CLIP-family models).
 * Vectors are returned as the model's projection gives them, not normalised:
 * the reference scoring uses the raw text projection as the query vector.
 */
export interface Embedder {
  /** The model id or folder it was loaded from. */
  readonly modelId: string;
  readonly dim: number;
  embedTexts(texts: string[]): Promise<Float32Array[]>;
  embedImages(images: RgbImage[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

/** Embeds text only: the dedicated text model for text-to-text retrieval and the text forms of pictures. */
export interface TextEmbedder {
  readonly modelId: string;
  readonly dim: number;
  embedTexts(texts: string[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

/** The text embedder in use, and whether it is the CLIP text tower itself (then text items share one vector). */
export interface TextSpace {
  embedder: TextEmbedder;
  isClip: boolean;
}
