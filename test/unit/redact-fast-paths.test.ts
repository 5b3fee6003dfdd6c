import { describe, expect, it } from 'vitest';
import type { RedactionRule } from '../../src/redact/redactor.js';
import { createRedactor, DEFAULT_RULES, scanCards } from '../../src/redact/rules.js';
import { hasYamlBlockIndicator } from '../../src/redact/scanners.js';
import { prng } from '../helpers/prng.js';

/**
 * The redactor's fast paths (rules tried only at keyword-anchored run starts, and the one-pass
 * token-run scanners of the high-entropy rules) must find exactly what their reference patterns find
 * with a plain global search. Checked on a seeded corpus built to hit every boundary: keywords inside
 * and at the edge of key names, runs longer than the anchor reach, runs around the 20/32/4096 limits,
 * trailing `=`, adjacent and overlapping candidates, hidden characters. The 4 KiB runs are few (they
 * were ~90 % of the characters and of the time) and go round-robin; the first test asserts that every
 * option of every choice is in the corpus at least MIN_PER_CASE times. Shrinking a fast path's reach
 * by one (BASE64_MIN/MAX, HEX_MAX, each anchor's maxBack) makes its comparison fail on this corpus.
 */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-';
const HEX = '0123456789abcdefABCDEF';
const KEY = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-';
const KEYWORDS = [
  'password',
  'PASSWD',
  'passphrase',
  'pwd',
  'pass',
  'secret',
  'Token',
  'api_key',
  'API-KEY',
  'apikey',
  'access.key',
  'encryption_key',
  'session-key',
  'credentials',
  'credential',
  'key',
  'private_key',
  'signing_key',
  'auth_key',
];
const SEPS = [
  '=',
  ': ',
  ' = ',
  '=>',
  ':=',
  '"="',
  "':'",
  '\\"=',
  ' ',
  '\n',
  '\t',
  '.',
  '-',
  '_',
  '%',
  '+',
  '/',
  '==',
  '===',
  ';',
  '&',
  ',',
  '(',
  ')',
  '[',
  '"',
  "'",
  '`',
  '@',
  '://',
  ':',
  '#',
  '?',
];

/**
 * How often each option of each labelled choice in the generator was taken: the corpus is kept small
 * (4 KiB runs are what the time goes into), so the test asserts that every boundary case the generator
 * can produce was produced, several times, instead of trusting a large random sample to contain it.
 */
type Coverage = Map<string, number[]>;

/** Runs long enough to cross the 4096-character limits (token runs, JWT, bearer, …) and JWT's 8192. */
const LONG_B64 = [4095, 4096, 4097, 4115, 4116, 8200].flatMap((n) => ['', '=', '==', '==='].map((pad) => [n, pad] as const));
const LONG_HEX = [4095, 4096, 4097];
/** The share of parts that are one of the long runs (they are ~90 % of the characters when picked as often as the others). */
const LONG_SHARE = 0.012;
/** Each option of each choice is in the corpus at least this often. */
const MIN_PER_CASE = 5;
/** The labelled choices of the generator (pick/one/cycle sites). */
const SITES = 52;

