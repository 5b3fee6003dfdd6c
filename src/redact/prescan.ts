import { asciiBytes } from './utf8-bytes.js';
import { BASE64_MIN, HEX, rememberTokenRuns, TOKEN } from './token-runs.js';

/**
 * One pass over a text collecting what the redactor's fast paths need: which keywords occur (the rules'
 * prefilter) and where (the anchored rules start there), and the long runs of token characters (the
 * high-entropy scanners read them).
 *
 * Written by hand (Aho–Corasick over a full transition table, ASCII case-folded) because the
 * alternatives cost more than the rules they gate: an `includes` per keyword scanned a 1 KiB text ~60
 * times (17 µs), one regex alternation of all keywords 6–9 µs, and each anchored rule's own keyword
 * regex and each scanner's own loop went over the text again. Keywords with characters outside ASCII
 * (possible in a user's extra rules) are looked up in the lower-cased text, without positions.
 */

/** ASCII; a state's row in the table starts at state << 7. */
const ALPHABET = 128;

/**
 * One table of character classes for the byte loop (one lookup per byte): token characters and hex
 * digits (see token-runs.ts), and the ASCII characters the redactor skips while matching (C0 controls
 * but TAB, LF and CR, and DEL: the ASCII part of HIDDEN_TEST in views.ts).
 */
const TOKEN_CHAR = 1;
const HEX_CHAR = 2;
const HIDDEN_CHAR = 4;
/** Digits, and the separators a card number may have between them: runs of these hold card numbers. */
const DIGIT_CHAR = 8;
const NUMBER_SEPARATOR = 16;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const hidden = (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f;
  const digit = c >= 0x30 && c <= 0x39;
  CLASS[c] =
    (TOKEN[c] ? TOKEN_CHAR : 0) |
    (HEX[c] ? HEX_CHAR : 0) |
    (hidden ? HIDDEN_CHAR : 0) |
    (digit ? DIGIT_CHAR : 0) |
    (c === 0x20 || c === 0x2d ? NUMBER_SEPARATOR : 0);
}

let digitsText: string | undefined;
let digitsMax = 0;

/**
 * The most digits in one run of digits, spaces and dashes of `text`, when the last prescan was of
 * this text (ASCII only), else undefined. A payment card number needs 13 in one such run, so the
 * card scanner skips texts that have none.
 */
export function maxDigitsInNumberRun(text: string): number | undefined {
  return text === digitsText ? digitsMax : undefined;
}

/** More keyword occurrences than this in one text (a flood): positions are dropped, anchors search. */
const MAX_OCCURRENCES = 4096;

/** What one scan found. It is valid until the same prescanner scans again (its buffers are reused). */
export interface Prescan {
  /** present[id] is 1 when keyword `id` (see Prescanner.index) occurs in the text. */
  present: Uint8Array;
  /**
   * Whether the text has characters the redactor skips while matching (C0 controls but TAB, LF and
   * CR, DEL: the ASCII ones); undefined when the text is not ASCII (the redactor then checks itself).
   */
  hidden: boolean | undefined;
  /**
   * The start positions of the occurrences of the given keywords, in increasing order (overlapping
   * ones included); undefined when one of them is outside ASCII or the text had too many occurrences
   * to keep.
   */
  startsOf(ids: ArrayLike<number>): number[] | undefined;
}

export interface Prescanner {
  /** Index of each (lower-cased) keyword in Prescan.present. */
  readonly index: ReadonlyMap<string, number>;
  scan(text: string): Prescan;
}

export function createPrescanner(keywords: readonly string[]): Prescanner {
  const unique = [...new Set(keywords.map((k) => k.toLowerCase()).filter((k) => k.length > 0))];
  const index = new Map(unique.map((k, i) => [k, i]));
  const isAscii = (k: string) => /^[\u0000-\u007f]+$/.test(k);
  const ascii = unique.filter(isAscii).map((k) => index.get(k)!);
  const other = unique.filter((k) => !isAscii(k));
  const { delta, outputs } = keywordAutomaton(unique, ascii);
  const present = new Uint8Array(unique.length);
  const occ = new Occurrences(
    present,
    outputs,
    unique.map((k) => k.length),
    new Set(ascii),
  );
  const startsOf = (ids: ArrayLike<number>): number[] | undefined => occ.startsOf(ids);

  return {
    index,
    scan(text) {
      // Reused: a scan's result is read before the next scan (see Prescan).
      present.fill(0);
      occ.count = 0;
      const len = text.length;
      const bytes = asciiBytes(text);
      let hidden: boolean | undefined;
      if (bytes) hidden = scanBytes(delta, occ, bytes, len, text);
      else if (ascii.length > 0) scanChars(delta, occ, text, len);
      if (other.length > 0) {
        const lower = text.toLowerCase();
        for (const k of other) if (lower.includes(k)) present[index.get(k)!] = 1;
      }
      return { present, hidden, startsOf };
    },
  };
}

/**
 * The Aho–Corasick automaton of the ASCII keywords (`ascii` holds their ids in `unique`) as a full
 * transition table: `delta[state << 7 | c]` is the next state, stored as `~state` (negative) when a
 * keyword ends there, so the scanning loops learn both from one load; `outputs[state]` lists the
 * keywords ending in that state.
 */
