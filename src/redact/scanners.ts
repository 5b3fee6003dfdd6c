import { maxDigitsInNumberRun } from './prescan.js';
import type { Span } from './redactor.js';
import { luhnValid } from './validators.js';

/**
 * Linear scanners for credential formats a single bounded regex cannot find without looking far back
 * or across lines: private key blocks, payment card numbers (Luhn), the password glued to `-p` in a
 * MySQL/MariaDB command, and YAML block scalars under a secret-named key. Each returns the ranges to
 * redact, in increasing order.
 */

/** A MySQL/MariaDB client (`mysql`, `mysqldump`, `mariadb-dump`, …) as a word. */
const MYSQL_COMMAND = /(?<![A-Za-z0-9_.-])(?:mysql|mariadb)[a-z_-]{0,12}(?![A-Za-z0-9_])/gi;
/** Where a command's arguments end: a new line, `;`, `|`, `&`, or the next client command. */
const COMMAND_END = /[\r\n;|&]/g;
/** `-p<password>` (glued: `-p secret` is `-p` then a database name) or `-p"…"`, `-p'…'`. */
const DASH_P = /(?<![A-Za-z0-9_-])-p(?:"([^"\r\n]{1,256})"|'([^'\r\n]{1,256})'|([^\s"'-][^\s"']{0,255}))/dg;

/**
 * Passwords given as `-p<password>` to a MySQL/MariaDB client on the same command line (after the
 * command, before the next `;`, `|`, `&` or line end). Each character is in at most one segment.
 */
export function* scanMysqlPasswords(text: string): Iterable<Span> {
  MYSQL_COMMAND.lastIndex = 0;
  let m: RegExpExecArray | null;
  let next = MYSQL_COMMAND.exec(text);
  // The next command end at or after the last search: found again only once passed (a flood of
  // commands on one line must not search to the same far end from each).
  let stopAt = -1;
  while ((m = next) !== null) {
    const segStart = m.index + m[0].length;
    next = MYSQL_COMMAND.exec(text);
    if (stopAt < segStart) {
      COMMAND_END.lastIndex = segStart;
      const stop = COMMAND_END.exec(text);
      stopAt = stop ? stop.index : text.length;
    }
    let segEnd = stopAt;
    if (next && next.index < segEnd) segEnd = next.index;
    const seg = text.slice(segStart, segEnd);
    DASH_P.lastIndex = 0;
    let p: RegExpExecArray | null;
    while ((p = DASH_P.exec(seg)) !== null) {
      const at = p.indices![1] ?? p.indices![2] ?? p.indices![3]!;
      yield [segStart + at[0], segStart + at[1]];
    }
  }
}

/**
 * A YAML key naming a secret followed by a block scalar indicator (`password: |`, `private_key: >-`,
 * `token: |2`), alone on its line. Group 1: the key's indentation.
 */
