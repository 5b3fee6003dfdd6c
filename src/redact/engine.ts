import { createHash } from 'node:crypto';
import { applyRegions } from './apply-regions.js';
import { createPrescanner, type Prescan } from './prescan.js';
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

interface CompiledRule extends RedactionRule {
  groups: readonly number[];
  /**
   * For an anchored rule: the keywords as one global regex (used when the prescan kept no positions),
   * the pattern as a sticky regex, and the run test.
   */
  anchored?: { find: RegExp; sticky: RegExp; isRun: (c: number) => boolean; maxBack: number };
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/g;

/** A test for one character of a class given as the inside of `[…]`; a table for ASCII. */
function charClassTest(inside: string): (c: number) => boolean {
  const re = new RegExp(`[${inside}]`);
  const ascii = new Uint8Array(128);
  for (let c = 0; c < 128; c++) ascii[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
  return (c) => (c < 128 ? ascii[c] === 1 : re.test(String.fromCharCode(c)));
}

function compile(rule: RedactionRule): CompiledRule {
  if (!rule.pattern && !rule.scan) throw new TypeError(`redaction rule ${rule.id}: needs a pattern or a scan function`);
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(rule.id)) throw new TypeError(`redaction rule id "${rule.id}": use 1–40 of [a-z0-9-]`);
  const groups = rule.group === undefined ? [] : typeof rule.group === 'number' ? [rule.group] : [...rule.group];
  let pattern = rule.pattern;
  if (pattern) {
    let flags = pattern.flags;
    if (!flags.includes('g')) flags += 'g';
    if (groups.length > 0 && !flags.includes('d')) flags += 'd';
    if (flags !== pattern.flags) pattern = new RegExp(pattern.source, flags);
  }
  const keywords = rule.keywords?.map((k) => k.toLowerCase());
  let anchored: CompiledRule['anchored'];
  if (rule.anchor) {
    if (!pattern || !keywords || keywords.length === 0) throw new TypeError(`redaction rule ${rule.id}: an anchor needs a pattern and keywords`);
    anchored = {
      find: new RegExp(keywords.map((k) => k.replace(REGEX_SPECIAL, '\\$&')).join('|'), 'gi'),
      sticky: new RegExp(pattern.source, `${pattern.flags.replace('g', '')}y`),
      isRun: charClassTest(rule.anchor.run),
      maxBack: rule.anchor.maxBack,
    };
  }
  return { ...rule, pattern, keywords, groups, anchored };
}

/**
 * The matches `rule.pattern` would find in `view` with a global search, found by trying it (sticky)
 * only at the starts of runs that reach a keyword (see RunAnchor): in increasing order, never before
 * the end of the previous match, as the global search does. `at` lists the keyword occurrences in
 * increasing order (from the prescan); without it the anchor regex finds them.
 */
function* anchoredMatches(view: string, a: NonNullable<CompiledRule['anchored']>, at: Iterable<number> | undefined): Iterable<RegExpExecArray> {
  const { sticky, isRun, maxBack } = a;
  let lastEnd = 0;
  let lastTried = -1;
  for (const pos of at ?? regexPositions(a.find, view)) {
    let s = pos;
    const floor = Math.max(0, pos - maxBack);
    while (s > floor && isRun(view.charCodeAt(s - 1))) s--;
    if (s > 0 && isRun(view.charCodeAt(s - 1))) continue; // the run starts too far back to match from
    if (s < lastEnd || s === lastTried) continue;
    lastTried = s;
    sticky.lastIndex = s;
    const m = sticky.exec(view);
    if (m === null) continue;
    lastEnd = s + Math.max(1, m[0].length);
    yield m;
  }
}

function* regexPositions(re: RegExp, text: string): Iterable<number> {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) yield m.index;
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
  const allowStrings = new Set<string>();
  const allowRegexps: RegExp[] = [];
  for (const a of options.allow ?? []) {
    if (typeof a === 'string') allowStrings.add(a);
    else allowRegexps.push(new RegExp(a.source, a.flags.replace(/[gy]/g, '')));
  }
  const custom = options.rules !== undefined || (options.extraRules?.length ?? 0) > 0 || (options.allow?.length ?? 0) > 0;
  const version = tableVersion(rules, options.allow ?? [], custom);

  const allowed = (secret: string): boolean => {
    if (allowStrings.has(secret)) return true;
    for (const re of allowRegexps) if (re.test(secret)) return true;
    return false;
  };

