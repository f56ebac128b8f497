import type { LanguageModel } from '../generate/llm.js';

/** The instruction for describing a picture for search (level 1: pictures translated to text at ingest). */
export function describePrompt(context: string): string {
  return (
    'Describe this picture for a search index in two or three plain sentences: what it shows, the objects, ' +
    'colours and shapes, and any text that is visible in it. Do not guess beyond what is visible.' +
    (context ? `\nIt appears in: ${context}` : '')
  );
}

/** One picture described by a multimodal LLM (the same providers as `ask`). */
export async function describePicture(
  llm: LanguageModel,
  picture: { bytes: Uint8Array; mime: string },
  context: string,
  signal?: AbortSignal,
): Promise<string> {
  let text = '';
  for await (const piece of llm.stream({
    messages: [{ role: 'user', content: describePrompt(context), images: [picture] }],
    temperature: 0,
    signal,
  })) {
    text += piece;
  }
  return text.replace(/\s+/g, ' ').trim();
}
