/**
 * Part 3 — session overhead with the real Open Interpreter 0.4.3. Same process, same scripted model
 * script (the demo's: Python, a shell command, a failing shell command), same code run for real:
 *
 *   off       startInterpreterServer + LmcConnection, the scripted model directly as the LLM, `go` for
 *             every code block the server pauses on — no audit at all.
 *   on-otlp   AuditedInterpreter (audit LLM proxy, TurnDriver, approvals `all`) with a recorder exporting
 *             over OTLP/HTTP JSON (batch) to the local sink.
 *   on-file   the same with the embedded file sink (SimpleLogRecordProcessor + FileLogRecordExporter),
 *             what `oi-audit demo` uses when no endpoint is configured.
 *   on-file-nogt  on-file with execution ground truth off (OI_AUDIT_GROUND_TRUTH=off): the pair gives what
 *             strace -f adds per code block. Every variant runs in the default bwrap sandbox.
 *
 * Sessions alternate between variants (order rotated every repetition). Per turn: wall time from sending
 * the user message to the end of the turn (the server's final `complete` with no block pending).
 * Session start (process + heartbeat + LMC auth) and close are reported separately.
 *
 * Usage: node bench/session.js [--sessions 3] [--variants off,on-otlp,on-file]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimpleLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AuditRecorder } from '../dist/audit/recorder.js';
import { AuditedInterpreter } from '../dist/agents/classic/audited-interpreter.js';
import { approvalFor } from '../dist/approval/modes.js';
import { DEMO_SCRIPT } from '../dist/demo/demo-script.js';
import { startLlmProxy } from '../dist/llm-proxy/proxy.js';
import { LmcConnection } from '../dist/agents/classic/lmc/lmc-client.js';
import { startScriptedModel } from '../dist/demo/scripted-model.js';
import { startInterpreterServer } from '../dist/agents/classic/process/supervisor.js';
import { ensureOpenInterpreter } from '../dist/agents/classic/process/venv.js';
import { FileLogRecordExporter, FileSpanExporter } from '../dist/otel/file-sink.js';
import { benchResource, createProviders } from './lib/otel.js';
import { startSink } from './lib/otlp-sink.js';
import { emitResult, parseArgs } from './lib/worker.js';

const args = parseArgs();
const sessions = Number(args.sessions ?? 3);
const variantNames = typeof args.variants === 'string' ? args.variants.split(',') : ['off', 'on-otlp', 'on-file'];
const script = DEMO_SCRIPT;
const TURN_TIMEOUT_MS = 120_000;

const log = (line) => process.stderr.write(`  [session] ${line}\n`);

/** Drive one turn over raw LMC, no audit: like TurnDriver, `go` whenever the server pauses on a code block. */
async function rawTurn(conn, text) {
  await conn.sendUserMessage(text);
  let current;
  let pending = false;
  let gos = 0;
  for (;;) {
    const end = await conn.nextTurnEnd({ timeoutMs: TURN_TIMEOUT_MS });
    if (end.outcome !== 'complete') throw new Error(`turn ended ${end.outcome}: ${end.closeReason ?? ''}`);
    for (const c of end.chunks) {
      if (c.start === true) current = c.type;
      else if (c.end === true) {
        if (current === 'code' && c.role === 'assistant') pending = true;
        current = undefined;
      }
    }
    if (!pending) return { gos };
    pending = false;
    gos++;
    await conn.sendCommand('go');
  }
}

async function runOff(model, workDir) {
  const t0 = performance.now();
  const server = await startInterpreterServer({ llmBaseUrl: model.url, llmApiKey: 'scripted-model-key', model: 'scripted', workDir, containment: { groundTruth: 'off' } });
  const conn = await LmcConnection.connect(server.url, server.apiKey, { timeoutMs: 15_000 });
  const startMs = performance.now() - t0;
  const turns = [];
  try {
    for (const turn of script.turns) {
      const a = performance.now();
      const r = await rawTurn(conn, turn.user);
      turns.push({ ms: performance.now() - a, executed: r.gos });
    }
  } finally {
    const c = performance.now();
    await conn.close().catch(() => undefined);
    await server.stop().catch(() => undefined);
    turns.closeMs = performance.now() - c;
  }
  return { startMs, turns, closeMs: turns.closeMs };
}

