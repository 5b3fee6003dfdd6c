import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/**
 * Fake secrets of every family the redaction table covers. None is real; each has the shape its
 * detector looks for. The session puts them in the user's input, in the code the model proposes,
 * and (because the code prints them) in the command output and the next LLM request.
 */
const SECRETS: Record<string, string> = {
  aws_access_key: 'AKIAZ3MPLQ7XWV4TRN2K',
  aws_secret_key: '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',
  github_pat: 'ghp_4fQx9ZpL2mN8vR6tY1wK3jH7gF5dS0aB2cE9',
  gitlab_pat: 'glpat-Xy7Zk2Pq9Lm4Nv8Rt3Ws',
  slack_token: 'xoxb-2819374650-4928173650281-AbCdEfGhIjKlMnOpQrStUvWx',
  stripe_key: 'sk_live_51HqZx8Kp2Lm9Nv4Rt7Ws3Yb',
  openai_key: 'sk-proj-Q8mZ2xK9pL4nV7rT1wY6jH3gF0dS5aB8cE2uI7oP',
  anthropic_key: 'sk-ant-api03-Zx9Kp2Lm8Nv4Rt7Ws3Yb6Qe1Ud5Tf0Gh-Jk2Lm',
  jwt: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  bearer: 'Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc',
  url_password: 'postgres://admin:S3cr3tPassw0rdX@db.internal:5432/app',
  password_assignment: 'password = "Tr0ub4dor&3xyzQ"',
  email: 'alice.secret@example.org',
  card: '4111 1111 1111 1111',
  private_key: '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naFDrBz9vFqU4yA8Wm3Vt1Lc7XqE5Rr0Bz9vFqU4yA8Wm3Vt1Lc7XqE5Rr0Bz9vFq\n-----END RSA PRIVATE KEY-----',
};

/** The parts of each secret that must never reach an exporter (the secret material, not its label). */
const RAW_PARTS = [
  'AKIAZ3MPLQ7XWV4TRN2K',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8Kd2mP4e',
  'ghp_4fQx9ZpL2mN8vR6tY1wK3jH7gF5dS0aB2cE9',
  'glpat-Xy7Zk2Pq9Lm4Nv8Rt3Ws',
  'xoxb-2819374650-4928173650281-AbCdEfGhIjKlMnOpQrStUvWx',
  'sk_live_51HqZx8Kp2Lm9Nv4Rt7Ws3Yb',
  'sk-proj-Q8mZ2xK9pL4nV7rT1wY6jH3gF0dS5aB8cE2uI7oP',
  'sk-ant-api03-Zx9Kp2Lm8Nv4Rt7Ws3Yb6Qe1Ud5Tf0Gh-Jk2Lm',
  'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  '9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc',
  'S3cr3tPassw0rdX',
  'Tr0ub4dor&3xyzQ',
  'alice.secret@example.org',
  '4111 1111 1111 1111',
  'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn',
];

/** Keys the boundary block prints straddling each 64 KiB output part boundary, split by colour codes. */
const BOUNDARY_RAW = ['AKIAQ7ZX3MPLWV4TRN2K', 'ghp_Z9aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3w', 'sk_live_77HqZx8Kp2Lm9Nv4Rt7Ws3Yb'];
const BOUNDARY_CODE = [
  'import sys',
  `keys = ${JSON.stringify(BOUNDARY_RAW)}`,
  'out = ""',
  'for b in range(1, 4):',
  '    k = keys[b - 1]',
  '    out += "x" * (b * 65536 - len(out) - 8) + "\\n"',
  '    out += "key=\\x1b[31m" + k[:9] + "\\x1b[0m" + k[9:] + "\\n"',
  'sys.stdout.write(out + "done\\n")',
].join('\n');

function secretsText(): string {
  // Neutral labels: a label like "password_assignment:" would itself read as an assignment key.
  return Object.values(SECRETS)
    .map((value, i) => `item ${i + 1}. ${value}`)
    .join('\n');
}

