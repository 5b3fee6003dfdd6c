/**
 * The fault suite of the "Nothing lost" issue. An audited child app (test/fixtures/fault-app.mjs: register(),
 * OTLP exporters behind the durable spool, integrity keys from generateKeyFiles) exports to the real Collector
 * running collector-config/otelcol.yaml, directly or through a fault proxy in this process (pass, reset every
 * connection, or answer slowly). After each fault, what reached the Collector's archive is read back and checked
 * with `oi-audit verify --json --key … --public-key …` (the built CLI):
 *
 *   sent        events the app sealed (its onEvent hook; for a SIGKILLed app, what it had sealed and flushed)
 *   arrived     distinct seqs of those sessions in the archive
 *   declared    seqs covered by `lost_ranges` of `oi_audit.audit.loss` events in the archive
 *   undeclared  seqs in `missing` problems with declared: false, plus any sent seq neither arrived nor declared
 *   duplicates  archive records beyond the first copy of each seq (delivery is at least once)
 *
 * Every case asserts the exact arrived and declared counts, and that nothing is undeclared. A table is printed at the end.
 * Tempo, Loki and the SIEM point at closed ports here: their persistent queues hold and retry; only the archive matters.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyFiles, keyFilesEnv } from '../../src/keys/keygen.js';
import { CLI, REPO_ROOT, runCli } from '../helpers/cli.js';
import { type CollectorHandle, ensureCollectorBinary, flattenLogs, freePorts, listFiles, readZstdArchive, sleep, tempDir, waitFor } from '../helpers/collector-stack.js';
import { otelcolSetup, type OtelcolSetup } from '../helpers/otelcol-stack.js';

const APP = join(REPO_ROOT, 'test/fixtures/fault-app.mjs');
/** Exporter timeout of the app (the SDK default is 10 s): a failed export is spooled after at most this long. */
const EXPORT_TIMEOUT_MS = 3_000;

// ---------------------------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------------------------

interface AppStats {
  sessions: Record<string, { sealed: number; maxSeq: number; lossEvents: number; declared: number }>;
  maxRssKB: number;
  healthy: boolean;
}
interface Reply {
  re: string;
  ok: boolean;
  error?: string;
  session?: string;
  oi?: Array<{ session: string; killed: boolean; results: Array<{ outcome: string; errors: string[] }>; served: string[] }>;
  stats: AppStats;
}

