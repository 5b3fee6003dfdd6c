/**
 * The views of a text the redaction rules are matched against. A secret can reach a record in a form
 * no rule matches as stored: split by an ANSI colour code or a NUL, behind a zero-width character, or
 * JSON/percent-escaped (`\u0041KIA…`, `\"`, `\n` running into the next key in a JSON-encoded LLM
 * request). Each view is the text with those layers taken off, plus where each of its characters came
 * from, so a match in any view redacts the whole span of the stored text it was read from.
 */

/** A view and, per view character, the stored text's `[start, end)` it came from (undefined: the text itself). */
export interface TextView {
  text: string;
  starts: Int32Array | undefined;
  ends: Int32Array | undefined;
}

/**
 * Characters that may sit inside a secret without the reader seeing them: C0 controls but TAB/LF/CR,
 * DEL, C1, soft hyphen, zero-width, bidi and invisible format characters, Unicode tags.
 */
export const HIDDEN_TEST =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]|\udb40[\udc00-\udc7f]/;

function isHidden(c: number): boolean {
  return (
    c <= 0x08 ||
    c === 0x0b ||
    c === 0x0c ||
    (c >= 0x0e && c <= 0x1f) ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0xad ||
    (c >= 0x200b && c <= 0x200f) ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2060 && c <= 0x2064) ||
    (c >= 0x2066 && c <= 0x206f) ||
    c === 0xfeff
  );
}

/** Longest OSC/DCS payload treated as one sequence (a title, a hyperlink target). */
const STRING_SEQUENCE_MAX = 4096;

/**
 * Length of the escape sequence starting with ESC at i: CSI (`ESC [` params intermediates final),
 * OSC/DCS/SOS/PM/APC (`ESC ]`/`P`/`X`/`^`/`_` … BEL or `ESC \`) with `payload` its inside, or a
 * two/three-character escape (`ESC (B`, `ESC 7`). 1 when nothing valid follows (a lone ESC).
 */
function escapeLength(text: string, i: number): { length: number; payload?: [number, number] } {
  const len = text.length;
  const c1 = text.charCodeAt(i + 1);
  if (c1 === 0x5b) {
    let j = i + 2;
    for (let k = 0; k < 32 && j < len; k++, j++) {
      const c = text.charCodeAt(j);
      if (c < 0x30 || c > 0x3f) break;
    }
    for (let k = 0; k < 8 && j < len; k++, j++) {
      const c = text.charCodeAt(j);
      if (c < 0x20 || c > 0x2f) break;
    }
    const f = text.charCodeAt(j);
    return { length: f >= 0x40 && f <= 0x7e ? j + 1 - i : 1 };
  }
  if (c1 === 0x5d || c1 === 0x50 || c1 === 0x58 || c1 === 0x5e || c1 === 0x5f) {
    const stop = Math.min(len, i + 2 + STRING_SEQUENCE_MAX);
    for (let j = i + 2; j < stop; j++) {
      const c = text.charCodeAt(j);
      if (c === 0x07) return { length: j + 1 - i, payload: [i + 2, j] };
      if (c === 0x1b && text.charCodeAt(j + 1) === 0x5c) return { length: j + 2 - i, payload: [i + 2, j] };
      if (c === 0x1b || c === 0x0a) break;
    }
    return { length: 2 };
  }
  let j = i + 1;
  for (let k = 0; k < 4 && j < len; k++, j++) {
    const c = text.charCodeAt(j);
    if (c < 0x20 || c > 0x2f) break;
  }
  const f = text.charCodeAt(j);
  return { length: f >= 0x30 && f <= 0x7e ? j + 1 - i : 1 };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A string from UTF-16 code units, lone surrogates kept. */
function fromUnits(units: Uint16Array, n: number): string {
  // UTF-16LE decoding copies code units as they are; a Uint16Array is little-endian on LE hosts.
  if (LITTLE_ENDIAN) return Buffer.from(units.buffer, units.byteOffset, n * 2).toString('utf16le');
  const parts: string[] = [];
  for (let i = 0; i < n; i += 8192) parts.push(String.fromCharCode(...units.subarray(i, Math.min(n, i + 8192))));
  return parts.join('');
}

/** Builds a view character by character, composing positions with the input view's own map. */
class ViewBuilder {
  private readonly units: Uint16Array;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private n = 0;
  constructor(
    capacity: number,
    private readonly base: TextView,
  ) {
    this.units = new Uint16Array(capacity);
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
  }
  /** One view character read from the input's `[from, to)`. */
  push(unit: number, from: number, to: number): void {
    const b = this.base;
    this.units[this.n] = unit;
    this.starts[this.n] = b.starts ? b.starts[from]! : from;
    this.ends[this.n] = b.ends ? b.ends[to - 1]! : to;
    this.n++;
  }
  done(): TextView {
    const n = this.n;
    return { text: fromUnits(this.units, n), starts: this.starts.subarray(0, n), ends: this.ends.subarray(0, n) };
  }
}

/**
 * The view with hidden characters and terminal escape sequences taken off. `join` removes them
 * entirely, OSC/DCS payloads included (what a terminal shows: a key split by a colour code reads
 * whole); `split` puts a space where each sequence was and keeps the payloads (a title or hyperlink
 * target is matched on its own, not glued to the text around it). Undefined when there is nothing to
 * take off.
 */
export function stripHidden(view: TextView, mode: 'join' | 'split'): TextView | undefined {
  const text = view.text;
  if (!HIDDEN_TEST.test(text)) return undefined;
  if (mode === 'split' && !text.includes('\x1b')) return undefined;
  const len = text.length;
  const out = new ViewBuilder(len, view);
  let i = 0;
  while (i < len) {
    const c = text.charCodeAt(i);
    if (c === 0x1b) {
      const e = escapeLength(text, i);
      if (mode === 'split') {
        out.push(0x20, i, i + 1);
        if (e.payload) {
          for (let j = e.payload[0]; j < e.payload[1]; j++) {
            const d = text.charCodeAt(j);
            if (!isHidden(d)) out.push(d, j, j + 1);
          }
          out.push(0x20, e.payload[1], e.payload[1] + 1);
        }
      }
      i += e.length;
      continue;
    }
    if (isHidden(c)) {
      if (mode === 'split' && c === 0x07) out.push(0x20, i, i + 1);
      i++;
      continue;
    }
    if (c === 0xdb40) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdc7f) {
        i += 2;
        continue;
      }
    }
    out.push(c, i, i + 1);
    i++;
  }
  return out.done();
}

