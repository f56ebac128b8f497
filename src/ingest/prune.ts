import { sep } from 'node:path';
import type { MediaStore } from '../store/media-store.js';
import type { Store } from '../store/store.js';

/** Delete stored pictures no live item refers to any more. */
export async function pruneMedia(store: Store, media: MediaStore): Promise<number> {
  const pictures = await store.scanItems('image');
  return media.prune(new Set(pictures.flatMap((item) => (item.media ? [item.media] : []))));
}

/**
 * Remove the sources inside `folders` whose files no longer exist (`ingest --prune`), and their pictures; returns
 * the sources removed.
 */
export async function pruneMissingSources(
  store: Store,
  media: MediaStore,
  folders: string[],
  exists: (path: string) => boolean,
): Promise<string[]> {
  const gone = (await store.listSources())
    .map((r) => r.source)
    .filter((source) => folders.some((f) => source === f || source.startsWith(f + sep)) && !exists(source));
  if (gone.length > 0) {
    await store.deleteSources(gone);
    await pruneMedia(store, media);
  }
  return gone;
}
