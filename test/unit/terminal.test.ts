import { describe, expect, it } from 'vitest';
import { printable } from '../../src/cli/terminal.js';

describe('printable', () => {
  it('shows control characters as symbols, so data cannot drive the terminal', () => {
    expect(printable('a\u001b[2Jb')).toBe('a␛[2Jb');
    expect(printable('\u001b]52;c;Zm9v\u0007')).toBe('␛]52;c;Zm9v␇');
    expect(printable('over\rwrite')).toBe('over␍write');
    expect(printable('c1 \u009b31m')).toBe('c1 \ufffd31m');
    expect(printable('del\u007f')).toBe('del␡');
  });

  it('keeps one item on one line unless asked for several', () => {
    expect(printable('fake\n  ✓ line.txt')).toBe('fake⏎  ✓ line.txt');
    expect(printable('a\tb')).toBe('a b');
    expect(printable('first\nsecond\tcolumn', { multiline: true })).toBe('first\nsecond\tcolumn');
  });

  it('leaves ordinary text of every script alone', () => {
    const text = 'Café — 東京 «quotes» 🚢';
    expect(printable(text)).toBe(text);
  });
});
