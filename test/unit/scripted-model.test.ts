import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MARKERS, DEMO_SCRIPT } from '../../src/demo/demo-script.js';
import {
  chunkContent,
  DEFAULT_CLOSING_REPLY,
  loadScript,
  parseScript,
  ScriptError,
  selectReply,
  startScriptedModel,
  UNMATCHED_REPLY,
  validateScript,
  type Script,
  type ScriptedModel,
  type ScriptedModelOptions,
} from '../../src/demo/scripted-model.js';
import { ChatCompletionAssembler } from '../../src/llm-proxy/openai-chat.js';
import { SseParser, type SseEvent } from '../../src/llm-proxy/sse.js';

const TOOL_SCRIPT: Script = {
  turns: [
    {
      user: 'run it as a tool',
      replies: [{ content: 'Running it.', tool_call: { language: 'python', code: 'print("tool", 6*7)' } }, 'The tool printed 42.'],
    },
  ],
};

// --- helpers ---------------------------------------------------------------------------------------

interface StreamRead {
  status: number;
  contentType: string | null;
  events: SseEvent[];
  raw: string;
  error?: unknown;
  firstEventAt?: number;
  headersAt: number;
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function readStream(url: string, body: unknown): Promise<StreamRead> {
  const started = performance.now();
  const res = await post(url, body);
  const out: StreamRead = {
    status: res.status,
    contentType: res.headers.get('content-type'),
    events: [],
    raw: '',
    headersAt: performance.now() - started,
  };
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(piece, { stream: true });
      out.raw += text;
      const evs = parser.feed(text);
      if (evs.length > 0 && out.firstEventAt === undefined) out.firstEventAt = performance.now() - started;
      out.events.push(...evs);
    }
    out.events.push(...parser.end());
  } catch (err) {
    out.error = err;
  }
  return out;
}

function assemble(events: SseEvent[]) {
  const asm = new ChatCompletionAssembler();
  for (const ev of events) asm.acceptEventData(ev.data);
  return asm.result();
}

/** Python's str.split semantics for a string separator. */
function pySplit(s: string, sep: string): string[] {
  return s.split(sep);
}

/**
 * A faithful port of Open Interpreter 0.4.3's text-mode stream parser (interpreter/core/llm/run_text_llm.py)
 * plus respond.py's "`\n" clean-up: what code would OI extract and run from these deltas?
 */
function openInterpreterTextMode(deltas: string[]): { message: string; language?: string; code: string; stoppedEarly: boolean } {
  let insideCodeBlock = false;
  let accumulated = '';
  let language: string | undefined;
  let message = '';
  let code = '';
  for (const content of deltas) {
    accumulated += content;
    if (accumulated.endsWith('`')) continue;
    if (accumulated.includes('```') && !insideCodeBlock) {
      insideCodeBlock = true;
      accumulated = pySplit(accumulated, '```')[1]!;
    }
    if (insideCodeBlock && accumulated.includes('```')) return { message, language, code: clean(code), stoppedEarly: true };
    if (insideCodeBlock) {
      if (language === undefined && accumulated.includes('\n')) {
        language = accumulated.split('\n')[0]!;
        language = language === '' ? 'python' : Array.from(language).filter((c) => /\p{L}/u.test(c)).join('');
      }
      if (language) code += content.split(language).join('');
    }
    if (!insideCodeBlock) message += content;
  }
  return { message, language, code: clean(code), stoppedEarly: false };

  function clean(c: string): string {
    return c.startsWith('`\n') ? c.slice(2).trim() : c;
  }
}

// --- validation ----------------------------------------------------------------------------------

