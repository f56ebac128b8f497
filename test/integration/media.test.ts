import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Transcriber } from '../../src/enrich/types.js';
import { MmragError } from '../../src/errors.js';
import { AudioLoader, findSidecarSubtitles } from '../../src/ingest/loaders/audio.js';
import { SubtitlesLoader } from '../../src/ingest/loaders/subtitles.js';
import { VideoLoader } from '../../src/ingest/loaders/video.js';
import { decodeAudio16kMono, extractFrames, ffmpegAvailable, probeMedia } from '../../src/media/ffmpeg.js';
import { images, texts } from '../helpers/items.js';
import { testLoaderContext } from '../helpers/loader-context.js';
import { type Cue, makeShapesVideo, makeSpeechWav, toSrt, writeVtt } from '../helpers/make-media.js';

/** A transcriber that must never be reached (the paths under test do not transcribe). */
const unreachableTranscriber: Transcriber = {
  modelId: 'unused',
  transcribe: () => Promise.reject(new Error('the transcriber should not have been called')),
  dispose: async () => {},
};

const input = async (path: string) => ({ path, bytes: new Uint8Array(await readFile(path)) });

async function centrePixel(png: Uint8Array): Promise<[number, number, number]> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const o = (Math.floor(info.height / 2) * info.width + Math.floor(info.width / 2)) * 3;
  return [data[o]!, data[o + 1]!, data[o + 2]!];
}

const TALK_CUES: Cue[] = [
  { start: 0, end: 1.2, text: 'Welcome to the talk.' },
  { start: 1.2, end: 3.4, text: 'The word zanzibarquux is unique.' },
  { start: 3.4, end: 4, text: 'Thank you.' },
];
const SHAPE_CUES: Cue[] = [
  { start: 0.5, end: 2, text: 'Here is the red circle' },
  { start: 4.5, end: 6, text: 'Now the blue square' },
];

