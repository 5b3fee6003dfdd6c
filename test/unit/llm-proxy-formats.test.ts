/**
 * Every wire format end to end through the proxy against the scripted model: the client's request
 * reaches the provider's own route with the upstream key in the provider's own auth header, the client
 * gets the provider's own stream, and the record holds provider name, model, text, tool calls, finish
 * reasons and token usage as the stand-in sent them.
 */
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditRecorder } from '../../src/audit/recorder.js';
import { startScriptedModel, type Script, type ScriptedModel, type ScriptedModelOptions } from '../../src/demo/scripted-model.js';
import { startLlmProxy, type LlmProxy, type ProxyRegistration } from '../../src/llm-proxy/proxy.js';

const UPSTREAM_KEY = 'sk-upstream-FORMATS-0123456789abcdef';

const SCRIPT: Script = {
  turns: [
    { user: 'say hello', replies: ['Hello there, friend.'] },
    { user: 'run a tool', replies: [{ content: 'Running it.', tool_call: { language: 'shell', code: 'echo tool-ok' } }] },
    { user: 'run a fence', replies: ['I will list it.\n\n```shell\nls /tmp\n```\n'] },
  ],
};

function inMemory() {
  const spans = new InMemorySpanExporter();
  const logs = new InMemoryLogRecordExporter();
  const recorder = new AuditRecorder({
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    loggerProvider: new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logs })] }),
    config: { capture: 'full' },
  });
  const events = (name: string) =>
    logs
      .getFinishedLogRecords()
      .map((r) => JSON.parse(r.body as string) as { event: string; data: Record<string, any> })
      .filter((b) => b.event === `oi_audit.${name}`);
  const chatSpans = () => spans.getFinishedSpans().filter((s) => s.name.startsWith('chat '));
  const serialized = () =>
    JSON.stringify(spans.getFinishedSpans().map((s) => ({ n: s.name, a: s.attributes, e: s.events }))) +
    JSON.stringify(logs.getFinishedLogRecords().map((r) => ({ b: r.body, a: r.attributes })));
  return { recorder, events, chatSpans, serialized };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The scripted model (`modelOptions`, default chunkSize 3), the proxy in front of it, and a session registered with it. */
async function setup(modelOptions: Omit<ScriptedModelOptions, 'script'> = { chunkSize: 3 }) {
  const h = inMemory();
  const model: ScriptedModel = await startScriptedModel({ script: SCRIPT, ...modelOptions });
  cleanups.push(() => model.close());
  const proxy: LlmProxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: UPSTREAM_KEY });
  cleanups.push(() => proxy.close());
  const session = h.recorder.openSession({ userId: 'u' });
  const reg = proxy.register(session);
  return { h, model, proxy, session, reg };
}

interface FormatCase {
  name: string;
  provider: string;
  /** Path at the proxy (and at the upstream). */
  path: string;
  /** The credential header, as the provider's clients send it. */
  auth: (key: string) => Record<string, string>;
  /** Header name the upstream must see the upstream key in, and its value. */
  upstreamAuth: [string, string];
  body: (text: string, stream: boolean) => Record<string, unknown>;
  /** The text the client reads back from the raw stream / body. */
  textOf: (raw: string) => string;
}

/** Collect every JSON object in an SSE or NDJSON body. */
function objects(raw: string): any[] {
  const out: any[] = [];
  for (const line of raw.split('\n')) {
    const t = line.startsWith('data: ') ? line.slice(6) : line;
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t));
    } catch {
      // not a whole object
    }
  }
  return out;
}

const chatMessages = (text: string) => [
  { role: 'system', content: 'sys' },
  { role: 'user', content: text },
];

/** The OpenAI, Responses and Ollama clients' credential: `Authorization: Bearer`, passed upstream as such. */
const BEARER: Pick<FormatCase, 'auth' | 'upstreamAuth'> = {
  auth: (k) => ({ authorization: `Bearer ${k}` }),
  upstreamAuth: ['authorization', `Bearer ${UPSTREAM_KEY}`],
};

/** Chat Completions text: the deltas of a stream, or the message of a whole body (OpenAI and Azure alike). */
const chatText = (raw: string): string => objects(raw).map((o) => o.choices?.[0]?.delta?.content ?? o.choices?.[0]?.message?.content ?? '').join('');