/** A backslash escape (JSON, JavaScript, Python) or a percent escape somewhere in the text. */
const ESCAPE_TEST = /\\(?:[nrtbfv0"'\\/]|u[0-9a-fA-F]{4}|u\{[0-9a-fA-F]{1,6}\}|x[0-9a-fA-F]{2})|%[0-9a-fA-F]{2}/;

const SIMPLE_ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, b: 8, f: 12, v: 11, '0': 0, '"': 34, "'": 39, '\\': 92, '/': 47 };

function hexValue(text: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const d = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
    if (d < 0 || d > 15) return -1;
    v = v * 16 + d;
  }
  return v;
}

/**
 * The view with one layer of backslash escapes (`\n`, `\"`, `\\`, `\uXXXX`, `\u{…}`, `\xXX`) and
 * percent escapes (`%41`) decoded, left to right as a JSON or URL decoder reads them. Undefined when
 * the text has none.
 */
export function decodeEscapes(view: TextView): TextView | undefined {
  const text = view.text;
  // indexOf skips to a `\` or `%` far faster than the regex (an alternation V8 tries at every position).
  if ((text.indexOf('\\') === -1 && text.indexOf('%') === -1) || !ESCAPE_TEST.test(text)) return undefined;
  const len = text.length;
  const out = new ViewBuilder(len, view);
  let i = 0;
  while (i < len) {
    const c = text.charCodeAt(i);
    if (c === 0x5c && i + 1 < len) {
      const d = text[i + 1]!;
      const simple = SIMPLE_ESCAPES[d];
      if (simple !== undefined) {
        out.push(simple, i, i + 2);
        i += 2;
        continue;
      }
      if (d === 'u' && text.charCodeAt(i + 2) === 0x7b) {
        const close = text.indexOf('}', i + 3);
        const v = close > i + 3 && close <= i + 9 ? hexValue(text, i + 3, close) : -1;
        if (v >= 0 && v <= 0x10ffff) {
          if (v > 0xffff) {
            out.push(0xd800 + ((v - 0x10000) >> 10), i, close + 1);
            out.push(0xdc00 + ((v - 0x10000) & 0x3ff), i, close + 1);
          } else out.push(v, i, close + 1);
          i = close + 1;
          continue;
        }
      } else if (d === 'u' || d === 'x') {
        const n = d === 'u' ? 4 : 2;
        const v = i + 2 + n <= len ? hexValue(text, i + 2, i + 2 + n) : -1;
        if (v >= 0) {
          out.push(v, i, i + 2 + n);
          i += 2 + n;
          continue;
        }
      }
    } else if (c === 0x25 && i + 2 < len) {
      const v = hexValue(text, i + 1, i + 3);
      if (v >= 0) {
        out.push(v, i, i + 3);
        i += 3;
        continue;
      }
    }
    out.push(c, i, i + 1);
    i++;
  }
  return out.done();
}

/** Decoding rounds: JSON inside JSON (a tool call's arguments in a request) is common, deeper is not. */
const DECODE_ROUNDS = 2;

/**
 * Every view of a text: as stored with hidden characters joined away (or the text itself), the same
 * with escape sequences as separators, and the same two of its escape-decoded forms (up to two rounds).
 * `noHidden`: the caller knows the text has no hidden character (the prescan saw none).
 */
export function viewsOf(text: string, noHidden = false): TextView[] {
  const stored: TextView = { text, starts: undefined, ends: undefined };
  const views: TextView[] = [];
  const addStripped = (v: TextView) => {
    if (v === stored && noHidden) {
      views.push(v);
      return;
    }
    views.push(stripHidden(v, 'join') ?? v);
    const split = stripHidden(v, 'split');
    if (split) views.push(split);
  };
  addStripped(stored);
  let current = stored;
  for (let round = 0; round < DECODE_ROUNDS; round++) {
    const decoded = decodeEscapes(current);
    if (!decoded) break;
    addStripped(decoded);
    current = decoded;
  }
  return views;
}
