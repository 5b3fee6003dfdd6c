/**
 * A session read back from Loki verifies without flags: the records of a real sealed session (keys from
 * `oi-audit keygen`) are pushed to the Loki stand-in with millisecond timestamps, several per millisecond,
 * as a real Loki stores them; `oi-audit export-loki` pages them out past the 5000-entry limit and
 * `oi-audit verify` (seed and pinned key) says VALID, exit 0, without --allow-reorder. A genuinely
 * reordered chain in an ordered file still fails.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createChainFactory, loadIntegrityKeys } from '../../src/integrity/chain.js';
import { generateKeyFiles } from '../../src/keys/keygen.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';
import { runCli } from '../helpers/cli.js';
import { LOKI_DEFAULT_LIMITS, LokiStandin } from '../helpers/loki-standin.js';

const MB = 1 << 20;

describe('verify on a Loki export', () => {
  it('a 6,000-record session with equal-millisecond records exported from Loki verifies VALID without flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-loki-verify-'));
    const files = generateKeyFiles(join(dir, 'keys'));
    const keys = loadIntegrityKeys({ files: { macSeed: files.macSeed, signingKey: files.signingKey } });
    const { recorder, logs } = inMemoryRecorder({ chainFactory: createChainFactory(keys, { checkpointEvery: 100 }) });
    const session = recorder.openSession({ userId: 'alice', model: 'scripted', policy: 'policy' });
    for (let t = 0; t < 5200; t++) {
      const turn = session.startTurn(`turn ${t}`);
      turn.end('complete');
    }
    session.end();
    const records = logs.getFinishedLogRecords();
    expect(records.length).toBeGreaterThan(5000);

    const loki = await LokiStandin.start({ limits: { ...LOKI_DEFAULT_LIMITS, ingestionBurstBytes: 64 * MB, ingestionRateBytesPerSec: 64 * MB } });
    try {
      // Loki's timestamps: the record's, in ms (as the Collector passes them), so many records share one.
      const base = BigInt(Date.now() - 60_000) * 1_000_000n;
      const logRecords = records.map((r, i) => ({
        timeUnixNano: (base + BigInt(Math.floor(i / 5)) * 1_000_000n).toString(),
        body: { stringValue: String(r.body) },
        attributes: Object.entries(r.attributes).map(([key, v]) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: String(v) } })),
      }));
      for (let i = 0; i < logRecords.length; i += 1000) {
        const req = { resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'oi-audit' } }] }, scopeLogs: [{ logRecords: logRecords.slice(i, i + 1000) }] }] };
        expect(loki.push(Buffer.from(JSON.stringify(req)), 'application/json').status).toBe(204);
      }
      const out = join(dir, 'session.loki.json');
      const exported = await runCli(['export-loki', '--url', loki.url, '--session', session.id, '--start', String(base), '--out', out]);
      expect(exported.code, exported.stderr).toBe(0);
      const verified = await runCli(['verify', out, '--key', files.macSeed, '--public-key', files.publicKey]);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      expect(verified.stdout).toMatch(/VALID/);

      // The same records in one ordered file, two of them swapped: still an error.
      const doc = JSON.parse(readFileSync(out, 'utf8'));
      const lines: string[] = [...doc.data.result.flatMap((s: any) => s.values.map((v: any) => v[1]))].sort(
        (a, b) => JSON.parse(a).seq - JSON.parse(b).seq,
      );
      [lines[10], lines[11]] = [lines[11]!, lines[10]!];
      const jsonl = join(dir, 'reordered.jsonl');
      writeFileSync(
        jsonl,
        lines.map((b) => JSON.stringify({ resourceLogs: [{ resource: { attributes: [] }, scopeLogs: [{ logRecords: [{ body: { stringValue: b }, attributes: [] }] }] }] })).join('\n') + '\n',
      );
      const bad = await runCli(['verify', jsonl, '--key', files.macSeed, '--public-key', files.publicKey]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/reorder/i);
    } finally {
      await loki.stop();
    }
  }, 120_000);
});
