import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { JsonObject } from '../record/canonical-json.js';
import { sha256Hex } from '../integrity/hash.js';
import type { LossReport, LostRecord } from './spooling-exporter.js';
import { decodeRecord } from '../record/decode.js';
import { decodeLostRanges, encodeLostRanges, expandLostRanges, lostRangeChunks } from '../record/loss-ranges.js';

/** Most body hashes one loss declaration carries; larger losses are split (the verifier's bound). */
export { MAX_LOST_PER_DECLARATION } from '../record/loss-ranges.js';

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

export function identifyLogRecord(record: ReadableLogRecord): LogRecordIdentity | undefined {
  const session = record.attributes['session.id'];
  const seq = record.attributes['oi_audit.event.seq'];
  if (typeof session !== 'string' || typeof seq !== 'number') return undefined;
  // Audit bodies are JSON text; anything else is not one of ours.
  if (typeof record.body !== 'string') return undefined;
  const body = record.body;
  // Our own writer's body (record/body.ts), read back by the one decoder; a body it refuses is
  // counted as lost but carries no commitment.
  const decoded = decodeRecord(body);
  const parsed = decoded.ok ? decoded.record : undefined;
  const lost: LostRecord | undefined = parsed ? { seq, hash: sha256Hex(body), prev: parsed.prev } : undefined;
  const name = record.attributes['event.name'];
  const isAnchor = name === 'oi_audit.session.start' || name === 'oi_audit.session.end' || name === 'oi_audit.integrity.checkpoint';
  const base = lost ? { session, seq, isAnchor, record: lost } : { session, seq, isAnchor };
  if (name !== 'oi_audit.audit.loss') return { ...base, isLossEvent: false };
  // What this loss event declares: if it is dropped in turn, the next declaration must carry it.
  const ranges = parsed ? decodeLostRanges(parsed.data, seq, { v1: false }) : undefined;
  const carried = ranges && 'ranges' in ranges ? expandLostRanges(ranges.ranges) : [];
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

/** The writer's side of record/loss-ranges.ts (re-exported where the declarer always found them). */
export { lostRangeChunks, type CommittedLostRange as LostRange } from '../record/loss-ranges.js';

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
        session.recordLoss(n, report.reason, encodeLostRanges(ranges));
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
