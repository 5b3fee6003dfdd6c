/**
 * One scripted reply written in each provider's wire format, as a list of stream events (plus the
 * whole-body form for non-streaming requests). Written from the providers' public API references:
 * - OpenAI Chat Completions and streaming chunks (API reference as of 2025-06; Azure OpenAI
 *   data-plane inference api-version 2024-10-21 is the same body);
 * - OpenAI Responses API streaming events (API reference as of 2025-06);
 * - Anthropic Messages streaming (anthropic-version 2023-06-01);
 * - Ollama /api/chat and /api/generate (docs/api.md, Ollama 0.5).
 *
 * Tool calls: in function-calling mode Open Interpreter offers one tool, `execute` {language, code};
 * the chat, Anthropic and Ollama forms call it. A Responses client is Codex, whose shell tool depends
 * on its model family (`exec_command` {cmd}, `shell_command` {command: string}, `shell` {command:
 * [argv]}, or the `local_shell` built-in): the tool is picked from those the request offers, and a
 * demo script's fenced code block becomes that tool's call (Codex has no text mode). A block fenced as
 * `patch` / `apply_patch` (or whose text opens with `*** Begin Patch`) is a file edit in Codex's patch format:
 * it becomes a call of the `apply_patch` tool when the request offers one (a `custom` tool takes the patch as
 * its `input`, a function tool as `{"input": patch}`), else the shell call `apply_patch <<'PATCH' … PATCH`,
 * which Codex intercepts as the same edit (what it does for models it has no patch tool for).
 */
import { encodeSseData, encodeSseEvent, SSE_DONE } from '../llm-proxy/sse.js';
import { chunkContent, isPlainObject, type NormalizedReply } from './script.js';

export interface ReplyPlan {
  n: number;
  model: string;
  reply: NormalizedReply;
  chunkSize: number;
  inputTokens: number;
  outputTokens: number;
}

export interface Rendered {
  contentType: string;
  /** Stream events in order (each already framed). */
  events: string[];
  /** Written after the events unless the stream is cut (`[DONE]` for chat). */
  trailer: string;
  /** The non-streaming body. */
  whole: unknown;
  /** A broken event for the malformed-stream fault. */
  malformed: string;
}

function pieces(text: string, size: number): string[] {
  const cps = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(''));
  return out;
}

const SSE_TYPE = 'text/event-stream; charset=utf-8';

// --- OpenAI Chat Completions (and Azure) -----------------------------------------------------------

export function renderChat(p: ReplyPlan, body: Record<string, unknown>): Rendered {
  const id = `chatcmpl-scripted-${p.n}`;
  const created = Math.floor(Date.now() / 1000);
  const tc = p.reply.toolCall;
  const args = tc ? JSON.stringify({ language: tc.language, code: tc.code }) : '';
  const usage = { prompt_tokens: p.inputTokens, completion_tokens: p.outputTokens, total_tokens: p.inputTokens + p.outputTokens };
  const finish = tc ? 'tool_calls' : 'stop';
  const callId = `call_scripted_${p.n}`;
  const message: Record<string, unknown> = { role: 'assistant', content: p.reply.content.length > 0 || !tc ? p.reply.content : null };
  if (tc) message.tool_calls = [{ id: callId, type: 'function', function: { name: 'execute', arguments: args } }];
  const whole = { id, object: 'chat.completion', created, model: p.model, choices: [{ index: 0, message, logprobs: null, finish_reason: finish }], usage };
  const so = isPlainObject(body.stream_options) ? body.stream_options : undefined;
  const includeUsage = so?.include_usage === true;
  const chunk = (delta: Record<string, unknown>, fr: string | null = null, extra: Record<string, unknown> = {}) =>
    encodeSseData({ id, object: 'chat.completion.chunk', created, model: p.model, system_fingerprint: null, choices: [{ index: 0, delta, logprobs: null, finish_reason: fr }], ...extra });
  const events = [chunk({ role: 'assistant', content: '' })];
  for (const piece of chunkContent(p.reply.content, p.chunkSize)) events.push(chunk({ content: piece }));
  if (tc) {
    events.push(chunk({ tool_calls: [{ index: 0, id: callId, type: 'function', function: { name: 'execute', arguments: '' } }] }));
    for (const a of pieces(args, p.chunkSize)) events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: a } }] }));
  }
  // Without include_usage OpenAI sends no usage at all; we still put it on the final chunk (litellm and
  // the openai SDK accept it) so a proxy has token counts to record.
  events.push(chunk({}, finish, includeUsage ? {} : { usage }));
  if (includeUsage) events.push(encodeSseData({ id, object: 'chat.completion.chunk', created, model: p.model, system_fingerprint: null, choices: [], usage }));
  return { contentType: SSE_TYPE, events, trailer: SSE_DONE, whole, malformed: 'data: {"id": "broken", "choices": [\n\n' };
}

