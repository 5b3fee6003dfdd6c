import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AuditMetrics } from '../../src/audit/metrics.js';
import { AuditRecorder } from '../../src/audit/recorder.js';
import * as attributes from '../../src/semconv/attributes.js';
import { AUDIT_EVENT_NAMES } from '../../src/semconv/events.js';
import * as metricNames from '../../src/semconv/metrics.js';

const doc = readFileSync(new URL('../../docs/semantic-conventions.md', import.meta.url), 'utf8');

/** Names in the first column of the attribute and metric tables (`| \`name\` | …`), event names aside. */
function documentedNames(): string[] {
  const names = new Set<string>();
  for (const line of doc.split('\n')) {
    const m = /^\| `([a-z_][a-z0-9_.]*)` \|/.exec(line);
    if (m && m[1]!.includes('.') && !(AUDIT_EVENT_NAMES as readonly string[]).includes(m[1]!)) names.add(m[1]!);
  }
  return [...names];
}

/** A session through every emitting path (content attributes and metrics on), as the exporters see it. */
async function emittedNames() {
  const spans = new InMemorySpanExporter();
  const records = new InMemoryLogRecordExporter();
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const recorder = new AuditRecorder({
    config: { genAiContentAttributes: true, checkpointEvery: 3 },
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    loggerProvider: new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: records })] }),
    metrics: new AuditMetrics(meterProvider.getMeter('oi-audit')),
  });
  recorder.metrics.lost('spool_full', 2);
  recorder.metrics.exportFailed('logs');
  recorder.metrics.observeSpool([{ signal: 'logs', pendingBytes: () => 10 }]);
  const session = recorder.openSession({ userId: 'u', clientAddress: '10.0.0.1', roles: ['dev'], model: 'gpt-4o', policy: 'policy', autoRun: false, openInterpreterVersion: '0.4.3', imported: true,
    agent: { name: 'codex', version: '0.148.0', kind: 'codex', binary: '/opt/codex' },
    containment: { sandbox: 'bwrap', network: 'shared', groundTruth: 'strace' } });
  const turn = session.startTurn('use key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD please');
  const gen = turn.startGeneration({
    model: 'gpt-4o',
    provider: 'openai',
    stream: true,
    messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }],
  });
  gen.firstChunk();
  gen.end({ content: 'hello', finishReasons: ['stop'], responseModel: 'gpt-4o-1', responseId: 'r1', inputTokens: 3, outputTokens: 1, chunks: 2, clientDisconnected: true, upstreamStatus: 200 });
  turn.startGeneration({ model: 'gpt-4o', provider: 'openai', stream: false, messages: [] }).fail('upstream_500', 'boom');
  const exec = turn.proposeCode({ language: 'python', code: 'print(1)', risk: { level: 'low', rules: ['r'] } });
  exec.decide({ decision: 'approved', decider: 'user' });
  exec.started();
  exec.output('x'.repeat(70_000));
  exec.end({ error: true });
  turn.end('complete');
  session.end('complete');
  await reader.forceFlush();
  const names = new Set<string>();
  for (const s of spans.getFinishedSpans()) for (const k of Object.keys(s.attributes)) names.add(k);
  for (const r of records.getFinishedLogRecords()) for (const k of Object.keys(r.attributes)) names.add(k);
  for (const rm of metricExporter.getMetrics()) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        names.add(m.descriptor.name);
        for (const p of m.dataPoints) for (const k of Object.keys(p.attributes)) names.add(k);
      }
    }
  }
  names.add(attributes.ATTR_SERVICE_NAME); // resource attribute, set by register()
  return names;
}

/** Documented names this session cannot produce, and why. */
const NOT_IN_THE_SESSION: Record<string, string> = {
  [attributes.ATTR_CONTENT_MODE]: 'reserved (documented as such)',
  // Set by the Rust agent's command items (test/e2e/rust-agent.test.ts checks them on a real Codex trace).
  'oi_audit.agent.turn_id': 'Rust agent turns only',
  'oi_audit.execution.exit_code': 'agents that report an exit code (Rust agent)',
  'oi_audit.execution.item_id': 'Rust agent command items only',
  // Set from strace ground truth of a real sandboxed run (test/e2e/containment.test.ts).
  'oi_audit.process.count': 'execution ground truth only',
  'oi_audit.ground_truth.findings': 'execution ground truth only',
};

describe('docs/semantic-conventions.md', () => {
  it('documents every attribute and metric name the code defines', () => {
    const names = [
      ...Object.entries(attributes).filter(([key]) => key.startsWith('ATTR_')).map(([, v]) => v as string),
      ...Object.entries(metricNames).filter(([key]) => key.startsWith('METRIC_')).map(([, v]) => v as string),
    ];
    expect(names.length).toBeGreaterThan(50);
    expect(names.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it('documents every audit event name', () => {
    expect(AUDIT_EVENT_NAMES.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it('every name a session emits (span, log record and metric attributes, metric names) is documented', async () => {
    const emitted = await emittedNames();
    expect(emitted.size).toBeGreaterThan(50);
    expect([...emitted].filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it('every documented attribute and metric is emitted (or listed here with the reason it is not)', async () => {
    const emitted = await emittedNames();
    const documented = documentedNames();
    expect(documented.length).toBeGreaterThan(50);
    const missing = documented.filter((n) => !emitted.has(n) && !NOT_IN_THE_SESSION[n]);
    expect(missing).toEqual([]);
  });
});
