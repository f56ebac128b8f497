import { loadModel } from '../embed/model-source.js';
import { errorMessage, MmragError } from '../errors.js';
import { displayUrl, redact } from '../redact.js';
import type { Transcriber, TranscriptSegment } from './types.js';

export const SAMPLE_RATE = 16_000;
export const DEFAULT_WHISPER_MODEL = 'onnx-community/whisper-base.en';

/** A slice of a recording: where it starts (seconds) and its samples (a view, not a copy). */
export interface SampleWindow {
  start: number;
  samples: Float32Array;
}

/**
 * Cut a recording into windows of `windowSeconds`, a new one every `strideSeconds` (stride = window: no
 * overlap). The last window is shorter and ends at the end; no window starts inside the previous one's span
 * once that span reached the end. Empty input gives no window.
 */
export function windowSamples(
  samples: Float32Array,
  sampleRate: number,
  windowSeconds: number,
  strideSeconds: number,
): SampleWindow[] {
  if (!(windowSeconds > 0) || !(strideSeconds > 0) || !(sampleRate > 0)) {
    throw new RangeError('windowSamples: sampleRate, windowSeconds and strideSeconds must be positive');
  }
  const windowLength = Math.max(1, Math.round(windowSeconds * sampleRate));
  const strideLength = Math.max(1, Math.round(strideSeconds * sampleRate));
  const windows: SampleWindow[] = [];
  for (let offset = 0; offset < samples.length; offset += strideLength) {
    const end = Math.min(samples.length, offset + windowLength);
    windows.push({ start: offset / sampleRate, samples: samples.subarray(offset, end) });
    if (end >= samples.length) break;
  }
  return windows;
}

/** 16-bit PCM mono WAV bytes of float samples in [-1, 1] (clipped). */
export async function encodeWav16(
  samples: Float32Array,
  sampleRate = SAMPLE_RATE,
): Promise<Uint8Array<ArrayBuffer>> {
  // wavefile is CommonJS: under plain Node its classes sit on the default export (bundlers also hoist them).
  const wavefile = (await import('wavefile')) as typeof import('wavefile') & {
    default?: typeof import('wavefile');
  };
  const WaveFile = wavefile.WaveFile ?? wavefile.default!.WaveFile;
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    pcm[i] = Math.round(s < 0 ? s * 0x8000 : s * 0x7fff);
  }
  const wav = new WaveFile();
  wav.fromScratch(1, sampleRate, '16', pcm);
  // A copy into a fresh ArrayBuffer: what Blob and fetch bodies accept.
  return new Uint8Array(wav.toBuffer());
}

function cleanSegments(segments: TranscriptSegment[]): TranscriptSegment[] {
  return segments
    .map((s) => ({ start: s.start, end: Math.max(s.start, s.end), text: s.text.replace(/\s+/g, ' ').trim() }))
    .filter((s) => s.text !== '' && Number.isFinite(s.start) && Number.isFinite(s.end));
}

/** The chunk shape of Transformers.js's ASR output with `return_timestamps: true`. */
export interface WhisperChunk {
  text: string;
  /** `[start, end]` in seconds; Whisper can leave the last end unknown (null). */
  timestamp: [number | null, number | null] | readonly (number | null)[];
}

/**
 * Transformers.js ASR output to segments: one per chunk; a missing start takes the previous end (or 0), a
 * missing end takes the next start (or the recording's duration). Without chunks, the whole text is one
 * segment over the whole recording.
 */
export function whisperOutputToSegments(
  output: { text: string; chunks?: readonly WhisperChunk[] },
  durationSeconds: number,
): TranscriptSegment[] {
  const chunks = output.chunks ?? [];
  if (chunks.length === 0) return cleanSegments([{ start: 0, end: durationSeconds, text: output.text }]);
  const segments: TranscriptSegment[] = [];
  chunks.forEach((chunk, i) => {
    const previousEnd = segments[segments.length - 1]?.end ?? 0;
    const start = chunk.timestamp[0] ?? previousEnd;
    const nextStart = chunks[i + 1]?.timestamp[0];
    const end = chunk.timestamp[1] ?? nextStart ?? Math.max(start, durationSeconds);
    segments.push({ start, end, text: chunk.text });
  });
  return cleanSegments(segments);
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}

export interface WhisperTranscriberOptions {
  /** Hub id (default `onnx-community/whisper-base.en`) or a local folder in the same layout. */
  model: string;
  /** ONNX weights: `fp32`, `q8`, ... (the model's default when unset). */
  dtype?: string;
  /** Where hub downloads are cached (default `~/.cache/mmrag/models`). */
  cacheDir?: string;
  allowRemote: boolean;
  /** Spoken language for multilingual models (`english`, `french`); leave unset for `.en` models. */
  language?: string;
}

type AsrPipeline = ((
  audio: Float32Array,
  options: Record<string, unknown>,
) => Promise<{ text: string; chunks?: WhisperChunk[] }>) & { dispose(): Promise<unknown> };

/**
 * Whisper via Transformers.js's `automatic-speech-recognition` pipeline, loaded on first use. Long recordings
 * are handled by the pipeline's own chunking (30 s windows, 5 s stride), per the Transformers.js docs.
 */
