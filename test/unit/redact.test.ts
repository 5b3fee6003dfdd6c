import { describe, expect, it } from 'vitest';
import { createDefaultRedactor, createRedactor, DEFAULT_RULES, REDACTION_RULES_VERSION } from '../../src/redact/rules.js';
import { luhnValid, shannonEntropy } from '../../src/redact/validators.js';

// Test secrets are assembled at run time from a seeded generator, so no real-looking credential sits
// in the source for a secret scanner to trip over, and every run uses the same values.
function gen(seed: number) {
  let s = seed >>> 0;
  return (n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string => {
    let out = '';
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      out += alphabet[s % alphabet.length];
    }
    return out;
  };
}
const r = gen(42);
const UP = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const HEX = '0123456789abcdef';

const redactor = createDefaultRedactor();

/** Each family: text around a secret, the secret, and the rule that must take it. */
const CASES: Array<{ rule: string; secret: string; text: (s: string) => string }> = [
  { rule: 'aws-access-key', secret: 'AKIA' + r(16, UP), text: (s) => `export AWS_ACCESS_KEY_ID=${s}` },
  { rule: 'aws-access-key', secret: 'ASIA' + r(16, UP), text: (s) => `key ${s} (temporary)` },
  { rule: 'aws-secret-key', secret: r(40, B64), text: (s) => `aws_secret_access_key = ${s}` },
  { rule: 'aws-secret-key', secret: r(40, B64), text: (s) => `{"AccessKeyId": "x", "SecretAccessKey": "${s}"}` },
  { rule: 'aws-session-token', secret: r(160, B64), text: (s) => `AWS_SESSION_TOKEN=${s}` },
  { rule: 'gcp-api-key', secret: 'AIza' + r(35), text: (s) => `?key=${s}&q=1` },
  {
    rule: 'gcp-service-account-key',
    secret: `-----BEGIN PRIVATE KEY-----\\n${r(64, B64)}\\n${r(64, B64)}\\n-----END PRIVATE KEY-----\\n`,
    text: (s) => `{"type": "service_account", "private_key_id": "abc", "private_key": "${s}", "client_id": "1"}`,
  },
  { rule: 'gcp-oauth-token', secret: 'ya29.' + r(60), text: (s) => `token: ${s}` },
  {
    rule: 'azure-storage-key',
    secret: r(86, B64) + '==',
    text: (s) => `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${s};EndpointSuffix=core.windows.net`,
  },
  {
    rule: 'azure-connection-string',
    secret: r(43, B64) + '=',
    text: (s) => `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${s}`,
  },
  { rule: 'azure-sas-token', secret: r(43, B64).replace(/\+/g, '%2B') + '%3D', text: (s) => `https://a.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=${s}` },
  { rule: 'github-pat', secret: 'ghp_' + r(36), text: (s) => `git clone https://x-access-token@github.com ; GH_TOKEN ${s}` },
  { rule: 'github-oauth', secret: 'gho_' + r(36), text: (s) => `oauth ${s}` },
  { rule: 'github-app-token', secret: 'ghs_' + r(36), text: (s) => `installation token ${s}.` },
  { rule: 'github-refresh-token', secret: 'ghr_' + r(36), text: (s) => `refresh=${s}` },
  { rule: 'github-fine-grained-pat', secret: 'github_pat_' + r(22) + '_' + r(59), text: (s) => `token: "${s}"` },
  { rule: 'gitlab-pat', secret: 'glpat-' + r(20), text: (s) => `PRIVATE-TOKEN: ${s}` },
  { rule: 'gitlab-token', secret: 'glrt-' + r(20), text: (s) => `runner ${s}` },
  { rule: 'slack-token', secret: 'xoxb-' + r(11, '0123456789') + '-' + r(13, '0123456789') + '-' + r(24), text: (s) => `SLACK_BOT=${s}` },
  { rule: 'slack-token', secret: 'xoxp-' + r(11, '0123456789') + '-' + r(32), text: (s) => `user token ${s}` },
  { rule: 'slack-webhook', secret: 'hooks.slack.com/services/T' + r(8, UP) + '/B' + r(8, UP) + '/' + r(24), text: (s) => `curl -X POST https://${s} -d '{}'` },
  { rule: 'stripe-key', secret: 'sk_' + 'live_' + r(24), text: (s) => `stripe.api_key = ${s}` },
  { rule: 'stripe-key', secret: 'rk_' + 'live_' + r(24), text: (s) => `restricted ${s}` },
  { rule: 'openai-api-key', secret: 'sk-' + r(48), text: (s) => `OPENAI_API_KEY=${s}` },
  { rule: 'openai-api-key', secret: 'sk-proj-' + r(60) + '_' + r(40), text: (s) => `client = OpenAI(api_key="${s}")` },
  { rule: 'anthropic-api-key', secret: 'sk-ant-api03-' + r(80) + '-' + r(12) + 'AA', text: (s) => `x-api-key: ${s}` },
  { rule: 'huggingface-token', secret: 'hf_' + r(34), text: (s) => `HF_TOKEN ${s}` },
  { rule: 'pypi-token', secret: 'pypi-AgEIcHlwaS5vcmc' + r(60), text: (s) => `TWINE_PASSWORD ${s}` },
  { rule: 'npm-token', secret: 'npm_' + r(36), text: (s) => `//registry.npmjs.org/:_authToken ${s}` },
  {
    rule: 'private-key',
    secret: `-----BEGIN RSA PRIVATE KEY-----\n${r(64, B64)}\n${r(64, B64)}\n${r(20, B64)}==\n-----END RSA PRIVATE KEY-----`,
    text: (s) => `$ cat ~/.ssh/id_rsa\n${s}\n$ `,
  },
  {
    rule: 'private-key',
    secret: `-----BEGIN OPENSSH PRIVATE KEY-----\n${r(70, B64)}\n${r(70, B64)}\n-----END OPENSSH PRIVATE KEY-----`,
    text: (s) => `${s}`,
  },
  {
    rule: 'private-key',
    secret: `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${r(64, B64)}\n=${r(4, B64)}\n-----END PGP PRIVATE KEY BLOCK-----`,
    text: (s) => `gpg --export-secret-keys -a\n${s}`,
  },
  {
    rule: 'jwt',
    secret: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ' + r(60) + '.' + r(43),
    text: (s) => `cookie: session=${s}; Path=/`,
  },
  { rule: 'authorization-header', secret: r(40), text: (s) => `curl -H "Authorization: Bearer ${s}" https://api.example.com` },
  { rule: 'authorization-header', secret: Buffer.from('admin:' + r(12)).toString('base64'), text: (s) => `Authorization: Basic ${s}\r\nHost: x` },
  { rule: 'bearer-token', secret: r(40), text: (s) => `use bearer ${s} for the API` },
  { rule: 'url-password', secret: r(14), text: (s) => `git remote add origin https://deploy:${s}@git.example.com/repo.git` },
  { rule: 'url-password', secret: 'p@ss' + r(6), text: (s) => `ftp://user:${s}@ftp.example.com/` },
  { rule: 'connection-string', secret: r(16), text: (s) => `DATABASE_URL=postgres://app:${s}@db.internal:5432/prod` },
  { rule: 'connection-string', secret: r(16), text: (s) => `mysql://root:${s}@127.0.0.1/db` },
  { rule: 'connection-string', secret: r(16), text: (s) => `MONGO=mongodb+srv://svc:${s}@cluster0.abcde.mongodb.net/?retryWrites=true` },
  { rule: 'connection-string', secret: r(16), text: (s) => `redis://:${s}@cache:6379/0` },
  { rule: 'password-assignment', secret: 'hunter2', text: (s) => `DB_PASSWORD=${s}` },
  { rule: 'password-assignment', secret: 'correct horse battery staple', text: (s) => `passwd: "${s}"` },
  { rule: 'password-assignment', secret: r(12), text: (s) => `{"user": "bob", "password": "${s}"}` },
  { rule: 'password-assignment', secret: r(12), text: (s) => `conn = connect(host="h", password='${s}')` },
  { rule: 'password-flag', secret: r(12), text: (s) => `mysqldump --password ${s} prod` },
  { rule: 'cli-user-password', secret: r(12), text: (s) => `curl -u admin:${s} https://jenkins.local` },
  { rule: 'secret-assignment', secret: r(24), text: (s) => `client_secret: ${s}` },
  { rule: 'secret-assignment', secret: r(20), text: (s) => `API_KEY=${s}` },
  { rule: 'secret-assignment', secret: 'not-very-random', text: (s) => `token = "${s}"` },
  { rule: 'email', secret: 'alice.smith+audit@example.co.uk', text: (s) => `From: Alice <${s}>` },
  { rule: 'credit-card', secret: '4111 1111 1111 1111', text: (s) => `card: ${s} exp 12/29` },
  { rule: 'credit-card', secret: '5500-0000-0000-0004', text: (s) => `mc ${s}` },
  { rule: 'credit-card', secret: '378282246310005', text: (s) => `amex=${s}` },
  { rule: 'high-entropy-hex', secret: r(64, HEX), text: (s) => `HMAC secret ${s} (keep safe)` },
  { rule: 'high-entropy-base64', secret: r(40, B64), text: (s) => `opaque ${s} end` },
  { rule: 'high-entropy-hex', secret: r(64, HEX), text: (s) => `POST http://127.0.0.1:9000/s/${s}/v1/chat/completions` },
  { rule: 'netrc-password', secret: r(14), text: (s) => `machine api.example.com login deploy password ${s}` },
  { rule: 'netrc-password', secret: r(14), text: (s) => `machine git.example.com\n  login bob\n  password ${s}\n` },
  { rule: 'pgpass-line', secret: r(14), text: (s) => `db.internal:5432:app:app_user:${s}\n` },
  { rule: 'pgpass-line', secret: r(14), text: (s) => `echo "*:*:*:postgres:${s}" >> ~/.pgpass` },
  { rule: 'mysql-password', secret: r(12), text: (s) => `mysql -h db -uroot -p${s} prod < dump.sql` },
  { rule: 'mysql-password', secret: r(12), text: (s) => `mariadb-dump -u admin -p'${s}' shop | gzip` },
  { rule: 'yaml-block-secret', secret: `${r(30)}\n    ${r(30)}`, text: (s) => `db:\n  password: |\n    ${s}\n  host: db\n` },
  { rule: 'env-secret-assignment', secret: 'hunter22', text: (s) => `export APP_SECRET=${s}` },
  { rule: 'env-secret-assignment', secret: r(12), text: (s) => `REDIS_AUTH=${s} docker compose up` },
  { rule: 'password-assignment', secret: 'hunter22', text: (s) => `[database]\npass = ${s}\nuser = app` },
  { rule: 'password-assignment', secret: 'hunter22', text: (s) => `SMTP_PASS=${s}` },
  { rule: 'provider-token', secret: 'GOCSPX-' + r(28), text: (s) => `client_secret ${s}` },
  { rule: 'provider-token', secret: 'SG.' + r(22) + '.' + r(43), text: (s) => `sendgrid ${s}` },
  { rule: 'provider-token', secret: 'dapi' + r(32, HEX), text: (s) => `databricks ${s}` },
  { rule: 'provider-token', secret: 'hvs.' + r(90), text: (s) => `vault ${s}` },
  { rule: 'azure-ad-client-secret', secret: r(3) + '8Q~' + r(34, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~.'), text: (s) => `AZURE_CLIENT ${s}` },
  { rule: 'telegram-bot-token', secret: '123456789:AA' + r(33), text: (s) => `bot ${s}` },
  {
    rule: 'base64-encoded-secret',
    // A repetitive value: its encoding is below every entropy gate, only decoding finds it.
    secret: Buffer.from(`password=${'abc'.repeat(12)}`).toString('base64'),
    text: (s) => `echo ${s} | base64 -d`,
  },
  { rule: 'hex-encoded-secret', secret: Buffer.from(`password=${'abc'.repeat(12)}`).toString('hex'), text: (s) => `payload ${s}` },
];

describe('redaction rule table', () => {
  it('is versioned, and every rule has a unique id and a description', () => {
    expect(REDACTION_RULES_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(redactor.version).toBe(REDACTION_RULES_VERSION);
    const ids = DEFAULT_RULES.map((x) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of DEFAULT_RULES) {
      expect(rule.id).toMatch(/^[a-z0-9-]+$/);
      expect(rule.description.length).toBeGreaterThan(5);
      expect(Boolean(rule.pattern) || Boolean(rule.scan)).toBe(true);
    }
  });

  it('every rule of the table is exercised by at least one case here', () => {
    const covered = new Set(CASES.map((c) => c.rule));
    expect(DEFAULT_RULES.map((x) => x.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  it.each(CASES.map((c, i) => [`${c.rule} #${i}`, c] as const))('%s: the secret is gone, the marker and count name the rule', (_, c) => {
    const input = c.text(c.secret);
    const out = redactor.redact(input);
    expect(out.text).not.toContain(c.secret);
    expect(out.text).toContain(`[REDACTED:${c.rule}]`);
    expect(out.counts[c.rule]).toBe(1);
    // Nothing else of the surrounding text is touched beyond the secret's region.
    expect(out.text.startsWith(input.slice(0, Math.min(5, input.indexOf(c.secret))))).toBe(true);
  });

  it('keeps the key name, scheme and host readable around the secret', () => {
    expect(redactor.redact('DB_PASSWORD=hunter2').text).toBe('DB_PASSWORD=[REDACTED:password-assignment]');
    const pw = r(10);
    expect(redactor.redact(`postgres://app:${pw}@db:5432/x`).text).toBe('postgres://app:[REDACTED:connection-string]@db:5432/x');
    expect(redactor.redact(`Authorization: Bearer ${r(30)}`).text).toBe('Authorization: Bearer [REDACTED:authorization-header]');
  });

  it('counts per rule, over several matches and rules', () => {
    const a = 'ghp_' + r(36);
    const b = 'ghp_' + r(36);
    const out = redactor.redact(`${a} and ${b}; mail bob@example.com, carol@example.org; DB_PASSWORD=x1y2z3`);
    expect(out.counts).toEqual({ 'github-pat': 2, email: 2, 'password-assignment': 1 });
    expect(out.text).toBe(
      '[REDACTED:github-pat] and [REDACTED:github-pat]; mail [REDACTED:email], [REDACTED:email]; DB_PASSWORD=[REDACTED:password-assignment]',
    );
  });

  it('overlapping matches merge into one redaction labelled by the more specific rule', () => {
    const key = 'sk-proj-' + r(48);
    const out = redactor.redact(`OPENAI_API_KEY="${key}"`);
    expect(out.text).toBe('OPENAI_API_KEY="[REDACTED:openai-api-key]"');
    expect(out.counts).toEqual({ 'openai-api-key': 1 });
  });

  it('leaves ordinary code, prose, identifiers and hashes labelled as hashes alone', () => {
    const benign = [
      'for i in range(10):\n    print(i)',
      'password = os.environ["DB_PASSWORD"]',
      'password = getpass.getpass()',
      'token = None',
      'max_tokens=4096, prompt_tokens=1234567890',
      'tokenizer = AutoTokenizer.from_pretrained("gpt2")',
      'session 550e8400-e29b-41d4-a716-446655440000 started',
      'docker pull alpine@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b',
      'ls /usr/lib/x86_64-linux-gnu/libcrypto.so.3',
      'git@github.com:OpenInterpreter/open-interpreter.git',
      'const revenue = calculateTotalRevenueByRegion2024(data);',
      'timestamp 1712345678901234567 ns',
      'import numpy as np; np.random.seed(12345678)',
      'The password is stored in the vault.',
    ];
    for (const text of benign) {
      const out = redactor.redact(text);
      expect(out.counts, text).toEqual({});
      expect(out.text).toBe(text);
    }
  });

  it('catches a secret split by zero-width, bidi, NUL or ANSI characters, and removes the hidden characters with it', () => {
    const t = 'ghp_' + r(36);
    for (const hidden of ['\u200b', '\u202e', '\u0000', '\x1b[31m', '\u2066', '\ufeff']) {
      const split = t.slice(0, 10) + hidden + t.slice(10);
      const out = redactor.redact(`token: ${split} end`);
      expect(out.text, JSON.stringify(hidden)).toBe('token: [REDACTED:github-pat] end');
    }
    const coloured = `\x1b[1m${'AKIA' + r(16, UP)}\x1b[0m`;
    expect(redactor.redact(coloured).text).toBe('\x1b[1m[REDACTED:aws-access-key]\x1b[0m');
  });

  it('a private key header without an END line still takes the key body with it', () => {
    const body = `${r(64, B64)}\n${r(64, B64)}`;
    const out = redactor.redact(`-----BEGIN EC PRIVATE KEY-----\n${body}`);
    expect(out.text).toBe('[REDACTED:private-key]');
  });

  describe('allow-list', () => {
    it('exempts exact strings and patterns, and says so in the version', () => {
      const known = 'AKIA' + 'IOSFODNN7EXAMPLE';
      const other = 'AKIA' + r(16, UP);
      const red = createRedactor({ allow: [known, /^[0-9a-f]{40}$/] });
      expect(red.version).toMatch(new RegExp(`^${REDACTION_RULES_VERSION.replace(/\./g, '\\.')}\\+custom\\.[0-9a-f]{8}$`));
      const sha1 = r(40, HEX);
      const out = red.redact(`${known} ${other} commit ${sha1}`);
      expect(out.text).toBe(`${known} [REDACTED:aws-access-key] commit ${sha1}`);
      expect(redactor.redact(`x ${sha1}`).counts).toEqual({ 'high-entropy-hex': 1 });
    });

    it('a global allow regex is not stateful across calls', () => {
      const red = createRedactor({ allow: [/^AKIA/g] });
      const k = 'AKIA' + r(16, UP);
      for (let i = 0; i < 3; i++) expect(red.redact(k).text).toBe(k);
    });
  });

  describe('extra rules', () => {
    it('run after the built-ins, with capture groups, validators and keywords', () => {
      const red = createRedactor({
        extraRules: [
          { id: 'employee-id', description: 'internal employee numbers', pattern: /\bEMP-([0-9]{6})\b/, group: 1, keywords: ['emp-'] },
        ],
      });
      expect(red.redact('badge EMP-123456 issued').text).toBe('badge EMP-[REDACTED:employee-id] issued');
      expect(red.version).not.toBe(REDACTION_RULES_VERSION);
    });

    it('refuse duplicate or malformed ids', () => {
      expect(() => createRedactor({ extraRules: [{ id: 'email', description: 'dup', pattern: /x/g }] })).toThrow(/twice/);
      expect(() => createRedactor({ extraRules: [{ id: 'Bad Id', description: 'x', pattern: /x/g }] })).toThrow(/id/);
    });
  });

  describe('validators', () => {
    it('Luhn accepts valid card numbers and rejects a changed digit', () => {
      for (const n of ['4111111111111111', '5500000000000004', '378282246310005', '6011111111111117', '4012888888881881']) {
        expect(luhnValid(n), n).toBe(true);
        const last = Number(n[n.length - 1]);
        expect(luhnValid(n.slice(0, -1) + String((last + 1) % 10)), n).toBe(false);
      }
      expect(luhnValid('')).toBe(false);
      expect(luhnValid('12a4')).toBe(false);
    });

    it('credit-card takes only Luhn-valid numbers with an issuer prefix, and finds one next to other digits', () => {
      expect(redactor.redact('4111 1111 1111 1112').counts).toEqual({});
      expect(redactor.redact('1111 1111 1111 1117').counts).toEqual({}); // Luhn-valid, no issuer prefix
      expect(redactor.redact('pay 4111111111111111 123').text).toBe('pay [REDACTED:credit-card] 123');
      expect(redactor.redact('ref 12 4111 1111 1111 1111').text).toBe('ref 12 [REDACTED:credit-card]');
    });

    it('Shannon entropy is bits per character', () => {
      expect(shannonEntropy('')).toBe(0);
      expect(shannonEntropy('aaaa')).toBe(0);
      expect(shannonEntropy('abab')).toBeCloseTo(1);
      expect(shannonEntropy('0123456789abcdef')).toBeCloseTo(4);
    });

    it('high-entropy rules need length, mixed classes and entropy', () => {
      expect(redactor.redact('a'.repeat(64)).counts).toEqual({});
      expect(redactor.redact('abcdefghijklmnopqrstuvwxyzabcdef').counts).toEqual({});
      expect(redactor.redact(r(16, B64)).counts).toEqual({}); // too short
      expect(redactor.redact(r(32, B64)).counts).toEqual({ 'high-entropy-base64': 1 });
    });
  });

  it('empty and secret-free input come back unchanged with no counts', () => {
    expect(redactor.redact('')).toEqual({ text: '', counts: {} });
    expect(redactor.redact('hello world')).toEqual({ text: 'hello world', counts: {} });
  });
});
