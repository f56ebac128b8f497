import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { mediaInfoFromProbe, parseShowinfoTime, splitPngStream } from '../../src/media/ffmpeg.js';
import type { RgbImage } from '../../src/media/image-decode.js';
import {
  dedupeFrames,
  frameSignature,
  SIGNATURE_SIDE,
  signatureDistance,
} from '../../src/media/keyframes.js';

function image(
  width: number,
  height: number,
  pixel: (x: number, y: number) => [number, number, number],
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  }
  return { data, width, height };
}

const cell = (sig: Float32Array, cx: number, cy: number) =>
  Array.from(sig.subarray((cy * 16 + cx) * 3, (cy * 16 + cx) * 3 + 3));

describe('frameSignature', () => {
  test('a solid colour gives that colour in every cell, scaled to [0, 1]', () => {
    const sig = frameSignature(image(40, 30, () => [255, 0, 51]));
    expect(sig.length).toBe(SIGNATURE_SIDE * SIGNATURE_SIDE * 3);
    for (let i = 0; i < sig.length; i += 3) {
      expect([sig[i], sig[i + 1], sig[i + 2]]).toEqual([1, 0, expect.closeTo(0.2, 6)]);
    }
  });

  test('each cell averages the pixels it covers', () => {
    // Left half red, right half blue, on a 32x32 picture: 2x2 pixels per cell.
    const sig = frameSignature(image(32, 32, (x) => (x < 16 ? [255, 0, 0] : [0, 0, 255])));
    expect(cell(sig, 0, 0)).toEqual([1, 0, 0]);
    expect(cell(sig, 7, 9)).toEqual([1, 0, 0]);
    expect(cell(sig, 8, 9)).toEqual([0, 0, 1]);
    const odd = frameSignature(image(40, 16, (x) => (x < 19 ? [255, 0, 0] : [0, 0, 0])));
    // cell 7 covers columns floor(7*40/16)=17 .. floor(8*40/16)-1=19: two red, one black.
    expect(cell(odd, 7, 0)[0]).toBeCloseTo(2 / 3, 6);
  });

  test('pictures smaller than the signature still give one pixel per cell', () => {
    const sig = frameSignature(image(3, 2, (x, y) => [x * 100, y * 200, 0]));
    expect(cell(sig, 0, 0)).toEqual([0, 0, 0]);
    expect(cell(sig, 15, 15)[0]).toBeCloseTo(200 / 255, 6);
    expect(cell(sig, 15, 15)[1]).toBeCloseTo(200 / 255, 6);
  });
});

describe('signatureDistance and dedupeFrames', () => {
  const white = frameSignature(image(16, 16, () => [255, 255, 255]));
  const black = frameSignature(image(16, 16, () => [0, 0, 0]));
  const halfGrey = frameSignature(image(16, 16, () => [128, 128, 128]));

  test('distance is the mean absolute difference', () => {
    expect(signatureDistance(white, white)).toBe(0);
    expect(signatureDistance(white, black)).toBe(1);
    expect(signatureDistance(white, halfGrey)).toBeCloseTo(127 / 255, 6);
    expect(() => signatureDistance(white, new Float32Array(3))).toThrow(/lengths differ/);
  });

  test('keeps the first frame and each frame far enough from the last kept one', () => {
    const frames = [
      { time: 0, signature: white },
      { time: 1, signature: white },
      { time: 2, signature: black },
      { time: 3, signature: black },
      { time: 4, signature: halfGrey },
      { time: 5, signature: white },
    ];
    expect(dedupeFrames(frames, 0.3).map((f) => f.time)).toEqual([0, 2, 4, 5]);
    // Grey is ~0.5 from both: with a higher bar it is dropped, and white (compared with black, the last kept) stays.
    expect(dedupeFrames(frames, 0.6).map((f) => f.time)).toEqual([0, 2, 5]);
    expect(dedupeFrames(frames, 0).map((f) => f.time)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(dedupeFrames([], 0.1)).toEqual([]);
  });

  test('slow drift: compared with the last kept frame, not the previous one', () => {
    const steps = [0, 40, 80, 120, 160, 200].map((v, time) => ({
      time,
      signature: frameSignature(image(8, 8, () => [v, v, v])),
    }));
    // Each step is 40/255 = 0.157 from the previous one; the bar 0.3 is crossed every second step.
    expect(dedupeFrames(steps, 0.3).map((f) => f.time)).toEqual([0, 2, 4]);
  });
});

describe('splitPngStream', () => {
  test('splits concatenated PNGs back into the same files', async () => {
    const pngs = await Promise.all(
      ['red', 'blue', 'green'].map((colour, i) =>
        sharp({ create: { width: 10 + i, height: 7, channels: 3, background: colour } })
          .png()
          .toBuffer(),
      ),
    );
    const parts = splitPngStream(new Uint8Array(Buffer.concat(pngs)));
    expect(parts.map((part, i) => Buffer.from(part).equals(pngs[i]!))).toEqual([true, true, true]);
    const sizes = await Promise.all(parts.map(async (p) => (await sharp(p).metadata()).width));
    expect(sizes).toEqual([10, 11, 12]);
  });

  test('a truncated last picture is dropped; bytes that are not PNG throw', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } })
      .png()
      .toBuffer();
    const stream = Buffer.concat([png, png.subarray(0, png.length - 5)]);
    expect(splitPngStream(new Uint8Array(stream))).toHaveLength(1);
    expect(splitPngStream(new Uint8Array(0))).toEqual([]);
    expect(() => splitPngStream(new Uint8Array(Buffer.from('GIF89a and more bytes')))).toThrow(/not a PNG/);
  });
});

test('parseShowinfoTime reads pts_time from showinfo lines only', () => {
  const line =
    '[Parsed_showinfo_2 @ 0x555fa3eed840] n:   4 pts:  40960 pts_time:4.04    pos:    31319 fmt:rgb24 sar:1/1 s:128x128';
  expect(parseShowinfoTime(line)).toBe(4.04);
  expect(parseShowinfoTime('[Parsed_showinfo_0 @ 0x1] n:0 pts:0 pts_time:0 pos:1')).toBe(0);
  expect(parseShowinfoTime('  Stream #0:0 -> #0:0 (h264 (native) -> png (native))')).toBeUndefined();
  expect(parseShowinfoTime('[Parsed_showinfo_2 @ 0x1] config in time_base: 1/10240')).toBeUndefined();
});

test('mediaInfoFromProbe: cover art is not video; text subtitle tracks are recognised', () => {
  const mp3WithCover = mediaInfoFromProbe({
    format: { duration: '184.32' },
    streams: [
      { codec_type: 'audio', codec_name: 'mp3' },
      { codec_type: 'video', codec_name: 'mjpeg', width: 500, height: 500, disposition: { attached_pic: 1 } },
    ],
  });
  expect(mp3WithCover).toEqual({
    duration: 184.32,
    hasAudio: true,
    hasVideo: false,
    hasTextSubtitles: false,
  });
  const mkv = mediaInfoFromProbe({
    format: {},
    streams: [
      { codec_type: 'video', codec_name: 'h264', width: 1280, height: 720, duration: '61.5' },
      { codec_type: 'subtitle', codec_name: 'hdmv_pgs_subtitle' },
    ],
  });
  expect(mkv).toEqual({
    duration: 61.5,
    hasAudio: false,
    hasVideo: true,
    hasTextSubtitles: false,
    width: 1280,
    height: 720,
  });
  expect(
    mediaInfoFromProbe({ streams: [{ codec_type: 'subtitle', codec_name: 'subrip' }] }).hasTextSubtitles,
  ).toBe(true);
});
