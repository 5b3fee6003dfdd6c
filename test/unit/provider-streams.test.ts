/**
 * The proxy's readers against example streams written from each provider's public API reference
 * (test/fixtures/provider-streams), not against our own scripted model: split at every byte, passed
 * through the proxy a byte at a time, with usage missing, and with provider error bodies.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AssembledCompletion, ResponseAssembler } from '../../src/llm-proxy/assembly.js';
import { AnthropicAssembler } from '../../src/llm-proxy/anthropic-messages.js';
import { NdjsonParser } from '../../src/llm-proxy/ndjson.js';
import { OllamaAssembler } from '../../src/llm-proxy/ollama.js';
import { ChatCompletionAssembler } from '../../src/llm-proxy/openai-chat.js';
import { ResponsesAssembler } from '../../src/llm-proxy/openai-responses.js';
import { startLlmProxy } from '../../src/llm-proxy/proxy.js';
import { SseParser } from '../../src/llm-proxy/sse.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/provider-streams/${name}`, import.meta.url));

interface StreamCase {
  name: string;
  file: string;
  framing: 'sse' | 'ndjson';
  assembler: () => ResponseAssembler;
  expected: Partial<AssembledCompletion>;
  /** Drop token usage from the stream (the `usage` members / counts). */
  withoutUsage: (text: string) => string;
  /** Client-side request for the proxy pass. */
  path: string;
  auth: (k: string) => Record<string, string>;
  body: Record<string, unknown>;
  provider: string;
}

const bearer = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` });
/** OpenAI chat and Anthropic carry usage as a flat `"usage":{…}` member. */
const dropUsageMembers = (t: string): string => t.replace(/,"usage":\{[^}]*\}/g, '');

const CASES: StreamCase[] = [
  {
    name: 'OpenAI chat, tool call with argument deltas',
    file: 'openai-chat-tool.sse',
    framing: 'sse',
    assembler: () => new ChatCompletionAssembler(),
    expected: {
      content: '',
      toolCalls: [{ index: 0, id: 'call_fx1', type: 'function', function: { name: 'execute', arguments: '{"language": "python", "code": "print(1)"}' } }],
      finishReasons: ['tool_calls'],
      responseModel: 'gpt-4o-mini-2024-07-18',
      inputTokens: 82,
      outputTokens: 17,
      done: true,
    },
    withoutUsage: dropUsageMembers,
    path: '/v1/chat/completions',
    auth: bearer,
    body: { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] },
    provider: 'openai',
  },
  {
    name: 'Anthropic Messages, text then tool_use with input_json_delta',
    file: 'anthropic-tool.sse',
    framing: 'sse',
    assembler: () => new AnthropicAssembler(),
    expected: {
      content: 'Okay, let me run that.',
      toolCalls: [{ index: 1, id: 'toolu_fx1', type: 'tool_use', function: { name: 'execute', arguments: '{"language": "shell", "code": "ls"}' } }],
      finishReasons: ['tool_use'],
      responseId: 'msg_fx1',
      responseModel: 'claude-3-5-sonnet-20241022',
      inputTokens: 472,
      outputTokens: 89,
      done: true,
    },
    withoutUsage: dropUsageMembers,
    path: '/v1/messages',
    auth: (k) => ({ 'x-api-key': k, 'anthropic-version': '2023-06-01' }),
    body: { model: 'claude-3-5-sonnet-20241022', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] },
    provider: 'anthropic',
  },
  {
    name: 'OpenAI Responses, function_call with argument deltas',
    file: 'responses-function-call.sse',
    framing: 'sse',
    assembler: () => new ResponsesAssembler(),
    expected: {
      content: '',
      toolCalls: [{ index: 0, id: 'call_fx1', type: 'function_call', function: { name: 'shell', arguments: '{"command":["bash","-lc","ls"]}' } }],
      finishReasons: ['completed'],
      responseId: 'resp_fx1',
      responseModel: 'gpt-4.1-2025-04-14',
      inputTokens: 291,
      outputTokens: 23,
      done: true,
    },
    withoutUsage: (t) => t.replace(/,"usage":\{"input_tokens":291,"input_tokens_details":\{[^}]*\},"output_tokens":23,"output_tokens_details":\{[^}]*\},"total_tokens":314\}/g, ''),
    path: '/v1/responses',
    auth: bearer,
    body: { model: 'gpt-4.1', stream: true, input: 'x' },
    provider: 'openai',
  },
  {
    name: 'Ollama chat, NDJSON with a tool call and multi-byte text',
    file: 'ollama-chat.ndjson',
    framing: 'ndjson',
    assembler: () => new OllamaAssembler(),
    expected: {
      content: 'The sky ☀ is',
      toolCalls: [{ index: 0, type: 'function', function: { name: 'execute', arguments: '{"language":"python","code":"print(2)"}' } }],
      finishReasons: ['stop'],
      responseModel: 'llama3.2',
      inputTokens: 26,
      outputTokens: 282,
      done: true,
    },
    withoutUsage: (t) => t.replace(/,"prompt_eval_count":26/, '').replace(/,"eval_count":282/, ''),
    path: '/api/chat',
    auth: bearer,
    body: { model: 'llama3.2', messages: [{ role: 'user', content: 'x' }] },
    provider: 'ollama',
  },
];

/** Parse and assemble a stream fed as the given byte pieces (decoded as the proxy does). */
function assemble(c: StreamCase, pieces: Uint8Array[]): AssembledCompletion {
  const asm = c.assembler();
  const parser = c.framing === 'sse' ? new SseParser() : new NdjsonParser();
  const decoder = new TextDecoder();
  for (const p of pieces) for (const ev of parser.feed(decoder.decode(p, { stream: true }))) asm.acceptEvent(ev);
  for (const ev of [...parser.feed(decoder.decode()), ...parser.end()]) asm.acceptEvent(ev);
  return asm.result();
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An upstream that sends the fixture one byte per write (or answers with an error). */
async function byteUpstream(bytes: Buffer, contentType: string, status = 200): Promise<string> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => void (async () => {
      res.writeHead(status, { 'content-type': contentType });
      if (status !== 200) return res.end(bytes);
      for (let i = 0; i < bytes.length; i++) {
        res.write(bytes.subarray(i, i + 1));
        if (i % 64 === 0) await new Promise((r) => setImmediate(r));
      }
      res.end();
    })());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

/** The proxy in front of `upstream`, a session registered with it, and a turn open: what a client call is recorded in. */
async function proxiedTurn(upstream: string) {
  const proxy = await startLlmProxy({ upstreamBaseUrl: upstream, upstreamApiKey: 'sk-fixture-upstream' });
  cleanups.push(() => proxy.close());
  const h = inMemoryRecorder({ config: { capture: 'full' } });
  const session = h.recorder.openSession({ userId: 'u' });
  const reg = proxy.register(session);
  session.startTurn('x');
  return { h, reg };
}

describe.each(CASES)('$name', (c) => {
  const bytes = fixture(c.file);

  it('assembles the documented result for every split point of the stream', () => {
    const whole = assemble(c, [bytes]);
    expect(whole).toMatchObject(c.expected);
    expect(whole.malformedEvents).toBe(0);
    for (let i = 1; i < bytes.length; i++) {
      const r = assemble(c, [bytes.subarray(0, i), bytes.subarray(i)]);
      expect(r, `split at byte ${i}`).toEqual(whole);
    }
  });

  it('records no usage (not zero) when the stream carries none', () => {
    const r = assemble(c, [Buffer.from(c.withoutUsage(bytes.toString('utf8')))]);
    expect(r.inputTokens).toBeUndefined();
    expect(r.outputTokens).toBeUndefined();
    expect(r.toolCalls).toEqual(c.expected.toolCalls);
  });

  it('passes the stream through the proxy byte by byte unchanged and records it', async () => {
    const upstream = await byteUpstream(bytes, c.framing === 'sse' ? 'text/event-stream' : 'application/x-ndjson');
    const { h, reg } = await proxiedTurn(upstream);
    const res = await fetch(`${reg.rootUrl}${c.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...c.auth(reg.token) }, body: JSON.stringify(c.body) });
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    const gen = h.spans.getFinishedSpans().find((s) => s.name.startsWith('chat '))!;
    expect(gen.attributes).toMatchObject({
      'gen_ai.provider.name': c.provider,
      'gen_ai.response.model': c.expected.responseModel,
      'gen_ai.usage.input_tokens': c.expected.inputTokens,
      'gen_ai.usage.output_tokens': c.expected.outputTokens,
      'gen_ai.response.finish_reasons': c.expected.finishReasons,
    });
    const resp = h.bodies().find((b) => b.event === 'oi_audit.llm.response')!;
    expect(JSON.parse(resp.data.tool_calls.text)[0].function).toEqual(c.expected.toolCalls![0]!.function);
    expect(h.bodies().filter((b) => b.event === 'oi_audit.error')).toEqual([]);
  });
});

