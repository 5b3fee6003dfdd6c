/**
 * Detection engine: runs the versioned rule table (rules.json) over code blocks, command output and
 * user input, and returns a risk assessment ({level, rules}) plus findings for a human to read.
 *
 * Two layers, both driven by the table. Pattern rules run on canonical text views (views.ts). Effect
 * rules run on what the parsed code does (analyze.ts: tree-sitter-bash / tree-sitter-python with data
 * flow): a delete whose target resolves to the home directory, a credential read by any API, decoded
 * code executed. Code found inside code (`sh -c`, decoded payloads, staged scripts) is judged the same
 * way, recursively and bounded. When the parser cannot run, the block is held (rule OIA-DET-001).
 */
import { createRequire } from 'node:module';
import { maxRisk, RISK_LEVELS, type RiskLevel } from '../semconv/events.js';
import { analysisLanguage, analyzeCode } from './analyze.js';
import { type BlockState, newState } from './commands.js';
import type { Effect, EffectKind, NestedCode } from './effects.js';
import {
  compilePattern,
  type CompiledPattern,
  type CompiledRule,
  type DetectionRule,
  type DetectionResult,
  EXCERPT_MAX,
  type Finding,
  type PatternSpec,
  type RuleFile,
  SEVERITIES,
  type Target,
  validateRule,
} from './rule-table.js';
import { cap, TaintContext } from './taint.js';
import { codeViews, languageFamily } from './views.js';

export * from './rule-table.js';
export { TaintContext, type CodeViews, type TaintHit, type TaintOptions } from './taint.js';
export { codeViews, languageFamily } from './views.js';
export type { Effect, EffectKind } from './effects.js';

const require = createRequire(import.meta.url);
// The type import is what makes tsc copy rules.json into dist (a bare require would not); keep it.
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- the linter's project does not type JSON modules; tsc does
type RulesJson = typeof import('./rules.json', { with: { 'resolution-mode': 'import' } });
const BUNDLED = require('./rules.json') as RulesJson as unknown as RuleFile;

/** How deep code inside code is followed (`bash -c "python -c '…'"`, a payload decoded twice). */
const MAX_NESTING = 4;

function runPattern(p: CompiledPattern, view: string): string | undefined {
  let excerpt: string | undefined;
  for (const re of p.all) {
    re.lastIndex = 0;
    const m = re.exec(view);
    if (!m) return undefined;
    excerpt ??= m[0];
  }
  for (const re of p.none) {
    re.lastIndex = 0;
    if (re.test(view)) return undefined;
  }
  return excerpt ?? '';
}

