import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WaveFile } from 'wavefile';
import {
  createOpenAiTranscriber,
  createWhisperTranscriber,
  encodeWav16,
  openAiResponseToSegments,
  whisperOutputToSegments,
  windowSamples,
} from '../../src/enrich/transcribe.js';
import { MmragError } from '../../src/errors.js';
import { AudioLoader } from '../../src/ingest/loaders/audio.js';
import { probeMedia } from '../../src/media/ffmpeg.js';
import { testLoaderContext } from '../helpers/loader-context.js';
import { makeSpeechWav } from '../helpers/make-media.js';

describe('windowSamples', () => {
  const samples = Float32Array.from({ length: 10 }, (_, i) => i);

  test('no overlap when stride equals the window; the last window is shorter', () => {
    const windows = windowSamples(samples, 2, 2, 2);
    expect(windows.map((w) => [w.start, Array.from(w.samples)])).toEqual([
      [0, [0, 1, 2, 3]],
      [2, [4, 5, 6, 7]],
      [4, [8, 9]],
    ]);
  });

  test('overlapping windows stop once one reaches the end', () => {
    const windows = windowSamples(samples, 1, 4, 3);
    expect(windows.map((w) => [w.start, Array.from(w.samples)])).toEqual([
      [0, [0, 1, 2, 3]],
      [3, [3, 4, 5, 6]],
      [6, [6, 7, 8, 9]],
    ]);
  });

  test('a window longer than the input gives the input once; empty input gives nothing; bad sizes throw', () => {
    expect(windowSamples(samples, 16000, 30, 25).map((w) => w.samples.length)).toEqual([10]);
    expect(windowSamples(new Float32Array(0), 16000, 30, 30)).toEqual([]);
    expect(() => windowSamples(samples, 16000, 0, 1)).toThrow(RangeError);
    expect(() => windowSamples(samples, 16000, 1, -1)).toThrow(RangeError);
  });

  test('windows are views covering every sample exactly once when stride = window', () => {
    const long = Float32Array.from({ length: 16000 * 7 + 123 }, (_, i) => i % 97);
    const windows = windowSamples(long, 16000, 3, 3);
    expect(windows.map((w) => w.start)).toEqual([0, 3, 6]);
    expect(windows.reduce((n, w) => n + w.samples.length, 0)).toBe(long.length);
    expect(windows[2]!.samples[0]).toBe(long[16000 * 6]);
  });
});

describe('output conversion', () => {
  test('Transformers.js chunks (the documented example) become segments; a missing end takes the next start or the duration', () => {
    const output = {
      text: ' And so my fellow Americans ask not what your country can do for you, ask what you can do for your country.',
      chunks: [
        {
          timestamp: [0, 8] as [number, number],
          text: ' And so my fellow Americans ask not what your country can do for you',
        },
        { timestamp: [8, 11] as [number, number], text: ' ask what you can do for your country.' },
      ],
    };
    expect(whisperOutputToSegments(output, 11.5)).toEqual([
      { start: 0, end: 8, text: 'And so my fellow Americans ask not what your country can do for you' },
      { start: 8, end: 11, text: 'ask what you can do for your country.' },
    ]);
    const open = {
      text: 'a b c',
      chunks: [
        { timestamp: [0, null], text: ' a' },
        { timestamp: [2.5, 4], text: ' ' },
        { timestamp: [4, null], text: ' c' },
      ],
    };
    expect(whisperOutputToSegments(open, 9)).toEqual([
      { start: 0, end: 2.5, text: 'a' },
      { start: 4, end: 9, text: 'c' },
    ]);
    expect(whisperOutputToSegments({ text: ' just text ' }, 3)).toEqual([
      { start: 0, end: 3, text: 'just text' },
    ]);
  });

  test('verbose_json segments are shifted by the piece offset; without segments the text spans the piece', () => {
    const body = {
      text: 'one two',
      segments: [
        { id: 0, start: 0.5, end: 1.25, text: ' one' },
        { id: 1, start: 1.25, end: 2, text: ' two ' },
        { id: 2, start: 'bad', end: 3, text: 'skipped' },
      ],
    };
    expect(openAiResponseToSegments(body, 600, 2)).toEqual([
      { start: 600.5, end: 601.25, text: 'one' },
      { start: 601.25, end: 602, text: 'two' },
    ]);
    expect(openAiResponseToSegments({ text: 'whole thing' }, 10, 4.5)).toEqual([
      { start: 10, end: 14.5, text: 'whole thing' },
    ]);
    expect(openAiResponseToSegments({ text: '   ' }, 0, 1)).toEqual([]);
    expect(openAiResponseToSegments('not an object', 0, 1)).toEqual([]);
  });
});

