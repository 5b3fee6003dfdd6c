/** The two escape dialects the detector decodes (src/detect/escapes.ts): where Python and bash $'…' agree, and where they differ. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ANSI_C_ESCAPES, PYTHON_ESCAPES, decodeEscapes } from '../../src/detect/escapes.js';

interface EscapeCase {
  input: string;
  python: string;
  bash: string;
  why: string;
}

const { cases } = JSON.parse(readFileSync(new URL('../fixtures/escape-cases.json', import.meta.url), 'utf8')) as { cases: EscapeCase[] };

describe('backslash escapes', () => {
  it('the table has the cases that tell the dialects apart', () => {
    expect(cases.filter((c) => c.python !== c.bash).length).toBeGreaterThanOrEqual(6);
  });

  it.each(cases.map((c) => [c.why, c] as const))('%s', (_why, c) => {
    expect(decodeEscapes(c.input, PYTHON_ESCAPES)).toBe(c.python);
    expect(decodeEscapes(c.input, ANSI_C_ESCAPES)).toBe(c.bash);
  });
});
