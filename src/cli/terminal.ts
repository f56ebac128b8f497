/**
 * What reaches a terminal. Document text, file names, captions, answers and server messages are data: a file
 * name or a page may carry escape sequences (an OSC 52 clipboard write, hidden text, a screen clear) or a newline
 * that fakes a progress line. Every piece of data the CLI prints in text mode goes through `printable`; the
 * CLI's own escape codes (the progress bar) never do. JSON output needs nothing: JSON escapes control characters.
 */

// C0 controls but tab and line feed, DEL, and C1 controls (0x80-0x9f, which some terminals also obey).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is matched
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const LINE_BREAKS = /[\n\u2028\u2029]/g;

/** A control character as the visible symbol Unicode has for it (␛ for ESC), or � for C1 controls. */
function visible(ch: string): string {
  const code = ch.charCodeAt(0);
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return '\u2421';
  return '\ufffd';
}

/**
 * Data made safe to print: control characters become visible symbols, so nothing in a document can drive the
 * terminal. With `multiline`, line feeds and tabs are kept (answers, prompts, snippets shown in full); without
 * it (names, one-line fields) line breaks become ⏎ so one item is one line.
 */
export function printable(text: string, options: { multiline?: boolean } = {}): string {
  const safe = text.replace(CONTROL, visible);
  return options.multiline ? safe : safe.replace(LINE_BREAKS, '\u23ce').replace(/\t/g, ' ');
}
