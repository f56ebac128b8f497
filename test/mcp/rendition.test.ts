import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { pictureRendition, RENDITION_MAX_SIDE } from '../../src/mcp/content.js';
import { drawShape } from '../helpers/fixtures.js';
import { shapeColour } from './helpers.js';

async function decoded(rendition: { data: string }) {
  return shapeColour(Buffer.from(rendition.data, 'base64'));
}

describe('pictureRendition', () => {
  it('sends a small PNG as it is', async () => {
    const png = await drawShape('red', 'circle');
    const rendition = await pictureRendition(png);
    expect(rendition).toMatchObject({ mimeType: 'image/png', width: 128, height: 128 });
    expect(Buffer.from(rendition.data, 'base64').equals(png)).toBe(true);
  });

  it('shrinks a large picture to the bound, keeping its aspect ratio and colour', async () => {
    const big = await sharp(await drawShape('blue', 'square', 512))
      .resize(3000, 1500, { fit: 'fill' })
      .jpeg({ quality: 90 })
      .toBuffer();
    const rendition = await pictureRendition(big);
    expect(rendition).toMatchObject({ mimeType: 'image/jpeg', width: RENDITION_MAX_SIDE, height: 512 });
    const colour = await decoded(rendition);
    expect(colour).toMatchObject({ width: RENDITION_MAX_SIDE, height: 512 });
    expect(colour.b).toBeGreaterThan(180);
    expect(colour.r).toBeLessThan(80);
  });

  it('turns WebP and GIF into PNG or JPEG, transparency into PNG', async () => {
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><circle cx="50" cy="50" r="40" fill="#20b020"/></svg>',
    );
    const webp = await sharp(svg).webp().toBuffer();
    const transparent = await pictureRendition(webp);
    expect(transparent).toMatchObject({ mimeType: 'image/png', width: 200, height: 100 });
    expect((await sharp(Buffer.from(transparent.data, 'base64')).metadata()).hasAlpha).toBe(true);
    const gif = await sharp(await drawShape('orange', 'triangle'))
      .gif()
      .toBuffer();
    const fromGif = await pictureRendition(gif);
    expect(['image/png', 'image/jpeg']).toContain(fromGif.mimeType);
    expect((await decoded(fromGif)).r).toBeGreaterThan(180);
  });

  it('applies the EXIF orientation of a JPEG', async () => {
    const rotated = await sharp(await drawShape('purple', 'square', 64))
      .resize(200, 100, { fit: 'fill' })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const rendition = await pictureRendition(rotated);
    expect(rendition).toMatchObject({ mimeType: 'image/jpeg', width: 100, height: 200 });
  });
});