describe('script validation', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', [], /must be a JSON object with a "turns" array, got an array/],
    ['turns missing', {}, /"turns" must be an array, got undefined/],
    ['turns empty', { turns: [] }, /"turns" is empty/],
    ['turn not an object', { turns: ['hi'] }, /turns\[0\] must be an object/],
    ['empty user', { turns: [{ user: ' ', replies: [] }] }, /turns\[0\]\.user must be a non-empty string/],
    ['replies missing', { turns: [{ user: 'u' }] }, /turns\[0\]\.replies must be an array, got undefined/],
    ['three fences', { turns: [{ user: 'u', replies: ['```python\nx\n```\n```'] }] }, /turns\[0\]\.replies\[0\] has 3 ``` fences/],
    ['two blocks', { turns: [{ user: 'u', replies: ['ok', '```sh\na\n```\n```sh\nb\n```'] }] }, /turns\[0\]\.replies\[1\] has 4 ``` fences/],
    ['reply number', { turns: [{ user: 'u', replies: [42] }] }, /turns\[0\]\.replies\[0\] must be a string or an object/],
    ['empty reply object', { turns: [{ user: 'u', replies: [{}] }] }, /turns\[0\]\.replies\[0\] must have "content", "tool_call" or both/],
    [
      'tool_call without language',
      { turns: [{ user: 'a', replies: [] }, { user: 'u', replies: [{ tool_call: { language: '', code: 'x' } }] }] },
      /turns\[1\]\.replies\[0\]\.tool_call\.language must be a non-empty string/,
    ],
    ['tool_call code not string', { turns: [{ user: 'u', replies: [{ tool_call: { language: 'python', code: 1 } }] }] }, /tool_call\.code must be a string/],
    ['typo in reply key', { turns: [{ user: 'u', replies: [{ content: 'x', toolcall: {} }] }] }, /turns\[0\]\.replies\[0\] has unknown key "toolcall"/],
    ['typo in turn key', { turns: [{ user: 'u', reply: [] }] }, /turns\[0\] has unknown key "reply"/],
  ];
  for (const [name, value, pattern] of bad) {
    it(`rejects: ${name}`, () => {
      expect(() => validateScript(value, 'demo.json')).toThrow(ScriptError);
      expect(() => validateScript(value, 'demo.json')).toThrow(/^demo\.json: /);
      expect(() => validateScript(value, 'demo.json')).toThrow(pattern);
    });
  }

  it('accepts the demo script, tool replies and empty reply lists', () => {
    expect(validateScript(DEMO_SCRIPT)).toEqual(DEMO_SCRIPT);
    expect(validateScript(TOOL_SCRIPT)).toEqual(TOOL_SCRIPT);
    expect(validateScript({ turns: [{ user: 'u', replies: [] }], description: 'x' }).turns[0]!.replies).toEqual([]);
  });

  describe('loadScript', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'oi-audit-script-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('loads a valid file', async () => {
      const path = join(dir, 'ok.json');
      await writeFile(path, JSON.stringify(DEMO_SCRIPT));
      expect(await loadScript(path)).toEqual(DEMO_SCRIPT);
    });

    it('names the path when the file is missing', async () => {
      const path = join(dir, 'missing.json');
      await expect(loadScript(path)).rejects.toThrow(`${path}: cannot read script: ENOENT`);
    });

    it('names the path and the parse error for invalid JSON', async () => {
      const path = join(dir, 'broken.json');
      await writeFile(path, '{"turns": [');
      await expect(loadScript(path)).rejects.toThrow(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON: `));
    });

    it('names the path and the place for a structural error', async () => {
      const path = join(dir, 'bad.json');
      await writeFile(path, JSON.stringify({ turns: [{ user: 'u', replies: [{ tool_call: { code: 'x' } }] }] }));
      await expect(loadScript(path)).rejects.toThrow(`${path}: turns[0].replies[0].tool_call.language must be a non-empty string`);
    });
  });

  it('parseScript reports the source it was given', () => {
    expect(() => parseScript('nope', 'inline')).toThrow(/^inline: not valid JSON/);
  });
});

// --- turn matching -------------------------------------------------------------------------------

describe('selectReply (turn matching)', () => {
  const sys = { role: 'system', content: 'You are Open Interpreter... (mentions Compute the audit token in Python.)' };
  const t1 = DEMO_SCRIPT.turns[0]!;
  const t2 = DEMO_SCRIPT.turns[1]!;

  it('serves the first reply of the turn whose user text the last user message equals', () => {
    const s = selectReply(DEMO_SCRIPT, [sys, { role: 'user', content: t1.user }]);
    expect(s).toMatchObject({ kind: 'reply', turnIndex: 0, replyIndex: 0 });
    expect(s.reply.content).toBe(t1.replies[0]);
  });

  it('advances one reply per completed LLM call (text mode: code output comes back as a user message)', () => {
    const msgs = [
      sys,
      { role: 'user', content: t1.user },
      { role: 'assistant', content: 'I will compute the token.\n\n```python\nprint("token", 6*7)\n```' },
      { role: 'user', content: 'Code output: token 42\n\nWhat does this output mean / what\'s next (if anything, or are we done)?' },
    ];
    expect(selectReply(DEMO_SCRIPT, msgs)).toMatchObject({ kind: 'reply', turnIndex: 0, replyIndex: 1, reply: { content: t1.replies[1] } });
  });

  it('serves the closing reply past the end of a turn', () => {
    const msgs = [
      { role: 'user', content: t1.user },
      { role: 'assistant', content: 'a' },
      { role: 'user', content: 'The code above was executed on my machine. It produced no text output. what\'s next (if anything, or are we done?)' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'Code output: x' },
    ];
    expect(selectReply(DEMO_SCRIPT, msgs)).toMatchObject({ kind: 'closing', turnIndex: 0, replyIndex: 2, reply: { content: DEFAULT_CLOSING_REPLY } });
    expect(selectReply(DEMO_SCRIPT, msgs, 'Bye.').reply.content).toBe('Bye.');
  });

  it('finds the latest real user turn, skipping code output that quotes an earlier turn', () => {
    const msgs = [
      { role: 'user', content: t1.user },
      { role: 'assistant', content: 'x' },
      { role: 'user', content: 'Code output: x' },
      { role: 'assistant', content: 'done' },
      { role: 'user', content: t2.user },
      { role: 'assistant', content: 'step 1' },
      { role: 'user', content: `Code output: ${t1.user}\n\nWhat does this output mean` },
      { role: 'assistant', content: 'step 2' },
      { role: 'user', content: 'Code output: y' },
    ];
    expect(selectReply(DEMO_SCRIPT, msgs)).toMatchObject({ kind: 'reply', turnIndex: 1, replyIndex: 2, reply: { content: t2.replies[2] } });
  });

  it('matches a user message that contains the turn text (merged messages, templates, list content)', () => {
    expect(selectReply(DEMO_SCRIPT, [{ role: 'user', content: `${t2.user}\nHello? Answer please.` }])).toMatchObject({ turnIndex: 1, replyIndex: 0 });
    expect(selectReply(DEMO_SCRIPT, [{ role: 'user', content: [{ type: 'text', text: `Please: ${t1.user}` }] }])).toMatchObject({ turnIndex: 0 });
  });

  it('counts an assistant run once (function-calling mode: text and tool call are two messages)', () => {
    const msgs = [
      { role: 'user', content: 'run it as a tool' },
      { role: 'assistant', content: 'Running it.' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'execute', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'tool 42' },
    ];
    expect(selectReply(TOOL_SCRIPT, msgs)).toMatchObject({ kind: 'reply', turnIndex: 0, replyIndex: 1, reply: { content: 'The tool printed 42.' } });
    expect(selectReply(TOOL_SCRIPT, msgs.slice(0, 1)).reply).toEqual({
      content: 'Running it.',
      toolCall: { language: 'python', code: 'print("tool", 6*7)' },
    });
  });

  it('disambiguates turns with the same user text by occurrence', () => {
    const script: Script = { turns: [{ user: 'again', replies: ['first'] }, { user: 'again', replies: ['second'] }] };
    expect(selectReply(script, [{ role: 'user', content: 'again' }]).reply.content).toBe('first');
    const msgs = [{ role: 'user', content: 'again' }, { role: 'assistant', content: 'first' }, { role: 'user', content: 'again' }];
    expect(selectReply(script, msgs)).toMatchObject({ turnIndex: 1, replyIndex: 0, reply: { content: 'second' } });
  });

  it('says so, without code, when no turn matches', () => {
    const s = selectReply(DEMO_SCRIPT, [{ role: 'user', content: 'something else' }]);
    expect(s).toMatchObject({ kind: 'unmatched', reply: { content: UNMATCHED_REPLY } });
    expect(s.reply.content).not.toContain('```');
    expect(selectReply(DEMO_SCRIPT, 'not an array').kind).toBe('unmatched');
  });
});

