/**
 * Helper process for part 2: the audit LLM proxy as oi-audit runs it — in the host process, with an
 * AuditRecorder exporting over OTLP/HTTP JSON (batch processor) to the local sink. Sessions with an
 * active turn are opened on request, one per simulated Open Interpreter.
 */
import { createServer } from 'node:http';
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

/** The minimal pass-through: what any HTTP proxy written like the audit proxy costs, with no audit. */
async function startPassthrough(upstreamUrl) {
  const upstream = upstreamUrl.replace(/\/+$/, '');
  const server = createServer(async (req, res) => {
    const parts = [];
    for await (const b of req) parts.push(b);
    const r = await fetch(`${upstream}${req.url.replace(/^\/v1/, '')}`, {
      method: req.method,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: 'Bearer bench-upstream-key' },
      body: Buffer.concat(parts),
    });
    res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const reader = r.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${server.address().port}`;
}

serveCommands({
  /**
   * An audit LLM proxy in front of `upstreamUrl` with its own recorder (`capture`: the recorder's
   * capture policy; default = the recorder's default, `redacted`). With `passthrough: true`, instead a
   * minimal HTTP pass-through built the same way (fetch upstream, write each chunk), without audit:
   * the cost of the extra hop alone.
   */
  async start({ upstreamUrl, sinkUrl, capture, passthrough = false }) {
    providers ??= createProviders(sinkUrl);
    if (passthrough) {
      const url = await startPassthrough(upstreamUrl);
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
    await providers?.shutdown();
    return true;
  },
});
