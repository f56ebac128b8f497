import type { Box } from '../types.js';

/** A word OCR read, and where: `box` as fractions of the picture's width and height, origin top left. */
export interface OcrWord {
  text: string;
  box: Box;
}

export interface OcrResult {
  /** The text, tidied (`cleanOcrText`). */
  text: string;
  /** Mean word confidence, 0 to 100. */
  confidence: number;
  /** Every word read, in reading order, when the engine says where they are. */
  words?: OcrWord[];
}

/** Reads printed text in a picture (level 1: pictures as text). */
export interface OcrEngine {
  /** `image`: encoded picture bytes (PNG, JPEG, ...). */
  recognize(image: Uint8Array, signal?: AbortSignal): Promise<OcrResult>;
  dispose(): Promise<void>;
}

export interface TranscriptSegment {
  /** Seconds from the start of the recording. */
  start: number;
  end: number;
  text: string;
}

/** Speech to timed text (level 1: recordings as text). */
export interface Transcriber {
  readonly modelId: string;
  /** `samples`: 16 kHz mono PCM in [-1, 1]. */
  transcribe(samples: Float32Array, signal?: AbortSignal): Promise<TranscriptSegment[]>;
  dispose(): Promise<void>;
}
