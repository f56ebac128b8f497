import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';

/** The repository's root folder. */
export const ROOT = resolve(import.meta.dirname, '..', '..');

/** The tiny CLIP fixture model (coloured shapes), laid out like a hub model folder. */
export const FIXTURE_MODEL = join(ROOT, 'models', 'tiny-clip-shapes');

export const COLOURS: Record<string, string> = {
  red: '#e02020',
  green: '#20b020',
  blue: '#2040e0',
  yellow: '#f0e020',
  purple: '#9020c0',
  orange: '#f08020',
};

export type Shape = 'circle' | 'square' | 'triangle';

/** A large centred shape on white, drawn from SVG: what the fixture model knows. */
export async function drawShape(colour: keyof typeof COLOURS, shape: Shape, size = 128): Promise<Buffer> {
  const fill = COLOURS[colour];
  const body =
    shape === 'circle'
      ? `<circle cx="64" cy="64" r="44" fill="${fill}"/>`
      : shape === 'square'
        ? `<rect x="24" y="24" width="80" height="80" fill="${fill}"/>`
        : `<polygon points="64,18 112,106 16,106" fill="${fill}"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128"><rect width="128" height="128" fill="white"/>${body}</svg>`;
  return sharp(Buffer.from(svg)).resize(size, size).png().toBuffer();
}

export function tempDir(prefix = 'mmrag-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A saved web page with three figures (red circle, blue square, green triangle) and prose, in `dir`:
 * `shapes.html` + `shapes_files/`. Returns the page path.
 */
export async function writeShapesPage(dir: string, extraParagraph = ''): Promise<string> {
  const assets = join(dir, 'shapes_files');
  mkdirSync(assets, { recursive: true });
  writeFileSync(join(assets, 'red-circle.png'), await drawShape('red', 'circle'));
  writeFileSync(join(assets, 'blue-square.png'), await drawShape('blue', 'square'));
  writeFileSync(join(assets, 'green-triangle.png'), await drawShape('green', 'triangle'));
  const page = join(dir, 'shapes.html');
  writeFileSync(
    page,
    `<!doctype html><html><head><title>Shapes of the harbour</title></head><body>
<h1>Shapes of the harbour</h1>
<p>The harbour master paints every mooring post with one shape so that sailors can find their berth at night.</p>
<h2>Circles</h2>
<p>A red circle marks the fuel dock, where boats take on diesel before they leave the quay.</p>
<figure><img src="shapes_files/red-circle.png"><figcaption>The fuel dock marker</figcaption></figure>
<h2>Squares</h2>
<p>A blue square marks the customs office, open from eight in the morning until noon.</p>
<img src="shapes_files/blue-square.png" alt="Customs office marker">
<h3>Triangles</h3>
<ul><li>A green triangle marks the lifeboat station.</li><li>It is never to be blocked by moored boats.</li></ul>
<img src="shapes_files/green-triangle.png">
${extraParagraph ? `<p>${extraParagraph}</p>` : ''}
</body></html>`,
  );
  return page;
}