// --- chunking ------------------------------------------------------------------------------------

describe('chunkContent', () => {
  it('keeps fences and the language line whole, never ends a delta with a backtick, loses nothing', () => {
    for (const reply of [...DEMO_SCRIPT.turns.flatMap((t) => t.replies as string[]), 'Use `ls` and ``x`` here.\n\n```\nprint(1)\n```']) {
      for (const size of [1, 2, 3, 5, 8, 64]) {
        const deltas = chunkContent(reply, size);
        expect(deltas.join('')).toBe(reply);
        for (const d of deltas) if (d !== '```') expect(d.endsWith('`')).toBe(false);
        const fenceAt = deltas.indexOf('```');
        if (fenceAt !== -1) expect(deltas[fenceAt + 1]).toMatch(/^[a-z]*\n$/);
      }
    }
  });

  it('does not split surrogate pairs', () => {
    const deltas = chunkContent('😀😀😀x', 1);
    expect(deltas).toEqual(['😀', '😀', '😀', 'x']);
  });

  it("gives Open Interpreter's text-mode parser exactly the demo code, at any chunk size", () => {
    const expected = [
      { language: 'python', code: 'print("token", 6*7)' },
      { language: 'shell', code: 'echo sh-ok && uname -s' },
      { language: 'shell', code: `ls ${DEMO_MARKERS.missingPath}` },
    ];
    const withCode = DEMO_SCRIPT.turns.flatMap((t) => t.replies as string[]).filter((r) => r.includes('```'));
    expect(withCode).toHaveLength(3);
    withCode.forEach((reply, i) => {
      for (const size of [1, 3, 8, 16, 1000]) {
        const parsed = openInterpreterTextMode(chunkContent(reply, size));
        expect(parsed.language).toBe(expected[i]!.language);
        expect(parsed.code.trim()).toBe(expected[i]!.code);
        expect(parsed.stoppedEarly).toBe(true);
      }
    });
  });
});

