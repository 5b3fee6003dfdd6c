/**
 * oi-audit next to an app that runs its own OpenTelemetry SDK: the audit pipeline's providers are private,
 * so neither side receives the other's telemetry, whichever starts first; OTEL_SDK_DISABLED (the app's
 * switch) does not turn the audit off; OI_AUDIT_DISABLED=true does, and fail-closed then refuses every block.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { context, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemoryLogRecordExporter, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { register, type AuditHandle } from '../../src/setup/register.js';
import { TurnDriver, type LmcTransport } from '../../src/agents/classic/lmc/turn-driver.js';
import type { LmcChunk } from '../../src/agents/session/lmc-chunk.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** The app's own pipeline, as an OpenLLMetry/Langfuse user sets it up: NodeSDK with its exporters. */
function startAppSdk() {
  const spans = new InMemorySpanExporter();
  const records = new InMemoryLogRecordExporter();
  const sdk = new NodeSDK({
    serviceName: 'the-app',
    spanProcessors: [new SimpleSpanProcessor(spans)],
    logRecordProcessors: [new SimpleLogRecordProcessor({ exporter: records })],
    instrumentations: [],
  });
  sdk.start();
  cleanups.push(async () => {
    await sdk.shutdown();
    trace.disable();
    logs.disable();
    context.disable();
    propagation.disable();
  });
  return { spans, records };
}

function startAudit(env: Record<string, string> = {}): { audit: AuditHandle; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'oi-audit-private-'));
  const audit = register({ sinkDir: dir, handleSignals: false }, { ...env });
  cleanups.push(() => audit.shutdown());
  return { audit, dir };
}

/** What the app does with the global API: one span and one log record of its own. */
function appTelemetry(): void {
  trace.getTracer('the-app').startSpan('app.request').end();
  logs.getLogger('the-app').emit({ body: 'app log line', eventName: 'app.event' });
}

function auditSession(audit: AuditHandle): void {
  const session = audit.recorder.openSession({ userId: 'u' });
  session.startTurn('hello').end('complete');
  session.end();
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const sinkSpanNames = (dir: string) =>
  lines(join(dir, 'traces.jsonl')).flatMap((r: any) => r.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => s.name))));
const sinkBodies = (dir: string) =>
  lines(join(dir, 'logs.jsonl')).flatMap((r: any) => r.resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((sl: any) => sl.logRecords.map((l: any) => l.body.stringValue))));

async function expectSeparated(app: ReturnType<typeof startAppSdk>, dir: string): Promise<void> {
  // The app's simple processors export once its resource's async attributes (host id) have settled.
  await vi.waitFor(() => expect(app.spans.getFinishedSpans().length + app.records.getFinishedLogRecords().length).toBe(2), { timeout: 10_000 });
  expect(app.spans.getFinishedSpans().map((s) => s.name)).toEqual(['app.request']);
  expect(app.records.getFinishedLogRecords().map((r) => r.body)).toEqual(['app log line']);
  const spanNames = sinkSpanNames(dir);
  expect(spanNames).toContain('invoke_agent open-interpreter');
  expect(spanNames).not.toContain('app.request');
  const bodies = sinkBodies(dir);
  expect(bodies.length).toBeGreaterThan(3);
  expect(bodies).not.toContain('app log line');
  expect(bodies.every((b: string) => JSON.parse(b).event.startsWith('oi_audit.'))).toBe(true);
}

