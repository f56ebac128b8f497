import { MmragError } from '../errors.js';

/** Bumped when the on-disk layout changes; older knowledge bases are migrated or refused with a message. */
export const SCHEMA_VERSION = 1;

/**
 * What a knowledge base remembers about itself (`kb.json`): the layout version and the models its vectors were
 * made with, so that later commands use them without flags and a different model is refused instead of mixing
 * vector spaces.
 */
export interface KbManifest {
  schemaVersion: number;
  embedModel: string;
  /** The dedicated text embedding model, when one is used (absent: CLIP's text tower). */
  textModel?: string;
  /** Width of the CLIP vectors, once the first item is stored. */
  dim?: number;
  createdAt: string;
}

/** Parse `kb.json`; a damaged file or one from a newer mmrag is refused with what to do. */
export function parseManifest(text: string, where: string): KbManifest {
  let manifest: KbManifest;
  try {
    manifest = JSON.parse(text) as KbManifest;
  } catch (err) {
    throw new MmragError(
      `The knowledge base's settings file ${where} is unreadable: ${(err as Error).message}`,
      'Restore it from a backup, or re-ingest into a new --kb folder.',
      'kb_corrupt',
    );
  }
  if (manifest.schemaVersion > SCHEMA_VERSION) {
    throw new MmragError(
      `The knowledge base ${where} was written by a newer mmrag (schema ${manifest.schemaVersion}, this one reads ${SCHEMA_VERSION}).`,
      'Upgrade mmrag (npm i -g mmrag@latest).',
      'kb_too_new',
    );
  }
  return manifest;
}

/** The manifest of a knowledge base whose first vectors (of width `dim`) were just stored. */
export function newManifest(
  models: { embedModel: string; textModel?: string | undefined },
  dim: number,
  previous?: KbManifest,
): KbManifest {
  return {
    schemaVersion: SCHEMA_VERSION,
    embedModel: models.embedModel,
    ...(models.textModel ? { textModel: models.textModel } : {}),
    dim,
    createdAt: previous?.createdAt ?? new Date().toISOString(),
  };
}
