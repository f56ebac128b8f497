import { load } from 'cheerio';
import { describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import { checkNesting, NestingMeter } from '../../src/ingest/nesting.js';

function depth(markup: string, html = true): number {
  const meter = new NestingMeter(html, 1e9);
  meter.feed(markup);
  return meter.depth;
}

/** The depth of the tree the HTML parser really builds (html > body > ...). */
function parsedDepth(markup: string): number {
  let deepest = 0;
  const walk = (node: { children?: unknown[]; type?: string }, d: number) => {
    deepest = Math.max(deepest, d);
    for (const child of (node.children ?? []) as Array<{ type: string; children?: unknown[] }>) {
      if (child.type === 'tag' || child.type === 'script' || child.type === 'style') walk(child, d + 1);
    }
  };
  walk(load(markup).root()[0] as never, 0);
  return deepest;
}

describe('NestingMeter (HTML)', () => {
  it('counts nesting as written, not elements', () => {
    expect(depth('<html><body><div><div><p>deep</p></div></div></body></html>')).toBe(5);
    expect(depth('<div></div><div></div><div></div>')).toBe(1);
  });

  it('agrees with the parser on the implied end tags of ordinary pages', () => {
    for (const page of [
      '<p>one<p>two<p>three',
      '<ul><li>a<li>b<li>c</ul>',
      '<ol><li>a<ul><li>nested<li>again</ul><li>b</ol>',
      '<table><tbody><tr><td>a<td>b<tr><td>c<td>d</tbody></table>',
      '<dl><dt>term<dd>definition<dt>term<dd>definition</dl>',
      '<select><option>a<option>b</select>',
      '<p>text<div>a block closes the paragraph</div>',
      '<div><br><img src=x><hr><input><p>voids do not nest</div>',
      '<div><span><br></span></div>',
    ]) {
      const full = `<html><body>${page}</body></html>`;
      expect(depth(full), page).toBe(parsedDepth(full));
    }
  });

  it('skips comments, CDATA, doctypes and the text of scripts and styles', () => {
    expect(depth('<!doctype html><!-- <div><div><div> --><p>x</p>')).toBe(1);
    expect(depth('<script>if (a < b) { "<div><div><div>" }</script><p>x</p>')).toBe(1);
    expect(depth('<style>a > b { content: "<div>" }</style><p>x</p>')).toBe(1);
    expect(depth('<p title="a > b <div>">x</p>')).toBe(1);
  });

  it('takes `<div/>` as an open div (as browsers do), but SVG elements close themselves', () => {
    expect(depth('<div/><div/><div/>')).toBe(3);
    expect(depth('<svg><path d="M0 0"/><path d="M1 1"/></svg>')).toBe(2);
  });

  it('measures the same however the markup is cut into pieces', () => {
    const markup = `<html><body>${'<div class="a>b">'.repeat(30)}<!-- <x> --><script>"<div>"</script>${'</div>'.repeat(30)}</body></html>`;
    const whole = depth(markup);
    expect(whole).toBe(33); // html, body, 30 divs, and the script inside them
    for (let cut = 1; cut < markup.length; cut += 7) {
      const meter = new NestingMeter(true, 1e9);
      meter.feed(markup.slice(0, cut));
      meter.feed(markup.slice(cut));
      expect(meter.depth, `cut at ${cut}`).toBe(whole);
    }
  });

  it('measures 200,000 levels in a fraction of a second and stops at the limit', () => {
    const deep = `${'<div>'.repeat(200_000)}x${'</div>'.repeat(200_000)}`;
    const started = performance.now();
    const meter = new NestingMeter(true, 2000);
    meter.feed(deep);
    expect(meter.exceeded).toBe(true);
    expect(depth(deep)).toBe(200_000);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('NestingMeter (XML)', () => {
  it('nests exactly as written: self-closing tags, no implied ends', () => {
    expect(depth('<?xml version="1.0"?><a><b/><c><d>text</d></c></a>', false)).toBe(3);
    expect(depth('<a><b/></a>', false)).toBe(2);
    expect(depth('<a><p><p><p></p></p></p></a>', false)).toBe(4);
    expect(depth('<a><![CDATA[<b><c><d>]]></a>', false)).toBe(1);
  });
});

describe('checkNesting', () => {
  it('refuses markup deeper than the limit with the limit and the setting named', () => {
    expect(() => checkNesting('<div>'.repeat(50), true, 50, 'page.html', 'the page')).not.toThrow();
    let error: unknown;
    try {
      checkNesting('<div>'.repeat(51), true, 50, 'page.html', 'the page');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).message).toBe(
      'page.html: refused: the page nests elements more than 50 levels deep (ingest.maxNestingDepth)',
    );
    expect((error as MmragError).code).toBe('too_large');
  });
});
