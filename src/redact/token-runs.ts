import type { Span } from './redactor.js';

/**
 * Scanners for the high-entropy rules, which have no keyword to anchor on and so would otherwise try a
 * regex at every position of every text (they were the largest cost of an audit event). One pass over
 * the characters finds the maximal runs of base64/base64url characters; the spans are exactly those of
 * the reference patterns kept next to each scanner (test/unit/redact-fast-paths.test.ts checks this).
 */

/** `[A-Za-z0-9+/_-]`: the characters of a base64 or base64url token. */
export const TOKEN = new Uint8Array(128);
/** `[0-9a-fA-F]`. */
export const HEX = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  TOKEN[c] = /[A-Za-z0-9+/_-]/.test(ch) ? 1 : 0;
  HEX[c] = /[0-9a-fA-F]/.test(ch) ? 1 : 0;
}
const EQUALS = 0x3d;
/** Runs shorter than this match neither rule (the shorter of the two minimums). */
export const BASE64_MIN = 20;
const BASE64_MAX = 4096;
const HEX_MIN = 32;
const HEX_MAX = 4096;
/** Longer texts are not kept between the two scans (a 50 MB output must not stay referenced). */
const MEMO_MAX_CHARS = 256 * 1024;

/**
 * The maximal runs of token characters of at least 20 (the shorter of the two rules' minimums), as
 * [start, end, allHex] triples. The redactor's prescan (prescan.ts) finds them for ASCII texts in its
 * own pass and hands them over; this loop serves other texts. Both rules scan the same text one after
 * the other, so the runs of the last text are kept and reused.
 */
let memoText: string | undefined;
let memoRuns: number[] = [];

function longTokenRuns(text: string): number[] {
  if (text === memoText) return memoRuns;
  const runs: number[] = [];
  const len = text.length;
  let i = 0;
  while (i < len) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) {
      i++;
      continue;
    }
    const start = i;
    let allHex = HEX[c]!;
    i++;
    while (i < len) {
      const d = text.charCodeAt(i);
      if (d >= 128 || TOKEN[d] === 0) break;
      allHex &= HEX[d]!;
      i++;
    }
    if (i - start >= BASE64_MIN) runs.push(start, i, allHex);
  }
  rememberTokenRuns(text, runs);
  return runs;
}

/** Keep the runs of `text` for the scanners (the prescan calls this with the runs it found). */
export function rememberTokenRuns(text: string, runs: number[]): void {
  if (text.length <= MEMO_MAX_CHARS) {
    memoText = text;
    memoRuns = runs;
  }
}

/** Reference definition of scanBase64Tokens. */
export const BASE64_TOKEN_PATTERN = /[A-Za-z0-9+/_-]{20,4096}={0,2}/g;

/**
 * What BASE64_TOKEN_PATTERN matches: each run of token characters is cut into pieces of at most 4096,
 * a piece of at least 20 is a match, and the last piece of a run takes up to two `=` after it.
 */
export function scanBase64Tokens(text: string): Span[] {
  const runs = longTokenRuns(text);
  const out: Span[] = [];
  const len = text.length;
  for (let r = 0; r < runs.length; r += 3) {
    const end = runs[r + 1]!;
    let pos = runs[r]!;
    while (end - pos >= BASE64_MIN) {
      let stop = pos + Math.min(end - pos, BASE64_MAX);
      if (stop === end) {
        if (stop < len && text.charCodeAt(stop) === EQUALS) stop++;
        if (stop < len && text.charCodeAt(stop) === EQUALS) stop++;
      }
      out.push([pos, stop]);
      pos = stop;
    }
  }
  return out;
}

/**
 * Reference definition of scanHexTokens: a run of 32–4096 hex digits between characters that are not
 * letters or digits. Bounded by alphanumerics, not by the token class, so hex inside a URL path
 * (`/s/<64 hex>/v1`) or after a `prefix_` counts too.
 */
export const HEX_TOKEN_PATTERN = /(?<![A-Za-z0-9])[0-9a-fA-F]{32,4096}(?![A-Za-z0-9])/g;

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * What HEX_TOKEN_PATTERN matches: in every run of token characters of at least 32, each maximal
 * alphanumeric segment (split at `+`, `/`, `_`, `-`) that is 32–4096 hex digits. A hex segment of 32
 * lies inside a token run of at least 32 (the separators are token characters), so the runs the
 * prescan kept are enough.
 */
export function scanHexTokens(text: string): Span[] {
  return hexSegments(text, HEX_MIN, HEX_MAX);
}

