/**
 * What describing a picture needs of a multimodal chat model: any `LanguageModel` (src/generate/llm.ts) fits.
 * Declared here so that this translator depends on nothing above it.
 */
export interface PictureChatModel {
  stream(request: {
    messages: Array<{ role: 'user'; content: string; images: Array<{ bytes: Uint8Array; mime: string }> }>;
    temperature?: number;
    signal?: AbortSignal;
  }): AsyncIterable<string>;
}

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
  llm: PictureChatModel,
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
