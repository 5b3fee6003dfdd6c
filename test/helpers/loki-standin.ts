/**
 * A stand-in for Grafana Loki 3.7's native OTLP endpoint and its query API, with the limits that decide
 * whether audit records arrive (Loki itself cannot be used here: its Go modules are AGPL). Written from
 * Loki's documentation (configuration reference and "OTLP ingestion" pages, v3.7.x):
 *
 * - push (`POST /otlp/v1/logs`, OTLP protobuf or JSON, optionally gzip): the distributor hands the push to
 *   the ingester as ONE gRPC message; above `server.grpc_server_max_recv_msg_size` (default 4 MB) Loki
 *   answers 503 `ResourceExhausted … received message larger than max` — retryable, so a Collector retries
 *   it forever. The uncompressed OTLP payload stands in for the size of that message.
 * - ingestion rate (`limits_config.ingestion_rate_mb`, burst `ingestion_burst_size_mb`, defaults 4 / 6):
 *   a token bucket over the pushed line bytes; over it, 429.
 * - per entry: `max_line_size` (default 256 KB; 400 unless truncation is on), `creation_grace_period`
 *   (default 10 m: a line further in the future is 400 too_far_in_future), `reject_old_samples` /
 *   `reject_old_samples_max_age` (default true / 1 week), and per stream the out-of-order window,
 *   `ingester.max_chunk_age` / 2 (default 1 h) behind the newest entry (400 "entry too far behind").
 *   The valid entries of a push are kept even when the push answers 400, as Loki does.
 * - streams: index labels `service_name` (resource) and `session_id` (log attribute), as
 *   collector-config/loki.yaml configures; every other attribute is structured metadata. In query results
 *   each distinct label set (index labels + structured metadata) is its own stream, streams in label order,
 *   which is why a real Loki returns one session's equal-millisecond records out of seq order.
 * - query (`GET /loki/api/v1/query_range`): `limit` above `max_entries_limit_per_query` (default 5000) is
 *   400; `direction` backward (default) or forward; `start`/`end` in ns; selectors with `=` only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';

export interface LokiLimits {
  grpcMaxMessageBytes: number;
  ingestionRateBytesPerSec: number;
  ingestionBurstBytes: number;
  maxLineBytes: number;
  creationGraceMs: number;
  rejectOldSamples: boolean;
  rejectOldSamplesMaxAgeMs: number;
  outOfOrderWindowMs: number;
  maxEntriesPerQuery: number;
}

const MB = 1 << 20;

/** Loki 3.7's defaults for the limits above (configuration reference). */
export const LOKI_DEFAULT_LIMITS: Readonly<LokiLimits> = Object.freeze({
  grpcMaxMessageBytes: 4 * MB,
  ingestionRateBytesPerSec: 4 * MB,
  ingestionBurstBytes: 6 * MB,
  maxLineBytes: 256 * 1024,
  creationGraceMs: 10 * 60_000,
  rejectOldSamples: true,
  rejectOldSamplesMaxAgeMs: 7 * 24 * 3_600_000,
  outOfOrderWindowMs: 3_600_000,
  maxEntriesPerQuery: 5000,
});

function bytesOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(KB|MB|GB|KiB|MiB|GiB|B)?$/i.exec(v.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'B').toUpperCase().replace('I', '');
  const mult = unit === 'KB' ? 1024 : unit === 'MB' ? MB : unit === 'GB' ? 1024 * MB : 1;
  return Math.round(Number(m[1]) * mult);
}

function msOf(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(v.trim());
  if (!m) return undefined;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms'];
  return Number(m[1]) * mult;
}

/** The limits a Loki started with this configuration file enforces (defaults where the file is silent). */
export function lokiLimitsFromConfig(file: string): LokiLimits {
  const doc = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, any>;
  const server = doc.server ?? {};
  const client = doc.ingester_client?.grpc_client_config ?? {};
  const limits = doc.limits_config ?? {};
  const d = LOKI_DEFAULT_LIMITS;
  // The push is received by the ingester (server limit) after the distributor sent it (client limit).
  const recv = bytesOf(server.grpc_server_max_recv_msg_size) ?? d.grpcMaxMessageBytes;
  const send = bytesOf(client.max_send_msg_size) ?? 100 * MB;
  const chunkAge = msOf(doc.ingester?.max_chunk_age) ?? 2 * 3_600_000;
  return {
    grpcMaxMessageBytes: Math.min(recv, send),
    ingestionRateBytesPerSec: (typeof limits.ingestion_rate_mb === 'number' ? limits.ingestion_rate_mb : 4) * MB,
    ingestionBurstBytes: (typeof limits.ingestion_burst_size_mb === 'number' ? limits.ingestion_burst_size_mb : 6) * MB,
    maxLineBytes: limits.max_line_size_truncate ? Number.MAX_SAFE_INTEGER : (bytesOf(limits.max_line_size) ?? d.maxLineBytes),
    creationGraceMs: msOf(limits.creation_grace_period) ?? d.creationGraceMs,
    rejectOldSamples: limits.reject_old_samples ?? d.rejectOldSamples,
    rejectOldSamplesMaxAgeMs: msOf(limits.reject_old_samples_max_age) ?? d.rejectOldSamplesMaxAgeMs,
    outOfOrderWindowMs: chunkAge / 2,
    maxEntriesPerQuery: typeof limits.max_entries_limit_per_query === 'number' ? limits.max_entries_limit_per_query : d.maxEntriesPerQuery,
  };
}

