/**
 * The reference pipeline's answering prompt, with numbered snippets so the model can cite its sources.
 * Pure functions only.
 */
import { formatLocation } from '../location.js';
import type { Hit } from '../types.js';

export interface NumberedSource {
  /** 1-based, continuous across the text hits and then the image hits. */
  n: number;
  hit: Hit;
}

/** Text hits first, then image hits, numbered [1], [2], ... in that order (the order the prompt uses). */
export function numberedSources(textHits: readonly Hit[], imageHits: readonly Hit[]): NumberedSource[] {
  return [...textHits, ...imageHits].map((hit, i) => ({ n: i + 1, hit }));
}

const orNone = (value: string | undefined, none: string) => (value && value.trim() !== '' ? value : none);

function textBlock({ n, hit }: NumberedSource): string {
  return [
    `[${n}] Article title: ${orNone(hit.title, '(untitled)')}`,
    `Section: ${orNone(hit.section, '(none)')}`,
    `Snippet: ${hit.text ?? ''}`,
  ].join('\n');
}

function imageBlock({ n, hit }: NumberedSource): string {
  return [
    `[${n}] Article title: ${orNone(hit.title, '(untitled)')}`,
    `Section: ${orNone(hit.section, '(none)')}`,
    `Image Path: ${hit.image ?? hit.source}`,
    `Image Caption: ${orNone(hit.caption ?? hit.text, '(no caption)')}`,
    ...(hit.description ? [`Image Description: ${hit.description}`] : []),
  ].join('\n');
}

/**
 * The prompt sent with the question. The exact template (`{...}` are filled in; blocks are separated by
 * one blank line):
 *
 * ```text
 * Given the query "{question}" and the following relevant snippets:
 *
 * [1] Article title: {title}
 * Section: {section}
 * Snippet: {text}
 *
 * [2] ...one block per text hit...
 *
 * Relevant images (attached to this message in the same order):
 *
 * [3] Article title: {title}
 * Section: {section}
 * Image Path: {image}
 * Image Caption: {caption}
 *
 * Please provide a concise, accurate answer to the query, based on the provided snippets and the attached
 * images. Cite the numbers of the snippets you used in square brackets, like [1]. If they do not contain
 * the answer, say so plainly.
 * ```
 * (the instruction is one line). With no text hits the text blocks are replaced by `No text snippets were
 * found.`; with no image hits the image heading and blocks are replaced by `No images were found.` and the
 * instruction says `based on the provided snippets.` without the images. Empty titles read `(untitled)`,
 * empty sections `(none)`, empty captions `(no caption)`; an image hit without `image` shows its `source`.
 */
export function buildReferencePrompt(
  question: string,
  textHits: readonly Hit[],
  imageHits: readonly Hit[],
  options: { level?: 1 | 2 | 3 } = {},
): string {
  const sources = numberedSources(textHits, imageHits);
  const texts = sources.slice(0, textHits.length);
  const images = sources.slice(textHits.length);
  // Level 1 shows the model the pictures' text forms only: nothing is attached.
  const attached = (options.level ?? 3) !== 1;
  const parts: string[] = [`Given the query "${question}" and the following relevant snippets:`];
  if (texts.length === 0) parts.push('No text snippets were found.');
  else parts.push(...texts.map(textBlock));
  if (images.length === 0) parts.push('No images were found.');
  else
    parts.push(
      attached
        ? 'Relevant images (attached to this message in the same order):'
        : 'Relevant images (described in text; the pictures themselves are not attached):',
      ...images.map(imageBlock),
    );
  const basis =
    images.length === 0 || !attached
      ? 'the provided snippets'
      : 'the provided snippets and the attached images';
  parts.push(
    `Please provide a concise, accurate answer to the query, based on ${basis}. ` +
      'Cite the numbers of the snippets you used in square brackets, like [1]. ' +
      'If they do not contain the answer, say so plainly.',
  );
  return parts.join('\n\n');
}

/**
 * The reference pipeline's `construct_prompt`, character for character: Markdown-bold labels, two spaces after
 * `Section:**` and `Image Path:**`, every block followed by a blank line, and the f-string's four-space indent
 * before the two contexts and the instruction (the reference wrote its template indented inside a function).
 * Its hits are unnumbered, so an answer to it cites nothing; `Image Path` is the stored picture's path.
 */
export function buildExactReferencePrompt(
  question: string,
  textHits: readonly Hit[],
  imageHits: readonly Hit[],
): string {
  let textContext = '';
  for (const hit of textHits) {
    textContext += `**Article title:** ${hit.title}\n`;
    textContext += `**Section:**  ${hit.section}\n`;
    textContext += `**Snippet:** ${hit.text ?? ''}\n\n`;
  }
  let imageContext = '';
  for (const hit of imageHits) {
    imageContext += `**Article title:** ${hit.title}\n`;
    imageContext += `**Section:**  ${hit.section}\n`;
    imageContext += `**Image Path:**  ${hit.image ?? hit.source}\n`;
    imageContext += `**Image Caption:** ${hit.caption ?? ''}\n\n`;
  }
  return (
    `Given the query "${question}" and the following relevant snippets:\n\n` +
    `    ${textContext}\n` +
    `    ${imageContext}\n\n` +
    '    Please provide a concise and accurate answer to the query, incorporating relevant information from the provided snippets where possible.\n\n' +
    '    '
  );
}

/** Which prompt `ask` sends: mmrag's (numbered sources to cite, level-aware) or the reference's, exactly. */
export type PromptStyle = 'mmrag' | 'reference';

/** The prompt of the given style for these hits. */
export function buildPrompt(
  style: PromptStyle,
  question: string,
  textHits: readonly Hit[],
  imageHits: readonly Hit[],
  level: 1 | 2 | 3,
): string {
  return style === 'reference'
    ? buildExactReferencePrompt(question, textHits, imageHits)
    : buildReferencePrompt(question, textHits, imageHits, { level });
}

/**
 * One line of a source list: `[3] Traffic signs, Stop - /path/page.html (page 4)`.
 * Title and section are joined with `, ` (empty ones left out); the location is added in parentheses.
 */
export function formatSourceLine(n: number, hit: Hit): string {
  const heading = [hit.title, hit.section].filter((part) => part && part.trim() !== '').join(', ');
  const where = formatLocation(hit.location);
  const head = heading === '' ? `[${n}] ${hit.source}` : `[${n}] ${heading} - ${hit.source}`;
  return where === '' ? head : `${head} (${where})`;
}