export function createWhisperTranscriber(options: WhisperTranscriberOptions): Transcriber {
  const model = options.model || DEFAULT_WHISPER_MODEL;
  let loading: Promise<AsrPipeline> | undefined;

  const load = async (): Promise<AsrPipeline> => {
    const { pipeline } = await import('@huggingface/transformers');
    const source = { model, cacheDir: options.cacheDir, allowRemote: options.allowRemote };
    return loadModel(source, 'Whisper model', async (id, folder) => {
      try {
        const pipelineOptions: Record<string, unknown> = {};
        if (options.dtype) pipelineOptions.dtype = options.dtype;
        const asr = await pipeline('automatic-speech-recognition', id, pipelineOptions);
        return asr as unknown as AsrPipeline;
      } catch (err) {
        throw new MmragError(
          `Cannot load the Whisper model ${model}: ${errorMessage(err)}`,
          options.allowRemote || folder
            ? 'Check the model id or folder (it needs onnx/encoder_model*.onnx and onnx/decoder_model_merged*.onnx).'
            : 'Downloads are off: allow remote models, or point the model setting at a local Whisper folder.',
          'model_unavailable',
          { cause: err },
        );
      }
    });
  };

  return {
    modelId: model,
    async transcribe(samples, signal) {
      throwIfAborted(signal);
      if (samples.length === 0) return [];
      loading ??= load();
      loading.catch(() => {
        loading = undefined;
      });
      const asr = await loading;
      throwIfAborted(signal);
      const callOptions: Record<string, unknown> = {
        return_timestamps: true,
        chunk_length_s: 30,
        stride_length_s: 5,
      };
      if (options.language) callOptions.language = options.language;
      const output = await asr(samples, callOptions);
      throwIfAborted(signal);
      return whisperOutputToSegments(output, samples.length / SAMPLE_RATE);
    },
    async dispose() {
      const current = loading;
      loading = undefined;
      if (!current) return;
      try {
        await (await current).dispose();
      } catch {
        // A pipeline that failed to load has nothing to release.
      }
    },
  };
}

export interface OpenAiTranscriberOptions {
  /** Base URL including the API prefix, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`. */
  url: string;
  apiKey?: string;
  /** `whisper-1`, or whatever model the server serves. */
  model: string;
  language?: string;
  /** Per request (default 10 minutes). */
  timeoutMs?: number;
  /**
   * Longest audio sent in one request (default 600 s = 19 MB of WAV, under OpenAI's 25 MB upload limit);
   * longer recordings are sent in consecutive pieces and their timestamps shifted back into place.
   */
  maxRequestSeconds?: number;
}

interface VerboseJson {
  text?: unknown;
  segments?: unknown;
}

/**
 * A `verbose_json` transcription answer to segments: its `segments[{start, end, text}]` shifted by `offset`,
 * or, when it has none, the whole `text` as one segment spanning the piece.
 */
export function openAiResponseToSegments(
  body: unknown,
  offset: number,
  durationSeconds: number,
): TranscriptSegment[] {
  const json = (typeof body === 'object' && body !== null ? body : {}) as VerboseJson;
  const segments: TranscriptSegment[] = [];
  if (Array.isArray(json.segments)) {
    for (const raw of json.segments as unknown[]) {
      if (typeof raw !== 'object' || raw === null) continue;
      const { start, end, text } = raw as { start?: unknown; end?: unknown; text?: unknown };
      if (typeof start !== 'number' || typeof text !== 'string') continue;
      const stop = typeof end === 'number' ? end : start;
      segments.push({ start: offset + start, end: offset + stop, text });
    }
  }
  if (segments.length === 0 && typeof json.text === 'string') {
    segments.push({ start: offset, end: offset + durationSeconds, text: json.text });
  }
  return cleanSegments(segments);
}

/** Transcription by an OpenAI-compatible server: POST multipart `${url}/audio/transcriptions` with a WAV. */
export function createOpenAiTranscriber(options: OpenAiTranscriberOptions): Transcriber {
  const base = options.url.replace(/\/+$/, '');
  const endpoint = `${base}/audio/transcriptions`;
  // What errors may show: servers echo the key they got in their error messages, and URLs can hold a password.
  const shown = displayUrl(endpoint);
  const scrub = (text: string) => redact(text, [options.apiKey]);
  const maxSeconds = options.maxRequestSeconds ?? 600;
  const timeoutMs = options.timeoutMs ?? 600_000;

  const transcribePiece = async (piece: SampleWindow, signal?: AbortSignal): Promise<TranscriptSegment[]> => {
    const wav = await encodeWav16(piece.samples);
    const form = new FormData();
    form.append('file', new Blob([wav], { type: 'audio/wav' }), 'audio.wav');
    form.append('model', options.model);
    form.append('response_format', 'verbose_json');
    form.append('timestamp_granularities[]', 'segment');
    if (options.language) form.append('language', options.language);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        body: form,
        headers,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      const reason = timeout.aborted
        ? `no answer within ${Math.round(timeoutMs / 1000)} s`
        : errorMessage(err);
      throw new MmragError(
        `transcription server ${shown} unreachable: ${scrub(reason)}`,
        'Check that the server runs and the transcription URL is right.',
        'transcriber_unreachable',
        { cause: err },
      );
    }
    const bodyText = await response.text();
    if (!response.ok) {
      throw new MmragError(
        `transcription server ${shown} answered ${response.status}: ${scrub(bodyText).slice(0, 300)}`,
        response.status === 401 || response.status === 403
          ? 'Check the API key for transcription.'
          : `Check that the server serves the model "${options.model}".`,
        'transcriber_failed',
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      throw new MmragError(
        `transcription server ${shown} did not answer JSON: ${scrub(bodyText).slice(0, 200)}`,
        'The server must support response_format=verbose_json.',
        'transcriber_failed',
      );
    }
    return openAiResponseToSegments(body, piece.start, piece.samples.length / SAMPLE_RATE);
  };

  return {
    modelId: options.model,
    async transcribe(samples, signal) {
      const segments: TranscriptSegment[] = [];
      for (const piece of windowSamples(samples, SAMPLE_RATE, maxSeconds, maxSeconds)) {
        throwIfAborted(signal);
        segments.push(...(await transcribePiece(piece, signal)));
      }
      return segments;
    },
    async dispose() {},
  };
}
