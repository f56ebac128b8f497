import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { basename, extname, join, relative, sep } from 'node:path';
import type { IngestSummary } from '../ingest/pipeline.js';
import type { JobFile } from '../jobs/queue.js';
import type { KnowledgeBase } from '../kb.js';
import type { SourceRecord } from '../types.js';
import type { SpooledFile } from './spool.js';
import { uploadedName } from './views.js';

/** Files that may refer to pictures uploaded with them (a page, a Markdown note). */
const REFERRING = new Set(['.html', '.htm', '.xhtml', '.md', '.markdown', '.mdx']);

async function fileSha256(path: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch {
    return undefined;
  }
  return hash.digest('hex');
}

const slashed = (path: string) => path.split(sep).join('/');

/**
 * The uploads of a knowledge base, `<kb>/uploads/<job>/<file>`: a file uploaded again replaces the older copies of
 * the same name, the same bytes uploaded again are recognised as unchanged, and a removed source takes its uploaded
 * copy (and its job folder, once empty) along.
 */
export class UploadFolders {
  constructor(
    private readonly kb: Pick<KnowledgeBase, 'sources' | 'delete'>,
    readonly dir: string,
  ) {}

  /** The job folder of an upload's paths: uploaded files may refer only to files uploaded with them. */
  jobFolderOf(paths: string[]): string | undefined {
    const local = paths.find((p) => !/^https?:\/\//i.test(p));
    if (!local) return undefined;
    const [job] = relative(this.dir, local).split(sep);
    return job && job !== '..' ? join(this.dir, job) : this.dir;
  }

  /** The top entries of a job folder's files: a folder walk keeps `page_files/` pictures with their page. */
  topsOf(jobDir: string, rels: string[]): string[] {
    return [...new Set(rels.map((rel) => rel.split('/')[0]!))].map((top) => join(jobDir, top));
  }

  /**
   * Files of a new upload that an earlier upload already brought with the same bytes: same name, same sha256,
   * and every picture the earlier copy took in (a page's `page_files/`) uploaded again with the same bytes too.
   * Their new copies are removed (the earlier source stays, as the command line's re-ingest of an unchanged file
   * would leave it); the pictures they took in are removed as well unless a page or note still to be ingested
   * names them. Returns what is left to ingest and the files settled as unchanged.
   */
  async settleUnchanged(
    jobDir: string,
    files: SpooledFile[],
  ): Promise<{ paths: string[]; settled: JobFile[] }> {
    const byName = new Map(files.map((f) => [f.rel, f]));
    const earlier = new Map<string, SourceRecord>();
    for (const record of await this.kb.sources()) {
      if (record.source.startsWith(jobDir + sep)) continue;
      const name = uploadedName(record.source, this.dir);
      if (name !== undefined && byName.has(name)) earlier.set(name, record);
    }
    const settled: JobFile[] = [];
    const gone = new Set<string>();
    const pictures = new Set<string>();
    for (const [name, record] of earlier) {
      if (record.hash !== byName.get(name)!.sha256) continue;
      const includes = await this.sameIncludes(record, byName);
      if (!includes) continue;
      gone.add(name);
      for (const rel of includes) pictures.add(rel);
      settled.push({
        name,
        status: 'unchanged',
        type: record.type,
        items: record.items,
        textItems: record.textItems,
        imageItems: record.imageItems,
        warnings: [],
      });
    }
    if (settled.length > 0) {
      const remaining = files.filter((f) => !gone.has(f.rel) && REFERRING.has(extname(f.rel).toLowerCase()));
      const named = await Promise.all(
        remaining.map((f) => readFile(join(jobDir, ...f.rel.split('/')), 'utf8').catch(() => '')),
      );
      for (const rel of pictures) {
        if (!gone.has(rel) && !named.some((text) => text.includes(basename(rel)))) gone.add(rel);
      }
      for (const rel of gone) await rm(join(jobDir, ...rel.split('/')), { force: true });
    }
    const left = files.filter((f) => !gone.has(f.rel)).map((f) => f.rel);
    return { paths: this.topsOf(jobDir, left), settled };
  }

  /**
   * The upload-relative names of the files an earlier source took in, when each was uploaded again with the same
   * bytes; undefined when one differs or is missing.
   */
  private async sameIncludes(
    record: SourceRecord,
    byName: Map<string, SpooledFile>,
  ): Promise<string[] | undefined> {
    const rels: string[] = [];
    const jobDir = join(this.dir, relative(this.dir, record.source).split(sep)[0]!);
    for (const included of record.includes ?? []) {
      const rel = slashed(relative(jobDir, included));
      const again = byName.get(rel);
      if (!again || rel.startsWith('..')) return undefined;
      const info = await stat(included).catch(() => undefined);
      if (!info || info.size !== again.bytes || (await fileSha256(included)) !== again.sha256)
        return undefined;
      rels.push(rel);
    }
    return rels;
  }

  /** A new upload of a file replaces the older uploads of the same name; nothing is left behind for failures. */
  async afterUpload(jobDir: string, summary: IngestSummary): Promise<void> {
    const ingested = new Set(
      summary.outcomes.filter((o) => o.status === 'ingested').map((o) => uploadedName(o.file, this.dir)),
    );
    if (ingested.size > 0) {
      for (const record of await this.kb.sources()) {
        if (record.source.startsWith(jobDir + sep)) continue;
        const name = uploadedName(record.source, this.dir);
        if (name !== undefined && ingested.has(name)) await this.removeSource(record.source);
      }
    }
    await this.removeJobFolderIfUnused(jobDir);
  }

  /** Remove a source's items, and its uploaded copy when it was uploaded; returns the items removed. */
  async removeSource(source: string): Promise<number> {
    const removed = await this.kb.delete(source);
    const name = uploadedName(source, this.dir);
    if (name !== undefined) {
      const jobDir = join(this.dir, relative(this.dir, source).split(sep)[0]!);
      await rm(source, { force: true });
      await this.removeJobFolderIfUnused(jobDir);
    }
    return removed;
  }

  private async removeJobFolderIfUnused(jobDir: string): Promise<void> {
    const used = (await this.kb.sources()).some((r) => r.source.startsWith(jobDir + sep));
    if (!used) await rm(jobDir, { recursive: true, force: true });
  }
}
