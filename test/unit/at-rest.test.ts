/**
 * At-rest encryption of the embedded sink, attacked as a reader of the host's disk would: the files hold no
 * plaintext, open only with the identity, and any altered, dropped, inserted or reordered line is refused.
 * Rotation and retention keep a session verifiable and say what they did.
 */
import { mkdtempSync, readdirSync, readFileSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateAtRestKeyPair, IDENTITY_PREFIX } from '../../src/at-rest/keys.js';
import { loadSodium } from '../../src/at-rest/sodium.js';
import { decryptSegments, SegmentEncryptor, SegmentError } from '../../src/at-rest/segments.js';
import { FileLogRecordExporter, MAINTENANCE_FILE, type SinkMaintenanceEvent } from '../../src/otel/file-sink.js';
import { SinkMaintenanceLog } from '../../src/setup/sink-maintenance.js';
import { applyRetentionEvidence } from '../../src/verify/retention.js';
import { CORRUPT_DIR, SEALED_DIR, Spool } from '../../src/otel/spool.js';
import { readAuditFiles } from '../../src/read/otlp-files.js';
import { verifySessions } from '../../src/verify/verify.js';
import { createChainFactory, loadIntegrityKeys } from '../../src/integrity/chain.js';
import { AuditRecorder } from '../../src/audit/recorder.js';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';

async function keyPair() {
  const sodium = await loadSodium();
  const pair = generateAtRestKeyPair(sodium);
  const secretKey = new Uint8Array(Buffer.from(pair.identity.trim().slice(IDENTITY_PREFIX.length), 'base64'));
  const identity = { secretKey, publicKey: sodium.crypto_scalarmult_base(secretKey) };
  return { sodium, pair, identity, recipient: identity.publicKey };
}

describe('encrypted segments', () => {
  it('round-trips lines; the ciphertext holds none of the plaintext', async () => {
    const { sodium, identity, recipient } = await keyPair();
    const enc = new SegmentEncryptor(sodium, recipient);
    const secretText = 'cat ~/.ssh/id_ed25519 and the user asked: plot my sales data';
    const text = [enc.headerLine, enc.line(Buffer.from(secretText)), enc.line(Buffer.from('two')), enc.finalLine()].join('\n');
    expect(text).not.toContain('sales');
    const segs = decryptSegments(text, identity, sodium);
    expect(segs).toHaveLength(1);
    expect(segs[0]!.lines).toEqual([secretText, 'two']);
    expect(segs[0]!.closed).toBe(true);
  });

  it('refuses a flipped byte, a dropped line, reordered lines, an inserted line and a wrong identity', async () => {
    const { sodium, identity, recipient } = await keyPair();
    const enc = new SegmentEncryptor(sodium, recipient);
    const lines = [enc.headerLine, enc.line(Buffer.from('a')), enc.line(Buffer.from('b')), enc.line(Buffer.from('c')), enc.finalLine()];
    const flip = (l: string) => {
      const b = Buffer.from(l, 'base64');
      b[b.length - 3]! ^= 1;
      return b.toString('base64');
    };
    const cases: Record<string, string[]> = {
      flipped: [lines[0]!, lines[1]!, flip(lines[2]!), lines[3]!, lines[4]!],
      dropped: [lines[0]!, lines[1]!, lines[3]!, lines[4]!],
      reordered: [lines[0]!, lines[2]!, lines[1]!, lines[3]!, lines[4]!],
      inserted: [lines[0]!, lines[1]!, lines[1]!, lines[2]!, lines[3]!, lines[4]!],
      'after final': [...lines, lines[3]!],
    };
    for (const [what, rows] of Object.entries(cases)) {
      expect(() => decryptSegments(rows.join('\n'), identity, sodium), what).toThrow(SegmentError);
    }
    const other = await keyPair();
    expect(() => decryptSegments(lines.join('\n'), other.identity, sodium)).toThrow(/not to this identity/);
    // A header whose sealed key was swapped for one sealed to the attacker's own key does not pass as ours either.
    const forged = JSON.parse(lines[0]!);
    forged.key = Buffer.from(sodium.crypto_box_seal(new Uint8Array(32), other.recipient)).toString('base64');
    expect(() => decryptSegments([JSON.stringify(forged), ...lines.slice(1)].join('\n'), identity, sodium)).toThrow(SegmentError);
  });
});

