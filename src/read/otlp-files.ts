import { decryptSegments, isEncryptedText, SegmentError } from '../at-rest/segments.js';
import type { AtRestIdentity } from '../at-rest/keys.js';
import type { Sodium } from '../at-rest/sodium.js';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';

/** Where a record was read from, for error messages and verification reports. */
export interface SourceRef {
  file: string;
  line: number;
}

export type AttributeMap = Record<string, unknown>;

export interface LogEntry {
  source: SourceRef;
  /** The log body as a string (audit bodies are canonical JSON strings). */
  body: string;
  attributes: AttributeMap;
  resource: AttributeMap;
  traceId: string;
  spanId: string;
  timeUnixNano: string;
  severityText: string;
}

export interface SpanEntry {
  source: SourceRef;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: AttributeMap;
  resource: AttributeMap;
  statusCode: number;
  statusMessage: string;
}

export interface AuditData {
  logs: LogEntry[];
  spans: SpanEntry[];
  files: string[];
}

/** Input that cannot be read or parsed: the CLI maps it to exit code 2. */
export class InputError extends Error {
  override name = 'InputError';
  constructor(message: string, readonly source?: SourceRef | { file: string }) {
    super(source ? `${source.file}${'line' in source ? `:${source.line}` : ''}: ${message}` : message);
  }
}

// Rotated archives are renamed `name.json-<timestamp>.zst` by the Collector's rotation: match on the last suffix.
/** How to read files encrypted at rest (src/at-rest/). */
export interface ReadOptions {
  /** The security team's identity and the loaded crypto module (loadAtRestIdentity). */
  atRest?: { identity: AtRestIdentity; sodium: Sodium };
}

/** Encrypted sink files become their plaintext lines; without an identity they are an input error (exit 2). */
function decryptIfSealed(text: string, file: string, options: ReadOptions): string {
  if (!isEncryptedText(text)) return text;
  if (!options.atRest) throw new InputError('input is encrypted at rest (oi-audit segments): give the security team\'s identity with --identity FILE', { file });
  try {
    return decryptSegments(text, options.atRest.identity, options.atRest.sodium)
      .flatMap((seg) => seg.lines)
      .join('\n');
  } catch (err) {
    if (err instanceof SegmentError) throw new InputError(err.message, { file, line: err.line });
    throw err;
  }
}

const DATA_FILE = /\.(jsonl|json|ndjson|gz|zst)$/i;
const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The Collector's file exporter with `compression: zstd` writes each export request as a 4-byte
 * big-endian length followed by a zstd frame. Decoded with fzstd (pure JS: Node 20's zlib has no zstd).
 */
function isZstdFramed(bytes: Buffer): boolean {
  return bytes.length >= 8 && bytes.readUInt32LE(4) === ZSTD_MAGIC;
}

function readZstdFramed(bytes: Buffer, file: string): string[] {
  const docs: string[] = [];
  let offset = 0;
  while (offset + 4 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    if (offset + 4 + length > bytes.length) throw new InputError(`truncated zstd frame at byte ${offset}`, { file });
    try {
      docs.push(Buffer.from(zstdDecompress(bytes.subarray(offset + 4, offset + 4 + length))).toString('utf8'));
    } catch (error) {
      throw new InputError(`corrupt zstd frame at byte ${offset}: ${(error as Error).message}`, { file });
    }
    offset += 4 + length;
  }
  return docs;
}

/** Expand paths: files as given, directories recursively (files ending .jsonl/.json/.ndjson/.gz/.zst). */
export function expandPaths(paths: string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    let stat;
    try {
      stat = statSync(path);
    } catch (error) {
      throw new InputError(`cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { file: path });
    }
    if (stat.isDirectory()) {
      const entries = readdirSync(path).sort();
      const nested = entries.map((e) => join(path, e)).filter((p) => statSync(p).isDirectory() || DATA_FILE.test(p));
      files.push(...expandPaths(nested));
    } else {
      files.push(path);
    }
  }
  return files;
}

function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InputError(`cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { file });
  }
}

function readText(file: string, raw: Buffer): string {
  let bytes = raw;
  // gzip by magic number, whatever the name (the Collector's rotation compresses old files).
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new InputError(`corrupt gzip data: ${(error as Error).message}`, { file });
    }
  }
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD') && !isValidUtf8(bytes)) throw new InputError('not valid UTF-8 text', { file });
  return text;
}

function isValidUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown, what: string, source: SourceRef): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InputError(`${what} is not an array`, source);
  return value;
}

/** OTLP JSON AnyValue → plain JS value. */
export function anyValue(value: unknown): unknown {
  if (!isObject(value)) return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('boolValue' in value) return value.boolValue;
  if ('bytesValue' in value) return value.bytesValue;
  if ('arrayValue' in value) return ((value.arrayValue as Json | undefined)?.values as unknown[] | undefined ?? []).map(anyValue);
  if ('kvlistValue' in value) return attributeMap((value.kvlistValue as Json | undefined)?.values);
  return undefined;
}

export function attributeMap(list: unknown): AttributeMap {
  const out: AttributeMap = {};
  if (!Array.isArray(list)) return out;
  for (const kv of list) if (isObject(kv) && typeof kv.key === 'string') out[kv.key] = anyValue(kv.value);
  return out;
}

function bodyString(body: unknown): string {
  const value = anyValue(body);
  if (typeof value === 'string') return value;
  return value === undefined ? '' : JSON.stringify(value);
}

function parseLogsRequest(doc: Json, source: SourceRef, out: AuditData): void {
  for (const rl of asArray(doc.resourceLogs, 'resourceLogs', source)) {
    if (!isObject(rl)) throw new InputError('resourceLogs entry is not an object', source);
    const resource = attributeMap((rl.resource as Json | undefined)?.attributes);
    for (const sl of asArray(rl.scopeLogs, 'scopeLogs', source)) {
      if (!isObject(sl)) throw new InputError('scopeLogs entry is not an object', source);
      for (const lr of asArray(sl.logRecords, 'logRecords', source)) {
        if (!isObject(lr)) throw new InputError('logRecord is not an object', source);
        out.logs.push({
          source,
          body: bodyString(lr.body),
          attributes: attributeMap(lr.attributes),
          resource,
          traceId: String(lr.traceId ?? ''),
          spanId: String(lr.spanId ?? ''),
          timeUnixNano: String(lr.timeUnixNano ?? lr.observedTimeUnixNano ?? '0'),
          severityText: String(lr.severityText ?? ''),
        });
      }
    }
  }
}

function parseTracesRequest(doc: Json, source: SourceRef, out: AuditData): void {
  for (const rs of asArray(doc.resourceSpans, 'resourceSpans', source)) {
    if (!isObject(rs)) throw new InputError('resourceSpans entry is not an object', source);
    const resource = attributeMap((rs.resource as Json | undefined)?.attributes);
    for (const ss of asArray(rs.scopeSpans, 'scopeSpans', source)) {
      if (!isObject(ss)) throw new InputError('scopeSpans entry is not an object', source);
      for (const sp of asArray(ss.spans, 'spans', source)) {
        if (!isObject(sp)) throw new InputError('span is not an object', source);
        const status = isObject(sp.status) ? sp.status : {};
        out.spans.push({
          source,
          traceId: String(sp.traceId ?? ''),
          spanId: String(sp.spanId ?? ''),
          parentSpanId: String(sp.parentSpanId ?? ''),
          name: String(sp.name ?? ''),
          startTimeUnixNano: String(sp.startTimeUnixNano ?? '0'),
          endTimeUnixNano: String(sp.endTimeUnixNano ?? '0'),
          attributes: attributeMap(sp.attributes),
          resource,
          statusCode: Number(status.code ?? 0),
          statusMessage: String(status.message ?? ''),
        });
      }
    }
  }
}

