import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifySessions } from '../../src/verify/verify.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { freePort, OtlpReceiver } from '../helpers/otlp-receiver.js';

const APP = join(REPO_ROOT, 'test/fixtures/spool-app.mjs');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function startApp(env: Record<string, string>): { child: ChildProcess; line: Promise<string>; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [APP], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => resolve(d.toString().trim()));
    child.on('close', (code) => reject(new Error(`app exited ${code} before printing: ${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, line, exit, stderr: () => stderr };
}

async function waitFor(predicate: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function spoolBytes(dir: string): number {
  let total = 0;
  for (const signal of ['logs', 'traces']) {
    for (const f of readdirSync(join(dir, signal))) if (f.endsWith('.jsonl')) total += statSync(join(dir, signal, f)).size;
  }
  return total;
}

/** Every file under the spool (segments, set-aside batches, cursors), as text. */
function spoolText(dir: string): string {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name), 'latin1'))
    .join('\n');
}

function segmentsUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /^seg-\d+\.jsonl$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function bySession(bodies: any[], session: string): any[] {
  const seen = new Map<number, any>();
  for (const b of bodies) if (b.session === session && !seen.has(b.seq)) seen.set(b.seq, b);
  return [...seen.values()].sort((a, b) => a.seq - b.seq);
}

describe('durable spool (OTLP sink with the Collector unreachable)', () => {
  it('keeps every record while the Collector is down for the whole session, and delivers them in order when it returns', async () => {
    const port = await freePort();
    const spool = mkdtempSync(join(tmpdir(), 'oi-spool-'));
    const app = startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OI_AUDIT_SPOOL_DIR: spool, EVENTS: '300', MODE: 'hang' });
    const session = (await app.line).split(' ')[1]!;
    expect(spoolBytes(spool)).toBeGreaterThan(0);
    expect(statSync(join(spool, 'logs')).mode & 0o777).toBe(0o700);
    const receiver = await OtlpReceiver.start(port);
    cleanups.push(() => receiver.close());
    // 2 + 300 events plus checkpoints every 100: seq 0..n without a gap, all of them delivered.
    await waitFor(() => bySession(receiver.bodies(), session).filter((b) => b.event === 'oi_audit.assistant.message').length === 300, 30_000);
    const events = bySession(receiver.bodies(), session);
    expect(events.map((b) => b.seq)).toEqual(events.map((_, i) => i));
    const arrivalOrder = receiver.bodies().filter((b) => b.session === session).map((b) => b.seq);
    expect(arrivalOrder).toEqual([...arrivalOrder].sort((a, b) => a - b));
    await waitFor(() => spoolBytes(spool) === 0, 10_000);
  });

  it('replays the spool of an app that was SIGKILLed, when it starts again', async () => {
    const port = await freePort();
    const spool = mkdtempSync(join(tmpdir(), 'oi-spool-'));
    const first = startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OI_AUDIT_SPOOL_DIR: spool, OI_AUDIT_SPOOL_FSYNC: 'always', EVENTS: '50', MODE: 'hang' });
    const crashed = (await first.line).split(' ')[1]!;
    first.child.kill('SIGKILL');
    await first.exit;
    const receiver = await OtlpReceiver.start(port);
    cleanups.push(() => receiver.close());
    const second = startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OI_AUDIT_SPOOL_DIR: spool, EVENTS: '1', MODE: 'exit' });
    const [, next] = (await second.line).split(' ');
    expect(await second.exit).toBe(0);
    const old = bySession(receiver.bodies(), crashed);
    expect(old.filter((b) => b.event === 'oi_audit.assistant.message')).toHaveLength(50);
    expect(old.map((b) => b.seq)).toEqual(old.map((_, i) => i));
    expect(old.some((b) => b.event === 'oi_audit.session.end')).toBe(false); // the crash is visible as a truncated stream
    const fresh = bySession(receiver.bodies(), next!);
    expect(fresh.at(-2).event).toBe('oi_audit.session.end');
  });

  it('declares what a full spool dropped as a loss event in the chain, with the exact count and seqs', async () => {
    const port = await freePort();
    const spool = mkdtempSync(join(tmpdir(), 'oi-spool-'));
    // A configured MAC seed: a loss declaration is only credible when it authenticates (docs/integrity.md).
    const seedHex = '5e'.repeat(32);
    const app = startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OI_AUDIT_SPOOL_DIR: spool, OI_AUDIT_SPOOL_MAX_BYTES: '60000', EVENTS: '2000', MODE: 'hang', OI_AUDIT_MAC_SEED: `spool:${seedHex}` });
    const session = (await app.line).split(' ')[1]!;
    // Give loss events emitted during the flush time to reach the spool's reserve.
    await new Promise((r) => setTimeout(r, 1500));
    const receiver = await OtlpReceiver.start(port);
    cleanups.push(() => receiver.close());
    await waitFor(() => spoolBytes(spool) === 0 && receiver.bodies().length > 0, 30_000);
    const events = bySession(receiver.bodies(), session);
    const losses = events.filter((b) => b.event === 'oi_audit.audit.loss');
    expect(losses.length).toBeGreaterThan(0);
    const declared = new Set<number>();
    for (const l of losses) for (const r of l.data.lost_ranges) for (let s = r.from; s <= r.to; s++) declared.add(s);
    expect(losses.reduce((n: number, l) => n + Number(l.data.lost), 0)).toBe(declared.size);
    const maxSeq = Math.max(...events.map((b) => b.seq));
    const arrived = new Set(events.map((b) => b.seq));
    const undeclared = [];
    for (let s = 0; s <= maxSeq; s++) if (!arrived.has(s) && !declared.has(s)) undeclared.push(s);
    expect(undeclared).toEqual([]);
    expect(declared.size).toBeGreaterThan(0);
    // The verifier reads the same: every gap declared, none silent.
    const [report] = verifySessions(receiver.rawBodies().map((body) => ({ body })), { allowOpen: true, macSeed: Buffer.from(seedHex, 'hex') });
    // The full spool keeps the session start, checkpoints and loss events in its reserve, so the
    // declarations authenticate: the trail is VALID with every gap declared, none silent.
    expect(events[0]!.seq).toBe(0);
    expect(events[0]!.event).toBe('oi_audit.session.start');
    expect(report!.problems.filter((p) => p.code === 'missing_start')).toEqual([]);
    expect(report!.problems.filter((p) => p.severity === 'error'), JSON.stringify(report!.problems.slice(0, 5))).toEqual([]);
    expect(report!.status).toBe('valid');
    expect(report!.declaredLost).toBe(declared.size);
  });
});

describe('encrypted spool (OI_AUDIT_AT_REST_RECIPIENT set)', () => {
  const CANARY = 'SPOOL-CANARY-5d1c-confidential-output';
  let keys: string;
  const keyDir = async () => {
    keys ??= await (async () => {
      const dir = join(mkdtempSync(join(tmpdir(), 'oi-spool-keys-')), 'keys');
      const gen = await runCli(['keygen', dir, '--at-rest']);
      expect(gen.code, gen.stderr).toBe(0);
      return dir;
    })();
    return keys;
  };

  it('spools ciphertext only, and the app replays it from memory after the outage: everything delivered, in order', async () => {
    const k = await keyDir();
    const port = await freePort();
    const spool = mkdtempSync(join(tmpdir(), 'oi-spool-enc-'));
    const app = startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OI_AUDIT_SPOOL_DIR: spool, EVENTS: '300', MODE: 'hang', CONTENT: CANARY, OI_AUDIT_AT_REST_RECIPIENT: join(k, 'at-rest.recipient') });
    const session = (await app.line).split(' ')[1]!;
    expect(spoolBytes(spool)).toBeGreaterThan(0);
    const onDisk = spoolText(spool);
    for (const needle of [CANARY, 'spool test', 'oi_audit.assistant.message', session]) expect(onDisk).not.toContain(needle);
    const receiver = await OtlpReceiver.start(port);
    cleanups.push(() => receiver.close());
    await waitFor(() => bySession(receiver.bodies(), session).filter((b) => b.event === 'oi_audit.assistant.message').length === 300, 30_000);
    const events = bySession(receiver.bodies(), session);
    expect(events.map((b) => b.seq)).toEqual(events.map((_, i) => i));
    expect(JSON.stringify(events)).toContain(CANARY);
    await waitFor(() => spoolBytes(spool) === 0, 10_000);
  });

  it('a restarted app cannot read its predecessor\'s spool; `oi-audit spool replay --identity` delivers it, complete', async () => {
    const k = await keyDir();
    const port = await freePort();
    const spool = mkdtempSync(join(tmpdir(), 'oi-spool-enc-'));
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OI_AUDIT_SPOOL_DIR: spool, OI_AUDIT_AT_REST_RECIPIENT: join(k, 'at-rest.recipient'), CONTENT: CANARY };
    const first = startApp({ ...env, OI_AUDIT_SPOOL_FSYNC: 'always', EVENTS: '50', MODE: 'hang' });
    const crashed = (await first.line).split(' ')[1]!;
    first.child.kill('SIGKILL');
    await first.exit;
    const receiver = await OtlpReceiver.start(port);
    cleanups.push(() => receiver.close());
    const second = startApp({ ...env, EVENTS: '1', MODE: 'exit' });
    const [, next] = (await second.line).split(' ');
    expect(await second.exit).toBe(0);
    // The new run delivers its own session; the old one waits, sealed, for the identity.
    expect(bySession(receiver.bodies(), next!).at(-2).event).toBe('oi_audit.session.end');
    expect(bySession(receiver.bodies(), crashed)).toEqual([]);
    expect(segmentsUnder(join(spool, 'logs', 'sealed')).length).toBeGreaterThan(0);
    expect(spoolText(spool)).not.toContain(CANARY);

    const without = await runCli(['spool', 'replay', spool, '--endpoint', `http://127.0.0.1:${port}`]);
    expect(without.code).toBe(2);
    expect(without.stderr).toMatch(/--identity/);
    const replay = await runCli(['spool', 'replay', spool, '--identity', join(k, 'at-rest.identity'), '--endpoint', `http://127.0.0.1:${port}`, '--json']);
    expect(replay.code, replay.stdout + replay.stderr).toBe(0);
    const result = JSON.parse(replay.stdout);
    expect(result.ok).toBe(true);
    expect(result.dirs.some((d: { sent: number }) => d.sent > 0)).toBe(true);
    const old = bySession(receiver.bodies(), crashed);
    expect(old.filter((b) => b.event === 'oi_audit.assistant.message')).toHaveLength(50);
    expect(old.map((b) => b.seq)).toEqual(old.map((_, i) => i));
    expect(segmentsUnder(spool)).toEqual([]);
  });

  it('a flipped byte in a spooled segment is detected: the app reports it, keeps the segment aside, and verify reports the session INVALID', async () => {
    const k = await keyDir();
    const port = await freePort();
    const spool = mkdtempSync(join(tmpdir(), 'oi-spool-enc-'));
    const seedHex = '6a'.repeat(32);
    // 2000 events: four requests of up to 512 records in one segment (header, then one line each); END=1
    // puts the session end in the last one.
    const app = startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OI_AUDIT_SPOOL_DIR: spool, EVENTS: '2000', MODE: 'hang', END: '1', WARN: '1', OI_AUDIT_AT_REST_RECIPIENT: join(k, 'at-rest.recipient'), OI_AUDIT_MAC_SEED: `spool:${seedHex}` });
    const session = (await app.line).split(' ')[1]!;
    const [segment, ...more] = segmentsUnder(join(spool, 'logs'));
    expect(more).toEqual([]);
    const lines = readFileSync(segment!, 'latin1').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const b = Buffer.from(lines[2]!, 'base64');
    b[20]! ^= 0x01;
    lines[2] = b.toString('base64');
    writeFileSync(segment!, `${lines.join('\n')}\n`);
    const receiver = await OtlpReceiver.start(port);
    cleanups.push(() => receiver.close());
    await waitFor(() => spoolBytes(spool) === 0, 30_000);
    await waitFor(() => /does not authenticate/.test(app.stderr()), 5_000);
    expect(readdirSync(join(spool, 'logs', 'corrupt'))).toHaveLength(1);
    // The first request arrived; from the flipped one on, nothing of that segment is replayed.
    const events = bySession(receiver.bodies(), session);
    expect(events[0]?.seq).toBe(0);
    expect(events.some((e) => e.event === 'oi_audit.session.end')).toBe(false);
    const [report] = verifySessions(receiver.rawBodies().map((body) => ({ body })), { macSeed: Buffer.from(seedHex, 'hex') });
    expect(report!.status).toBe('invalid');
  });
});
