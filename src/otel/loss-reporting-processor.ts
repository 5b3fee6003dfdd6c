import { BatchLogRecordProcessor, type ReadWriteLogRecord } from '@opentelemetry/sdk-logs';

/** The SDK's own (non-public) queue fields, read defensively. */
interface QueueInternals {
  _finishedLogRecords?: unknown;
  _maxQueueSize?: unknown;
  _shutdownOnce?: { isCalled?: unknown };
}

/**
 * A BatchLogRecordProcessor that reports each record its full queue is about to drop, so the drop can
 * become a declared loss in the record's session instead of a silent gap (the SDK only counts it in a
 * self-metric). A subclass rather than our own processor because the SDK's batching, timers and
 * flush/shutdown are what every OTel user relies on; the queue and its bound are the SDK's fields,
 * read defensively: if a later SDK renames them, nothing is reported and nothing breaks (and
 * test/unit/loss-reporting-processor.test.ts fails).
 */
export class LossReportingBatchLogRecordProcessor extends BatchLogRecordProcessor {
  constructor(
    config: ConstructorParameters<typeof BatchLogRecordProcessor>[0],
    private readonly onQueueFull: (record: ReadWriteLogRecord) => void,
  ) {
    super(config);
  }

  /** Whether the queue is full now (the next record would be dropped). */
  get queueFull(): boolean {
    const q = this as unknown as QueueInternals;
    return (
      q._shutdownOnce?.isCalled !== true &&
      Array.isArray(q._finishedLogRecords) &&
      typeof q._maxQueueSize === 'number' &&
      q._finishedLogRecords.length >= q._maxQueueSize
    );
  }

  override onEmit(record: ReadWriteLogRecord): void {
    if (this.queueFull) {
      try {
        this.onQueueFull(record);
      } catch {
        // Loss reporting must never break the emitting call.
      }
    }
    super.onEmit(record);
  }
}
