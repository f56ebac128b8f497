// Answers as Markdown (lists, tables, code, bold), made safe: marked renders, DOMPurify keeps only harmless HTML.
// Citations `[n]` and `[n, m]` become links to the numbered sources of the answer; a number with no source is
// marked as such instead of pointing nowhere.
import DOMPurify from 'dompurify';
import { Marked, type Tokens } from 'marked';

interface CitationToken extends Tokens.Generic {
  type: 'citation';
  raw: string;
  numbers: number[];
}

/** The answer being rendered: which turn its sources belong to and how many there are. */
let current = { turn: 0, count: 0 };

const CITATION = /^\[(\d{1,4}(?:\s*,\s*\d{1,4})*)\]/;

const markdown = new Marked({ gfm: true, breaks: false, async: false }).use({
  extensions: [
    {
      name: 'citation',
      level: 'inline',
      start: (src) => src.match(/\[\d/)?.index,
      tokenizer(src): CitationToken | undefined {
        const match = CITATION.exec(src);
        if (!match) return undefined;
        const numbers = match[1]!.split(',').map((n) => Number(n.trim()));
        return { type: 'citation', raw: match[0], numbers };
      },
      renderer(token) {
        const links = (token as CitationToken).numbers.map((n) =>
          n >= 1 && n <= current.count
            ? `<a href="#src-${current.turn}-${n}" data-cite="${n}" aria-label="source ${n}">${n}</a>`
            : `<span class="cite-missing" title="There is no source ${n}: the model cited a number it was not given" aria-label="source ${n}, which does not exist">${n}?</span>`,
        );
        return `<sup class="cite">${links.join('')}</sup>`;
      },
    },
  ],
});

/** Classes an answer may carry: ours (citations) and marked's code languages; no other styling of the page. */
const ANSWER_CLASS = /^(cite|cite-missing|language-[\w+-]{1,30})$/;

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  const className = node.getAttribute('class');
  if (className !== null && !ANSWER_CLASS.test(className)) node.removeAttribute('class');
  // Links the model wrote open in a new tab and tell the site nothing.
  if (node.tagName === 'A' && !node.getAttribute('href')?.startsWith('#')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

const ALLOWED_TAGS = [
  'p',
  'br',
  'hr',
  'strong',
  'em',
  'del',
  's',
  'code',
  'pre',
  'blockquote',
  'ul',
  'ol',
  'li',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'a',
  'sup',
  'span',
];

/**
 * The answer as safe HTML: Markdown rendered, then everything but text formatting removed (no pictures, styles,
 * scripts or event handlers: a document can put any text in front of the model, and the model can repeat it).
 */
export function renderAnswer(text: string, turn: number, sourceCount: number): string {
  current = { turn, count: sourceCount };
  const html = markdown.parse(text) as string;
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ['href', 'title', 'class', 'data-cite', 'aria-label', 'align', 'start'],
    ALLOW_DATA_ATTR: false,
  });
}