const CASES: FormatCase[] = [
  {
    name: 'OpenAI chat',
    provider: 'openai',
    path: '/v1/chat/completions',
    ...BEARER,
    body: (text, stream) => ({ model: 'gpt-4o-mini', stream, messages: chatMessages(text) }),
    textOf: chatText,
  },
  {
    name: 'Azure OpenAI',
    provider: 'azure.ai.openai',
    path: '/openai/deployments/my-dep/chat/completions?api-version=2024-10-21',
    auth: (k) => ({ 'api-key': k }),
    upstreamAuth: ['api-key', UPSTREAM_KEY],
    body: (text, stream) => ({ model: 'my-dep', stream, messages: chatMessages(text) }),
    textOf: chatText,
  },
  {
    name: 'Anthropic Messages',
    provider: 'anthropic',
    path: '/v1/messages',
    auth: (k) => ({ 'x-api-key': k, 'anthropic-version': '2023-06-01' }),
    upstreamAuth: ['x-api-key', UPSTREAM_KEY],
    body: (text, stream) => ({ model: 'claude-3-5-sonnet-20241022', stream, max_tokens: 100, system: 'sys', messages: [{ role: 'user', content: [{ type: 'text', text }] }] }),
    textOf: (raw) =>
      objects(raw)
        .map((o) => (o.type === 'content_block_delta' ? (o.delta.text ?? '') : o.type === 'message' ? o.content.map((c: any) => c.text ?? '').join('') : ''))
        .join(''),
  },
  {
    name: 'Ollama chat',
    provider: 'ollama',
    path: '/api/chat',
    ...BEARER,
    body: (text, stream) => ({ model: 'llama3.1', stream, messages: chatMessages(text) }),
    textOf: (raw) => objects(raw).map((o) => o.message?.content ?? '').join(''),
  },
  {
    name: 'Ollama generate',
    provider: 'ollama',
    path: '/api/generate',
    ...BEARER,
    body: (text, stream) => ({ model: 'llama3.1', stream, prompt: `### User:\n${text}\n\n` }),
    textOf: (raw) => objects(raw).map((o) => o.response ?? '').join(''),
  },
  {
    name: 'OpenAI Responses',
    provider: 'openai',
    path: '/v1/responses',
    ...BEARER,
    body: (text, stream) => ({ model: 'gpt-5-codex', stream, instructions: 'sys', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }] }),
    textOf: (raw) =>
      objects(raw)
        .map((o) => (o.type === 'response.output_text.delta' ? o.delta : o.object === 'response' && o.output ? o.output.flatMap((i: any) => (i.content ?? []).map((c: any) => c.text)).join('') : ''))
        .join(''),
  },
];

