/**
 * The rule table as data: its types (rules.json's schema), macro expansion, pattern compilation and
 * the checks every rule must pass (id, severity, ATT&CK id, examples and counter-examples).
 */
import type { RiskLevel } from '../semconv/events.js';
import type { EffectKind } from './effects.js';

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type Target = 'code' | 'output' | 'input';
/** Language families the code rules know: Open Interpreter's shell aliases, Python, and the rest. */
export type LanguageFamily = 'shell' | 'python' | 'other';

export interface RuleAttack {
  framework: 'MITRE ATT&CK' | 'MITRE ATLAS';
  /** Technique or sub-technique id, e.g. `T1552.004` or `AML.T0051.001`. */
  technique: string;
  name: string;
  tactic: string;
  /** Framework version the id was taken from (`v19`, `2026.09`). */
  version: string;
  /** The id in an earlier version, where it was renumbered. */
  previous?: { technique: string; version: string };
  related?: string[];
}

/** A pattern: a regex source, or every one of `all` and none of `none`. */
export type PatternSpec = string | { all: string[]; none?: string[] };

export interface RuleMatch {
  shell?: PatternSpec[];
  python?: PatternSpec[];
  /** Run on the raw code and on every canonical view. */
  any?: PatternSpec[];
  text?: PatternSpec[];
  /** Engine-implemented taint logic instead of patterns. */
  taint?: 'indicator' | 'escalate';
  min_severity?: Severity;
  /** Effect kinds (src/detect/effects.ts) found by the parsed-code analysis. */
  effect?: EffectKind[];
}

export interface RuleExample {
  language?: string;
  code?: string;
  text?: string;
  /** Taint rules: command output seen before the block. */
  output?: string;
  /** Taint rules: user input seen before the block. */
  input?: string;
}

export interface DetectionRule {
  id: string;
  title: string;
  severity: Severity;
  attack: RuleAttack;
  description: string;
  target: Target[];
  languages: LanguageFamily[];
  flags?: string;
  match: RuleMatch;
  /** RE2 line filter for the same indicator in Loki (output and input rules). */
  logql?: string;
  tests: { match: RuleExample[]; nomatch: RuleExample[] };
}

export interface RuleFile {
  name: string;
  version: string;
  description: string;
  frameworks: Record<string, string>;
  macros: Record<string, string>;
  rules: DetectionRule[];
}

export interface Finding {
  rule: string;
  title: string;
  severity: Severity;
  /** ATT&CK / ATLAS technique id. */
  technique: string;
  /** The matched text in the analysed view, cut to 160 characters. Raw: redact before recording it. */
  excerpt?: string;
}

/** Compatible with RiskAssessment ({level, rules}) in src/audit/execution.ts. */
export interface DetectionResult {
  level: RiskLevel;
  rules: string[];
  findings: Finding[];
}

export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
export const EXCERPT_MAX = 160;
/** Scan at most this much of any one view; the cap bounds the work on pathological input. */
export const MAX_SCAN_CHARS = 512 * 1024;

export interface CompiledPattern {
  all: RegExp[];
  none: RegExp[];
}

export interface CompiledRule {
  rule: DetectionRule;
  shell: CompiledPattern[];
  python: CompiledPattern[];
  any: CompiledPattern[];
  text: CompiledPattern[];
}

/** Expand `{{NAME}}` macros (recursively, bounded). */
export function expandMacros(source: string, macros: Record<string, string>): string {
  let out = source;
  for (let i = 0; i < 8 && out.includes('{{'); i++) {
    out = out.replace(/\{\{([A-Z0-9_]{1,32})\}\}/g, (whole, name: string) => {
      const m = macros[name];
      if (m === undefined) throw new Error(`unknown macro ${whole}`);
      return m;
    });
  }
  if (/\{\{[A-Z0-9_]{1,32}\}\}/.test(out)) throw new Error(`macro expansion too deep in ${source}`);
  return out;
}

export function compilePattern(spec: PatternSpec, flags: string, macros: Record<string, string>, ruleId: string): CompiledPattern {
  const compile = (src: string) => {
    try {
      return new RegExp(expandMacros(src, macros), flags);
    } catch (err) {
      throw new Error(`rule ${ruleId}: bad pattern ${src}: ${(err as Error).message}`, { cause: err });
    }
  };
  if (typeof spec === 'string') return { all: [compile(spec)], none: [] };
  return { all: spec.all.map(compile), none: (spec.none ?? []).map(compile) };
}

export function validateRule(rule: DetectionRule): void {
  if (!/^OIA-[A-Z]{2,6}-[0-9]{3}$/.test(rule.id)) throw new Error(`bad rule id ${rule.id}`);
  if (!SEVERITIES.includes(rule.severity)) throw new Error(`rule ${rule.id}: bad severity ${rule.severity}`);
  if (!rule.attack?.technique || !rule.attack.version) throw new Error(`rule ${rule.id}: attack technique and version required`);
  if (!Array.isArray(rule.target) || rule.target.length === 0) throw new Error(`rule ${rule.id}: target required`);
  if (!rule.tests?.match?.length || !rule.tests.nomatch?.length) throw new Error(`rule ${rule.id}: needs matching and non-matching examples`);
}

