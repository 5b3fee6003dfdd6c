import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/**
 * Tamper tests on files exported by a real session: the demo (real Open Interpreter, scripted model)
 * writes the embedded sink; each test alters a copy the way an attacker with write access to storage
 * would, and `oi-audit verify` must name the problem and exit 1.
 */
let base: string;
let keys: string;
let otherSession: string;

type Line = { raw: string; doc: any };

function logLines(dir: string): Line[] {
  return readFileSync(join(dir, 'logs.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((raw) => ({ raw, doc: JSON.parse(raw) }));
}

function writeLines(dir: string, lines: Line[]): void {
  writeFileSync(join(dir, 'logs.jsonl'), `${lines.map((l) => JSON.stringify(l.doc)).join('\n')}\n`);
}

function record(line: Line) {
  return line.doc.resourceLogs[0].scopeLogs[0].logRecords[0];
}

function body(line: Line): any {
  return JSON.parse(record(line).body.stringValue);
}

function copy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'oi-tamper-'));
  cpSync(base, dir, { recursive: true });
  return dir;
}

async function verify(dir: string) {
  const result = await runCli(['verify', '--json', dir, '--key', join(keys, 'mac-seed'), '--public-key', join(keys, 'signing-key.pub.pem')]);
  const report = result.stdout ? JSON.parse(result.stdout) : undefined;
  const problems: Array<{ code: string; seq?: number; from?: number; to?: number; severity: string }> = report?.sessions.flatMap((s: any) => s.problems) ?? [];
  return { code: result.code, report, problems, errors: problems.filter((p) => p.severity === 'error').map((p) => p.code) };
}

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'oi-tamper-base-'));
  base = join(root, 'logs');
  keys = join(root, 'keys');
  const demo = await runCli(['demo', '--out', base, '--keys', keys, '--approve', 'all']);
  expect(demo.stderr).not.toMatch(/could not start/);
  expect(demo.code).toBe(0);
  const other = await runCli(['demo', '--out', join(root, 'other'), '--keys', keys, '--approve', 'none']);
  expect(other.code).toBe(0);
  otherSession = join(root, 'other');
}, 600_000);

describe('oi-audit verify on a real session', () => {
  it('reports the untouched files valid with MACs and pinned signatures (exit 0), gzip too', async () => {
    const result = await verify(base);
    expect(result.code).toBe(0);
    const s = result.report.sessions[0];
    expect(s).toMatchObject({ status: 'valid', complete: true, mac: 'checked' });
    expect(s.macsValid).toBe(s.records);
    const gz = copy();
    writeFileSync(join(gz, 'logs.jsonl.gz'), gzipSync(readFileSync(join(gz, 'logs.jsonl'))));
    writeFileSync(join(gz, 'logs.jsonl'), '');
    expect((await verify(gz)).code).toBe(0);
  });

  it('changing one character of a body is a hash mismatch (and a bad MAC)', async () => {
    const dir = copy();
    const lines = logLines(dir);
    const target = lines.find((l) => body(l).event === 'oi_audit.command.output')!;
    const r = record(target);
    r.body.stringValue = r.body.stringValue.replace('token 42', 'token 43');
    expect(r.body.stringValue).toContain('token 43');
    writeLines(dir, lines);
    const result = await verify(dir);
    expect(result.code).toBe(1);
    expect(result.errors).toEqual(expect.arrayContaining(['bad_mac']));
    expect(result.errors.some((c) => c === 'hash_mismatch' || c === 'merkle_mismatch')).toBe(true);
  });

  it('deleting a record is reported as missing', async () => {
    const dir = copy();
    const lines = logLines(dir);
    const victim = lines.findIndex((l) => body(l).event === 'oi_audit.command.executed');
    const seq = body(lines[victim]!).seq;
    lines.splice(victim, 1);
    writeLines(dir, lines);
    const result = await verify(dir);
    expect(result.code).toBe(1);
    expect(result.problems.find((p) => p.code === 'missing')).toMatchObject({ from: seq, to: seq });
  });

  it('swapping two records is reported as reordered', async () => {
    const dir = copy();
    const lines = logLines(dir);
    [lines[3], lines[4]] = [lines[4]!, lines[3]!];
    writeLines(dir, lines);
    const result = await verify(dir);
    expect(result.code).toBe(1);
    expect(result.errors).toContain('reordered');
  });

  it('dropping the tail is reported as truncated', async () => {
    const dir = copy();
    const lines = logLines(dir);
    writeLines(dir, lines.slice(0, lines.length - 5));
    const result = await verify(dir);
    expect(result.code).toBe(1);
    expect(result.errors).toContain('truncated');
  });

  it('dropping a checkpoint is reported', async () => {
    const dir = copy();
    const lines = logLines(dir).filter((l) => body(l).event !== 'oi_audit.integrity.checkpoint');
    writeLines(dir, lines);
    const result = await verify(dir);
    expect(result.code).toBe(1);
    expect(result.errors.length).toBeGreaterThan(0);
    expect(result.report.sessions[0].complete).toBe(false);
  });

  it('changing a MAC is reported as bad_mac at that seq', async () => {
    const dir = copy();
    const lines = logLines(dir);
    const target = lines[5]!;
    const r = record(target);
    const b = body(target);
    const mac: string = b.mac;
    const flipped = mac.slice(0, -1) + (mac.endsWith('0') ? '1' : '0');
    r.body.stringValue = r.body.stringValue.replace(b.mac, flipped);
    writeLines(dir, lines);
    const result = await verify(dir);
    expect(result.code).toBe(1);
    expect(result.problems.find((p) => p.code === 'bad_mac')?.seq).toBe(b.seq);
  });

  it('a record replayed from another session is reported as foreign', async () => {
    const dir = copy();
    const lines = logLines(dir);
    const intruder = logLines(otherSession).find((l) => body(l).event === 'oi_audit.user.input')!;
    const r = record(intruder);
    // Filed under this session by the attacker (the attribute an index would use).
    const sessionId = body(lines[0]!).session;
    r.attributes = r.attributes.map((a: any) => (a.key === 'session.id' ? { key: 'session.id', value: { stringValue: sessionId } } : a));
    lines.splice(4, 0, intruder);
    writeLines(dir, lines);
    const result = await verify(dir);
    expect(result.code).toBe(1);
    expect(result.errors).toContain('foreign_record');
  });

  it('oi-audit export --format ocsf renders every event, each valid for its OCSF class, keeping the original body', async () => {
    const result = await runCli(['export', base, '--format', 'ocsf', '--validate']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const bodies = logLines(base).map((l) => record(l).body.stringValue as string);
    expect(events.length).toBeGreaterThanOrEqual(bodies.length);
    const classes = new Set(events.map((e) => e.class_name));
    expect(classes).toContain('Script Activity');
    expect(classes).toContain('API Activity');
    const { validateOcsf } = await import('../../src/siem/index.js');
    for (const e of events) expect(validateOcsf(e).errors).toEqual([]);
    const ecs = await runCli(['export', base, '--format', 'ecs']);
    expect(ecs.code).toBe(0);
    expect(ecs.stdout.trim().split('\n')).toHaveLength(bodies.length);
  });

  it('exits 2 on unreadable input', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'logs.jsonl'), 'this is not json\n');
    const result = await runCli(['verify', dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('logs.jsonl:1');
  });
});