function firstMatch(patterns: CompiledPattern[], view: string): string | undefined {
  if (view.length === 0) return undefined;
  for (const p of patterns) {
    const hit = runPattern(p, view);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function excerptOf(text: string): string {
  const t = text.trim();
  return t.length > EXCERPT_MAX ? `${t.slice(0, EXCERPT_MAX - 1)}…` : t;
}

/** The Open Interpreter language name to analyse nested code as. */
function nestedLanguage(n: NestedCode): string {
  return n.language === 'node' ? 'javascript' : n.language;
}

/** A compiled rule table. The module-level functions use the bundled rules.json. */
export class Detector {
  readonly version: string;
  readonly rules: readonly DetectionRule[];
  private readonly compiled: CompiledRule[];
  private readonly byEffect = new Map<EffectKind, DetectionRule[]>();

  constructor(file: RuleFile = BUNDLED) {
    this.version = file.version;
    const ids = new Set<string>();
    this.compiled = file.rules.map((rule) => {
      validateRule(rule);
      if (ids.has(rule.id)) throw new Error(`duplicate rule id ${rule.id}`);
      ids.add(rule.id);
      const flags = rule.flags ?? '';
      const c = (specs: PatternSpec[] | undefined) => (specs ?? []).map((s) => compilePattern(s, flags, file.macros, rule.id));
      for (const kind of rule.match.effect ?? []) this.byEffect.set(kind, [...(this.byEffect.get(kind) ?? []), rule]);
      return { rule, shell: c(rule.match.shell), python: c(rule.match.python), any: c(rule.match.any), text: c(rule.match.text) };
    });
    this.rules = this.compiled.map((c) => c.rule);
  }

  rule(id: string): DetectionRule | undefined {
    return this.rules.find((r) => r.id === id);
  }

  detectCode(language: string, code: string, ctx?: TaintContext): DetectionResult {
    const found = new Map<string, Finding>();
    const views = this.judgeCode(language, code, newState(), 0, found);
    const findings = [...found.values()];
    if (ctx) {
      const hits = ctx.consume(views);
      if (hits.length > 0) {
        const excerpt = hits.map((h) => h.indicator).join(' ');
        for (const c of this.compiled) {
          const r = c.rule;
          if (r.match.taint === 'indicator') findings.push(this.finding(r, excerpt));
          if (r.match.taint === 'escalate') {
            const min = SEVERITIES.indexOf(r.match.min_severity ?? 'medium');
            if (findings.some((f) => !f.rule.startsWith('OIA-TAINT') && SEVERITIES.indexOf(f.severity) >= min)) findings.push(this.finding(r, excerpt));
          }
        }
      }
    }
    return result(findings);
  }

  /** Findings for effects seen elsewhere (the ground-truth hook, executed.ts). */
  effectFindings(effects: readonly Effect[], found: Map<string, Finding>): void {
    for (const e of effects) for (const r of this.byEffect.get(e.kind) ?? []) if (!found.has(r.id)) found.set(r.id, this.finding(r, e.detail));
  }

  /**
   * Pattern rules on the block's views, effect rules on its analysis, then the same for code found
   * inside it. `state` is shared, so a script staged by the block is known when nested code runs it.
   */
  judgeCode(language: string, code: string, state: BlockState, depth: number, found: Map<string, Finding>) {
    const family = languageFamily(language);
    const views = codeViews(language, code);
    for (const c of this.compiled) {
      const r = c.rule;
      if (found.has(r.id) || !r.target.includes('code') || !r.languages.includes(family) || r.match.taint || r.match.effect) continue;
      const hit =
        firstMatch(c.shell, views.shell) ??
        firstMatch(c.python, views.python) ??
        firstMatch(c.any, views.any) ??
        firstMatch(c.any, views.shell) ??
        firstMatch(c.any, views.python);
      if (hit !== undefined) found.set(r.id, this.finding(r, hit));
    }
    state.depth = depth;
    const analysis = analyzeCode(analysisLanguage(language), code, state);
    this.effectFindings(analysis.effects, found);
    if (depth < MAX_NESTING) {
      for (const n of analysis.nested) if (n.code !== code) this.judgeCode(nestedLanguage(n), n.code, state, depth + 1, found);
    }
    return views;
  }

  detectOutput(text: string, ctx?: TaintContext): DetectionResult {
    ctx?.observeOutput(text);
    return this.detectText('output', text);
  }

  detectInput(text: string, ctx?: TaintContext): DetectionResult {
    ctx?.observeInput(text);
    return this.detectText('input', text);
  }

  private detectText(target: Target, text: string): DetectionResult {
    const view = cap(text);
    const findings: Finding[] = [];
    for (const c of this.compiled) {
      if (!c.rule.target.includes(target)) continue;
      const hit = firstMatch(c.text, view);
      if (hit !== undefined) findings.push(this.finding(c.rule, hit));
    }
    return result(findings);
  }

  private finding(rule: DetectionRule, excerpt: string): Finding {
    const f: Finding = { rule: rule.id, title: rule.title, severity: rule.severity, technique: rule.attack.technique };
    if (excerpt) f.excerpt = excerptOf(excerpt);
    return f;
  }
}

export function result(findings: Finding[]): DetectionResult {
  findings.sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.rule.localeCompare(b.rule));
  let level: RiskLevel = RISK_LEVELS[0];
  for (const f of findings) level = maxRisk(level, f.severity);
  return { level, rules: findings.map((f) => f.rule), findings };
}

let defaultDetector: Detector | undefined;

/** The detector over the bundled rule table (compiled once, on first use). */
export function getDetector(): Detector {
  defaultDetector ??= new Detector();
  return defaultDetector;
}

/** The bundled rule table as data (for generators, docs and SIEM mappers). */
export function bundledRules(): RuleFile {
  return BUNDLED;
}

export function detectCode(language: string, code: string, ctx?: TaintContext): DetectionResult {
  return getDetector().detectCode(language, code, ctx);
}

export function detectOutput(text: string, ctx?: TaintContext): DetectionResult {
  return getDetector().detectOutput(text, ctx);
}

export function detectInput(text: string, ctx?: TaintContext): DetectionResult {
  return getDetector().detectInput(text, ctx);
}
