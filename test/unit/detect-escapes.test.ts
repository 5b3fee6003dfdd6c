/** The two escape dialects the detector decodes (src/detect/escapes.ts): where Python and bash $'…' differ, and where they agree. */
import { describe, expect, it } from 'vitest';
import { ANSI_C_ESCAPES, PYTHON_ESCAPES, decodeEscapes } from '../../src/detect/escapes.js';

const py = (s: string) => decodeEscapes(s, PYTHON_ESCAPES);
const sh = (s: string) => decodeEscapes(s, ANSI_C_ESCAPES);

describe('backslash escapes', () => {
  it('agree on the one-letter escapes, octal (low byte) and full-width hex', () => {
    for (const d of [py, sh]) {
      expect(d('r\\x6d -rf \\057')).toBe('rm -rf /');
      expect(d('\\n\\t\\r\\a\\b\\f\\v')).toBe('\n\t\r\x07\b\f\v');
      expect(d('\\u0072\\U0001F642')).toBe('r🙂');
      expect(d('\\563')).toBe('s'); // 0o563 & 0xff = 0x73
      expect(d('trailing \\')).toBe('trailing \\');
    }
  });

  it('Python: \\x, \\u, \\U take exactly their digits; unknown escapes keep the backslash; \\<newline> joins lines', () => {
    expect(py('\\x4')).toBe('\\x4');
    expect(py('\\u41')).toBe('\\u41');
    expect(py('\\U00110000')).toBe('\\U00110000');
    expect(py('\\e\\q\\8')).toBe('\\e\\q\\8');
    expect(py('a\\\nb')).toBe('ab');
    expect(py('\\\\ \\\' \\"')).toBe('\\ \' "');
  });

  it('bash $\'…\': one digit or more; \\e is ESC; unknown escapes lose the backslash; a code point past U+10FFFF is dropped', () => {
    expect(sh('\\x4')).toBe('\x04');
    expect(sh('\\u41x')).toBe('Ax');
    expect(sh('\\U00110000z')).toBe('z');
    expect(sh('\\e\\E')).toBe('\x1b\x1b');
    expect(sh('\\q\\8\\\\')).toBe('q8\\');
    expect(sh('\\xg')).toBe('\\xg');
  });
});
