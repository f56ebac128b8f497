import type { Config } from '../config.js';
import { MmragError } from '../errors.js';
import { chooseLanguageModel } from './answer.js';
import type { LanguageModel } from './llm.js';

/** Describes one picture for the search index (level 1's MLLM captions at ingest). */
export type PictureDescriber = (
  picture: { bytes: Uint8Array; mime: string },
  context: string,
) => Promise<string>;

/**
 * `ingest --caption`: a function that describes pictures with the given or configured multimodal LLM, which must
 * answer (captioning without a model is refused before any file is read).
 */
export async function createPictureDescriber(
  configured: Config['llm'],
  llm: LanguageModel | null | undefined,
): Promise<PictureDescriber> {
  const model = await chooseLanguageModel(configured, { llm });
  if (!model.llm) {
    throw new MmragError(
      'Describing pictures (--caption) needs a multimodal LLM, and none answered.',
      'Start Ollama with a vision model, or set --llm openai --llm-url URL; or leave --caption out.',
      'llm_none',
    );
  }
  const chat = model.llm;
  const { describePicture } = await import('../enrich/caption.js');
  return (picture, context) => describePicture(chat, picture, context);
}
