import type { Embedder, RgbImage } from '../embed/embedder.js';
import { decodeToRgb, EMBED_MAX_SIDE } from '../media/image-decode.js';
import type { ItemDraft } from '../types.js';

/** Decoded pixels the pipeline may hold at once, over all files prepared ahead of the model. */
export const HELD_PIXEL_BYTES = 256 * 1024 * 1024;

/**
 * The decoded pictures a run holds between reading a file and embedding it, bounded in bytes. A picture decoded
 * while there is room is kept for the model; one decoded when the budget is spent is let go and decoded again
 * just before it is embedded. Without the bound, a page showing 1,500 pictures of 1024x1024 held every one
 * decoded (4.9 GB).
 */
export class HeldPictures {
  private held = 0;
  private readonly counted = new WeakSet<RgbImage>();

  constructor(private readonly limitBytes = HELD_PIXEL_BYTES) {}

  /** Keep `picture` if it fits; true when kept (a picture already kept counts once). */
  keep(picture: RgbImage): boolean {
    if (this.counted.has(picture)) return true;
    if (this.held + picture.data.byteLength > this.limitBytes) return false;
    this.held += picture.data.byteLength;
    this.counted.add(picture);
    return true;
  }

  release(picture: RgbImage): void {
    if (!this.counted.has(picture)) return;
    this.counted.delete(picture);
    this.held -= picture.data.byteLength;
  }

  get bytes(): number {
    return this.held;
  }
}

/** The pictures of prepared files, as `embedPictures` needs them. */
export interface PicturesToEmbed {
  drafts: ItemDraft[];
  /** Decoded pixels held per image draft index. */
  pixels: Map<number, RgbImage>;
  /** Stored media path per image draft index: the picture's content hash, so equal pictures share it. */
  mediaPaths: Map<number, string>;
}

/**
 * The vision vector of every distinct picture of `files`, by stored media path: each distinct picture is decoded
 * (unless held) and embedded once, `batchSize` at a time, and its pixels are released as soon as its batch is done.
 */
export async function embedPictures(
  files: PicturesToEmbed[],
  embedder: Embedder,
  options: { batchSize: number; maxPixels: number; held: HeldPictures },
): Promise<Map<string, Float32Array>> {
  const distinct = new Map<string, { bytes: Uint8Array; pixels?: RgbImage }>();
  for (const file of files) {
    file.drafts.forEach((draft, i) => {
      if (draft.modality !== 'image') return;
      const path = file.mediaPaths.get(i)!;
      const entry = distinct.get(path) ?? { bytes: draft.picture.bytes };
      entry.pixels ??= file.pixels.get(i);
      distinct.set(path, entry);
    });
    file.pixels.clear();
  }
  const vectors = new Map<string, Float32Array>();
  const entries = [...distinct];
  try {
    for (let i = 0; i < entries.length; i += options.batchSize) {
      const batch = entries.slice(i, i + options.batchSize);
      const pixels = await Promise.all(
        batch.map(
          ([, entry]) =>
            entry.pixels ??
            decodeToRgb(entry.bytes, { maxPixels: options.maxPixels, maxSide: EMBED_MAX_SIDE }),
        ),
      );
      const embedded = await embedder.embedImages(pixels);
      batch.forEach(([path, entry], j) => {
        vectors.set(path, embedded[j]!);
        if (entry.pixels) options.held.release(entry.pixels);
        entry.pixels = undefined;
      });
    }
  } finally {
    for (const [, entry] of entries) if (entry.pixels) options.held.release(entry.pixels);
  }
  return vectors;
}
