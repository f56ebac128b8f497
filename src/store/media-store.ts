import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Store } from './store.js';

/** Formats every multimodal LLM accepts; anything else is stored as PNG. */
const LLM_READY: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
};

export const MEDIA_MIME: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

/**
 * Where a knowledge base keeps its copies of pictures, so that answers keep working when the original files move
 * or disappear. Pictures are content-addressed: identical ones are stored once, under a name made of their hash.
 */
export interface MediaStore {
  /** Store a picture (converted to a format every multimodal LLM reads); returns its name in this store. */
  save(bytes: Uint8Array, mime: string): Promise<string>;
  /** A readable local path of a stored picture (what hits show and the prompt names). */
  path(rel: string): string;
  read(rel: string): Promise<Uint8Array>;
  /** Delete stored pictures no live item refers to; returns how many went. */
  prune(referenced: Set<string>): Promise<number>;
}

/** The default media store: a folder inside the knowledge base (`media/ab/abcdef....png`). */
export class FolderMediaStore implements MediaStore {
  constructor(readonly dir: string) {}

  /** Store a picture; returns its path relative to the media folder. */
  async save(bytes: Uint8Array, mime: string): Promise<string> {
    let data = bytes;
    let ext = LLM_READY[mime];
    if (!ext) {
      const sharp = (await import('sharp')).default;
      if (mime === 'image/bmp') {
        // sharp cannot read BMP: store the decoded pixels as PNG.
        const { decodeBmp } = await import('../media/bmp.js');
        const rgb = decodeBmp(bytes);
        data = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
          .png()
          .toBuffer();
      } else data = await sharp(bytes, { pages: 1 }).rotate().png().toBuffer();
      ext = 'png';
    }
    const hash = createHash('sha256').update(data).digest('hex');
    const rel = join(hash.slice(0, 2), `${hash}.${ext}`);
    const abs = join(this.dir, rel);
    if (!existsSync(abs)) {
      mkdirSync(join(this.dir, hash.slice(0, 2)), { recursive: true });
      const tmp = `${abs}.${process.pid}.tmp`;
      writeFileSync(tmp, data);
      renameSync(tmp, abs);
    }
    return rel;
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  async read(rel: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.path(rel)));
  }

  async prune(referenced: Set<string>): Promise<number> {
    if (!existsSync(this.dir)) return 0;
    let removed = 0;
    for (const shard of readdirSync(this.dir)) {
      const shardDir = join(this.dir, shard);
      for (const file of readdirSync(shardDir)) {
        const rel = relative(this.dir, join(shardDir, file));
        if (!referenced.has(rel)) {
          rmSync(join(shardDir, file), { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

export function mimeOfMedia(rel: string): string {
  const ext = rel.slice(rel.lastIndexOf('.') + 1);
  return MEDIA_MIME[ext] ?? 'application/octet-stream';
}

/**
 * Reads the stored pictures of some items by id: one store lookup for all of them, made on first use. A picture
 * missing from the media store (deleted by hand) reads as undefined, so an answer goes on with the rest.
 */
export function storedPictureReader(
  store: Store,
  media: MediaStore,
  items: ReadonlyArray<{ id: string }>,
): (id: string) => Promise<{ bytes: Uint8Array; mime: string } | undefined> {
  let found: Promise<Map<string, string | undefined>> | undefined;
  return async (id) => {
    found ??= store
      .getItems(items.map((i) => i.id))
      .then((rows) => new Map(rows.map((r) => [r.id, r.media])));
    const rel = (await found).get(id);
    if (!rel) return undefined;
    const bytes = await media.read(rel).catch(() => undefined);
    return bytes ? { bytes, mime: mimeOfMedia(rel) } : undefined;
  };
}
