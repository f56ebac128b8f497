import { readFile } from 'node:fs/promises';
import type { CallToolResult, ImageContent, TextContent } from '@modelcontextprotocol/sdk/types.js';
import { errorMessage, MmragError } from '../errors.js';
import { formatSourceLine } from '../generate/prompt.js';
import { formatLocation } from '../location.js';
import type { Hit, StoredItem } from '../types.js';
import type { HitView, ItemView } from './schemas.js';

/** Pictures handed to an agent are shrunk to at most this many pixels on the longer side. */
export const RENDITION_MAX_SIDE = 1024;
/** A stored PNG or JPEG within the size bound is sent as it is when it is at most this many bytes. */
const RENDITION_MAX_BYTES = 1_000_000;

export type Content = TextContent | ImageContent;

export interface Rendition {
  /** Base64 of the picture's bytes. */
  data: string;
  mimeType: 'image/png' | 'image/jpeg';
  width: number;
  height: number;
}

export const mediaUri = (id: string) => `mmrag://media/${id}`;
export const itemUri = (id: string) => `mmrag://item/${id}`;

/**
 * A picture as an MCP client can show it and a model can take it: the stored PNG or JPEG itself when it is small
 * enough, otherwise a PNG (transparency kept) or JPEG of at most RENDITION_MAX_SIDE pixels on the longer side.
 */
export async function pictureRendition(bytes: Uint8Array): Promise<Rendition> {
  const sharp = (await import('sharp')).default;
  const meta = await sharp(bytes, { pages: 1 }).metadata();
  const width = meta.autoOrient?.width ?? meta.width ?? 0;
  const height = meta.autoOrient?.height ?? meta.height ?? 0;
  const asIs = meta.format === 'png' || (meta.format === 'jpeg' && (meta.orientation ?? 1) === 1);
  if (asIs && Math.max(width, height) <= RENDITION_MAX_SIDE && bytes.byteLength <= RENDITION_MAX_BYTES) {
    return {
      data: Buffer.from(bytes).toString('base64'),
      mimeType: meta.format === 'png' ? 'image/png' : 'image/jpeg',
      width,
      height,
    };
  }
  const resized = sharp(bytes, { pages: 1 }).rotate().resize({
    width: RENDITION_MAX_SIDE,
    height: RENDITION_MAX_SIDE,
    fit: 'inside',
    withoutEnlargement: true,
  });
  if (meta.hasAlpha) {
    const png = await resized.clone().png().toBuffer({ resolveWithObject: true });
    if (png.data.byteLength <= RENDITION_MAX_BYTES) {
      return {
        data: png.data.toString('base64'),
        mimeType: 'image/png',
        width: png.info.width,
        height: png.info.height,
      };
    }
  }
  const jpeg = await resized
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 85 })
    .toBuffer({ resolveWithObject: true });
  return {
    data: jpeg.data.toString('base64'),
    mimeType: 'image/jpeg',
    width: jpeg.info.width,
    height: jpeg.info.height,
  };
}

/** The rendition of a stored picture as image content, or a text block saying why it could not be read. */
export async function pictureContent(path: string, id: string): Promise<Content> {
  try {
    const rendition = await pictureRendition(new Uint8Array(await readFile(path)));
    return { type: 'image', data: rendition.data, mimeType: rendition.mimeType };
  } catch (err) {
    return { type: 'text', text: `(The stored picture of item ${id} cannot be read: ${errorMessage(err)})` };
  }
}

/** A hit as structured content: no paths of the server's disk but the source, pictures as resources. */
export function hitView(hit: Hit): HitView {
  return {
    id: hit.id,
    modality: hit.modality,
    score: hit.score,
    relevance: hit.relevance,
    title: hit.title,
    section: hit.section,
    source: hit.source,
    type: hit.type,
    location: hit.location,
    where: formatLocation(hit.location),
    text: hit.text,
    caption: hit.caption,
    description: hit.description,
    media: hit.modality === 'image' ? mediaUri(hit.id) : undefined,
  };
}

export function itemView(item: StoredItem): ItemView {
  return {
    id: item.id,
    modality: item.modality,
    type: item.type,
    source: item.source,
    title: item.title,
    section: item.section,
    text: item.text,
    description: item.description,
    location: item.location,
    where: formatLocation(item.location),
    media: item.media ? mediaUri(item.id) : undefined,
    ingestedAt: new Date(item.ingestedAt).toISOString(),
  };
}

/** `[3] Traffic signs, Stop - /docs/signs.pdf (page 4)` and the item id, as the CLI lists sources. */
export function hitHeading(n: number, hit: Hit): string {
  return `${formatSourceLine(n, hit)}\nid: ${hit.id}`;
}

export function textHitBlock(n: number, hit: Hit): TextContent {
  return { type: 'text', text: `${hitHeading(n, hit)}\n${hit.text ?? ''}` };
}

export function pictureHitBlock(n: number, hit: Hit, note = 'Picture'): TextContent {
  const lines = [`${note} ${hitHeading(n, hit)}`, `caption: ${hit.caption || '(none)'}`];
  if (hit.description) lines.push(`description: ${hit.description}`);
  return { type: 'text', text: lines.join('\n') };
}

/** An error as a tool result: the message and hint the CLI prints, for the agent to act on. */
export function toolError(err: unknown): CallToolResult {
  const mmrag = err instanceof MmragError ? err : undefined;
  const text = `Error: ${errorMessage(err)}${mmrag?.hint ? `\n${mmrag.hint}` : ''}`;
  return {
    isError: true,
    content: [{ type: 'text', text }],
    _meta: { 'mmrag/error': { code: mmrag?.code ?? 'error', ...(mmrag?.hint ? { hint: mmrag.hint } : {}) } },
  };
}
