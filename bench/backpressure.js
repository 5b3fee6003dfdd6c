/**
 * Part 4 — backpressure memory: audit events while the Collector is down.
 *
 * Variant `batch-dead-endpoint` (what happens without a spool): BatchLogRecordProcessor (maxQueueSize 65 536, as register() sets it) → OTLP/HTTP
 * JSON — pointed at a port nobody listens on (connection refused). The exporter retries each batch with
 * backoff for up to its 10 s timeout, one batch in flight, so the queue fills and the processor drops
 * what does not fit: memory must stay bounded, and the drops are counted here.
 *
 * Variant `spool` (what register() does for an OTLP endpoint since src/otel/spool.ts landed): the same
 * processor in front of the SpoolingExporter, so failed batches go to disk; see SPOOL_VARIANT below.
 *
 * Reported: peak RSS (getrusage maxrss), RSS and live heap after GC at each quarter of the run,
 * records queued / handed to the exporter / dropped at the end, spool bytes (spool variant only).
 *
 * Usage: node --expose-gc bench/backpressure.js [--events 100000] [--size 1024] [--variant batch-dead-endpoint|spool]
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { JsonLogsSerializer } from '@opentelemetry/otlp-transformer';
import { AuditRecorder } from '../dist/audit/recorder.js';
import { DEFAULT_OTLP_EXPORT_TIMEOUT_MS } from '../dist/setup/register.js';
import { resolveConfig } from '../dist/config/config.js';
import { makeContents } from './lib/content.js';
import { createProviders, LOG_PROCESSOR_SETTINGS } from './lib/otel.js';
import { emitResult, gc, parseArgs, yieldToLoop } from './lib/worker.js';

const args = parseArgs();
const events = Number(args.events ?? 100_000);
const size = Number(args.size ?? 1024);
const variant = typeof args.variant === 'string' ? args.variant : 'batch-dead-endpoint';
const contents = makeContents(size, 64, size + 1);
const SPOOL_MODULE = fileURLToPath(new URL('../dist/otel/spool.js', import.meta.url));

/** A port with nothing listening: bind, note it, release. */
async function deadPort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const port = srv.address().port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Wraps an exporter to count what the processor hands it and how exports end. */
function countingExporter(inner) {
  const counts = { exportCalls: 0, recordsHandedOver: 0, failed: 0, succeeded: 0, inFlight: 0 };
  return {
    counts,
    exporter: {
      export(records, done) {
        counts.exportCalls++;
        counts.recordsHandedOver += records.length;
        counts.inFlight++;
        inner.export(records, (result) => {
          counts.inFlight--;
          if (result.code === 0) counts.succeeded++;
          else counts.failed++;
          done(result);
        });
      },
      shutdown: () => inner.shutdown(),
      forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    },
  };
}

function mem() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

async function batchDeadEndpoint() {
  const port = await deadPort();
  const url = `http://127.0.0.1:${port}`;
  const counting = countingExporter(new OTLPLogExporter({ url: `${url}/v1/logs` }));
  const providers = createProviders(url, { logExporter: counting.exporter });
  return {
    providers,
    describe: { endpoint: url, processor: { kind: 'BatchLogRecordProcessor', ...LOG_PROCESSOR_SETTINGS } },
    state() {
      // The processor's queue is private; reading it is fine in a benchmark.
      return { queued: providers.logProcessor._finishedLogRecords?.length ?? null, ...counting.counts };
    },
    spoolBytes: () => null,
  };
}

/**
 * The durable spool (src/otel/spool.ts + spooling-exporter.ts), wired as register() wires it for an
 * OTLP endpoint: SpoolingExporter(OtlpSender, Spool in a temp dir with the config's default
 * maxBytes and fsync policy, JSON serialiser, one sender for export and replay, losses declared into the session)
 * behind the same BatchLogRecordProcessor settings. Spans are not spooled here (a handful per run).
 */