describe('provider error bodies', () => {
  const errors: Array<[string, string, Record<string, string>, Record<string, unknown>, string]> = [
    ['/v1/chat/completions', '{"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests","param":null,"code":"rate_limit_exceeded"}}', {}, { model: 'm', messages: [] }, 'Rate limit reached for gpt-4o-mini'],
    ['/v1/messages', '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', { 'anthropic-version': '2023-06-01' }, { model: 'm', messages: [] }, 'Overloaded'],
    ['/api/chat', '{"error":"model \\"llama9\\" not found, try pulling it first"}', {}, { model: 'llama9', messages: [] }, 'model "llama9" not found, try pulling it first'],
    ['/v1/responses', '{"error":{"message":"Invalid value for input","type":"invalid_request_error","param":"input","code":null}}', {}, { model: 'm', input: [] }, 'Invalid value for input'],
  ];
  it.each(errors)('%s: passes the body through and records the provider message', async (path, body, extra, request, message) => {
    const upstream = await byteUpstream(Buffer.from(body), 'application/json', 429);
    const { h, reg } = await proxiedTurn(upstream);
    const auth: Record<string, string> = path === '/v1/messages' ? { 'x-api-key': reg.token } : bearer(reg.token);
    const res = await fetch(`${reg.rootUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth, ...extra }, body: JSON.stringify(request) });
    expect(res.status).toBe(429);
    expect(await res.text()).toBe(body);
    const err = h.bodies().find((b) => b.event === 'oi_audit.error')!;
    expect(err.data.type).toBe('upstream_429');
    expect(err.data.message.text).toBe(`upstream returned HTTP 429: ${message}`);
  });
});