let dir: string;
let talkWav: string;
let lonelyWav: string;
let shapesMp4: string;
let silentMp4: string;
let toneMp4: string;
let subbedMp4: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mmrag-media-'));
  const work = join(dir, 'work');
  await mkdir(work);
  talkWav = await makeSpeechWav(
    join(dir, 'talk.wav'),
    'Welcome to the talk. The word zanzibarquux is unique. Thank you.',
  );
  await writeVtt(join(dir, 'talk.vtt'), TALK_CUES);
  lonelyWav = await makeSpeechWav(join(dir, 'lonely.wav'), 'Nobody wrote subtitles for this recording.');
  shapesMp4 = await makeShapesVideo(join(dir, 'shapes.mp4'), work);
  await writeVtt(join(dir, 'shapes.vtt'), SHAPE_CUES);
  silentMp4 = await makeShapesVideo(join(dir, 'silent.mp4'), work);
  toneMp4 = await makeShapesVideo(join(dir, 'tone.mp4'), work, { audio: true });
  subbedMp4 = await makeShapesVideo(join(dir, 'subbed.mp4'), work, {
    audio: true,
    embeddedSubtitles: [{ start: 1, end: 3.5, text: 'Embedded words about the quokkaflux' }],
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('subtitles loader', () => {
  test('a .vtt on its own gives timed text items titled by the file name', async () => {
    const loader = new SubtitlesLoader();
    expect(loader.type).toBe('subtitles');
    const items = await loader.load(await input(join(dir, 'talk.vtt')), testLoaderContext({ chunkSize: 32 }));
    expect(items).toEqual([
      {
        modality: 'text',
        title: 'talk.vtt',
        section: '0:00-0:01',
        text: 'Welcome to the talk.',
        location: { start: 0, end: 1.2 },
      },
      {
        modality: 'text',
        title: 'talk.vtt',
        section: '0:01-0:03',
        text: 'The word zanzibarquux is unique.',
        location: { start: 1.2, end: 3.4 },
      },
      {
        modality: 'text',
        title: 'talk.vtt',
        section: '0:03-0:04',
        text: 'Thank you.',
        location: { start: 3.4, end: 4 },
      },
    ]);
  });

  test('an SRT in UTF-16 with a BOM is read too', async () => {
    const path = join(dir, 'utf16.srt');
    const body = Buffer.from(`\uFEFF${toSrt(SHAPE_CUES)}`, 'utf16le');
    await writeFile(path, body);
    const items = await new SubtitlesLoader().load(await input(path), testLoaderContext());
    expect(items).toHaveLength(1);
    expect(items[0]!.text).toBe('Here is the red circle Now the blue square');
    expect(items[0]!.location).toEqual({ start: 0.5, end: 6 });
  });

  test('a file without cues fails with the file named', async () => {
    const path = join(dir, 'empty.vtt');
    await writeFile(path, 'WEBVTT\n\nNOTE nothing here\n');
    await expect(new SubtitlesLoader().load(await input(path), testLoaderContext())).rejects.toThrow(
      /empty\.vtt: no subtitle cue/,
    );
  });
});

describe('ffmpeg helpers', () => {
  test('probeMedia reports duration and streams', async () => {
    expect(await ffmpegAvailable()).toBe(true);
    const video = await probeMedia(shapesMp4);
    expect(video).toMatchObject({
      hasAudio: false,
      hasVideo: true,
      hasTextSubtitles: false,
      width: 128,
      height: 128,
    });
    expect(video.duration).toBeCloseTo(8, 1);
    const subbed = await probeMedia(subbedMp4);
    expect(subbed).toMatchObject({ hasAudio: true, hasVideo: true, hasTextSubtitles: true });
    const audio = await probeMedia(talkWav);
    expect(audio).toMatchObject({ hasAudio: true, hasVideo: false });
    expect(audio.duration).toBeGreaterThan(2);
  });

  test('decodeAudio16kMono gives 16 kHz mono speech, bounded by maxSeconds', async () => {
    const { duration } = await probeMedia(talkWav);
    const samples = await decodeAudio16kMono(talkWav);
    expect(Math.abs(samples.length / 16000 - duration)).toBeLessThan(0.05);
    let energy = 0;
    let peak = 0;
    for (const s of samples) {
      energy += s * s;
      peak = Math.max(peak, Math.abs(s));
    }
    expect(Math.sqrt(energy / samples.length)).toBeGreaterThan(0.01);
    expect(peak).toBeLessThanOrEqual(1);
    const first = await decodeAudio16kMono(talkWav, { maxSeconds: 1 });
    expect(first.length).toBe(16000);
    // The same samples as the start of the full decode (resampling is deterministic).
    expect(Array.from(first.subarray(4000, 4010))).toEqual(Array.from(samples.subarray(4000, 4010)));
  });

  test('decoding is cancelled by an abort signal', async () => {
    const already = new AbortController();
    already.abort(new Error('stop now'));
    await expect(decodeAudio16kMono(talkWav, { signal: already.signal })).rejects.toThrow('stop now');
    const later = new AbortController();
    const running = decodeAudio16kMono(talkWav, { signal: later.signal });
    later.abort(new Error('stopped while running'));
    await expect(running).rejects.toThrow('stopped while running');
  });

  test('extractFrames: one frame per second with exact timestamps, and scene changes', async () => {
    const everySecond = await extractFrames(shapesMp4, {
      everySeconds: 1,
      sceneThreshold: 0.3,
      maxFrames: 50,
      width: 512,
    });
    expect(everySecond.map((f) => f.time)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const colours = await Promise.all(everySecond.map((f) => centrePixel(f.png)));
    colours.forEach(([r, , b], i) => {
      if (i < 4) expect(r - b).toBeGreaterThan(150);
      else expect(b - r).toBeGreaterThan(150);
    });
    // Every 5 s alone would give 0 and 5: the frame at 4 s comes from scene detection.
    const sparse = await extractFrames(shapesMp4, {
      everySeconds: 5,
      sceneThreshold: 0.3,
      maxFrames: 50,
      width: 64,
    });
    expect(sparse.map((f) => f.time)).toEqual([0, 4]);
    expect((await sharp(sparse[0]!.png).metadata()).width).toBe(64);
    const capped = await extractFrames(shapesMp4, {
      everySeconds: 1,
      sceneThreshold: 0.3,
      maxFrames: 3,
      width: 64,
    });
    expect(capped.map((f) => f.time)).toEqual([0, 1, 2]);
  });

  test('a file that is not media fails with a clear reason', async () => {
    const path = join(dir, 'fake.mp4');
    await writeFile(path, Buffer.from('this is not a video at all, just text pretending'));
    const error = await new VideoLoader()
      .load(await input(path), testLoaderContext())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).code).toBe('bad_media');
    expect((error as MmragError).message).toMatch(/fake\.mp4/);
  });
});

describe('audio loader', () => {
  test('uses the .vtt beside the recording: the unique word carries its cue times', async () => {
    const loader = new AudioLoader();
    expect(loader.type).toBe('audio');
    const items = await loader.load(
      await input(talkWav),
      testLoaderContext({ chunkSize: 32, transcriber: unreachableTranscriber }),
    );
    const unique = items.filter((i) => i.text.includes('zanzibarquux'));
    expect(unique).toHaveLength(1);
    expect(unique[0]).toEqual({
      modality: 'text',
      title: 'talk.wav',
      section: '0:01-0:03',
      text: 'The word zanzibarquux is unique.',
      location: { start: 1.2, end: 3.4 },
    });
    const whole = await loader.load(await input(talkWav), testLoaderContext());
    expect(whole).toHaveLength(1);
    expect(whole[0]!.location).toEqual({ start: 0, end: 4 });
  });

  test('finds language-tagged subtitles (talk.en.srt) and prefers plain .vtt', async () => {
    const folder = join(dir, 'sidecars');
    await mkdir(folder);
    const wav = join(folder, 'lecture.wav');
    await writeFile(wav, await readFile(lonelyWav));
    expect(await findSidecarSubtitles(wav)).toBeUndefined();
    await writeFile(join(folder, 'lecture.fr.vtt'), 'WEBVTT\n\n00:00.000 --> 00:01.000\nBonjour\n');
    await writeFile(
      join(folder, 'lecture.en.srt'),
      toSrt([{ start: 0.25, end: 1.75, text: 'Hello from the wombatrix' }]),
    );
    await writeFile(join(folder, 'lecture-notes.vtt'), 'WEBVTT\n\n00:00.000 --> 00:01.000\nNot mine\n');
    expect(await findSidecarSubtitles(wav)).toBe(join(folder, 'lecture.en.srt'));
    const items = await new AudioLoader().load(await input(wav), testLoaderContext());
    expect(items.map((i) => [i.text, i.location])).toEqual([
      ['Hello from the wombatrix', { start: 0.25, end: 1.75 }],
    ]);
    await writeFile(join(folder, 'lecture.vtt'), 'WEBVTT\n\n00:02.000 --> 00:03.000\nPlain wins\n');
    expect(await findSidecarSubtitles(wav)).toBe(join(folder, 'lecture.vtt'));
  });

  test('without subtitles or a transcriber the file fails with the reason', async () => {
    const error = await new AudioLoader()
      .load(await input(lonelyWav), testLoaderContext())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).message).toContain(
      'lonely.wav: no transcript: enable transcription or add lonely.vtt beside it',
    );
  });

  test('the duration limit is enforced before decoding', async () => {
    const ctx = testLoaderContext({ limits: { maxDurationSeconds: 1 }, transcriber: unreachableTranscriber });
    const error = await new AudioLoader().load(await input(lonelyWav), ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).code).toBe('too_large');
    expect((error as MmragError).message).toMatch(
      /lonely\.wav: recording is 0:0\d long, over the limit of 0:01/,
    );
  });
});

