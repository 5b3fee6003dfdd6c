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
import { statSync } from 'node:fs';
import {
  type RsyslogHandle,
  type AuditRecord,
  ensureCollectorBinary,
  flattenSpans,
  listFiles,
  logsRequest,
  makeAuditRecords,
  makeSpans,
  postOtlpJson,
  readJsonLines,
  recordKey,
  tempDir,
  tracesRequest,
  waitFor,
} from '../helpers/collector-stack.js';
import { archivedLogs, siemRouteCounts, standinLogs, startFanoutStack, syslogKey, syslogMessages } from '../helpers/otelcol-stack.js';

const SESSIONS = 4;
const PER_SESSION = 60; // 240 records
const TENANT = 'oi-audit-test-tenant';

describe('Collector fan-out (otelcol.yaml)', () => {
  const started: Array<{ stop(): Promise<void> }> = [];
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
    const stack = await startFanoutStack(dir, { extra: { LOKI_TENANT_ID: TENANT } });
    started.push(...stack.started);
    ({ rsyslog, lokiOut, tempoOut } = stack);
    ({ archiveDir, otlpUrl: otlpHttp, metricsUrl } = stack.setup);

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
    const got = await standinLogs(lokiOut, records.length, 'Loki stand-in');
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
    const all = await archivedLogs(archiveDir, records.length);
    for (const f of listFiles(archiveDir)) expect(f.mode, `${f.path} mode`).toBe(0o600);
    expect(statSync(archiveDir).mode & 0o777).toBe(0o700);
    expect(all.length).toBe(records.length);
    const byKey = new Map(all.map((l) => [recordKey(l.attributes['session.id'], l.attributes['oi_audit.event.seq']), l]));
    for (const r of records) {
      expect(byKey.get(recordKey(r.sessionId, r.seq))?.body).toBe(r.body);
    }
  });

  it('rsyslog receives every event as RFC 5424 with the body as MSG; high/critical go through the urgent route', async () => {
    const msgs = await syslogMessages(rsyslog, records.length);
    expect(msgs.length).toBe(records.length);
    const expectedPri: Record<string, string> = { none: '86', low: '85', medium: '84', high: '82', critical: '81' };
    const bySeq = new Map<string, (typeof msgs)[number]>();
    for (const m of msgs) {
      expect(m.version).toBe('1');
      expect(m.facility).toBe('10'); // authpriv
      expect(m.app_name).toBe('oi-audit-test');
      expect(m.structured_data.startsWith('[oi_audit@32473 ')).toBe(true);
      bySeq.set(syslogKey(m), m);
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
    const { urgent, standard } = await siemRouteCounts(metricsUrl, records.length);
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
