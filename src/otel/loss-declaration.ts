import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { JsonObject } from '../record/canonical-json.js';
import { sha256Hex } from '../integrity/hash.js';
import { linkHashOfBody } from '../integrity/link.js';
import { ATTR_INTEGRITY_SCHEME } from '../semconv/attributes.js';
import type { LossReport, LostRecord } from './spooling-exporter.js';

/** Most body hashes one loss declaration carries; larger losses are split (the verifier's bound). */
export const MAX_LOST_PER_DECLARATION = 1024;

const HEX64 = /^[0-9a-f]{64}$/;

/** The lost records a v2 declaration commits to, expanded from its `lost_ranges`. */
function declaredRecords(data: unknown): LostRecord[] {
  const out: LostRecord[] = [];
  const ranges = (data as { lost_ranges?: unknown } | undefined)?.lost_ranges;
  if (!Array.isArray(ranges)) return out;
  for (const r of ranges as Array<{ from?: unknown; prev?: unknown; hashes?: unknown }>) {
    if (!Number.isSafeInteger(r?.from) || typeof r.prev !== 'string' || !Array.isArray(r.hashes)) continue;
    let prev = r.prev;
    r.hashes.forEach((h, i) => {
      if (typeof h !== 'string' || !HEX64.test(h)) return;
      out.push({ seq: (r.from as number) + i, hash: h, prev });
      prev = h;
    });
  }
  return out;
}

/**
 * Session, seq, body hash and `prev` of an audit log record, for declaring what a full spool or a
 * full queue dropped: the declaration commits to exactly these (docs/integrity.md §4a).
 */
export interface LogRecordIdentity {
  session: string;
  seq: number;
  isLossEvent: boolean;
  /** Session start/end or checkpoint: what a full spool keeps in its reserve (the rest stays verifiable). */
  isAnchor?: boolean;
  record?: LostRecord;
  /** For a loss event: the seqs (and records) it declares lost. */
  declares?: number[];
  declaredRecords?: LostRecord[];
}

/** The link the verifier will expect in place of this record: D in scheme 3, the body's SHA-256 before. */
function lostRecordHash(record: ReadableLogRecord, body: string, parsed: object): string {
  if (record.attributes[ATTR_INTEGRITY_SCHEME] === 3) {
    try {
      return linkHashOfBody(parsed as JsonObject);
    } catch {
      // not canonicalisable: no writer body is; fall back to the body hash (the verifier reports the gap)
    }
  }
  return sha256Hex(body);
}

export function identifyLogRecord(record: ReadableLogRecord): LogRecordIdentity | undefined {
  const session = record.attributes['session.id'];
  const seq = record.attributes['oi_audit.event.seq'];
  if (typeof session !== 'string' || typeof seq !== 'number') return undefined;
  // Audit bodies are JSON text; anything else is not one of ours.
  if (typeof record.body !== 'string') return undefined;
  const body = record.body;
  let parsed: { prev?: unknown; data?: unknown } | undefined;
  try {
    parsed = JSON.parse(body) as { prev?: unknown; data?: unknown };
  } catch {
    parsed = undefined;
  }
  const lost: LostRecord | undefined = typeof parsed?.prev === 'string' ? { seq, hash: lostRecordHash(record, body, parsed), prev: parsed.prev } : undefined;
  const name = record.attributes['event.name'];
  const isAnchor = name === 'oi_audit.session.start' || name === 'oi_audit.session.end' || name === 'oi_audit.integrity.checkpoint';
  const base = lost ? { session, seq, isAnchor, record: lost } : { session, seq, isAnchor };
  if (name !== 'oi_audit.audit.loss') return { ...base, isLossEvent: false };
  // What this loss event declares: if it is dropped in turn, the next declaration must carry it.
  const carried = declaredRecords(parsed?.data);
  return { ...base, isLossEvent: true, declares: carried.map((r) => r.seq), declaredRecords: carried };
}

/** [1,2,3,7,8] → [[1,3],[7,8]] */
export function seqRanges(seqs: number[]): Array<[number, number]> {
  const sorted = [...seqs].sort((a, b) => a - b);
  const ranges: Array<[number, number]> = [];
  for (const n of sorted) {
    const last = ranges.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else if (!last || n > last[1]) ranges.push([n, n]);
  }
  return ranges;
}

