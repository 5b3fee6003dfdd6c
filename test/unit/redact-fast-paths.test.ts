import { describe, expect, it } from 'vitest';
import type { RedactionRule } from '../../src/redact/redactor.js';
import { createRedactor, DEFAULT_RULES, scanCards } from '../../src/redact/rules.js';
import { prng } from '../helpers/prng.js';

/**
 * The redactor's fast paths (rules tried only at keyword-anchored run starts, and the one-pass
 * token-run scanners of the high-entropy rules) must find exactly what their reference patterns find
 * with a plain global search. Checked on a seeded corpus built to hit every boundary: keywords inside
 * and at the edge of key names, runs longer than the anchor reach, runs around the 20/32/4096 limits,
 * trailing `=`, adjacent and overlapping candidates, hidden characters.
 */


const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-';
const HEX = '0123456789abcdefABCDEF';
const KEY = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-';
const KEYWORDS = [
  'password', 'PASSWD', 'passphrase', 'pwd', 'pass', 'secret', 'Token', 'api_key', 'API-KEY', 'apikey', 'access.key',
  'encryption_key', 'session-key', 'credentials', 'credential', 'key', 'private_key', 'signing_key', 'auth_key',
];
const SEPS = ['=', ': ', ' = ', '=>', ':=', '"="', "':'", '\\"=', ' ', '\n', '\t', '.', '-', '_', '%', '+', '/', '==', '===', ';', '&', ',', '(', ')', '[', '"', "'", '`', '@', '://', ':', '#', '?'];

function corpus(count: number, seed: number): string[] {
  const rnd = prng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const run = (alphabet: string, n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rnd() * alphabet.length)]!;
    return s;
  };
  const lengths = [1, 2, 5, 19, 20, 21, 31, 32, 33, 40, 63, 64, 65, 74, 75, 76, 80];
  const parts: Array<() => string> = [
    () => pick(KEYWORDS),
    () => pick(SEPS),
    () => pick(SEPS),
    () => run(B64, pick(lengths)),
    () => run(HEX, pick(lengths)),
    () => run(KEY, pick(lengths)) + pick(KEYWORDS),
    () => pick(KEYWORDS) + run(KEY, pick([0, 3, 20, 21])),
    () => `${run(KEY, pick([1, 8, 63, 64, 65]))}@${run('abc.-', pick([1, 5]))}.${run('comorg', pick([1, 2, 3]))}`,
    () => `${pick(['https', 'h', 'postgres', 'a+b.c-d', run('abcdef', pick([29, 30, 31, 32]))])}://${run('user', pick([0, 3]))}:${run(B64, pick([1, 12]))}@host`,
    () => `"${pick(KEYWORDS)}": "${run(B64, pick([3, 12, 40]))}"`,
    () => `${pick(KEYWORDS)}=${pick(['os.environ["X"]', 'None', '${VAR}', run(B64, pick([7, 8, 9, 24]))])}`,
    () => run(B64, pick([4095, 4096, 4097, 4115, 4116, 8200])) + pick(['', '=', '==', '===']),
    () => run(HEX, pick([4095, 4096, 4097])),
    () => pick(['\u200b', '\u0000', '\x1b[31m', '\u202e', '\u00ad']),
    () => 'é' + run(B64, 25),
    () => pick(['AKIA', 'ASIA', 'ghp_', 'gho_', 'github_pat_', 'glpat-', 'xoxb-', 'sk-', 'sk-ant-', 'sk_live_', 'hf_', 'npm_', 'eyJ', 'AIza', 'ya29.']) + run(B64, pick([10, 20, 36, 40])),
    () => pick(['Authorization: Bearer ', 'bearer ', '--password ', '-pass ', '--token=', '-u admin:', '--user bob:', 'sig=', 'AccountKey=', 'SharedAccessKey=']) + run(B64, pick([4, 16, 44])),
    () => `${pick(['postgres', 'mysql', 'jdbc:mysql', 'redis', 'mongodb+srv'])}://app:${run(B64, 12)}@db`,
    () => `${pick(['aws_secret_access_key', 'AWS_SECRET_KEY', 'SecretAccessKey', 'awsSecretKey', 'secret_access_key', 'MY_AWS_SECRET_ACCESS_KEY'])}${pick(['=', ': ', '": "'])}${run(B64, 40)} AWS_SESSION_TOKEN=${run(B64, 120)}`,
    () => `${pick(['postgresql', 'POSTGRES', 'mysql+pymysql', 'MariaDB', 'rediss', 'amqps', 'mssql', 'sqlserver', 'clickhouse', 'cockroachdb', 'JDBC:postgresql', 'x:postgres'])}://u:${run(B64, 10)}@h`,
    () => pick(['4111 1111 1111 1111', '5500-0000-0000-0004', '378282246310005']),
    () => `-----BEGIN RSA PRIVATE KEY-----\n${run(B64, 64)}\n-----END RSA PRIVATE KEY-----`,
    // provider-token (anchored on its prefixes, `_v1_` three characters in) and pgpass-line (anchored on
    // the port's colon, up to 253 host characters back): prefixes glued to runs, times and IPv6 look-alikes.
    () => pick(['GOCSPX-', 'SG.', 'dapi', 'dop_v1_', 'dor_v1_', 'shpat_', 'shpss_', 'hvs.', 'hvb.', 'AGE-SECRET-KEY-1', 'glsa_', 'glc_', 'PMAK-', 'lin_api_', 'dp.pt.', 'xkeysib-', 'SK', 'ATATT3', 'task', 'disk']) +
      pick([run(HEX, pick([24, 32, 34, 64])), run(B64, pick([22, 28, 40, 43, 58, 120])), `${run(HEX, 24)}-${run(HEX, 34)}`, `${run(B64, 22)}.${run(B64, 43)}`, `${run(HEX, 64)}-${run(B64, 16)}`]),
    // The exact shapes, so candidates are many (glued to what comes before and after, or not).
    () =>
      pick(['', '', 'x', '.', '-']) +
      pick([
        () => `GOCSPX-${run(B64.slice(0, 64), 28)}`,
        () => `SG.${run(KEY.slice(0, 62), 22)}.${run(KEY.slice(0, 62), 43)}`,
        () => `dapi${run('0123456789abcdef', 32)}`,
        () => `do${pick(['o', 'p', 'r'])}_v1_${run('0123456789abcdef', 64)}`,
        () => `hvs.${run(KEY.slice(0, 62), pick([24, 90, 255, 256]))}`,
        () => `SK${run(HEX, 32)}`,
        () => `lin_api_${run(KEY.slice(0, 62), 40)}`,
        () => `xkeysib-${run('0123456789abcdef', 64)}-${run(KEY.slice(0, 62), 16)}`,
      ])() +
      pick(['', '', ' ', 'x', '-']),
    () =>
      `${pick(['', ' ', '\n', '"', "'", '=', '>', 'x'])}${pick(['localhost', '*', 'db.example.com', '[::1]', '[fe80::1:2]', run(KEY, pick([1, 64, 252, 253, 254, 260])), '10', 'a:b'])}:${pick(['5432', '*', '1', '65535', '123456', 'x'])}:${pick(['app', '*', 'a b', ''])}:${pick(['u', '*', 'us:er'])}:${pick([run(B64, pick([1, 4, 12, 40])), 'abcd', '12', '\\ x', '"q"'])}`,
    () => pick(['10:21', '3:14:15', ' 12:00:01 ', '::1', 'a:1:b:c:d', ':*:', 'x:*:*:*:pw']),
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    const n = 1 + Math.floor(rnd() * 40);
    for (let k = 0; k < n; k++) s += pick(parts)();
    out.push(s);
  }
  return out;
}

