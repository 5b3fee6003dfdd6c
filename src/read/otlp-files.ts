import { fieldText } from '../record/field-text.js';
import { isObject } from '../record/json-shape.js';
import { decryptSegments, isEncryptedText, SegmentError } from '../at-rest/segments.js';
import type { AtRestIdentity } from '../at-rest/keys.js';
import type { Sodium } from '../at-rest/sodium.js';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { nestsDeeperThan, READ_LIMITS } from './limits.js';

/** Where a record was read from, for error messages and verification reports. */
export interface SourceRef {
  file: string;
  line: number;
  /** false for a Loki answer: records with equal timestamps come back in any order (see verify). */
  ordered?: boolean;
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

// Shared by every reader of input files (src/errors/input-error.ts); re-exported here as before.
import { InputError } from '../errors/input-error.js';

export { InputError };

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

const CHUNK = 1024 * 1024;

/** The first bytes of a file (to tell gzip, zstd, a Loki answer and JSON lines apart). */
function readHead(file: string, n: number): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } catch (error) {
    throw new InputError(`cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { file });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function tooLong(file: string, line: number): InputError {
  return new InputError(`line longer than ${READ_LIMITS.maxLineBytes / (1024 * 1024)} MiB`, { file, line });
}

/**
 * The lines of a plain file, read in 1 MiB chunks so that memory stays bounded by the longest line
 * accepted (a 200 MB line is refused after 64 MiB, not loaded whole).
 */
function* plainLines(file: string): Generator<Buffer> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new InputError(`cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { file });
  }
  try {
    const chunk = Buffer.alloc(CHUNK);
    let parts: Buffer[] = [];
    let partBytes = 0;
    let line = 1;
    for (;;) {
      const got = readSync(fd, chunk, 0, CHUNK, null);
      if (got === 0) break;
      let at = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, at);
        if (nl < 0 || nl >= got) {
          partBytes += got - at;
          if (partBytes > READ_LIMITS.maxLineBytes) throw tooLong(file, line);
          parts.push(Buffer.from(chunk.subarray(at, got)));
          break;
        }
        if (partBytes + nl - at > READ_LIMITS.maxLineBytes) throw tooLong(file, line);
        parts.push(chunk.subarray(at, nl));
        yield parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        parts = [];
        partBytes = 0;
        line++;
        at = nl + 1;
      }
    }
    if (partBytes > 0) yield Buffer.concat(parts);
  } finally {
    closeSync(fd);
  }
}

/** The lines of a decompressed buffer (views, not copies). */
function* bufferLines(bytes: Buffer, file: string): Generator<Buffer> {
  let at = 0;
  let line = 1;
  while (at < bytes.length) {
    let nl = bytes.indexOf(0x0a, at);
    if (nl < 0) nl = bytes.length;
    if (nl - at > READ_LIMITS.maxLineBytes) throw tooLong(file, line);
    yield bytes.subarray(at, nl);
    at = nl + 1;
    line++;
  }
}

/** gzip, decompressed up to the cap: a bomb is refused when it reaches it, not expanded whole. */
function gunzipBounded(raw: Buffer, file: string): Buffer {
  try {
    return gunzipSync(raw, { maxOutputLength: READ_LIMITS.maxDecompressedBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) {
      throw new InputError(`gzip data decompresses to more than ${READ_LIMITS.maxDecompressedBytes / (1024 * 1024)} MiB (the limit per file)`, { file });
    }
    throw new InputError(`corrupt gzip data: ${(error as Error).message}`, { file });
  }
}

function decodeUtf8(bytes: Buffer, source: SourceRef | { file: string }): string {
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD') && !isValidUtf8(bytes)) throw new InputError('not valid UTF-8 text', source);
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

function bodyString(body: unknown, source: SourceRef): string {
  const value = anyValue(body);
  const text = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
  return checkedBody(text, source);
}

/** A body nested deeper than any audit event is refused here, before a recursive consumer sees it. */
function checkedBody(text: string, source: SourceRef): string {
  if (nestsDeeperThan(text, READ_LIMITS.maxDepth)) throw new InputError(`log body nests deeper than ${READ_LIMITS.maxDepth} levels`, source);
  return text;
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
          body: bodyString(lr.body, source),
          attributes: attributeMap(lr.attributes),
          resource,
          traceId: fieldText(lr.traceId ?? ''),
          spanId: fieldText(lr.spanId ?? ''),
          timeUnixNano: fieldText(lr.timeUnixNano ?? lr.observedTimeUnixNano ?? '0'),
          severityText: fieldText(lr.severityText ?? ''),
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
          traceId: fieldText(sp.traceId ?? ''),
          spanId: fieldText(sp.spanId ?? ''),
          parentSpanId: fieldText(sp.parentSpanId ?? ''),
          name: fieldText(sp.name ?? ''),
          startTimeUnixNano: fieldText(sp.startTimeUnixNano ?? '0'),
          endTimeUnixNano: fieldText(sp.endTimeUnixNano ?? '0'),
          attributes: attributeMap(sp.attributes),
          resource,
          statusCode: Number(status.code ?? 0),
          statusMessage: fieldText(status.message ?? ''),
        });
      }
    }
  }
}

