import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import sharp from 'sharp';
import { drawShape, writeShapesPage } from '../helpers/fixtures.js';

/**
 * What the MCP tests ingest: `corpus/docs/shapes.html` (a saved page with a red circle, a blue square and a green
 * triangle, and prose), and later `corpus/new/yellow-square.png`, written by `writeNewPicture`.
 */
export async function writeCorpus(corpusDir: string): Promise<{ page: string }> {
  const page = await writeShapesPage(join(corpusDir, 'docs'));
  return { page };
}

export async function writeNewPicture(corpusDir: string): Promise<string> {
  const dir = join(corpusDir, 'new');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'yellow-square.png');
  writeFileSync(path, await drawShape('yellow', 'square'));
  return path;
}

/** The environment a spawned CLI gets: no MMRAG_* settings of the developer's shell, no OCR (not under test). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('MMRAG_') && value !== undefined) env[key] = value;
  }
  return { ...env, MMRAG_OCR: '0', ...extra };
}

export type ToolResult = CallToolResult;

export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<ToolResult> {
  return (await client.callTool({ name, arguments: args })) as ToolResult;
}

export function textOf(result: ToolResult): string {
  return result.content
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

export function imagesOf(result: ToolResult): Array<{ data: string; mimeType: string }> {
  return result.content.flatMap((c) => (c.type === 'image' ? [{ data: c.data, mimeType: c.mimeType }] : []));
}

/** Mean colour of the pixels that are not near white (the shape on its white background). */
export async function shapeColour(
  bytes: Uint8Array,
): Promise<{ r: number; g: number; b: number; width: number; height: number }> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let r = 0;
  let g = 0;
  let b = 0;
  let n = 0;
  for (let i = 0; i < data.length; i += 3) {
    if (data[i]! > 235 && data[i + 1]! > 235 && data[i + 2]! > 235) continue;
    r += data[i]!;
    g += data[i + 1]!;
    b += data[i + 2]!;
    n++;
  }
  return { r: r / n, g: g / n, b: b / n, width: info.width, height: info.height };
}

/** Mean absolute difference per channel of two pictures of the same size (0: identical). */
export async function pixelDifference(a: Uint8Array, b: Uint8Array): Promise<number> {
  const [x, y] = await Promise.all(
    [a, b].map((bytes) => sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true })),
  );
  if (x!.info.width !== y!.info.width || x!.info.height !== y!.info.height) return Number.POSITIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < x!.data.length; i++) sum += Math.abs(x!.data[i]! - y!.data[i]!);
  return sum / x!.data.length;
}

export function dataUrl(bytes: Uint8Array, mime = 'image/png'): string {
  return `data:${mime};base64,${Buffer.from(bytes).toString('base64')}`;
}