const SPOOL_VARIANT = {
  available: () => existsSync(SPOOL_MODULE),
  async create() {
    if (!SPOOL_VARIANT.available()) throw new Error('dist/otel/spool.js does not exist in this tree');
    const { Spool } = await import(SPOOL_MODULE);
    const { SpoolingExporter } = await import('../dist/otel/spooling-exporter.js');
    const { OtlpSender } = await import('../dist/otel/otlp-sender.js');
    const { QueueLossCollector } = await import('../dist/otel/loss-declaration.js');
    const config = resolveConfig({}, {});
    const port = await deadPort();
    const url = `http://127.0.0.1:${port}`;
    const dir = mkdtempSync(join(tmpdir(), 'oi-audit-bench-spool-'));
    const spool = new Spool({ dir, maxBytes: config.spoolMaxBytes, fsync: config.spoolFsync });
    const losses = { reports: 0, records: 0 };
    let declare = () => undefined;
    const spooling = new SpoolingExporter({
      spool,
      // register()'s single sending path (the SDK's HTTP export delegate), with its timeout.
      sender: new OtlpSender({ signal: 'logs', endpoint: url, timeoutMillis: DEFAULT_OTLP_EXPORT_TIMEOUT_MS }),
      serialize: (records) => ({ encoding: 'json', body: JsonLogsSerializer.serializeRequest(records) ?? new Uint8Array() }),
      identify: (record) => {
        const session = record.attributes['session.id'];
        const seq = record.attributes['oi_audit.event.seq'];
        if (typeof session !== 'string' || typeof seq !== 'number') return undefined;
        return { session, seq, isLossEvent: record.attributes['event.name'] === 'oi_audit.audit.loss' };
      },
      onLoss: (report) => {
        losses.reports++;
        for (const lost of report.bySession.values()) losses.records += lost.count;
        declare(report);
      },
    });
    const counting = countingExporter(spooling);
    // As register(): records the full queue drops are collected and declared (reason queue_full).
    const queueLoss = new QueueLossCollector((report) => {
      losses.reports++;
      declare(report);
    });
    const providers = createProviders(url, { logExporter: counting.exporter, onQueueFull: (record) => queueLoss.add(record) });
    const dirBytes = () => {
      let total = 0;
      for (const f of readdirSync(dir)) total += statSync(join(dir, f)).size;
      return total;
    };
    return {
      providers,
      describe: {
        endpoint: url,
        processor: { kind: 'LossReportingBatchLogRecordProcessor', ...LOG_PROCESSOR_SETTINGS },
        spool: { maxBytes: config.spoolMaxBytes, fsync: config.spoolFsync },
      },
      setSession(session) {
        declare = (report) => {
          for (const [id, lost] of report.bySession) if (id === session.id && !session.isEnded) session.recordLoss(lost.count, report.reason);
        };
      },
      state() {
        return {
          queued: providers.logProcessor._finishedLogRecords?.length ?? null,
          ...counting.counts,
          spoolPendingBytes: spool.pendingBytes,
          spoolDroppedRecords: spooling.dropped,
          lossReports: losses.reports,
        };
      },
      spoolBytes: () => dirBytes(),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

const pipeline = variant === 'spool' ? await SPOOL_VARIANT.create() : await batchDeadEndpoint();
const recorder = new AuditRecorder({ tracerProvider: pipeline.providers.tracerProvider, loggerProvider: pipeline.providers.loggerProvider });
const session = recorder.openSession({ userId: 'bench-user', model: 'scripted', policy: 'all' });
const turn = session.startTurn('backpressure benchmark');
pipeline.setSession?.(session);

gc();
const baseline = mem();
const quarters = [];
let peakSampledRss = baseline.rss;
let peakQueued = 0;
let spoolEngagedAtMs = null;
const t0 = performance.now();
const sampler = setInterval(() => {
  const r = process.memoryUsage.rss();
  if (r > peakSampledRss) peakSampledRss = r;
  const st = pipeline.state();
  if ((st.queued ?? 0) > peakQueued) peakQueued = st.queued;
  if (spoolEngagedAtMs === null && st.spoolPendingBytes > 0) spoolEngagedAtMs = performance.now() - t0;
}, 10);
for (let i = 0; i < events; i++) {
  turn.assistantMessage(contents[i & 63]);
  if ((i + 1) % 64 === 0) await yieldToLoop();
  if ((i + 1) % Math.floor(events / 4) === 0) {
    const atMs = performance.now() - t0;
    const before = mem();
    gc();
    quarters.push({ events: i + 1, atMs, rss: before.rss, liveAfterGc: mem(), ...pipeline.state(), spoolBytes: pipeline.spoolBytes() });
  }
}
const wallMs = performance.now() - t0;
clearInterval(sampler);
const end = pipeline.state();
// Records the recorder produced: session start, user input, the events, and a checkpoint every 100.
const produced = 2 + events + Math.floor((events + 2) / 100);
// Dropped by the processor (queue full) plus, with the spool, what the full spool refused.
const droppedByQueue = produced - end.recordsHandedOver - (end.queued ?? 0);
const dropped = droppedByQueue + (end.spoolDroppedRecords ?? 0);
const maxRssBytes = process.resourceUsage().maxRSS * 1024;
const last = quarters[quarters.length - 1];
const half = quarters[1];
emitResult({
  part: 'backpressure',
  variant,
  spoolAvailable: SPOOL_VARIANT.available(),
  events,
  size,
  wallMs,
  eventsPerSec: events / (wallMs / 1000),
  pipeline: pipeline.describe,
  baseline,
  peakRssBytes: Math.max(maxRssBytes, peakSampledRss),
  quarters,
  produced,
  queuedAtEnd: end.queued,
  peakQueued,
  spoolEngagedAtMs,
  handedToExporter: end.recordsHandedOver,
  exportCalls: end.exportCalls,
  exportsFailed: end.failed,
  dropped,
  droppedByQueue,
  droppedBySpool: end.spoolDroppedRecords ?? null,
  lossReports: end.lossReports ?? null,
  spoolBytes: pipeline.spoolBytes(),
  spoolPendingBytes: end.spoolPendingBytes ?? null,
  // Growth of live memory over the second half of the run (bounded: the queue is full by then).
  liveGrowthSecondHalfBytes: last.liveAfterGc.heapUsed + last.liveAfterGc.external - (half.liveAfterGc.heapUsed + half.liveAfterGc.external),
});
pipeline.cleanup?.();
// Do not wait for the exporter's retries against the dead endpoint.
process.exit(0);
