/**
 * Fan-out through the real Collector running collector-config/otelcol.yaml:
 *   OTLP/HTTP JSON logs + traces ─▶ Collector ─┬▶ Tempo stand-in (OTLP gRPC → file)
 *                                              ├▶ Loki stand-in  (OTLP/HTTP at /otlp → file)
 *                                              ├▶ archive        (file exporter, zstd framed OTLP JSON)
 *                                              └▶ rsyslog        (RFC 5424 over TCP, routing by risk)
 * Nothing is skipped: a missing Collector binary is built, a missing rsyslog installed, and a Docker
 * engine that cannot start makes the harness run the Collector as a child process (it says so).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import {
  OTELCOL_CONFIG,
  LOKI_STANDIN_CONFIG,
  TEMPO_STANDIN_CONFIG,
  type CollectorHandle,
  type RsyslogHandle,
  type AuditRecord,
  ensureCollectorBinary,
  flattenLogs,
  flattenSpans,
  freePorts,
  listFiles,
  logsRequest,
  makeAuditRecords,
  makeSpans,
  postOtlpJson,
  readJsonLines,
  readZstdArchive,
  recordKey,
  scrapeCounter,
  startCollector,
  startRsyslog,
  tempDir,
  tracesRequest,
  waitFor,
  otelcolEnv,
} from '../helpers/collector-stack.js';

const SESSIONS = 4;
const PER_SESSION = 60; // 240 records
const TENANT = 'oi-audit-test-tenant';

describe('Collector fan-out (otelcol.yaml)', () => {
  const started: Array<{ stop(): Promise<void> }> = [];
  let collector: CollectorHandle;
  let rsyslog: RsyslogHandle;
  let dir: string;
  let lokiOut: string;
  let tempoOut: string;
  let archiveDir: string;
  let otlpHttp: string;
  let metricsUrl: string;
  const runId = `f${Date.now().toString(36)}`;
  let records: AuditRecord[];

  beforeAll(async () => {
    await ensureCollectorBinary();
    dir = tempDir('fanout');
    lokiOut = join(dir, 'loki', 'logs.jsonl');
    tempoOut = join(dir, 'tempo', 'traces.jsonl');
    archiveDir = join(dir, 'collector', 'archive');
    const [tGrpc, tHttp, tHealth, lHttp, lHealth, cGrpc, cHttp, cHealth, cMetrics] = await freePorts(9);

    rsyslog = await startRsyslog();
    started.push(rsyslog);

    const tempo = await startCollector(
      TEMPO_STANDIN_CONFIG,
      {
        STANDIN_GRPC_ENDPOINT: `127.0.0.1:${tGrpc}`,
        STANDIN_HTTP_ENDPOINT: `127.0.0.1:${tHttp}`,
        STANDIN_HEALTH_ENDPOINT: `127.0.0.1:${tHealth}`,
        STANDIN_OUTPUT: tempoOut,
      },
      { name: 'tempo-standin', healthEndpoint: `127.0.0.1:${tHealth}`, dirs: [join(dir, 'tempo')] },
    );
    started.push(tempo);
    const loki = await startCollector(
      LOKI_STANDIN_CONFIG,
      {
        STANDIN_HTTP_ENDPOINT: `127.0.0.1:${lHttp}`,
        STANDIN_HEALTH_ENDPOINT: `127.0.0.1:${lHealth}`,
        STANDIN_OUTPUT: lokiOut,
      },
      { name: 'loki-standin', healthEndpoint: `127.0.0.1:${lHealth}`, dirs: [join(dir, 'loki')] },
    );
    started.push(loki);

    collector = await startCollector(
      OTELCOL_CONFIG,
      otelcolEnv({
        ports: { grpc: cGrpc!, http: cHttp!, health: cHealth!, metrics: cMetrics! },
        dataDir: join(dir, 'collector', 'data'),
        tokenFile: join(dir, 'collector', 'otlp-bearer-tokens'),
        archiveDir,
        tempo: `127.0.0.1:${tGrpc}`,
        loki: `http://127.0.0.1:${lHttp}`,
        siemPort: rsyslog.port,
        extra: { LOKI_TENANT_ID: TENANT },
      }),
      // mount the parent: the Collector creates data/ and archive/ itself, with the modes otelcol.yaml sets
      { name: 'otelcol', healthEndpoint: `127.0.0.1:${cHealth}`, dirs: [join(dir, 'collector')] },
    );
    started.push(collector);
    otlpHttp = `http://127.0.0.1:${cHttp}`;
    metricsUrl = `http://127.0.0.1:${cMetrics}/metrics`;

    records = makeAuditRecords(SESSIONS, PER_SESSION, { runId });
    // 4 requests of 60 records, interleaving sessions
    for (let i = 0; i < 4; i++) {
      await postOtlpJson(otlpHttp, '/v1/logs', logsRequest(records.filter((_, j) => j % 4 === i)));
    }
  });

  afterAll(async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
  });

  it('Loki stand-in receives every record at /otlp/v1/logs with the body byte-identical and X-Scope-OrgID set', async () => {
    const got = await waitFor(
      () => {
        const logs = flattenLogs(readJsonLines(lokiOut));
        return logs.length >= records.length ? logs : undefined;
      },
      { timeoutMs: 60_000, what: `${records.length} records at the Loki stand-in` },
    );
    expect(got.length).toBe(records.length);
    const byKey = new Map(got.map((l) => [recordKey(l.attributes['session.id'], l.attributes['oi_audit.event.seq']), l]));
    expect(byKey.size).toBe(records.length);
    for (const r of records) {
      const l = byKey.get(recordKey(r.sessionId, r.seq));
      expect(l, `record ${r.sessionId}#${r.seq}`).toBeDefined();
      expect(typeof l!.body).toBe('string');
      expect(Buffer.from(l!.body as string, 'utf8').equals(Buffer.from(r.body, 'utf8'))).toBe(true);
      expect(l!.attributes['event.name']).toBe(r.eventName);
      expect(l!.attributes['enduser.pseudo.id']).toBe(r.pseudoUser);
      expect(l!.attributes['oi_audit.risk.level']).toBe(r.risk);
      expect(l!.attributes['oi_audit.code.language']).toBe(r.language);
      expect(l!.attributes['standin.x_scope_orgid']).toBe(TENANT);
      // no SIEM mapping attributes leak into Loki's copy
      expect(l!.attributes['message']).toBeUndefined();
      expect(l!.resource['service.name']).toBe('oi-audit-test');
      expect(l!.traceId?.toLowerCase()).toBe(r.traceId);
      expect(l!.spanId?.toLowerCase()).toBe(r.spanId);
    }
  });

  it('archive holds every record, body identical, files 0600 in a 0700 directory', async () => {
    const files = await waitFor(
      async () => {
        const fs = listFiles(archiveDir);
        let n = 0;
        for (const f of fs) n += flattenLogs(await readZstdArchive(f.path)).length;
        return n >= records.length ? fs : undefined;
      },
      { timeoutMs: 30_000, what: 'records in the archive' },
    );
    const all = [];
    for (const f of files) {
      expect(f.mode, `${f.path} mode`).toBe(0o600);
      all.push(...flattenLogs(await readZstdArchive(f.path)));
    }
    expect(statSync(archiveDir).mode & 0o777).toBe(0o700);
    expect(all.length).toBe(records.length);
    const byKey = new Map(all.map((l) => [recordKey(l.attributes['session.id'], l.attributes['oi_audit.event.seq']), l]));
    for (const r of records) {
      expect(byKey.get(recordKey(r.sessionId, r.seq))?.body).toBe(r.body);
    }
  });

  it('rsyslog receives every event as RFC 5424 with the body as MSG; high/critical go through the urgent route', async () => {
    const msgs = await waitFor(
      async () => {
        const m = await rsyslog.messages();
        return m.length >= records.length ? m : undefined;
      },
      { timeoutMs: 60_000, what: `${records.length} syslog messages` },
    );
    expect(msgs.length).toBe(records.length);
    const expectedPri: Record<string, string> = { none: '86', low: '85', medium: '84', high: '82', critical: '81' };
    const bySeq = new Map<string, (typeof msgs)[number]>();
    for (const m of msgs) {
      expect(m.version).toBe('1');
      expect(m.facility).toBe('10'); // authpriv
      expect(m.app_name).toBe('oi-audit-test');
      const session = /session\.id="([^"]*)"/.exec(m.structured_data)?.[1];
      const seq = /seq="([^"]*)"/.exec(m.structured_data)?.[1];
      expect(m.structured_data.startsWith('[oi_audit@32473 ')).toBe(true);
      bySeq.set(recordKey(session, seq), m);
    }
    expect(bySeq.size).toBe(records.length);
    for (const r of records) {
      const m = bySeq.get(recordKey(r.sessionId, r.seq));
      expect(m, `syslog ${r.sessionId}#${r.seq}`).toBeDefined();
      expect(Buffer.from(m!.msg, 'utf8').equals(Buffer.from(r.body, 'utf8'))).toBe(true);
      expect(m!.msgid).toBe(r.eventName);
      expect(m!.pri).toBe(expectedPri[r.risk]);
      expect(m!.structured_data).toContain(`risk="${r.risk}"`);
      expect(m!.structured_data).toContain(`trace_id="${r.traceId}"`);
    }
    // routing connector: high/critical through syslog/siem-urgent, the rest through syslog/siem
    const high = records.filter((r) => r.risk === 'high' || r.risk === 'critical').length;
    const counts = async (): Promise<[number, number]> => [
      await scrapeCounter(metricsUrl, 'otelcol_exporter_sent_log_records_total', { exporter: 'syslog/siem-urgent' }),
      await scrapeCounter(metricsUrl, 'otelcol_exporter_sent_log_records_total', { exporter: 'syslog/siem' }),
    ];
    // the exporters' counters are updated right after the send returns: give them a moment
    await waitFor(async () => (await counts()).reduce((a, b) => a + b) >= records.length, {
      timeoutMs: 10_000,
      what: 'syslog exporter counters',
    }).catch(() => undefined);
    const [urgent, standard] = await counts();
    expect(urgent).toBe(high);
    expect(standard).toBe(records.length - high);
  });

  it('Tempo stand-in receives every span; raw user ids are stripped', async () => {
    const spans = makeSpans(
      [...new Set(records.map((r) => r.sessionId))],
      runId,
    );
    await postOtlpJson(otlpHttp, '/v1/traces', tracesRequest(spans));
    const got = await waitFor(
      () => {
        const s = flattenSpans(readJsonLines(tempoOut));
        return s.length >= spans.length ? s : undefined;
      },
      { timeoutMs: 60_000, what: `${spans.length} spans at the Tempo stand-in` },
    );
    expect(got.length).toBe(spans.length);
    const byId = new Map(got.map((s) => [s.spanId.toLowerCase(), s]));
    for (const s of spans) {
      const g = byId.get(s.spanId);
      expect(g, `span ${s.spanId}`).toBeDefined();
      expect(g!.traceId.toLowerCase()).toBe(s.traceId);
      expect(g!.parentSpanId ? g!.parentSpanId.toLowerCase() : undefined).toBe(s.parentSpanId);
      expect(g!.name).toBe(s.name);
      expect(g!.attributes['session.id']).toBe(s.sessionId);
      expect(g!.attributes['enduser.id']).toBeUndefined();
    }
  });
});
