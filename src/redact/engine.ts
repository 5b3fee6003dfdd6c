import { createHash } from 'node:crypto';
import { applyRegions } from './apply-regions.js';
import { compile, forEachAnchoredMatch, type CompiledRule } from './compile.js';
import { createPrescanner, type Prescan, type Prescanner } from './prescan.js';
import type { RedactionRegion, RedactionResult, RedactionRule, Redactor, Span } from './redactor.js';
import { DEFAULT_RULES, REDACTION_RULES_VERSION } from './rule-table.js';
import { viewsOf } from './views.js';

/** The engine: runs a compiled rule table over a text and its views and merges the hits into regions. */

export interface RedactorOptions {
  /** More rules, after the built-in ones (lower priority). Patterns get the `g` (and `d`) flags added. */
  extraRules?: RedactionRule[];
  /**
   * Values never redacted: a string is compared with the matched secret exactly, a RegExp is tested
   * against it (e.g. a known test key, or `/^[0-9a-f]{40}$/` to keep git commit ids).
   */
  allow?: Array<RegExp | string>;
  /** Replace the built-in table instead of extending it (tests, special deployments). */
  rules?: readonly RedactionRule[];
}

function tableVersion(rules: readonly CompiledRule[], allow: ReadonlyArray<RegExp | string>, custom: boolean): string {
  if (!custom) return REDACTION_RULES_VERSION;
  const h = createHash('sha256');
  for (const r of rules) h.update(`${r.id}\0${r.pattern?.source ?? 'scan'}\0${r.pattern?.flags ?? ''}\0${String(r.group ?? '')}\n`);
  for (const a of allow) h.update(`allow\0${typeof a === 'string' ? `s:${a}` : `r:${a.source}/${a.flags}`}\n`);
  return `${REDACTION_RULES_VERSION}+custom.${h.digest('hex').slice(0, 8)}`;
}

interface Hit {
  start: number;
  end: number;
  /** Where the match began (before `start` when a group holds the secret). */
  from: number;
  rule: number;
}

/** Encodings followed inside encodings this deep (base64 of a hex dump of a key…), no deeper. */
const MAX_DECODE_DEPTH = 2;

/** Whether a matched value is on the allow-list (exact strings, or regexes tested without g/y state). */
function allowList(allow: ReadonlyArray<RegExp | string>): (secret: string) => boolean {
  const strings = new Set<string>();
  const regexps: RegExp[] = [];
  for (const a of allow) {
    if (typeof a === 'string') strings.add(a);
    else regexps.push(new RegExp(a.source, a.flags.replace(/[gy]/g, '')));
  }
  return (secret) => {
    if (strings.has(secret)) return true;
    for (const re of regexps) if (re.test(secret)) return true;
    return false;
  };
}

/** Overlapping hits (sorted by start, then rule) merged; a merged region takes the highest-priority (lowest index) rule. */
function mergeHits(hits: readonly Hit[]): Hit[] {
  const merged: Hit[] = [];
  for (const h of hits) {
    const top = merged[merged.length - 1];
    if (top && h.start < top.end) {
      if (h.end > top.end) top.end = h.end;
      if (h.rule < top.rule) top.rule = h.rule;
      if (h.from < top.from) top.from = h.from;
    } else {
      merged.push({ ...h });
    }
  }
  return merged;
}

/** A compiled table and its keyword prescanner: finds the merged hits of every rule in a text. */
class TableMatcher {
  private readonly prescanner: Prescanner;
  /** Per rule, the indices of its keywords in the prescan's result (undefined: the rule always runs). */
  private readonly ruleKeywords: ReadonlyArray<Int32Array | undefined>;

  constructor(
    readonly rules: readonly CompiledRule[],
    private readonly allowed: (secret: string) => boolean,
  ) {
    this.prescanner = createPrescanner(rules.flatMap((r) => r.keywords ?? []));
    const index = this.prescanner.index;
    this.ruleKeywords = rules.map((r) => (r.keywords ? Int32Array.from(r.keywords, (k) => index.get(k)!) : undefined));
  }

  /** The merged regions of a text (positions in the text), over all of its views. */
  regionsOf(text: string, depth: number): Hit[] {
    if (text.length === 0) return [];
    // The prescan of the text also says whether it has hidden characters (when it is ASCII): if
    // not, the text is its own first view and is not scanned again.
    const first = this.prescanner.scan(text);
    const views = viewsOf(text, first.hidden === false);
    const hits: Hit[] = [];
    for (let v = 0; v < views.length; v++) {
      const view = views[v]!;
      const prescan = v === 0 && view.text === text ? first : this.prescanner.scan(view.text);
      const found = this.find(view.text, prescan, depth);
      if (!view.starts) {
        for (const h of found) hits.push(h);
        continue;
      }
      // Back from the view to the text: the whole stored span the matched characters were read from.
      const starts = view.starts;
      const ends = view.ends!;
      for (const h of found) hits.push({ start: starts[h.start]!, end: ends[h.end - 1]!, from: starts[h.from]!, rule: h.rule });
    }
    if (hits.length === 0) return hits;
    hits.sort((a, b) => a.start - b.start || a.rule - b.rule);
    return mergeHits(hits);
  }

