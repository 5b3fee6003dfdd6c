import { canonicalize, type JsonObject } from '../../record/canonical-json.js';
import { sha256Hex } from '../../integrity/hash.js';
import { isAuditEventName } from '../../semconv/events.js';
import type { ParsedRecord, Problem, RecordSource } from '../types.js';

/** One parsed, shape-checked audit body. */
export interface Rec {
  index: number;
  body: string;
  hash: string;
  source?: RecordSource;
  obj: JsonObject;
  session: string;
  seq: number;
  prev: string;
  ts: string;
  event: string;
  traceId: string;
  spanId: string;
  data: JsonObject;
  mac: string | null;
  canonical: boolean;
}

/** The records filed under one session id, and what was found while grouping them. */
export interface Group {
  session: string;
  recs: Rec[];
  problems: Problem[];
  sources: Set<string>;
}

export const HEX64 = /^[0-9a-f]{64}$/;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function where(source: RecordSource | undefined): string {
  return source ? ` (${source.file}:${source.line})` : '';
}

function hintOf(r: ParsedRecord): string | undefined {
  if (r.sessionHint) return r.sessionHint;
  const a = r.attributes?.['session.id'];
  return typeof a === 'string' && a ? a : undefined;
}

/** Parse and shape-check one body. Returns the record or a reason. */
export function parseRecord(r: ParsedRecord, index: number): { rec: Rec } | { reason: string; session?: string } {
  let obj: unknown;
  try {
    obj = JSON.parse(r.body);
  } catch (err) {
    return { reason: `body is not JSON (${(err as Error).message})` };
  }
  if (!isObject(obj)) return { reason: 'body is not a JSON object' };
  const session = typeof obj.session === 'string' ? obj.session : undefined;
  const bad = (what: string) => ({ reason: what, session });
  if (!session) return bad('no session');
  if (obj.v !== 1) return bad(`unknown body version ${JSON.stringify(obj.v)}`);
  if (typeof obj.seq !== 'number' || !Number.isSafeInteger(obj.seq) || obj.seq < 0) return bad('seq is not a non-negative integer');
  if (typeof obj.prev !== 'string' || !HEX64.test(obj.prev)) return bad('prev is not a SHA-256 hex digest');
  if (typeof obj.ts !== 'string') return bad('ts is not a string');
  if (typeof obj.event !== 'string' || !isAuditEventName(obj.event)) return bad(`unknown event ${JSON.stringify(obj.event).slice(0, 80)}`);
  if (typeof obj.trace_id !== 'string' || typeof obj.span_id !== 'string') return bad('trace_id/span_id missing');
  if (!isObject(obj.data)) return bad('data is not an object');
  if (obj.mac !== null && (typeof obj.mac !== 'string' || !HEX64.test(obj.mac))) return bad('mac is neither null nor a hex HMAC');
  let canonical = false;
  try {
    canonical = canonicalize(obj) === r.body;
  } catch {
    canonical = false;
  }
  return {
    rec: {
      index,
      body: r.body,
      hash: sha256Hex(r.body),
      source: r.source,
      obj,
      session,
      seq: obj.seq,
      prev: obj.prev,
      ts: obj.ts,
      event: obj.event,
      traceId: obj.trace_id,
      spanId: obj.span_id,
      data: obj.data,
      mac: obj.mac as string | null,
      canonical,
    },
  };
}

/**
 * Group records by the session their body names. A record the transport filed under another
 * session (hint) is also reported there as foreign; an unparsable one is malformed in its hint's group.
 */
export function groupRecords(records: readonly ParsedRecord[]): { groups: Map<string, Group>; byHash: Map<string, Rec> } {
  const groups = new Map<string, Group>();
  const group = (session: string): Group => {
    let g = groups.get(session);
    if (!g) {
      g = { session, recs: [], problems: [], sources: new Set() };
      groups.set(session, g);
    }
    return g;
  };
  const byHash = new Map<string, Rec>();
  records.forEach((r, index) => {
    const parsed = parseRecord(r, index);
    const hint = hintOf(r);
    if ('reason' in parsed) {
      const g = group(hint ?? parsed.session ?? '(unparsed)');
      if (r.source) g.sources.add(r.source.file);
      g.problems.push({ code: 'malformed', severity: 'error', message: `${parsed.reason}${where(r.source)}`, source: r.source });
      return;
    }
    const rec = parsed.rec;
    const g = group(rec.session);
    if (r.source) g.sources.add(r.source.file);
    g.recs.push(rec);
    if (!byHash.has(rec.hash)) byHash.set(rec.hash, rec);
    if (hint !== undefined && hint !== rec.session) {
      const h = group(hint);
      if (r.source) h.sources.add(r.source.file);
      h.problems.push({
        code: 'foreign_record',
        severity: 'error',
        seq: rec.seq,
        message: `record of session ${rec.session} (seq ${rec.seq}) filed under this session${where(r.source)}`,
        source: r.source,
      });
    }
  });
  return { groups, byHash };
}