function recorderWithSink(dir: string, options: ConstructorParameters<typeof FileLogRecordExporter>[1]) {
  const exporter = new FileLogRecordExporter(dir, options);
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
  const keys = loadIntegrityKeys({ macSeed: Buffer.alloc(32, 7) });
  const recorder = new AuditRecorder({ tracerProvider: new BasicTracerProvider(), loggerProvider, chainFactory: createChainFactory(keys, { checkpointEvery: 50 }) });
  return { recorder, exporter, loggerProvider };
}

describe('encrypted, rotated sink', () => {
  it('a long session across several rotated encrypted files verifies VALID with the identity; without it the input is refused', async () => {
    const { pair, identity, sodium } = await keyPair();
    const dir = mkdtempSync(join(tmpdir(), 'oi-at-rest-'));
    const events: SinkMaintenanceEvent[] = [];
    const { recorder, exporter } = recorderWithSink(dir, { atRestRecipient: pair.recipient, rotateBytes: 40_000, onMaintenance: (e) => events.push(e) });
    const session = recorder.openSession({ userId: 'alice', model: 'm', policy: 'policy' });
    for (let t = 0; t < 200; t++) session.startTurn(`confidential question number ${t}`).end('complete');
    session.end();
    await exporter.shutdown();
    const files = readdirSync(dir).filter((f) => f.startsWith('logs'));
    expect(events.filter((e) => e.action === 'rotated').length).toBeGreaterThanOrEqual(3);
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) expect(readFileSync(join(dir, f), 'utf8')).not.toContain('confidential');
    expect(() => readAuditFiles([dir])).toThrow(/encrypted at rest.*--identity/);
    const data = readAuditFiles([dir], { atRest: { identity, sodium } });
    const [report] = verifySessions(data.logs, { macSeed: Buffer.alloc(32, 7) });
    expect(report!.status, JSON.stringify(report!.problems)).toBe('valid');
    expect(report!.records).toBeGreaterThan(200);
  });

  it('plaintext rotation gzips old files, the session still verifies across them, and retention deletes only old rotated files, reporting each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-rotate-'));
    const events: SinkMaintenanceEvent[] = [];
    const { recorder, exporter } = recorderWithSink(dir, { rotateBytes: 30_000, retentionDays: 30, onMaintenance: (e) => events.push(e) });
    const session = recorder.openSession({ userId: 'bob', model: 'm', policy: 'policy' });
    for (let t = 0; t < 100; t++) session.startTurn(`question ${t}`).end('complete');
    session.end();
    await exporter.shutdown();
    const rotated = events.filter((e) => e.action === 'rotated').map((e) => e.file);
    expect(rotated.length).toBeGreaterThanOrEqual(3);
    expect(rotated.every((f) => f.endsWith('.jsonl.gz'))).toBe(true);
    const [report] = verifySessions(readAuditFiles([dir]).logs, { macSeed: Buffer.alloc(32, 7) });
    expect(report!.status, JSON.stringify(report!.problems)).toBe('valid');

    // An old rotated file past retention, and an unrelated old file that is not the sink's.
    const old = join(dir, 'logs.20200101T000000Z.jsonl.gz');
    writeFileSync(old, readFileSync(rotated[0]!));
    writeFileSync(join(dir, 'notes.txt'), 'keep me');
    const past = new Date(Date.now() - 90 * 86_400_000);
    utimesSync(old, past, past);
    utimesSync(join(dir, 'notes.txt'), past, past);
    const again = recorderWithSink(dir, { rotateBytes: 30_000, retentionDays: 30, onMaintenance: (e) => events.push(e) });
    const s2 = again.recorder.openSession({ userId: 'bob', model: 'm', policy: 'policy' });
    for (let t = 0; t < 60; t++) s2.startTurn(`more ${t}`).end('complete');
    s2.end();
    await again.exporter.shutdown();
    expect(events.filter((e) => e.action === 'deleted_by_retention').map((e) => e.file)).toEqual([old]);
    expect(readdirSync(dir)).toContain('notes.txt');
  });
});

