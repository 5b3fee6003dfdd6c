import { describe, expect, it } from 'vitest';
import { captureContent } from '../../src/audit/content.js';
import { createDefaultRedactor, createRedactor, DEFAULT_RULES } from '../../src/redact/rules.js';
import type { Redactor } from '../../src/redact/redactor.js';

/**
 * Hostile input: every rule must run in time linear in the input (V8 backtracks; one careless
 * pattern turns a 1 MB command output into minutes of CPU), and no secret may come out raw however it
 * is wrapped. Timing is only ever compared with other timings from the same run, never with a
 * wall-clock limit: the median of several runs, a bound far from both linear (1×) and quadratic (10×)
 * growth, and a fresh measurement before a failure counts (a loaded CI machine must never flake).
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

function timeMs(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function median(runs: number, fn: () => void): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) t.push(timeMs(fn));
  t.sort((a, b) => a - b);
  return t[Math.floor(runs / 2)]!;
}

/** Time for 1 MB in one string vs the same bytes as ten 100 KB strings (median of 3 each). */
function measure(red: Redactor, make: (n: number) => string) {
  const small = make(100 * KB);
  const big = make(1000 * KB);
  red.redact(small); // warm-up (JIT, lazy regex compilation)
  const tenSmall = median(3, () => {
    for (let i = 0; i < 10; i++) red.redact(small);
  });
  const oneBig = median(3, () => red.redact(big));
  return { tenSmall, oneBig };
}

/**
 * Whether one string of 1 MB costs less than `bound` times ten of 100 KB (linear: ~1×, quadratic:
 * ~10×); measured again up to three times before it is a failure, so a descheduled run is not one.
 */
function linear(red: Redactor, make: (n: number) => string, bound: number): { ok: boolean; report: string } {
  let report = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const m = measure(red, make);
    report = `10x100KB ${m.tenSmall.toFixed(1)} ms, 1MB ${m.oneBig.toFixed(1)} ms`;
    // Below 5 ms the clock's resolution and GC dominate: nothing superlinear hides there.
    if (m.oneBig < Math.max(bound * m.tenSmall, 5)) return { ok: true, report };
  }
  return { ok: false, report };
}

describe('linear time on hostile input', () => {
  // Each rule alone, with its keyword prefilter removed so the pattern itself faces the input (an
  // anchored rule keeps its keywords: they are where it tries the pattern), and each anchored or
  // scanned rule also in its reference form (the plain global pattern).
  const single = DEFAULT_RULES.flatMap((rule) => [
    [rule.id, createRedactor({ rules: [{ ...rule, keywords: rule.anchor ? rule.keywords : undefined }] })] as const,
    ...(rule.anchor || (rule.scan && rule.pattern)
      ? [[`${rule.id} (reference pattern)`, createRedactor({ rules: [{ ...rule, keywords: undefined, anchor: undefined, scan: undefined }] })] as const]
      : []),
  ]);

  it.each(Object.entries(HOSTILE))('%s: no rule grows superlinearly', (_, make) => {
    for (const [id, red] of single) {
      const { ok, report } = linear(red, make, 5);
      expect(ok, `${id}: ${report}`).toBe(true);
    }
  });

  it('the full table (with prefilters, views and decoding) stays linear on every hostile input', () => {
    const red = createDefaultRedactor();
    for (const [name, make] of Object.entries(HOSTILE)) {
      const { ok, report } = linear(red, make, 5);
      expect(ok, `${name}: ${report}`).toBe(true);
    }
  });
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
