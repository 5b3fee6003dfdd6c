/**
 * A local OTLP/HTTP sink (JSON or protobuf, plain or gzip): accepts POSTs to /v1/logs and /v1/traces, answers 200 `{}` as soon as the
 * body has arrived, then (after answering, so it never slows the exporter down) parses the body and
 * counts the log records and spans, so a benchmark can check that everything it sent arrived. `bytes`
 * counts the request bodies as they came over the wire (compressed, when they were).
 *
 * It runs in a child process (`startSink()` forks this file), pinned to another CPU than the measured
 * process when pinning is on, so parsing in the sink is not charged to the pipeline under test.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { pinToCpu } from './machine.js';

const SELF = fileURLToPath(import.meta.url);

/** The length-delimited fields of a protobuf message in buf[start, end), as [field, from, to]. */
function* delimited(buf, start, end) {
  let pos = start;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (pos < end) {
    const tag = varint();
    const wire = tag % 8;
    if (wire === 2) {
      const len = varint();
      yield [Math.floor(tag / 8), pos, pos + len];
      pos += len;
    } else if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`protobuf wire type ${wire} not expected here`);
  }
}

/** Records in an OTLP export request: count of field 2 in field 2 in field 1. */
function countNested(buf) {
  let n = 0;
  for (const [f1, a1, b1] of delimited(buf, 0, buf.length)) {
    if (f1 !== 1) continue;
    for (const [f2, a2, b2] of delimited(buf, a1, b1)) {
      if (f2 !== 2) continue;
      for (const [f3] of delimited(buf, a2, b2)) if (f3 === 2) n++;
    }
  }
  return n;
}

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
          const plain = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
          if (String(req.headers['content-type']).includes('protobuf')) {
            // ExportLogsServiceRequest / ExportTraceServiceRequest: field 1 (resource_*) → field 2 (scope_*) → field 2 (records).
            const n = countNested(plain);
            if (req.url === '/v1/logs') stats.logRecords += n;
            else stats.spans += n;
            return;
          }
          const doc = JSON.parse(plain.toString('utf8'));
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