test('encodeWav16 writes a 16 kHz mono 16-bit WAV of the samples', async () => {
  const samples = Float32Array.from([0, 0.5, -0.5, 1, -1, 2, -2]);
  const wav = new WaveFile(await encodeWav16(samples));
  const fmt = wav.fmt as {
    sampleRate: number;
    numChannels: number;
    bitsPerSample: number;
    audioFormat: number;
  };
  expect([fmt.sampleRate, fmt.numChannels, fmt.bitsPerSample, fmt.audioFormat]).toEqual([16000, 1, 16, 1]);
  expect(Array.from(wav.getSamples())).toEqual([0, 16384, -16384, 32767, -32768, 32767, -32768]);
});

interface Received {
  path: string;
  authorization?: string;
  fields: Record<string, string>;
  wav: {
    sampleRate: number;
    channels: number;
    bits: number;
    samples: number;
    fileName: string;
    type: string;
  };
}

/** A loopback OpenAI-compatible transcription server that parses the multipart form and answers verbose_json. */
class TranscriptionServer {
  received: Received[] = [];
  status = 200;
  answer: (index: number, seconds: number) => unknown = (index, seconds) => ({
    task: 'transcribe',
    language: 'english',
    duration: seconds,
    text: `piece ${index}`,
    segments: [{ id: 0, seek: 0, start: 0.25, end: Math.min(seconds, 0.75), text: ` piece ${index}` }],
  });
  raw?: string;
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(400, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: string }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    // Parse the multipart body with the platform's own parser, as a server framework would.
    const form = await new Request(`http://127.0.0.1${req.url}`, {
      method: 'POST',
      headers,
      body: Buffer.concat(chunks),
    }).formData();
    const fields: Record<string, string> = {};
    let file: File | undefined;
    form.forEach((value, key) => {
      if (typeof value === 'string') fields[key] = value;
      else file = value;
    });
    if (!file) throw new Error('no file part');
    const wav = new WaveFile(new Uint8Array(await file.arrayBuffer()));
    const fmt = wav.fmt as { sampleRate: number; numChannels: number; bitsPerSample: number };
    const samples = wav.getSamples().length;
    this.received.push({
      path: req.url ?? '',
      authorization: req.headers.authorization,
      fields,
      wav: {
        sampleRate: fmt.sampleRate,
        channels: fmt.numChannels,
        bits: fmt.bitsPerSample,
        samples,
        fileName: file.name,
        type: file.type,
      },
    });
    if (this.raw !== undefined) return { status: this.status, body: this.raw };
    return {
      status: this.status,
      body: JSON.stringify(this.answer(this.received.length - 1, samples / fmt.sampleRate)),
    };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describe('OpenAI-compatible transcription against a loopback server', () => {
  let dir: string;
  let speech: string;
  const server = new TranscriptionServer();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mmrag-transcribe-'));
    speech = await makeSpeechWav(join(dir, 'speech.wav'), 'The transcription server hears the capybaroo.');
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the audio loader decodes with ffmpeg and sends a WAV of the whole recording', async () => {
    server.received = [];
    const transcriber = createOpenAiTranscriber({
      url: `${server.url}/`,
      apiKey: 'sk-test',
      model: 'whisper-1',
    });
    const items = await new AudioLoader().load(
      { path: speech, bytes: new Uint8Array(await readFile(speech)) },
      testLoaderContext({ transcriber }),
    );
    expect(server.received).toHaveLength(1);
    const [request] = server.received;
    expect(request!.path).toBe('/v1/audio/transcriptions');
    expect(request!.authorization).toBe('Bearer sk-test');
    expect(request!.fields).toEqual({
      model: 'whisper-1',
      response_format: 'verbose_json',
      'timestamp_granularities[]': 'segment',
    });
    expect(request!.wav).toMatchObject({
      sampleRate: 16000,
      channels: 1,
      bits: 16,
      fileName: 'audio.wav',
      type: 'audio/wav',
    });
    const { duration } = await probeMedia(speech);
    expect(Math.abs(request!.wav.samples / 16000 - duration)).toBeLessThan(0.05);
    expect(items).toEqual([
      {
        modality: 'text',
        title: 'speech.wav',
        section: '0:00-0:00',
        text: 'piece 0',
        location: { start: 0.25, end: 0.75 },
      },
    ]);
  });

