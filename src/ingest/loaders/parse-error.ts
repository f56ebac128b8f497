/**
 * The reason to show when a parsing library fails on a file. Libraries report damaged input in two ways: a
 * message about the input ("unexpected close tag"), which is worth showing, or a crash inside their own code
 * (a TypeError such as "Cannot read properties of undefined"), which says nothing to a person: that becomes
 * "its content is damaged", with the library's error kept as the cause for debugging.
 */
export function parserFailureReason(err: unknown): string {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) {
    return 'its content is damaged (the parser could not follow its structure)';
  }
  const message = err instanceof Error ? err.message : String(err);
  // Some parsers put raw bytes of the damaged input in their messages.
  const printable = [...message]
    .map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch))
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
  return printable || 'its content is damaged';
}
