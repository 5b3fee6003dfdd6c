/**
 * Loki down while three long sessions are recorded, then back: the real Collector (otelcol.yaml unchanged)
 * must drain its whole backlog into a Loki that enforces Loki's DEFAULT limits (4 MB gRPC messages, 4 MB/s
 * ingestion, 6 MB burst) — so the Collector's batches fit any stock Loki, not only ours — and nothing may be
 * dropped without a count. Before the batches were sized in bytes, a 6 MB batch got a retryable 503 forever
 * (measured against Loki 3.7.6: 934 of 1,008 records stuck 180 s after Loki came back).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson, ensureCollectorBinary, freePorts, logsRequest, makeAuditRecords, postOtlpJson, scrapeCounter, tempDir, waitFor } from '../helpers/collector-stack.js';
import { LOKI_DEFAULT_LIMITS, LokiStandin } from '../helpers/loki-standin.js';
import { otelcolSetup } from '../helpers/otelcol-stack.js';

const SESSIONS = 3;
const PER_SESSION = 336; // 30 turns of ~11 events, as in the outside measurement: 1,008 records
const PAD = 'p'.repeat(6000); // ~6 KB bodies (LLM requests, command output): 6.2 MB in all

describe('Loki outage during long sessions', () => {
  const running: Array<{ stop(): Promise<void> }> = [];
  afterAll(async () => {
    for (const s of running.reverse()) await s.stop().catch(() => undefined);
  });

  it('drains a 6 MB backlog into a Loki with default limits once it is back: every record, none dropped', async () => {
    await ensureCollectorBinary();
    const dir = tempDir('loki-backlog');
    // Loki is down (nothing on its port yet); Tempo and the SIEM are never up.
    const [lokiPort] = await freePorts(1);
    const setup = await otelcolSetup(dir, { fanout: { loki: `http://127.0.0.1:${lokiPort}` } });
    const collector = await setup.start('otelcol-loki-backlog');
    running.push(collector);

    const records = makeAuditRecords(SESSIONS, PER_SESSION, { runId: `lb${Date.now().toString(36)}` }).map((r) => {
      const body = JSON.parse(r.body) as Record<string, any>;
      body.data.output = `${PAD}${r.seq}`;
      return { ...r, body: canonicalJson(body) };
    });
    const totalBytes = records.reduce((n, r) => n + r.body.length, 0);
    expect(totalBytes).toBeGreaterThan(6_000_000);
    // Loki is down: the records are accepted into the Collector's persistent queue, in ONE 6.5 MB request, so
    // the exporter itself must split what it sends to Loki.
    await postOtlpJson(setup.otlpUrl, '/v1/logs', logsRequest(records));

    const loki = await LokiStandin.start({ port: lokiPort!, limits: { ...LOKI_DEFAULT_LIMITS } });
    running.push(loki);
    await waitFor(() => new Set(loki.entries.map((e) => e.line)).size === records.length, {
      timeoutMs: 180_000,
      intervalMs: 500,
      what: `all ${records.length} records at a Loki with default limits`,
    });
    const want = new Set(records.map((r) => r.body));
    const got = new Set(loki.entries.map((e) => e.line));
    expect([...want].every((b) => got.has(b))).toBe(true);
    const tooLarge = loki.pushes.filter((p) => p.status === 503);
    const refused = loki.pushes.filter((p) => p.status === 400);
    console.log(
      `[loki-backlog] ${records.length} records (${(totalBytes / 1e6).toFixed(1)} MB) drained in ${loki.pushes.length} pushes; ` +
        `largest push accepted ${Math.max(...loki.pushes.map((p) => p.accepted))} records; 503 too large: ${tooLarge.length}, 429: ${loki.pushes.filter((p) => p.status === 429).length}, 400: ${refused.length}`,
    );
    expect(tooLarge).toEqual([]);
    expect(refused).toEqual([]);
    // Nothing counted as failed at the Loki exporter.
    const failed = await scrapeCounter(setup.metricsUrl, 'otelcol_exporter_send_failed_log_records', { exporter: 'otlp_http/loki' });
    expect(failed).toBe(0);
  }, 300_000);
});