function corpus(count: number, seed: number, coverage: Coverage = new Map()): string[] {
  const rnd = prng(seed);
  const pick = <T>(site: string, xs: readonly T[]): T => {
    const i = Math.floor(rnd() * xs.length);
    let counts = coverage.get(site);
    if (!counts) coverage.set(site, (counts = new Array<number>(xs.length).fill(0)));
    counts[i]!++;
    return xs[i]!;
  };
  /** A choice among literals and generators (called only when chosen, so the coverage counts what is in the corpus). */
  const one = (site: string, xs: ReadonlyArray<string | (() => string)>): string => {
    const x = pick(site, xs);
    return typeof x === 'string' ? x : x();
  };
  const run = (alphabet: string, n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rnd() * alphabet.length)]!;
    return s;
  };
  const lengths = [1, 2, 5, 19, 20, 21, 31, 32, 33, 40, 63, 64, 65, 74, 75, 76, 80];
  /** The long runs are few, so they go round-robin (base64 and hex in turn): each case gets its share. */
  const turns = new Map<string, number>();
  const cycle = <T>(site: string, xs: readonly T[]): T => {
    const i = (turns.get(site) ?? 0) % xs.length;
    turns.set(site, i + 1);
    let counts = coverage.get(site);
    if (!counts) coverage.set(site, (counts = new Array<number>(xs.length).fill(0)));
    counts[i]!++;
    return xs[i]!;
  };
  const long: Array<() => string> = [
    () => {
      const [n, pad] = cycle('long-base64 length+pad', LONG_B64);
      return run(B64, n) + pad;
    },
    () => run(HEX, cycle('long-hex length', LONG_HEX)),
  ];
  // The exact provider-token shapes, so candidates are many (glued to what comes before and after, or not).
  const providerShape = (): string =>
    pick('before provider shape', ['', '', 'x', '.', '-']) +
    one('provider shape', [
      () => `GOCSPX-${run(B64.slice(0, 64), 28)}`,
      () => `SG.${run(KEY.slice(0, 62), 22)}.${run(KEY.slice(0, 62), 43)}`,
      () => `dapi${run('0123456789abcdef', 32)}`,
      () => `do${pick('do prefix', ['o', 'p', 'r'])}_v1_${run('0123456789abcdef', 64)}`,
      () => `hvs.${run(KEY.slice(0, 62), pick('vault token length', [24, 90, 255, 256]))}`,
      () => `SK${run(HEX, 32)}`,
      () => `lin_api_${run(KEY.slice(0, 62), 40)}`,
      () => `xkeysib-${run('0123456789abcdef', 64)}-${run(KEY.slice(0, 62), 16)}`,
    ]) +
    pick('after provider shape', ['', '', ' ', 'x', '-']);
  const parts: Array<() => string> = [
    () => pick('keyword', KEYWORDS),
    () => pick('separator', SEPS),
    () => pick('separator', SEPS),
    () => run(B64, pick('base64 length', lengths)),
    () => run(HEX, pick('hex length', lengths)),
    () => run(KEY, pick('key-run length before keyword', lengths)) + pick('keyword at key end', KEYWORDS),
    () => pick('keyword at key start', KEYWORDS) + run(KEY, pick('key-run length after keyword', [0, 3, 20, 21])),
    () =>
      `${run(KEY, pick('email local length', [1, 8, 63, 64, 65]))}@${run('abc.-', pick('email domain length', [1, 5]))}.${run('comorg', pick('email tld length', [1, 2, 3]))}`,
    () =>
      `${one('url scheme', ['https', 'h', 'postgres', 'a+b.c-d', () => run('abcdef', pick('url scheme length', [29, 30, 31, 32]))])}://${run('user', pick('url user length', [0, 3]))}:${run(B64, pick('url password length', [1, 12]))}@host`,
    () => `"${pick('json key', KEYWORDS)}": "${run(B64, pick('json value length', [3, 12, 40]))}"`,
    () =>
      `${pick('assignment key', KEYWORDS)}=${one('assignment value', ['os.environ["X"]', 'None', '${VAR}', () => run(B64, pick('assignment value length', [7, 8, 9, 24]))])}`,
    () => pick('hidden character', ['\u200b', '\u0000', '\x1b[31m', '\u202e', '\u00ad']),
    () => 'é' + run(B64, 25),
    () =>
      pick('token prefix', [
        'AKIA',
        'ASIA',
        'ghp_',
        'gho_',
        'github_pat_',
        'glpat-',
        'xoxb-',
        'sk-',
        'sk-ant-',
        'sk_live_',
        'hf_',
        'npm_',
        'eyJ',
        'AIza',
        'ya29.',
      ]) + run(B64, pick('token length', [10, 20, 36, 40])),
    () =>
      pick('header or flag', [
        'Authorization: Bearer ',
        'bearer ',
        '--password ',
        '-pass ',
        '--token=',
        '-u admin:',
        '--user bob:',
        'sig=',
        'AccountKey=',
        'SharedAccessKey=',
      ]) + run(B64, pick('header value length', [4, 16, 44])),
    () => `${pick('db scheme', ['postgres', 'mysql', 'jdbc:mysql', 'redis', 'mongodb+srv'])}://app:${run(B64, 12)}@db`,
    () =>
      `${pick('aws key name', ['aws_secret_access_key', 'AWS_SECRET_KEY', 'SecretAccessKey', 'awsSecretKey', 'secret_access_key', 'MY_AWS_SECRET_ACCESS_KEY'])}${pick('aws separator', ['=', ': ', '": "'])}${run(B64, 40)} AWS_SESSION_TOKEN=${run(B64, 120)}`,
    () =>
      `${pick('db scheme spelling', ['postgresql', 'POSTGRES', 'mysql+pymysql', 'MariaDB', 'rediss', 'amqps', 'mssql', 'sqlserver', 'clickhouse', 'cockroachdb', 'JDBC:postgresql', 'x:postgres'])}://u:${run(B64, 10)}@h`,
    () => pick('card', ['4111 1111 1111 1111', '5500-0000-0000-0004', '378282246310005']),
    () => `-----BEGIN RSA PRIVATE KEY-----\n${run(B64, 64)}\n-----END RSA PRIVATE KEY-----`,
    // provider-token (anchored on its prefixes, `_v1_` three characters in) and pgpass-line (anchored on
    // the port's colon, up to 253 host characters back): prefixes glued to runs, times and IPv6 look-alikes.
    () =>
      pick('provider prefix', [
        'GOCSPX-',
        'SG.',
        'dapi',
        'dop_v1_',
        'dor_v1_',
        'shpat_',
        'shpss_',
        'hvs.',
        'hvb.',
        'AGE-SECRET-KEY-1',
        'glsa_',
        'glc_',
        'PMAK-',
        'lin_api_',
        'dp.pt.',
        'xkeysib-',
        'SK',
        'ATATT3',
        'task',
        'disk',
      ]) +
      one('provider body', [
        () => run(HEX, pick('provider hex length', [24, 32, 34, 64])),
        () => run(B64, pick('provider base64 length', [22, 28, 40, 43, 58, 120])),
        () => `${run(HEX, 24)}-${run(HEX, 34)}`,
        () => `${run(B64, 22)}.${run(B64, 43)}`,
        () => `${run(HEX, 64)}-${run(B64, 16)}`,
      ]),
    // Twice (as the separators): the few exact shapes are what the provider-token comparison needs most.
    providerShape,
    providerShape,
    () =>
      `${pick('pgpass before', ['', ' ', '\n', '"', "'", '=', '>', 'x'])}${one('pgpass host', ['localhost', '*', 'db.example.com', '[::1]', '[fe80::1:2]', () => run(KEY, pick('pgpass host length', [1, 64, 252, 253, 254, 260])), '10', 'a:b'])}:${pick('pgpass port', ['5432', '*', '1', '65535', '123456', 'x'])}:${pick('pgpass database', ['app', '*', 'a b', ''])}:${pick('pgpass user', ['u', '*', 'us:er'])}:${one('pgpass password', [() => run(B64, pick('pgpass password length', [1, 4, 12, 40])), 'abcd', '12', '\\ x', '"q"'])}`,
    () => pick('colon look-alike', ['10:21', '3:14:15', ' 12:00:01 ', '::1', 'a:1:b:c:d', ':*:', 'x:*:*:*:pw']),
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    const n = 1 + Math.floor(rnd() * 40);
    for (let k = 0; k < n; k++) s += rnd() < LONG_SHARE ? cycle('long run', long)() : pick('part', parts)();
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
  const coverage: Coverage = new Map();
  const mixed = corpus(1500, 7, coverage);
  // Pure-ASCII texts take the scanners' byte path, the others the character path: both are checked
  // (the ASCII copy of a text that is ASCII already would repeat it, so it is not added).
  const asciiCopies = mixed.map((t) => t.replace(/[^\u0000-\u007f]/g, 'q')).filter((t, i) => t !== mixed[i]);
  const texts = [...mixed, ...asciiCopies];

  it('the corpus holds every boundary case of the generator, several times, in both paths', () => {
    const rare: string[] = [];
    for (const [site, counts] of coverage) counts.forEach((n, i) => n < MIN_PER_CASE && rare.push(`${site}[${i}]: ${n}`));
    expect(rare).toEqual([]);
    // Every labelled choice was reached (a site is registered on its first use).
    expect(coverage.size).toBe(SITES);
    expect(asciiCopies.length).toBeGreaterThan(500);
    expect(mixed.length - asciiCopies.length).toBeGreaterThan(300);
  });

  it('covers the anchored rules and the token-run scanners', () => {
    expect(FAST.map((r) => r.id).sort()).toEqual(
      [
        'email',
        'env-secret-assignment',
        'high-entropy-base64',
        'high-entropy-hex',
        'password-assignment',
        'pgpass-line',
        'provider-token',
        'secret-assignment',
        'url-password',
      ].sort(),
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
      if (!/[0-9][0-9 -]*/.test(text) || Math.max(...(text.match(/[0-9 -]+/g) ?? ['']).map((r) => r.replace(/[^0-9]/g, '').length)) < 13)
        skipped++;
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

describe('the YAML block gate finds exactly what its reference pattern finds', () => {
  it('agrees with /:[ \\t]{0,4}[|>]/ on texts built around the boundary', () => {
    const rnd = prng(11);
    const alphabet = [':', ' ', '\t', '|', '>', 'a', '\n', '-'];
    let agreedTrue = 0;
    for (let n = 0; n < 20000; n++) {
      let s = '';
      const len = 1 + Math.floor(rnd() * 14);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)]!;
      const expected = /:[ \t]{0,4}[|>]/.test(s);
      expect(hasYamlBlockIndicator(s), JSON.stringify(s)).toBe(expected);
      if (expected) agreedTrue++;
    }
    // Both outcomes are exercised, including the 4- and 5-blank edges.
    expect(agreedTrue).toBeGreaterThan(1000);
    expect(hasYamlBlockIndicator('key:    |')).toBe(true);
    expect(hasYamlBlockIndicator('key:     |')).toBe(false);
  });
});
