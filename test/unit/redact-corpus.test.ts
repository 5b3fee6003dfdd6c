import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDefaultRedactor } from '../../src/redact/rules.js';
import { StreamRedactor } from '../../src/redact/stream.js';
// @ts-expect-error plain ESM helper shared with the corpus runner (no types)
import { evaluate } from '../fixtures/secrets/evaluate.mjs';

/** The growable secrets corpus (test/fixtures/secrets): every secret gone, whole and across a part boundary; no benign case touched. */
describe('secrets corpus', () => {
  const cases = JSON.parse(readFileSync(new URL('../fixtures/secrets/cases.json', import.meta.url), 'utf8'));
  it('redacts every secret (and its encodings), across boundaries too, with no benign false positive', () => {
    const r = evaluate(cases, createDefaultRedactor(), StreamRedactor);
    expect(r.secrets).toBeGreaterThanOrEqual(30);
    expect(r.benign).toBeGreaterThanOrEqual(10);
    expect(r.boundary).toBeGreaterThanOrEqual(15);
    expect(r.misses).toEqual([]);
  });
});
