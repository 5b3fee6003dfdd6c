/**
 * The detection corpora as data: benign blocks (test/fixtures/benign-code) and adversarial ones
 * (test/fixtures/adversarial-code, first line `# expect: LEVEL class: CLASS`), with rates per class.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { detectCode, type DetectionResult } from '../../src/detect/engine.js';
import { RISK_LEVELS, type RiskLevel } from '../../src/semconv/events.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const LANGUAGE: Record<string, string> = { '.py': 'python', '.sh': 'shell', '.js': 'javascript' };

export interface CorpusCase {
  file: string;
  language: string;
  code: string;
  expect?: RiskLevel;
  cls: string;
  result: DetectionResult;
}

function load(dir: string): CorpusCase[] {
  return readdirSync(join(FIXTURES, dir))
    .filter((f) => LANGUAGE[extname(f)])
    .sort()
    .map((file) => {
      const code = readFileSync(join(FIXTURES, dir, file), 'utf8');
      const m = /^(?:#|\/\/) expect: (\w+) class: ([\w-]+)/.exec(code);
      const language = LANGUAGE[extname(file)]!;
      return { file, language, code, expect: m?.[1] as RiskLevel | undefined, cls: m?.[2] ?? 'benign', result: detectCode(language, code) };
    });
}

export const benignCorpus = (): CorpusCase[] => load('benign-code');
export const adversarialCorpus = (): CorpusCase[] => load('adversarial-code');

export const atLeast = (level: RiskLevel, min: RiskLevel): boolean => RISK_LEVELS.indexOf(level) >= RISK_LEVELS.indexOf(min);
/** Refused or held under the default policy. */
export const stopped = (level: RiskLevel): boolean => atLeast(level, 'high');

export function rates(): string[] {
  const lines: string[] = [];
  const adv = adversarialCorpus();
  const classes = [...new Set(adv.map((c) => c.cls))].sort();
  let total = 0;
  for (const cls of classes) {
    const cs = adv.filter((c) => c.cls === cls);
    const hit = cs.filter((c) => stopped(c.result.level)).length;
    total += hit;
    lines.push(`adversarial ${cls}: ${hit}/${cs.length} refused or held (${((100 * hit) / cs.length).toFixed(1)}%)`);
  }
  lines.push(`adversarial all: ${total}/${adv.length} refused or held (${((100 * total) / adv.length).toFixed(1)}%)`);
  const ben = benignCorpus();
  const fp = ben.filter((c) => stopped(c.result.level));
  lines.push(`benign: ${fp.length}/${ben.length} high/critical (${((100 * fp.length) / ben.length).toFixed(1)}%)${fp.length ? ': ' + fp.map((c) => `${c.file} ${c.result.rules.join(',')}`).join('; ') : ''}`);
  return lines;
}
