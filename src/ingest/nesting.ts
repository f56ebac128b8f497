import { MmragError } from '../errors.js';

/**
 * How deep the elements of HTML or XML nest, measured in one linear pass over the markup, before any parser sees
 * it. Tree builders pay for depth: the HTML parser checks its whole stack of open elements at many start tags, so
 * a page nested 40,000 levels deep takes 23 s and one of 200,000 levels more than 10 minutes; recursive walks of a
 * deep XML tree overflow the stack. Refusing deep markup up front costs a scan of the text.
 *
 * HTML is measured roughly as a browser builds it: void elements (`<br>`, `<img>`) and self-closed tags do not
 * nest, the text of `<script>`, `<style>`, `<textarea>` and `<title>` is skipped, an end tag closes every element
 * opened after its own start tag, and the common implied end tags are honoured (a block element or `<p>` closes an
 * open `<p>`; `<li>`, `<dt>`/`<dd>`, `<tr>`, `<td>`/`<th>` and `<option>` close their open siblings). XML nests
 * exactly as written.
 */
export class NestingMeter {
  private readonly stack: string[] = [];
  /** Open elements per name, so that an end tag finds its start tag in constant time. */
  private readonly open = new Map<string, number>();
  private deepest = 0;
  /** Markup cut by the end of a chunk, kept for the next one. */
  private carry = '';
  /** Inside a comment, CDATA section or raw-text element: the text that ends it. */
  private until: string | undefined;

  constructor(
    private readonly html: boolean,
    private readonly limit: number,
  ) {}

  /** The deepest nesting seen so far. */
  get depth(): number {
    return this.deepest;
  }

  /** True once the nesting went past the limit (later input is ignored). */
  get exceeded(): boolean {
    return this.deepest > this.limit;
  }

  /** Measure the next piece of the markup (pieces may cut tags anywhere). */
  feed(piece: string): void {
    if (this.exceeded) return;
    const text = this.carry + piece;
    this.carry = '';
    let at = 0;
    while (at < text.length && !this.exceeded) {
      if (this.until !== undefined) {
        const end =
          this.html && this.until.startsWith('</')
            ? indexOfIgnoreCase(text, this.until, at)
            : text.indexOf(this.until, at);
        if (end < 0) {
          // Keep what could be the start of the terminator.
          this.carry = text.slice(Math.max(at, text.length - this.until.length));
          return;
        }
        at = end + this.until.length;
        this.until = undefined;
        continue;
      }
      const lt = text.indexOf('<', at);
      if (lt < 0) return;
      if (text.startsWith('<!--', lt)) {
        this.until = '-->';
        at = lt + 4;
        continue;
      }
      if (text.startsWith('<![CDATA[', lt)) {
        this.until = ']]>';
        at = lt + 9;
        continue;
      }
      const gt = tagEnd(text, lt + 1);
      if (gt < 0) {
        if (text.length - lt > 1_000_000) return; // one "tag" of a megabyte: not markup, nothing nests
        this.carry = text.slice(lt);
        return;
      }
      this.tag(text.slice(lt + 1, gt));
      at = gt + 1;
    }
  }

  private tag(inner: string): void {
    const first = inner.charCodeAt(0);
    if (first === 0x21 || first === 0x3f) return; // <!DOCTYPE ...>, <?xml ...?>
    const closing = first === 0x2f;
    const match = NAME.exec(closing ? inner.slice(1) : inner);
    if (!match) return;
    const name = this.html ? match[0].toLowerCase() : match[0];
    if (closing) {
      this.close(name);
      return;
    }
    if (this.html) this.impliedEnds(name);
    // `<div/>` opens a div in HTML (the slash is ignored); only SVG and MathML elements close themselves.
    const selfClosing =
      (this.html && VOID_ELEMENTS.has(name)) ||
      (inner.endsWith('/') && (!this.html || this.open.has('svg') || this.open.has('math')));
    if (selfClosing) {
      // An element with nothing inside is one level deeper than its parent, and no more.
      if (this.stack.length + 1 > this.deepest) this.deepest = this.stack.length + 1;
      return;
    }
    this.push(name);
    if (this.html && RAW_TEXT_ELEMENTS.has(name)) {
      this.until = `</${name}`;
      this.pop();
    }
  }

  private push(name: string): void {
    this.stack.push(name);
    this.open.set(name, (this.open.get(name) ?? 0) + 1);
    if (this.stack.length > this.deepest) this.deepest = this.stack.length;
  }