describe('video loader', () => {
  test('keyframes at 0 s (red) and 4 s (blue), identical frames in between dropped, captions with the subtitles', async () => {
    const loader = new VideoLoader({ everySeconds: 1 });
    expect(loader.type).toBe('video');
    const ctx = testLoaderContext();
    const items = await loader.load(await input(shapesMp4), ctx);
    const frames = images(items);
    expect(frames.map((f) => f.location)).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
    ]);
    expect(frames.map((f) => f.section)).toEqual(['0:00-0:04', '0:04-0:08']);
    expect(frames.map((f) => f.caption)).toEqual([
      'Frame at 0:00 of shapes.mp4: "Here is the red circle"',
      'Frame at 0:04 of shapes.mp4: "Now the blue square"',
    ]);
    const [red, blue] = await Promise.all(frames.map((f) => centrePixel(f.picture.bytes)));
    expect(red![0] - red![2]).toBeGreaterThan(150);
    expect(blue![2] - blue![0]).toBeGreaterThan(150);
    expect(frames[0]!.picture.mime).toBe('image/png');
    expect(frames.every((f) => f.title === 'shapes.mp4')).toBe(true);
    expect(texts(items)).toEqual([
      {
        modality: 'text',
        title: 'shapes.mp4',
        section: '0:00-0:06',
        text: 'Here is the red circle Now the blue square',
        location: { start: 0.5, end: 6 },
      },
    ]);
    expect(ctx.warnings).toEqual([]);
  });

  test('default settings: a frame every 5 s plus the scene change at 4 s', async () => {
    const items = await new VideoLoader().load(await input(shapesMp4), testLoaderContext());
    expect(images(items).map((f) => f.location)).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
    ]);
  });

  test('a video without audio or subtitles gives frames only, without error or warning', async () => {
    const ctx = testLoaderContext();
    const items = await new VideoLoader({ everySeconds: 1 }).load(await input(silentMp4), ctx);
    expect(texts(items)).toEqual([]);
    expect(images(items).map((f) => f.caption)).toEqual([
      'Frame at 0:00 of silent.mp4',
      'Frame at 0:04 of silent.mp4',
    ]);
    expect(ctx.warnings).toEqual([]);
  });

  test('an embedded subtitle track becomes the transcript', async () => {
    const items = await new VideoLoader().load(
      await input(subbedMp4),
      testLoaderContext({ transcriber: unreachableTranscriber }),
    );
    expect(texts(items)).toEqual([
      {
        modality: 'text',
        title: 'subbed.mp4',
        section: '0:01-0:03',
        text: 'Embedded words about the quokkaflux',
        location: { start: 1, end: 3.5 },
      },
    ]);
    expect(images(items)[0]!.caption).toBe(
      'Frame at 0:00 of subbed.mp4: "Embedded words about the quokkaflux"',
    );
  });

  test('speech without a transcriber: frames kept, a warning says what was not indexed', async () => {
    const ctx = testLoaderContext();
    const items = await new VideoLoader().load(await input(toneMp4), ctx);
    expect(images(items)).toHaveLength(2);
    expect(texts(items)).toEqual([]);
    expect(ctx.warnings).toEqual([
      `${toneMp4}: speech not indexed: enable transcription or add tone.vtt beside it`,
    ]);
  });

  test('the duration limit is enforced', async () => {
    const error = await new VideoLoader()
      .load(await input(shapesMp4), testLoaderContext({ limits: { maxDurationSeconds: 5 } }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).message).toContain(
      'shapes.mp4: recording is 0:08 long, over the limit of 0:05',
    );
  });
});

