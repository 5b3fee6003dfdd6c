import type { JsonObject } from '../../record/canonical-json.js';
import { decodeRecord, isCanonicalBody, type AuditRecordBody } from '../../record/decode.js';
import { sha256Hex } from '../../integrity/hash.js';
import type { ParsedRecord, Problem, RecordSource } from '../types.js';

/** One parsed, shape-checked audit body. */
export interface Rec {
  index: number;
  body: string;
  hash: string;
  source?: RecordSource;
  /** The decoded body, with any keys the writer does not emit (they are part of the evidence). */
  obj: AuditRecordBody;
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

export function where(source: RecordSource | undefined): string {
  return source ? ` (${source.file}:${source.line})` : '';
}

function hintOf(r: ParsedRecord): string | undefined {
  if (r.sessionHint) return r.sessionHint;
  const a = r.attributes?.['session.id'];
  return typeof a === 'string' && a ? a : undefined;
}

/** Parse and shape-check one body (record/decode.ts). Returns the record or a reason. */
export function parseRecord(r: ParsedRecord, index: number): { rec: Rec } | { reason: string; session?: string } {
  const decoded = decodeRecord(r.body);
  if (!decoded.ok) return decoded.session === undefined ? { reason: decoded.reason } : { reason: decoded.reason, session: decoded.session };
  const b = decoded.record;
  return {
    rec: {
      index,
      body: r.body,
      hash: sha256Hex(r.body),
      source: r.source,
      obj: b,
      session: b.session,
      seq: b.seq,
      prev: b.prev,
      ts: b.ts,
      event: b.event,
      traceId: b.trace_id,
      spanId: b.span_id,
      data: b.data,
      mac: b.mac,
      canonical: isCanonicalBody(b, r.body),
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
