/**
 * Backslash escapes in the two dialects the detector reads: Python string literals and bash's ANSI-C
 * quoting (`$'…'`). One walk: the one-letter escapes both know, octal (up to three digits, the low byte
 * kept), hex and code points; the dialects differ in how many digits `\x` `\u` `\U` take, in a few
 * letters, and in what an escape they do not know becomes. Linear in the input.
 */

export interface EscapeDialect {
  /** Letters beyond the common `n t r a b f v`, and what each stands for. */
  readonly letters: Readonly<Record<string, string>>;
  /** Hex digits after `\x`, `\u` and `\U`: [fewest, most]. */
  readonly digits: Readonly<Record<'x' | 'u' | 'U', readonly [number, number]>>;
  /** An unknown escape keeps its backslash (Python) or loses it (bash). */
  readonly keepUnknown: boolean;
  /** A code point past U+10FFFF: the escape kept as text (Python) or its digits dropped (bash). */
  readonly keepTooLarge: boolean;
}

const COMMON: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v' };

/** Python string literals (not raw): `\xhh` and `\uhhhh` `\Uhhhhhhhh` take exactly their digits; `\<newline>` joins lines. */
export const PYTHON_ESCAPES: EscapeDialect = {
  letters: { '\\': '\\', "'": "'", '"': '"', '\n': '' },
  digits: { x: [2, 2], u: [4, 4], U: [8, 8] },
  keepUnknown: true,
  keepTooLarge: true,
};

/** bash `$'…'`: `\e` is ESC, hex and code points take one digit or more. */
export const ANSI_C_ESCAPES: EscapeDialect = {
  letters: { e: '\x1b', E: '\x1b' },
  digits: { x: [1, 2], u: [1, 4], U: [1, 8] },
  keepUnknown: false,
  keepTooLarge: false,
};

const HEX_PATTERNS = new Map<string, RegExp>();

function hexPattern([min, max]: readonly [number, number]): RegExp {
  const key = `${min},${max}`;
  let re = HEX_PATTERNS.get(key);
  if (!re) HEX_PATTERNS.set(key, (re = new RegExp(`^[0-9a-fA-F]{${key}}`)));
  return re;
}

export function decodeEscapes(body: string, dialect: EscapeDialect): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\' || i + 1 >= body.length) {
      out += c;
      continue;
    }
    const n = body[++i]!;
    const letter = COMMON[n] ?? dialect.letters[n];
    if (letter !== undefined) {
      out += letter;
    } else if (n === 'x' || n === 'u' || n === 'U') {
      const range = dialect.digits[n];
      const m = hexPattern(range).exec(body.slice(i + 1, i + 1 + range[1]));
      const cp = m ? parseInt(m[0], 16) : -1;
      if (!m || (cp > 0x10ffff && dialect.keepTooLarge)) {
        out += `\\${n}`;
      } else {
        if (cp <= 0x10ffff) out += n === 'x' ? String.fromCharCode(cp) : String.fromCodePoint(cp);
        i += m[0].length;
      }
    } else if (n >= '0' && n <= '7') {
      const m = /^[0-7]{1,3}/.exec(body.slice(i, i + 3))!;
      out += String.fromCharCode(parseInt(m[0], 8) & 0xff);
      i += m[0].length - 1;
    } else {
      out += dialect.keepUnknown ? `\\${n}` : n;
    }
  }
  return out;
}
