import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { OtlpRequest } from './otlp-sender.js';
import { Spool } from './spool.js';

/** What an exporter of batches of T looks like (SpanExporter and LogRecordExporter both are). */
export interface BatchExporter<T> {
  export(items: T[], done: (result: ExportResult) => void): void;
  forceFlush?(): Promise<void>;
  shutdown(): Promise<void>;
}

/** A dropped audit record as a loss declaration commits to it: its seq, body hash and `prev`. */
export interface LostRecord {
  seq: number;
  hash: string;
  prev: string;
}

export interface LossReport {
  /** Records dropped, per session id (records without one under ''); `records` when their bodies could be read. */
  bySession: Map<string, { count: number; seqs: number[]; records?: LostRecord[] }>;
  /** spool_full / spool_write_failed: the spool refused a batch; queue_full: the in-process queue dropped records before any export. */
  reason: 'spool_full' | 'spool_write_failed' | 'queue_full';
}

/** Where requests go: OtlpSender (the SDK's HTTP export delegate), for normal exports and replay alike. */
export interface RequestSender {
  send(request: OtlpRequest): Promise<void>;
  shutdown(): Promise<void>;
}

export interface SpoolingExporterOptions<T> {
  spool: Spool;
  /** Serialise a batch into the request that is sent, or spooled and later replayed byte for byte. */
  serialize(items: T[]): OtlpRequest;
  sender: RequestSender;
  /** Called on every failed send (normal export or replay), e.g. to count export failures. */
  onSendFailure?(error: unknown): void;
  /**
   * Session id and seq of an item, to declare losses per session. For a loss event, `declares` are the seqs
   * it declared lost: when the loss event is lost too, they are declared again with it.
   */
  identify?(item: T): { session: string; seq: number; isLossEvent: boolean; isAnchor?: boolean; declares?: number[]; record?: LostRecord; declaredRecords?: LostRecord[] } | undefined;
  onLoss?(report: LossReport): void;
  /** First retry delay while the Collector is down; doubles up to maxRetryDelayMs. Default 1 s. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

/**
 * Wraps an OTLP exporter with a durable spool. While the Collector answers, batches go straight through.
 * When an export fails, the batch is appended to the spool and reported as exported (it is durable now);
 * from then on new batches queue behind it, and a drain loop replays the spool in order until it is empty.
 * What does not fit is counted per session and reported, so a loss becomes a declared event in the chain.
 */
export class SpoolingExporter<T> implements BatchExporter<T> {
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private lastExportOk = true;
  private stopped = false;
  dropped = 0;

  constructor(private readonly options: SpoolingExporterOptions<T>) {
    this.retryDelay = options.retryDelayMs ?? 1_000;
    // A spool left by a previous run (crash, Collector down at exit) is replayed at start.
    if (!options.spool.isEmpty) this.scheduleDrain(0);
  }

  /** The last export or replay reached the Collector. */
  get healthy(): boolean {
    return this.lastExportOk;
  }

  get spool(): Spool {
    return this.options.spool;
  }