describe('without ffmpeg', () => {
  test('a clear error names ffmpeg and how to install it; subtitles beside audio still work', async () => {
    const emptyBin = await mkdtemp(join(tmpdir(), 'mmrag-nobin-'));
    const savedPath = process.env.PATH;
    process.env.PATH = emptyBin;
    try {
      expect(await ffmpegAvailable()).toBe(false);
      const error = await new VideoLoader()
        .load(await input(shapesMp4), testLoaderContext())
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MmragError);
      expect((error as MmragError).code).toBe('ffmpeg_missing');
      expect((error as MmragError).message).toMatch(
        /ffprobe is not installed or not on the PATH \(needed to read shapes\.mp4\)/,
      );
      expect((error as MmragError).hint).toBe('install ffmpeg: apt-get install ffmpeg / brew install ffmpeg');
      const withTranscriber = testLoaderContext({ transcriber: unreachableTranscriber });
      await expect(new AudioLoader().load(await input(lonelyWav), withTranscriber)).rejects.toThrow(
        /not installed/,
      );
      const items = await new AudioLoader().load(await input(talkWav), testLoaderContext());
      expect(items.map((i) => i.text)).toEqual([
        'Welcome to the talk. The word zanzibarquux is unique. Thank you.',
      ]);
    } finally {
      process.env.PATH = savedPath;
      await rm(emptyBin, { recursive: true, force: true });
    }
  });

  test('MMRAG_FFMPEG pointing at a missing binary is reported the same way', async () => {
    process.env.MMRAG_FFMPEG = join(dir, 'no-such-ffmpeg');
    try {
      expect(await ffmpegAvailable()).toBe(false);
      await expect(decodeAudio16kMono(talkWav)).rejects.toThrow(
        /no-such-ffmpeg is not installed or not on the PATH/,
      );
    } finally {
      delete process.env.MMRAG_FFMPEG;
    }
  });
});
