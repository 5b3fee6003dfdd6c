/**
 * The proxy's upstream leg (src/llm-proxy/upstream-client.ts and the recording order in exchange.ts):
 * fail-closed when the request cannot be recorded, in both orders; the record sealed before anything of
 * the answer reaches the client; redirects not followed; error bodies bounded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditRecorder } from '../../src/audit/recorder.js';
import type { AuditTurn } from '../../src/audit/turn.js';
import { startLlmProxy, type LlmProxy, type LlmProxyOptions } from '../../src/llm-proxy/proxy.js';
import { encodeSseData, SSE_DONE } from '../../src/llm-proxy/sse.js';
import { listenLoopback } from '../helpers/loopback-server.js';

type Body = { event: string; data: Record<string, any> };

function inMemory() {
  const logs = new InMemoryLogRecordExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logs })] });
  const recorder = new AuditRecorder({ tracerProvider, loggerProvider, config: { capture: 'full' } });
  const events = (name: string) =>
    logs
      .getFinishedLogRecords()
      .map((r) => JSON.parse(r.body as string) as Body)
      .filter((b) => b.event === `oi_audit.${name}`);
  return { recorder, events };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstreamServer(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => handler(req, res));
  });
  const url = await listenLoopback(server, cleanups);
  return { url, seen };
}

async function proxyFor(upstreamBaseUrl: string, opts: Partial<LlmProxyOptions> = {}): Promise<LlmProxy> {
  const p = await startLlmProxy({ upstreamBaseUrl, upstreamApiKey: 'sk-upstream-TEST-key-0123456789', ...opts });
  cleanups.push(() => p.close());
  return p;
}

const REQUEST = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });

function post(reg: { baseUrl: string; token: string }, body = REQUEST): Promise<Response> {
  return fetch(`${reg.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${reg.token}` },
    body,
    redirect: 'manual',
  });
}

const SECRET_REPLY = 'UPSTREAM-ANSWER-THAT-MUST-NOT-PASS';

function streamReply(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(encodeSseData({ id: 'c', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content: SECRET_REPLY }, finish_reason: null }] }));
  res.end(encodeSseData({ id: 'c', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) + SSE_DONE);
}

/** Make the turn unable to record an LLM call, as a broken audit pipeline would. */
function breakRecording(turn: AuditTurn): void {
  turn.startGeneration = () => {
    throw new Error('audit pipeline broken (test)');
  };
}

describe('LLM proxy upstream leg', () => {
  for (const order of ['while-forwarding', 'before-forward'] as const) {
    it(`fails closed when the request cannot be recorded (recordRequest: ${order}): 503, nothing of the answer passed on`, async () => {
      const h = inMemory();
      const up = await upstreamServer((_req, res) => streamReply(res));
      const auditErrors: unknown[] = [];
      const proxy = await proxyFor(`${up.url}/v1`, { recordRequest: order, onAuditError: (e) => auditErrors.push(e) });
      const session = h.recorder.openSession({ userId: 'u' });
      breakRecording(session.startTurn('x'));
      const res = await post(proxy.register(session));
      const text = await res.text();
      expect(res.status).toBe(503);
      expect(JSON.parse(text).error.type).toBe('audit_unavailable');
      expect(text).not.toContain(SECRET_REPLY);
      expect(String(auditErrors[0])).toContain('audit pipeline broken');
      // The strict order never lets an unrecorded request out.
      if (order === 'before-forward') expect(up.seen).toEqual([]);
      expect(proxy.activeRequests).toBe(0);
    });
  }

  it('has the request record sealed before the first byte of an instant answer reaches the client', async () => {
    const h = inMemory();
    const up = await upstreamServer((_req, res) => streamReply(res));
    const proxy = await proxyFor(`${up.url}/v1`);
    const session = h.recorder.openSession({ userId: 'u' });
    session.startTurn('x');
    const res = await post(proxy.register(session));
    // The client has the status line: the request record must already exist.
    expect(res.status).toBe(200);
    expect(h.events('llm.request')).toHaveLength(1);
    expect(await res.text()).toContain(SECRET_REPLY);
    expect(h.events('llm.response')).toHaveLength(1);
  });

  it('does not follow an upstream redirect: passed on as the upstream answer, recorded as upstream_302', async () => {
    const h = inMemory();
    const elsewhere = await upstreamServer((_req, res) => streamReply(res));
    const up = await upstreamServer((_req, res) => {
      res.writeHead(302, { location: `${elsewhere.url}/v1/chat/completions`, 'content-type': 'application/json' });
      res.end('{"error":{"message":"moved"}}');
    });
    const proxy = await proxyFor(`${up.url}/v1`);
    const session = h.recorder.openSession({ userId: 'u' });
    session.startTurn('x');
    const res = await post(proxy.register(session));
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBeNull();
    await res.text();
    expect(elsewhere.seen).toEqual([]);
    expect(h.events('error').map((e) => e.data.type)).toEqual(['upstream_302']);
  });

  it('bounds an endless upstream error body (1 MiB passed on) and still scrubs the upstream key', async () => {
    const h = inMemory();
    const key = 'sk-upstream-TEST-key-0123456789';
    const up = await upstreamServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      // 8 MiB of error text with the key in it; the proxy must not wait for or hold all of it.
      const piece = `${'e'.repeat(1024 * 1024 - key.length)}${key}`;
      let n = 0;
      const more = () => {
        while (n < 8) {
          n++;
          if (!res.write(piece)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    const proxy = await proxyFor(`${up.url}/v1`);
    const session = h.recorder.openSession({ userId: 'u' });
    session.startTurn('x');
    const res = await post(proxy.register(session));
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(text.length).toBeLessThanOrEqual(1024 * 1024);
    expect(text).not.toContain(key);
    expect(h.events('error').map((e) => e.data.type)).toEqual(['upstream_500']);
  });

  it('reuses one kept-alive upstream connection for consecutive calls', async () => {
    const h = inMemory();
    const ports = new Set<number>();
    const up = await upstreamServer((req, res) => {
      ports.add(req.socket.remotePort!);
      streamReply(res);
    });
    const proxy = await proxyFor(`${up.url}/v1`);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    for (let i = 0; i < 3; i++) {
      const turn = session.startTurn('x');
      const res = await post(reg);
      expect(await res.text()).toContain(SECRET_REPLY);
      turn.end();
    }
    expect(up.seen).toHaveLength(3);
    expect(ports.size).toBe(1);
  });
});
