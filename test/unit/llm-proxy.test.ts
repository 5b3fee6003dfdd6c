import { createServer, request as httpRequest, type IncomingMessage, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanStatusCode } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditRecorder } from '../../src/audit/recorder.js';
import type { CaptureMode } from '../../src/config/config.js';
import { DEMO_SCRIPT } from '../../src/demo/demo-script.js';
import { startLlmProxy, type LlmProxy, type LlmProxyOptions, type UnknownTokenInfo } from '../../src/llm-proxy/proxy.js';
import { startScriptedModel, type Script, type ScriptedModel, type ScriptedModelOptions } from '../../src/demo/scripted-model.js';
import { ChatCompletionAssembler } from '../../src/llm-proxy/openai-chat.js';
import { encodeSseData, SseParser, SSE_DONE, type SseEvent } from '../../src/llm-proxy/sse.js';
import { listenLoopback } from '../helpers/loopback-server.js';

const UPSTREAM_KEY = 'sk-upstream-SECRET-0123456789abcdefABCDEF';
const TURN1 = DEMO_SCRIPT.turns[0]!;

// --- harness ---------------------------------------------------------------------------------------

type Body = { event: string; seq: number; span_id: string; trace_id: string; data: Record<string, any> };

function inMemory(capture: CaptureMode = 'full') {
  const spans = new InMemorySpanExporter();
  const logs = new InMemoryLogRecordExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logs })] });
  const recorder = new AuditRecorder({ tracerProvider, loggerProvider, config: { capture } });
  const bodies = (): Body[] => logs.getFinishedLogRecords().map((r) => JSON.parse(r.body as string) as Body);
  const events = (name: string) => bodies().filter((b) => b.event === `oi_audit.${name}`);
  const chatSpans = () => spans.getFinishedSpans().filter((s) => s.name.startsWith('chat '));
  /** Every exported byte we can see: span names, attributes, events, status; log bodies and attributes. */
  const serialized = () =>
    JSON.stringify(
      spans.getFinishedSpans().map((s) => ({ n: s.name, a: s.attributes, e: s.events, st: s.status, l: s.links })),
    ) + JSON.stringify(logs.getFinishedLogRecords().map((r) => ({ b: r.body, a: r.attributes, sev: r.severityText })));
  return { recorder, spans, logs, bodies, events, chatSpans, serialized };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function scripted(opts: Partial<ScriptedModelOptions> = {}): Promise<ScriptedModel> {
  const m = await startScriptedModel({ script: DEMO_SCRIPT, ...opts });
  cleanups.push(() => m.close());
  return m;
}

async function proxyFor(upstreamBaseUrl: string, opts: Partial<LlmProxyOptions> = {}): Promise<LlmProxy> {
  const p = await startLlmProxy({ upstreamBaseUrl, upstreamApiKey: UPSTREAM_KEY, ...opts });
  cleanups.push(() => p.close());
  return p;
}

interface SeenRequest {
  headers: IncomingHttpHeaders;
  body: string;
  closedEarly: boolean;
}

