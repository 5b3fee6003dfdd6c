// In setup/, not otel/: it wires an AuditRecorder (audit/) onto a file exporter, and otel/ imports nothing from audit/.
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { AuditRecorder, type AuditRecorderOptions } from '../audit/recorder.js';
import type { JsonObject } from '../record/canonical-json.js';
import { FileLogRecordExporter, MAINTENANCE_FILE, type SinkMaintenanceEvent } from '../otel/file-sink.js';

/** The user id of maintenance sessions (pseudonymised like any other). */
export const MAINTENANCE_USER = 'oi-audit-sink-maintenance';

/**
 * The embedded sink's maintenance stream: each rotation and each deletion by retention is an
 * `oi_audit.sink.maintenance` event in a session of its own (started, recorded, ended at once), sealed,
 * chained, MACed and signed like every session, in `maintenance.jsonl` next to the sink files. That file is
 * never rotated nor deleted by retention, and is encrypted to the same recipient, so a missing old file is
 * explained by an authenticated record, and `verify` tells a retention deletion from a loss.
 */
export class SinkMaintenanceLog {
  private readonly provider: LoggerProvider;
  private readonly recorder: AuditRecorder;

  constructor(dir: string, atRestRecipient: string | undefined, recorderOptions: AuditRecorderOptions) {
    const exporter = new FileLogRecordExporter(dir, atRestRecipient ? { atRestRecipient } : {}, MAINTENANCE_FILE);
    this.provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
    this.recorder = new AuditRecorder({ ...recorderOptions, tracerProvider: new BasicTracerProvider(), loggerProvider: this.provider });
  }

  record(event: SinkMaintenanceEvent): void {
    const session = this.recorder.openSession({ userId: MAINTENANCE_USER });
    const data: JsonObject = { action: event.action, file: event.file, bytes: event.bytes };
    if (event.sessions) data.sessions = event.sessions.map((s) => ({ session: s.session, from: s.from, to: s.to }));
    session.recordMaintenance(data);
    session.end('complete');
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}