describe('encrypted spool', () => {
  const canary = 'CANARY-7f3a-the-user-typed-their-password';
  const request = (i: number) => Buffer.from(JSON.stringify({ resourceLogs: [{ n: i, body: `${canary} ${i}` }] }));
  const drain = (spool: Spool) => {
    const out: string[] = [];
    for (let line = spool.peek(); line; line = spool.peek()) {
      out.push(Buffer.from(line).toString('utf8'));
      spool.ack(line);
    }
    return out;
  };
  const segmentFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('seg-'));
  const allText = (dir: string): string =>
    readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name), 'latin1'))
      .join('\n');

  it('holds no plaintext on disk, and this process replays its own segments in order', async () => {
    const { recipient } = await keyPair();
    const dir = mkdtempSync(join(tmpdir(), 'oi-spool-enc-'));
    const spool = new Spool({ dir, maxBytes: 1 << 20, recipient, segmentBytes: 2_000 });
    await spool.whenReady();
    for (let i = 0; i < 40; i++) expect(spool.append(request(i))).toBe(true);
    spool.sync();
    expect(segmentFiles(dir).length).toBeGreaterThan(3);
    expect(allText(dir)).not.toContain('CANARY');
    expect(drain(spool)).toEqual([...Array(40).keys()].map((i) => request(i).toString()));
    expect(spool.isEmpty).toBe(true);
    expect(segmentFiles(dir)).toEqual([]);
  });

  it('a later process cannot read them: it sets them aside, and the identity replays them from the saved cursor', async () => {
    const { recipient, identity } = await keyPair();
    const dir = mkdtempSync(join(tmpdir(), 'oi-spool-enc-'));
    const first = new Spool({ dir, maxBytes: 1 << 20, recipient, segmentBytes: 2_000 });
    await first.whenReady();
    for (let i = 0; i < 30; i++) first.append(request(i));
    // Three sent before the "crash" (no close: the segment being written has no final message).
    for (let i = 0; i < 3; i++) first.ack(first.peek()!);
    first.sync();
    const problems: string[] = [];
    const second = new Spool({ dir, maxBytes: 1 << 20, recipient, onProblem: (m) => problems.push(m) });
    expect(problems.join()).toMatch(/cannot be replayed by this process.*spool replay --identity/);
    expect(second.isEmpty).toBe(true);
    expect(segmentFiles(dir)).toEqual([]);
    const [batch] = readdirSync(join(dir, SEALED_DIR));
    const sealed = new Spool({ dir: join(dir, SEALED_DIR, batch!), maxBytes: 1 << 20, identity });
    await sealed.whenReady();
    expect(drain(sealed)).toEqual([...Array(27).keys()].map((i) => request(i + 3).toString()));
  });

  it('a flipped byte or a deleted segment is reported and skipped, never replayed as if intact', async () => {
    const { recipient } = await keyPair();
    const dir = mkdtempSync(join(tmpdir(), 'oi-spool-enc-'));
    const problems: string[] = [];
    const spool = new Spool({ dir, maxBytes: 1 << 20, recipient, segmentBytes: 2_000, onProblem: (m) => problems.push(m) });
    await spool.whenReady();
    for (let i = 0; i < 40; i++) spool.append(request(i));
    spool.sync();
    const segs = segmentFiles(dir);
    expect(segs.length).toBeGreaterThanOrEqual(4);
    // Flip one byte in the second line of segment 2; delete segment 3.
    const f2 = join(dir, segs[1]!);
    const lines = readFileSync(f2, 'latin1').split('\n');
    const b = Buffer.from(lines[2]!, 'base64');
    b[5]! ^= 1;
    lines[2] = b.toString('base64');
    writeFileSync(f2, lines.join('\n'));
    unlinkSync(join(dir, segs[2]!));
    const got = drain(spool).map((l) => (JSON.parse(l) as { resourceLogs: Array<{ n: number }> }).resourceLogs[0]!.n);
    expect(problems.some((p) => p.includes(segs[1]!) && /does not authenticate/.test(p))).toBe(true);
    expect(problems.some((p) => p.includes(segs[2]!) && /missing/.test(p))).toBe(true);
    // Only the first record of the altered segment precedes the flip; nothing of the deleted one.
    expect(got.length).toBeLessThan(40);
    expect(got).toEqual([...got].sort((x, y) => x - y));
    expect(readdirSync(join(dir, CORRUPT_DIR))).toHaveLength(1);
    expect(spool.isEmpty).toBe(true);
  });
});