/** A hand-driven upstream for timing, header and failure cases. */
async function controlledUpstream(handler: (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => Promise<void> | void) {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const s: SeenRequest = { headers: req.headers, body: Buffer.concat(parts).toString('utf8'), closedEarly: false };
      seen.push(s);
      res.on('close', () => {
        if (!res.writableFinished) s.closedEarly = true;
      });
      void Promise.resolve(handler(req, res, s)).catch(() => res.destroy());
    });
  });
  const url = `${await listenLoopback(server, cleanups)}/v1`;
  return { url, seen };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(fn: () => T | undefined | false, what: string, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function chunk(content: string, extra: Record<string, unknown> = {}, finish: string | null = null) {
  return encodeSseData({
    id: 'chatcmpl-ctl',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'ctl-model',
    choices: [{ index: 0, delta: { content }, finish_reason: finish }],
    ...extra,
  });
}

function chatRequest(text: string, extra: Record<string, unknown> = {}) {
  return {
    model: 'scripted',
    stream: true,
    messages: [
      { role: 'system', content: 'You are Open Interpreter.' },
      { role: 'user', content: text },
    ],
    ...extra,
  };
}

/** A chat-completions call the way litellm makes it: the session's key as the Bearer credential. */
async function post(reg: { baseUrl: string; token: string }, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${reg.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${reg.token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

async function readAll(res: Response): Promise<{ raw: string; events: SseEvent[]; error?: unknown }> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  let raw = '';
  const events: SseEvent[] = [];
  try {
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
      const t = decoder.decode(piece, { stream: true });
      raw += t;
      events.push(...parser.feed(t));
    }
    events.push(...parser.end());
    return { raw, events };
  } catch (error) {
    return { raw, events, error };
  }
}

function assemble(events: SseEvent[]) {
  const asm = new ChatCompletionAssembler();
  for (const e of events) asm.acceptEventData(e.data);
  return asm.result();
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

// --- tests -----------------------------------------------------------------------------------------

describe('LLM proxy', () => {
  it('records a streamed call as a generation under the prompt span, with the exact messages and the assembled reply', async () => {
    const h = inMemory('full');
    const model = await scripted({ chunkSize: 5 });
    const proxy = await proxyFor(model.url);
    const session = h.recorder.openSession({ userId: 'alice' });
    const reg = proxy.register(session);
    expect(reg.token).toMatch(/^oia_[0-9a-f]{64}$/);
    // The base URL carries no secret: the session is found by the key alone.
    expect(reg.baseUrl).toBe(`${proxy.url}/v1`);
    expect(reg.rootUrl).toBe(proxy.url);
    expect(reg.baseUrl).not.toContain(reg.token.slice(4));
    const turn = session.startTurn(TURN1.user);

    const request = chatRequest(TURN1.user);
    request.messages.push({ role: 'assistant', content: 'Tab\tnewline\n"quoted" ünïcødé 😀' }, { role: 'user', content: TURN1.user });
    const res = await post(reg, request);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const { events, raw } = await readAll(res);
    expect(raw.endsWith(SSE_DONE)).toBe(true);
    expect(assemble(events).content).toBe(TURN1.replies[0]);

    // The upstream got the request unchanged in meaning, plus the ask for stream usage the client did not make.
    expect(model.requests).toEqual([{ ...request, stream_options: { include_usage: true } }]);
    // ...and the client did not get the usage-only chunk that ask added.
    const usageOnly = events.filter((e) => e.data !== '[DONE]' && (JSON.parse(e.data) as { choices: unknown[] }).choices.length === 0);
    expect(usageOnly).toEqual([]);

    const [gen] = h.chatSpans();
    expect(gen).toBeDefined();
    expect(gen!.name).toBe('chat scripted');
    expect(parentOf(gen!)).toBe(turn.span.spanContext().spanId);
    expect(gen!.spanContext().traceId).toBe(session.rootSpan.spanContext().traceId);
    expect(gen!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'scripted',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.stream': true,
      'gen_ai.response.model': 'scripted',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': expect.any(Number),
      'gen_ai.usage.output_tokens': expect.any(Number),
      // every chunk the client got (all but [DONE]) plus the hidden usage chunk
      'oi_audit.llm.chunks': events.length,
      'oi_audit.llm.upstream_status': 200,
    });
    expect(gen!.attributes['oi_audit.llm.time_to_first_chunk_ms']).toEqual(expect.any(Number));
    expect(gen!.attributes['oi_audit.llm.client_disconnected']).toBeUndefined();
    expect(gen!.status.code).not.toBe(SpanStatusCode.ERROR);

    const [req] = h.events('llm.request');
    expect(req!.span_id).toBe(gen!.spanContext().spanId);
    expect(req!.data.messages.mode).toBe('full');
    expect(req!.data.messages.text).toBe(JSON.stringify(request.messages));
    expect(JSON.parse(req!.data.messages.text)).toEqual(request.messages);
    expect(req!.data).toMatchObject({ model: 'scripted', provider: 'openai', stream: true, turn: 0, call: 0 });

    const [resp] = h.events('llm.response');
    expect(resp!.data.content.text).toBe(TURN1.replies[0]);
    expect(resp!.data.finish_reasons).toEqual(['stop']);
    expect(resp!.data.client_disconnected).toBeUndefined();
    expect(h.events('error')).toEqual([]);
  });

  it('passes chunks through as they arrive, before the upstream has finished', async () => {
    const h = inMemory();
    // The upstream holds its second chunk until the test has read the first one through the proxy: a
    // proxy that buffered would deadlock here (and the test time out), whatever the machine's load.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const upstream = await controlledUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('first '));
      await gate;
      res.write(chunk('second', {}, 'stop'));
      res.end(SSE_DONE);
    });
    const proxy = await proxyFor(upstream.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn('hi');
    const res = await post(reg, chatRequest('hi'));
    const reader = res.body!.getReader();
    const firstRead = await reader.read();
    expect(new TextDecoder().decode(firstRead.value)).toContain('first ');
    expect(new TextDecoder().decode(firstRead.value)).not.toContain('second');
    release();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain('second');
    const [resp] = h.events('llm.response');
    expect(resp!.data.content.text).toBe('first second');
    // The first chunk was marked when it arrived, not when the stream ended.
    expect(h.chatSpans()[0]!.attributes['oi_audit.llm.time_to_first_chunk_ms'] as number).toBeLessThan(400);
  });

  it('sends our upstream key, never the key Open Interpreter sent, and strips it from everything recorded', async () => {
    const h = inMemory('full');
    const upstream = await controlledUpstream((req, res, seen) => {
      if (seen.body.includes('fail please')) {
        // Like OpenAI's 401, the error message echoes the key it was given.
        const body = JSON.stringify({ error: { message: `Incorrect API key provided: ${UPSTREAM_KEY}.`, type: 'invalid_request_error', code: 'invalid_api_key' } });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(body);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk(`echo of ${req.headers.authorization}`));
      res.write(chunk('', {}, 'stop'));
      res.end(SSE_DONE);
    });
    const proxy = await proxyFor(upstream.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn('hi');

    const ok = await readAll(await post(reg, chatRequest('hi')));
    expect(ok.raw).toContain('[DONE]');
    expect(upstream.seen[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(JSON.stringify(upstream.seen[0]!.headers)).not.toContain(reg.token);

    const denied = await post(reg, chatRequest('fail please'));
    expect(denied.status).toBe(401);
    const deniedText = await denied.text();
    expect(deniedText).not.toContain(UPSTREAM_KEY);
    expect(deniedText).toContain('Incorrect API key provided');

    // Even a request that carries the key is recorded without it.
    await readAll(await post(reg, chatRequest(`my key is ${UPSTREAM_KEY}`)));
    expect(upstream.seen[2]!.body).toContain(UPSTREAM_KEY);
    expect(h.events('error').map((e) => e.data.type)).toEqual(expect.arrayContaining(['upstream_401', 'upstream_key_in_request']));

    session.end('complete');
    expect(h.events('llm.request')).toHaveLength(3);
    expect(h.events('llm.response')).toHaveLength(3);
    const all = h.serialized();
    expect(all).toContain('Incorrect API key provided');
    expect(all).not.toContain(UPSTREAM_KEY);
    expect(all).not.toContain(UPSTREAM_KEY.slice(0, 24));
    // The session key (Open Interpreter's credential) is in no exported record.
    expect(all).not.toContain(reg.token);
  });

  it('ends the generation with client_disconnected when the client hangs up mid-stream (text mode), and aborts upstream', async () => {
    const h = inMemory('full');
    const upstream = await controlledUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of ['Let me run it.\n\n', '```', 'python\n', 'print(1)\n', '```', '\n\nMore text after the block.']) {
        if (res.destroyed) return;
        res.write(chunk(piece));
        await sleep(40);
      }
      for (let i = 0; i < 100 && !res.destroyed; i++) {
        res.write(chunk(' more'));
        await sleep(40);
      }
      if (!res.destroyed) res.end(SSE_DONE);
    });
    const proxy = await proxyFor(upstream.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn('run');

    // Read like Open Interpreter's text mode: stop at the closing fence and hang up.
    const controller = new AbortController();
    const res = await post(reg, chatRequest('run'), controller.signal);
    const parser = new SseParser();
    const asm = new ChatCompletionAssembler();
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    outer: for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of parser.feed(decoder.decode(value, { stream: true }))) {
        asm.acceptEventData(ev.data);
        if ((asm.result().content.match(/```/g) ?? []).length >= 2) break outer;
      }
    }
    controller.abort();

    await waitFor(() => h.events('llm.response')[0], 'llm.response');
    await waitFor(() => upstream.seen[0]!.closedEarly, 'upstream request to be aborted');
    const [resp] = h.events('llm.response');
    expect(resp!.data.client_disconnected).toBe(true);
    expect(resp!.data.content.text).toContain('```python\nprint(1)\n```');
    const gen = h.chatSpans()[0]!;
    expect(gen.attributes['oi_audit.llm.client_disconnected']).toBe(true);
    expect(gen.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(gen.attributes['error.type']).toBeUndefined();
    expect(h.events('error')).toEqual([]);
    await waitFor(() => proxy.activeRequests === 0, 'no request in flight');
  });

  /** An upstream that streams megabytes fast (honouring backpressure) until it is told to stop or the proxy hangs up. */
  async function floodingUpstream() {
    return controlledUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('Run.\n\n'));
      for (const p of ['```', 'python\n', 'print(1)\n', '```']) res.write(chunk(p));
      const filler = chunk('x'.repeat(64 * 1024));
      for (let i = 0; i < 400 && !res.destroyed; i++) {
        if (!res.write(filler)) await new Promise((r) => { res.once('drain', r); res.once('close', r); });
      }
      if (!res.destroyed) res.end(SSE_DONE);
    });
  }

  /** Start a streamed call with node:http, read until the closing fence, then stop reading without hanging up. */
  function startStalledClient(reg: { baseUrl: string; token: string }, body: unknown) {
    const url = new URL(`${reg.baseUrl}/chat/completions`);
    return new Promise<{ drain: () => Promise<{ complete: boolean }> }>((resolve, reject) => {
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${reg.token}` };
      const req = httpRequest(url, { method: 'POST', headers }, (res) => {
        let text = '';
        /** Resume reading (a paused socket does not see the close) and report how the response ended. */
        const drain = () =>
          new Promise<{ complete: boolean }>((r) => {
            res.on('close', () => r({ complete: res.complete }));
            res.on('data', () => undefined);
            res.resume();
          });
        const onData = (b: Buffer) => {
          text += b.toString('utf8');
          if ((text.match(/```/g) ?? []).length >= 2) {
            res.off('data', onData);
            res.pause();
            resolve({ drain });
          }
        };
        res.on('data', onData);
        res.on('error', () => undefined);
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  it('treats a client that stops reading as gone after clientStallTimeoutMs (litellm closes lazily)', async () => {
    const h = inMemory();
    const upstream = await floodingUpstream();
    const proxy = await proxyFor(upstream.url, { clientStallTimeoutMs: 300 });
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn('run');
    // The flooding upstream never ends: a response event at all means the stall timeout cut the client.
    const client = await startStalledClient(reg, chatRequest('run'));
    const [resp] = await waitFor(() => h.events('llm.response').length > 0 && h.events('llm.response'), 'llm.response');
    expect(resp!.data.client_disconnected).toBe(true);
    // The proxy closed the stalled client's connection: the response never completes.
    expect(await client.drain()).toEqual({ complete: false });
    await waitFor(() => upstream.seen[0]!.closedEarly, 'upstream request to be aborted');
    expect(h.events('error')).toEqual([]);
    expect(proxy.activeRequests).toBe(0);
  });

  it("ends a session's unread stream as soon as that session's next LLM call arrives", async () => {
    const h = inMemory();
    const upstream = await floodingUpstream();
    const proxy = await proxyFor(upstream.url, { clientStallTimeoutMs: 60_000 });
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn('run');
    await startStalledClient(reg, chatRequest('run'));
    await sleep(300); // let the buffers fill: the proxy is now waiting on the client
    expect(proxy.activeRequests).toBe(1);
    expect(h.events('llm.response')).toEqual([]);
    // The session's next call (its upstream reply does not matter here): the unread stream ends first.
    const second = await post(reg, chatRequest('next'), AbortSignal.timeout(2000)).catch(() => undefined);
    await second?.body?.cancel().catch(() => undefined);
    const first = await waitFor(() => h.events('llm.response').find((e) => e.data.call === 0), 'first response');
    expect(first.data.client_disconnected).toBe(true);
    const secondRequest = h.events('llm.request').find((e) => e.data.call === 1)!;
    expect(first.seq).toBeLessThan(secondRequest.seq);
  });

  it('passes an upstream 500 through and records error type upstream_500', async () => {
    const h = inMemory();
    const model = await scripted({ faults: { http500: { message: 'model exploded' } } });
    const proxy = await proxyFor(model.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    const turn = session.startTurn(TURN1.user);
    const res = await post(reg, chatRequest(TURN1.user));
    expect(res.status).toBe(500);
    expect(((await res.json()) as any).error.message).toBe('model exploded');
    const [err] = h.events('error');
    expect(err!.data).toMatchObject({ source: 'llm', type: 'upstream_500' });
    const gen = h.chatSpans()[0]!;
    expect(err!.span_id).toBe(gen.spanContext().spanId);
    expect(parentOf(gen)).toBe(turn.span.spanContext().spanId);
    expect(gen.status.code).toBe(SpanStatusCode.ERROR);
    expect(gen.attributes).toMatchObject({ 'error.type': 'upstream_500', 'oi_audit.llm.upstream_status': 500 });
    const errLog = h.logs.getFinishedLogRecords().find((r) => r.attributes['event.name'] === 'oi_audit.error')!;
    expect(errLog.attributes['error.type']).toBe('upstream_500');
  });

  it('records a cut upstream stream as upstream_stream_cut with the partial reply, and tells the client with an error event', async () => {
    const h = inMemory('full');
    const model = await scripted({ chunkSize: 4, faults: { cutStream: { afterChunks: 4 } } });
    const proxy = await proxyFor(model.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn(TURN1.user);
    const res = await post(reg, chatRequest(TURN1.user));
    expect(res.status).toBe(200);
    const { events, error } = await readAll(res);
    expect(error).toBeUndefined(); // the client response ends cleanly...
    const last = JSON.parse(events.at(-1)!.data) as Record<string, any>;
    expect(last.error.type).toBe('upstream_stream_cut'); // ...with an OpenAI-style error event, not [DONE]
    expect(events.some((e) => e.data === '[DONE]')).toBe(false);

    const [err] = h.events('error');
    expect(err!.data).toMatchObject({ source: 'llm', type: 'upstream_stream_cut' });
    const [resp] = h.events('llm.response');
    expect(resp!.data.content.text).toBe((TURN1.replies[0] as string).slice(0, 12)); // role delta + three 4-character deltas
    const gen = h.chatSpans()[0]!;
    expect(gen.status.code).toBe(SpanStatusCode.ERROR);
    expect(gen.attributes['oi_audit.llm.chunks']).toBe(4);
  });

  it('treats a stream that ends without [DONE] or finish_reason as cut', async () => {
    const h = inMemory();
    const upstream = await controlledUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(chunk('half a reply'));
    });
    const proxy = await proxyFor(upstream.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn('x');
    const { events } = await readAll(await post(reg, chatRequest('x')));
    expect(JSON.parse(events.at(-1)!.data).error.type).toBe('upstream_stream_cut');
    expect(h.events('error')[0]!.data.type).toBe('upstream_stream_cut');
  });

  it('records upstream_timeout when the upstream goes silent mid-response, and an error reported inside the stream', async () => {
    const h = inMemory();
    const slow = await scripted({ faults: { firstChunkDelay: { ms: 1500 } } });
    const proxy = await proxyFor(slow.url, { idleTimeoutMs: 200 });
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn(TURN1.user);
    // The upstream would answer after 1.5 s: an upstream_timeout error means the 200 ms idle timer fired first.
    const { events } = await readAll(await post(reg, chatRequest(TURN1.user)));
    expect(JSON.parse(events.at(-1)!.data).error.type).toBe('upstream_timeout');

    const erring = await controlledUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('partial'));
      res.end(encodeSseData({ error: { message: 'overloaded', type: 'server_error' } }));
    });
    const proxy2 = await proxyFor(erring.url);
    const reg2 = proxy2.register(session);
    const r2 = await readAll(await post(reg2, chatRequest('x')));
    expect(JSON.parse(r2.events.at(-1)!.data).error.message).toBe('overloaded'); // passed through as sent
    expect(h.events('error').map((e) => e.data.type)).toEqual(['upstream_timeout', 'upstream_stream_error']);
    expect(h.events('llm.response').map((e) => e.data.content.text)).toEqual(['', 'partial']);
  });

  it('refuses unknown, missing and misplaced keys with 401, counts them and reports them', async () => {
    const h = inMemory();
    const model = await scripted();
    const seen: UnknownTokenInfo[] = [];
    const proxy = await proxyFor(model.url, { onUnknownToken: (i) => seen.push(i) });
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn(TURN1.user);

    const forged = `oia_${'ab'.repeat(32)}`;
    const r1 = await post({ baseUrl: `${proxy.url}/v1`, token: forged }, chatRequest(TURN1.user));
    expect(r1.status).toBe(401);
    expect(((await r1.json()) as any).error).toMatchObject({ type: 'authentication_error', code: 'unknown_token' });
    const r2 = await fetch(`${proxy.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chatRequest(TURN1.user)) });
    expect(r2.status).toBe(401);
    expect(((await r2.json()) as any).error.code).toBe('missing_token');
    const r3 = await fetch(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(r3.status).toBe(401);
    // The right key in another provider's header is not this route's credential.
    const r4 = await fetch(`${proxy.url}/v1/chat/completions`, { method: 'POST', headers: { 'x-api-key': reg.token }, body: JSON.stringify(chatRequest(TURN1.user)) });
    expect(r4.status).toBe(401);
    // The old URL-token form is gone: a key in the path is no credential.
    const r5 = await fetch(`${proxy.url}/s/${reg.token}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chatRequest(TURN1.user)) });
    expect(r5.status).toBe(404);

    expect(proxy.unknownTokenRequests).toBe(4);
    expect(seen.map((s) => s.reason)).toEqual(['unknown_token', 'missing_token', 'unknown_token', 'missing_token']);
    expect(seen[0]).toMatchObject({ method: 'POST', path: '/v1/chat/completions', remoteAddress: '127.0.0.1' });
    expect(seen[0]!.tokenSha256Prefix).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(seen)).not.toContain(forged);
    expect(model.requests).toEqual([]); // nothing reached the model
    expect(h.chatSpans()).toEqual([]);
  });

  it('refuses a token once unregistered or once its session has ended', async () => {
    const h = inMemory();
    const model = await scripted();
    const proxy = await proxyFor(model.url);
    const s1 = h.recorder.openSession({ userId: 'u' });
    const r1 = proxy.register(s1);
    s1.startTurn(TURN1.user);
    const unregister = r1.unregister;
    unregister();
    expect((await post(r1, chatRequest(TURN1.user))).status).toBe(401);

    const s2 = h.recorder.openSession({ userId: 'u' });
    const r2 = proxy.register(s2);
    s2.end('complete');
    const res = await post(r2, chatRequest(TURN1.user));
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.code).toBe('session_ended');
    expect(proxy.unknownTokenRequests).toBe(2);
    expect(model.requests).toEqual([]);
  });

  it('answers 400 to malformed JSON and records it on the session', async () => {
    const h = inMemory();
    const model = await scripted();
    const proxy = await proxyFor(model.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    const turn = session.startTurn('x');
    const res = await post(reg, '{"model": "m", "messages": [');
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('invalid_json');
    const bad = await post(reg, { model: 'm', messages: 'not a list' });
    expect(bad.status).toBe(400);
    const errors = h.events('error');
    expect(errors.map((e) => e.data.type)).toEqual(['invalid_request', 'invalid_request']);
    expect(errors[0]!.span_id).toBe(turn.span.spanContext().spanId);
    expect(model.requests).toEqual([]);
  });

  it('answers 502 when the upstream is unreachable and 504 when it does not answer in time', async () => {
    const h = inMemory();
    // A port nobody listens on: bind, note, close.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const dead = await proxyFor(`http://127.0.0.1:${deadPort}/v1`);
    const session = h.recorder.openSession({ userId: 'u' });
    session.startTurn('x');
    const r1 = await post(dead.register(session), chatRequest('x'));
    expect(r1.status).toBe(502);
    expect(((await r1.json()) as any).error.type).toBe('upstream_unreachable');

    const slow = await scripted({ faults: { headersDelay: { ms: 1500 } } });
    const proxy = await proxyFor(slow.url, { requestTimeoutMs: 200 });
    const reg = proxy.register(session);
    // Headers would come after 1.5 s: a 504 means the 200 ms request timeout fired first.
    const r2 = await post(reg, chatRequest(TURN1.user));
    expect(r2.status).toBe(504);
    expect(((await r2.json()) as any).error.type).toBe('upstream_timeout');
    expect(h.events('error').map((e) => e.data.type)).toEqual(['upstream_unreachable', 'upstream_timeout']);
    expect(h.chatSpans().every((s) => s.status.code === SpanStatusCode.ERROR)).toBe(true);
  });

  it('records tool calls (function-calling mode) and non-streaming calls', async () => {
    const h = inMemory('full');
    const script: Script = {
      turns: [{ user: 'tool', replies: [{ content: 'Running.', tool_call: { language: 'shell', code: 'echo hi' } }, 'It printed hi.'] }],
    };
    const model = await scripted({ script, chunkSize: 3 });
    const proxy = await proxyFor(model.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn('tool');
    const tools = [{ type: 'function', function: { name: 'execute', parameters: { type: 'object' } } }];
    await readAll(await post(reg, chatRequest('tool', { tools })));
    const res = await post(reg, chatRequest('tool', { stream: false }));
    expect(((await res.json()) as any).choices[0].message.tool_calls[0].function.name).toBe('execute');

    const [req] = h.events('llm.request');
    expect(JSON.parse(req!.data.tools.text)).toEqual(tools);
    const [streamed, whole] = h.events('llm.response');
    for (const r of [streamed!, whole!]) {
      expect(r.data.content.text).toBe('Running.');
      expect(r.data.finish_reasons).toEqual(['tool_calls']);
      const calls = JSON.parse(r.data.tool_calls.text);
      expect(calls[0].function.name).toBe('execute');
      expect(JSON.parse(calls[0].function.arguments)).toEqual({ language: 'shell', code: 'echo hi' });
    }
    expect(h.chatSpans().map((s) => s.attributes['gen_ai.request.stream'])).toEqual([true, false]);
  });

  it('forwards a call outside any turn and records it on the session root (or refuses it when configured)', async () => {
    const h = inMemory('full');
    const model = await scripted();
    const proxy = await proxyFor(model.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    const res = await post(reg, chatRequest(TURN1.user));
    expect(res.status).toBe(200);
    await readAll(res);
    const root = session.rootSpan.spanContext().spanId;
    const [err] = h.events('error');
    expect(err!.data.type).toBe('llm_call_outside_turn');
    expect(err!.span_id).toBe(root);
    const gen = h.chatSpans()[0]!;
    expect(parentOf(gen)).toBe(root);
    const [req] = h.events('llm.request');
    expect(req!.data).toMatchObject({ turn: null, outside_turn: true });
    expect(JSON.parse(req!.data.messages.text)).toEqual(chatRequest(TURN1.user).messages);
    expect(h.events('llm.response')[0]!.data.content.text).toBe(TURN1.replies[0]);

    const strict = await proxyFor(model.url, { outsideTurn: 'refuse' });
    const reg2 = strict.register(session);
    const refused = await post(reg2, chatRequest(TURN1.user));
    expect(refused.status).toBe(409);
    expect(model.requests).toHaveLength(1);
    expect(h.events('error').map((e) => e.data.type)).toEqual(['llm_call_outside_turn', 'llm_call_outside_turn', 'llm_call_refused']);
  });

  it('records malformed SSE from upstream without breaking the pass-through', async () => {
    const h = inMemory('full');
    const model = await scripted({ faults: { malformedSse: { afterChunks: 2 } } });
    const proxy = await proxyFor(model.url);
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn(TURN1.user);
    const { raw } = await readAll(await post(reg, chatRequest(TURN1.user)));
    expect(raw).toContain('data: {"id": "broken"');
    expect(raw.endsWith(SSE_DONE)).toBe(true);
    expect(h.events('error').map((e) => e.data.type)).toEqual(['upstream_malformed_sse']);
    expect(h.events('llm.response')[0]!.data.content.text).toBe(TURN1.replies[0]);
  });

  it('bounds what it assembles from a hostile huge reply while passing it all through', async () => {
    const h = inMemory('full');
    const model = await scripted({ chunkSize: 8192, faults: { hugeReply: { bytes: 3_000_000 } } });
    const proxy = await proxyFor(model.url, { maxAssembledChars: 100_000 });
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn(TURN1.user);
    const { events } = await readAll(await post(reg, chatRequest(TURN1.user)));
    expect(assemble(events).content.length).toBeGreaterThan(2_000_000);
    const [resp] = h.events('llm.response');
    expect(resp!.data.content.bytes).toBeLessThanOrEqual(400_000);
    expect(h.events('error').map((e) => e.data.type)).toEqual(['llm_response_truncated']);
    // Hostile control characters were escaped in the record, not passed on.
    expect(resp!.data.content.text).not.toContain('\u001b');
    expect(resp!.data.content.text).not.toContain('\u202e');
  });

  it('fails in-flight generations with proxy_shutdown on close()', async () => {
    const h = inMemory();
    const upstream = await controlledUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('slow'));
      await sleep(5000);
      if (!res.destroyed) res.end(SSE_DONE);
    });
    const proxy = await startLlmProxy({ upstreamBaseUrl: upstream.url });
    const session = h.recorder.openSession({ userId: 'u' });
    const reg = proxy.register(session);
    session.startTurn('x');
    const res = await post(reg, chatRequest('x'));
    const reader = res.body!.getReader();
    await reader.read();
    expect(proxy.activeRequests).toBe(1);
    await proxy.close();
    expect(proxy.activeRequests).toBe(0);
    expect(h.events('error').map((e) => e.data.type)).toEqual(['proxy_shutdown']);
  });
});
