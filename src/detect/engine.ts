/**
 * Detection engine: runs the versioned rule table (rules.json) over code blocks, command output and
 * user input, and returns a risk assessment ({level, rules}) plus findings for a human to read.
 *
 * Code blocks are first turned into canonical views (shell.ts, python.ts): a shell block's canonical
 * text, the resolved text of Python code, and the shell commands that Python code hands to a shell (and
 * vice versa for `python -c`). Rules are plain data; this file only knows how to apply them.
 */
import { createRequire } from 'node:module';
import { maxRisk, RISK_LEVELS, type RiskLevel } from '../semconv/events.js';
import { analyzePython } from './python.js';
import { analyzeShell } from './shell.js';

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

const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
const EXCERPT_MAX = 160;
/** Scan at most this much of any one view; the cap bounds the work on pathological input. */
export const MAX_SCAN_CHARS = 512 * 1024;
const MAX_DEPTH = 3;

interface CompiledPattern {
  all: RegExp[];
  none: RegExp[];
}

interface CompiledRule {
  rule: DetectionRule;
  shell: CompiledPattern[];
  python: CompiledPattern[];
  any: CompiledPattern[];
  text: CompiledPattern[];
}

const require = createRequire(import.meta.url);
type RulesJson = typeof import('./rules.json', { with: { 'resolution-mode': 'import' } });
const BUNDLED = require('./rules.json') as RulesJson as unknown as RuleFile;

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

function compilePattern(spec: PatternSpec, flags: string, macros: Record<string, string>, ruleId: string): CompiledPattern {
  const compile = (src: string) => {
    try {
      return new RegExp(expandMacros(src, macros), flags);
    } catch (err) {
      throw new Error(`rule ${ruleId}: bad pattern ${src}: ${(err as Error).message}`);
    }
  };
  if (typeof spec === 'string') return { all: [compile(spec)], none: [] };
  return { all: spec.all.map(compile), none: (spec.none ?? []).map(compile) };
}

function validateRule(rule: DetectionRule): void {
  if (!/^OIA-[A-Z]{2,6}-[0-9]{3}$/.test(rule.id)) throw new Error(`bad rule id ${rule.id}`);
  if (!SEVERITIES.includes(rule.severity)) throw new Error(`rule ${rule.id}: bad severity ${rule.severity}`);
  if (!rule.attack?.technique || !rule.attack.version) throw new Error(`rule ${rule.id}: attack technique and version required`);
  if (!Array.isArray(rule.target) || rule.target.length === 0) throw new Error(`rule ${rule.id}: target required`);
  if (!rule.tests?.match?.length || !rule.tests.nomatch?.length) throw new Error(`rule ${rule.id}: needs matching and non-matching examples`);
}

/** Map an Open Interpreter language name (or alias) to a family. */
export function languageFamily(language: string): LanguageFamily {
  const l = language.trim().toLowerCase();
  if (['shell', 'bash', 'sh', 'zsh', 'dash', 'ksh', 'fish', 'batch', 'bat', 'terminal', 'console'].includes(l)) return 'shell';
  if (['python', 'py', 'python3', 'ipython', 'jupyter'].includes(l)) return 'python';
  return 'other';
}

/** The canonical views of one code block. */
export interface CodeViews {
  shell: string;
  python: string;
  any: string;
}

function cap(text: string): string {
  return text.length > MAX_SCAN_CHARS ? text.slice(0, MAX_SCAN_CHARS) : text;
}

/** Build the views the rules run on (exported for tests and for `oi-audit` tooling). */
export function codeViews(language: string, code: string): CodeViews {
  const shell: string[] = [];
  const python: string[] = [];
  const family = languageFamily(language);
  const fromShell = (src: string, depth: number) => {
    const a = analyzeShell(src, MAX_SCAN_CHARS);
    shell.push(a.text);
    if (depth < MAX_DEPTH) for (const p of a.python) fromPython(p, depth + 1);
  };
  const fromPython = (src: string, depth: number) => {
    const a = analyzePython(src, MAX_SCAN_CHARS);
    python.push(a.text);
    if (depth < MAX_DEPTH) {
      for (const s of a.shell) fromShell(s, depth + 1);
      for (const n of a.nested) fromPython(n, depth + 1);
    }
  };
  if (family === 'python') fromPython(code, 0);
  else fromShell(code, 0); // shell, and other languages' raw text lexed as shell (strips quotes around commands)
  return { shell: cap(shell.join('\n')), python: cap(python.join('\n')), any: cap(code) };
}

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

