/**
 * The Loki stand-in enforces the limits that decide whether audit records reach a real Loki, read from the
 * same loki.yaml users run; and export-loki pages a session out of it past the per-query entry limit.
 */
import { describe, expect, it, afterEach } from 'vitest';

import { fileURLToPath } from 'node:url';
import { LOKI_DEFAULT_LIMITS, LokiStandin, lokiLimitsFromConfig } from '../helpers/loki-standin.js';
import { exportLokiRange, LokiQueryError } from '../../src/read/loki-query.js';

const LOKI_YAML = fileURLToPath(new URL('../../collector-config/loki.yaml', import.meta.url));
const MB = 1 << 20;

function otlpJson(records: Array<{ session: string; tsNs: bigint; body: string }>): Buffer {
  return Buffer.from(
    JSON.stringify({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'oi-audit' } }] },
          scopeLogs: [
            {
              logRecords: records.map((r, i) => ({
                timeUnixNano: r.tsNs.toString(),
                body: { stringValue: r.body },
                attributes: [
                  { key: 'session.id', value: { stringValue: r.session } },
                  { key: 'oi_audit.event.seq', value: { intValue: String(i) } },
                ],
              })),
            },
          ],
        },
      ],
    }),
  );
}

describe('Loki stand-in limits (from Loki 3.7 documentation)', () => {
  const running: LokiStandin[] = [];
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop();
  });

  it("reads the project's loki.yaml: gRPC message and ingestion limits raised, query limit kept", () => {
    const l = lokiLimitsFromConfig(LOKI_YAML);
    expect(l.grpcMaxMessageBytes).toBe(64 * MB);
    expect(l.ingestionRateBytesPerSec).toBe(64 * MB);
    expect(l.ingestionBurstBytes).toBe(128 * MB);
    expect(l.maxLineBytes).toBe(4 * MB); // longer lines are refused (truncation is off: a cut body fails verify)
    expect(l.maxEntriesPerQuery).toBe(5000);
    expect(l.creationGraceMs).toBe(3_600_000);
    expect(l.outOfOrderWindowMs).toBe(2 * 3_600_000);
  });

  it('a push larger than the gRPC message limit is refused with a retryable 503, as Loki does', async () => {
    const loki = await LokiStandin.start();
    running.push(loki);
    const now = BigInt(Date.now()) * 1_000_000n;
    const big = otlpJson(Array.from({ length: 700 }, (_, i) => ({ session: 's', tsNs: now + BigInt(i), body: 'x'.repeat(6500) })));
    expect(big.length).toBeGreaterThan(LOKI_DEFAULT_LIMITS.grpcMaxMessageBytes);
    const res = await fetch(`${loki.url}/otlp/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/ResourceExhausted.*received message larger than max/);
    expect(loki.entries).toHaveLength(0);
  });

  it('entries too far in the future or too far behind their stream are refused with 400; the rest of the push is kept', async () => {
    const loki = await LokiStandin.start();
    running.push(loki);
    const now = BigInt(Date.now()) * 1_000_000n;
    const hour = 3_600_000_000_000n;
    const out = loki.push(
      otlpJson([
        { session: 'a', tsNs: now, body: 'ok-1' },
        { session: 'a', tsNs: now + 2n * hour, body: 'future' },
        { session: 'a', tsNs: now - 2n * hour, body: 'behind' },
        { session: 'b', tsNs: now - 2n * hour, body: 'other stream, fine' },
      ]),
      'application/json',
    );
    expect(out.status).toBe(400);
    expect(out.accepted).toBe(2);
    expect(out.reason).toMatch(/too_far_in_future/);
    expect(out.reason).toMatch(/too far behind/);
    expect(loki.entries.map((e) => e.line).sort()).toEqual(['ok-1', 'other stream, fine']);
  });

  it('query_range refuses a limit above max_entries_limit_per_query', async () => {
    const loki = await LokiStandin.start();
    running.push(loki);
    const res = await fetch(`${loki.url}/loki/api/v1/query_range?query=${encodeURIComponent('{session_id="a"}')}&limit=100000`);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/max entries limit per query exceeded.*100000 > 5000/);
  });
});

describe('export-loki paging', () => {
  it('reads every entry of a 12,000-record session exactly once, with many records sharing a timestamp across page ends', async () => {
    const loki = await LokiStandin.start({ limits: { ...LOKI_DEFAULT_LIMITS, ingestionBurstBytes: 64 * MB, ingestionRateBytesPerSec: 64 * MB } });
    try {
      const base = BigInt(Date.now() - 60_000) * 1_000_000n;
      // 7 records per millisecond: page ends (every 5000) fall inside groups of equal timestamps.
      const records = Array.from({ length: 12_000 }, (_, i) => ({ session: 'long', tsNs: base + BigInt(Math.floor(i / 7)) * 1_000_000n, body: `{"seq":${i}}` }));
      for (let i = 0; i < records.length; i += 2000) expect(loki.push(otlpJson(records.slice(i, i + 2000)), 'application/json').status).toBe(204);
      loki.push(otlpJson([{ session: 'other', tsNs: base, body: 'not mine' }]), 'application/json');
      let pages = 0;
      const doc = await exportLokiRange({
        baseUrl: loki.url,
        query: '{session_id="long"}',
        startNs: base,
        endNs: base + 3_600_000_000_000n,
        onPage: () => pages++,
      });
      const lines = doc.data.result.flatMap((s) => s.values.map((v) => v[1]));
      expect(pages).toBeGreaterThanOrEqual(3);
      expect(lines).toHaveLength(12_000);
      expect(new Set(lines).size).toBe(12_000);
      expect(lines).not.toContain('not mine');
    } finally {
      await loki.stop();
    }
  });

  it('says so when more entries share one timestamp than a page holds', async () => {
    const loki = await LokiStandin.start();
    try {
      const ts = BigInt(Date.now()) * 1_000_000n;
      loki.push(otlpJson(Array.from({ length: 30 }, (_, i) => ({ session: 's', tsNs: ts, body: `r${i}` }))), 'application/json');
      await expect(exportLokiRange({ baseUrl: loki.url, query: '{session_id="s"}', startNs: ts, endNs: ts + 1n, pageSize: 10 })).rejects.toThrow(LokiQueryError);
    } finally {
      await loki.stop();
    }
  });

  it('reports a refused query as a LokiQueryError naming the status', async () => {
    const loki = await LokiStandin.start();
    try {
      await expect(exportLokiRange({ baseUrl: loki.url, query: '{session_id="s"}', startNs: 0n, endNs: 1n, pageSize: 6000 })).rejects.toThrow(/HTTP 400/);
    } finally {
      await loki.stop();
    }
  });
});