describe('no raw secret reaches any exporter (real Open Interpreter session, default redacted capture)', () => {
  it('redacts secrets in user input, generated code, command output and LLM messages, and the counts match the markers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-secrets-'));
    const user = `Print these credentials back to me:\n${secretsText()}`;
    const code = `creds = """${secretsText().replaceAll('"', '\\"')}"""\nprint(creds)`;
    const script = {
      turns: [
        { user, replies: [`Printing them.\n\n\`\`\`python\n${code}\n\`\`\`\n`, 'Printed.'] },
        { user: 'Now print a lot of output.', replies: [`Here.\n\n\`\`\`python\n${BOUNDARY_CODE}\n\`\`\`\n`, 'Done.'] },
      ],
    };
    writeFileSync(join(dir, 'script.json'), JSON.stringify(script));
    const out = join(dir, 'logs');
    const result = await runCli(['demo', '--script', join(dir, 'script.json'), '--out', out, '--keys', join(dir, 'keys'), '--approve', 'all', '--json'], {
      env: { OI_AUDIT_CAPTURE: '' },
    });
    expect(result.code).toBe(0);
    const exported = readFileSync(join(out, 'logs.jsonl'), 'utf8') + readFileSync(join(out, 'traces.jsonl'), 'utf8');
    // Raw, JSON-escaped, base64 and hex forms of every secret.
    const forms = (raw: string) => [raw, JSON.stringify(raw).slice(1, -1), Buffer.from(raw).toString('base64').slice(0, 24), Buffer.from(raw).toString('hex').slice(0, 32)];
    const leaked = RAW_PARTS.filter((raw) => forms(raw).some((f) => exported.includes(f)));
    expect(leaked).toEqual([]);
    // Nor in what the demo printed.
    expect(RAW_PARTS.filter((raw) => result.stdout.includes(raw))).toEqual([]);

    const bodies = readFileSync(join(out, 'logs.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .flatMap((l) => JSON.parse(l).resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((sl: any) => sl.logRecords.map((r: any) => JSON.parse(r.body.stringValue)))));
    // The code really ran and its output was recorded (redacted), so the test covers output too.
    const executed = bodies.filter((b) => b.event === 'oi_audit.command.executed');
    expect(executed).toHaveLength(2);
    const output = bodies.filter((b) => b.event === 'oi_audit.command.output').map((b) => b.data.output?.text ?? '').join('');
    expect(output).toContain('[REDACTED:');
    // The boundary block printed more than three 64 KiB parts, with keys across each boundary (ANSI-coloured):
    // neither a part nor the parts joined (with the escapes taken off) hold one.
    expect(bodies.filter((b) => b.event === 'oi_audit.command.output').length).toBeGreaterThanOrEqual(4);
    const visible = output.replace(/\\u\{001b\}\[[0-9;]*m/g, '');
    expect(BOUNDARY_RAW.filter((raw) => output.includes(raw) || visible.includes(raw))).toEqual([]);
    expect(BOUNDARY_RAW.filter((raw) => result.stdout.includes(raw))).toEqual([]);

    // Every content field: the counts it declares equal the markers in its text.
    let declared = 0;
    let markers = 0;
    const visit = (value: any) => {
      if (!value || typeof value !== 'object') return;
      if (typeof value.text === 'string' && typeof value.sha256 === 'string') {
        const inText: number = (value.text.match(/\[REDACTED:[a-z0-9-]+\]/g) ?? []).length;
        const counted = Object.values<number>(value.redactions ?? {}).reduce((a, b) => a + b, 0);
        expect(counted, JSON.stringify({ r: value.redactions, m: value.text.match(/\[REDACTED:[a-z0-9-]+\]/g), b: value.bytes, t: value.truncated })).toBe(inText);
        declared += counted;
        markers += inText;
      }
      for (const v of Object.values(value)) visit(v);
    };
    bodies.forEach((b) => visit(b.data));
    expect(declared).toBe(markers);
    expect(declared).toBeGreaterThanOrEqual(RAW_PARTS.length * 3); // input, code, output at least

    const families = new Set<string>();
    bodies.forEach((b) => JSON.stringify(b).replace(/\[REDACTED:([a-z0-9-]+)\]/g, (_m, id) => (families.add(id), '')));
    expect(families.size).toBeGreaterThanOrEqual(12);
  });
});