const URL_RE = /\bhttps?:\/\/[^\s"'<>()[\]{}|\\^`]{3,2000}/gi;
const COMMAND_LINE_RE = /^(?:\s{0,8}(?:\$|#|>|%|PS>|[\w.-]{1,32}@[\w.-]{1,64}:[^$#\n]{0,200}[$#])\s{0,4})?((?:sudo\s{1,4})?(?:curl|wget|bash|sh|zsh|python[0-9.]{0,4}|pip[0-9.]{0,4}|npm|npx|node|chmod|chown|nc|ncat|socat|rm|ssh|scp|rsync|base64|eval|perl|ruby|php|powershell|pwsh|iex|git|docker|kubectl|apt(?:-get)?|brew|systemctl|crontab|echo|export)\s[^\n]{3,500})$/gm;

function trimUrl(url: string): string {
  return url.replace(/[.,;:!?'")\]}>]{1,10}$/, '');
}

function canonicalCommand(line: string): string {
  return analyzeShell(line.trim(), 4096).text.trim();
}

export interface TaintOptions {
  /** How many following code blocks an indicator from output stays live. Default 1: the next block. */
  window?: number;
  /** Cap on indicators kept. Default 256 (oldest dropped first). */
  maxIndicators?: number;
}

export interface TaintHit {
  kind: 'url' | 'command';
  indicator: string;
}

/**
 * Taint context for one session: URLs and command lines seen in command output, consumed by the next
 * code block(s). URLs the user typed themselves are trusted and never count as taint.
 */
export class TaintContext {
  private block = 0;
  private readonly window: number;
  private readonly maxIndicators: number;
  private readonly urls = new Map<string, number>();
  private readonly commands = new Map<string, number>();
  private readonly trusted = new Set<string>();

  constructor(options: TaintOptions = {}) {
    this.window = Math.max(1, options.window ?? 1);
    this.maxIndicators = Math.max(1, options.maxIndicators ?? 256);
  }

  /** Record indicators from command output (call for every output chunk, or use detectOutput(text, ctx)). */
  observeOutput(text: string): void {
    const src = cap(text);
    for (const m of src.matchAll(URL_RE)) {
      const url = trimUrl(m[0]);
      if (url.length >= 12 && !this.trusted.has(url.toLowerCase())) this.remember(this.urls, url);
    }
    COMMAND_LINE_RE.lastIndex = 0;
    for (const m of src.matchAll(COMMAND_LINE_RE)) {
      const cmd = canonicalCommand(m[1]!);
      if (cmd.length >= 8 && cmd.includes(' ')) this.remember(this.commands, cmd);
    }
  }

  /** Record what the user asked for: URLs in user input are trusted. */
  observeInput(text: string): void {
    for (const m of cap(text).matchAll(URL_RE)) {
      const url = trimUrl(m[0]).toLowerCase();
      if (this.trusted.size < this.maxIndicators) this.trusted.add(url);
      for (const k of [...this.urls.keys()]) if (k.toLowerCase() === url) this.urls.delete(k);
    }
  }

  /** Indicators still live for the coming code block. */
  live(): { urls: string[]; commands: string[] } {
    const alive = (seenAt: number) => seenAt >= this.block - this.window + 1;
    return {
      urls: [...this.urls].filter(([, at]) => alive(at)).map(([u]) => u),
      commands: [...this.commands].filter(([, at]) => alive(at)).map(([c]) => c),
    };
  }

  /** Check a code block against the live indicators, then move to the next block. */
  consume(views: CodeViews): TaintHit[] {
    const hits: TaintHit[] = [];
    const { urls, commands } = this.live();
    const raw = views.any;
    const all = `${views.any}\n${views.shell}\n${views.python}`;
    for (const u of urls) {
      if (this.trusted.has(u.toLowerCase())) continue;
      if (raw.includes(u) || all.includes(u)) hits.push({ kind: 'url', indicator: u });
    }
    for (const c of commands) if (views.shell.includes(c)) hits.push({ kind: 'command', indicator: c });
    this.advance();
    return hits;
  }

  /** Move to the next block without checking (a block that was not analysed). */
  advance(): void {
    this.block++;
    for (const map of [this.urls, this.commands]) {
      for (const [k, at] of map) if (at < this.block - this.window) map.delete(k);
    }
  }

  private remember(map: Map<string, number>, key: string): void {
    map.delete(key);
    map.set(key, this.block);
    while (map.size > this.maxIndicators) map.delete(map.keys().next().value as string);
  }
}

/** A compiled rule table. The module-level functions use the bundled rules.json. */
export class Detector {
  readonly version: string;
  readonly rules: readonly DetectionRule[];
  private readonly compiled: CompiledRule[];

  constructor(file: RuleFile = BUNDLED) {
    this.version = file.version;
    const ids = new Set<string>();
    this.compiled = file.rules.map((rule) => {
      validateRule(rule);
      if (ids.has(rule.id)) throw new Error(`duplicate rule id ${rule.id}`);
      ids.add(rule.id);
      const flags = rule.flags ?? '';
      const c = (specs: PatternSpec[] | undefined) => (specs ?? []).map((s) => compilePattern(s, flags, file.macros, rule.id));
      return { rule, shell: c(rule.match.shell), python: c(rule.match.python), any: c(rule.match.any), text: c(rule.match.text) };
    });
    this.rules = this.compiled.map((c) => c.rule);
  }

  rule(id: string): DetectionRule | undefined {
    return this.rules.find((r) => r.id === id);
  }

  detectCode(language: string, code: string, ctx?: TaintContext): DetectionResult {
    const family = languageFamily(language);
    const views = codeViews(language, code);
    const findings: Finding[] = [];
    for (const c of this.compiled) {
      const r = c.rule;
      if (!r.target.includes('code') || !r.languages.includes(family) || r.match.taint) continue;
      const hit =
        firstMatch(c.shell, views.shell) ??
        firstMatch(c.python, views.python) ??
        firstMatch(c.any, views.any) ??
        firstMatch(c.any, views.shell) ??
        firstMatch(c.any, views.python);
      if (hit !== undefined) findings.push(this.finding(r, hit));
    }
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

function result(findings: Finding[]): DetectionResult {
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
