import { createHash } from 'node:crypto';
import { relative, sep } from 'node:path';
import type { Hit, SourceRecord, StoredItem } from '../types.js';

/** A hit as the API returns it: the `search --json` shape plus `mediaUrl` for pictures (fetched by item id). */
export type HitView = Hit & { mediaUrl?: string };

export type ItemView = Omit<StoredItem, 'media'> & { mediaUrl?: string };

/** A source as the API lists it: the stored record plus a stable `id` for URLs and a display `name`. */
export type SourceView = SourceRecord & { id: string; name: string; uploaded: boolean };

export function mediaUrl(id: string): string {
  return `/api/media/${id}`;
}

export function hitView(hit: Hit): HitView {
  return hit.modality === 'image' ? { ...hit, mediaUrl: mediaUrl(hit.id) } : { ...hit };
}

export function itemView(item: StoredItem): ItemView {
  const { media, ...rest } = item;
  return media ? { ...rest, mediaUrl: mediaUrl(item.id) } : rest;
}

/** The id of a source in URLs: the first 16 hex digits of the sha256 of its stored name. */
export function sourceId(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 16);
}

/**
 * The relative path of an uploaded file inside its job folder (`<uploads>/<job>/<rel>`), or undefined when the
 * source was not uploaded through the server.
 */
export function uploadedName(source: string, uploadsDir: string): string | undefined {
  if (source.includes('://')) return undefined;
  const rel = relative(uploadsDir, source);
  if (rel === '' || rel.startsWith('..') || rel.startsWith(sep)) return undefined;
  const parts = rel.split(sep);
  if (parts.length < 2) return undefined;
  return parts.slice(1).join('/');
}

export function sourceView(record: SourceRecord, uploadsDir: string): SourceView {
  const name = uploadedName(record.source, uploadsDir);
  // Which server files a source took in (`includes`) is the server's business, not the API's.
  const { includes: _includes, ...shown } = record;
  return {
    ...shown,
    id: sourceId(record.source),
    name: name ?? record.source,
    uploaded: name !== undefined,
  };
}