// --- Anthropic Messages ----------------------------------------------------------------------------

export function renderAnthropic(p: ReplyPlan): Rendered {
  const id = `msg_scripted_${p.n}`;
  const tc = p.reply.toolCall;
  const input = tc ? { language: tc.language, code: tc.code } : undefined;
  const toolId = `toolu_scripted_${p.n}`;
  const stop = tc ? 'tool_use' : 'end_turn';
  const content: unknown[] = [];
  if (p.reply.content) content.push({ type: 'text', text: p.reply.content });
  if (tc) content.push({ type: 'tool_use', id: toolId, name: 'execute', input });
  const usage = { input_tokens: p.inputTokens, output_tokens: p.outputTokens };
  const whole = { id, type: 'message', role: 'assistant', model: p.model, content, stop_reason: stop, stop_sequence: null, usage };
  const ev = (type: string, data: Record<string, unknown>) => encodeSseEvent(type, { type, ...data });
  const events = [ev('message_start', { message: { ...whole, content: [], stop_reason: null, usage: { input_tokens: p.inputTokens, output_tokens: 1 } } })];
  let index = 0;
  if (p.reply.content || !tc) {
    events.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }), ev('ping', {}));
    for (const t of chunkContent(p.reply.content, p.chunkSize)) events.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text: t } }));
    events.push(ev('content_block_stop', { index }));
    index++;
  }
  if (tc) {
    events.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: toolId, name: 'execute', input: {} } }));
    for (const j of pieces(JSON.stringify(input), p.chunkSize)) events.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: j } }));
    events.push(ev('content_block_stop', { index }));
  }
  events.push(ev('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: p.outputTokens } }), ev('message_stop', {}));
  return { contentType: SSE_TYPE, events, trailer: '', whole, malformed: 'event: content_block_delta\ndata: {"type": "content_block_delta", \n\n' };
}

// --- Ollama ----------------------------------------------------------------------------------------

export function renderOllama(p: ReplyPlan, kind: 'chat' | 'generate'): Rendered {
  const at = new Date(0).toISOString();
  const tc = p.reply.toolCall;
  // /api/generate has no tools: a tool call is written as the fenced block text mode would show.
  const text = kind === 'generate' && tc ? `${p.reply.content}\n\n\`\`\`${tc.language}\n${tc.code}\n\`\`\`\n` : p.reply.content;
  const line = (o: Record<string, unknown>) => `${JSON.stringify({ model: p.model, created_at: at, ...o })}\n`;
  const part = (t: string) => (kind === 'chat' ? { message: { role: 'assistant', content: t } } : { response: t });
  const final = { done: true, done_reason: 'stop', total_duration: 1, prompt_eval_count: p.inputTokens, eval_count: p.outputTokens };
  const events = chunkContent(text, p.chunkSize).map((t) => line({ ...part(t), done: false }));
  if (kind === 'chat' && tc) {
    events.push(line({ message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'execute', arguments: { language: tc.language, code: tc.code } } }] }, done: false }));
  }
  events.push(line({ ...part(''), ...final }));
  const wholeMsg = kind === 'chat'
    ? { message: { role: 'assistant', content: text, ...(tc ? { tool_calls: [{ function: { name: 'execute', arguments: { language: tc.language, code: tc.code } } }] } : {}) } }
    : { response: text };
  const whole = { model: p.model, created_at: at, ...wholeMsg, ...final };
  return { contentType: 'application/x-ndjson', events, trailer: '', whole, malformed: '{"model": "broken", \n' };
}

// --- OpenAI Responses (Codex) ----------------------------------------------------------------------

/** The shell tool a Responses request offers, and how to call it with a command line. */
function shellToolOf(body: Record<string, unknown>): { kind: 'exec_command' | 'shell_command' | 'shell' | 'local_shell' } {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  for (const t of tools) {
    if (!isPlainObject(t)) continue;
    if (t.type === 'local_shell') return { kind: 'local_shell' };
    if (t.name === 'exec_command' || t.name === 'shell_command' || t.name === 'shell') return { kind: t.name };
  }
  return { kind: 'shell' };
}

