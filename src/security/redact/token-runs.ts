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

/** Reference definition of scanHexTokens. */
export const HEX_TOKEN_PATTERN = /(?<![A-Za-z0-9+/_-])[0-9a-fA-F]{32,4096}(?![A-Za-z0-9+/_-])/g;

/** What HEX_TOKEN_PATTERN matches: every whole run of token characters that is 32–4096 hex digits. */
export function scanHexTokens(text: string): Span[] {
  const runs = longTokenRuns(text);
  const out: Span[] = [];
  for (let r = 0; r < runs.length; r += 3) {
    const n = runs[r + 1]! - runs[r]!;
    if (runs[r + 2] === 1 && n >= HEX_MIN && n <= HEX_MAX) out.push([runs[r]!, runs[r + 1]!]);
  }
  return out;
}
