/**
 * The UTF-8 bytes of a text, made once for the several steps of one capture that need them (its
 * byte length, its SHA-256, the redactor's byte scanners): the last text's bytes are kept.
 */

/** Longer texts are not copied to bytes here: a multi-megabyte output must not be held twice. */
export const UTF8_MEMO_MAX_CHARS = 64 * 1024;

let lastText: string | undefined;
let lastBytes: Buffer | undefined;

/** UTF-8 of `text` (at most UTF8_MEMO_MAX_CHARS characters); the same Buffer for the same text. */
export function utf8Bytes(text: string): Buffer {
  if (text === lastText && lastBytes) return lastBytes;
  const bytes = Buffer.from(text, 'utf8');
  if (text.length <= UTF8_MEMO_MAX_CHARS) {
    lastText = text;
    lastBytes = bytes;
  }
  return bytes;
}

/**
 * The bytes of a pure-ASCII text (then byte i is character i), else undefined. The redactor's
 * one-pass scanners read bytes about twice as fast as characters through charCodeAt.
 */
export function asciiBytes(text: string): Uint8Array | undefined {
  if (text.length > UTF8_MEMO_MAX_CHARS) return undefined;
  const bytes = utf8Bytes(text);
  return bytes.length === text.length ? bytes : undefined;
}
