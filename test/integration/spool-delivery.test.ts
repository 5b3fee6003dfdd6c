import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifySessions } from '../../src/verify/verify.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { freePort, OtlpReceiver } from '../helpers/otlp-receiver.js';

const APP = join(REPO_ROOT, 'test/fixtures/spool-app.mjs');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function startApp(env: Record<string, string>): { child: ChildProcess; line: Promise<string>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [APP], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const line = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => resolve(String(d).trim()));
    child.on('close', (code) => reject(new Error(`app exited ${code} before printing: ${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, line, exit };
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
    expect(losses.reduce((n, l) => n + l.data.lost, 0)).toBe(declared.size);
    const maxSeq = Math.max(...events.map((b) => b.seq));
    const arrived = new Set(events.map((b) => b.seq));
    const undeclared = [];
    for (let s = 0; s <= maxSeq; s++) if (!arrived.has(s) && !declared.has(s)) undeclared.push(s);
    expect(undeclared).toEqual([]);
    expect(declared.size).toBeGreaterThan(0);
    // The verifier reads the same: every gap declared, none silent.
    const [report] = verifySessions(receiver.rawBodies().map((body) => ({ body })), { allowOpen: true, macSeed: Buffer.from(seedHex, 'hex') });
    // The full spool dropped the session start too (seq 0): without it no declaration can be authenticated
    // (docs/integrity.md, no downgrade), so the verifier reports the gap as missing and the session INVALID —
    // loudly, never as a silent hole.
    const missing = report!.problems.filter((p) => p.code === 'missing');
    expect(missing.length).toBeGreaterThan(0);
    expect(report!.status).toBe('invalid');
    expect(missing.some((p) => (p.from ?? 0) === 0)).toBe(true);
  });
});
