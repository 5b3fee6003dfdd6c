import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { AuditRecorder } from '../audit/recorder.js';
import type { LossReport } from './spooling-exporter.js';

/** Session and seq of an audit log record, for declaring what a full spool or a full queue dropped. */
export function identifyLogRecord(record: ReadableLogRecord) {
  const session = record.attributes['session.id'];
  const seq = record.attributes['oi_audit.event.seq'];
  if (typeof session !== 'string' || typeof seq !== 'number') return undefined;
  if (record.attributes['event.name'] !== 'oi_audit.audit.loss') return { session, seq, isLossEvent: false };
  // The seqs this loss event declares: if it is dropped in turn, the next declaration must carry them.
  const declares: number[] = [];
  try {
    const ranges = (JSON.parse(String(record.body)) as { data?: { lost_seqs?: unknown } }).data?.lost_seqs;
    if (Array.isArray(ranges)) {
      for (const r of ranges) if (Array.isArray(r) && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1])) for (let s = r[0] as number; s <= (r[1] as number); s++) declares.push(s);
    }
  } catch {
    // not JSON: nothing to carry over
  }
  return { session, seq, isLossEvent: true, declares };
}

/** [1,2,3,7,8] → [[1,3],[7,8]] */
export function seqRanges(seqs: number[]): Array<[number, number]> {
  const sorted = [...seqs].sort((a, b) => a - b);
  const ranges: Array<[number, number]> = [];
  for (const n of sorted) {
    const last = ranges.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else ranges.push([n, n]);
  }
  return ranges;
}

/**
 * Turns a LossReport into `oi_audit.audit.loss` events, one per open session that lost records. A session
 * that has already ended cannot record it: the count goes to stderr and the stream shows as truncated.
 */
export function lossDeclarer(recorder: AuditRecorder): (report: LossReport) => void {
  return (report) => {
    for (const [sessionId, lost] of report.bySession) {
      const session = recorder.activeSessions.find((s) => s.id === sessionId);
      if (!session) {
        process.stderr.write(`oi-audit: ${lost.count} audit records of ${sessionId || 'no session'} dropped (${report.reason}); the session has ended, so the loss shows as a truncated stream\n`);
        continue;
      }
      session.recordLoss(lost.count, report.reason, { lost_seqs: seqRanges(lost.seqs) });
    }
  };
}

/**
 * Collects the records a full in-process queue drops (see LossReportingBatchLogRecordProcessor) and
 * declares them a moment later, in one loss event per session, rather than from inside the emitting
 * call. A loss event dropped in turn (the queue still full) is collected with the seqs it declared, so
 * they are declared again with it once the queue has room.
 */
export class QueueLossCollector {
  private pending = new Map<string, { count: number; seqs: number[] }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly declare: (report: LossReport) => void,
    private readonly delayMs = 100,
  ) {}

  add(record: ReadableLogRecord): void {
    const id = identifyLogRecord(record);
    const key = id?.session ?? '';
    const entry = this.pending.get(key) ?? { count: 0, seqs: [] };
    entry.count++;
    if (id) entry.seqs.push(id.seq);
    if (id?.declares?.length) {
      entry.count += id.declares.length;
      entry.seqs.push(...id.declares);
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
