import { join, resolve } from 'node:path';
import { type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import { createNoopLogger, type LoggerProvider } from '@opentelemetry/api-logs';
import { OTLPMetricExporter as OTLPProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as OTLPJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { JsonLogsSerializer, JsonTraceSerializer, ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource, detectResources, envDetector, hostDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { LoggerProvider as SdkLoggerProvider, SimpleLogRecordProcessor, type LogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { MeterProvider as SdkMeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { AlwaysOffSampler, AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AuditMetrics } from '../audit/metrics.js';
import { AuditRecorder, type AuditRecorderOptions } from '../audit/recorder.js';
import { onTerminationSignal } from './signals.js';
import { resolveConfig, type AuditConfigInput, type EnvVars } from '../config/config.js';
import { FileLogRecordExporter, FileMetricExporter, FileSpanExporter, sinkFileOptionsFromEnv, type SinkMaintenanceEvent } from '../otel/file-sink.js';
import { SinkMaintenanceLog } from './sink-maintenance.js';
import { identifyLogRecord, lossDeclarer, QueueLossCollector } from '../otel/loss-declaration.js';
import { LossReportingBatchLogRecordProcessor } from '../otel/loss-reporting-processor.js';
import { encodingOf, otlpProtocol, OtlpSender, type OtlpRequest } from '../otel/otlp-sender.js';
import { Spool } from '../otel/spool.js';
import { parseRecipient } from '../at-rest/keys.js';
import { SpoolingExporter, type LossReport } from '../otel/spooling-exporter.js';
import { auditWarning } from '../otel/warn.js';

/** OTLP export timeout register() gives its exporters when OTEL_EXPORTER_OTLP_(<SIGNAL>_)TIMEOUT is not set (see below). */
export const DEFAULT_OTLP_EXPORT_TIMEOUT_MS = 2_000;

/** `none`: OI_AUDIT_DISABLED=true, nothing is recorded. */
export type SinkKind = 'otlp' | 'file' | 'none';

export interface RegisterOptions extends AuditConfigInput {
  /** `auto` (default): OTLP when an OTLP endpoint is configured, else the embedded file sink. */
  sink?: 'auto' | 'otlp' | 'file';
  /** OTLP/HTTP base URL (overrides OTEL_EXPORTER_OTLP_*ENDPOINT); `/v1/traces`, `/v1/logs`, `/v1/metrics` are appended. */
  endpoint?: string;
  /** Extra OTLP headers (OTEL_EXPORTER_OTLP_HEADERS is honoured as well). */
  headers?: Record<string, string>;
  /** Flush and end open sessions on SIGINT/SIGTERM/SIGHUP (src/setup/signals.ts decides the exit). Default true. */
  handleSignals?: boolean;
  /** Passed to the recorder (redactor, pseudonymizer, integrity chain factory, event hook). */
  recorder?: Omit<AuditRecorderOptions, 'config' | 'tracerProvider' | 'loggerProvider' | 'metrics'>;
  /**
   * Record into YOUR providers instead of oi-audit's private ones (one pipeline for app and audit).
   * Warning: your samplers and processors then decide what survives. A sampler leaves audit spans
   * unrecorded (the log records, the evidence, still carry their trace and span ids); a log processor
   * that filters, or a batch queue that overflows, drops audit records that oi-audit cannot see, so it
   * cannot declare those losses in the chain, and fail-closed cannot see your exporter's health.
   * oi-audit never shuts your providers down (it flushes them on shutdown).
   */
  tracerProvider?: TracerProvider;
  loggerProvider?: LoggerProvider;
  meterProvider?: MeterProvider;
  /** Also print warnings on stderr (the CLI does); they always go to OpenTelemetry's `diag` logger. */
  warningsToStderr?: boolean;
}

export interface AuditHandle {
  recorder: AuditRecorder;
  sink: SinkKind;
  /** Where the embedded file sink writes (file sink only). */
  sinkDir?: string;
  /** OTLP logs URL (OTLP sink only). */
  endpoint?: string;
  /** `open` or `closed` (config failMode). */
  failMode: 'open' | 'closed';
  /** True while audit records are reaching their sink (always true for the file sink, false when disabled). */
  auditHealthy(): boolean;
  /** With failMode closed, the guard to give the approval path (no block is approved while it says false). */
  approvalGuard: (() => boolean) | undefined;
  forceFlush(): Promise<void>;
  /** End open sessions, flush everything, stop oi-audit's own providers. Idempotent. */
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

function otlpEndpointFromEnv(env: EnvVars): string | undefined {
  return (
    env.OTEL_EXPORTER_OTLP_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ||
    undefined
  );
}

/** The audit's resource: OTEL_RESOURCE_ATTRIBUTES/OTEL_SERVICE_NAME and host, never the process command line. */
function auditResource(serviceName: string | undefined): Resource {
  // No process detector: process.command_args can carry secrets passed on a command line.
  const detected = detectResources({ detectors: [envDetector, hostDetector] });
  const fromEnv = detectResources({ detectors: [envDetector] });
  const attributes: Record<string, string | number> = {
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
  };
  // OTEL_SERVICE_NAME / service.name in OTEL_RESOURCE_ATTRIBUTES win over the default, code wins over both.
  if (serviceName) attributes['service.name'] = serviceName;
  else if (fromEnv.attributes['service.name'] === undefined) attributes['service.name'] = 'oi-audit';
  return defaultResource().merge(detected).merge(resourceFromAttributes(attributes));
}

/** OTLP timeout: the variable if one is set, else ours (a number in code is not needed: the env wins). */
function exportTimeout(signal: 'TRACES' | 'LOGS' | 'METRICS', env: EnvVars): number | undefined {
  return env[`OTEL_EXPORTER_OTLP_${signal}_TIMEOUT`] || env.OTEL_EXPORTER_OTLP_TIMEOUT ? undefined : DEFAULT_OTLP_EXPORT_TIMEOUT_MS;
}

/**
 * Set up oi-audit's own OpenTelemetry pipeline and return the recorder.
 *
 * The tracer, logger and meter providers are private: they are never registered as the global ones, so
 * the app's telemetry does not end up in the audit sink and the audit's evidence does not go to the
 * app's exporters, whichever is set up first. Standard OTEL_* variables are honoured (OTLP endpoint,
 * protocol, headers, compression, TLS, timeout, service name, resource attributes); OTEL_SDK_DISABLED is
 * not (it is the app's switch): OI_AUDIT_DISABLED=true turns the audit off.
 */
export function register(options: RegisterOptions = {}, env: EnvVars = process.env): AuditHandle {
  if (current) return current;
  const config = resolveConfig(options, env);
  const stderr = options.warningsToStderr ?? false;
  if (config.disabled) return registerDisabled(options, config.failMode, stderr);
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    auditWarning('OTEL_SDK_DISABLED=true does not turn the audit off (set OI_AUDIT_DISABLED=true for that); audit records are still written', stderr);
  }
  if (options.tracerProvider || options.loggerProvider || options.meterProvider) {
    auditWarning(
      'recording into the providers you passed to register(): their samplers and processors decide what survives, ' +
        'and losses there cannot be declared in the audit chain (see docs/operations.md, "Your own providers")',
      stderr,
    );
  }

  const endpointFromEnv = otlpEndpointFromEnv(env);
  const sink: 'otlp' | 'file' = options.sink && options.sink !== 'auto' ? options.sink : options.endpoint || endpointFromEnv ? 'otlp' : 'file';
  const resource = auditResource(options.serviceName ?? env.OTEL_SERVICE_NAME);

  let spanProcessor: SpanProcessor;
  let logProcessor: LogRecordProcessor;
  let metricExporter: PushMetricExporter;
  let sinkDir: string | undefined;
  let endpoint: string | undefined;
  let logSpool: SpoolingExporter<ReadableLogRecord> | undefined;
  let maintenanceLog: SinkMaintenanceLog | undefined;
  const spools: Array<{ signal: string; pendingBytes: () => number }> = [];
  // Losses are declared in the chain of the session they hit (once the recorder exists).
  let declareLoss: (report: LossReport) => void = () => {};
  // eslint-disable-next-line prefer-const -- assigned once the meter provider exists; the exporters' callbacks above read it later
  let metrics: AuditMetrics | undefined;
  let queueLoss: QueueLossCollector | undefined;
  if (sink === 'file') {
    sinkDir = resolve(config.sinkDir);
    // Unbatched: each record is written before the call returns (see file-sink.ts).
    const fromEnv = sinkFileOptionsFromEnv(process.env);
    // Rotations and deletions by retention are recorded in the sink's maintenance stream (sink-maintenance.ts).
    const log = fromEnv.rotateBytes || fromEnv.retentionDays ? new SinkMaintenanceLog(sinkDir, fromEnv.atRestRecipient, { ...options.recorder, config }) : undefined;
    maintenanceLog = log;
    const sinkFiles = {
      ...fromEnv,
      onMaintenance: (e: SinkMaintenanceEvent) => {
        fromEnv.onMaintenance?.(e);
        try {
          log?.record(e);
        } catch (error) {
          auditWarning(`sink maintenance not recorded: ${(error as Error).message}`, stderr);
        }
      },
    };
    spanProcessor = new SimpleSpanProcessor(new FileSpanExporter(sinkDir, sinkFiles));
    logProcessor = new SimpleLogRecordProcessor({ exporter: new FileLogRecordExporter(sinkDir, sinkFiles) });
    metricExporter = new FileMetricExporter(sinkDir);
  } else {
    const target = { endpoint: options.endpoint, headers: options.headers };
    const tracesProtocol = otlpProtocol('traces', env);
    const logsProtocol = otlpProtocol('logs', env);
    const metricsProtocol = otlpProtocol('metrics', env);
    // With the Collector down, the first batch reaches the spool only when the exporter gives up; the SDK's
    // 10 s default lets a burst overflow the in-memory queue meanwhile (65,536 records fill in ~3.3 s at
    // 20,000 events/s: bench/backpressure.js). 2 s unless OTEL_EXPORTER_OTLP_(<SIGNAL>_)TIMEOUT says otherwise.
    const tracesSender = new OtlpSender({ signal: 'traces', ...target, timeoutMillis: exportTimeout('TRACES', env) });
    const logsSender = new OtlpSender({ signal: 'logs', ...target, timeoutMillis: exportTimeout('LOGS', env) });
    endpoint = logsSender.url;
    const spoolDir = resolve(config.spoolDir);
    // With a recipient the spool is encrypted too (README "At rest": replayed from memory, or by `spool replay`).
    const spoolRecipient = env.OI_AUDIT_AT_REST_RECIPIENT;
    const spool = (signal: string) =>
      new Spool({
        dir: join(spoolDir, signal),
        maxBytes: config.spoolMaxBytes,
        fsync: config.spoolFsync,
        ...(spoolRecipient ? { recipient: parseRecipient(spoolRecipient) } : {}),
        onProblem: (message) => auditWarning(message, stderr),
      });
    // The spool keeps serialised requests, so the exporters' serialisers are used directly (the exporter
    // packages do not expose theirs): a replayed request is the one that would have been sent.
    const serializeSpans = (spans: ReadableSpan[]): OtlpRequest => ({
      encoding: encodingOf(tracesProtocol),
      body: (tracesProtocol === 'http/json' ? JsonTraceSerializer : ProtobufTraceSerializer).serializeRequest(spans) ?? new Uint8Array(),
    });
    const serializeLogs = (records: ReadableLogRecord[]): OtlpRequest => ({
      encoding: encodingOf(logsProtocol),
      body: (logsProtocol === 'http/json' ? JsonLogsSerializer : ProtobufLogsSerializer).serializeRequest(records) ?? new Uint8Array(),
    });
    const spanSpool = new SpoolingExporter<ReadableSpan>({
      spool: spool('traces'),
      serialize: serializeSpans,
      sender: tracesSender,
      onSendFailure: () => metrics?.exportFailed('traces'),
      onLoss: (report) => metrics?.lost(report.reason, [...report.bySession.values()].reduce((n, e) => n + e.count, 0)),
    });
    logSpool = new SpoolingExporter<ReadableLogRecord>({
      spool: spool('logs'),
      serialize: serializeLogs,
      sender: logsSender,
      identify: identifyLogRecord,
      onSendFailure: () => metrics?.exportFailed('logs'),
      onLoss: (report) => declareLoss(report),
    });
    spools.push({ signal: 'traces', pendingBytes: () => spanSpool.spool.pendingBytes }, { signal: 'logs', pendingBytes: () => logSpool!.spool.pendingBytes });
    spanProcessor = new BatchSpanProcessor(spanSpool);
    // The spool bounds memory: the in-process queue only has to absorb bursts between exports.
    // Records the full queue drops are declared as losses too (see loss-reporting-processor.ts).
    queueLoss = new QueueLossCollector((report) => declareLoss(report));
    const collector = queueLoss;
    logProcessor = new LossReportingBatchLogRecordProcessor(
      { exporter: logSpool, maxQueueSize: 65_536, maxExportBatchSize: 512, scheduledDelayMillis: 200 },
      (record) => collector.add(record),
    );
    // Metrics are not evidence: the SDK's exporter, no spool.
    const metricsOptions = {
      ...(options.endpoint ? { url: `${options.endpoint.replace(/\/+$/, '')}/v1/metrics` } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      ...(exportTimeout('METRICS', env) !== undefined ? { timeoutMillis: exportTimeout('METRICS', env)! } : {}),
    };
    metricExporter = metricsProtocol === 'http/json' ? new OTLPJsonMetricExporter(metricsOptions) : new OTLPProtoMetricExporter(metricsOptions);
  }

  const ownTracerProvider = options.tracerProvider
    ? undefined
    : // AlwaysOn: OTEL_TRACES_SAMPLER is the app's; audit spans are never sampled away.
      new BasicTracerProvider({ resource, sampler: new AlwaysOnSampler(), spanProcessors: [spanProcessor] });
  const ownLoggerProvider = options.loggerProvider ? undefined : new SdkLoggerProvider({ resource, processors: [logProcessor] });
  const ownMeterProvider = options.meterProvider
    ? undefined
    : new SdkMeterProvider({ resource, readers: [new PeriodicExportingMetricReader({ exporter: metricExporter })] });
  const meterProvider = options.meterProvider ?? ownMeterProvider!;
  metrics = new AuditMetrics(meterProvider.getMeter('oi-audit'));
  metrics.observeSpool(spools);

  const recorder = new AuditRecorder({
    ...options.recorder,
    config,
    tracerProvider: options.tracerProvider ?? ownTracerProvider!,
    loggerProvider: options.loggerProvider ?? ownLoggerProvider!,
    metrics,
  });

  const recorderMetrics = metrics;
  const declare = lossDeclarer(recorder);
  declareLoss = (report) => {
    recorderMetrics.lost(report.reason, [...report.bySession.values()].reduce((n, e) => n + e.count, 0));
    declare(report);
  };

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
    healthTimer = setInterval(() => void probe(), 5_000);
    healthTimer.unref();
  }
  const auditHealthy = () =>
    sink === 'file' || (collectorHealthy && (logSpool?.healthy ?? true) && (logSpool?.spool.freeBytes ?? 1) > 0);

  const flushAll = () =>
    Promise.all([
      (options.tracerProvider as { forceFlush?: () => Promise<void> } | undefined)?.forceFlush?.(),
      (options.loggerProvider as { forceFlush?: () => Promise<void> } | undefined)?.forceFlush?.(),
      (options.meterProvider as { forceFlush?: () => Promise<void> } | undefined)?.forceFlush?.(),
      ownTracerProvider?.forceFlush(),
      ownLoggerProvider?.forceFlush(),
      ownMeterProvider?.forceFlush(),
    ]).then(() => undefined);

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
      await flushAll();
    },
    shutdown() {
      shuttingDown ??= (async () => {
        // Queue drops not yet declared are declared while their sessions are still open.
        queueLoss?.flush();
        recorder.endAll('shutdown');
        if (healthTimer) clearInterval(healthTimer);
        // The user's providers are flushed, never shut down (they are the app's).
        await flushAll().catch(() => undefined);
        await Promise.all([ownTracerProvider?.shutdown(), ownLoggerProvider?.shutdown(), ownMeterProvider?.shutdown()]);
        await maintenanceLog?.shutdown().catch(() => undefined);
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

/** OI_AUDIT_DISABLED=true: a recorder that records nothing; fail-closed refuses every block. */
function registerDisabled(options: RegisterOptions, failMode: 'open' | 'closed', stderr: boolean): AuditHandle {
  auditWarning(
    failMode === 'closed'
      ? 'OI_AUDIT_DISABLED=true: nothing is recorded, and with OI_AUDIT_FAIL_MODE=closed every code block is refused'
      : 'OI_AUDIT_DISABLED=true: nothing is recorded (code blocks are still approved as the policy says; OI_AUDIT_FAIL_MODE=closed refuses them)',
    stderr,
  );
  const recorder = new AuditRecorder({
    ...options.recorder,
    config: options,
    // Sampled off and no processor: every span is non-recording. Nothing is exported anywhere.
    tracerProvider: new BasicTracerProvider({ sampler: new AlwaysOffSampler() }),
    loggerProvider: { getLogger: () => createNoopLogger() },
  });
  const unhealthy = () => false;
  const handle: AuditHandle = {
    recorder,
    sink: 'none',
    failMode,
    auditHealthy: unhealthy,
    approvalGuard: failMode === 'closed' ? unhealthy : undefined,
    async forceFlush() {},
    async shutdown() {
      recorder.endAll('shutdown');
      if (current === handle) current = undefined;
    },
  };
  current = handle;
  return handle;
}