export interface LokiEntry {
  tsNs: bigint;
  line: string;
  index: Record<string, string>;
  metadata: Record<string, string>;
}

// --- OTLP protobuf decoding (opentelemetry-proto logs.proto / common.proto): only what Loki reads. ---------

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('varint too long');
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  fixed64(): bigint {
    if (this.pos + 8 > this.buf.length) throw new Error('truncated fixed64');
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  *fields(): Generator<{ field: number; wire: number }> {
    while (!this.done) {
      const tag = Number(this.varint());
      yield { field: tag >> 3, wire: tag & 7 };
    }
  }
}

function anyValueToString(buf: Buffer): string {
  const r = new Reader(buf);
  for (const { field, wire } of r.fields()) {
    if (field === 1 && wire === 2) return r.bytes().toString('utf8');
    if (field === 2 && wire === 0) return String(r.varint() !== 0n);
    if (field === 3 && wire === 0) return BigInt.asIntN(64, r.varint()).toString();
    if (field === 4 && wire === 1) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(r.fixed64());
      return String(b.readDoubleLE());
    }
    r.skip(wire);
  }
  return '';
}

function keyValue(buf: Buffer): [string, string] {
  const r = new Reader(buf);
  let key = '';
  let value = '';
  for (const { field, wire } of r.fields()) {
    if (field === 1 && wire === 2) key = r.bytes().toString('utf8');
    else if (field === 2 && wire === 2) value = anyValueToString(r.bytes());
    else r.skip(wire);
  }
  return [key, value];
}

interface DecodedRecord {
  resource: Record<string, string>;
  attributes: Record<string, string>;
  tsNs: bigint;
  observedNs: bigint;
  body: string;
  traceId: string;
  spanId: string;
  severityText: string;
}

function decodeLogRecord(buf: Buffer, resource: Record<string, string>): DecodedRecord {
  const r = new Reader(buf);
  const rec: DecodedRecord = { resource, attributes: {}, tsNs: 0n, observedNs: 0n, body: '', traceId: '', spanId: '', severityText: '' };
  for (const { field, wire } of r.fields()) {
    if (field === 1 && wire === 1) rec.tsNs = r.fixed64();
    else if (field === 11 && wire === 1) rec.observedNs = r.fixed64();
    else if (field === 3 && wire === 2) rec.severityText = r.bytes().toString('utf8');
    else if (field === 5 && wire === 2) rec.body = anyValueToString(r.bytes());
    else if (field === 6 && wire === 2) {
      const [k, v] = keyValue(r.bytes());
      rec.attributes[k] = v;
    } else if (field === 9 && wire === 2) rec.traceId = r.bytes().toString('hex');
    else if (field === 10 && wire === 2) rec.spanId = r.bytes().toString('hex');
    else r.skip(wire);
  }
  return rec;
}

export function decodeLogsProtobuf(buf: Buffer): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  const top = new Reader(buf);
  for (const { field, wire } of top.fields()) {
    if (field !== 1 || wire !== 2) {
      top.skip(wire);
      continue;
    }
    const rl = new Reader(top.bytes());
    const resource: Record<string, string> = {};
    const scopes: Buffer[] = [];
    for (const f of rl.fields()) {
      if (f.field === 1 && f.wire === 2) {
        const res = new Reader(rl.bytes());
        for (const g of res.fields()) {
          if (g.field === 1 && g.wire === 2) {
            const [k, v] = keyValue(res.bytes());
            resource[k] = v;
          } else res.skip(g.wire);
        }
      } else if (f.field === 2 && f.wire === 2) scopes.push(rl.bytes());
      else rl.skip(f.wire);
    }
    for (const s of scopes) {
      const sr = new Reader(s);
      for (const f of sr.fields()) {
        if (f.field === 2 && f.wire === 2) out.push(decodeLogRecord(sr.bytes(), resource));
        else sr.skip(f.wire);
      }
    }
  }
  return out;
}

