/**
 * The OTel SDK set-up every benchmark shares: the same exporters and processor settings as
 * src/setup/register.ts uses for an OTLP endpoint (OTLP/HTTP JSON, BatchLogRecordProcessor with
 * maxQueueSize 65 536, maxExportBatchSize 512, scheduledDelayMillis 200; BatchSpanProcessor), built
 * explicitly so the audited path and the bare-OTel baseline go through identical export code.
 * (register() also wraps the OTLP exporters in the durable spool, src/otel/spooling-exporter.ts, which
 * passes batches straight through while the Collector answers; part 4 measures it with the Collector down.)
 */
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { LossReportingBatchLogRecordProcessor } from '../../dist/otel/loss-reporting-processor.js';

export const LOG_PROCESSOR_SETTINGS = Object.freeze({ maxQueueSize: 65_536, maxExportBatchSize: 512, scheduledDelayMillis: 200 });

export function benchResource() {
  return resourceFromAttributes({
    'service.name': 'oi-audit-bench',
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
  });
}

/**
 * @param {string} baseUrl OTLP/HTTP base URL (the local sink, or a dead port)
 * @param {{ logExporter?: import('@opentelemetry/sdk-logs').LogRecordExporter, processorSettings?: object, onQueueFull?: (record: object) => void }} [options]
 *   onQueueFull: use register()'s LossReportingBatchLogRecordProcessor, which reports each record its full queue drops.
 */
export function createProviders(baseUrl, options = {}) {
  const resource = benchResource();
  const logExporter = options.logExporter ?? new OTLPLogExporter({ url: `${baseUrl}/v1/logs` });
  const processorConfig = { exporter: logExporter, ...LOG_PROCESSOR_SETTINGS, ...options.processorSettings };
  const logProcessor = options.onQueueFull
    ? new LossReportingBatchLogRecordProcessor(processorConfig, options.onQueueFull)
    : new BatchLogRecordProcessor(processorConfig);
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: `${baseUrl}/v1/traces` }));
  const loggerProvider = new LoggerProvider({ resource, processors: [logProcessor] });
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  return {
    loggerProvider,
    tracerProvider,
    logProcessor,
    async forceFlush() {
      await Promise.all([loggerProvider.forceFlush(), tracerProvider.forceFlush()]);
    },
    async shutdown() {
      await Promise.all([loggerProvider.shutdown(), tracerProvider.shutdown()]);
    },
  };
}
