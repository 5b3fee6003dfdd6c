/**
 * A local OTLP/HTTP JSON sink: accepts POSTs to /v1/logs and /v1/traces, answers 200 `{}` as soon as the
 * body has arrived, then (after answering, so it never slows the exporter down) parses the body and
 * counts the log records and spans, so a benchmark can check that everything it sent arrived.
 *
 * It runs in a child process (`startSink()` forks this file), pinned to another CPU than the measured
 * process when pinning is on, so parsing in the sink is not charged to the pipeline under test.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { pinToCpu } from './machine.js';

const SELF = fileURLToPath(import.meta.url);

function runSink() {
  const stats = { requests: 0, bytes: 0, logRecords: 0, spans: 0, parseErrors: 0 };
  const server = createServer((req, res) => {
    const parts = [];
    req.on('data', (b) => parts.push(b));
    req.on('end', () => {
      const ok = req.method === 'POST' && (req.url === '/v1/logs' || req.url === '/v1/traces');
      res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
      if (!ok) return;
      const body = Buffer.concat(parts);
      stats.requests++;
      stats.bytes += body.length;
      setImmediate(() => {
        try {
          const doc = JSON.parse(body.toString('utf8'));
          if (req.url === '/v1/logs') {
            for (const rl of doc.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) stats.logRecords += sl.logRecords?.length ?? 0;
          } else {
            for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) stats.spans += ss.spans?.length ?? 0;
          }
        } catch {
          stats.parseErrors++;
        }
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
  process.on('message', (msg) => {
    if (msg?.type === 'stats') {
      // Let queued parses finish first.
      setImmediate(() => setImmediate(() => process.send({ type: 'stats', id: msg.id, stats: { ...stats } })));
    } else if (msg?.type === 'reset') {
      for (const k of Object.keys(stats)) stats[k] = 0;
      process.send({ type: 'reset', id: msg.id });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/**
 * Fork the sink. Returns its base URL and helpers.
 * @param {{ cpu?: number }} [options] pin the sink to this CPU (when taskset is available)
 */
export async function startSink(options = {}) {
  const child = fork(SELF, ['--sink'], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (options.cpu !== undefined) pinToCpu(child.pid, options.cpu);
  const port = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`OTLP sink exited early (code ${code})`)));
    child.on('message', function onMsg(msg) {
      if (msg?.type === 'ready') {
        child.off('message', onMsg);
        resolve(msg.port);
      }
    });
  });
  child.removeAllListeners('exit');
  let nextId = 0;
  const ask = (type) =>
    new Promise((resolve) => {
      const id = ++nextId;
      const onMsg = (msg) => {
        if (msg?.id === id) {
          child.off('message', onMsg);
          resolve(msg.stats);
        }
      };
      child.on('message', onMsg);
      child.send({ type, id });
    });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stats: () => ask('stats'),
    reset: () => ask('reset'),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}

if (process.argv[1] === SELF && process.argv.includes('--sink')) runSink();
