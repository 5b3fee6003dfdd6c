import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
// The SDK's OTLP JSON serialisers: the embedded sink writes exactly what an OTLP/JSON exporter would send.
import { JsonLogsSerializer, JsonMetricsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

export const TRACES_FILE = 'traces.jsonl';
export const LOGS_FILE = 'logs.jsonl';
export const METRICS_FILE = 'metrics.jsonl';

/**
 * Append-only JSONL file: one OTLP JSON export request per line, the format the Collector's file
 * exporter writes with `format: json`, so `oi-audit view` and `verify` read both alike.
 * Writes are synchronous on purpose: paired with a simple (unbatched) processor, a record is on disk
 * before the audited call continues, so neither `process.exit()` nor SIGKILL can lose it.
 */
class JsonlFile {
  private fd: number | undefined;

  constructor(readonly path: string) {}

  append(line: Uint8Array): void {
    // 0600 file in a 0700 directory: audit content may hold (redacted) user data.
    this.fd ??= openSync(this.path, 'a', 0o600);
    writeSync(this.fd, line);
    writeSync(this.fd, NEWLINE);
  }

  sync(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }
}

const NEWLINE = new Uint8Array([0x0a]);

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function writeOrFail(file: JsonlFile, serialize: () => Uint8Array | undefined, done: (r: ExportResult) => void): void {
  try {
    const bytes = serialize();
    if (bytes && bytes.length > 0) file.append(bytes);
    done({ code: ExportResultCode.SUCCESS });
  } catch (error) {
    done({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
  }
}

export class FileSpanExporter implements SpanExporter {
  private readonly file: JsonlFile;

  constructor(dir: string) {
    ensurePrivateDir(dir);
    this.file = new JsonlFile(join(dir, TRACES_FILE));
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    writeOrFail(this.file, () => JsonTraceSerializer.serializeRequest(spans), done);
  }

  async forceFlush(): Promise<void> {
    this.file.sync();
  }

  async shutdown(): Promise<void> {
    this.file.close();
  }
}

export class FileLogRecordExporter implements LogRecordExporter {
  private readonly file: JsonlFile;

  constructor(dir: string) {
    ensurePrivateDir(dir);
    this.file = new JsonlFile(join(dir, LOGS_FILE));
  }

  export(records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    writeOrFail(this.file, () => JsonLogsSerializer.serializeRequest(records), done);
  }

  async forceFlush(): Promise<void> {
    this.file.sync();
  }

  async shutdown(): Promise<void> {
    this.file.close();
  }
}

/** Metrics as OTLP JSON lines (metrics.jsonl), written on each collection (periodic and at shutdown). */
export class FileMetricExporter implements PushMetricExporter {
  private readonly file: JsonlFile;

  constructor(dir: string) {
    ensurePrivateDir(dir);
    this.file = new JsonlFile(join(dir, METRICS_FILE));
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    if (metrics.scopeMetrics.every((s) => s.metrics.length === 0)) return done({ code: ExportResultCode.SUCCESS });
    writeOrFail(this.file, () => JsonMetricsSerializer.serializeRequest(metrics), done);
  }

  async forceFlush(): Promise<void> {
    this.file.sync();
  }

  async shutdown(): Promise<void> {
    this.file.close();
  }
}
