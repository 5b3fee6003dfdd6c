/** What redaction did to one piece of text. */
export interface RedactionResult {
  text: string;
  /** Matches replaced, per rule id. Empty when nothing was found. */
  counts: Record<string, number>;
}

/**
 * One redacted region of a text: `[start, end)` is replaced by the marker of `rule`; `from` is where
 * the match that found it began (a key name or scheme kept readable before the secret), so a stream
 * cut is never placed between a secret and the context that identifies it.
 */
export interface RedactionRegion {
  start: number;
  end: number;
  from: number;
  rule: string;
}

/** Removes secrets and personal data from text before it can reach any exporter. */
export interface Redactor {
  readonly version: string;
  redact(text: string): RedactionResult;
  /**
   * The regions `redact` replaces, disjoint and in order (the built-in redactor has it; the stream
   * redactor needs it to cut a stream between parts without splitting a secret).
   */
  regions?(text: string): RedactionRegion[];
}

/** A half-open range `[start, end)` of the scanned text to redact. */
export type Span = readonly [start: number, end: number];

/**
 * Where the matches of an anchored rule can start, so the engine tries its pattern only there
 * instead of at every position. Every match must start at the beginning of a run of `run` characters
 * that reaches an occurrence of one of the rule's keywords (inside the run, as `token` in
 * `api_token=`, or right after it, as `@` in an e-mail), at most `maxBack` characters before that
 * occurrence. Patterns of that shape begin with a negative lookbehind on `run`, then at most
 * `maxBack` characters of `run`. test/unit/redact-fast-paths.test.ts checks that each anchored rule
 * finds exactly what its pattern finds alone.
 */
export interface RunAnchor {
  /** The run's characters, as the inside of a regex character class (`A-Za-z0-9_.-`). */
  run: string;
  maxBack: number;
}

/**
 * One row of a redaction rule table. `pattern` or `scan` (or both) finds candidates.
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
  /**
   * A linear scanner returning the ranges to redact. With a `pattern` too, the scanner is a faster
   * equivalent of it (the engine runs the scanner; the tests check both find the same ranges).
   */
  scan?: (text: string) => Iterable<Span>;
  /** Try `pattern` only where a keyword anchors a match (needs `keywords`; see RunAnchor). */
  anchor?: RunAnchor;
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
  /**
   * The candidates of this rule are encodings (base64, hex): the text a candidate decodes to, or
   * undefined when it is not an encoding of text. The candidate is redacted when the whole table finds
   * something in the decoded text (encodings within encodings are followed two levels deep).
   */
  decode?: (candidate: string) => string | undefined;
}
