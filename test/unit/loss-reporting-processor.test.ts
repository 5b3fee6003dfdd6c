import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { AuditRecorder } from '../../src/audit/recorder.js';
import { lossDeclarer, QueueLossCollector } from '../../src/otel/loss-declaration.js';
import { LossReportingBatchLogRecordProcessor } from '../../src/otel/loss-reporting-processor.js';
import { createChainFactory } from '../../src/integrity/chain.js';
import { loadIntegrityKeys } from '../../src/keys/integrity-keys.js';
import { verifySessions } from '../../src/verify/verify.js';

const SEED = Buffer.alloc(32, 0x3c);

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
    const keys = loadIntegrityKeys({ env: {}, macSeed: SEED });
    const publicKey = keys.signing.publicKeyRaw;
    const recorder = new AuditRecorder({ tracerProvider: new BasicTracerProvider(), loggerProvider, chainFactory: createChainFactory(keys) });
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

    // Under both keys (as `verify --key --public-key`): a real loss is VALID, with the loss declared.
    const records = exporter.received.map((r) => ({ body: String(r.body), attributes: r.attributes as Record<string, unknown> }));
    const [report] = verifySessions(records, { macSeed: SEED, trustedPublicKeys: [publicKey] });
    const declarations = records.map((r) => JSON.parse(r.body)).filter((b) => b.event === 'oi_audit.audit.loss');
    expect(declarations.length).toBeGreaterThan(0);
    // Each commits to what it declares: seq ranges with the hash before and every lost body's hash.
    for (const d of declarations) {
      for (const r of d.data.lost_ranges) expect(r.hashes).toHaveLength(r.to - r.from + 1);
    }
    expect(report).toBeDefined();
    expect(report!.missing.length).toBeGreaterThan(0);
    expect(report!.missing.every((m) => m.declared), JSON.stringify(report!.missing)).toBe(true);
    const missing = report!.missing.reduce((n, m) => n + (m.to - m.from + 1), 0);
    // Every seq that did not arrive is declared, and every declared seq is one that did not arrive.
    expect(report!.declaredLost).toBe(missing);
    expect(report!.ended).toBe(true);
    expect(report!.problems.filter((p) => p.severity === 'error'), JSON.stringify(report!.problems)).toEqual([]);
    expect(report!.status).toBe('valid');
    expect(report!.authenticatedBy).toBe('mac+pinned_key');
    expect(report!.complete).toBe(true);
    await loggerProvider.shutdown();
  });
});