describe('sink maintenance stream', () => {
  it('records each rotation (with the sessions a file holds) and each deletion by retention, chained and signed; verify reads a retention deletion as such, not as a loss', async () => {
    const { pair, identity, sodium } = await keyPair();
    const dir = mkdtempSync(join(tmpdir(), 'oi-maint-'));
    const keys = loadIntegrityKeys({ macSeed: Buffer.alloc(32, 7) });
    const chainFactory = createChainFactory(keys, { checkpointEvery: 50 });
    // The deleted start carried the signing key: the rest is checked against the pinned key.
    const verifyKeys = { macSeed: Buffer.alloc(32, 7), trustedPublicKeys: [keys.signing.publicKeyRaw] };
    const log = new SinkMaintenanceLog(dir, pair.recipient, { chainFactory });
    const sink = (retentionDays: number) => {
      const exporter = new FileLogRecordExporter(dir, { atRestRecipient: pair.recipient, rotateBytes: 40_000, retentionDays, onMaintenance: (e) => log.record(e) });
      const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
      return { exporter, recorder: new AuditRecorder({ tracerProvider: new BasicTracerProvider(), loggerProvider, chainFactory }) };
    };
    const first = sink(0);
    const old = first.recorder.openSession({ userId: 'alice', model: 'm', policy: 'policy' });
    for (let t = 0; t < 150; t++) old.startTurn(`confidential question number ${t}`).end('complete');
    old.end();
    await first.exporter.shutdown();
    const rotatedFiles = readdirSync(dir).filter((f) => /^logs\..*Z/.test(f)).sort();
    expect(rotatedFiles.length).toBeGreaterThanOrEqual(3);
    // The oldest rotated file ages past retention; the next sink's first rotation deletes it.
    const past = new Date(Date.now() - 90 * 86_400_000);
    utimesSync(join(dir, rotatedFiles[0]!), past, past);
    const second = sink(30);
    const s2 = second.recorder.openSession({ userId: 'bob', model: 'm', policy: 'policy' });
    for (let t = 0; t < 80; t++) s2.startTurn(`more ${t}`).end('complete');
    s2.end();
    await second.exporter.shutdown();
    await log.shutdown();
    expect(readdirSync(dir)).not.toContain(rotatedFiles[0]);
    expect(readFileSync(join(dir, MAINTENANCE_FILE), 'utf8')).not.toContain('logs.');

    const data = readAuditFiles([dir], { atRest: { identity, sodium } });
    const reports = verifySessions(data.logs, verifyKeys);
    const bodies = data.logs.map((l) => JSON.parse(l.body) as { session: string; event: string; data: Record<string, unknown> });
    const maint = bodies.filter((b) => b.event === 'oi_audit.sink.maintenance');
    expect(maint.filter((b) => b.data.action === 'rotated').length).toBeGreaterThanOrEqual(3);
    const deletion = maint.find((b) => b.data.action === 'deleted_by_retention');
    expect(String(deletion?.data.file)).toContain(rotatedFiles[0]);
    const maintSessions = new Set(maint.map((b) => b.session));
    for (const r of reports.filter((x) => maintSessions.has(x.session))) expect(r.status, JSON.stringify(r.problems)).toBe('valid');

    // Without the maintenance evidence the old session's head is simply gone: INVALID.
    const oldReport = reports.find((r) => r.session === old.id)!;
    expect(oldReport.status).toBe('invalid');
    expect(oldReport.problems.some((p) => p.code === 'missing_start')).toBe(true);
    // With it, the gap is a recorded retention deletion: no error left, and it says so.
    const explained = applyRetentionEvidence(reports, data.logs).find((r) => r.session === old.id)!;
    expect(explained.problems.filter((p) => p.severity === 'error'), JSON.stringify(explained.problems)).toEqual([]);
    expect(explained.problems.some((p) => p.code === 'deleted_by_retention')).toBe(true);
    expect(explained.status).toBe('valid');

    // A gap retention does not explain stays an error: drop a record from the newest file's range.
    const kept = data.logs.filter((l) => {
      const b = JSON.parse(l.body) as { session: string; seq: number };
      return !(b.session === old.id && b.seq === oldReport.lastSeq! - 3);
    });
    const tampered = applyRetentionEvidence(verifySessions(kept, verifyKeys), kept).find((r) => r.session === old.id)!;
    expect(tampered.status).toBe('invalid');
    // A forged deletion record (not authenticated) explains nothing.
    const forgedBody = JSON.stringify({ ...JSON.parse(data.logs.find((l) => l.body.includes('deleted_by_retention'))!.body), session: 'forged-session' });
    const forged = [...data.logs.filter((l) => !l.body.includes('oi_audit.sink.maintenance') || l.body.includes('"rotated"')), { ...data.logs[0]!, body: forgedBody }];
    const forgedReports = applyRetentionEvidence(verifySessions(forged, verifyKeys), forged);
    expect(forgedReports.find((r) => r.session === old.id)!.status).toBe('invalid');
  });
});