function jsonAnyValue(v: any): string {
  if (!v || typeof v !== 'object') return '';
  if ('stringValue' in v) return String(v.stringValue);
  if ('intValue' in v) return String(v.intValue);
  if ('boolValue' in v) return String(v.boolValue);
  if ('doubleValue' in v) return String(v.doubleValue);
  return JSON.stringify(v);
}

export function decodeLogsJson(doc: any): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  for (const rl of doc?.resourceLogs ?? []) {
    const resource: Record<string, string> = {};
    for (const a of rl.resource?.attributes ?? []) resource[a.key] = jsonAnyValue(a.value);
    for (const sl of rl.scopeLogs ?? []) {
      for (const lr of sl.logRecords ?? []) {
        const attributes: Record<string, string> = {};
        for (const a of lr.attributes ?? []) attributes[a.key] = jsonAnyValue(a.value);
        out.push({
          resource,
          attributes,
          tsNs: BigInt(lr.timeUnixNano ?? 0),
          observedNs: BigInt(lr.observedTimeUnixNano ?? 0),
          body: jsonAnyValue(lr.body),
          traceId: String(lr.traceId ?? ''),
          spanId: String(lr.spanId ?? ''),
          severityText: String(lr.severityText ?? ''),
        });
      }
    }
  }
  return out;
}

// --- the store -------------------------------------------------------------------------------------------

const labelName = (k: string) => k.replace(/[^A-Za-z0-9_]/g, '_');
const labelKey = (labels: Record<string, string>) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');

export interface PushOutcome {
  status: number;
  accepted: number;
  refused: number;
  reason?: string;
}

export class LokiStandin {
  readonly entries: LokiEntry[] = [];
  /** Every push answered, in order (status, accepted and refused entries). */
  readonly pushes: PushOutcome[] = [];
  private readonly newestByStream = new Map<string, bigint>();
  private tokens: number;
  private lastRefill = Date.now();
  private server: Server | undefined;

  private constructor(
    readonly limits: LokiLimits,
    private readonly now: () => number,
  ) {
    this.tokens = limits.ingestionBurstBytes;
  }

