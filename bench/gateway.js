/**
 * Part 5 — sessions per machine: N concurrent gateway sessions (default 16), each a real Open
 * Interpreter 0.4.3 behind `startGateway` (audit LLM proxy, approvals `all`, the default sandbox and
 * execution ground truth), the scripted model as the upstream LLM (a helper process), every client
 * driving the demo script's turns at the same time over the gateway's WebSocket protocol.
 *
 * The gateway runs in its own process (bench/lib/gateway-host.js, exporting over OTLP to the sink): that
 * is oi-audit's share. Its descendants are read from /proc and reported apart by kind: the execution
 * tracer (strace, started by oi-audit for ground truth) and Open Interpreter with the sandbox and the
 * code it runs (everything else). CPU = utime + stime (+ reaped children) over the turns; memory = RSS
 * with all sessions open. The clients run here, in the driver, outside every measured process.
 *
 * Usage: node bench/gateway.js [--sessions 16]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { DEMO_SCRIPT } from '../dist/demo/demo-script.js';
import { startScriptedModel } from '../dist/demo/scripted-model.js';
import { forkHelper } from './lib/ipc-child.js';
import { startSink } from './lib/otlp-sink.js';
import { emitResult, parseArgs } from './lib/worker.js';

const args = parseArgs();
const sessions = Number(args.sessions ?? 16);
const log = (line) => process.stderr.write(`  [gateway] ${line}\n`);
const TICK_MS = 1000 / 100; // USER_HZ: /proc times are in clock ticks (100 on Linux)

/** Every process under rootPid (excluded), with CPU ms (own + reaped children) and RSS bytes, from /proc. */
function descendants(rootPid) {
  const all = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      // Fields after the comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14) … rss(21, pages).
      all.push({ pid: Number(name), ppid: Number(f[1]), comm, cpuMs: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS, rss: Number(f[21]) * 4096 });
    } catch {
      // exited while we read
    }
  }
  const children = new Map();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out = [];
  const queue = [...(children.get(rootPid) ?? [])];
  while (queue.length) {
    const p = queue.shift();
    out.push(p);
    queue.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

const kindOf = (p) => (p.comm === 'strace' ? 'tracer' : 'interpreter');
function byKind(rootPid) {
  const sum = { tracer: { cpuMs: 0, rss: 0, processes: 0 }, interpreter: { cpuMs: 0, rss: 0, processes: 0 } };
  for (const p of descendants(rootPid)) {
    const k = sum[kindOf(p)];
    k.cpuMs += p.cpuMs;
    k.rss += p.rss;
    k.processes++;
  }
  return sum;
}

function client(url, token) {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const messages = [];
  const waiters = [];
  ws.on('message', (d) => {
    messages.push(JSON.parse(String(d)));
    for (const w of waiters.splice(0)) w();
  });
  ws.on('error', () => undefined);
  const waitFor = async (pred, ms = 300_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = messages.findIndex(pred);
      if (i >= 0) return messages.splice(i, 1)[0];
      const failed = messages.find((m) => m.type === 'error');
      if (failed) throw new Error(`gateway error: ${JSON.stringify(failed)}`);
      if (Date.now() > deadline) throw new Error(`no matching message; got ${JSON.stringify(messages.map((m) => m.type))}`);
      await new Promise((r) => {
        waiters.push(r);
        setTimeout(r, 500);
      });
    }
  };
  return { ws, waitFor, send: (m) => ws.send(JSON.stringify(m)) };
}

const sink = await startSink();
const model = await startScriptedModel({ script: DEMO_SCRIPT });
const host = await forkHelper(fileURLToPath(new URL('./lib/gateway-host.js', import.meta.url)), [], { execArgv: ['--expose-gc', ...(args['profile-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${args['profile-dir']}`] : [])] });
try {
  const tokens = Array.from({ length: sessions }, (_, i) => `bench-gateway-token-${i}-0123456789abcdef`);
  const { url, pid } = await host.call('start', { sinkUrl: sink.url, modelUrl: model.url, tokens });
  const idle = await host.call('usage');
  log(`gateway up (pid ${pid}, RSS ${(idle.rss / 2 ** 20).toFixed(1)} MiB); opening ${sessions} sessions`);
  const t0 = performance.now();
  const clients = tokens.map((t) => client(url, t));
  await Promise.all(clients.map((c) => c.waitFor((m) => m.type === 'ready')));
  const startSeconds = (performance.now() - t0) / 1000;
  log(`${sessions} sessions ready in ${startSeconds.toFixed(1)} s; running ${DEMO_SCRIPT.turns.length} turns in each`);
  const before = await host.call('usage');
  const kidsBefore = byKind(pid);
  const t1 = performance.now();
  let outcomes = 0;
  let peak = { host: before.rss, ...kidsBefore };
  for (const turn of DEMO_SCRIPT.turns) {
    for (const c of clients) c.send({ type: 'user', content: turn.user });
    const sample = setInterval(() => {
      const k = byKind(pid);
      if (k.interpreter.rss + k.tracer.rss > peak.interpreter.rss + peak.tracer.rss) peak = { ...peak, interpreter: k.interpreter, tracer: k.tracer };
    }, 1000);
    const ends = await Promise.all(clients.map((c) => c.waitFor((m) => m.type === 'turn_end')));
    clearInterval(sample);
    outcomes += ends.filter((e) => e.result?.outcome === 'complete').length;
  }
  const turnsSeconds = (performance.now() - t1) / 1000;
  const after = await host.call('usage');
  const kidsAfter = byKind(pid);
  const turns = sessions * DEMO_SCRIPT.turns.length;
  for (const c of clients) c.ws.close();
  const ownCpuMs = after.cpuMs - before.cpuMs;
  const tracerCpuMs = kidsAfter.tracer.cpuMs - kidsBefore.tracer.cpuMs;
  const interpreterCpuMs = kidsAfter.interpreter.cpuMs - kidsBefore.interpreter.cpuMs;
  emitResult({
    part: 'gateway',
    sessions,
    turns,
    completeTurns: outcomes,
    startSeconds,
    turnsSeconds,
    oiAudit: {
      cpuMsPerTurn: ownCpuMs / turns,
      idleRss: idle.rss,
      rssWithSessions: after.rss,
      maxRssKiB: after.maxRssKiB,
      rssPerSessionBytes: after.rss / sessions,
      addedRssPerSessionBytes: (after.rss - idle.rss) / sessions,
    },
    tracer: { cpuMsPerTurn: tracerCpuMs / turns, rssPerSessionBytes: kidsAfter.tracer.rss / sessions, processes: kidsAfter.tracer.processes },
    interpreter: { cpuMsPerTurn: interpreterCpuMs / turns, rssPerSessionBytes: kidsAfter.interpreter.rss / sessions, peakRssPerSessionBytes: peak.interpreter.rss / sessions, processes: kidsAfter.interpreter.processes },
    shareOfTurnCpu: ownCpuMs / (ownCpuMs + tracerCpuMs + interpreterCpuMs),
    shareOfTurnCpuWithTracer: (ownCpuMs + tracerCpuMs) / (ownCpuMs + tracerCpuMs + interpreterCpuMs),
  });
} finally {
  await host.call('close').catch(() => undefined);
  await host.close();
  await model.close();
  await sink.close();
}
