import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MmragError } from '../errors.js';
import type { MediaStore } from '../store/media-store.js';
import type { Store } from '../store/store.js';
import {
  type IngestDependencies,
  type IngestOptions,
  type IngestSummary,
  ingestPaths,
  isUrl,
} from './pipeline.js';
import { pruneMedia, pruneMissingSources } from './prune.js';

export interface IngestRunOptions extends IngestOptions {
  /** Remove sources inside the given folders whose files are gone. */
  prune?: boolean;
  /** Local files a document refers to are read only from inside this folder (server uploads). */
  localRoot?: string;
}

/** What an ingest run is given: the pipeline's dependencies, with the embedding models as one set. */
export type IngestParts = Omit<IngestDependencies, 'embedder' | 'textSpace' | 'localRoot'> & {
  models: { embedder: IngestDependencies['embedder']; textSpace: IngestDependencies['textSpace'] };
};

/**
 * One ingest run as a unit of work on a store: take the write lock, clean up what a crashed run left, run the
 * pipeline, let `onFirstVectors` pin the models once the first vectors exist, bring the indexes up to date, and
 * prune. The lock is held for the run only; searches go on meanwhile.
 */
export async function runIngest(
  paths: string[],
  parts: IngestParts,
  options: IngestRunOptions,
  onStored: () => Promise<void>,
): Promise<IngestSummary> {
  const { models, ...rest } = parts;
  const deps: IngestDependencies = {
    ...rest,
    embedder: () => models.embedder(),
    textSpace: () => models.textSpace(),
    localRoot: options.localRoot,
  };
  const release = await deps.store.lockWrites();
  try {
    await deps.store.refresh();
    await deps.store.removeOrphans();
    const summary = await ingestPaths(paths, deps, options);
    await onStored();
    if (summary.ingested > 0) await deps.store.optimize();
    if (options.prune) {
      const folders = paths.filter((p) => !isUrl(p)).map((p) => resolve(p));
      summary.pruned = await pruneMissingSources(deps.store, deps.media, folders, existsSync);
    }
    return summary;
  } finally {
    release();
  }
}

/**
 * Remove one source and its items under the write lock, then the pictures no other item uses; returns the number
 * of items removed. The source is matched as given, else as `resolved` (a path made absolute).
 */
export async function removeSource(
  store: Store,
  media: MediaStore,
  source: string,
  resolved: string,
  where: string,
): Promise<number> {
  const release = await store.lockWrites();
  try {
    const key = (await store.getSource(source)) ? source : resolved;
    if (!(await store.getSource(key))) {
      throw new MmragError(
        `No source ${source} in the knowledge base ${where}.`,
        'List them with `mmrag sources`.',
        'not_found',
      );
    }
    const removed = await store.deleteSources([key]);
    await pruneMedia(store, media);
    return removed;
  } finally {
    release();
  }
}
