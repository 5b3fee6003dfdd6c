/**
 * Log-injection defence (CWE-117, CWE-150, Trojan Source CVE-2021-42574) for text that goes into an
 * audit record. Characters that let logged text forge lines, drive a terminal, reorder what a reader
 * sees or hide content are *escaped*, never deleted: the record must still say that they were there.
 *
 * Escaped, each as the visible text `\u{XXXX}` (lower-case hex, at least 4 digits):
 * - C0 controls except TAB and LF: NUL, BEL, BS, VT, FF, CR, ESC (so every ANSI CSI `ESC [`,
 *   OSC `ESC ]` and DCS/APC/PM sequence loses its introducer and is left as inert text), …;
 * - DEL and the C1 controls U+0080–U+009F (which include the 8-bit CSI U+009B and OSC U+009D);
 * - bidi controls: U+061C, U+200E/U+200F, U+202A–U+202E (embeddings, overrides), U+2066–U+2069 (isolates);
 * - line and paragraph separators U+2028/U+2029 (line breaks in some viewers and JavaScript);
 * - zero-width and invisible characters: U+00AD, U+034F, U+115F/U+1160, U+17B4/U+17B5, U+180B–U+180F,
 *   U+200B–U+200D, U+2060–U+2064, U+206A–U+206F, U+3164, U+FEFF, U+FFA0, U+FFF9–U+FFFB;
 * - Unicode tag characters U+E0000–U+E007F (used to smuggle invisible ASCII);
 * - lone UTF-16 surrogates (what invalid UTF-8 or a split string leaves behind); RFC 8785 rejects them,
 *   so escaping them also keeps the record canonicalisable.
 *
 * TAB and LF are kept: they are structure in code and command output, and the JSON body escapes them
 * anyway. Everything else (printable text, emoji, U+FFFD) is passed through unchanged.
 *
 * The escape is not reversible on its own (text that already contains `\u{1b}` reads the same); the
 * record's SHA-256 of the original is what ties it to the raw content. Linear time: one regex pass
 * with no quantifiers.
 */
const UNSAFE =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]|\udb40[\udc00-\udc7f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Same set, for a cheap "anything to do?" test (no `g` flag, so no lastIndex state). */
const UNSAFE_TEST = new RegExp(UNSAFE.source);

function escapeOne(match: string): string {
  // A tag character arrives as a surrogate pair: escape the code point, not the two halves.
  const cp = match.length === 2 ? match.codePointAt(0)! : match.charCodeAt(0);
  return `\\u{${cp.toString(16).padStart(4, '0')}}`;
}

/** Escape control, bidi and invisible characters (see the module comment); everything else is unchanged. */
export function escapeForLog(text: string): string {
  if (!UNSAFE_TEST.test(text)) return text;
  return text.replace(UNSAFE, escapeOne);
}

/** How many characters escapeForLog would escape (for flags and counters). */
export function countUnsafe(text: string): number {
  if (!UNSAFE_TEST.test(text)) return 0;
  let n = 0;
  UNSAFE.lastIndex = 0;
  while (UNSAFE.exec(text) !== null) n++;
  UNSAFE.lastIndex = 0;
  return n;
}

/** True when the text contains a bidi control character (Trojan Source). */
export function hasBidiControls(text: string): boolean {
  return /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(text);
}