function hexSegments(text: string, min: number, max: number): Span[] {
  const runs = longTokenRuns(text);
  const out: Span[] = [];
  for (let r = 0; r < runs.length; r += 3) {
    const start = runs[r]!;
    const end = runs[r + 1]!;
    if (end - start < min) continue;
    if (runs[r + 2] === 1) {
      if (end - start <= max) out.push([start, end]);
      continue;
    }
    let i = start;
    while (i < end) {
      if (!isAlnum(text.charCodeAt(i))) {
        i++;
        continue;
      }
      const s = i;
      let hex = true;
      while (i < end) {
        const c = text.charCodeAt(i);
        if (!isAlnum(c)) break;
        if (HEX[c] === 0) hex = false;
        i++;
      }
      const n = i - s;
      if (hex && n >= min && n <= max) out.push([s, i]);
    }
  }
  return out;
}

/** Longest encoded run decoded (a larger blob is not a credential, and decoding it would cost). */
const ENCODED_MAX = 64 * 1024;

/**
 * Candidates for the base64-encoded-secret rule: the runs of at least 20 token characters (with their
 * `=` padding), consecutive lines of a wrapped blob (`base64` wraps at 76) joined into one when each
 * line but the last is a whole number of quads.
 */
export function scanBase64Runs(text: string): Span[] {
  const runs = longTokenRuns(text);
  const out: Span[] = [];
  const len = text.length;
  let open: [number, number] | undefined;
  for (let r = 0; r < runs.length; r += 3) {
    const start = runs[r]!;
    let end = runs[r + 1]!;
    if (end < len && text.charCodeAt(end) === EQUALS) end++;
    if (end < len && text.charCodeAt(end) === EQUALS) end++;
    if (open) {
      const gap = text.slice(open[1], start);
      if (
        (gap === '\n' || gap === '\r\n') &&
        (open[1] - open[0]) % 4 === 0 &&
        text.charCodeAt(open[1] - 1) !== EQUALS &&
        end - open[0] <= ENCODED_MAX
      ) {
        open[1] = end;
        continue;
      }
      out.push(open);
    }
    open = [start, end];
  }
  if (open) out.push(open);
  return out.filter(([s, e]) => e - s <= ENCODED_MAX);
}

/** Whether a character code is printable ASCII or TAB/LF/CR: what decoded text must consist of. */
function printable(b: number): boolean {
  return (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** Base64 values of the characters that may start a quad encoding an ASCII byte (top bit 0): A–Z a–f. */
function quadLeadAscii(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x66);
}

function decodeBase64Piece(piece: string): string | undefined {
  if (piece.length < 16) return undefined;
  // In base64 of ASCII, every quad's first character encodes a byte's top six bits, < 32: a cheap
  // rejection of identifiers and paths before decoding.
  for (let i = 0; i < piece.length; i += 4) if (!quadLeadAscii(piece.charCodeAt(i))) return undefined;
  const bytes = Buffer.from(piece, 'base64');
  if (bytes.length < 12) return undefined;
  for (let i = 0; i < bytes.length; i++) if (!printable(bytes[i]!)) return undefined;
  return bytes.toString('latin1');
}

/**
 * The text a base64 candidate encodes, when it is printable ASCII; undefined otherwise. A run that is
 * not aligned as a whole (a URL path, `prefix/…`) is tried piece by piece between its `/`.
 */
export function decodeBase64Text(candidate: string): string | undefined {
  const joined = candidate.replace(/[\r\n]/g, '');
  const whole = decodeBase64Piece(joined);
  if (whole !== undefined || !joined.includes('/')) return whole;
  const pieces = joined
    .split('/')
    .map(decodeBase64Piece)
    .filter((p): p is string => p !== undefined);
  return pieces.length > 0 ? pieces.join('\n') : undefined;
}

/**
 * Candidates for the hex-encoded-secret rule: alphanumeric-bounded hex segments of 20–65536 digits
 * inside the token runs the prescan kept (as scanHexTokens, no regex pass of its own).
 */
export function scanHexRuns(text: string): Span[] {
  return hexSegments(text, BASE64_MIN, ENCODED_MAX);
}

/** The text a hex candidate encodes, when it is printable ASCII (every byte's high digit 0–7). */
export function decodeHexText(candidate: string): string | undefined {
  if (candidate.length % 2 !== 0 || candidate.length < 16) return undefined;
  for (let i = 0; i < candidate.length; i += 2) {
    const c = candidate.charCodeAt(i);
    if (c < 0x30 || c > 0x37) return undefined;
  }
  const bytes = Buffer.from(candidate, 'hex');
  for (let i = 0; i < bytes.length; i++) if (!printable(bytes[i]!)) return undefined;
  return bytes.toString('latin1');
}
