import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { basename, dirname, join } from 'node:path';
import { EncryptedLines } from '../at-rest/encrypted-lines.js';
import { loadSodium } from '../at-rest/sodium.js';
import { parseRecipient } from '../at-rest/keys.js';
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
/** At-rest options of the embedded sink (README "At rest"). */
export interface SinkFileOptions {
  /** Security team's recipient (`oi-audit-recipient-v1:…` or a file holding it): lines are encrypted to it. */
  atRestRecipient?: string;
  /** Rotate the file when it grows past this many bytes (0: never). */
  rotateBytes?: number;
  /** Delete rotated files older than this many days (0: keep). */
  retentionDays?: number;
  /** Told about each rotation and each deletion by retention (the maintenance record). */
  onMaintenance?: (event: SinkMaintenanceEvent) => void;
}

export interface SinkMaintenanceEvent {
  action: 'rotated' | 'deleted_by_retention';
  file: string;
  bytes: number;
  /** For `rotated`: the seq range of each session the file holds, so a later deletion explains its gap. */
  sessions?: Array<{ session: string; from: number; to: number }>;
}

/** The maintenance stream of the embedded sink (never rotated): see setup/sink-maintenance.ts. */
export const MAINTENANCE_FILE = 'maintenance.jsonl';

function nonNegative(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${v}"`);
  return n;
}

/**
 * `OI_AUDIT_AT_REST_RECIPIENT` (encrypt the sink to the security team), `OI_AUDIT_SINK_ROTATE_BYTES`
 * (rotate past this size; default 0 = never), `OI_AUDIT_SINK_RETENTION_DAYS` (delete rotated files older
 * than this; default 0 = keep). Rotations and deletions are reported on stderr.
 */
export function sinkFileOptionsFromEnv(env: NodeJS.ProcessEnv): SinkFileOptions {
  const recipient = env.OI_AUDIT_AT_REST_RECIPIENT;
  return {
    ...(recipient ? { atRestRecipient: recipient } : {}),
    rotateBytes: nonNegative(env, 'OI_AUDIT_SINK_ROTATE_BYTES') ?? 0,
    retentionDays: nonNegative(env, 'OI_AUDIT_SINK_RETENTION_DAYS') ?? 0,
    onMaintenance: (e) => process.stderr.write(`oi-audit: sink ${e.action.replace(/_/g, ' ')}: ${e.file} (${e.bytes} bytes)\n`),
  };
}

// UTC time with milliseconds: a name is never reused, not even after retention deleted an older file of that second.
const ROTATED_SUFFIX = /\.(\d{8}T\d{6}(?:\d{3})?Z)(?:-\d+)?\.jsonl(?:\.gz)?$/;

class JsonlFile {
  private fd: number | undefined;
  private size = -1;
  private readonly encrypted: EncryptedLines | undefined;
  /** Sessions (seq ranges) in the current file, for the rotation record. */
  private contents = new Map<string, { from: number; to: number }>();

  constructor(
    readonly path: string,
    private readonly options: SinkFileOptions = {},
  ) {
    if (options.atRestRecipient) this.encrypted = new EncryptedLines(parseRecipient(options.atRestRecipient));
  }

  /** A record of `session` with `seq` goes into the current file. */
  note(session: string, seq: number): void {
    const c = this.contents.get(session);
    if (!c) this.contents.set(session, { from: seq, to: seq });
    else {
      c.from = Math.min(c.from, seq);
      c.to = Math.max(c.to, seq);
    }
  }

  append(line: Uint8Array): void {
    if (!this.encrypted) return this.write([line]);
    // Before the crypto module has loaded (a few ms after start-up), lines wait in memory, in order.
    if (!this.encrypted.ready || this.encrypted.pending > 0) return this.encrypted.defer(line, (lines) => this.write(lines.map(toBytes)));
    this.write(this.encrypted.encrypt(line).map(toBytes));
  }

  private write(lines: Uint8Array[]): void {
    // 0600 file in a 0700 directory: audit content may hold (redacted) user data.
    if (this.fd === undefined) {
      this.fd = openSync(this.path, 'a', 0o600);
      this.size = statSync(this.path).size;
    }
    for (const l of lines) {
      writeSync(this.fd, l);
      writeSync(this.fd, NEWLINE);
      this.size += l.length + 1;
    }
    const limit = this.options.rotateBytes ?? 0;
    if (limit > 0 && this.size >= limit) this.rotate();
  }

