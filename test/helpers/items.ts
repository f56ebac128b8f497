import { MmragError } from '../../src/errors.js';
import type { ImageItemDraft, ItemDraft, TextItemDraft } from '../../src/types.js';

/** The text drafts of a loader's output. */
export const texts = (items: ItemDraft[]) => items.filter((i): i is TextItemDraft => i.modality === 'text');

/** The picture drafts of a loader's output. */
export const images = (items: ItemDraft[]) =>
  items.filter((i): i is ImageItemDraft => i.modality === 'image');

/** The pages (and slides) rendered whole: `page` pictures. */
export const pagePictures = (items: ItemDraft[]) => images(items).filter((i) => i.kind === 'page');

/** The pictures a loader found in a document (embedded, or cut from it), without the rendered pages. */
export const embeddedPictures = (items: ItemDraft[]) => images(items).filter((i) => i.kind !== 'page');

/** The MmragError a promise rejects with; any other outcome fails the test. */
export async function rejection(work: Promise<unknown>): Promise<MmragError> {
  try {
    await work;
  } catch (err) {
    if (err instanceof MmragError) return err;
    throw err;
  }
  throw new Error('expected a rejection with an MmragError');
}
