import { join, resolve } from 'node:path';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { SimpleLogRecordProcessor, type LogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, SimpleSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { JsonLogsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { logs } from '@opentelemetry/api-logs';
import { trace } from '@opentelemetry/api';
import { envDetector, hostDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { AuditRecorder, type AuditRecorderOptions } from '../audit/recorder.js';
import { onTerminationSignal } from '../setup/signals.js';
import { resolveConfig, type AuditConfigInput } from '../config/config.js';
import { FileLogRecordExporter, FileSpanExporter, sinkFileOptionsFromEnv } from './file-sink.js';
import { otlpTarget, postOtlp } from './otlp-endpoint.js';
import { Spool } from './spool.js';
import { identifyLogRecord, lossDeclarer, QueueLossCollector } from './loss-declaration.js';
import { LossReportingBatchLogRecordProcessor } from './loss-reporting-processor.js';
import { SpoolingExporter, type LossReport } from './spooling-exporter.js';

/** OTLP export timeout register() gives its exporters when OTEL_EXPORTER_OTLP_TIMEOUT is not set (see below). */
export const DEFAULT_OTLP_EXPORT_TIMEOUT_MS = 2_000;


export type SinkKind = 'otlp' | 'file';

export interface RegisterOptions extends AuditConfigInput {
  /** `auto` (default): OTLP when an OTLP endpoint is configured, else the embedded file sink. */
  sink?: 'auto' | SinkKind;
  /** OTLP/HTTP base URL (overrides OTEL_EXPORTER_OTLP_ENDPOINT); `/v1/traces` and `/v1/logs` are appended. */
  endpoint?: string;
  /** Extra OTLP headers (OTEL_EXPORTER_OTLP_HEADERS is honoured as well). */
  headers?: Record<string, string>;
  /** Flush and end open sessions on SIGINT/SIGTERM/SIGHUP (src/setup/signals.ts decides the exit). Default true. */
  handleSignals?: boolean;
  /** Passed to the recorder (redactor, pseudonymizer, integrity chain factory, event hook). */
  recorder?: Omit<AuditRecorderOptions, 'config' | 'tracerProvider' | 'loggerProvider'>;
}

export interface AuditHandle {
  recorder: AuditRecorder;
  sink: SinkKind;
  /** Where the embedded file sink writes (file sink only). */
  sinkDir?: string;
  /** OTLP base URL (OTLP sink only). */
  endpoint?: string;
  /** `open` or `closed` (config failMode). */
  failMode: 'open' | 'closed';
  /** True while audit records are reaching their sink (always true for the file sink). */
  auditHealthy(): boolean;
  /** With failMode closed, the guard to give the approval path (no block is approved while it says false). */
  approvalGuard: (() => boolean) | undefined;
  forceFlush(): Promise<void>;
  /** End open sessions, flush everything, stop the SDK. Idempotent. */
  shutdown(): Promise<void>;
}

let current: AuditHandle | undefined;

/** The recorder set up by register() (or `--import oi-audit/register`). */
export function getAuditRecorder(): AuditRecorder {
  if (!current) throw new Error('oi-audit is not registered: call register() or start node with --import oi-audit/register');
  return current.recorder;
}

export function getAuditHandle(): AuditHandle | undefined {
  return current;
}

function otlpEndpointFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  return env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || undefined;
}

/**
 * Set up the OpenTelemetry Node SDK with oi-audit's exporters and return the recorder.
 * Standard OTEL_* variables are honoured (endpoint, headers, service name, resource attributes).
 */
export function register(options: RegisterOptions = {}, env: NodeJS.ProcessEnv = process.env): AuditHandle {
  if (current) return current;
  const config = resolveConfig(options, env);
  const endpointFromEnv = otlpEndpointFromEnv(env);
  const sink: SinkKind = options.sink && options.sink !== 'auto' ? options.sink : options.endpoint || endpointFromEnv ? 'otlp' : 'file';

  let spanProcessor: SpanProcessor;
  let logProcessor: LogRecordProcessor;
  let sinkDir: string | undefined;
  let endpoint: string | undefined;
  let spanSpool: SpoolingExporter<ReadableSpan> | undefined;
  let logSpool: SpoolingExporter<ReadableLogRecord> | undefined;
  // Losses are declared in the chain of the session they hit (once the recorder exists).
  let declareLoss: (report: LossReport) => void = () => {};
  let queueLoss: QueueLossCollector | undefined;
  if (sink === 'file') {
    sinkDir = resolve(config.sinkDir);
    // Unbatched: each record is written before the call returns (see file-sink.ts).
    const sinkFiles = sinkFileOptionsFromEnv(process.env);
    spanProcessor = new SimpleSpanProcessor(new FileSpanExporter(sinkDir, sinkFiles));
    logProcessor = new SimpleLogRecordProcessor({ exporter: new FileLogRecordExporter(sinkDir, sinkFiles) });
  } else {
    endpoint = options.endpoint ?? endpointFromEnv;
    const traces = otlpTarget('traces', options, env);
    const logs = otlpTarget('logs', options, env);
    // With the Collector down, the first batch reaches the spool only when the exporter gives up; the SDK's
    // 10 s default lets a burst overflow the in-memory queue meanwhile (65,536 records fill in ~3.3 s at
    // 20,000 events/s: bench/backpressure.js). 2 s unless OTEL_EXPORTER_OTLP_TIMEOUT says otherwise.
    const exportTimeout = env.OTEL_EXPORTER_OTLP_TIMEOUT ? {} : { timeoutMillis: DEFAULT_OTLP_EXPORT_TIMEOUT_MS };
    const spoolDir = resolve(config.spoolDir);
    const spool = (signal: string) => new Spool({ dir: join(spoolDir, signal), maxBytes: config.spoolMaxBytes, fsync: config.spoolFsync });
    spanSpool = new SpoolingExporter<ReadableSpan>({
      inner: new OTLPTraceExporter({ url: traces.url, headers: traces.headers, ...exportTimeout }),
      spool: spool('traces'),
      serialize: (spans) => JsonTraceSerializer.serializeRequest(spans) ?? new Uint8Array(),
      send: (body) => postOtlp(traces, body),
    });
    logSpool = new SpoolingExporter<ReadableLogRecord>({
      inner: new OTLPLogExporter({ url: logs.url, headers: logs.headers, ...exportTimeout }),
      spool: spool('logs'),
      serialize: (records) => JsonLogsSerializer.serializeRequest(records) ?? new Uint8Array(),
      send: (body) => postOtlp(logs, body),
      identify: identifyLogRecord,
      onLoss: (report) => declareLoss(report),
    });
    spanProcessor = new BatchSpanProcessor(spanSpool);
    // The spool bounds memory: the in-process queue only has to absorb bursts between exports.
    // Records the full queue drops are declared as losses too (see loss-reporting-processor.ts).
    queueLoss = new QueueLossCollector((report) => declareLoss(report));
    const collector = queueLoss;
    logProcessor = new LossReportingBatchLogRecordProcessor(
      { exporter: logSpool, maxQueueSize: 65_536, maxExportBatchSize: 512, scheduledDelayMillis: 200 },
      (record) => collector.add(record),
    );
  }

  const sdk = new NodeSDK({
    serviceName: config.serviceName,
    // No process detector: process.command_args can carry secrets passed on a command line.
    resourceDetectors: [envDetector, hostDetector],
    resource: resourceFromAttributes({
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
    }),
    spanProcessors: [spanProcessor],
    logRecordProcessors: [logProcessor],
    metricReaders: [],
    instrumentations: [],
  });
  sdk.start();

  const recorder = new AuditRecorder({
    ...options.recorder,
    config,
    tracerProvider: trace.getTracerProvider(),
    loggerProvider: logs.getLoggerProvider(),
  });

  declareLoss = lossDeclarer(recorder);

  // Fail-closed health: the last export reached the Collector, the spool has room, and (if configured) the Collector's health endpoint answers.
  let collectorHealthy = true;
  let healthTimer: NodeJS.Timeout | undefined;
  if (sink === 'otlp' && config.healthCheckUrl) {
    const probe = () =>
      fetch(config.healthCheckUrl!, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => void (collectorHealthy = r.ok),
        () => void (collectorHealthy = false),
      );
    void probe();
    healthTimer = setInterval(probe, 5_000);
    healthTimer.unref();
  }
  const auditHealthy = () =>
    sink === 'file' || (collectorHealthy && (logSpool?.healthy ?? true) && (logSpool?.spool.freeBytes ?? 1) > 0);

  let shuttingDown: Promise<void> | undefined;
  let removeSignalStep: (() => void) | undefined;
  const handle: AuditHandle = {
    recorder,
    sink,
    ...(sinkDir ? { sinkDir } : {}),
    ...(endpoint ? { endpoint } : {}),
    failMode: config.failMode,
    auditHealthy,
    approvalGuard: config.failMode === 'closed' ? auditHealthy : undefined,
    async forceFlush() {
      await Promise.all([spanProcessor.forceFlush(), logProcessor.forceFlush()]);
    },
    shutdown() {
      shuttingDown ??= (async () => {
        // Queue drops not yet declared are declared while their sessions are still open.
        queueLoss?.flush();
        recorder.endAll('shutdown');
        if (healthTimer) clearInterval(healthTimer);
        await sdk.shutdown();
        process.removeListener('beforeExit', onBeforeExit);
        removeSignalStep?.();
        if (current === handle) current = undefined;
      })();
      return shuttingDown;
    },
  };

  const onBeforeExit = () => void handle.shutdown();
  process.once('beforeExit', onBeforeExit);
  // process.exit() skips beforeExit; with the synchronous file sink, ending the sessions here still
  // writes their end events and final checkpoints to disk.
  if (sink === 'file') process.once('exit', () => recorder.endAll('exit'));
  // The audit phase of the one signal coordinator: after sessions are ended, before processes are killed.
  if (options.handleSignals ?? true) removeSignalStep = onTerminationSignal('audit', () => handle.shutdown());
  current = handle;
  return handle;
}