async function call(reg: ProxyRegistration, c: FormatCase, text: string, stream: boolean): Promise<{ status: number; raw: string }> {
  const res = await fetch(`${reg.rootUrl}${c.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...c.auth(reg.token) },
    body: JSON.stringify(c.body(text, stream)),
  });
  return { status: res.status, raw: await res.text() };
}

describe.each(CASES)('LLM proxy, $name', (c) => {
  it('reaches the provider route with the provider auth header, streams through, and records provider, model, text and usage', async () => {
    const { h, model, session, reg } = await setup();
    session.startTurn('say hello');
    const { status, raw } = await call(reg, c, 'say hello', true);
    expect(status).toBe(200);
    expect(c.textOf(raw)).toBe('Hello there, friend.');

    const got = model.received[0]!;
    expect(got.url).toBe(c.path);
    expect(got.headers[c.upstreamAuth[0]]).toBe(c.upstreamAuth[1]);
    expect(JSON.stringify(got.headers)).not.toContain(reg.token);

    const [gen] = h.chatSpans();
    const body = c.body('x', true);
    const requested = (body.model as string) ?? '';
    expect(gen!.attributes).toMatchObject({
      'gen_ai.provider.name': c.provider,
      'gen_ai.request.model': requested,
      'gen_ai.response.model': expect.any(String),
      'gen_ai.usage.input_tokens': expect.any(Number),
      'gen_ai.usage.output_tokens': expect.any(Number),
      'gen_ai.response.finish_reasons': [expect.any(String)],
    });
    const served = model.served[0]!;
    expect(served.selection.kind).toBe('reply');
    const [resp] = h.events('llm.response');
    expect(resp!.data.content.text).toBe('Hello there, friend.');
    expect(h.events('error')).toEqual([]);
    session.end('complete');
    expect(h.serialized()).not.toContain(UPSTREAM_KEY);
    expect(h.serialized()).not.toContain(reg.token);
  });

  it('records the same reply from a non-streaming call', async () => {
    const { h, session, reg } = await setup();
    session.startTurn('say hello');
    const { status, raw } = await call(reg, c, 'say hello', false);
    expect(status).toBe(200);
    expect(c.textOf(raw)).toBe('Hello there, friend.');
    const [resp] = h.events('llm.response');
    expect(resp!.data.content.text).toBe('Hello there, friend.');
    expect(resp!.data.usage).toEqual({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
    expect(h.events('error')).toEqual([]);
  });

  it('records a tool call with its arguments', async () => {
    if (c.name === 'Ollama generate') return; // /api/generate has no tools: covered as text below
    const { h, session, reg } = await setup();
    session.startTurn('run a tool');
    const { status } = await call(reg, c, 'run a tool', true);
    expect(status).toBe(200);
    const [resp] = h.events('llm.response');
    const calls = JSON.parse(resp!.data.tool_calls.text) as Array<{ function: { name: string; arguments: string } }>;
    expect(calls).toHaveLength(1);
    const args = JSON.parse(calls[0]!.function.arguments);
    if (c.name === 'OpenAI Responses') {
      // Codex's shell tool (no tools offered: `shell` with an argv)
      expect(calls[0]!.function.name).toBe('shell');
      expect(args).toEqual({ command: ['bash', '-lc', 'echo tool-ok'] });
    } else {
      expect(calls[0]!.function.name).toBe('execute');
      expect(args).toEqual({ language: 'shell', code: 'echo tool-ok' });
    }
  });

  it('passes an upstream error through in the provider format and records it', async () => {
    const { h, session, reg } = await setup({ faults: { http500: { message: 'scripted outage' } } });
    session.startTurn('say hello');
    const { status, raw } = await call(reg, c, 'say hello', true);
    expect(status).toBe(500);
    expect(raw).toContain('scripted outage');
    const [err] = h.events('error');
    expect(err!.data).toMatchObject({ type: 'upstream_500' });
    expect(err!.data.message.text).toContain('scripted outage');
  });

  it('records a cut stream as upstream_stream_cut and tells the client in its own format', async () => {
    const { h, session, reg } = await setup({ chunkSize: 2, faults: { cutStream: { afterChunks: 3 } } });
    session.startTurn('say hello');
    const { raw } = await call(reg, c, 'say hello', true);
    const last = objects(raw).at(-1);
    // Ollama's error lines carry a message only; the others name the error type.
    expect(JSON.stringify(last)).toMatch(/upstream_stream_cut|upstream stream cut/);
    expect(h.events('error').map((e) => e.data.type)).toContain('upstream_stream_cut');
  });
});

describe('LLM proxy, OpenAI Responses for Codex', () => {
  it("turns a demo script's fenced shell block into a call of the shell tool the request offers", async () => {
    const { h, model, session, reg } = await setup();
    session.startTurn('run a fence');
    const offers: Array<[Record<string, unknown>, string, unknown]> = [
      [{ type: 'function', name: 'exec_command' }, 'exec_command', { cmd: 'ls /tmp' }],
      [{ type: 'function', name: 'shell_command' }, 'shell_command', { command: 'ls /tmp' }],
      [{ type: 'function', name: 'shell' }, 'shell', { command: ['bash', '-lc', 'ls /tmp'] }],
    ];
    for (const [tool, name, args] of offers) {
      const res = await fetch(`${reg.baseUrl}/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${reg.token}` },
        body: JSON.stringify({ model: 'm', stream: true, tools: [tool], input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'run a fence' }] }] }),
      });
      const done = objects(await res.text()).filter((o) => o.type === 'response.output_item.done').map((o) => o.item);
      expect(done.map((i) => i.type)).toEqual(['message', 'function_call']);
      expect(done[0].content[0].text).toBe('I will list it.');
      expect(done[1].name).toBe(name);
      expect(JSON.parse(done[1].arguments)).toEqual(args);
    }
    const recorded = h.events('llm.response').map((e) => JSON.parse(e.data.tool_calls.text)[0].function.name);
    expect(recorded).toEqual(['exec_command', 'shell_command', 'shell']);
    expect(model.served).toHaveLength(3);
  });

  it('serves the next reply once the function call output comes back', async () => {
    const { model, session, reg } = await setup();
    session.startTurn('run a fence');
    const input = [
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'run a fence' }] },
      { type: 'function_call', name: 'shell', arguments: '{}', call_id: 'c1' },
      { type: 'function_call_output', call_id: 'c1', output: 'x' },
    ];
    const res = await fetch(`${reg.baseUrl}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reg.token}` },
      body: JSON.stringify({ model: 'm', stream: true, input }),
    });
    await res.text();
    expect(model.served[0]!.selection).toMatchObject({ kind: 'closing', replyIndex: 1 });
  });
});