/** POSIX single-quoting. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A reply's code as one shell command line: the fenced block or the tool call; Python runs through python3. */
export function shellCommandOf(reply: NormalizedReply): { prose: string; command: string; patch?: string } | undefined {
  let language: string;
  let code: string;
  let prose = reply.content;
  if (reply.toolCall) {
    ({ language, code } = reply.toolCall);
  } else {
    const m = /```([^\n`]*)\n([\s\S]*?)```/.exec(reply.content);
    if (!m) return undefined;
    language = m[1]!.trim();
    code = m[2]!;
    prose = (reply.content.slice(0, m.index) + reply.content.slice(m.index + m[0].length)).trim();
  }
  code = code.replace(/\n$/, '');
  if (/^(patch|apply_patch)$/i.test(language) || code.trimStart().startsWith('*** Begin Patch')) {
    let fence = 'PATCH';
    while (code.split('\n').includes(fence)) fence += '_';
    return { prose, command: `apply_patch <<'${fence}'\n${code}\n${fence}`, patch: code };
  }
  const command = /^(python|py|python3)$/i.test(language) ? `python3 -c ${shq(code)}` : code;
  return { prose, command };
}

/** The `apply_patch` tool a Responses request offers: `custom` (freeform) or `function`, or undefined. */
function patchToolOf(body: Record<string, unknown>): 'custom' | 'function' | undefined {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  for (const t of tools) {
    if (isPlainObject(t) && t.name === 'apply_patch' && (t.type === 'custom' || t.type === 'function')) return t.type;
  }
  return undefined;
}

function responsesToolItem(body: Record<string, unknown>, command: string, callId: string, id: string, patch?: string): Record<string, unknown> {
  const patchTool = patch !== undefined ? patchToolOf(body) : undefined;
  if (patchTool === 'custom') return { type: 'custom_tool_call', id, call_id: callId, name: 'apply_patch', input: patch, status: 'completed' };
  if (patchTool === 'function') return { type: 'function_call', id, call_id: callId, name: 'apply_patch', arguments: JSON.stringify({ input: patch }), status: 'completed' };
  const { kind } = shellToolOf(body);
  const argv = ['bash', '-lc', command];
  if (kind === 'local_shell') return { type: 'local_shell_call', id, call_id: callId, status: 'completed', action: { type: 'exec', command: argv } };
  const args = kind === 'exec_command' ? { cmd: command } : kind === 'shell_command' ? { command } : { command: argv };
  return { type: 'function_call', id, call_id: callId, name: kind, arguments: JSON.stringify(args), status: 'completed' };
}

export function renderResponses(p: ReplyPlan, body: Record<string, unknown>): Rendered {
  const respId = `resp_scripted_${p.n}`;
  const shell = shellCommandOf(p.reply);
  const text = shell ? shell.prose : p.reply.content;
  const output: Record<string, unknown>[] = [];
  if (text) output.push({ type: 'message', id: `msg_scripted_${p.n}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] });
  if (shell) output.push(responsesToolItem(body, shell.command, `call_scripted_${p.n}`, `fc_scripted_${p.n}`, shell.patch));
  const usage = { input_tokens: p.inputTokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: p.outputTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: p.inputTokens + p.outputTokens };
  const base = { id: respId, object: 'response', created_at: Math.floor(Date.now() / 1000), model: p.model };
  const whole = { ...base, status: 'completed', output, usage };
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) => encodeSseEvent(type, { type, sequence_number: seq++, ...data });
  const events = [ev('response.created', { response: { ...base, status: 'in_progress', output: [] } })];
  output.forEach((item, output_index) => {
    const itemId = item.id as string;
    if (item.type === 'message') {
      events.push(ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } }));
      events.push(ev('response.content_part.added', { item_id: itemId, output_index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
      for (const d of chunkContent(text, p.chunkSize)) events.push(ev('response.output_text.delta', { item_id: itemId, output_index, content_index: 0, delta: d }));
      events.push(ev('response.output_text.done', { item_id: itemId, output_index, content_index: 0, text }));
      events.push(ev('response.content_part.done', { item_id: itemId, output_index, content_index: 0, part: { type: 'output_text', text, annotations: [] } }));
    } else if (item.type === 'function_call') {
      events.push(ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } }));
      for (const d of pieces(item.arguments as string, p.chunkSize)) events.push(ev('response.function_call_arguments.delta', { item_id: itemId, output_index, delta: d }));
      events.push(ev('response.function_call_arguments.done', { item_id: itemId, output_index, arguments: item.arguments }));
    } else {
      events.push(ev('response.output_item.added', { output_index, item }));
    }
    events.push(ev('response.output_item.done', { output_index, item }));
  });
  events.push(ev('response.completed', { response: whole }));
  return { contentType: SSE_TYPE, events, trailer: '', whole, malformed: 'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", \n\n' };
}
