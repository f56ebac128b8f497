/**
 * The text an item is known by: its section, its text (a chunk, or a picture's caption) and, for pictures, the
 * MLLM description made at ingest. It is what the text embedder embeds (levels 1-2), what BM25 indexes and what a
 * reranker reads. The reference embeds text items the same way: `"<section>: <text>"`.
 */
export function textForm(item: { section: string; text: string; description?: string | null }): string {
  const body = item.description ? `${item.text} ${item.description}` : item.text;
  return item.section ? `${item.section}: ${body}` : body;
}
