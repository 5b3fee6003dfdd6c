import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { AuditRecorder } from '../../src/audit/recorder.js';
import { lossDeclarer, QueueLossCollector } from '../../src/otel/loss-declaration.js';
import { LossReportingBatchLogRecordProcessor } from '../../src/otel/loss-reporting-processor.js';
import { verifySessions } from '../../src/verify/verify.js';

/** An exporter that holds every export while stalled (a Collector that does not answer), then lets go. */
class StallingExporter implements LogRecordExporter {
  stalled = true;
  readonly received: ReadableLogRecord[] = [];
  private readonly held: Array<() => void> = [];

  export(items: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    const finish = () => {
      this.received.push(...items);
      done({ code: ExportResultCode.SUCCESS });
    };
    if (this.stalled) this.held.push(finish);
    else finish();
  }

  release(): void {
    this.stalled = false;
    for (const f of this.held.splice(0)) f();
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('records dropped by a full in-process queue are declared, not silent', () => {
  it('a burst into a stalled export: every record the queue dropped is declared in its session, and verify finds no undeclared gap', async () => {
    const exporter = new StallingExporter();
    let collector!: QueueLossCollector;
    let reported = 0;
    const processor = new LossReportingBatchLogRecordProcessor(
      { exporter, maxQueueSize: 50, maxExportBatchSize: 10, scheduledDelayMillis: 5 },
      (record) => {
        reported++;
        collector.add(record);
      },
    );
    const loggerProvider = new LoggerProvider({ processors: [processor] });
    const recorder = new AuditRecorder({ tracerProvider: new BasicTracerProvider(), loggerProvider });
    collector = new QueueLossCollector(lossDeclarer(recorder), 20);

    const session = recorder.openSession({ userId: 'u' });
    const turn = session.startTurn('burst');
    for (let i = 0; i < 300; i++) turn.assistantMessage(`message ${i}`);
    // One batch in flight (stalled), the queue full: the rest was dropped and reported.
    expect(processor.queueFull).toBe(true);
    expect(reported).toBeGreaterThan(200);

    // While the export stays stalled, each loss event is dropped too and carried into the next one.
    await sleep(80);
    exporter.release();
    for (let i = 0; i < 100 && (processor.queueFull || reported === 0); i++) await sleep(10);
    await sleep(60); // the collector's last declaration goes through a queue that has room
    turn.end();
    session.end();
    await loggerProvider.forceFlush();

    const [report] = verifySessions(exporter.received.map((r) => ({ body: String(r.body), attributes: r.attributes as Record<string, unknown> })));
    expect(report).toBeDefined();
    expect(report!.missing.length).toBeGreaterThan(0);
    expect(report!.missing.every((m) => m.declared), JSON.stringify(report!.missing)).toBe(true);
    const missing = report!.missing.reduce((n, m) => n + (m.to - m.from + 1), 0);
    // Every seq that did not arrive is declared, and every declared seq is one that did not arrive.
    expect(report!.declaredLost).toBe(missing);
    expect(report!.ended).toBe(true);
    expect(report!.problems.filter((p) => p.severity === 'error'), JSON.stringify(report!.problems)).toEqual([]);
    await loggerProvider.shutdown();
  });
});