function keywordAutomaton(unique: readonly string[], ascii: readonly number[]): { delta: Int32Array; outputs: number[][] } {
  // Trie (goto function). State 0 is the root.
  const next: Int32Array[] = [new Int32Array(ALPHABET).fill(-1)];
  const outputs: number[][] = [[]];
  ascii.forEach((id) => {
    const k = unique[id]!;
    let s = 0;
    for (let j = 0; j < k.length; j++) {
      const c = k.charCodeAt(j);
      let t = next[s]![c]!;
      if (t === -1) {
        t = next.length;
        next.push(new Int32Array(ALPHABET).fill(-1));
        outputs.push([]);
        next[s]![c] = t;
      }
      s = t;
    }
    outputs[s]!.push(id);
  });

  // Failure links breadth-first, turning the trie into a full transition table (a DFA).
  const states = next.length;
  const delta = new Int32Array(states * ALPHABET);
  const fail = new Int32Array(states);
  const queue: number[] = [];
  for (let c = 0; c < ALPHABET; c++) {
    const t = next[0]![c]!;
    if (t === -1) delta[c] = 0;
    else {
      delta[c] = t;
      fail[t] = 0;
      queue.push(t);
    }
  }
  for (let q = 0; q < queue.length; q++) {
    const s = queue[q]!;
    outputs[s]!.push(...outputs[fail[s]!]!);
    for (let c = 0; c < ALPHABET; c++) {
      const t = next[s]![c]!;
      if (t === -1) delta[s * ALPHABET + c] = delta[fail[s]! * ALPHABET + c]!;
      else {
        delta[s * ALPHABET + c] = t;
        fail[t] = delta[fail[s]! * ALPHABET + c]!;
        queue.push(t);
      }
    }
  }
  // Case folding: an upper-case letter goes where its lower-case letter goes.
  for (let s = 0; s < states; s++) {
    for (let c = 0x41; c <= 0x5a; c++) delta[s * ALPHABET + c] = delta[s * ALPHABET + c + 0x20]!;
  }
  // A transition into a state where a keyword ends is stored as ~state (negative): the loops learn
  // both the next state and whether to record from one load.
  for (let i = 0; i < delta.length; i++) if (outputs[delta[i]!]!.length > 0) delta[i] = ~delta[i]!;

  return { delta, outputs };
}

/** The keyword occurrences of the current scan as (keyword id, end index) pairs; reused from scan to scan. */
class Occurrences {
  readonly ids = new Int32Array(MAX_OCCURRENCES);
  readonly ends = new Int32Array(MAX_OCCURRENCES);
  count = 0;

  constructor(
    private readonly present: Uint8Array,
    private readonly outputs: readonly (readonly number[])[],
    private readonly lengths: readonly number[],
    private readonly asciiIds: ReadonlySet<number>,
  ) {}

  /** The keywords ending at `end` in state `s` (called only where one does, so the loops stay small). */
  record(s: number, end: number): void {
    for (const id of this.outputs[s]!) {
      this.present[id] = 1;
      if (this.count < MAX_OCCURRENCES) {
        this.ids[this.count] = id;
        this.ends[this.count] = end;
      }
      this.count++;
    }
  }

  startsOf(ids: ArrayLike<number>): number[] | undefined {
    const count = this.count;
    if (count > MAX_OCCURRENCES) return undefined;
    for (let k = 0; k < ids.length; k++) if (!this.asciiIds.has(ids[k]!)) return undefined;
    const out: number[] = [];
    let sorted = true;
    for (let j = 0; j < count; j++) {
      const id = this.ids[j]!;
      for (let k = 0; k < ids.length; k++) {
        if (ids[k] === id) {
          const start = this.ends[j]! - this.lengths[id]! + 1;
          if (out.length > 0 && start < out[out.length - 1]!) sorted = false;
          out.push(start);
          break;
        }
      }
    }
    // Reported at their ends: starts of keywords of different lengths can be out of order.
    if (!sorted) out.sort((x, y) => x - y);
    return out;
  }
}

/**
 * The byte loop over an ASCII text: keywords, the token runs (for the high-entropy scanners) and the
 * longest digit run (for the card scanner). Returns whether a hidden character was seen.
 */
function scanBytes(delta: Int32Array, occ: Occurrences, bytes: Uint8Array, len: number, text: string): boolean {
  const runs: number[] = [];
  let s = 0;
  let runStart = -1;
  let allHex = 0;
  let hiddenSeen = 0;
  let runDigits = 0;
  let maxDigits = 0;
  for (let i = 0; i < len; i++) {
    const b = bytes[i]!;
    s = delta[(s << 7) | b]!;
    if (s < 0) {
      s = ~s;
      occ.record(s, i);
    }
    const cls = CLASS[b]!;
    hiddenSeen |= cls;
    if ((cls & (DIGIT_CHAR | NUMBER_SEPARATOR)) !== 0) {
      if ((cls & DIGIT_CHAR) !== 0) runDigits++;
    } else if (runDigits !== 0) {
      if (runDigits > maxDigits) maxDigits = runDigits;
      runDigits = 0;
    }
    if ((cls & TOKEN_CHAR) !== 0) {
      if (runStart < 0) {
        runStart = i;
        allHex = cls & HEX_CHAR;
      } else allHex &= cls;
    } else if (runStart >= 0) {
      if (i - runStart >= BASE64_MIN) runs.push(runStart, i, allHex === 0 ? 0 : 1);
      runStart = -1;
    }
  }
  if (runStart >= 0 && len - runStart >= BASE64_MIN) runs.push(runStart, len, allHex === 0 ? 0 : 1);
  rememberTokenRuns(text, runs);
  digitsText = text;
  digitsMax = runDigits > maxDigits ? runDigits : maxDigits;
  return (hiddenSeen & HIDDEN_CHAR) !== 0;
}

/** The keyword loop over a text with characters outside ASCII. */
function scanChars(delta: Int32Array, occ: Occurrences, text: string, len: number): void {
  let s = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    // Outside ASCII no keyword can continue: back to the root.
    s = c < ALPHABET ? delta[(s << 7) | c]! : 0;
    if (s < 0) {
      s = ~s;
      occ.record(s, i);
    }
  }
}
