import type { RedactionRule } from './redactor.js';

/**
 * A rule table row made ready to run: flags the engine needs added, keywords lower-cased, ids checked,
 * and for an anchored rule the sticky pattern tried only at keyword-anchored run starts.
 */

export interface CompiledRule extends RedactionRule {
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

export function compile(rule: RedactionRule): CompiledRule {
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
    if (!pattern || !keywords || keywords.length === 0)
      throw new TypeError(`redaction rule ${rule.id}: an anchor needs a pattern and keywords`);
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
 * increasing order (from the prescan); without it the anchor regex finds them. A loop with a callback,
 * not a generator: this runs for several rules on every audited text, and the generator objects were a
 * measurable share of the redactor's garbage.
 */
export function forEachAnchoredMatch(
  view: string,
  a: NonNullable<CompiledRule['anchored']>,
  at: ArrayLike<number> | undefined,
  onMatch: (m: RegExpExecArray) => void,
): void {
  const positions = at ?? regexPositions(a.find, view);
  const { sticky, isRun, maxBack } = a;
  let lastEnd = 0;
  let lastTried = -1;
  for (let k = 0; k < positions.length; k++) {
    const pos = positions[k]!;
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
    onMatch(m);
  }
}

function regexPositions(re: RegExp, text: string): number[] {
  const out: number[] = [];
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) out.push(m.index);
  return out;
}
