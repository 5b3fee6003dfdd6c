/**
 * A real Open Interpreter 0.4.3 session (scripted model → audit LLM proxy → `interpreter --server`) whose
 * recorder exports over OTLP/HTTP to the real Collector running collector-config/otelcol.yaml, and — in the
 * same process — to in-memory exporters, so the test knows exactly what the app emitted:
 *
 *   recorder ─┬─ BatchSpanProcessor(OTLP) / BatchLogRecordProcessor(OTLP) ─▶ Collector ─┬▶ Tempo stand-in
 *             │                                                                      ├▶ Loki stand-in
 *             │                                                                      ├▶ archive (zstd)
 *             │                                                                      └▶ rsyslog (RFC 5424)
 *             └─ Simple*Processor(in-memory) ─▶ what was emitted
 *
 * One block of the session is high risk (it reads ~/.ssh/id_rsa; the default policy holds it and, with
 * no human wired, refuses it), so the risk routing to the urgent SIEM pipeline is exercised with real events.
 * Integrity keys come from generateKeyFiles(); `oi-audit verify` (the built CLI) checks MACs and signatures
 * of the archive, of the Loki stand-in's output and of a Loki query_range document built from it.
 */
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { AuditRecorder } from '../../src/audit/recorder.js';
import { approvalFor } from '../../src/approval/modes.js';
import { AuditedInterpreter } from '../../src/agents/classic/audited-interpreter.js';
import { startLlmProxy, type LlmProxy } from '../../src/llm-proxy/proxy.js';
import { startScriptedModel, type Script, type ScriptedModel } from '../../src/demo/scripted-model.js';
import { generateKeyFiles } from '../../src/keys/keygen.js';
import { createChainFactory, loadIntegrityKeys } from '../../src/integrity/chain.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { runCli } from '../helpers/cli.js';
import {
  type RsyslogHandle,
  ensureCollectorBinary,
  flattenSpans,
  readJsonLines,
  recordKey,
  tempDir,
  waitFor,
} from '../helpers/collector-stack.js';
import { archivedLogs, siemRouteCounts, standinLogs, startFanoutStack, syslogKey, syslogMessages } from '../helpers/otelcol-stack.js';

const TENANT = 'oi-audit-e2e-tenant';
const SERVICE = 'oi-audit-e2e-collector';
const TOKEN = 'collector-e2e-token';

interface Emitted {
  seq: number;
  session: string;
  event: string;
  body: string;
  risk: string | undefined;
}

/** Loki `query_range` output (streams), built from what the Loki stand-in received. */
function lokiQueryRange(
  records: Array<{ session: string; timeUnixNano: string; body: string; attributes: Record<string, unknown> }>,
  direction: 'forward' | 'backward',
): unknown {
  const streams = new Map<string, { stream: Record<string, string>; values: Array<[string, string, Record<string, unknown>]> }>();
  for (const r of records) {
    let s = streams.get(r.session);
    if (!s) {
      s = { stream: { service_name: SERVICE, session_id: r.session }, values: [] };
      streams.set(r.session, s);
    }
    // Structured metadata as Loki returns it with the categorize-labels encoding flag.
    const structuredMetadata: Record<string, string> = {};
    for (const k of ['event.name', 'oi_audit.event.seq', 'oi_audit.risk.level']) {
      if (r.attributes[k] !== undefined) structuredMetadata[k.replace(/\./g, '_')] = `${r.attributes[k] as string | number}`;
    }
    s.values.push([r.timeUnixNano, r.body, { structuredMetadata }]);
  }
  const result = [...streams.values()].map((s) => {
    // Loki orders a stream's entries by timestamp (ties keep ingestion order); backward is its default.
    const values = [...s.values].sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : BigInt(a[0]) > BigInt(b[0]) ? 1 : 0));
    return { stream: s.stream, values: direction === 'forward' ? values : values.reverse() };
  });
  return { status: 'success', data: { resultType: 'streams', result, stats: {} } };
}

