import { rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { IngestSummary } from '../ingest/pipeline.js';
import type { KnowledgeBase } from '../kb.js';
import { uploadedName } from './views.js';

/**
 * The uploads of a knowledge base, `<kb>/uploads/<job>/<file>`: a file uploaded again replaces the older copies of
 * the same name, and a removed source takes its uploaded copy (and its job folder, once empty) along.
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
