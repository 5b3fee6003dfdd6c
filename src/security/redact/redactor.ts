/** What redaction did to one piece of text. */
export interface RedactionResult {
  text: string;
  /** Matches replaced, per rule id. Empty when nothing was found. */
  counts: Record<string, number>;
}

/** Removes secrets and personal data from text before it can reach any exporter. */
export interface Redactor {
  readonly version: string;
  redact(text: string): RedactionResult;
}

/** A half-open range `[start, end)` of the scanned text to redact. */
export type Span = readonly [start: number, end: number];

/**
 * One row of a redaction rule table. Either `pattern` or `scan` finds candidates.
 *
 * Linear time is a hard requirement (V8's regex engine backtracks): patterns use bounded quantifiers
 * only, never a quantified group that itself contains a quantifier, and start with a negative
 * lookbehind on their own character class where a run could otherwise be re-tried from every position.
 */
export interface RedactionRule {
  /** Stable id, used in the `[REDACTED:<id>]` marker and in the counts. */
  id: string;
  description: string;
  /** A global (`g`) regex; add `d` when `group` is used. */
  pattern?: RegExp;
  /** Instead of `pattern`: a linear scanner returning the ranges to redact. */
  scan?: (text: string) => Iterable<Span>;
  /**
   * Lower-case substrings, at least one of which must occur in the text for the rule to run
   * (a cheap prefilter, as in gitleaks). Omit to always run.
   */
  keywords?: readonly string[];
  /**
   * Capture group(s) holding the secret: the rest of the match (a key name, a scheme) stays readable.
   * With a list, the first group that matched is used. Default: the whole match.
   */
  group?: number | readonly number[];
  /** Extra check on a candidate (entropy, Luhn, "is this code, not a value"). False keeps the text. */
  validate?: (secret: string, text: string, start: number, end: number) => boolean;
}
