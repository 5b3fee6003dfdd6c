import { describe, expect, it } from 'vitest';
import { captureContent } from '../../src/audit/content.js';
import { createDefaultRedactor, DEFAULT_RULES } from '../../src/redact/rules.js';
import { superlinearReports } from '../helpers/regex-linearity.js';

/**
 * Hostile input: every rule must run in time linear in the input (V8 backtracks; one careless
 * pattern turns a 1 MB command output into minutes of CPU), and no secret may come out raw however it
 * is wrapped. Linearity is checked on the patterns themselves (static analysis, test/helpers/regex-linearity.ts),
 * never with a clock: a loaded CI machine cannot make it fail. The scanners (`scan`) are hand-written
 * single passes; the hostile inputs below still run through the whole table once each, to completion.
 */

const KB = 1024;

/** Inputs of any length, built to hit the classic ReDoS shapes of each rule. */
const HOSTILE: Record<string, (n: number) => string> = {
  'a flood': (n) => 'a'.repeat(n),
  "'-----BEGIN ' repeated": (n) => '-----BEGIN '.repeat(Math.ceil(n / 11)).slice(0, n),
  'PEM headers without END': (n) => '-----BEGIN PRIVATE KEY-----\n'.repeat(Math.ceil(n / 28)).slice(0, n),
  "'@' flood": (n) => '@'.repeat(n),
  "'a@' flood": (n) => 'a@'.repeat(n / 2),
  'long local parts': (n) => `${'a'.repeat(63)}@`.repeat(Math.ceil(n / 64)).slice(0, n),
  'dots': (n) => 'a.'.repeat(n / 2),
  "'sk-' flood": (n) => 'sk-'.repeat(Math.ceil(n / 3)).slice(0, n),
  "'eyJ-' flood": (n) => 'eyJ-'.repeat(n / 4),
  'digits': (n) => '4'.repeat(n),
  'spaced digits': (n) => '4 '.repeat(n / 2),
  "'password=' flood": (n) => 'password='.repeat(Math.ceil(n / 9)).slice(0, n),
  'unterminated quotes': (n) => 'password="'.repeat(Math.ceil(n / 10)).slice(0, n),
  'scheme:// floods': (n) => 'a://a:'.repeat(Math.ceil(n / 6)).slice(0, n),
  'long key names': (n) => `${'x'.repeat(60)}_`.repeat(Math.ceil(n / 61)).slice(0, n),
  'base64 run': (n) => 'Ab1+'.repeat(n / 4),
  "'authorization: ' flood": (n) => 'authorization: '.repeat(Math.ceil(n / 15)).slice(0, n),
  'ESC [ flood': (n) => '\x1b['.repeat(n / 2),
  'zero-width flood': (n) => 'a\u200b'.repeat(n / 2),
  'valid e-mails (every one a match)': (n) => 'a@b.co '.repeat(Math.ceil(n / 7)).slice(0, n),
  'valid URL passwords (every one a match)': (n) => 'https://u:p@h.io/ '.repeat(Math.ceil(n / 18)).slice(0, n),
  'base64 of ASCII (every run decodes)': (n) => 'QUtJQV'.repeat(Math.ceil(n / 6)).slice(0, n),
  'hex of ASCII (every run decodes)': (n) => '41'.repeat(n / 2),
  'JSON escapes flood': (n) => '\\u0041'.repeat(Math.ceil(n / 6)).slice(0, n),
  'percent escapes flood': (n) => '%41'.repeat(Math.ceil(n / 3)).slice(0, n),
  'OSC without terminator': (n) => '\x1b]0;'.repeat(Math.ceil(n / 4)).slice(0, n),
  'YAML block headers': (n) => 'password: |\n'.repeat(Math.ceil(n / 12)).slice(0, n),
  'mysql -p flood': (n) => 'mysql -pa '.repeat(Math.ceil(n / 10)).slice(0, n),
  '.pgpass-like fields': (n) => 'a:1:b:c:'.repeat(Math.ceil(n / 8)).slice(0, n),
  'netrc words': (n) => 'login password '.repeat(Math.ceil(n / 15)).slice(0, n),
  'prefix soup': (n) => 'AKIA ghp_ sk-ant- xoxb- glpat- eyJ Bearer :// '.repeat(Math.ceil(n / 46)).slice(0, n),
};

