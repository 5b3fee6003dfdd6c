/**
 * Persistent sending queue (file_storage) of collector-config/otelcol.yaml survives a crash:
 * Loki stand-in down → 10,000 log records accepted by the Collector → SIGKILL → Collector started again on
 * the same data directory → Loki stand-in up → all 10,000 arrive (duplicates are counted and reported:
 * delivery is at-least-once).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import {
  LOKI_STANDIN_CONFIG,
  type CollectorHandle,
  ensureCollectorBinary,
  flattenLogs,
  freePorts,
  logsRequest,
  makeAuditRecords,
  postOtlpJson,
  readJsonLines,
  recordKey,
  scrapeCounter,
  startCollector,
  tempDir,
  waitFor,
} from '../helpers/collector-stack.js';
import { otelcolSetup } from '../helpers/otelcol-stack.js';

const TOTAL = 10_000;
const PER_REQUEST = 500;

describe('Collector persistent queue', () => {
  const running: Array<{ stop(): Promise<void> }> = [];
  afterAll(async () => {
    for (const s of running.reverse()) await s.stop().catch(() => undefined);
  });

  it(
    'delivers all 10,000 records to Loki after the back end was down and the Collector was SIGKILLed',
    async () => {
      await ensureCollectorBinary();
      const dir = tempDir('queue');
      const lokiOut = join(dir, 'loki', 'logs.jsonl');
      // Tempo and the SIEM point at closed ports: their queues fill up and retry, like Loki's.
      const [lHttp, lHealth] = await freePorts(2);
      const setup = await otelcolSetup(dir, { fanout: { loki: `http://127.0.0.1:${lHttp}` } });

      let collector: CollectorHandle = await setup.start('otelcol-1');
      running.push(collector);

      const records = makeAuditRecords(20, TOTAL / 20, { runId: `q${Date.now().toString(36)}` });
      const t0 = Date.now();
      for (let i = 0; i < records.length; i += PER_REQUEST) {
        await postOtlpJson(setup.otlpUrl, '/v1/logs', logsRequest(records.slice(i, i + PER_REQUEST)));
      }
      const sendMs = Date.now() - t0;
      // Every request was answered 200 only after its records were written to the persistent queues.
      const queued = await scrapeCounter(setup.metricsUrl, 'otelcol_exporter_queue_size', { exporter: 'otlp_http/loki' });
      expect(queued).toBeGreaterThan(0);
      expect(existsSync(lokiOut)).toBe(false);

      await collector.kill(); // SIGKILL: no shutdown, no flush
      const t1 = Date.now();
      collector = await setup.start('otelcol-2');
      running.push(collector);

      const loki = await startCollector(
        LOKI_STANDIN_CONFIG,
        { STANDIN_HTTP_ENDPOINT: `127.0.0.1:${lHttp}`, STANDIN_HEALTH_ENDPOINT: `127.0.0.1:${lHealth}`, STANDIN_OUTPUT: lokiOut },
        { name: 'loki-standin', healthEndpoint: `127.0.0.1:${lHealth}`, dirs: [join(dir, 'loki')] },
      );
      running.push(loki);

      const want = new Map(records.map((r) => [recordKey(r.sessionId, r.seq), r.body]));
      let got = flattenLogs([]);
      await waitFor(
        () => {
          got = flattenLogs(readJsonLines(lokiOut));
          const keys = new Set(got.map((l) => recordKey(l.attributes['session.id'], l.attributes['oi_audit.event.seq'])));
          return [...want.keys()].every((k) => keys.has(k));
        },
        { timeoutMs: 120_000, intervalMs: 500, what: `all ${TOTAL} records at the Loki stand-in after the restart` },
      );
      const deliverMs = Date.now() - t1;
      const counts = new Map<string, number>();
      for (const l of got) {
        const k = recordKey(l.attributes['session.id'], l.attributes['oi_audit.event.seq']);
        counts.set(k, (counts.get(k) ?? 0) + 1);
        expect(l.body, `body of ${k}`).toBe(want.get(k));
      }
      const duplicates = got.length - counts.size;
      const report = `persistent queue: sent ${TOTAL} records in ${sendMs} ms; after SIGKILL + restart, ${counts.size} distinct records arrived in ${deliverMs} ms, ${got.length} in total (${duplicates} duplicates, ${[...counts.values()].filter((n) => n > 1).length} records delivered more than once)`;
      console.log(`[collector-queue] ${report}`);
      expect(counts.size).toBe(TOTAL);
      expect([...counts.keys()].every((k) => want.has(k))).toBe(true);
    },
    300_000,
  );
});
