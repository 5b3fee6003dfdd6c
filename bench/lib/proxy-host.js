/**
 * Helper process for part 2: the audit LLM proxy as oi-audit runs it — in the host process, with an
 * AuditRecorder exporting over OTLP/HTTP JSON (batch processor) to the local sink. Sessions with an
 * active turn are opened on request, one per simulated Open Interpreter.
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { AuditRecorder } from '../../dist/audit/recorder.js';
import { startLlmProxy } from '../../dist/llm-proxy/proxy.js';
import { serveCommands } from './ipc-child.js';
import { STREAM_USER_TEXT } from './stream-text.js';
import { createProviders } from './otel.js';

const proxies = [];
let providers;
const recorders = new Map();
const sessions = [];
const auditErrors = [];
let sampler;

function mem() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

const servers = [];
const pools = [];

/**
 * The minimal pass-through: what any HTTP proxy costs with no audit — read the request, send it
 * upstream, write each chunk of the answer as it comes. `client: 'undici'` (the baseline) uses the same
 * upstream client as the audit proxy (an undici Pool per origin, keep-alive, the body as Node Buffers),
 * so the difference between the two is the audit's own work; `client: 'fetch'` uses the global fetch()
 * (WHATWG streams over the same undici), as the audit proxy did before issue #20, for comparison.
 */
async function startPassthrough(upstreamUrl, client = 'undici') {
  const upstream = upstreamUrl.replace(/\/+$/, '');
  const origin = new URL(upstream).origin;
  const prefix = new URL(upstream).pathname.replace(/\/+$/, '');
  const pool = client === 'undici' ? new Pool(origin) : undefined;
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream', authorization: 'Bearer bench-upstream-key' };
  const write = (res, value) => (res.write(value) ? undefined : new Promise((resolve) => res.once('drain', resolve)));
  const server = createServer(async (req, res) => {
    const parts = [];
    for await (const b of req) parts.push(b);
    const path = `${prefix}${req.url.replace(/^\/v1/, '')}`;
    if (pool) {
      const r = await pool.request({ path, method: req.method, headers, body: Buffer.concat(parts) });
      res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'] ?? 'application/json', 'cache-control': 'no-cache' });
      res.flushHeaders();
      for await (const value of r.body) await write(res, value);
    } else {
      const r = await fetch(`${origin}${path}`, { method: req.method, headers, body: Buffer.concat(parts) });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-cache' });
      res.flushHeaders();
      const reader = r.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        await write(res, value);
      }
    }
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  if (pool) pools.push(pool);
  return `http://127.0.0.1:${server.address().port}`;
}

serveCommands({
  /**
   * An audit LLM proxy in front of `upstreamUrl` with its own recorder (`capture`: the recorder's
   * capture policy; default = the recorder's default, `redacted`). With `passthrough: 'undici'` or
   * `'fetch'`, instead a minimal HTTP pass-through (see startPassthrough) without audit: the cost of the
   * extra hop alone.
   */
  async start({ upstreamUrl, sinkUrl, capture, passthrough }) {
    providers ??= createProviders(sinkUrl);
    if (passthrough) {
      const url = await startPassthrough(upstreamUrl, passthrough === 'fetch' ? 'fetch' : 'undici');
      proxies.push({ url, passthrough: true });
      return { proxy: proxies.length - 1, url, baseUrl: `${url}/v1` };
    }
    const key = capture ?? 'default';
    if (!recorders.has(key)) {
      recorders.set(
        key,
        new AuditRecorder({
          tracerProvider: providers.tracerProvider,
          loggerProvider: providers.loggerProvider,
          ...(capture ? { config: { capture } } : {}),
        }),
      );
    }
    const proxy = await startLlmProxy({
      upstreamBaseUrl: upstreamUrl,
      upstreamApiKey: 'bench-upstream-key',
      onAuditError: (e) => auditErrors.push(String(e)),
    });
    proxy.recorder = recorders.get(key);
    proxies.push(proxy);
    return { proxy: proxies.length - 1, url: proxy.url };
  },
  /** Open `n` sessions (each with an active turn) on proxy `proxy`; returns their proxy base URLs. */
  async sessions({ proxy, n }) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const session = proxies[proxy].recorder.openSession({ userId: `bench-user-${sessions.length}`, model: 'scripted', policy: 'all' });
      let turn = session.startTurn(STREAM_USER_TEXT);
      const reg = proxies[proxy].register(session);
      const entry = {
        session,
        reg,
        newTurn() {
          turn.end();
          turn = session.startTurn(STREAM_USER_TEXT);
        },
        end() {
          turn.end();
          reg.unregister();
          session.end();
        },
      };
      sessions.push(entry);
      out.push({ session: sessions.length - 1, baseUrl: reg.baseUrl, token: reg.token });
    }
    return out;
  },
  async newTurn({ session }) {
    sessions[session].newTurn();
    return true;
  },
  async endSessions() {
    for (const s of sessions.splice(0)) s.end();
    await providers.forceFlush();
    return true;
  },
  async memory({ gc = true }) {
    if (gc && globalThis.gc) {
      globalThis.gc();
      globalThis.gc();
    }
    return mem();
  },
  async sampleStart({ everyMs = 5 }) {
    const peak = mem();
    sampler = {
      peak,
      timer: setInterval(() => {
        const m = mem();
        for (const k of Object.keys(peak)) if (m[k] > peak[k]) peak[k] = m[k];
        const heapPlus = m.heapUsed + m.external;
        if (heapPlus > (peak.heapPlusExternal ?? 0)) peak.heapPlusExternal = heapPlus;
      }, everyMs),
    };
    return true;
  },
  async sampleStop() {
    clearInterval(sampler.timer);
    return sampler.peak;
  },
  async flush() {
    await providers.forceFlush();
    return { auditErrors: auditErrors.length, firstAuditError: auditErrors[0] };
  },
  async close() {
    for (const s of sessions.splice(0)) s.end();
    await Promise.all(proxies.map((p) => p.close?.()));
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
    await Promise.all(pools.map((p) => p.destroy()));
    await providers?.shutdown();
    return true;
  },
});