export interface LostRange {
  from: number;
  to: number;
  /** SHA-256 of the body before `from`: the first lost record's prev. */
  prev: string;
  hashes: string[];
}

/**
 * Lost records → the `lost_ranges` of one or more declarations: contiguous runs of seqs with their
 * body hashes, each declaration carrying at most `max` hashes (a run is split where it must be).
 */
export function lostRangeChunks(records: readonly LostRecord[], max = MAX_LOST_PER_DECLARATION): LostRange[][] {
  const bySeq = new Map<number, LostRecord>();
  for (const r of records) if (!bySeq.has(r.seq)) bySeq.set(r.seq, r);
  const sorted = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const chunks: LostRange[][] = [];
  let chunk: LostRange[] = [];
  let inChunk = 0;
  for (const r of sorted) {
    if (inChunk === max) {
      chunks.push(chunk);
      chunk = [];
      inChunk = 0;
    }
    const last = chunk.at(-1);
    if (last && last.to === r.seq - 1) {
      last.to = r.seq;
      last.hashes.push(r.hash);
    } else chunk.push({ from: r.seq, to: r.seq, prev: r.prev, hashes: [r.hash] });
    inChunk++;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

/** What the declarer needs of the recorder (AuditRecorder implements it): otel/ does not import audit/. */
export interface LossTarget {
  readonly activeSessions: readonly { readonly id: string; recordLoss(lost: number, reason: string, extra?: JsonObject): void }[];
}

/**
 * Turns a LossReport into `oi_audit.audit.loss` events for every open session that lost records,
 * each committing to the seqs and body hashes it declares (split to bound a declaration's size). A
 * session that has already ended cannot record it: the count goes to stderr and the stream shows
 * as truncated.
 */
export function lossDeclarer(recorder: LossTarget): (report: LossReport) => void {
  return (report) => {
    for (const [sessionId, lost] of report.bySession) {
      const session = recorder.activeSessions.find((s) => s.id === sessionId);
      if (!session) {
        process.stderr.write(`oi-audit: ${lost.count} audit records of ${sessionId || 'no session'} dropped (${report.reason}); the session has ended, so the loss shows as a truncated stream\n`);
        continue;
      }
      const chunks = lostRangeChunks(lost.records ?? []);
      if (chunks.length === 0) {
        // No body could be read: the count is all that can be declared.
        session.recordLoss(lost.count, report.reason);
        continue;
      }
      for (const ranges of chunks) {
        const n = ranges.reduce((m, r) => m + r.hashes.length, 0);
        session.recordLoss(n, report.reason, { lost_ranges: ranges.map((r) => ({ ...r })) });
      }
    }
  };
}

/**
 * Collects the records a full in-process queue drops (see LossReportingBatchLogRecordProcessor) and
 * declares them a moment later, in loss events per session, rather than from inside the emitting
 * call. A loss event dropped in turn (the queue still full) is collected with the records it
 * declared, so they are declared again with it once the queue has room.
 */
export class QueueLossCollector {
  private pending = new Map<string, { count: number; seqs: number[]; records: LostRecord[] }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly declare: (report: LossReport) => void,
    private readonly delayMs = 100,
  ) {}

  add(record: ReadableLogRecord): void {
    const id = identifyLogRecord(record);
    const key = id?.session ?? '';
    const entry = this.pending.get(key) ?? { count: 0, seqs: [], records: [] };
    entry.count++;
    if (id) entry.seqs.push(id.seq);
    if (id?.record) entry.records.push(id.record);
    if (id?.declares?.length) {
      entry.count += id.declares.length;
      entry.seqs.push(...id.declares);
      entry.records.push(...(id.declaredRecords ?? []));
    }
    this.pending.set(key, entry);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.delayMs);
      this.timer.unref();
    }
  }

  /** Declare what was collected now (also at shutdown, before the sessions end). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const bySession = this.pending;
    this.pending = new Map();
    try {
      this.declare({ bySession, reason: 'queue_full' });
    } catch {
      // Loss reporting must never break the host.
    }
  }
}
