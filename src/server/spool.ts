import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** One file of an upload, written whole. */
export interface SpooledFile {
  /** The sanitised path inside the upload (`site/page.html`). */
  rel: string;
  bytes: number;
  /** sha256 of the bytes, hex (what the knowledge base records as a source's hash). */
  sha256: string;
}

/** The files of one upload while it arrives: invisible to ingest until committed, gone without a trace if not. */
export interface SpooledUpload {
  /** Write one file as its bytes arrive (the stream's errors reject, and the partial file is left to `discard`). */
  write(rel: string, data: Readable): Promise<SpooledFile>;
  /** The upload arrived whole: move it where its job reads it; returns that folder. */
  commit(jobId: string): Promise<string>;
  /** The upload failed: remove everything written so far. */
  discard(): Promise<void>;
}

/**
 * Where uploads are written as they arrive. The server streams every upload through one (nothing is held in
 * memory); the folder spool below is the one-machine kind, and a shared store can implement the same three steps.
 */
export interface UploadSpool {
  begin(): Promise<SpooledUpload>;
}

/** Spool entries a crashed server left behind are removed at start once they are this old (another live server may share the folder). */
const STALE_SPOOL_MS = 60 * 60 * 1000;

/**
 * Uploads spooled in `<uploads>/.spool/<random>/` and renamed to `<uploads>/<job>/` when whole: the same file
 * system, so a commit is one rename and a half-received upload never appears as a job folder.
 */
export class FolderSpool implements UploadSpool {
  readonly dir: string;

  constructor(readonly uploadsDir: string) {
    this.dir = join(uploadsDir, '.spool');
  }

  /** Remove what a crashed server left in the spool. */
  async sweep(now = Date.now()): Promise<void> {
    const entries = await readdir(this.dir).catch(() => [] as string[]);
    for (const entry of entries) {
      const path = join(this.dir, entry);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_SPOOL_MS) await rm(path, { recursive: true, force: true });
    }
    await this.removeSpoolIfEmpty();
  }

  async begin(): Promise<SpooledUpload> {
    const root = join(this.dir, randomBytes(8).toString('hex'));
    // Another upload may remove the empty spool folder between the two steps of a recursive mkdir: try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(root, { recursive: true });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
    let settled = false;
    return {
      write: async (rel, data) => {
        const path = join(root, ...rel.split('/'));
        await mkdir(dirname(path), { recursive: true });
        const hash = createHash('sha256');
        let bytes = 0;
        const measure = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            bytes += chunk.length;
            done(null, chunk);
          },
        });
        await pipeline(data, measure, createWriteStream(path));
        return { rel, bytes, sha256: hash.digest('hex') };
      },
      commit: async (jobId) => {
        if (settled) throw new Error('This upload was already committed or discarded.');
        settled = true;
        const target = join(this.uploadsDir, jobId);
        await rename(root, target);
        await this.removeSpoolIfEmpty();
        return target;
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await rm(root, { recursive: true, force: true });
        await this.removeSpoolIfEmpty();
      },
    };
  }

  private async removeSpoolIfEmpty(): Promise<void> {
    // Fails while another upload is spooling: then that upload removes it.
    await rmdir(this.dir).catch(() => undefined);
  }
}