/** Loki `/loki/api/v1/query_range` (or `query`) output: each stream value's line is the log body. */
function parseLokiResponse(doc: Json, source: SourceRef, out: AuditData): void {
  const data = doc.data;
  if (!isObject(data) || data.resultType !== 'streams') throw new InputError('Loki response is not a streams result', source);
  for (const stream of asArray(data.result, 'data.result', source)) {
    if (!isObject(stream)) throw new InputError('Loki stream is not an object', source);
    const labels = isObject(stream.stream) ? stream.stream : {};
    // Loki answers newest first by default (direction=backward): that order is the query's, not the store's.
    const ns = (v: unknown) => (Array.isArray(v) && /^\d{1,30}$/.test(String(v[0])) ? BigInt(String(v[0])) : 0n);
    const raw = [...asArray(stream.values, 'values', source)];
    // A backward answer is reversed whole first, so entries with equal timestamps keep ingestion order.
    if (raw.length > 1 && ns(raw[0]) > ns(raw[raw.length - 1])) raw.reverse();
    const values = raw.sort((a, b) => {
      const d = ns(a) - ns(b);
      return d < 0n ? -1 : d > 0n ? 1 : 0;
    });
    for (const value of values) {
      if (!Array.isArray(value) || typeof value[0] !== 'string' || typeof value[1] !== 'string') {
        throw new InputError('Loki value is not [timestamp, line]', source);
      }
      const metadata = isObject(value[2]) ? value[2] : {};
      const structured = isObject(metadata.structuredMetadata) ? metadata.structuredMetadata : metadata;
      out.logs.push({
        source,
        body: value[1],
        attributes: { ...structured },
        resource: { ...labels },
        traceId: String(structured.trace_id ?? ''),
        spanId: String(structured.span_id ?? ''),
        timeUnixNano: value[0],
        severityText: String(labels.severity_text ?? structured.severity_text ?? ''),
      });
    }
  }
}

function parseDocument(doc: unknown, source: SourceRef, out: AuditData): void {
  if (!isObject(doc)) throw new InputError('line is not a JSON object', source);
  if ('resourceLogs' in doc) parseLogsRequest(doc, source, out);
  else if ('resourceSpans' in doc) parseTracesRequest(doc, source, out);
  else if ('status' in doc && 'data' in doc) parseLokiResponse(doc, source, out);
  else if ('resourceMetrics' in doc) return;
  else throw new InputError('not an OTLP JSON export request (resourceLogs/resourceSpans) nor a Loki query result', source);
}

/**
 * Read OTLP JSON lines (embedded sink, Collector file exporter, plain or gzip) and Loki query output.
 * Any malformed line is an InputError naming file and line: a verifier must not guess past bad input.
 */
export function readAuditFiles(paths: string[], options: ReadOptions = {}): AuditData {
  const out: AuditData = { logs: [], spans: [], files: [] };
  for (const file of expandPaths(paths)) {
    out.files.push(file);
    const raw = readBytes(file);
    if (isZstdFramed(raw)) {
      readZstdFramed(raw, file).forEach((doc, i) => {
        const source = { file, line: i + 1 };
        let parsed: unknown;
        try {
          parsed = JSON.parse(doc);
        } catch (error) {
          throw new InputError(`malformed JSON in zstd frame: ${(error as Error).message}`, source);
        }
        parseDocument(parsed, source, out);
      });
      continue;
    }
    const text = decryptIfSealed(readText(file, raw), file, options);
    const trimmed = text.trimStart();
    // A Loki query result is one (possibly pretty-printed) JSON document.
    if (trimmed.startsWith('{') && /^\{\s*"status"/.test(trimmed)) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (error) {
        throw new InputError(`malformed JSON: ${(error as Error).message}`, { file, line: 1 });
      }
      parseDocument(doc, { file, line: 1 }, out);
      continue;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line.length === 0) continue;
      const source = { file, line: i + 1 };
      let doc: unknown;
      try {
        doc = JSON.parse(line);
      } catch (error) {
        throw new InputError(`malformed JSON: ${(error as Error).message}`, source);
      }
      parseDocument(doc, source, out);
    }
  }
  return out;
}