// --- the server ----------------------------------------------------------------------------------

describe('scripted model server', () => {
  const servers: ScriptedModel[] = [];
  const start = async (opts: Partial<ScriptedModelOptions> = {}) => {
    const m = await startScriptedModel({ script: DEMO_SCRIPT, ...opts });
    servers.push(m);
    return m;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const userMsg = (text: string) => ({ model: 'scripted', stream: true, messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: text }] });

  it('listens on 127.0.0.1 and serves GET /v1/models', async () => {
    const m = await start();
    expect(m.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const res = await fetch(`${m.url}/models`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ object: 'list', data: [{ id: 'scripted', object: 'model' }] });
  });

  it('streams like the OpenAI API: role delta first, small content deltas, finish_reason, usage, [DONE]', async () => {
    const m = await start({ chunkSize: 4 });
    const r = await readStream(m.url, userMsg(DEMO_SCRIPT.turns[0]!.user));
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^text\/event-stream/);
    expect(r.raw.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(r.events.at(-1)!.data).toBe('[DONE]');
    const chunks = r.events.slice(0, -1).map((e) => JSON.parse(e.data) as Record<string, any>);
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe(chunks[0]!.id);
      expect(c.model).toBe('scripted');
    }
    expect(chunks[0]!.choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const contentDeltas = chunks.slice(1, -1).map((c) => c.choices[0].delta.content as string);
    expect(contentDeltas.length).toBeGreaterThan(10);
    for (const d of contentDeltas) if (d !== '```') expect(Array.from(d).length).toBeLessThanOrEqual(8);
    const last = chunks.at(-1)!;
    expect(last.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(last.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    for (const c of chunks.slice(0, -1)) expect(c.choices[0].finish_reason).toBeNull();
    const asm = assemble(r.events);
    expect(asm.content).toBe(DEMO_SCRIPT.turns[0]!.replies[0]);
    expect(asm).toMatchObject({ done: true, finishReasons: ['stop'], malformedEvents: 0 });
    expect(m.requests).toHaveLength(1);
    expect(m.requests[0]).toMatchObject({ model: 'scripted', stream: true });
    expect(m.served[0]).toMatchObject({ n: 1, stream: true, selection: { kind: 'reply', turnIndex: 0, replyIndex: 0 } });
  });

  it('sends a separate usage chunk with empty choices when stream_options.include_usage is set', async () => {
    const m = await start();
    const r = await readStream(m.url, { ...userMsg(DEMO_SCRIPT.turns[0]!.user), stream_options: { include_usage: true } });
    const chunks = r.events.slice(0, -1).map((e) => JSON.parse(e.data) as Record<string, any>);
    const finish = chunks.at(-2)!;
    const usage = chunks.at(-1)!;
    expect(finish.choices[0].finish_reason).toBe('stop');
    expect(finish.usage).toBeUndefined();
    expect(usage.choices).toEqual([]);
    const { prompt_tokens: prompt, completion_tokens: completion } = usage.usage as { prompt_tokens: number; completion_tokens: number };
    expect(usage.usage.total_tokens).toBe(prompt + completion);
  });

  it('answers non-streaming requests with a chat.completion', async () => {
    const m = await start();
    const res = await post(m.url, { ...userMsg(DEMO_SCRIPT.turns[1]!.user), stream: false });
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'scripted',
      choices: [{ index: 0, message: { role: 'assistant', content: DEMO_SCRIPT.turns[1]!.replies[0] }, finish_reason: 'stop' }],
      usage: { prompt_tokens: expect.any(Number) },
    });
  });

  it('streams tool calls as tool_calls deltas for the execute function (function-calling mode)', async () => {
    const m = await start({ script: TOOL_SCRIPT, chunkSize: 5 });
    const r = await readStream(m.url, userMsg('run it as a tool'));
    const chunks = r.events.slice(0, -1).map((e) => JSON.parse(e.data) as Record<string, any>);
    const tcDeltas = chunks.filter((c) => c.choices[0]?.delta?.tool_calls);
    expect(tcDeltas.length).toBeGreaterThan(3);
    expect(tcDeltas[0]!.choices[0].delta.tool_calls[0]).toMatchObject({ index: 0, id: expect.any(String), type: 'function', function: { name: 'execute', arguments: '' } });
    for (const c of tcDeltas.slice(1)) expect(Object.keys(c.choices[0].delta.tool_calls[0])).toEqual(['index', 'function']);
    const asm = assemble(r.events);
    expect(asm.content).toBe('Running it.');
    expect(asm.finishReasons).toEqual(['tool_calls']);
    expect(asm.toolCalls).toHaveLength(1);
    expect(asm.toolCalls[0]!.function.name).toBe('execute');
    expect(JSON.parse(asm.toolCalls[0]!.function.arguments)).toEqual({ language: 'python', code: 'print("tool", 6*7)' });

    const res = await post(m.url, { ...userMsg('run it as a tool'), stream: false });
    const body = (await res.json()) as Record<string, any>;
    expect(body.choices[0].finish_reason).toBe('tool_calls');
    expect(body.choices[0].message.tool_calls[0].function.name).toBe('execute');
  });

  it('rejects malformed JSON with 400 and unknown routes with 404', async () => {
    const m = await start();
    const res = await post(m.url, '{"messages": [');
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.type).toBe('invalid_request_error');
    const nf = await fetch(`${m.url}/nope`);
    expect(nf.status).toBe(404);
  });

  describe('faults', () => {
    it('responds HTTP 500 on the chosen request only', async () => {
      const m = await start({ faults: { http500: { requests: [2] } } });
      expect((await post(m.url, userMsg('x'))).status).toBe(200);
      const second = await post(m.url, userMsg('x'));
      expect(second.status).toBe(500);
      expect(((await second.json()) as any).error.type).toBe('server_error');
      expect((await post(m.url, userMsg('x'))).status).toBe(200);
      expect(m.served.map((s) => s.fault)).toEqual([undefined, 'http500', undefined]);
    });

    it('cuts the stream (destroys the socket) after K chunks', async () => {
      const m = await start({ faults: { cutStream: { afterChunks: 3 } } });
      const r = await readStream(m.url, userMsg(DEMO_SCRIPT.turns[0]!.user));
      expect(r.status).toBe(200);
      expect(r.error).toBeDefined();
      expect(r.events).toHaveLength(3);
      expect(r.raw).not.toContain('[DONE]');
      expect(m.served[0]!.fault).toBe('cutStream');
    });

    it('delays the first chunk (headers go out at once)', async () => {
      // The body waits ten minutes: the response can only resolve here if the headers did not wait for it
      // (no clock is read, so a loaded machine cannot make this fail).
      const held = await start({ faults: { firstChunkDelay: { ms: 600_000 } } });
      const res = await post(held.url, userMsg(DEMO_SCRIPT.turns[0]!.user));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      await res.body?.cancel();
      // And the chunk does come after the delay (a lower bound: load can only lengthen it).
      const m = await start({ faults: { firstChunkDelay: { ms: 300 } } });
      const r = await readStream(m.url, userMsg(DEMO_SCRIPT.turns[0]!.user));
      expect(r.firstEventAt!).toBeGreaterThanOrEqual(290);
      expect(r.events.at(-1)!.data).toBe('[DONE]');
    });

    it('delays the headers', async () => {
      const m = await start({ faults: { headersDelay: { ms: 200 } } });
      const r = await readStream(m.url, userMsg(DEMO_SCRIPT.turns[0]!.user));
      // A lower bound only (load can lengthen the delay, never shorten it).
      expect(r.headersAt).toBeGreaterThanOrEqual(190);
    });

    it('sends a hostile huge reply', async () => {
      const m = await start({ chunkSize: 4096, faults: { hugeReply: { bytes: 2_000_000 } } });
      const r = await readStream(m.url, userMsg(DEMO_SCRIPT.turns[0]!.user));
      const asm = assemble(r.events);
      expect(asm.content.length).toBeGreaterThan(1_000_000);
      expect(asm.content).toContain('\u001b[31m');
      expect(asm.content).toContain('\u202e');
      expect(asm.content).not.toContain('```');
      expect(asm.done).toBe(true);
    });

    it('injects a malformed SSE event and carries on', async () => {
      const m = await start({ faults: { malformedSse: { afterChunks: 2 } } });
      const r = await readStream(m.url, userMsg(DEMO_SCRIPT.turns[0]!.user));
      const asm = assemble(r.events);
      expect(asm.malformedEvents).toBe(1);
      expect(asm.done).toBe(true);
      expect(asm.content).toBe(DEMO_SCRIPT.turns[0]!.replies[0]);
    });
  });

  it('replays the demo conversation the way Open Interpreter drives it', async () => {
    const m = await start();
    const history: Array<Record<string, unknown>> = [{ role: 'system', content: 'sys' }];
    const outputs = ['token 42\n', 'sh-ok\nLinux\n', "ls: cannot access '/nonexistent-oi-audit-path': No such file or directory\n"];
    const seen: string[] = [];
    for (const turn of DEMO_SCRIPT.turns) {
      history.push({ role: 'user', content: turn.user });
      for (;;) {
        const r = await readStream(m.url, { model: 'scripted', stream: true, messages: history });
        const text = assemble(r.events).content;
        seen.push(text);
        history.push({ role: 'assistant', content: text });
        if (!text.includes('```')) break;
        history.push({ role: 'user', content: `Code output: ${outputs.shift()}\n\nWhat does this output mean / what's next (if anything, or are we done)?` });
      }
    }
    expect(seen).toEqual(DEMO_SCRIPT.turns.flatMap((t) => t.replies));
    expect(m.served.map((s) => [s.selection.turnIndex, s.selection.replyIndex])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
  });
});
