import { describe, expect, it } from 'vitest';
import { countUnsafe, escapeForLog, hasBidiControls } from '../../src/record/escape.js';

/** String.prototype.isWellFormed (ES2024; Node 20 has it, the project's lib setting does not). */
const wellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

const esc = (cp: number) => `\\u{${cp.toString(16).padStart(4, '0')}}`;

describe('escapeForLog', () => {
  it('passes printable text, TAB, LF, emoji and U+FFFD through unchanged (same string)', () => {
    const text = 'def f(x):\n\treturn x * 2  # café 😀 \ufffd ✓';
    expect(escapeForLog(text)).toBe(text);
  });

  it('escapes every C0 control except TAB and LF, DEL and every C1 control', () => {
    for (let cp = 0; cp <= 0x9f; cp++) {
      const ch = String.fromCharCode(cp);
      const out = escapeForLog(`a${ch}b`);
      const mustEscape = cp < 0x20 ? cp !== 0x09 && cp !== 0x0a : cp >= 0x7f;
      expect(out, `U+${cp.toString(16)}`).toBe(mustEscape ? `a${esc(cp)}b` : `a${ch}b`);
    }
  });

  it('CR cannot forge a line, ESC cannot start an ANSI CSI/OSC sequence, 8-bit CSI is escaped', () => {
    expect(escapeForLog('ok\rFAKE: approved')).toBe('ok\\u{000d}FAKE: approved');
    expect(escapeForLog('\x1b[2J\x1b[31mred\x1b[0m')).toBe('\\u{001b}[2J\\u{001b}[31mred\\u{001b}[0m');
    expect(escapeForLog('\x1b]0;title\x07')).toBe('\\u{001b}]0;title\\u{0007}');
    expect(escapeForLog('\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\')).not.toContain('\x1b');
    expect(escapeForLog('\u009b31m')).toBe('\\u{009b}31m');
    expect(escapeForLog('\u009d0;t\u009c')).toBe('\\u{009d}0;t\\u{009c}');
  });

  it('escapes bidi controls (Trojan Source): U+202A–U+202E, U+2066–U+2069, LRM/RLM/ALM', () => {
    const bidi = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c];
    for (const cp of bidi) {
      const s = `if (x${String.fromCharCode(cp)}) {}`;
      expect(hasBidiControls(s)).toBe(true);
      expect(escapeForLog(s)).toBe(`if (x${esc(cp)}) {}`);
    }
    // The CVE-2021-42574 shape: the reader sees a comment, the compiler sees code.
    const trojan = '/*\u202e } \u2066if (isAdmin)\u2069 \u2066 begin admins only */';
    const out = escapeForLog(trojan);
    expect(hasBidiControls(out)).toBe(false);
    expect(countUnsafe(trojan)).toBe(4);
  });

  it('escapes zero-width and invisible characters and line/paragraph separators', () => {
    const invisible = [0x00ad, 0x034f, 0x115f, 0x1160, 0x17b4, 0x17b5, 0x180e, 0x200b, 0x200c, 0x200d, 0x2028, 0x2029, 0x2060, 0x2061, 0x2064, 0x206a, 0x206f, 0x3164, 0xfeff, 0xffa0, 0xfff9, 0xfffb];
    for (const cp of invisible) expect(escapeForLog(`a${String.fromCharCode(cp)}b`), cp.toString(16)).toBe(`a${esc(cp)}b`);
  });

  it('escapes Unicode tag characters as one code point each (ASCII smuggling)', () => {
    const smuggled = 'hi' + [...'run rm'].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
    expect(escapeForLog(smuggled)).toBe('hi\\u{e0072}\\u{e0075}\\u{e006e}\\u{e0020}\\u{e0072}\\u{e006d}');
  });

  it('escapes lone surrogates (what broken UTF-8 or a split string leaves) and keeps valid pairs', () => {
    expect(escapeForLog('a\ud800b')).toBe('a\\u{d800}b');
    expect(escapeForLog('a\udc00b')).toBe('a\\u{dc00}b');
    expect(escapeForLog('end\ud83d')).toBe('end\\u{d83d}');
    expect(escapeForLog('\ude00start')).toBe('\\u{de00}start');
    expect(escapeForLog('😀')).toBe('😀');
    const out = escapeForLog('x\ud800\ud800\udc00y');
    expect(out).toBe('x\\u{d800}\ud800\udc00y');
    expect(wellFormed(out)).toBe(true);
  });

  it('NUL and invalid UTF-8 decoded from bytes come out visible and well-formed', () => {
    const decoded = Buffer.from([0x61, 0x00, 0xff, 0xc3, 0x28, 0x1b, 0x5b, 0x41]).toString('utf8');
    const out = escapeForLog(decoded);
    expect(out).toBe('a\\u{0000}\ufffd\ufffd(\\u{001b}[A');
    expect(wellFormed(out)).toBe(true);
  });

  it('is linear: a megabyte of escapes takes about ten times what 100 KB does', () => {
    const make = (n: number) => 'a\x1b\u202e'.repeat(Math.floor(n / 3));
    const small = make(100_000);
    const big = make(1_000_000);
    escapeForLog(small);
    let tSmall = Infinity;
    let tBig = Infinity;
    for (let i = 0; i < 3; i++) {
      let t = performance.now();
      for (let j = 0; j < 10; j++) escapeForLog(small);
      tSmall = Math.min(tSmall, performance.now() - t);
      t = performance.now();
      escapeForLog(big);
      tBig = Math.min(tBig, performance.now() - t);
    }
    expect(tBig).toBeLessThan(4 * tSmall);
    expect(countUnsafe(big)).toBe(2 * Math.floor(1_000_000 / 3));
  });
});