function fileProviders(dir) {
  const resource = benchResource();
  const loggerProvider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: new FileLogRecordExporter(dir) })] });
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(new FileSpanExporter(dir))] });
  return {
    loggerProvider,
    tracerProvider,
    forceFlush: () => Promise.all([loggerProvider.forceFlush(), tracerProvider.forceFlush()]),
    shutdown: () => Promise.all([loggerProvider.shutdown(), tracerProvider.shutdown()]),
  };
}

async function runOn(model, workDir, providers, groundTruth = 'strace') {
  const recorder = new AuditRecorder({ tracerProvider: providers.tracerProvider, loggerProvider: providers.loggerProvider });
  const proxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'scripted-model-key' });
  const approval = approvalFor('all');
  const t0 = performance.now();
  const interpreter = await AuditedInterpreter.start({
    recorder,
    proxy,
    userId: 'bench-user',
    clientAddress: '127.0.0.1',
    model: 'scripted',
    approve: approval.hook,
    policyName: approval.name,
    workDir,
    containment: { groundTruth },
  });
  const startMs = performance.now() - t0;
  const turns = [];
  let closeMs;
  try {
    for (const turn of script.turns) {
      const a = performance.now();
      const r = await interpreter.send(turn.user);
      if (r.outcome !== 'complete') log(`turn outcome ${r.outcome}: ${r.errors.join('; ')}`);
      turns.push({ ms: performance.now() - a, executed: r.executed, outcome: r.outcome });
    }
  } finally {
    const c = performance.now();
    await interpreter.close();
    await providers.forceFlush();
    closeMs = performance.now() - c;
    await proxy.close();
  }
  return { startMs, turns, closeMs };
}

await ensureOpenInterpreter({ onProgress: (l) => log(l) });
const sink = await startSink();
const model = await startScriptedModel({ script });
const otlp = createProviders(sink.url);
const fileDir = mkdtempSync(join(tmpdir(), 'oi-audit-bench-filesink-'));
const file = fileProviders(fileDir);
const results = Object.fromEntries(variantNames.map((v) => [v, []]));
try {
  for (let rep = 0; rep < sessions; rep++) {
    for (let k = 0; k < variantNames.length; k++) {
      const v = variantNames[(rep + k) % variantNames.length];
      const workDir = mkdtempSync(join(tmpdir(), 'oi-audit-bench-work-'));
      try {
        const r = v === 'off' ? await runOff(model, workDir) : await runOn(model, workDir, v.startsWith('on-file') ? file : otlp, v === 'on-file-nogt' ? 'off' : 'strace');
        log(`${v} #${rep + 1}: start ${r.startMs.toFixed(0)} ms, turns ${r.turns.map((t) => t.ms.toFixed(0)).join(' + ')} ms`);
        results[v].push(r);
      } finally {
        rmSync(workDir, { recursive: true, force: true });
      }
    }
  }
  const s = await sink.stats();
  const perTurnMean = (v) => {
    const all = results[v].flatMap((r) => r.turns.map((t) => t.ms));
    return all.reduce((a, b) => a + b, 0) / all.length;
  };
  const out = { part: 'session', sessions, turnsPerSession: script.turns.length, variants: results, perTurnMeanMs: {}, addedPerTurnMs: {}, sinkLogRecords: s.logRecords };
  for (const v of variantNames) out.perTurnMeanMs[v] = perTurnMean(v);
  if (results.off) for (const v of variantNames.filter((x) => x !== 'off')) out.addedPerTurnMs[v] = out.perTurnMeanMs[v] - out.perTurnMeanMs.off;
  emitResult(out);
} finally {
  await otlp.shutdown();
  await file.shutdown();
  await model.close();
  await sink.close();
  rmSync(fileDir, { recursive: true, force: true });
}
