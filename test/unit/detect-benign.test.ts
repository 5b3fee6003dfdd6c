/**
 * False positives: a held-back corpus of ordinary agent code blocks (data analysis, file listing,
 * plotting, package use, git, downloads, a few that look alarming but are not) must raise no high or
 * critical finding. The rate is printed so a change to the rule table shows its cost.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCode, type DetectionResult } from '../../src/detect/engine.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'benign-code');
const LANGUAGE: Record<string, string> = { '.py': 'python', '.sh': 'shell', '.js': 'javascript' };

const corpus = readdirSync(DIR)
  .filter((f) => LANGUAGE[extname(f)])
  .sort()
  .map((file) => ({ file, language: LANGUAGE[extname(file)]!, code: readFileSync(join(DIR, file), 'utf8') }));

const results = new Map<string, DetectionResult>(corpus.map((c) => [c.file, detectCode(c.language, c.code)]));

describe('benign corpus', () => {
  it('has at least 150 code blocks in Python and shell', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(150);
    expect(corpus.filter((c) => c.language === 'python').length).toBeGreaterThanOrEqual(50);
    expect(corpus.filter((c) => c.language === 'shell').length).toBeGreaterThanOrEqual(80);
  });

  it('raises no high or critical finding (false-positive rate printed)', () => {
    const flagged = [...results].filter(([, r]) => r.level === 'high' || r.level === 'critical');
    const anyFinding = [...results].filter(([, r]) => r.rules.length > 0);
    const rate = (n: number) => `${((100 * n) / corpus.length).toFixed(1)}%`;
    console.log(
      `benign corpus: ${corpus.length} blocks; high/critical false positives ${flagged.length} (${rate(flagged.length)}); ` +
        `any finding ${anyFinding.length} (${rate(anyFinding.length)}): ` +
        anyFinding.map(([f, r]) => `${f} → ${r.rules.join(',')} (${r.level})`).join('; '),
    );
    expect(flagged.map(([f, r]) => `${f}: ${r.rules.join(', ')}`)).toEqual([]);
  });

  it('rates a secret search inside the working tree medium, not high (grep -rn password src/)', () => {
    expect(detectCode('shell', 'grep -rn password src/')).toMatchObject({ level: 'medium', rules: ['OIA-CRED-013'] });
  });

  it('flags the privileged package install as medium only (sudo is worth a note, not a hold)', () => {
    expect(results.get('39-sudo-apt.sh')).toMatchObject({ level: 'medium', rules: ['OIA-PRIV-004'] });
  });
});