  /** The hits of every rule in one view (positions in the view). */
  private find(view: string, prescan: Prescan, depth: number): Hit[] {
    const hits: Hit[] = [];
    const encoded: Array<{ r: number; spans: Span[] }> = [];
    for (let r = 0; r < this.rules.length; r++) {
      const rule = this.rules[r]!;
      const kw = this.ruleKeywords[r];
      if (kw && !anyPresent(prescan, kw)) continue;
      if (rule.decode) {
        // Decoded and searched after this loop: the search scans again, which reuses the prescan's buffers.
        if (depth < MAX_DECODE_DEPTH) encoded.push({ r, spans: [...rule.scan!(view)] });
      } else if (rule.scan) {
        for (const [s, e] of rule.scan(view)) this.accept(hits, view, r, s, e);
      } else if (rule.anchored) {
        forEachAnchoredMatch(view, rule.anchored, prescan.startsOf(kw!), (m) => {
          if (m[0].length > 0) this.acceptMatch(hits, view, r, m);
        });
      } else {
        this.findGlobal(hits, view, r, rule.pattern!);
      }
    }
    if (encoded.length > 0) this.findEncoded(hits, view, encoded, depth);
    return hits;
  }

  /** A plain global search of the rule's pattern (empty matches skipped). */
  private findGlobal(hits: Hit[], view: string, r: number, re: RegExp): void {
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(view)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      this.acceptMatch(hits, view, r, m);
    }
  }

  /** Encoded candidates (base64, hex runs) not already redacted: a hit when their decoded text holds a secret. */
  private findEncoded(hits: Hit[], view: string, encoded: ReadonlyArray<{ r: number; spans: Span[] }>, depth: number): void {
    const byStart = [...hits].sort((a, b) => a.start - b.start);
    for (const { r, spans } of encoded) {
      // Spans come in increasing order: one pointer over the hits finds those starting before each.
      let j = 0;
      let reach = -1;
      for (const [s, e] of spans) {
        while (j < byStart.length && byStart[j]!.start <= s) reach = Math.max(reach, byStart[j++]!.end);
        // Already redacted as it stands: no need to look inside.
        if (reach >= e) continue;
        const decoded = this.rules[r]!.decode!(view.slice(s, e));
        if (decoded !== undefined && this.regionsOf(decoded, depth + 1).length > 0) this.accept(hits, view, r, s, e);
      }
    }
  }

  private accept(hits: Hit[], view: string, r: number, start: number, end: number, from = start): void {
    if (end <= start) return;
    const rule = this.rules[r]!;
    const secret = view.slice(start, end);
    if (rule.validate && !rule.validate(secret, view, start, end)) return;
    if (this.allowed(secret)) return;
    hits.push({ start, end, from: Math.min(from, start), rule: r });
  }

  /** The secret of a match: its first capture group that matched (the whole match for a rule without groups). */
  private acceptMatch(hits: Hit[], view: string, r: number, m: RegExpExecArray): void {
    const groups = this.rules[r]!.groups;
    if (groups.length === 0) {
      this.accept(hits, view, r, m.index, m.index + m[0].length);
      return;
    }
    for (const g of groups) {
      const at = m.indices?.[g];
      if (at) {
        this.accept(hits, view, r, at[0], at[1], m.index);
        return;
      }
    }
  }
}

/** Whether the prescan saw at least one of a rule's keywords. */
function anyPresent(prescan: Prescan, kw: Int32Array): boolean {
  for (let i = 0; i < kw.length; i++) if (prescan.present[kw[i]!] === 1) return true;
  return false;
}

/**
 * Build a redactor from a rule table. Every rule scans the same text (not each other's output), and
 * overlapping hits merge into one redaction, so a marker can never be re-matched and a secret found by
 * two rules is never partly left behind. Hidden characters (ANSI CSI sequences, zero-width and bidi
 * controls, NUL…) are skipped while matching, so a secret cannot be smuggled past by splitting it.
 */
export function createRedactor(options: RedactorOptions = {}): Redactor {
  const base = options.rules ?? DEFAULT_RULES;
  const rules = [...base, ...(options.extraRules ?? [])].map(compile);
  const ids = new Set<string>();
  for (const r of rules) {
    if (ids.has(r.id)) throw new TypeError(`redaction rule id "${r.id}" is used twice`);
    ids.add(r.id);
  }
  const custom = options.rules !== undefined || (options.extraRules?.length ?? 0) > 0 || (options.allow?.length ?? 0) > 0;
  const version = tableVersion(rules, options.allow ?? [], custom);
  const matcher = new TableMatcher(rules, allowList(options.allow ?? []));
  const regions = (text: string): RedactionRegion[] =>
    matcher.regionsOf(text, 0).map((h) => ({ start: h.start, end: h.end, from: h.from, rule: rules[h.rule]!.id }));
  return { version, regions, redact: (text: string): RedactionResult => applyRegions(text, regions(text)) };
}

let defaultRedactor: Redactor | undefined;

/** The built-in rule table, no allow-list. */
export function createDefaultRedactor(): Redactor {
  defaultRedactor ??= createRedactor();
  return defaultRedactor;
}