  export(items: T[], done: (result: ExportResult) => void): void {
    if (this.stopped) return done({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
    // An encrypted spool needs its crypto module (loaded a few ms after start-up) before it can append.
    if (!this.options.spool.ready) {
      this.options.spool.whenReady().then(
        () => this.export(items, done),
        (error: unknown) => done({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) }),
      );
      return;
    }
    if (!this.options.spool.isEmpty || this.draining) {
      this.toSpool(items);
      this.scheduleDrain(0);
      return done({ code: ExportResultCode.SUCCESS });
    }
    let request: OtlpRequest;
    try {
      request = this.options.serialize(items);
    } catch (error) {
      return done({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
    }
    const sending = this.options.sender.send(request);
    this.inFlight.add(sending);
    sending.then(
      () => {
        this.inFlight.delete(sending);
        this.lastExportOk = true;
        done({ code: ExportResultCode.SUCCESS });
      },
      (error: unknown) => {
        this.inFlight.delete(sending);
        this.sendFailed(error);
        this.toSpool(items, request);
        this.scheduleDrain(this.retryDelay);
        done({ code: ExportResultCode.SUCCESS });
      },
    );
  }

  private readonly inFlight = new Set<Promise<void>>();

  private sendFailed(error: unknown): void {
    this.lastExportOk = false;
    try {
      this.options.onSendFailure?.(error);
    } catch {
      // counting must not break the export path
    }
  }

  private toSpool(items: T[], request?: OtlpRequest): void {
    let stored = false;
    let reason: LossReport['reason'] = 'spool_full';
    let lost = items;
    try {
      const ids = items.map((i) => this.options.identify?.(i));
      const useReserve = ids.some((id) => id?.isLossEvent);
      stored = this.options.spool.append(toSpoolLine(request ?? this.options.serialize(items)), useReserve);
      if (!stored) {
        // Full: keep at least what makes the rest of the trail verifiable (session start and end,
        // checkpoints, loss events) in the reserve, so a full spool yields a trail with declared losses
        // rather than a session that cannot be authenticated at all.
        const keep = items.filter((_, n) => ids[n]?.isAnchor || ids[n]?.isLossEvent);
        if (keep.length > 0 && keep.length < items.length && this.options.spool.append(toSpoolLine(this.options.serialize(keep)), true)) {
          lost = items.filter((_, n) => !(ids[n]?.isAnchor || ids[n]?.isLossEvent));
        }
      }
    } catch {
      reason = 'spool_write_failed';
    }
    if (stored) return;
    this.dropped += lost.length;
    const bySession = new Map<string, { count: number; seqs: number[]; records: LostRecord[] }>();
    for (const item of lost) {
      const id = this.options.identify?.(item);
      const key = id?.session ?? '';
      const entry = bySession.get(key) ?? { count: 0, seqs: [], records: [] };
      entry.count++;
      if (id) entry.seqs.push(id.seq);
      if (id?.record) entry.records.push(id.record);
      if (id?.declaredRecords) entry.records.push(...id.declaredRecords);
      // A lost loss event takes its declaration with it (disk full refuses the reserve too): carry it over.
      if (id?.declares?.length) {
        entry.count += id.declares.length;
        entry.seqs.push(...id.declares);
      }
      bySession.set(key, entry);
    }
    try {
      this.options.onLoss?.({ bySession, reason });
    } catch {
      // Loss reporting must not break the export path.
    }
  }

  private scheduleDrain(delayMs: number): void {
    if (this.stopped || this.retryTimer || this.draining) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.draining = this.drain().finally(() => {
        this.draining = undefined;
      });
    }, delayMs);
    this.retryTimer.unref();
  }

  /** Replay the spool in order; on the first failure back off and try again later. */
  private async drain(): Promise<void> {
    const spool = this.options.spool;
    for (;;) {
      let line: Uint8Array | undefined;
      try {
        await spool.whenReady();
        // Reading the spool can fail (I/O error); that must back off like a failed send, never reject.
        line = spool.peek();
        if (!line) break;
        await this.options.sender.send(fromSpoolLine(line));
      } catch (error) {
        this.sendFailed(error);
        this.retryDelay = Math.min(this.retryDelay * 2, this.options.maxRetryDelayMs ?? 30_000);
        this.draining = undefined;
        this.scheduleDrain(this.retryDelay);
        return;
      }
      spool.ack(line);
      this.lastExportOk = true;
      this.retryDelay = this.options.retryDelayMs ?? 1_000;
    }
  }

  /** Try to empty the spool within the time given; what remains stays on disk for the next start. */
  async flushSpool(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.options.spool.isEmpty && Date.now() < deadline) {
      if (this.retryTimer) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
      }
      if (!this.draining) this.draining = this.drain().finally(() => (this.draining = undefined));
      await Promise.race([this.draining, new Promise((r) => setTimeout(r, Math.max(1, deadline - Date.now())))]);
      if (!this.options.spool.isEmpty) await new Promise((r) => setTimeout(r, 100));
    }
    return this.options.spool.isEmpty;
  }

  async forceFlush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    this.options.spool.sync();
  }

  async shutdown(): Promise<void> {
    await this.flushSpool(3_000);
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.options.spool.close();
    await this.options.sender.shutdown();
  }
}

/**
 * A spool line holds one request: OTLP JSON as is (it has no newline), protobuf as base64 (its bytes may
 * hold any byte, and base64 never starts with `{`, so a line says its own encoding).
 */
export function toSpoolLine(request: OtlpRequest): Uint8Array {
  return request.encoding === 'json' ? request.body : Buffer.from(Buffer.from(request.body).toString('base64'), 'latin1');
}

export function fromSpoolLine(line: Uint8Array): OtlpRequest {
  if (line[0] === 0x7b) return { body: line, encoding: 'json' };
  return { body: Buffer.from(Buffer.from(line).toString('latin1'), 'base64'), encoding: 'protobuf' };
}