describe('linear time on hostile input', () => {
  // Every regex a rule can run: its pattern (used alone when there is no scanner or anchor, and as the
  // reference form otherwise) and, for an anchored rule, the pattern tried at each anchor.
  const patterns = DEFAULT_RULES.flatMap((rule) => (rule.pattern ? [[rule.id, rule.pattern] as const] : []));

  it('the table has patterns to check (a refactor that hid them would pass vacuously)', () => {
    expect(patterns.length).toBeGreaterThan(30);
  });

  it.each(patterns)('%s: the pattern admits no super-linear backtracking', (_, re) => {
    expect(superlinearReports(re)).toEqual([]);
  });

  it('the check catches the ReDoS shapes these rules must avoid', () => {
    // Nested quantifier, a run re-tried from every position, and two runs trading characters.
    for (const bad of [/(?:[A-Za-z0-9]+)+=/g, /\s*password\s*$/g, /[a-z0-9]+[a-z]+!/g]) expect(superlinearReports(bad), bad.source).not.toEqual([]);
    // A key=value rule written the careless way is reported; the house form (a lookbehind on its own run,
    // see RedactionRule in src/redact/redactor.ts) is not.
    expect(superlinearReports(/[A-Za-z0-9_-]+=[A-Za-z0-9]{20,}/g)).not.toEqual([]);
    expect(superlinearReports(/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{1,64}=[A-Za-z0-9]{20,200}/g)).toEqual([]);
  });

  it('the full table (with prefilters, views and decoding) runs every hostile input of 256 KB to the end', () => {
    const red = createDefaultRedactor();
    for (const [name, make] of Object.entries(HOSTILE)) {
      const input = make(256 * KB);
      const out = red.redact(input);
      expect(typeof out.text, name).toBe('string');
    }
  }, 120_000);
});

describe('nothing raw leaks, however the secret is wrapped', () => {
  const red = createDefaultRedactor();
  const stage = { mode: 'redacted' as const, redactor: red, maxBytes: 4 * 1024 * KB };
  const secrets = [
    'ghp_' + 'Z9'.repeat(18),
    'AKIA' + 'Q7'.repeat(8),
    'sk-ant-api03-' + 'x8Y'.repeat(20),
    'xoxb-' + '1234567890-1234567890123-' + 'aB3'.repeat(8),
    'glpat-' + 'k2M'.repeat(7),
  ];

  /** The captured field as it would sit in a body: JSON text. */
  const captured = (text: string) => JSON.stringify(captureContent(text, stage));

  it('a 1 MB line with secrets at the start, the middle and the end', () => {
    for (const s of secrets) {
      const filler = 'lorem ipsum dolor sit amet '.repeat(13000);
      const line = `${s} ${filler.slice(0, 350_000)} ${s} ${filler.slice(0, 350_000)} ${s}`;
      expect(line.length).toBeGreaterThan(700_000);
      const out = captured(line);
      expect(out).not.toContain(s);
      expect(out.match(/\[REDACTED:/g)?.length).toBe(3);
    }
  });

  it('secrets wrapped or split by ANSI colours, OSC sequences, bidi, zero-width, NUL', () => {
    const wrappers: Array<(s: string) => string> = [
      (s) => `\x1b[31m${s}\x1b[0m`,
      (s) => `\x1b]0;${s}\x07`,
      (s) => `\x1b]8;;https://example.com\x1b\\${s}\x1b]8;;\x1b\\`,
      (s) => `\u202e${s}\u202c`,
      (s) => `\u2066${s}\u2069`,
      (s) => `${s.slice(0, 6)}\u200b${s.slice(6)}`,
      (s) => `${s.slice(0, 6)}\u200d\u200c${s.slice(6)}`,
      (s) => `${s.slice(0, 8)}\u0000${s.slice(8)}`,
      (s) => `${s.slice(0, 5)}\x1b[1m${s.slice(5)}`,
      (s) => `\r${s}\r\n`,
      (s) => `\ufeff${s}`,
    ];
    for (const s of secrets) {
      for (const wrap of wrappers) {
        const out = captured(`output: ${wrap(s)} done`);
        const unwrapped = out.replace(/\\u\{[0-9a-f]{4,5}\}/g, '').replace(/\\u00[0-9a-f]{2}/g, '');
        expect(unwrapped, `${JSON.stringify(wrap(s))} -> ${out}`).not.toContain(s);
        expect(unwrapped).not.toContain(s.slice(6, 20));
      }
    }
  });

  it('invalid UTF-8 (decoded to U+FFFD), lone surrogates and NUL bytes around a secret', () => {
    const s = secrets[0]!;
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(s), Buffer.from([0xed, 0xa0, 0x80, 0x00])]);
    const decoded = bytes.toString('utf8');
    expect(decoded).toContain('\ufffd');
    expect(captured(decoded)).not.toContain(s);
    const lone = `\ud800${s}\udc00`;
    const c = captureContent(lone, stage);
    expect(JSON.stringify(c)).not.toContain(s);
    expect(c.text).toBe('\\u{d800}[REDACTED:github-pat]\\u{dc00}');
  });

  it('what comes out carries no raw control, bidi or invisible characters', () => {
    const nasty = `a\x00b\x07c\x08d\x1b[2Je\rf\u0085g\u202eh\u2066i\u200bj\u2028k\u00adl\udb40\udc41m\ud800`;
    const c = captureContent(nasty, stage);
    expect(c.text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/);
    expect(c.text).not.toMatch(/[\ud800-\udfff]/);
    expect(c.text).toContain('\\u{001b}[2J');
  });

  it('hostile floods through the whole capture pipeline come back bounded and intact', () => {
    for (const [name, make] of Object.entries(HOSTILE)) {
      const input = make(256 * KB);
      const c = captureContent(input, stage);
      expect(c.bytes, name).toBe(Buffer.byteLength(input));
      expect(typeof c.text, name).toBe('string');
    }
  });
});