const YAML_BLOCK_HEADER =
  /^([ \t]{0,64})(?:- )?["']?[A-Za-z0-9_.-]{0,64}(?:password|passwd|passphrase|pwd|pass|secret|token|key|credentials?|cert(?:ificate)?|auth)[A-Za-z0-9_.-]{0,20}["']?[ \t]{0,4}:[ \t]{0,4}[|>][-+0-9]{0,2}[ \t]{0,4}(?:#[^\r\n]{0,256})?\r?$/gim;

/** Longest block scalar redacted (a certificate chain fits). */
const YAML_BLOCK_MAX = 64 * 1024;

/**
 * YAML block scalars under secret-named keys: every following line indented deeper than the key (or
 * blank) is the value. The range covers the value lines, first non-blank character to last.
 */
/**
 * Whether the text holds what every header match holds: `:`, at most 4 blanks, `|` or `>`
 * (`/:[ \t]{0,4}[|>]/`). Found from the rarer characters back: `indexOf` skips to each `|`/`>` far
 * faster than the regex (led by the common `:`) or the line-anchored header pattern, which V8 tries at
 * every position.
 */
export function hasYamlBlockIndicator(text: string): boolean {
  for (const indicator of ['|', '>']) {
    for (let at = text.indexOf(indicator); at !== -1; at = text.indexOf(indicator, at + 1)) {
      let i = at - 1;
      const stop = Math.max(-1, at - 6);
      while (i > stop && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i--;
      if (i > stop && text.charCodeAt(i) === 0x3a) return true;
    }
  }
  return false;
}

export function* scanYamlBlockSecrets(text: string): Iterable<Span> {
  if (!hasYamlBlockIndicator(text)) return;
  YAML_BLOCK_HEADER.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = YAML_BLOCK_HEADER.exec(text)) !== null) {
    const indent = m[1]!.length;
    let pos = m.index + m[0].length;
    if (text.charCodeAt(pos) === 0x0a) pos++;
    const limit = Math.min(text.length, pos + YAML_BLOCK_MAX);
    let start = -1;
    let end = -1;
    while (pos < limit) {
      let nl = text.indexOf('\n', pos);
      if (nl === -1 || nl > limit) nl = limit;
      let i = pos;
      while (i < nl && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
      const blank = i >= nl || (i === nl - 1 && text.charCodeAt(i) === 0x0d);
      if (!blank) {
        if (i - pos <= indent) break;
        if (start === -1) start = i;
        end = text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
      }
      pos = nl + 1;
    }
    if (start !== -1) {
      yield [start, end];
      YAML_BLOCK_HEADER.lastIndex = Math.max(YAML_BLOCK_HEADER.lastIndex, end);
    }
  }
}

const PEM_HEADER = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END_LINE = /-----END [A-Z0-9 ]{0,40}-----/y;
/** What may follow a header when no END line does (a cut-off key is still a key). */
const PEM_BODY = /[A-Za-z0-9+/=\s\\:,-]{0,65536}/y;
const PEM_MAX_BLOCK = 65536;

/**
 * Private key blocks: header to END line inclusive; a header without an END (output cut short) is
 * redacted with the base64 body that follows it. The position of the next `-----END` is found once and
 * reused while headers are before it, so a flood of headers stays linear.
 */
export function* scanPrivateKeys(text: string): Iterable<Span> {
  PEM_HEADER.lastIndex = 0;
  let nextEnd = -2; // -2: not searched yet; -1: none after this point
  let m: RegExpExecArray | null;
  while ((m = PEM_HEADER.exec(text)) !== null) {
    const start = m.index;
    const headerEnd = start + m[0].length;
    if (nextEnd !== -1 && nextEnd < headerEnd) nextEnd = text.indexOf('-----END ', headerEnd);
    let end = -1;
    if (nextEnd !== -1 && nextEnd - headerEnd <= PEM_MAX_BLOCK) {
      PEM_END_LINE.lastIndex = nextEnd;
      const e = PEM_END_LINE.exec(text);
      end = e ? nextEnd + e[0].length : nextEnd + '-----END '.length;
    }
    if (end === -1) {
      PEM_BODY.lastIndex = headerEnd;
      const b = PEM_BODY.exec(text);
      end = headerEnd + (b ? b[0].length : 0);
    }
    yield [start, end];
    PEM_HEADER.lastIndex = Math.max(end, headerEnd);
  }
}

const CARD_MIN_DIGITS = 13;

/** Card number candidates: 13–19 digits, optionally grouped by single spaces or dashes. */
const CARD_CANDIDATE = /(?<![0-9])[2-6][0-9 -]{11,22}[0-9](?![0-9])/g;

/**
 * Payment card numbers: a candidate is split into its digit groups; the longest run of whole groups
 * with 13–19 digits, an issuer first digit (2–6) and a valid Luhn check digit is redacted.
 */
export function* scanCards(text: string): Iterable<Span> {
  // The redactor's prescan counted digits per run: with fewer than 13 in every run, no card can match.
  const digits = maxDigitsInNumberRun(text);
  if (digits !== undefined && digits < CARD_MIN_DIGITS) return;
  CARD_CANDIDATE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = CARD_CANDIDATE.exec(text)) !== null) {
    const cand = m[0];
    if (/[ -]{2}/.test(cand)) continue; // double separators: not a card layout
    const groups: Array<{ start: number; digits: string }> = [];
    const re = /[0-9]{1,19}/g;
    let g: RegExpExecArray | null;
    while ((g = re.exec(cand)) !== null) groups.push({ start: g.index, digits: g[0] });
    let best: Span | undefined;
    for (let i = 0; i < groups.length; i++) {
      let digits = '';
      for (let j = i; j < groups.length; j++) {
        digits += groups[j]!.digits;
        if (digits.length > 19) break;
        if (digits.length < 13 || !/^[2-6]/.test(digits) || !luhnValid(digits)) continue;
        const s = m.index + groups[i]!.start;
        const e = m.index + groups[j]!.start + groups[j]!.digits.length;
        if (!best || e - s > best[1] - best[0]) best = [s, e];
      }
    }
    if (best) yield best;
  }
}
