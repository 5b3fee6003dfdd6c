import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AuditRecorder, type AuditRecorderOptions } from '../../src/audit/recorder.js';

/** A recorder wired to in-memory exporters: the unit-level harness, as in opentelemetry-js-contrib. */
export function inMemoryRecorder(options: Omit<AuditRecorderOptions, 'tracerProvider' | 'loggerProvider'> = {}) {
  const spans = new InMemorySpanExporter();
  const logs = new InMemoryLogRecordExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logs })] });
  const recorder = new AuditRecorder({ ...options, tracerProvider, loggerProvider });
  const bodies = () => logs.getFinishedLogRecords().map((r) => JSON.parse(r.body as string) as Record<string, any>);
  return { recorder, spans, logs, bodies };
}