  /** Close the current file (its segment sealed), move it aside (gzip when plaintext), apply retention. */
  private rotate(): void {
    this.closeFile();
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const base = this.path.replace(/\.jsonl$/, '');
    let target = `${base}.${stamp}.jsonl`;
    for (let n = 1; existsQuiet(target) || existsQuiet(`${target}.gz`); n++) target = `${base}.${stamp}-${n}.jsonl`;
    renameSync(this.path, target);
    let bytes = statSync(target).size;
    if (!this.encrypted) {
      // Encrypted lines do not compress: only plaintext files are gzipped.
      writeFileSync(`${target}.gz`, gzipSync(readFileSync(target)), { mode: 0o600 });
      unlinkSync(target);
      target = `${target}.gz`;
      bytes = statSync(target).size;
    }
    const sessions = [...this.contents].map(([session, r]) => ({ session, from: r.from, to: r.to }));
    this.contents = new Map();
    this.options.onMaintenance?.({ action: 'rotated', file: target, bytes, sessions });
    this.applyRetention();
  }

  private applyRetention(): void {
    const days = this.options.retentionDays ?? 0;
    if (days <= 0) return;
    const cutoff = Date.now() - days * 86_400_000;
    const prefix = basename(this.path).replace(/\.jsonl$/, '.');
    for (const name of readdirSync(dirname(this.path))) {
      if (!name.startsWith(prefix) || !ROTATED_SUFFIX.test(name)) continue;
      const file = join(dirname(this.path), name);
      const st = statSync(file);
      if (st.mtimeMs >= cutoff) continue;
      unlinkSync(file);
      this.options.onMaintenance?.({ action: 'deleted_by_retention', file, bytes: st.size });
    }
  }

  sync(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  /** Lines still waiting for the crypto module are written. */
  async drain(): Promise<void> {
    if (this.encrypted && this.encrypted.pending > 0) {
      await loadSodium();
      await Promise.resolve();
    }
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    if (this.encrypted) for (const l of this.encrypted.close()) writeSync(this.fd, toBytes(`${l}\n`));
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }

  close(): void {
    this.closeFile();
  }
}

function toBytes(s: string): Uint8Array {
  return Buffer.from(s, 'utf8');
}

function existsQuiet(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
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

/**
 * What the three file exporters share: their JSONL file in a private directory, flushed (fsync) on
 * forceFlush and closed on shutdown, lines still waiting for the crypto module written first.
 */
abstract class JsonlFileExporter {
  protected readonly file: JsonlFile;

  constructor(dir: string, fileName: string, options: SinkFileOptions = {}) {
    ensurePrivateDir(dir);
    this.file = new JsonlFile(join(dir, fileName), options);
  }

  async forceFlush(): Promise<void> {
    await this.file.drain();
    this.file.sync();
  }

  async shutdown(): Promise<void> {
    await this.file.drain();
    this.file.close();
  }
}

export class FileSpanExporter extends JsonlFileExporter implements SpanExporter {
  constructor(dir: string, options: SinkFileOptions = {}) {
    super(dir, TRACES_FILE, options);
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    writeOrFail(this.file, () => JsonTraceSerializer.serializeRequest(spans), done);
  }
}

export class FileLogRecordExporter extends JsonlFileExporter implements LogRecordExporter {
  /** `fileName`: logs.jsonl by default; the maintenance stream writes maintenance.jsonl. */
  constructor(dir: string, options: SinkFileOptions = {}, fileName = LOGS_FILE) {
    super(dir, fileName, options);
  }

  export(records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    for (const r of records) {
      const session = r.attributes['session.id'];
      const seq = r.attributes['oi_audit.event.seq'];
      if (typeof session === 'string' && typeof seq === 'number') this.file.note(session, seq);
    }
    writeOrFail(this.file, () => JsonLogsSerializer.serializeRequest(records), done);
  }
}

/** Metrics as OTLP JSON lines (metrics.jsonl, never encrypted), written on each collection (periodic and at shutdown). */
export class FileMetricExporter extends JsonlFileExporter implements PushMetricExporter {
  constructor(dir: string) {
    super(dir, METRICS_FILE);
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    if (metrics.scopeMetrics.every((s) => s.metrics.length === 0)) return done({ code: ExportResultCode.SUCCESS });
    writeOrFail(this.file, () => JsonMetricsSerializer.serializeRequest(metrics), done);
  }
}