/** Every rule with a fast path, and its reference form: the plain pattern with a global search. */
const FAST = DEFAULT_RULES.filter((r) => r.pattern && (r.anchor || r.scan));
const reference = (rule: RedactionRule): RedactionRule => ({ ...rule, anchor: undefined, scan: undefined });
/** Without its validator and keywords, a rule reports every candidate: the comparison sees raw spans. */
const raw = (rule: RedactionRule): RedactionRule => ({ ...rule, validate: undefined, keywords: rule.anchor ? rule.keywords : undefined });

describe('redactor fast paths equal their reference patterns', () => {
  // Pure-ASCII texts take the scanners' byte path, the others the character path: both are checked.
  const mixed = corpus(1500, 7);
  const texts = [...mixed, ...mixed.map((t) => t.replace(/[^\u0000-\u007f]/g, 'q'))];

  it('covers the anchored rules and the token-run scanners', () => {
    expect(FAST.map((r) => r.id).sort()).toEqual(
      ['email', 'env-secret-assignment', 'high-entropy-base64', 'high-entropy-hex', 'password-assignment', 'pgpass-line', 'provider-token', 'secret-assignment', 'url-password'].sort(),
    );
  });

  it.each(FAST.map((r) => [r.id, r] as const))('%s: same candidate spans and same redactions on the corpus', (_, rule) => {
    const fastRaw = createRedactor({ rules: [raw(rule)] });
    const refRaw = createRedactor({ rules: [reference(raw(rule))] });
    const fast = createRedactor({ rules: [rule] });
    const ref = createRedactor({ rules: [reference(rule)] });
    let candidates = 0;
    for (const text of texts) {
      const a = fastRaw.redact(text);
      expect(a, JSON.stringify(text.slice(0, 300))).toEqual(refRaw.redact(text));
      candidates += a.counts[rule.id] ?? 0;
      expect(fast.redact(text), JSON.stringify(text.slice(0, 300))).toEqual(ref.redact(text));
    }
    // The corpus really exercises the rule (not a comparison of two empty results).
    expect(candidates).toBeGreaterThan(100);
  });

  it('credit-card: skipping texts whose number runs hold fewer than 13 digits skips no card', () => {
    const red = createRedactor();
    let cards = 0;
    let skipped = 0;
    for (const text of texts) {
      if (/[^\u0000-\u007f]/.test(text)) continue;
      red.redact(text); // its prescan leaves the digit count of this text for the card scanner
      const gated = [...scanCards(text)];
      // The same text plus one non-ASCII character at the end: no prescan count, so the scanner runs in full.
      const full = [...scanCards(`${text}\u00e9`)];
      expect(gated, JSON.stringify(text.slice(0, 300))).toEqual(full);
      cards += full.length;
      if (!/[0-9][0-9 -]*/.test(text) || Math.max(...(text.match(/[0-9 -]+/g) ?? ['']).map((r) => r.replace(/[^0-9]/g, '').length)) < 13) skipped++;
    }
    expect(cards).toBeGreaterThan(50);
    expect(skipped).toBeGreaterThan(100);
  });

  it('the whole table, keyword prefilter included, gives the same result as every reference pattern run on every text', () => {
    const fast = createRedactor();
    const ref = createRedactor({ rules: DEFAULT_RULES.map((r) => ({ ...(r.pattern ? reference(r) : r), keywords: undefined })) });
    let redacted = 0;
    for (const text of texts) {
      const a = fast.redact(text);
      expect(a.text, JSON.stringify(text.slice(0, 300))).toBe(ref.redact(text).text);
      if (a.text !== text) redacted++;
    }
    expect(redacted).toBeGreaterThan(500);
  });
});