  const prescanner = createPrescanner(rules.flatMap((r) => r.keywords ?? []));
  /** Per rule, the indices of its keywords in the finder's result (undefined: the rule always runs). */
  const ruleKeywords = rules.map((r) => (r.keywords ? Int32Array.from(r.keywords, (k) => prescanner.index.get(k)!) : undefined));

  const accept = (hits: Hit[], view: string, r: number, start: number, end: number, from = start) => {
    if (end <= start) return;
    const rule = rules[r]!;
    const secret = view.slice(start, end);
    if (rule.validate && !rule.validate(secret, view, start, end)) return;
    if (allowed(secret)) return;
    hits.push({ start, end, from: Math.min(from, start), rule: r });
  };

  const acceptMatch = (hits: Hit[], view: string, r: number, m: RegExpExecArray) => {
    const groups = rules[r]!.groups;
    if (groups.length === 0) {
      accept(hits, view, r, m.index, m.index + m[0].length);
      return;
    }
    for (const g of groups) {
      const at = m.indices?.[g];
      if (at) {
        accept(hits, view, r, at[0], at[1], m.index);
        return;
      }
    }
  };

  /** The hits of every rule in one view (positions in the view). */
  const find = (view: string, prescan: Prescan, depth: number): Hit[] => {
    const hits: Hit[] = [];
    const encoded: Array<{ r: number; spans: Span[] }> = [];
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!;
      const kw = ruleKeywords[r];
      if (kw) {
        let any = false;
        for (let i = 0; i < kw.length && !any; i++) any = prescan.present[kw[i]!] === 1;
        if (!any) continue;
      }
      if (rule.decode) {
        // Decoded and searched after this loop: the search scans again, which reuses the prescan's buffers.
        if (depth < MAX_DECODE_DEPTH) encoded.push({ r, spans: [...rule.scan!(view)] });
      } else if (rule.scan) {
        for (const [s, e] of rule.scan(view)) accept(hits, view, r, s, e);
      } else if (rule.anchored) {
        for (const m of anchoredMatches(view, rule.anchored, prescan.startsOf(kw!))) if (m[0].length > 0) acceptMatch(hits, view, r, m);
      } else {
        const re = rule.pattern!;
        re.lastIndex = 0;
        let m: RegExpExecArray | null;
        while ((m = re.exec(view)) !== null) {
          if (m[0].length === 0) {
            re.lastIndex++;
            continue;
          }
          acceptMatch(hits, view, r, m);
        }
      }
    }
    if (encoded.length === 0) return hits;
    const byStart = [...hits].sort((a, b) => a.start - b.start);
    for (const { r, spans } of encoded) {
      // Spans come in increasing order: one pointer over the hits finds those starting before each.
      let j = 0;
      let reach = -1;
      for (const [s, e] of spans) {
        while (j < byStart.length && byStart[j]!.start <= s) reach = Math.max(reach, byStart[j++]!.end);
        // Already redacted as it stands: no need to look inside.
        if (reach >= e) continue;
        const decoded = rules[r]!.decode!(view.slice(s, e));
        if (decoded !== undefined && regionsOf(decoded, depth + 1).length > 0) accept(hits, view, r, s, e);
      }
    }
    return hits;
  };

  /** The merged regions of a text (positions in the text), over all of its views. */
  const regionsOf = (text: string, depth: number): Hit[] => {
    if (text.length === 0) return [];
    // The prescan of the text also says whether it has hidden characters (when it is ASCII): if
    // not, the text is its own first view and is not scanned again.
    const first = prescanner.scan(text);
    const views = viewsOf(text, first.hidden === false);
    const hits: Hit[] = [];
    for (let v = 0; v < views.length; v++) {
      const view = views[v]!;
      const prescan = v === 0 && view.text === text ? first : prescanner.scan(view.text);
      const found = find(view.text, prescan, depth);
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
    // Merge overlapping hits; the merged region takes the highest-priority (lowest index) rule.
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
  };

  const regions = (text: string): RedactionRegion[] =>
    regionsOf(text, 0).map((h) => ({ start: h.start, end: h.end, from: h.from, rule: rules[h.rule]!.id }));
  return { version, regions, redact: (text: string): RedactionResult => applyRegions(text, regions(text)) };
}

let defaultRedactor: Redactor | undefined;

/** The built-in rule table, no allow-list. */
export function createDefaultRedactor(): Redactor {
  defaultRedactor ??= createRedactor();
  return defaultRedactor;
}
