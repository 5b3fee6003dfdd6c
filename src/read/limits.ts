/**
 * Bounds on what the readers accept (stated in `oi-audit verify --help`). Past any of them the input
 * is refused with an InputError naming file and line (exit 2), before the work or memory grows.
 */
export const READ_LIMITS = Object.freeze({
  /** One JSON line, or one whole Loki answer. */
  maxLineBytes: 64 * 1024 * 1024,
  /** Decompressed size of one gzip file: a gzip bomb stops here. */
  maxDecompressedBytes: 256 * 1024 * 1024,
  /** Nesting of a JSON document or of an audit body (deeper is no oi-audit output, and recursion elsewhere would overflow). */
  maxDepth: 256,
});

/**
 * Whether JSON text nests deeper than `max` (arrays and objects, outside strings). One pass, no
 * recursion, so it is safe on hostile input; run before anything recursive sees the text.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
