/**
 * Part 1 — audit event cost. One process = one run: the audited pipeline and both baselines are
 * measured in the same process, against the same local OTLP sink (a child process), in rotating order.
 *
 *   audit  turn.assistantMessage(content): capture (SHA-256, redact, escape, truncate) → canonicalise
 *          (RFC 8785) → chain + forward-secure MAC (+ a signed checkpoint every 100 events) → OTel log
 *          record → BatchLogRecordProcessor → OTLP/HTTP JSON → sink. The recorder's defaults throughout.
 *   bare   logger.emit({ body: content, … }) on a LoggerProvider with the same processor and exporter.
 *   pino   pino(pino.destination(file)).info({ event, content }) — pino's defaults (async SonicBoom).
 *   floor  the evidence floor (issue #20): the bare emit of the same content with the same exporter, plus
 *          SHA-256 of the content, RFC 8785 canonicalisation of the same event object (header, `data` with
 *          the captured content, `mac` null), one HMAC-SHA256 and one SHA-256 over that canonical body.
 *   audit-proto  the audited path again, exported as register() does by default (http/protobuf through
 *          src/otel/otlp-sender.ts) with OTEL_EXPORTER_OTLP_COMPRESSION=gzip: bytes on the wire.
 *
 * Each variant: W warm-up events (discarded), then N measured events; the loop yields to the event loop
 * every 64 events (so batches export as they would in a live process) and the clock stops when
 * forceFlush() has resolved (pino: when the file is closed), so queued work counts.
 *
 * Usage: node --expose-gc bench/audit-event.js --size 1024 --events 50000 [--warmup 5000] [--only audit]
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeverityNumber } from '@opentelemetry/api-logs';
import pino from 'pino';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { AuditRecorder } from '../dist/audit/recorder.js';
import { OtlpSender } from '../dist/otel/otlp-sender.js';
import { canonicalize } from '../dist/record/canonical-json.js';
import { sha256Hex } from '../dist/integrity/hash.js';
import { REDACTION_RULES_VERSION } from '../dist/redact/rules.js';
import { AUDIT_EVENTS } from '../dist/semconv/events.js';
import { makeContents } from './lib/content.js';
import { createProviders } from './lib/otel.js';
import { startSink } from './lib/otlp-sink.js';
import { distribution } from './lib/stats.js';
import { cpuMs, emitResult, gc, parseArgs, yieldToLoop } from './lib/worker.js';

const args = parseArgs();
const size = Number(args.size ?? 1024);
const events = Number(args.events ?? 50_000);
const warmup = Number(args.warmup ?? Math.min(5_000, events));
const only = typeof args.only === 'string' ? args.only.split(',') : undefined;
const sinkCpu = args['sink-cpu'] === undefined ? undefined : Number(args['sink-cpu']);
const YIELD_EVERY = 64;

const contents = makeContents(size, 64, size);

async function timeLoop(n, emitOne, finish) {
  const call = new Float64Array(n);
  gc();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    emitOne(i);
    call[i] = (performance.now() - a) * 1000;
    if ((i + 1) % YIELD_EVERY === 0) await yieldToLoop();
  }
  const tEmitted = performance.now();
  await finish();
  const wallMs = performance.now() - t0;
  const cpu = cpuMs(cpu0);
  const d = distribution(call);
  return {
    events: n,
    wallMs,
    cpuMs: cpu,
    flushMs: t0 + wallMs - tEmitted,
    eventsPerSec: n / (wallMs / 1000),
    eventsPerCpuSec: n / (cpu / 1000),
    meanUs: (wallMs * 1000) / n,
    callMeanUs: d.mean,
    callP50Us: d.p50,
    callP99Us: d.p99,
    callMaxUs: d.max,
  };
}

// --- variants -------------------------------------------------------------------------------------

/** register()'s OTLP log exporter without the spool: protobuf requests through the project's OtlpSender (gzip from the env). */
function protobufExporter(sinkUrl) {
  const sender = new OtlpSender({ signal: 'logs', endpoint: sinkUrl });
  return {
    export(records, done) {
      sender.send({ body: ProtobufLogsSerializer.serializeRequest(records), encoding: 'protobuf' }).then(
        () => done({ code: 0 }),
        (error) => done({ code: 1, error }),
      );
    },
    forceFlush: async () => undefined,
    shutdown: () => sender.shutdown(),
  };
}

function auditVariant(sinkUrl, name = 'audit') {
  // register()'s processor, which checks on every emit whether its queue is full (to declare drops).
  const logExporter = name === 'audit-proto' ? protobufExporter(sinkUrl) : undefined;
  const providers = createProviders(sinkUrl, { onQueueFull: () => undefined, logExporter });
  const recorder = new AuditRecorder({ tracerProvider: providers.tracerProvider, loggerProvider: providers.loggerProvider, config: { handleSignals: false } });
  return {
    name,
    async run(n) {
      const session = recorder.openSession({ userId: 'bench-user', model: 'scripted', policy: 'all' });
      const turn = session.startTurn('benchmark turn');
      await providers.forceFlush();
      const r = await timeLoop(
        n,
        (i) => turn.assistantMessage(contents[i & 63]),
        () => providers.forceFlush(),
      );
      r.checkpoints = Math.floor((n + 2) / 100);
      turn.end();
      session.end();
      await providers.forceFlush();
      return r;
    },
    shutdown: () => providers.shutdown(),
  };
}

