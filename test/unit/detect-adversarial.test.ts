/**
 * Adversarial corpus: every case (one file each, expected minimum level in its first line) must reach
 * its level; the rates per class are printed (scripts/detect-rates.sh prints them outside vitest).
 */
import { describe, expect, it } from 'vitest';
import { adversarialCorpus, atLeast, rates } from '../helpers/detect-corpus.js';

const corpus = adversarialCorpus();

describe('adversarial corpus', () => {
  it('covers every class with several variants', () => {
    for (const cls of ['delete', 'credential', 'exfiltration', 'exec-decoded', 'persistence']) {
      expect(corpus.filter((c) => c.cls === cls).length, cls).toBeGreaterThanOrEqual(3);
    }
    expect(corpus.every((c) => c.expect !== undefined)).toBe(true);
  });

  it.each(corpus.map((c) => [c.file, c] as const))('%s reaches its expected level', (_f, c) => {
    expect(atLeast(c.result.level, c.expect!), `${c.result.level} ${c.result.rules.join(',')}`).toBe(true);
  });

  it('prints the rates per class', () => {
    console.log(rates().join('\n'));
  });
});