  private pop(): string | undefined {
    const name = this.stack.pop();
    if (name !== undefined) {
      const count = (this.open.get(name) ?? 1) - 1;
      if (count === 0) this.open.delete(name);
      else this.open.set(name, count);
    }
    return name;
  }

  /** An end tag closes its element and every element opened inside it; one with no open start tag is ignored. */
  private close(name: string): void {
    if (!this.open.has(name)) return;
    while (this.pop() !== name) {}
  }

  /** Close the innermost open `name` when nothing of `boundaries` was opened after it. */
  private closeSibling(name: string, boundaries: ReadonlySet<string>): void {
    if (!this.open.has(name)) return;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const open = this.stack[i]!;
      if (open === name) {
        this.close(name);
        return;
      }
      if (boundaries.has(open)) return;
    }
  }

  private impliedEnds(name: string): void {
    if (CLOSES_P.has(name)) this.closeSibling('p', P_BOUNDARIES);
    if (name === 'li') this.closeSibling('li', LIST_BOUNDARIES);
    else if (name === 'dt' || name === 'dd') {
      this.closeSibling('dt', LIST_BOUNDARIES);
      this.closeSibling('dd', LIST_BOUNDARIES);
    } else if (name === 'tr') this.closeSibling('tr', TABLE_BOUNDARIES);
    else if (name === 'td' || name === 'th') {
      this.closeSibling('td', TABLE_BOUNDARIES);
      this.closeSibling('th', TABLE_BOUNDARIES);
    } else if (name === 'option') this.closeSibling('option', SELECT_BOUNDARIES);
  }
}

const NAME = /^[A-Za-z_][\w:.-]*/;

const VOID_ELEMENTS = new Set([
  'area',
  'base',
  'basefont',
  'bgsound',
  'br',
  'col',
  'embed',
  'frame',
  'hr',
  'image',
  'img',
  'input',
  'keygen',
  'link',
  'meta',
  'param',
  'source',
  'track',
  'wbr',
]);
const RAW_TEXT_ELEMENTS = new Set([
  'script',
  'style',
  'textarea',
  'title',
  'xmp',
  'iframe',
  'noembed',
  'noframes',
  'plaintext',
]);
const CLOSES_P = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'details',
  'div',
  'dl',
  'fieldset',
  'figcaption',
  'figure',
  'footer',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hr',
  'li',
  'main',
  'menu',
  'nav',
  'ol',
  'p',
  'pre',
  'section',
  'table',
  'ul',
]);
const P_BOUNDARIES = new Set(['button', 'table', 'td', 'th', 'caption', 'object', 'template', 'html']);
const LIST_BOUNDARIES = new Set(['ul', 'ol', 'dl', 'menu', 'table', 'template']);
const TABLE_BOUNDARIES = new Set(['table', 'template']);
const SELECT_BOUNDARIES = new Set(['select', 'datalist', 'template']);

/** Index of the `>` that ends a tag starting at `from`, skipping quoted attribute values; -1 when cut short. */
function tagEnd(text: string, from: number): number {
  let quote = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) {
      // A quote only opens a value after `=` (`<p title="a>b">`); elsewhere it is text, as browsers take it.
      let j = i - 1;
      while (j >= from && (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x09)) j--;
      if (j >= from && text.charCodeAt(j) === 0x3d) quote = c;
    } else if (c === 0x3e) return i;
  }
  return -1;
}

function indexOfIgnoreCase(text: string, needle: string, from: number): number {
  const lower = needle.toLowerCase();
  for (let at = text.indexOf('<', from); at >= 0; at = text.indexOf('<', at + 1)) {
    if (text.slice(at, at + needle.length).toLowerCase() === lower) return at;
  }
  return -1;
}

/** The error for markup nested deeper than the limit; `what` names it ("the page", "its part word/document.xml"). */
export function tooDeep(file: string, what: string, limit: number): MmragError {
  return new MmragError(
    `${file}: refused: ${what} nests elements more than ${limit} levels deep (ingest.maxNestingDepth)`,
    'Raise ingest.maxNestingDepth if the file is genuine.',
    'too_large',
  );
}

/** Throw `tooDeep` when `markup` nests deeper than `limit`. */
export function checkNesting(markup: string, html: boolean, limit: number, file: string, what: string): void {
  const meter = new NestingMeter(html, limit);
  meter.feed(markup);
  if (meter.exceeded) throw tooDeep(file, what, limit);
}