/** Loki `/loki/api/v1/query_range` (or `query`) output: each stream value's line is the log body. */
function parseLokiResponse(doc: Json, docSource: SourceRef, out: AuditData): void {
  // Loki keeps no order among records with equal timestamps (and sorts streams by labels): their
  // position in the answer is no evidence, so verify reads them in seq order.
  const source: SourceRef = { ...docSource, ordered: false };
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
        body: checkedBody(value[1], source),
        attributes: { ...structured },
        resource: { ...labels },
        traceId: fieldText(structured.trace_id ?? ''),
        spanId: fieldText(structured.span_id ?? ''),
        timeUnixNano: value[0],
        severityText: fieldText(labels.severity_text ?? structured.severity_text ?? ''),
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

function parseLine(text: string, source: SourceRef, out: AuditData, what = 'malformed JSON'): void {
  if (nestsDeeperThan(text, READ_LIMITS.maxDepth)) throw new InputError(`JSON nests deeper than ${READ_LIMITS.maxDepth} levels`, source);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${what}: ${(error as Error).message}`, source);
  }
  parseDocument(doc, source, out);
}

/** A Loki query result is one (possibly pretty-printed) JSON document. */
const LOKI_HEAD = /^\s*\{\s*"status"/;

function readLines(file: string, lines: Iterable<Buffer>, out: AuditData): void {
  let n = 0;
  for (const bytes of lines) {
    n++;
    const source = { file, line: n };
    const text = decodeUtf8(bytes, source).trim();
    if (text.length === 0) continue;
    parseLine(text, source, out);
  }
}

/**
 * Read OTLP JSON lines (embedded sink, Collector file exporter, plain or gzip) and Loki query output.
 * Any malformed line is an InputError naming file and line: a verifier must not guess past bad input.
 * Work and memory are bounded per line and per file (READ_LIMITS).
 */
export function readAuditFiles(paths: string[], options: ReadOptions = {}): AuditData {
  const out: AuditData = { logs: [], spans: [], files: [] };
  for (const file of expandPaths(paths)) {
    out.files.push(file);
    const head = readHead(file, 64);
    if (isZstdFramed(head)) {
      readZstdFramed(readBytes(file), file).forEach((doc, i) => parseLine(doc, { file, line: i + 1 }, out, 'malformed JSON in zstd frame'));
      continue;
    }
    // gzip by magic number, whatever the name (the Collector's rotation compresses old files).
    const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    const bytes = gzip ? gunzipBounded(readBytes(file), file) : undefined;
    const start = (bytes ?? head).subarray(0, 64).toString('utf8');
    if (isEncryptedText(start)) {
      const whole = bytes ?? readWhole(file);
      if (whole.length > READ_LIMITS.maxDecompressedBytes) throw new InputError(`encrypted file larger than ${READ_LIMITS.maxDecompressedBytes / (1024 * 1024)} MiB`, { file });
      const plain = decryptIfSealed(decodeUtf8(whole, { file }), file, options).split('\n');
      plain.forEach((line, i) => {
        if (line.trim()) parseLine(line, { file, line: i + 1 }, out);
      });
      continue;
    }
    if (LOKI_HEAD.test(start)) {
      const whole = bytes ?? readWhole(file);
      if (whole.length > READ_LIMITS.maxDecompressedBytes) throw new InputError(`Loki answer larger than ${READ_LIMITS.maxDecompressedBytes / (1024 * 1024)} MiB`, { file });
      parseLine(decodeUtf8(whole, { file }), { file, line: 1 }, out);
      continue;
    }
    readLines(file, bytes ? bufferLines(bytes, file) : plainLines(file), out);
  }
  return out;
}

/**
 * The export requests of one plaintext file (zstd-framed archive, gzip or JSON lines), as JSON text each:
 * what `oi-audit seal-archive` re-writes encrypted. An already encrypted file is an InputError.
 */
export function readRequestDocuments(file: string): string[] {
  const head = readHead(file, 64);
  if (isZstdFramed(head)) return readZstdFramed(readBytes(file), file);
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const bytes = gzip ? gunzipBounded(readBytes(file), file) : readBytes(file);
  if (isEncryptedText(bytes.subarray(0, 64).toString('utf8'))) throw new InputError('already encrypted at rest', { file });
  return decodeUtf8(bytes, { file })
    .split('\n')
    .filter((line) => line.trim() !== '');
}

function readWhole(file: string): Buffer {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    size = 0;
  }
  if (size > READ_LIMITS.maxDecompressedBytes) throw new InputError(`Loki answer larger than ${READ_LIMITS.maxDecompressedBytes / (1024 * 1024)} MiB`, { file });
  return readBytes(file);
}
