/**
 * A real audited session (demo: scripted model → proxy → real Open Interpreter) with the sink encrypted to
 * the security team: the files on the host hold none of the session's content, the identity reads and
 * verifies them, without it every reader refuses with exit 2, and a flipped byte is reported.
 */
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MARKERS, DEMO_SCRIPT } from '../../src/demo/demo-script.js';
import { REPO_ROOT, run, runCli } from '../helpers/cli.js';

let root: string;
let out: string;
let keys: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'oi-at-rest-e2e-'));
  out = join(root, 'logs');
  keys = join(root, 'keys');
  const gen = await runCli(['keygen', keys, '--at-rest']);
  expect(gen.code, gen.stderr).toBe(0);
  const demo = await runCli(['demo', '--out', out, '--keys', keys, '--approve', 'all'], {
    env: { ...process.env, OI_AUDIT_AT_REST_RECIPIENT: join(keys, 'at-rest.recipient') },
  });
  expect(demo.code, demo.stderr).toBe(0);
  expect(demo.stdout).toMatch(/encrypted at rest/);
}, 300_000);

describe('audit files encrypted at rest', () => {
  it('hold none of the session in plaintext', () => {
    const files = readdirSync(out);
    expect(files).toContain('logs.jsonl');
    const needles = [DEMO_SCRIPT.turns[0]!.user, DEMO_MARKERS.pythonToken, DEMO_MARKERS.shellOk, DEMO_MARKERS.missingPath, 'oi_audit.user.input'];
    for (const f of files) {
      const text = readFileSync(join(out, f), 'utf8');
      for (const n of needles) expect(text, `${f} holds "${n}"`).not.toContain(n);
    }
  });

  it('view and verify read them with the identity: VALID, the session content there', async () => {
    const identity = join(keys, 'at-rest.identity');
    const verified = await runCli(['verify', out, '--key', join(keys, 'mac-seed'), '--public-key', join(keys, 'signing-key.pub.pem'), '--identity', identity]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/VALID/);
    const viewed = await runCli(['view', out, '--identity', identity]);
    expect(viewed.code, viewed.stderr).toBe(0);
    expect(viewed.stdout).toContain(DEMO_MARKERS.shellOk);
  });

  it('without the identity, view, verify and export say the input is encrypted and exit 2', async () => {
    for (const args of [['view', out], ['verify', out], ['export', out, '--format', 'ecs']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/encrypted at rest.*--identity/);
      expect(r.stdout).toBe('');
    }
  });

  it('a flipped byte in a ciphertext line is reported (authentication), naming the line', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'oi-at-rest-flip-'));
    const lines = readFileSync(join(out, 'logs.jsonl'), 'utf8').split('\n');
    const b = Buffer.from(lines[3]!, 'base64');
    b[10]! ^= 0x01;
    lines[3] = b.toString('base64');
    writeFileSync(join(copy, 'logs.jsonl'), lines.join('\n'));
    const r = await runCli(['verify', copy, '--identity', join(keys, 'at-rest.identity')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not authenticate/);
    expect(r.stderr).toMatch(/logs\.jsonl:4/);
  });
});

describe('rotation, retention and the maintenance stream through register()', () => {
  it('an app with the encrypted file sink rotating small files: sessions VALID across them, each rotation a signed maintenance record; retention deletes the oldest, records it, and verify explains the gap (exit 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-at-rest-rotate-'));
    const sink = join(dir, 'logs');
    // No OTLP endpoint: the embedded file sink.
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_EXPORTER_OTLP'))),
      OI_AUDIT_SINK_DIR: sink,
      OI_AUDIT_AT_REST_RECIPIENT: join(keys, 'at-rest.recipient'),
      OI_AUDIT_SINK_ROTATE_BYTES: '30000',
      OI_AUDIT_SINK_RETENTION_DAYS: '30',
      OI_AUDIT_MAC_SEED_FILE: join(keys, 'mac-seed'),
      OI_AUDIT_SIGNING_KEY_FILE: join(keys, 'signing-key.pem'),
      EVENTS: '400',
      MODE: 'exit',
      CONTENT: 'rotation canary text',
    };
    const app = await run(process.execPath, [join(REPO_ROOT, 'test/fixtures/spool-app.mjs')], { cwd: REPO_ROOT, env });
    expect(app.code, app.stderr).toBe(0);
    const files = readdirSync(sink);
    expect(files.filter((f) => /^logs\..+Z(-\d+)?\.jsonl$/.test(f)).length).toBeGreaterThanOrEqual(3);
    expect(files).toContain('maintenance.jsonl');
    for (const f of files) expect(readFileSync(join(sink, f), 'utf8')).not.toContain('rotation canary');
    const verified = await runCli(['verify', sink, '--json', '--key', join(keys, 'mac-seed'), '--public-key', join(keys, 'signing-key.pub.pem'), '--identity', join(keys, 'at-rest.identity')]);
    expect(verified.code, verified.stdout.slice(0, 2000) + verified.stderr).toBe(0);
    const list = (JSON.parse(verified.stdout) as { sessions: Array<{ status: string }> }).sessions;
    // The app's session plus one maintenance session per rotation.
    expect(list.length).toBeGreaterThanOrEqual(4);
    expect(list.every((r) => r.status === 'valid')).toBe(true);
    const exported = await runCli(['export', join(sink, 'maintenance.jsonl'), '--format', 'ecs', '--identity', join(keys, 'at-rest.identity')]);
    expect(exported.code, exported.stderr).toBe(0);
    const docs = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: { action: string }; oi_audit: { maintenance?: { action: string } } });
    const rotations = docs.filter((d) => d.event.action === 'oi_audit.sink.maintenance');
    expect(rotations.length).toBe(files.filter((f) => /^logs\..+Z(-\d+)?\.jsonl$/.test(f)).length);
    expect(rotations.every((d) => d.oi_audit.maintenance?.action === 'rotated')).toBe(true);

    // The oldest rotated file (it holds the session's start) ages past retention; the next run deletes it.
    const oldest = files.filter((f) => /^logs\..+Z(-\d+)?\.jsonl$/.test(f)).sort()[0]!;
    const past = new Date(Date.now() - 90 * 86_400_000);
    utimesSync(join(sink, oldest), past, past);
    const again = await run(process.execPath, [join(REPO_ROOT, 'test/fixtures/spool-app.mjs')], { cwd: REPO_ROOT, env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`sink deleted by retention: ${join(sink, oldest)}`);
    expect(readdirSync(sink)).not.toContain(oldest);
    const after = await runCli(['verify', sink, '--json', '--key', join(keys, 'mac-seed'), '--public-key', join(keys, 'signing-key.pub.pem'), '--identity', join(keys, 'at-rest.identity')]);
    const sessions = (JSON.parse(after.stdout) as { sessions: Array<{ session: string; status: string; problems: Array<{ code: string; severity: string }> }> }).sessions;
    const first = sessions.find((r) => r.problems.some((p) => p.code === 'deleted_by_retention'));
    // The gap is explained by the signed deletion record: a warning naming the file, no error of a loss.
    expect(first, after.stdout.slice(0, 3000)).toBeDefined();
    expect(first!.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(first!.status).toBe('valid');
    expect(after.code, after.stdout.slice(0, 3000)).toBe(0);
  }, 180_000);
});