  test('long recordings go in consecutive pieces whose timestamps are shifted back into place', async () => {
    server.received = [];
    const transcriber = createOpenAiTranscriber({
      url: server.url,
      model: 'whisper-1',
      maxRequestSeconds: 1,
    });
    const samples = new Float32Array(16000 * 2.5);
    const segments = await transcriber.transcribe(samples);
    expect(server.received.map((r) => r.wav.samples)).toEqual([16000, 16000, 8000]);
    expect(server.received[0]!.authorization).toBeUndefined();
    expect(segments).toEqual([
      { start: 0.25, end: 0.75, text: 'piece 0' },
      { start: 1.25, end: 1.75, text: 'piece 1' },
      { start: 2.25, end: 2.5, text: 'piece 2' },
    ]);
  });

  test('an answer without segments gives one segment of the whole text', async () => {
    server.received = [];
    server.answer = () => ({ text: ' Only the text. ' });
    try {
      const transcriber = createOpenAiTranscriber({ url: server.url, model: 'm', language: 'en' });
      expect(await transcriber.transcribe(new Float32Array(24000))).toEqual([
        { start: 0, end: 1.5, text: 'Only the text.' },
      ]);
      expect(server.received[0]!.fields.language).toBe('en');
    } finally {
      server.answer = new TranscriptionServer().answer;
    }
  });

  test('server errors, non-JSON answers and unreachable servers are MmragErrors that say what to do', async () => {
    const transcriber = createOpenAiTranscriber({ url: server.url, model: 'whisper-1', apiKey: 'wrong' });
    server.status = 401;
    server.raw = '{"error":{"message":"Incorrect API key provided"}}';
    try {
      const unauthorized = await transcriber.transcribe(new Float32Array(1600)).catch((e: unknown) => e);
      expect(unauthorized).toBeInstanceOf(MmragError);
      expect((unauthorized as MmragError).message).toMatch(/answered 401: .*Incorrect API key/);
      expect((unauthorized as MmragError).hint).toMatch(/API key/);
      server.status = 200;
      server.raw = 'plain words';
      await expect(transcriber.transcribe(new Float32Array(1600))).rejects.toThrow(/did not answer JSON/);
    } finally {
      server.status = 200;
      server.raw = undefined;
    }
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = createOpenAiTranscriber({ url: `http://127.0.0.1:${port}/v1`, model: 'whisper-1' });
    const error = await unreachable.transcribe(new Float32Array(1600)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).code).toBe('transcriber_unreachable');
  });

  test('an aborted signal stops before sending', async () => {
    server.received = [];
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    const transcriber = createOpenAiTranscriber({ url: server.url, model: 'whisper-1' });
    await expect(transcriber.transcribe(new Float32Array(1600), controller.signal)).rejects.toThrow(
      'cancelled',
    );
    expect(server.received).toHaveLength(0);
  });
});

describe('Whisper through Transformers.js (no model can be downloaded here)', () => {
  test('a model that is not available offline fails with an actionable error', async () => {
    const transcriber = createWhisperTranscriber({
      model: 'onnx-community/whisper-base.en',
      allowRemote: false,
    });
    expect(transcriber.modelId).toBe('onnx-community/whisper-base.en');
    expect(await transcriber.transcribe(new Float32Array(0))).toEqual([]);
    const error = await transcriber.transcribe(new Float32Array(16000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).code).toBe('model_unavailable');
    expect((error as MmragError).message).toMatch(
      /Cannot load the Whisper model onnx-community\/whisper-base\.en/,
    );
    expect((error as MmragError).hint).toMatch(/Downloads are off/);
    await transcriber.dispose();
  });

  test('a model folder that does not exist is named', async () => {
    const transcriber = createWhisperTranscriber({ model: '/nonexistent/whisper-folder', allowRemote: true });
    await expect(transcriber.transcribe(new Float32Array(16000))).rejects.toThrow(
      'The Whisper model folder was not found: /nonexistent/whisper-folder',
    );
  });
});
