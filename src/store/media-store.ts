import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

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
 * Content-addressed copies of pictures inside the knowledge base (`media/ab/abcdef....png`), so answers keep
 * working when the original files move or disappear. Identical pictures are stored once.
 */
export class MediaStore {
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

  /** Delete stored pictures no live item refers to; returns how many went. */
  prune(referenced: Set<string>): number {
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