function bareVariant(sinkUrl) {
  const providers = createProviders(sinkUrl);
  const logger = providers.loggerProvider.getLogger('oi-audit-bench-bare', '0.1.0');
  return {
    name: 'bare',
    async run(n) {
      await providers.forceFlush();
      return timeLoop(
        n,
        (i) =>
          logger.emit({
            eventName: AUDIT_EVENTS.assistantMessage,
            timestamp: Date.now(),
            severityNumber: SeverityNumber.INFO,
            severityText: 'INFO',
            body: contents[i & 63],
          }),
        () => providers.forceFlush(),
      );
    },
    shutdown: () => providers.shutdown(),
  };
}

/**
 * The evidence floor: what any audit event must cost at least — the bare emit, plus hashing the content,
 * canonicalising the event object the audited path builds for it, one MAC and one hash of that body.
 */
function floorVariant(sinkUrl) {
  const providers = createProviders(sinkUrl);
  const logger = providers.loggerProvider.getLogger('oi-audit-bench-floor', '0.1.0');
  const key = randomBytes(32);
  const session = 'b6a9c3f2-3d4e-4f5a-8b7c-1d2e3f4a5b6c';
  let prev = '0'.repeat(64);
  let seq = 0;
  return {
    name: 'floor',
    async run(n) {
      await providers.forceFlush();
      return timeLoop(
        n,
        (i) => {
          const content = contents[i & 63];
          const captured = { mode: 'redacted', sha256: sha256Hex(content), bytes: Buffer.byteLength(content), redaction_rules: REDACTION_RULES_VERSION, text: content };
          const body = canonicalize({
            data: { turn: 0, content: captured },
            event: AUDIT_EVENTS.assistantMessage,
            mac: null,
            prev,
            seq: seq++,
            session,
            span_id: 'b7ad6b7169203331',
            trace_id: '0af7651916cd43dd8448eb211c80319c',
            ts: new Date().toISOString(),
            v: 1,
          });
          createHmac('sha256', key).update(body).digest('hex');
          prev = sha256Hex(body);
          logger.emit({ eventName: AUDIT_EVENTS.assistantMessage, timestamp: Date.now(), severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: content });
        },
        () => providers.forceFlush(),
      );
    },
    shutdown: () => providers.shutdown(),
  };
}

function pinoVariant() {
  const dir = mkdtempSync(join(tmpdir(), 'oi-audit-bench-pino-'));
  let k = 0;
  return {
    name: 'pino',
    async run(n) {
      const file = join(dir, `pino-${k++}.log`);
      const dest = pino.destination(file);
      const logger = pino(dest);
      await new Promise((r) => (dest.fd >= 0 ? r() : dest.once('ready', r)));
      const r = await timeLoop(
        n,
        (i) => logger.info({ event: AUDIT_EVENTS.assistantMessage, content: contents[i & 63] }),
        () =>
          new Promise((resolve, reject) => {
            dest.once('close', resolve);
            dest.once('error', reject);
            dest.end();
          }),
      );
      r.fileBytes = statSync(file).size;
      rmSync(file, { force: true });
      return r;
    },
    shutdown: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

// --- main -----------------------------------------------------------------------------------------

const sink = await startSink({ cpu: sinkCpu });
try {
  // OtlpSender reads its compression from the environment when it is built, as register()'s exporters do;
  // only the audit-proto variant's is built with it set (the JSON exporters read it too).
  process.env.OTEL_EXPORTER_OTLP_COMPRESSION = 'gzip';
  const proto = auditVariant(sink.url, 'audit-proto');
  delete process.env.OTEL_EXPORTER_OTLP_COMPRESSION;
  const all = [auditVariant(sink.url), proto, floorVariant(sink.url), bareVariant(sink.url), pinoVariant()];
  const variants = only ? all.filter((v) => only.includes(v.name)) : all;
  const results = {};
  for (const v of variants) if (warmup > 0) await v.run(warmup);
  for (const v of variants) {
    await sink.reset();
    const r = await v.run(events);
    if (v.name !== 'pino') {
      const s = await sink.stats();
      r.sinkLogRecords = s.logRecords;
      r.sinkBytes = s.bytes;
      r.sinkRequests = s.requests;
    }
    results[v.name] = r;
  }
  for (const v of all) await v.shutdown();
  const ratio = (a, b) => (results[a] && results[b] ? results[a].meanUs / results[b].meanUs : undefined);
  emitResult({
    part: 'audit-event',
    size,
    events,
    warmup,
    results,
    ratios: {
      auditVsFloor: ratio('audit', 'floor'),
      auditVsFloorCpu: results.audit && results.floor ? results.audit.cpuMs / results.audit.events / (results.floor.cpuMs / results.floor.events) : undefined,
      protoVsJsonMean: ratio('audit-proto', 'audit'),
      wireBytesProtoGzipVsJson: results.audit && results['audit-proto'] ? results['audit-proto'].sinkBytes / results['audit-proto'].sinkLogRecords / (results.audit.sinkBytes / results.audit.sinkLogRecords) : undefined,
      auditVsBare: ratio('audit', 'bare'),
      auditVsPino: ratio('audit', 'pino'),
      auditVsBareCpu: results.audit && results.bare ? results.audit.cpuMs / results.audit.events / (results.bare.cpuMs / results.bare.events) : undefined,
      auditVsPinoCpu: results.audit && results.pino ? results.audit.cpuMs / results.audit.events / (results.pino.cpuMs / results.pino.events) : undefined,
      auditVsBareP99: results.audit && results.bare ? results.audit.callP99Us / results.bare.callP99Us : undefined,
      auditVsPinoP99: results.audit && results.pino ? results.audit.callP99Us / results.pino.callP99Us : undefined,
    },
  });
} finally {
  await sink.close();
}
