/**
 * What the web app's viewer is served, by item id only: a PDF item's page picture and boxes, a picture, and the
 * original recording of a transcript chunk with byte ranges (for seeking), never by a path from the request.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { itemViewSchema } from '../../src/server/contract.js';
import { parseByteRange } from '../../src/server/routes/viewer.js';
import { type RunningServer, startServer } from '../../src/server/server.js';
import type { StoredItem } from '../../src/types.js';
import { FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { makeToneWav, writeVtt } from '../helpers/make-media.js';
import { makePdf, redCircleSvg, svgToPixels } from '../helpers/make-pdf.js';

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;
let server: RunningServer;
let tokenServer: RunningServer;
let pdf: string;
let wav: string;
const TOKEN = 'viewer-test-token';

beforeAll(async () => {
  tmp = tempDir();
  pdf = join(tmp.dir, 'report.pdf');
  const circle = await svgToPixels(redCircleSvg(128), 3);
  writeFileSync(
    pdf,
    makePdf({
      title: 'Report',
      pages: [
        { lines: ['The opening page talks about the weather in the harbour this spring.'] },
        {
          lines: ['The granary stands beside the fuel dock, shown below.'],
          images: [{ pixels: circle, x: 100, y: 200, width: 300, height: 300 }],
        },
      ],
    }),
  );
  wav = await makeToneWav(join(tmp.dir, 'tour.wav'), 8);
  await writeVtt(join(tmp.dir, 'tour.vtt'), [
    // Each cue longer than half a chunk, so that each is a chunk of its own.
    {
      start: 0,
      end: 2.5,
      text: 'Welcome to the harbour tour, everyone. Please stay together on the quay, keep away from the edge, and follow the guide with the yellow umbrella past the fish market.',
    },
    {
      start: 3,
      end: 6,
      text: 'The lighthouse keeper rings the brass bell every day at noon, and on foggy evenings he lights the great lamp by hand, as his grandfather did before him.',
    },
  ]);
  writeFileSync(
    join(tmp.dir, 'notes.md'),
    '# Notes\n\nA plain note about the ferry timetable and the pier.\n',
  );
  kb = await openKnowledgeBase({ kb: join(tmp.dir, 'kb'), embed: { model: FIXTURE_MODEL } });
  const summary = await kb.ingest([pdf, wav, join(tmp.dir, 'notes.md')]);
  expect(summary.failed).toBe(0);
  server = await startServer(kb, { port: 0 });
  tokenServer = await startServer(kb, { port: 0, token: TOKEN });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await tokenServer?.close();
  await kb?.close();
  tmp?.cleanup();
});

async function itemOf(source: string, pick: (item: StoredItem) => boolean): Promise<StoredItem> {
  const item = (await kb.items(source)).find(pick);
  if (!item) throw new Error(`no such item in ${source}`);
  return item;
}

async function viewOf(id: string) {
  const res = await fetch(`${server.url}/api/items/${id}/view`);
  expect(res.status).toBe(200);
  const body = await res.json();
  return itemViewSchema.parse(body);
}

describe('GET /api/items/{id}/view', () => {
  it('a PDF text chunk: its page picture and its boxes', async () => {
    const text = await itemOf(pdf, (i) => i.modality === 'text' && i.text.includes('granary'));
    const view = await viewOf(text.id);
    expect(view.kind).toBe('page');
    expect(view.page).toMatchObject({ unit: 'page', number: 2 });
    expect(view.page!.boxes).toEqual(text.location!.boxes);
    expect(view.page!.boxes.length).toBeGreaterThan(0);
    const page = await itemOf(pdf, (i) => i.type === 'page' && i.location?.page === 2);
    expect(view.page!.id).toBe(page.id);
    const picture = await fetch(`${server.url}${view.page!.mediaUrl}`);
    expect(picture.status).toBe(200);
    expect(picture.headers.get('content-type')).toBe('image/png');
  });

  it('a picture cut from a page: the picture, and its page with its box', async () => {
    const cut = await itemOf(pdf, (i) => i.modality === 'image' && i.type === 'pdf');
    const view = await viewOf(cut.id);
    expect(view.kind).toBe('picture');
    expect(view.picture!.mediaUrl).toBe(`/api/media/${cut.id}`);
    expect(view.page).toMatchObject({ number: 2, boxes: cut.location!.boxes });
  });

  it('a page picture shows itself, with no boxes', async () => {
    const page = await itemOf(pdf, (i) => i.type === 'page' && i.location?.page === 1);
    const view = await viewOf(page.id);
    expect(view).toMatchObject({ kind: 'page', page: { id: page.id, number: 1, boxes: [] } });
    expect(view.picture).toBeUndefined();
  });

  it('a transcript chunk: its recording, from its start', async () => {
    const chunk = await itemOf(wav, (i) => i.text.includes('lighthouse'));
    const view = await viewOf(chunk.id);
    expect(view).toMatchObject({
      kind: 'recording',
      recording: {
        url: `/api/media/${chunk.id}/recording`,
        mime: 'audio/wav',
        media: 'audio',
        start: 3,
        end: 6,
      },
    });
  });

  it('a text chunk with nowhere to show it: the text alone', async () => {
    const note = await itemOf(join(tmp.dir, 'notes.md'), () => true);
    expect((await viewOf(note.id)).kind).toBe('text');
    expect((await fetch(`${server.url}/api/items/${'a'.repeat(24)}/view`)).status).toBe(404);
  });
});

describe('GET /api/media/{id}/recording', () => {
  it('serves the whole recording, and byte ranges for seeking', async () => {
    const chunk = await itemOf(wav, (i) => i.text.includes('lighthouse'));
    const bytes = readFileSync(wav);
    const url = `${server.url}/api/media/${chunk.id}/recording`;

    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-type')).toBe('audio/wav');
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);

    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);

    const tail = await fetch(url, { headers: { range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(-10))).toBe(true);

    const outside = await fetch(url, { headers: { range: `bytes=${bytes.length}-` } });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
  });

  it('reads ranges as RFC 9110 says, ignoring what it does not serve', () => {
    expect(parseByteRange('bytes=0-0', 10)).toEqual({ start: 0, end: 0 });
    expect(parseByteRange('bytes=5-', 10)).toEqual({ start: 5, end: 9 });
    expect(parseByteRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseByteRange('bytes=-100', 10)).toEqual({ start: 0, end: 9 });
    expect(parseByteRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=6-5', 10)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=0-1,4-5', 10)).toBeUndefined();
    expect(parseByteRange('items=0-1', 10)).toBeUndefined();
  });

  it('only for items of recordings, only while the file is there, and with the token or the media cookie', async () => {
    const text = await itemOf(pdf, (i) => i.modality === 'text');
    const notRecording = await fetch(`${server.url}/api/media/${text.id}/recording`);
    expect(notRecording.status).toBe(404);
    expect((await notRecording.json()).error.message).toMatch(/not from a recording/);
    expect((await fetch(`${server.url}/api/media/..%2F..%2Fetc/recording`)).status).toBe(400);

    const chunk = await itemOf(wav, (i) => i.text.includes('lighthouse'));
    const path = `/api/media/${chunk.id}/recording`;
    expect((await fetch(`${tokenServer.url}${path}`)).status).toBe(401);
    const session = await fetch(`${tokenServer.url}/api/session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const cookie = (session.headers.get('set-cookie') ?? '').split(';')[0]!;
    const withCookie = await fetch(`${tokenServer.url}${path}`, { headers: { cookie, range: 'bytes=0-9' } });
    expect(withCookie.status).toBe(206);

    renameSync(wav, `${wav}.moved`);
    try {
      const gone = await fetch(`${server.url}${path}`);
      expect(gone.status).toBe(404);
      expect((await gone.json()).error.message).toMatch(/no longer where it was ingested/);
      expect((await viewOf(chunk.id)).kind).toBe('text');
    } finally {
      renameSync(`${wav}.moved`, wav);
    }
  });
});
