/** Reads printed text in a picture (level 1: pictures as text). */
export interface OcrEngine {
  /** `image`: encoded picture bytes (PNG, JPEG, ...). */
  recognize(image: Uint8Array, signal?: AbortSignal): Promise<{ text: string; confidence: number }>;
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
