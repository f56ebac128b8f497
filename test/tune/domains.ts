/**
 * Pictures of coloured shapes in the domains where the fixture model's zero-shot retrieval drops (measured in
 * docs/tuning.md): shapes drawn as outlines, on a textured background, or tiny and anywhere; and the plain
 * domain it was trained on (a filled shape, centred, on white). Drawn from SVG with sharp, as test/helpers does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../helpers/random.js';

export const DOMAIN_COLOURS: Record<string, string> = {
  red: '#e02020',
  green: '#20b020',
  blue: '#2040e0',
  yellow: '#f0e020',
  purple: '#9020c0',
  orange: '#f08020',
};
export const DOMAIN_SHAPES = ['circle', 'square', 'triangle', 'cross', 'ring', 'diamond'] as const;
export type DomainShape = (typeof DOMAIN_SHAPES)[number];
export const DOMAINS = ['plain', 'outline', 'texture', 'tiny'] as const;
export type Domain = (typeof DOMAINS)[number];

/** Words the fixture model knows for each shape, other than its name: the held-out phrasings use these. */
export const SYNONYMS: Record<DomainShape, string> = {
  circle: 'disc',
  square: 'box',
  triangle: 'triangle',
  cross: 'plus sign',
  ring: 'donut',
  diamond: 'rhombus',
};

/** Caption phrasings (training) and query phrasings (held out: other words, other templates). */
export const CAPTION_PHRASINGS = [
  (c: string, s: string) => `a ${c} ${s}`,
  (c: string, s: string) => `${c} ${s}`,
  (c: string, s: string) => `a drawing of a ${c} ${s}`,
];
export const QUERY_PHRASINGS = [
  (c: string, s: DomainShape) => `a picture of the ${c} ${SYNONYMS[s]}`,
  (c: string, s: DomainShape) => `an image with a ${c} ${SYNONYMS[s]}`,
];

function shapeSvg(
  shape: DomainShape,
  cx: number,
  cy: number,
  r: number,
  fill: string,
  outline: boolean,
): string {
  const paint = outline
    ? `fill="none" stroke="${fill}" stroke-width="${Math.max(2, r * 0.12)}"`
    : `fill="${fill}"`;
  switch (shape) {
    case 'circle':
      return `<circle cx="${cx}" cy="${cy}" r="${r}" ${paint}/>`;
    case 'square':
      return `<rect x="${cx - r * 0.85}" y="${cy - r * 0.85}" width="${r * 1.7}" height="${r * 1.7}" ${paint}/>`;
    case 'triangle':
      return `<polygon points="${cx},${cy - r} ${cx + r},${cy + r * 0.8} ${cx - r},${cy + r * 0.8}" ${paint}/>`;
    case 'diamond':
      return `<polygon points="${cx},${cy - r} ${cx + r * 0.75},${cy} ${cx},${cy + r} ${cx - r * 0.75},${cy}" ${paint}/>`;
    case 'cross': {
      const w = r * 0.35;
      const a = r - w;
      return `<path d="M${cx - w},${cy - r}h${2 * w}v${a}h${a}v${2 * w}h${-a}v${a}h${-2 * w}v${-a}h${-a}v${-2 * w}h${a}z" ${paint}/>`;
    }
    case 'ring':
      return outline
        ? `<circle cx="${cx}" cy="${cy}" r="${r * 0.8}" ${paint}/><circle cx="${cx}" cy="${cy}" r="${r * 0.45}" ${paint}/>`
        : `<circle cx="${cx}" cy="${cy}" r="${r * 0.62}" fill="none" stroke="${fill}" stroke-width="${r * 0.32}"/>`;
  }
}

/** Muted diagonal stripes with scattered blotches: a texture the model never saw. */
function texturedBackground(random: () => number): string {
  let svg = '<rect width="128" height="128" fill="#d8d0c0"/>';
  const offset = random() * 10;
  for (let x = -128; x < 256; x += 10)
    svg += `<line x1="${x + offset}" y1="0" x2="${x + offset + 128}" y2="128" stroke="#8a8070" stroke-width="3"/>`;
  for (let i = 0; i < 40; i++)
    svg += `<circle cx="${random() * 128}" cy="${random() * 128}" r="${2 + random() * 4}" fill="#6a6a60" opacity="0.6"/>`;
  return svg;
}

/** One 128x128 PNG of `colour shape` in `domain`, varied by `random` (position, size, texture). */
export async function drawDomainPicture(
  colour: string,
  shape: DomainShape,
  domain: Domain,
  random: () => number,
): Promise<Buffer> {
  let cx = 64 + (random() - 0.5) * 12;
  let cy = 64 + (random() - 0.5) * 12;
  let r = 28 * (0.85 + random() * 0.3);
  if (domain === 'tiny') {
    r = 9;
    cx = 16 + random() * 96;
    cy = 16 + random() * 96;
  }
  const background =
    domain === 'texture' ? texturedBackground(random) : '<rect width="128" height="128" fill="white"/>';
  const body = shapeSvg(shape, cx, cy, r, DOMAIN_COLOURS[colour]!, domain === 'outline');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">${background}${body}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export interface CorpusPicture {
  colour: string;
  shape: DomainShape;
  domain: Domain;
  /** Captioned pictures sit in a page with alt text; the others are picture files with no caption. */
  captioned: boolean;
  /** The page (captioned) or the picture file (uncaptioned). */
  file: string;
}

/**
 * A corpus in `dir`: for each domain, colour and shape, `captioned` pictures in a web page with alt text
 * (`pages/<domain>.html`, phrasings CAPTION_PHRASINGS in turn) and `uncaptioned` picture files with neutral names
 * (`unlabelled/<domain>/pNNNN.png`: no caption, no telling file name). Tuning learns from the first kind; the
 * second kind is what the held-out queries must find.
 */
export async function writeDomainCorpus(
  dir: string,
  options: { captioned: number; uncaptioned: number; seed: number; domains?: readonly Domain[] },
): Promise<CorpusPicture[]> {
  const random = seededRandom(options.seed);
  const pictures: CorpusPicture[] = [];
  let n = 0;
  for (const domain of options.domains ?? DOMAINS) {
    const pageDir = join(dir, 'pages');
    const assets = join(pageDir, `${domain}_files`);
    const loose = join(dir, 'unlabelled', domain);
    mkdirSync(assets, { recursive: true });
    mkdirSync(loose, { recursive: true });
    const figures: string[] = [];
    for (const colour of Object.keys(DOMAIN_COLOURS)) {
      for (const shape of DOMAIN_SHAPES) {
        for (let v = 0; v < options.captioned + options.uncaptioned; v++) {
          const png = await drawDomainPicture(colour, shape, domain, random);
          const name = `p${String(n++).padStart(4, '0')}.png`;
          if (v < options.captioned) {
            writeFileSync(join(assets, name), png);
            const caption = CAPTION_PHRASINGS[v % CAPTION_PHRASINGS.length]!(colour, shape);
            figures.push(`<img src="${domain}_files/${name}" alt="${caption}">`);
            pictures.push({ colour, shape, domain, captioned: true, file: join(pageDir, `${domain}.html`) });
          } else {
            const file = join(loose, name);
            writeFileSync(file, png);
            pictures.push({ colour, shape, domain, captioned: false, file });
          }
        }
      }
    }
    writeFileSync(
      join(pageDir, `${domain}.html`),
      `<!doctype html><html><head><title>Plates</title></head><body><h1>Plates</h1>${figures.join('\n')}</body></html>`,
    );
  }
  return pictures;
}
