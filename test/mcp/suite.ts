import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { expect, it } from 'vitest';
import { drawShape } from '../helpers/fixtures.js';
import type { LoopbackLlm } from '../helpers/loopback-llm.js';
import {
  callTool,
  dataUrl,
  imagesOf,
  pixelDifference,
  shapeColour,
  type ToolResult,
  textOf,
  writeNewPicture,
} from './helpers.js';

export interface McpTestContext {
  client: Client;
  /** The folder holding docs/shapes.html (already ingested) and, later, new/yellow-square.png. */
  corpusDir: string;
  llm: LoopbackLlm;
}

export const TOOL_NAMES = ['ask', 'delete_source', 'get_item', 'ingest', 'list_sources', 'search'];

/** The behaviour every transport must show, over a knowledge base holding docs/shapes.html. */
export function toolSuite(context: () => McpTestContext): void {
  it('lists the six tools with their argument schemas, output schemas and hints', async () => {
    const { tools } = await context().client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName.search!.inputSchema.properties ?? {}).sort()).toEqual(
      ['image', 'k', 'level', 'mode', 'query', 'where'].sort(),
    );
    expect(byName.search!.inputSchema.required ?? []).toEqual([]);
    expect(Object.keys(byName.ask!.inputSchema.properties ?? {}).sort()).toEqual([
      'level',
      'question',
      'where',
    ]);
    expect(byName.ask!.inputSchema.required).toEqual(['question']);
    expect(byName.ingest!.inputSchema.required).toEqual(['paths']);
    expect(byName.get_item!.inputSchema.required).toEqual(['id']);
    expect(byName.delete_source!.inputSchema.required).toEqual(['source']);
    expect(Object.keys(byName.list_sources!.inputSchema.properties ?? {})).toEqual([]);
    for (const tool of tools) {
      expect(tool.description?.length).toBeGreaterThan(60);
      expect(tool.outputSchema?.type).toBe('object');
    }
    expect(byName.search!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(byName.list_sources!.annotations?.readOnlyHint).toBe(true);
    expect(byName.delete_source!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(byName.ingest!.annotations).toMatchObject({ readOnlyHint: false, openWorldHint: true });
  });

  it('search returns the red circle as image content that decodes to the stored picture', async () => {
    const result = await callTool(context().client, 'search', { query: 'a red circle' });
    expect(result.isError, textOf(result)).toBeFalsy();
    const structured = result.structuredContent as {
      images: Array<{ id: string; caption: string; media: string; relevance?: { kind: string } }>;
      text: Array<{ id: string; source: string; title: string }>;
    };
    expect(structured.images[0]!.caption).toBe('The fuel dock marker');
    expect(structured.images[0]!.relevance?.kind).toMatch(/^(cosine|bm25|fused)$/);
    expect(structured.images[0]!.media).toBe(`mmrag://media/${structured.images[0]!.id}`);
    expect(structured.text[0]!.title).toBe('Shapes of the harbour');
    const text = textOf(result);
    expect(text).toContain(`id: ${structured.images[0]!.id}`);
    expect(text).toContain('caption: The fuel dock marker');
    expect(text).toContain(structured.text[0]!.source);
    const images = imagesOf(result);
    expect(images).toHaveLength(structured.images.length);
    const first = Buffer.from(images[0]!.data, 'base64');
    expect(images[0]!.mimeType).toBe('image/png');
    const colour = await shapeColour(first);
    expect(colour).toMatchObject({ width: 128, height: 128 });
    expect(colour.r).toBeGreaterThan(180);
    expect(colour.g).toBeLessThan(80);
    expect(colour.b).toBeLessThan(80);
    const stored = readFileSync(join(context().corpusDir, 'docs', 'shapes_files', 'red-circle.png'));
    expect(await pixelDifference(first, stored)).toBeLessThan(1);
  });

  it('search by a picture sent as a data URL finds the same shape', async () => {
    const result = await callTool(context().client, 'search', {
      image: dataUrl(await drawShape('blue', 'square')),
      k: 1,
    });
    expect(result.isError, textOf(result)).toBeFalsy();
    const structured = result.structuredContent as { images: Array<{ caption: string }>; text: unknown[] };
    expect(structured.images).toHaveLength(1);
    expect(structured.images[0]!.caption).toBe('Customs office marker');
    expect(structured.text.length).toBeLessThanOrEqual(1);
  });

  it('ask goes through the language model with the pictures and returns numbered sources', async () => {
    const { client, llm } = context();
    const before = llm.chatRequests().length;
    llm.setReply('The fuel dock is marked by a red circle [1].');
    const result = await callTool(client, 'ask', {
      question: 'Which shape marks the fuel dock? a red circle',
    });
    expect(result.isError, textOf(result)).toBeFalsy();
    const requests = llm.chatRequests().slice(before);
    expect(requests).toHaveLength(1);
    const messages = (requests[0]!.body as { messages: Array<{ content: string; images?: string[] }> })
      .messages;
    const sentImages = messages.flatMap((m) => m.images ?? []);
    expect(sentImages.length).toBeGreaterThan(0);
    expect(messages.at(-1)!.content).toContain('Which shape marks the fuel dock?');
    const structured = result.structuredContent as {
      answer: string;
      sources: Array<{ number: number; id: string; modality: string }>;
      picturesShown: string[];
      citations: number[];
    };
    expect(structured.answer).toBe('The fuel dock is marked by a red circle [1].');
    expect(structured.citations).toEqual([1]);
    expect(structured.sources[0]!.number).toBe(1);
    expect(structured.picturesShown).toHaveLength(sentImages.length);
    const text = textOf(result);
    expect(text).toContain('The fuel dock is marked by a red circle [1].');
    expect(text).toContain('Sources:');
    expect(text).toContain(`[1] Shapes of the harbour`);
    expect(text).toContain('Picture shown to the model:');
    expect(imagesOf(result)).toHaveLength(structured.picturesShown.length);
    // The red circle the model was shown is among the pictures returned.
    const colours = await Promise.all(
      imagesOf(result).map((i) => shapeColour(Buffer.from(i.data, 'base64'))),
    );
    expect(colours.some((c) => c.r > 180 && c.g < 80 && c.b < 80)).toBe(true);
  });

  it('ingest reports progress, search then finds the new file, delete_source removes it', async () => {
    const { client, corpusDir } = context();
    const picture = await writeNewPicture(corpusDir);
    const progress: Array<{ progress: number; total?: number; message?: string }> = [];
    const ingested = await client.callTool(
      { name: 'ingest', arguments: { paths: [join(corpusDir, 'new')] } },
      undefined,
      { onprogress: (p) => progress.push(p) },
    );
    const report = textOf(ingested as ToolResult);
    expect(ingested.isError, report).toBeFalsy();
    expect(ingested.structuredContent, report).toMatchObject({ ingested: 1, failed: 0, imageItems: 1 });
    expect(progress.length, report).toBeGreaterThanOrEqual(1);
    expect(progress.at(-1)).toMatchObject({ progress: 1, total: 1 });
    expect(progress.at(-1)!.message).toContain('yellow-square.png: ingested');

    const found = await callTool(client, 'search', { query: 'a yellow square', k: 3 });
    const images = (found.structuredContent as { images: Array<{ source: string; id: string }> }).images;
    expect(images[0]?.source, textOf(found)).toBe(picture);

    const item = await callTool(client, 'get_item', { id: images[0]!.id });
    expect(item.isError, textOf(item)).toBeFalsy();
    expect(imagesOf(item)).toHaveLength(1);
    const colour = await shapeColour(Buffer.from(imagesOf(item)[0]!.data, 'base64'));
    expect(colour.r).toBeGreaterThan(180);
    expect(colour.g).toBeGreaterThan(180);
    expect(colour.b).toBeLessThan(80);

    const media = await client.readResource({ uri: `mmrag://media/${images[0]!.id}` });
    const blob = media.contents[0] as { blob: string; mimeType: string };
    expect(blob.mimeType).toBe('image/png');
    expect((await shapeColour(Buffer.from(blob.blob, 'base64'))).width).toBe(128);

    const sources = await callTool(client, 'list_sources', {});
    expect(
      (sources.structuredContent as { sources: Array<{ source: string }> }).sources.map((s) => s.source),
    ).toContain(picture);

    const deleted = await callTool(client, 'delete_source', { source: picture });
    expect(deleted.isError, textOf(deleted)).toBeFalsy();
    expect(deleted.structuredContent).toEqual({ source: picture, removed: 1 });
    const after = await callTool(client, 'search', { query: 'a yellow square', k: 3 });
    const sourcesAfter = (after.structuredContent as { images: Array<{ source: string }> }).images.map(
      (h) => h.source,
    );
    expect(sourcesAfter).not.toContain(picture);
    const listed = await callTool(client, 'list_sources', {});
    expect(textOf(listed)).not.toContain('yellow-square.png');
  });

  it('bad arguments are refused with a readable message, and the next call works', async () => {
    const { client } = context();
    const badK = await callTool(client, 'search', { query: 'a red circle', k: 0 });
    expect(badK.isError).toBe(true);
    expect(textOf(badK)).toContain('k is at least 1');
    const badLevel = await callTool(client, 'ask', { question: 'what?', level: 7 });
    expect(badLevel.isError).toBe(true);
    expect(textOf(badLevel)).toContain('level is 1, 2 or 3');
    const missing = await callTool(client, 'ingest', {});
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toContain('paths');
    const empty = await callTool(client, 'search', {});
    expect(empty.isError).toBe(true);
    expect(textOf(empty)).toContain('Give a query, an image, or both.');
    const unknown = await callTool(client, 'delete_source', { source: '/nowhere/at/all.pdf' });
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toMatch(
      /No source \/nowhere\/at\/all\.pdf in the knowledge base .*\nList them with/,
    );
    expect(unknown._meta).toMatchObject({ 'mmrag/error': { code: 'not_found' } });
    const badWhere = await callTool(client, 'search', { query: 'circle', where: 'colour = red' });
    expect(badWhere.isError).toBe(true);
    const badItem = await callTool(client, 'get_item', { id: '0123456789abcdef01234567' });
    expect(badItem.isError).toBe(true);
    expect(textOf(badItem)).toContain('No item 0123456789abcdef01234567');

    const next = await callTool(client, 'search', { query: 'a red circle', k: 1 });
    expect(next.isError).toBeFalsy();
    expect((next.structuredContent as { images: unknown[] }).images).toHaveLength(1);
  });
}