class App {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private pending: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  private buf = '';
  stderr = '';
  last: AppStats | undefined;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [APP], {
      cwd: REPO_ROOT,
      env: { ...process.env, OTEL_EXPORTER_OTLP_TIMEOUT: String(EXPORT_TIMEOUT_MS), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    apps.push(this);
    this.child.stderr!.on('data', (d) => (this.stderr = (this.stderr + String(d)).slice(-20_000)));
    this.child.stdout!.on('data', (d) => {
      this.buf += String(d);
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        const reply = JSON.parse(line) as Reply;
        this.last = reply.stats;
        const p = this.pending.shift();
        if (!p) continue;
        if (reply.ok) p.resolve(reply);
        else p.reject(new Error(`app: ${reply.re} failed: ${reply.error}`));
      }
    });
    this.exited = new Promise((resolve) => this.child.on('close', (code) => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`app exited (${code}) before answering; stderr:\n${this.stderr.slice(-3000)}`));
      resolve(code);
    }));
  }

  cmd(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`app: no answer to ${cmd} in ${timeoutMs} ms; stderr:\n${this.stderr.slice(-3000)}`)), timeoutMs);
      this.pending.push({
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.stdin!.write(`${JSON.stringify({ cmd, ...args })}\n`);
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async exit(): Promise<AppStats> {
    const r = await this.cmd('exit');
    const code = await this.exited;
    expect(code, `app exit code; stderr:\n${this.stderr.slice(-2000)}`).toBe(0);
    return r.stats;
  }

  async sigkill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
const apps: App[] = [];

/** Bytes of spool segments waiting to be sent (both signals). */
function spoolBytes(dir: string): number {
  let total = 0;
  for (const signal of ['logs', 'traces']) {
    const d = join(dir, signal);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) if (f.endsWith('.jsonl')) total += statSync(join(d, f)).size;
  }
  return total;
}

/** Wait until the app's spool is empty; fail at once (with its stderr) if the app died meanwhile. */
async function waitDrained(app: App, spool: string, timeoutMs: number, what: string): Promise<void> {
  await waitFor(() => !app.alive || spoolBytes(spool) === 0, { timeoutMs, what });
  if (!app.alive) throw new Error(`${what}: the app died (exit ${app.child.exitCode ?? app.child.signalCode}); stderr:\n${app.stderr.slice(-3000)}`);
}

// ---------------------------------------------------------------------------------------------
// The fault proxy: app ──HTTP──▶ proxy ──HTTP──▶ Collector
// ---------------------------------------------------------------------------------------------

type ProxyMode = 'pass' | 'reset' | 'slow';

/**
 * pass: forward each request and its answer. reset: destroy every connection (an unreachable Collector).
 * slow: forward at once (the Collector takes the data), hold the answer `holdMs` (the first logs request
 * `firstLogsHoldMs`): a Collector that answers after seconds. Records whose answer the app stopped waiting
 * for are counted in `abandoned` (the app resends them from its spool: expected duplicates).
 */
class FaultProxy {
  mode: ProxyMode = 'pass';
  holdMs = 0;
  firstLogsHoldMs = 0;
  private firstLogsHeld = false;
  requests = 0;
  readonly abandoned = new Set<string>();
  private constructor(private readonly server: Server, readonly port: number, private readonly target: string) {}

  static async start(target: string): Promise<FaultProxy> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const proxy = new FaultProxy(server, (server.address() as { port: number }).port, target);
    server.on('request', (req, res) => void proxy.handle(req, res));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    this.requests++;
    if (this.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    let gone = false;
    res.on('close', () => {
      if (!res.writableFinished) gone = true;
    });
    let status = 502;
    let answer = Buffer.alloc(0);
    let type = 'text/plain';
    try {
      const r = await fetch(`${this.target}${req.url}`, {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      status = r.status;
      type = r.headers.get('content-type') ?? type;
      answer = Buffer.from(await r.arrayBuffer());
    } catch {
      // Collector unreachable behind the proxy: a 502, retryable for the app
    }
    if (this.mode === 'slow') {
      let hold = this.holdMs;
      if (req.url === '/v1/logs' && !this.firstLogsHeld) {
        this.firstLogsHeld = true;
        hold = this.firstLogsHoldMs;
      }
      await sleep(hold);
    }
    if (gone || res.destroyed) {
      if (req.url === '/v1/logs' && status === 200) for (const k of recordKeysOf(body)) this.abandoned.add(k);
      return;
    }
    res.writeHead(status, { 'content-type': type }).end(answer);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

function recordKeysOf(body: Buffer): string[] {
  try {
    const doc = JSON.parse(body.toString('utf8'));
    const keys: string[] = [];
    for (const rl of doc.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) for (const lr of sl.logRecords ?? []) {
      const b = JSON.parse(lr.body.stringValue);
      keys.push(`${b.session}#${b.seq}`);
    }
    return keys;
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// The archive, verify, accounting
// ---------------------------------------------------------------------------------------------

interface ArchivedRecord {
  session: string;
  seq: number;
  event: string;
  body: any;
}

interface Row {
  fault: string;
  sent: number;
  arrived: number;
  declared: number;
  undeclared: number;
  duplicates: number;
  peakRssMB: number;
  seconds: number;
  note: string;
}
const rows: Row[] = [];

describe('fault suite: nothing lost, or every loss declared (real Collector, otelcol.yaml)', () => {
  let dir: string;
  let archiveDir: string;
  let collector: CollectorHandle | undefined;
  let setup: OtelcolSetup;
  let collectorUrl: string;
  let proxy: FaultProxy;
  let keys: ReturnType<typeof generateKeyFiles>;
  let keyEnv: Record<string, string>;
  const mounts: string[] = [];
  let collectorStarts = 0;
  const t0 = Date.now();

  async function startTheCollector(): Promise<void> {
    collector = await setup.start(`otelcol-fault-${++collectorStarts}`);
  }

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build with npx tsc -p tsconfig.json first`);
    await ensureCollectorBinary();
    dir = tempDir('faults');
    keys = generateKeyFiles(join(dir, 'keys'));
    keyEnv = keyFilesEnv(keys);
    // Only the archive runs: Tempo, Loki and the SIEM point at closed ports.
    setup = await otelcolSetup(dir, { extra: { OI_AUDIT_LOG_LEVEL: 'warn' } });
    ({ archiveDir, otlpUrl: collectorUrl } = setup);
    await startTheCollector();
    proxy = await FaultProxy.start(collectorUrl);
  }, 300_000);

  afterAll(async () => {
    for (const a of apps) if (a.alive) await a.sigkill();
    await proxy?.close();
    await collector?.stop().catch(() => undefined);
    for (const m of mounts) {
      try {
        execFileSync('umount', [m]);
      } catch (e) {
        console.log(`[fault-suite] umount ${m} failed: ${(e as Error).message}`);
      }
    }
    const head = ['fault', 'sent', 'arrived', 'declared lost', 'undeclared gaps', 'duplicates', 'peak RSS (MB)', 'time (s)'];
    const body = rows.map((r) => [r.fault, r.sent, r.arrived, r.declared, r.undeclared, r.duplicates, r.peakRssMB.toFixed(1), r.seconds.toFixed(1)].map(String));
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    const table = [line(head), `|${widths.map((w, i) => (i === 0 ? ':' : '-').padEnd(w + 1, '-') + (i === 0 ? '-' : ':')).join('|')}|`, ...body.map(line)];
    const notes = rows.filter((r) => r.note).map((r) => `  ${r.fault}: ${r.note}`);
    console.log(`[fault-suite] results (${((Date.now() - t0) / 1000).toFixed(0)} s in all)\n${table.join('\n')}\n${notes.join('\n')}`);
  });

  /** Every audit record in the archive, in the order it was written. */
  async function archive(): Promise<ArchivedRecord[]> {
    const out: ArchivedRecord[] = [];
    for (const f of listFiles(archiveDir).sort((a, b) => a.path.localeCompare(b.path))) {
      for (const l of flattenLogs(await readZstdArchive(f.path))) {
        const b = JSON.parse(String(l.body));
        out.push({ session: b.session, seq: b.seq, event: b.event, body: b });
      }
    }
    return out;
  }

  function declaredOf(records: ArchivedRecord[]): Set<number> {
    const declared = new Set<number>();
    for (const r of records) {
      if (r.event !== 'oi_audit.audit.loss') continue;
      for (const lr of r.body.data.lost_ranges ?? []) for (let s = lr.from; s <= lr.to; s++) declared.add(s);
    }
    return declared;
  }

  /**
   * Wait until every sent seq of each session arrived or is declared lost. On a timeout, go on: account()
   * then reports (and fails on) what is missing, with the numbers.
   */
  async function waitAccounted(sent: Record<string, number>, what: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        const all = await archive();
        return Object.entries(sent).every(([session, n]) => {
          const recs = all.filter((r) => r.session === session);
          const have = new Set(recs.map((r) => r.seq));
          for (const s of declaredOf(recs)) have.add(s);
          for (let s = 0; s < n; s++) if (!have.has(s)) return false;
          return true;
        });
      },
      { timeoutMs, intervalMs: 500, what },
    ).catch((e: unknown) => console.log(`[fault-suite] ${(e as Error).message}`));
  }

  async function verifyArchive(extra: string[] = []): Promise<{ code: number | null; report: any }> {
    for (let attempt = 0; ; attempt++) {
      const r = await runCli(['verify', '--json', '--key', keys.macSeed, '--public-key', keys.publicKey, ...extra, archiveDir]);
      // 2: unreadable input (a frame being written right now): read again
      if (r.code !== 2 || attempt >= 5) {
        try {
          return { code: r.code, report: JSON.parse(r.stdout) };
        } catch {
          throw new Error(`verify printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
        }
      }
      await sleep(500);
    }
  }

  /**
   * Account for the sessions of one case from the archive and `oi-audit verify`, add a table row, and check
   * what holds for every case: nothing undeclared, every session's verify report valid except for the
   * problems listed in `allowed` (e.g. `truncated` for a session whose app was SIGKILLed).
   */
  async function account(
    fault: string,
    sent: Record<string, number>,
    opts: { peakRssKB: number; started: number; appStats: AppStats[]; allowed?: Record<string, string[]>; note?: string },
  ): Promise<Row & { records: ArchivedRecord[]; reports: any[] }> {
    const all = await archive();
    const { report } = await verifyArchive();
    let arrived = 0;
    let declared = 0;
    let undeclared = 0;
    let duplicates = 0;
    const records: ArchivedRecord[] = [];
    const reports: any[] = [];
    const notes: string[] = opts.note ? [opts.note] : [];
    for (const [session, n] of Object.entries(sent)) {
      const recs = all.filter((r) => r.session === session);
      records.push(...recs);
      const seqs = new Set(recs.map((r) => r.seq));
      const dec = declaredOf(recs);
      arrived += seqs.size;
      declared += dec.size;
      duplicates += recs.length - seqs.size;
      // a sent seq that neither arrived nor was declared (a silent gap, or a silent tail)
      let silent = 0;
      for (let s = 0; s < n; s++) if (!seqs.has(s) && !dec.has(s)) silent++;
      const rep = report.sessions.find((s: any) => s.session === session);
      expect(rep, `verify reports session ${session}`).toBeDefined();
      reports.push(rep);
      const undeclaredMissing = (rep.missing as Array<{ from: number; to: number; declared: boolean }>)
        .filter((m) => !m.declared)
        .reduce((k, m) => k + (m.to - m.from + 1), 0);
      undeclared += Math.max(undeclaredMissing, silent);
      expect(rep.declaredLost, `verify's declared count for ${session}`).toBe(dec.size);
      // ... and the app's own count: the union of lost_ranges of every loss event it sealed.
      const app = opts.appStats.find((st) => st.sessions[session])!.sessions[session]!;
      expect(dec.size, `declared in the archive vs by the app for ${session}`).toBe(app.declared);
      expect(rep.mac).toBe('checked');
      expect(rep.macsValid).toBe(seqs.size);
      expect(rep.keyTrusted).toBe(true);
      expect(rep.signaturesValid).toBe(rep.checkpoints);
      const errors = (rep.problems as Array<{ code: string; severity: string; message: string; seq?: number }>).filter((p) => p.severity === 'error');
      const allowed = opts.allowed?.[session] ?? [];
      // At-least-once delivery: a resent request lands after later records. verify counts those copies as
      // reordered; accept that only when the first copy of every seq arrived in order.
      const firstOrder: number[] = [];
      const seen = new Set<number>();
      for (const r of recs) {
      if (seen.has(r.seq)) continue;
      seen.add(r.seq);
      firstOrder.push(r.seq);
    }
      const inOrder = firstOrder.every((s, i) => i === 0 || s > firstOrder[i - 1]!);
      expect(inOrder, `first arrivals of ${session} in seq order`).toBe(true);
      // Redelivered copies are duplicates and a checkpoint declared lost is only a warning: neither is an error.
      for (const e of errors) {
        expect(allowed, `unexpected verify error for ${session}: ${e.code}: ${e.message}`).toContain(e.code);
        notes.push(`verify: ${e.code} (${e.message})`);
      }
    }
    const row: Row = {
      fault,
      sent: Object.values(sent).reduce((a, b) => a + b, 0),
      arrived,
      declared,
      undeclared,
      duplicates,
      peakRssMB: opts.peakRssKB / 1024,
      seconds: (Date.now() - opts.started) / 1000,
      note: notes.join('; '),
    };
    rows.push(row);
    expect(undeclared, `${fault}: undeclared gaps`).toBe(0);
    return { ...row, records, reports };
  }

  const sentOf = (stats: AppStats, sessions: string[]): Record<string, number> =>
    Object.fromEntries(sessions.map((s) => [s, stats.sessions[s]!.sealed]));

  function appEnv(endpoint: string, spoolDir: string, extra: Record<string, string> = {}): Record<string, string> {
    // OTLP/JSON: the fault proxy reads the records it forwards (and a torn JSON spool line is written below).
    return { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OI_AUDIT_SPOOL_DIR: spoolDir, OTEL_SERVICE_NAME: 'oi-audit-fault-suite', ...keyEnv, ...extra };
  }

  it('Collector down for the whole session, then back: the spool delivers everything, in order', async () => {
    const started = Date.now();
    await collector!.stop();
    const spool = join(dir, 'spool-down');
    const app = new App(appEnv(collectorUrl, spool));
    const { session } = await app.cmd('open');
    await app.cmd('emit', { n: 300, paceMs: 2 });
    await app.cmd('end');
    await app.cmd('flush');
    expect(spoolBytes(spool)).toBeGreaterThan(0);
    await startTheCollector();
    await waitDrained(app, spool, 60_000, 'the spool drained after the Collector came back');
    const stats = await app.exit();
    const sent = sentOf(stats, [session!]);
    await waitAccounted(sent, 'the session in the archive');
    const row = await account('Collector down for the whole session, then back', sent, { peakRssKB: stats.maxRssKB, started, appStats: [stats] });
    expect(row.arrived).toBe(sent[session!]);
    expect(row.declared).toBe(0);
    expect(row.reports[0].status).toBe('valid');
    expect(row.reports[0].complete).toBe(true);
  });

  it('Collector SIGKILLed mid-stream and restarted: nothing lost', async () => {
    const started = Date.now();
    const spool = join(dir, 'spool-killed');
    const app = new App(appEnv(collectorUrl, spool));
    const { session } = await app.cmd('open');
    const stream = app.cmd('emit', { n: 800, paceMs: 5 });
    await sleep(1_500);
    const killedAt = Date.now();
    await collector!.kill();
    await sleep(500);
    await startTheCollector();
    const downMs = Date.now() - killedAt;
    await stream;
    await app.cmd('end');
    await app.cmd('flush');
    await waitDrained(app, spool, 60_000, 'the spool drained');
    const stats = await app.exit();
    const sent = sentOf(stats, [session!]);
    await waitAccounted(sent, 'the session in the archive');
    const row = await account('Collector SIGKILLed mid-stream, restarted', sent, { peakRssKB: stats.maxRssKB, started, appStats: [stats], note: `Collector gone for ${(downMs / 1000).toFixed(1)} s while the app streamed` });
    expect(row.arrived).toBe(sent[session!]);
    expect(row.declared).toBe(0);
    expect(row.reports[0].complete).toBe(true);
  });

  it('Collector slow (answers after 2 s; the first logs answer after 5 s, beyond the app timeout): nothing lost, the late request resent', async () => {
    const started = Date.now();
    proxy.mode = 'slow';
    proxy.holdMs = 2_000;
    proxy.firstLogsHoldMs = EXPORT_TIMEOUT_MS + 2_000;
    const spool = join(dir, 'spool-slow');
    const app = new App(appEnv(proxy.url, spool));
    const { session } = await app.cmd('open');
    await app.cmd('emit', { n: 400, paceMs: 5 });
    await app.cmd('end');
    await app.cmd('flush');
    await waitDrained(app, spool, 60_000, 'the spool drained');
    const stats = await app.exit();
    proxy.mode = 'pass';
    const sent = sentOf(stats, [session!]);
    await waitAccounted(sent, 'the session in the archive');
    const row = await account('Collector slow (2 s answers, one 5 s)', sent, { peakRssKB: stats.maxRssKB, started, appStats: [stats], note: `${proxy.abandoned.size} records in answers the app stopped waiting for` });
    expect(row.arrived).toBe(sent[session!]);
    expect(row.declared).toBe(0);
    // The Collector took the request the app gave up on; the app resent it from its spool: each of those
    // records is in the archive exactly twice, every other record once.
    expect(proxy.abandoned.size).toBeGreaterThan(0);
    expect(row.duplicates).toBe(proxy.abandoned.size);
    expect(row.reports[0].complete).toBe(true);
  });

  it('network refused, then the app restarted against the Collector on the same spool: both sessions complete', async () => {
    const started = Date.now();
    const [closed] = await freePorts(1);
    const spool = join(dir, 'spool-refused');
    const first = new App(appEnv(`http://127.0.0.1:${closed}`, spool));
    const { session: s1 } = await first.cmd('open');
    await first.cmd('emit', { n: 200 });
    await first.cmd('end');
    const firstStats = await first.exit();
    expect(spoolBytes(spool)).toBeGreaterThan(0);
    const second = new App(appEnv(collectorUrl, spool));
    const { session: s2 } = await second.cmd('open');
    await second.cmd('emit', { n: 20 });
    await second.cmd('end');
    await second.cmd('flush');
    await waitDrained(second, spool, 60_000, 'the spool drained');
    const secondStats = await second.exit();
    const sent = { ...sentOf(firstStats, [s1!]), ...sentOf(secondStats, [s2!]) };
    await waitAccounted(sent, 'both sessions in the archive');
    const row = await account('network refused, app restarted on its spool', sent, { peakRssKB: Math.max(firstStats.maxRssKB, secondStats.maxRssKB), started, appStats: [firstStats, secondStats] });
    expect(row.arrived).toBe(sent[s1!]! + sent[s2!]!);
    expect(row.declared).toBe(0);
    for (const r of row.reports) expect(r.status).toBe('valid');
    // The replayed session arrived before the new one.
    const order = row.records.map((r) => r.session);
    expect(order.lastIndexOf(s1!)).toBeLessThan(order.indexOf(s2!));
  });

  it('app SIGKILLed mid-session (Collector unreachable), restarted: the spool of the dead app is delivered (past a torn last line)', async () => {
    const started = Date.now();
    const spool = join(dir, 'spool-sigkill');
    const first = new App(appEnv(proxy.url, spool));
    const { session: s1 } = await first.cmd('open');
    await first.cmd('emit', { n: 100 });
    await first.cmd('flush'); // delivered
    proxy.mode = 'reset';
    await first.cmd('emit', { n: 150 });
    const beforeKill = (await first.cmd('flush')).stats; // in the spool
    expect(spoolBytes(spool)).toBeGreaterThan(0);
    await first.sigkill();
    // What a power cut mid-write leaves (SIGKILL cannot: each append is one write): a torn last line.
    const segments = readdirSync(join(spool, 'logs')).filter((f) => f.endsWith('.jsonl')).sort();
    appendFileSync(join(spool, 'logs', segments.at(-1)!), '{"resourceLogs":[{"resource":{"attri');
    proxy.mode = 'pass';
    const second = new App(appEnv(proxy.url, spool));
    const { session: s2 } = await second.cmd('open');
    await second.cmd('emit', { n: 10 });
    await second.cmd('end');
    await second.cmd('flush');
    await waitDrained(second, spool, 60_000, 'the spool drained');
    const secondStats = await second.exit();
    const sent = { ...sentOf(beforeKill, [s1!]), ...sentOf(secondStats, [s2!]) };
    await waitAccounted(sent, 'both sessions in the archive');
    const row = await account('app SIGKILLed mid-session, restarted', sent, {
      peakRssKB: Math.max(beforeKill.maxRssKB, secondStats.maxRssKB),
      started,
      appStats: [beforeKill, secondStats],
      // The dead app never ended its session: verify shows the crash as a truncated stream, not as a gap; its
      // last records were never covered by a signed checkpoint (the crash came first), so they are `uncovered`.
      allowed: { [s1!]: ['truncated', 'uncovered'] },
    });
    expect(row.arrived).toBe(sent[s1!]! + sent[s2!]!);
    expect(row.declared).toBe(0);
    const [dead, fresh] = row.reports;
    expect(dead.ended).toBe(false);
    expect(dead.problems.map((p: any) => p.code)).toContain('truncated');
    expect(dead.missing).toEqual([]);
    expect(fresh.status).toBe('valid');
  });

  it('disk full for the spool (256 KiB tmpfs) while the Collector is unreachable: every loss declared, nothing silent', async () => {
    const started = Date.now();
    const spool = join(dir, 'spool-full');
    mkdirSync(spool, { recursive: true, mode: 0o700 });
    let how: string;
    let extra: Record<string, string> = {};
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', spool], { stdio: 'pipe' });
      mounts.push(spool);
      how = 'tmpfs of 256 KiB: appends fail with ENOSPC';
    } catch (e) {
      extra = { OI_AUDIT_SPOOL_MAX_BYTES: '60000' };
      how = `FALLBACK: mount failed (${(e as Error).message.split('\n')[0]}); OI_AUDIT_SPOOL_MAX_BYTES=60000 bounds the spool instead`;
    }
    console.log(`[fault-suite] disk full: ${how}`);
    proxy.mode = 'reset';
    const app = new App(appEnv(proxy.url, spool, extra));
    const { session } = await app.cmd('open');
    await app.cmd('emit', { n: 50, filler: 200 });
    await app.cmd('flush'); // the first failed export: from now on everything goes to the spool
    // Paced: batches of roughly a hundred records, so some still fit and the rest meet ENOSPC.
    await app.cmd('emit', { n: 600, paceMs: 2, filler: 200 });
    await app.cmd('flush');
    await sleep(1_000); // losses declared meanwhile also fail to reach the full spool
    if (mounts.includes(spool)) {
      // Whatever room the refused appends left, something else on the disk takes: not a byte left, so even
      // the spool's cursor cannot be written while it replays.
      const fd = openSync(join(spool, 'ballast'), 'a');
      try {
        for (;;) writeSync(fd, Buffer.alloc(4096));
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        closeSync(fd);
      }
    }
    expect(app.alive).toBe(true);
    proxy.mode = 'pass';
    await waitDrained(app, spool, 60_000, 'the full spool drained');
    await app.cmd('end');
    await app.cmd('flush');
    await waitDrained(app, spool, 30_000, 'the spool drained after the session end');
    const stats = await app.exit();
    const sent = sentOf(stats, [session!]);
    await waitAccounted(sent, 'every seq arrived or declared lost');
    const lossSealed = stats.sessions[session!]!.lossEvents;
    const lossArrived = new Set((await archive()).filter((r) => r.session === session && r.event === 'oi_audit.audit.loss').map((r) => r.seq)).size;
    const row = await account('disk full for the spool', sent, {
      peakRssKB: stats.maxRssKB,
      started,
      appStats: [stats],
      note: `${how}; ${lossSealed} loss events sealed, ${lossArrived} arrived (a lost one is re-declared by the next)`,
    });
    expect(row.declared).toBeGreaterThan(0);
    // What the app declared (the union of lost_ranges of every loss event it sealed, the lost ones included)
    // is exactly what the loss events that reached the archive declare.
    expect(row.declared).toBe(stats.sessions[session!]!.declared);
    expect(row.arrived + row.declared).toBe(sent[session!]);
    expect(row.arrived).toBe(sent[session!]! - row.declared);
    // Valid, but for what the declared losses explain (account() checked every error: a lost checkpoint
    // breaks the checkpoint chain at the next one, which verify reports as an error).
    expect(row.reports[0].complete).toBe(true);
    expect(row.reports[0].missing.every((m: { declared: boolean }) => m.declared)).toBe(true);
    expect(row.records.filter((r) => r.event === 'oi_audit.audit.loss').every((r) => ['spool_write_failed', 'spool_full'].includes(r.body.data.reason))).toBe(true);
  });

  it('Open Interpreter killed mid-execution: the session ends as process_died, complete in the archive', async () => {
    const started = Date.now();
    const app = new App(appEnv(collectorUrl, join(dir, 'spool-oi-killed')));
    const r = await app.cmd('oi', {
      sessions: [{ script: { turns: [{ user: 'Sleep a while.', replies: ['Sleeping.\n\n```python\nimport time\ntime.sleep(60)\n```\n'] }] }, approve: 'all', killOnExec: true }],
    });
    const [oi] = r.oi!;
    expect(oi!.killed).toBe(true);
    expect(oi!.results[0]!.outcome).toBe('error');
    const stats = await app.exit();
    const sent = sentOf(stats, [oi!.session]);
    await waitAccounted(sent, 'the session in the archive');
    const row = await account('Open Interpreter killed mid-execution', sent, { peakRssKB: stats.maxRssKB, started, appStats: [stats] });
    expect(row.arrived).toBe(sent[oi!.session]);
    expect(row.declared).toBe(0);
    expect(row.reports[0].status).toBe('valid');
    expect(row.reports[0].complete).toBe(true);
    const end = row.records.find((x) => x.event === 'oi_audit.session.end')!;
    expect(end.body.data.outcome).toBe('process_died');
    expect(row.records.some((x) => x.event === 'oi_audit.command.executed')).toBe(true);
    expect(row.records.some((x) => x.event === 'oi_audit.error' && x.body.data.type === 'process_exit')).toBe(true);
  });

  it('LLM upstream 500, timeout and cut stream: each recorded as an error, each session complete in the archive', async () => {
    const started = Date.now();
    const app = new App(appEnv(collectorUrl, join(dir, 'spool-llm')));
    const r = await app.cmd(
      'oi',
      {
        sessions: [
          { script: { turns: [{ user: 'Hello there.', replies: ['Hi.'] }] }, faults: { http500: { message: 'upstream exploded' } } },
          { script: { turns: [{ user: 'Are you there?', replies: ['Yes.'] }] }, faults: { headersDelay: { ms: 4_000 } }, proxyTimeoutMs: 1_000 },
          { script: { turns: [{ user: 'Tell me a story.', replies: ['Once upon a time there was a very long story that never ended.'] }] }, faults: { cutStream: { afterChunks: 3 } } },
        ],
      },
      240_000,
    );
    const stats = await app.exit();
    const expectedError = ['upstream_500', 'upstream_timeout', 'upstream_stream_cut'];
    const labels = ['LLM upstream 500', 'LLM upstream timeout', 'LLM stream cut'];
    for (let i = 0; i < 3; i++) {
      const oi = r.oi![i]!;
      const sent = sentOf(stats, [oi.session]);
      await waitAccounted(sent, `${labels[i]} session in the archive`);
      const row = await account(labels[i]!, sent, { peakRssKB: stats.maxRssKB, started, appStats: [stats], note: i === 0 ? 'one app process for the three sessions (peak RSS and time shared)' : '' });
      expect(row.arrived).toBe(sent[oi.session]);
      expect(row.declared).toBe(0);
      expect(row.reports[0].status).toBe('valid');
      expect(row.reports[0].complete).toBe(true);
      expect(row.records.some((x) => x.event === 'oi_audit.error' && x.body.data.type === expectedError[i]), `${expectedError[i]} error recorded`).toBe(true);
    }
  }, 300_000);
});