  static async start(opts: { limits?: LokiLimits; port?: number; now?: () => number } = {}): Promise<LokiStandin> {
    const s = new LokiStandin(opts.limits ?? { ...LOKI_DEFAULT_LIMITS }, opts.now ?? Date.now);
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((resolve) => s.server!.listen(opts.port ?? 0, '127.0.0.1', resolve));
    return s;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => {
      s.closeAllConnections();
      s.close(() => r());
    });
  }

  /** Entries of one session, as stored. */
  session(sessionId: string): LokiEntry[] {
    return this.entries.filter((e) => e.index.session_id === sessionId);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    try {
      if (req.method === 'POST' && url.pathname === '/otlp/v1/logs') {
        if ((req.headers['content-encoding'] ?? '').includes('gzip')) body = gunzipSync(body);
        const out = this.push(body, (req.headers['content-type'] ?? ''));
        this.pushes.push(out);
        res.writeHead(out.status, { 'content-type': 'text/plain' }).end(out.reason ?? '');
        return;
      }
      if (req.method === 'GET' && url.pathname === '/loki/api/v1/query_range') {
        const { status, doc } = this.queryRange(url.searchParams);
        res.writeHead(status, { 'content-type': status === 200 ? 'application/json' : 'text/plain' }).end(typeof doc === 'string' ? doc : JSON.stringify(doc));
        return;
      }
      if (url.pathname === '/ready') {
        res.writeHead(200).end('ready');
        return;
      }
      res.writeHead(404).end('404 page not found');
    } catch (err) {
      res.writeHead(400).end((err as Error).message);
    }
  }

  /** One push, judged like Loki judges it. Exposed for unit tests of the limits themselves. */
  push(payload: Buffer, contentType: string): PushOutcome {
    if (payload.length > this.limits.grpcMaxMessageBytes) {
      return {
        status: 503,
        accepted: 0,
        refused: 0,
        reason: `rpc error: code = ResourceExhausted desc = grpc: received message larger than max (${payload.length} vs. ${this.limits.grpcMaxMessageBytes})`,
      };
    }
    const records = contentType.includes('json') ? decodeLogsJson(JSON.parse(payload.toString('utf8'))) : decodeLogsProtobuf(payload);
    const lineBytes = records.reduce((n, r) => n + Buffer.byteLength(r.body), 0);
    this.refill();
    if (lineBytes > this.tokens) {
      return {
        status: 429,
        accepted: 0,
        refused: 0,
        reason: `ingestion rate limit exceeded for user fake (limit: ${this.limits.ingestionRateBytesPerSec} bytes/sec) while attempting to ingest '${records.length}' lines totaling '${lineBytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased`,
      };
    }
    this.tokens -= lineBytes;
    const nowNs = BigInt(this.now()) * 1_000_000n;
    const errors: string[] = [];
    let accepted = 0;
    for (const r of records) {
      const index: Record<string, string> = {};
      if (r.resource['service.name'] !== undefined) index.service_name = r.resource['service.name'];
      if (r.attributes['session.id'] !== undefined) index.session_id = r.attributes['session.id'];
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.attributes)) if (k !== 'session.id') metadata[labelName(k)] = v;
      if (r.traceId) metadata.trace_id = r.traceId;
      if (r.spanId) metadata.span_id = r.spanId;
      if (r.severityText) metadata.severity_text = r.severityText;
      // Loki takes the record's timestamp, or the observed one when it is unset.
      const ts = r.tsNs !== 0n ? r.tsNs : r.observedNs !== 0n ? r.observedNs : nowNs;
      const stream = labelKey(index);
      const newest = this.newestByStream.get(stream);
      const ms = 1_000_000n;
      if (Buffer.byteLength(r.body) > this.limits.maxLineBytes) errors.push(`line too long for stream {${stream}}`);
      else if (ts > nowNs + BigInt(this.limits.creationGraceMs) * ms) errors.push(`entry for stream '{${stream}}' has timestamp too new: ${ts} (too_far_in_future)`);
      else if (this.limits.rejectOldSamples && ts < nowNs - BigInt(this.limits.rejectOldSamplesMaxAgeMs) * ms) errors.push(`entry for stream '{${stream}}' has timestamp too old: ${ts}`);
      else if (newest !== undefined && ts < newest - BigInt(this.limits.outOfOrderWindowMs) * ms) errors.push(`entry with timestamp ${ts} ignored, it's too far behind - oldest acceptable timestamp is ${newest - BigInt(this.limits.outOfOrderWindowMs) * ms}`);
      else {
        this.entries.push({ tsNs: ts, line: r.body, index, metadata });
        if (newest === undefined || ts > newest) this.newestByStream.set(stream, ts);
        accepted++;
        continue;
      }
    }
    if (errors.length) return { status: 400, accepted, refused: errors.length, reason: errors.slice(0, 10).join('\n') };
    return { status: 204, accepted, refused: 0 };
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.limits.ingestionBurstBytes, this.tokens + ((t - this.lastRefill) / 1000) * this.limits.ingestionRateBytesPerSec);
    this.lastRefill = t;
  }

  queryRange(params: URLSearchParams): { status: number; doc: unknown } {
    const limit = Number(params.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit <= 0) return { status: 400, doc: 'invalid limit' };
    if (limit > this.limits.maxEntriesPerQuery) {
      return { status: 400, doc: `max entries limit per query exceeded, limit > max_entries_limit_per_query (${limit} > ${this.limits.maxEntriesPerQuery})` };
    }
    const selector = /^\{([^}]*)\}\s*$/.exec((params.get('query') ?? '').trim());
    if (!selector) return { status: 400, doc: 'parse error: only stream selectors are supported by this stand-in' };
    const matchers: Array<[string, string]> = [];
    for (const part of selector[1]!.split(',').map((p) => p.trim()).filter(Boolean)) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"$/.exec(part);
      if (!m) return { status: 400, doc: `parse error: unsupported matcher ${part}` };
      matchers.push([m[1]!, JSON.parse(`"${m[2]}"`) as string]);
    }
    const nowNs = BigInt(this.now()) * 1_000_000n;
    const end = BigInt(params.get('end') ?? nowNs);
    const start = BigInt(params.get('start') ?? end - 3_600_000_000_000n);
    const forward = params.get('direction') === 'forward';
    const picked = this.entries
      .filter((e) => e.tsNs >= start && e.tsNs < end && matchers.every(([k, v]) => (e.index[k] ?? e.metadata[k]) === v))
      .sort((a, b) => (a.tsNs === b.tsNs ? 0 : (a.tsNs < b.tsNs) === forward ? -1 : 1))
      .slice(0, limit);
    const streams = new Map<string, { stream: Record<string, string>; values: Array<[string, string]> }>();
    for (const e of picked) {
      const labels = { ...e.index, ...e.metadata };
      const k = labelKey(labels);
      let s = streams.get(k);
      if (!s) streams.set(k, (s = { stream: labels, values: [] }));
      s.values.push([e.tsNs.toString(), e.line]);
    }
    const result = [...streams.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
    return { status: 200, doc: { status: 'success', data: { resultType: 'streams', result, stats: {} } } };
  }
}
