/**
 * At-rest encryption of the embedded sink, attacked as a reader of the host's disk would: the files hold no
 * plaintext, open only with the identity, and any altered, dropped, inserted or reordered line is refused.
 * Rotation and retention keep a session verifiable and say what they did.
 */
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateAtRestKeyPair, IDENTITY_PREFIX } from '../../src/at-rest/keys.js';
import { loadSodium } from '../../src/at-rest/sodium.js';
import { decryptSegments, SegmentEncryptor, SegmentError } from '../../src/at-rest/segments.js';
import { FileLogRecordExporter, type SinkMaintenanceEvent } from '../../src/otel/file-sink.js';
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
