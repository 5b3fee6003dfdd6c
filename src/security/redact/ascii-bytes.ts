/**
 * The UTF-8 bytes of a text when it is pure ASCII (then byte i is character i), else undefined.
 * The redactor's one-pass scanners read bytes from a Buffer about twice as fast as characters through
 * charCodeAt; the last text's bytes are kept because several scanners look at the same text in turn.
 */

/** Longer texts are scanned as strings: no copy of a multi-megabyte output is made or kept. */
const MAX_CHARS = 64 * 1024;

let lastText: string | undefined;
let lastBytes: Uint8Array | undefined;

export function asciiBytes(text: string): Uint8Array | undefined {
  if (text === lastText) return lastBytes;
  if (text.length > MAX_CHARS) return undefined;
  const bytes = Buffer.from(text, 'utf8');
  lastText = text;
  lastBytes = bytes.length === text.length ? bytes : undefined;
  return lastBytes;
}