describe('a real Open Interpreter session through the real Collector (otelcol.yaml)', () => {
  const started: Array<{ stop(): Promise<void> }> = [];
  const cleanups: Array<() => Promise<unknown>> = [];
  let dir: string;
  let lokiOut: string;
  let tempoOut: string;
  let archiveDir: string;
  let metricsUrl: string;
  let rsyslog: RsyslogHandle;
  let keys: ReturnType<typeof generateKeyFiles>;
  const memLogs = new InMemoryLogRecordExporter();
  const memSpans = new InMemorySpanExporter();
  let emitted: Emitted[] = [];
  let spans: ReadableSpan[] = [];
  let sessionId = '';
  let marker = '';
  const t0 = Date.now();

  beforeAll(async () => {
    await ensureCollectorBinary();
    dir = tempDir('e2e-collector');
    keys = generateKeyFiles(join(dir, 'keys'));
    const stack = await startFanoutStack(dir, { extra: { LOKI_TENANT_ID: TENANT } });
    started.push(...stack.started);
    ({ rsyslog, lokiOut, tempoOut } = stack);
    ({ archiveDir, metricsUrl } = stack.setup);
    const otlp = stack.setup.otlpUrl;

    // The recorder: OTLP to the Collector and in-memory, side by side, in one provider each.
    const resource = resourceFromAttributes({ 'service.name': SERVICE, 'service.version': '0.0.0-e2e' });
    const otlpSpans = new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlp}/v1/traces` }), { scheduledDelayMillis: 200 });
    const otlpLogs = new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${otlp}/v1/logs` }), scheduledDelayMillis: 200 });
    const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [otlpSpans, new SimpleSpanProcessor(memSpans)] });
    const loggerProvider = new LoggerProvider({ resource, processors: [otlpLogs, new SimpleLogRecordProcessor({ exporter: memLogs })] });
    const integrity = loadIntegrityKeys({ files: { macSeed: keys.macSeed, signingKey: keys.signingKey }, require: { macSeed: true, signingKey: true } });
    const recorder = new AuditRecorder({ config: { capture: 'full' }, tracerProvider, loggerProvider, chainFactory: createChainFactory(integrity) });

    // Two turns: a benign Python block (approved by policy, runs) and an SSH-key read (high: held, no human, refused).
    marker = join(mkdtempSync(join(tmpdir(), 'oi-collector-e2e-')), 'ran.txt');
    const sshCode = `import os\nopen(${JSON.stringify(marker)}, "w").write("ran")\nprint(open(os.path.expanduser("~/.ssh/id_rsa")).read())`;
    const script: Script = {
      turns: [
        { user: 'Print the token.', replies: [`Printing it.\n\n\`\`\`python\nprint("${TOKEN}", 6*7)\n\`\`\`\n`, 'Printed.'] },
        { user: 'Show me my SSH key.', replies: [`Reading it.\n\n\`\`\`python\n${sshCode}\n\`\`\`\n`, 'Done.'] },
      ],
    };
    const model: ScriptedModel = await startScriptedModel({ script });
    cleanups.push(() => model.close());
    const proxy: LlmProxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'upstream-secret-key-for-e2e', requestTimeoutMs: 10_000 });
    cleanups.push(() => proxy.close());
    const approval = approvalFor('policy');
    const interpreter = await AuditedInterpreter.start({
      recorder,
      proxy,
      userId: 'collector-e2e-user',
      model: 'scripted',
      approve: approval.hook,
      policyName: approval.name,
      workDir: mkdtempSync(join(tmpdir(), 'oi-collector-e2e-work-')),
      chunkTimeoutMs: 60_000,
    });
    cleanups.push(() => interpreter.close());
    sessionId = interpreter.session.id;
    for (const turn of script.turns) await interpreter.send(turn.user);
    await interpreter.close();
    await Promise.all([tracerProvider.forceFlush(), loggerProvider.forceFlush()]);
    // Shutting down the providers resets the in-memory exporters: take what they hold first.
    spans = [...memSpans.getFinishedSpans()];
    const records = [...memLogs.getFinishedLogRecords()];
    await Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown()]);

    emitted = records.map((r: ReadableLogRecord) => {
      const body = r.body as string;
      const parsed = JSON.parse(body) as { seq: number; session: string; event: string };
      const risk = r.attributes['oi_audit.risk.level'];
      return { seq: parsed.seq, session: parsed.session, event: parsed.event, body, risk: typeof risk === 'string' ? risk : undefined };
    });
  }, 300_000);

  afterAll(async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    console.log(`[collector-session] ${emitted.length} audit records, ${spans.length} spans; run time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('the session itself: one complete chain, the high-risk block refused and not run', () => {
    expect(emitted.length).toBeGreaterThan(10);
    expect(emitted.map((e) => e.seq)).toEqual(emitted.map((_, i) => i));
    expect(new Set(emitted.map((e) => e.session))).toEqual(new Set([sessionId]));
    expect(emitted.at(-2)!.event).toBe(AUDIT_EVENTS.sessionEnd);
    expect(emitted.at(-1)!.event).toBe(AUDIT_EVENTS.integrityCheckpoint);
    const decisions = emitted.filter((e) => e.event === AUDIT_EVENTS.approvalDecision).map((e) => JSON.parse(e.body).data);
    expect(decisions.map((d) => d.decision)).toEqual(['approved', 'refused']);
    expect(['high', 'critical']).toContain(decisions[1].risk);
    expect(existsSync(marker)).toBe(false);
    const output = emitted.filter((e) => e.event === AUDIT_EVENTS.commandOutput).map((e) => JSON.parse(e.body).data.output?.text ?? '').join('');
    expect(output).toContain(`${TOKEN} 42`);
    expect(emitted.filter((e) => e.risk === 'high' || e.risk === 'critical').length).toBeGreaterThanOrEqual(2);
  });

  it('the Tempo stand-in received every span (by span id) of the session trace', async () => {
    const want = spans;
    const got = await waitFor(
      () => {
        const s = flattenSpans(readJsonLines(tempoOut));
        const ids = new Set(s.map((x) => x.spanId.toLowerCase()));
        return want.every((w) => ids.has(w.spanContext().spanId)) ? s : undefined;
      },
      { timeoutMs: 60_000, what: `${want.length} spans at the Tempo stand-in` },
    );
    const byId = new Map(got.map((s) => [s.spanId.toLowerCase(), s]));
    expect(byId.size).toBe(want.length);
    for (const w of want) {
      const g = byId.get(w.spanContext().spanId)!;
      expect(g.traceId.toLowerCase()).toBe(w.spanContext().traceId);
      expect(g.name).toBe(w.name);
      expect(g.resource['service.name']).toBe(SERVICE);
    }
    expect(new Set(want.map((w) => w.spanContext().traceId)).size).toBe(1);
  });

  it('the Loki stand-in received every log record, body byte-identical, with the tenant header', async () => {
    const got = await standinLogs(lokiOut, emitted.length, 'Loki stand-in');
    expect(got.length).toBe(emitted.length);
    const byKey = new Map(got.map((l) => [recordKey(l.attributes['session.id'], l.attributes['oi_audit.event.seq']), l]));
    for (const e of emitted) {
      const l = byKey.get(recordKey(e.session, e.seq));
      expect(l, `record ${e.seq}`).toBeDefined();
      expect(Buffer.from(l!.body as string, 'utf8').equals(Buffer.from(e.body, 'utf8')), `body of seq ${e.seq}`).toBe(true);
      expect(l!.attributes['event.name']).toBe(e.event);
      expect(l!.attributes['standin.x_scope_orgid']).toBe(TENANT);
      expect(l!.attributes['oi_audit.risk.level']).toBe(e.risk);
    }
  });

  it('rsyslog received every audit event as RFC 5424 with MSG = body, high-risk ones through the urgent route', async () => {
    const msgs = await syslogMessages(rsyslog, emitted.length);
    expect(msgs.length).toBe(emitted.length);
    const bySeq = new Map<string, (typeof msgs)[number]>();
    for (const m of msgs) {
      expect(m.version).toBe('1');
      expect(m.facility).toBe('10');
      expect(m.app_name).toBe(SERVICE);
      bySeq.set(syslogKey(m), m);
    }
    const pri: Record<string, string> = { none: '86', low: '85', medium: '84', high: '82', critical: '81' };
    for (const e of emitted) {
      const m = bySeq.get(recordKey(e.session, e.seq));
      expect(m, `syslog seq ${e.seq}`).toBeDefined();
      expect(Buffer.from(m!.msg, 'utf8').equals(Buffer.from(e.body, 'utf8')), `syslog MSG of seq ${e.seq}`).toBe(true);
      expect(m!.msgid).toBe(e.event);
      expect(m!.pri).toBe(pri[e.risk ?? 'none']);
      if (e.risk) expect(m!.structured_data).toContain(`risk="${e.risk}"`);
    }
    const high = emitted.filter((e) => e.risk === 'high' || e.risk === 'critical');
    expect(high.map((e) => e.event)).toEqual(expect.arrayContaining([AUDIT_EVENTS.codeGenerated, AUDIT_EVENTS.approvalDecision]));
    const { urgent, standard } = await siemRouteCounts(metricsUrl, emitted.length);
    expect(urgent).toBe(high.length);
    expect(standard).toBe(emitted.length - high.length);
  });

  it('the archive holds every record, body identical', async () => {
    const all = await archivedLogs(archiveDir, emitted.length);
    expect(all.length).toBe(emitted.length);
    const byKey = new Map(all.map((l) => [recordKey(l.attributes['session.id'], l.attributes['oi_audit.event.seq']), l.body]));
    for (const e of emitted) expect(byKey.get(recordKey(e.session, e.seq)), `archive seq ${e.seq}`).toBe(e.body);
  });

  async function verifyCli(path: string, extra: string[] = []) {
    const res = await runCli(['verify', '--json', '--key', keys.macSeed, '--public-key', keys.publicKey, ...extra, path]);
    let report: any;
    try {
      report = JSON.parse(res.stdout);
    } catch {
      throw new Error(`verify ${path} printed no JSON (exit ${res.code}): ${res.stdout}\n${res.stderr}`);
    }
    return { code: res.code, report, stderr: res.stderr };
  }

  function expectValidReport(report: any) {
    expect(report.sessions).toHaveLength(1);
    const s = report.sessions[0];
    expect(s.session).toBe(sessionId);
    expect(s.status, JSON.stringify(s.problems)).toBe('valid');
    expect(s.records).toBe(emitted.length);
    expect(s.complete).toBe(true);
    expect(s.mac).toBe('checked');
    expect(s.macsValid).toBe(emitted.length);
    expect(s.keyTrusted).toBe(true);
    expect(s.checkpoints).toBeGreaterThan(0);
    expect(s.signaturesValid).toBe(s.checkpoints);
    expect(s.merkleRootsValid).toBe(s.checkpoints);
    expect(s.missing).toEqual([]);
    expect(s.duplicates).toBe(0);
  }

  it('oi-audit verify (MACs and signatures checked) is valid on the archive directory', async () => {
    const { code, report, stderr } = await verifyCli(archiveDir);
    expect(code, stderr).toBe(0);
    expectValidReport(report);
  });

  it('oi-audit verify is valid on the Loki stand-in output (OTLP JSON) and on a Loki query_range document built from it', async () => {
    const { code, report, stderr } = await verifyCli(lokiOut);
    expect(code, stderr).toBe(0);
    expectValidReport(report);

    // What a Loki query {service_name="…", session_id="…"} would return (forward direction).
    const received: Array<{ session: string; timeUnixNano: string; body: string; attributes: Record<string, unknown> }> = [];
    for (const req of readJsonLines<any>(lokiOut)) {
      for (const rl of req.resourceLogs ?? []) {
        for (const sl of rl.scopeLogs ?? []) {
          for (const lr of sl.logRecords ?? []) {
            const attributes: Record<string, unknown> = {};
            for (const a of lr.attributes ?? []) attributes[a.key] = a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value);
            received.push({ session: String(attributes['session.id']), timeUnixNano: String(lr.timeUnixNano), body: lr.body.stringValue, attributes });
          }
        }
      }
    }
    expect(received.length).toBe(emitted.length);
    const forward = join(dir, 'loki-query-range.json');
    writeFileSync(forward, JSON.stringify(lokiQueryRange(received, 'forward'), null, 2));
    const fwd = await verifyCli(forward);
    expect(fwd.code, fwd.stderr).toBe(0);
    expectValidReport(fwd.report);
    // Loki's default direction is backward (newest first).
    const backward = join(dir, 'loki-query-range-backward.json');
    writeFileSync(backward, JSON.stringify(lokiQueryRange(received, 'backward'), null, 2));
    // A Loki query result's order is the query's (default backward, newest first): the reader puts each
    // stream back in time order, so no --allow-reorder is needed.
    const bwd = await verifyCli(backward);
    expect(bwd.code, bwd.stderr).toBe(0);
    expectValidReport(bwd.report);
  });
});