describe('private audit providers next to the app’s own SDK', () => {
  it('app SDK first, then register(): each side receives only its own telemetry', async () => {
    const app = startAppSdk();
    const { audit, dir } = startAudit();
    appTelemetry();
    auditSession(audit);
    await audit.forceFlush();
    await expectSeparated(app, dir);
  });

  it('register() first, then the app SDK: each side receives only its own telemetry', async () => {
    const { audit, dir } = startAudit();
    const app = startAppSdk();
    appTelemetry();
    auditSession(audit);
    await audit.forceFlush();
    await expectSeparated(app, dir);
  });

  it('records into providers passed on purpose, and warns through diag about their samplers and processors', async () => {
    const warnings: string[] = [];
    diag.setLogger({ error: () => {}, warn: (m) => warnings.push(m), info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
    cleanups.push(() => diag.disable());
    const app = startAppSdk();
    const dir = mkdtempSync(join(tmpdir(), 'oi-audit-private-'));
    const audit = register({ sinkDir: dir, handleSignals: false, tracerProvider: trace.getTracerProvider(), loggerProvider: logs.getLoggerProvider() }, {});
    cleanups.push(() => audit.shutdown());
    auditSession(audit);
    await audit.forceFlush();
    expect(app.spans.getFinishedSpans().map((s) => s.name)).toContain('invoke_agent open-interpreter');
    expect(app.records.getFinishedLogRecords().some((r) => (r.body as string).includes('"oi_audit.session.start"'))).toBe(true);
    expect(sinkBodies(dir)).toEqual([]);
    expect(warnings.join('\n')).toMatch(/providers you passed.*samplers and processors/);
  });
});

describe('switches', () => {
  it('OTEL_SDK_DISABLED=true turns the app SDK off, not the audit (and says so through diag)', async () => {
    const warnings: string[] = [];
    diag.setLogger({ error: () => {}, warn: (m) => warnings.push(m), info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
    cleanups.push(() => diag.disable());
    const saved = process.env.OTEL_SDK_DISABLED;
    process.env.OTEL_SDK_DISABLED = 'true';
    cleanups.push(() => (saved === undefined ? delete process.env.OTEL_SDK_DISABLED : (process.env.OTEL_SDK_DISABLED = saved)));
    const app = startAppSdk();
    const { audit, dir } = startAudit({ OTEL_SDK_DISABLED: 'true' });
    appTelemetry();
    auditSession(audit);
    await audit.forceFlush();
    expect(app.spans.getFinishedSpans()).toEqual([]);
    expect(sinkBodies(dir).map((b: string) => JSON.parse(b).event)).toEqual(
      expect.arrayContaining(['oi_audit.session.start', 'oi_audit.user.input', 'oi_audit.session.end']),
    );
    expect(audit.auditHealthy()).toBe(true);
    expect(warnings.join('\n')).toMatch(/OTEL_SDK_DISABLED=true does not turn the audit off/);
  });

  it('OI_AUDIT_DISABLED=true with fail-closed: nothing recorded, the guard refuses and no block runs', async () => {
    const { audit, dir } = startAudit({ OI_AUDIT_DISABLED: 'true', OI_AUDIT_FAIL_MODE: 'closed' });
    expect(audit.sink).toBe('none');
    expect(audit.auditHealthy()).toBe(false);
    expect(audit.approvalGuard?.()).toBe(false);

    const session = audit.recorder.openSession({ userId: 'u' });
    const sent: string[] = [];
    const chunks: LmcChunk[] = [
      { role: 'assistant', type: 'code', format: 'python', start: true },
      { role: 'assistant', type: 'code', format: 'python', content: 'print(1)' },
      { role: 'assistant', type: 'code', format: 'python', end: true },
      { role: 'server', type: 'status', content: 'complete' },
    ];
    const transport: LmcTransport = {
      sendUserMessage: (text) => {
        sent.push(`user:${text}`);
        queueMicrotask(() => chunks.forEach((c) => driver.push(c)));
      },
      sendCommand: (command) => void sent.push(command),
    };
    let asked = false;
    const driver = new TurnDriver(session, transport, {
      approve: async () => {
        asked = true;
        return { decision: 'approved', decider: 'policy' };
      },
      auditHealthy: audit.approvalGuard!,
    });
    const result = await driver.runTurn('run it');
    session.end();
    expect(asked).toBe(false);
    expect(result).toMatchObject({ executed: 0, refused: 1 });
    expect(sent).toEqual(['user:run it']); // never `go`
    expect(existsSync(join(dir, 'logs.jsonl'))).toBe(false);
  });

  it('OI_AUDIT_DISABLED=true with fail-open: nothing recorded, no guard', async () => {
    const { audit, dir } = startAudit({ OI_AUDIT_DISABLED: 'true' });
    expect(audit.approvalGuard).toBeUndefined();
    auditSession(audit);
    await audit.shutdown();
    expect(existsSync(join(dir, 'logs.jsonl'))).toBe(false);
  });
});
