/**
 * The scripted model: an OpenAI-compatible HTTP server that replays a JSON script, so the demo and the
 * tests run offline and deterministically against the real Open Interpreter.
 *
 * Script format (other tools rely on it; keep it exactly):
 *
 *   { "turns": [ { "user": "what the user types",
 *                  "replies": [ "reply to LLM call 1 (markdown, at most one fenced code block)",
 *                               "reply to LLM call 2, after the code output came back",
 *                               { "content": "...", "tool_call": { "language": "python", "code": "..." } } ] } ] }
 *
 * Which reply a request gets is derived from the request's own `messages`, not from server state, so
 * concurrent sessions and client retries get consistent answers:
 * - the turn is the one whose `user` text the latest real user message equals (or, failing that,
 *   contains — Open Interpreter merges adjacent same-role messages and applies a user template).
 *   Open Interpreter's own feedback messages ("Code output: …", "The code above was executed …",
 *   the Jupyter input-patience prompt) are not user turns and are skipped;
 * - the reply index is the number of assistant runs (consecutive assistant messages count once:
 *   in function-calling mode a reply's text and its tool call are two messages) after that user message,
 *   i.e. the number of LLM calls of the turn that already completed;
 * - past the end of a turn's replies the closing reply (default "Done.") is served; when no turn
 *   matches, a short no-code reply says so.
 * Limitation: with Open Interpreter's `code_output_sender="assistant"` (not the default) code output is an
 * assistant message merged into the previous one, so reply indexes would not advance.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeSseData, SSE_DONE } from '../llm-proxy/sse.js';

// --- script types and validation -----------------------------------------------------------------

export interface ScriptToolCall {
  language: string;
  code: string;
}

/** A reply: markdown text (text mode), or text plus a function call (function-calling mode). */
export type ScriptReply = string | { content?: string; tool_call?: ScriptToolCall };

export interface ScriptTurn {
  user: string;
  replies: ScriptReply[];
}

export interface Script {
  turns: ScriptTurn[];
}

export class ScriptError extends Error {
  override name = 'ScriptError';
}

const TOP_LEVEL_KEYS = new Set(['turns', 'description', '$schema']);
const TURN_KEYS = new Set(['user', 'replies']);
const REPLY_KEYS = new Set(['content', 'tool_call']);
const TOOL_CALL_KEYS = new Set(['language', 'code']);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: Set<string>, where: string, source: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) {
      throw new ScriptError(`${source}: ${where} has unknown key "${key}" (allowed: ${[...allowed].join(', ')})`);
    }
  }
}

/** Count of ``` fences in a text reply: 0 (no code) or 2 (one block) are what Open Interpreter's text mode handles. */
function fenceCount(text: string): number {
  return (text.match(/```/g) ?? []).length;
}

/**
 * Validate a parsed script. Errors name the source and the exact place, e.g.
 * `demo.json: turns[1].replies[0].tool_call.language must be a non-empty string`.
 */
export function validateScript(value: unknown, source = 'script'): Script {
  if (!isPlainObject(value)) throw new ScriptError(`${source}: the script must be a JSON object with a "turns" array, got ${describe(value)}`);
  checkKeys(value, TOP_LEVEL_KEYS, 'the top level', source);
  const turns = value.turns;
  if (!Array.isArray(turns)) throw new ScriptError(`${source}: "turns" must be an array, got ${describe(turns)}`);
  if (turns.length === 0) throw new ScriptError(`${source}: "turns" is empty; a script needs at least one turn`);
  const out: ScriptTurn[] = turns.map((turn, t) => {
    const at = `turns[${t}]`;
    if (!isPlainObject(turn)) throw new ScriptError(`${source}: ${at} must be an object with "user" and "replies", got ${describe(turn)}`);
    checkKeys(turn, TURN_KEYS, at, source);
    if (typeof turn.user !== 'string' || turn.user.trim().length === 0) {
      throw new ScriptError(`${source}: ${at}.user must be a non-empty string, got ${describe(turn.user)}`);
    }
    if (!Array.isArray(turn.replies)) throw new ScriptError(`${source}: ${at}.replies must be an array, got ${describe(turn.replies)}`);
    const replies: ScriptReply[] = turn.replies.map((reply, r) => {
      const rat = `${at}.replies[${r}]`;
      if (typeof reply === 'string') {
        const fences = fenceCount(reply);
        if (fences !== 0 && fences !== 2) {
          throw new ScriptError(
            `${source}: ${rat} has ${fences} \`\`\` fences; a text reply may hold at most one fenced code block ` +
              '(Open Interpreter runs only the first block and stops reading at its closing fence)',
          );
        }
        return reply;
      }
      if (!isPlainObject(reply)) throw new ScriptError(`${source}: ${rat} must be a string or an object {content, tool_call}, got ${describe(reply)}`);
      checkKeys(reply, REPLY_KEYS, rat, source);
      if (reply.content !== undefined && typeof reply.content !== 'string') {
        throw new ScriptError(`${source}: ${rat}.content must be a string, got ${describe(reply.content)}`);
      }
      const norm: { content?: string; tool_call?: ScriptToolCall } = {};
      if (typeof reply.content === 'string') norm.content = reply.content;
      if (reply.tool_call !== undefined) {
        const tc = reply.tool_call;
        if (!isPlainObject(tc)) throw new ScriptError(`${source}: ${rat}.tool_call must be an object {language, code}, got ${describe(tc)}`);
        checkKeys(tc, TOOL_CALL_KEYS, `${rat}.tool_call`, source);
        if (typeof tc.language !== 'string' || tc.language.trim().length === 0) {
          throw new ScriptError(`${source}: ${rat}.tool_call.language must be a non-empty string, got ${describe(tc.language)}`);
        }
        if (typeof tc.code !== 'string') throw new ScriptError(`${source}: ${rat}.tool_call.code must be a string, got ${describe(tc.code)}`);
        norm.tool_call = { language: tc.language, code: tc.code };
      }
      if (norm.content === undefined && norm.tool_call === undefined) {
        throw new ScriptError(`${source}: ${rat} must have "content", "tool_call" or both`);
      }
      return norm;
    });
    return { user: turn.user, replies };
  });
  return { turns: out };
}

/** Parse and validate script text. */
export function parseScript(text: string, source = 'script'): Script {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ScriptError(`${source}: not valid JSON: ${(err as Error).message}`);
  }
  return validateScript(parsed, source);
}

/** Read, parse and validate a script file. Errors start with the path. */
export async function loadScript(path: string): Promise<Script> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ScriptError(`${path}: cannot read script: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseScript(text, path);
}

/** Synchronous loadScript, for CLI start-up code. */
export function loadScriptSync(path: string): Script {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScriptError(`${path}: cannot read script: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseScript(text, path);
}

// --- reply selection ------------------------------------------------------------------------------

export interface NormalizedReply {
  content: string;
  toolCall?: ScriptToolCall;
}

export interface ReplySelection {
  kind: 'reply' | 'closing' | 'unmatched';
  /** Script turn index, when a turn matched. */
  turnIndex?: number;
  /** Index of the reply in the turn (for `closing`, the index that was past the end). */
  replyIndex: number;
  reply: NormalizedReply;
}

export const DEFAULT_CLOSING_REPLY = 'Done.';
export const UNMATCHED_REPLY = 'The scripted model has no scripted turn for this conversation.';

/** Open Interpreter's own user-role messages (code output feedback, input-patience prompt): never a user turn. */
const OI_FEEDBACK_PREFIXES = ['Code output:', 'The code above was executed on my machine.'];
const OI_FEEDBACK_MARKERS = ['The program above has been running for over'];

function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (isPlainObject(part) && typeof part.text === 'string' ? part.text : ''))
      .filter((s) => s.length > 0)
      .join('\n');
  }
  return '';
}

function isFeedback(text: string): boolean {
  const t = text.trimStart();
  return OI_FEEDBACK_PREFIXES.some((p) => t.startsWith(p)) || OI_FEEDBACK_MARKERS.some((m) => t.includes(m));
}

function normalizeReply(reply: ScriptReply): NormalizedReply {
  if (typeof reply === 'string') return { content: reply };
  const out: NormalizedReply = { content: reply.content ?? '' };
  if (reply.tool_call) out.toolCall = { ...reply.tool_call };
  return out;
}

/** Which script turns a user message belongs to: exact matches first, else the most specific contained text. */
function matchingTurns(script: Script, text: string): number[] {
  const t = text.trim();
  const exact = script.turns.flatMap((turn, i) => (turn.user.trim() === t ? [i] : []));
  if (exact.length > 0) return exact;
  if (isFeedback(text)) return [];
  let best: number[] = [];
  let bestLen = 0;
  script.turns.forEach((turn, i) => {
    const u = turn.user.trim();
    if (!t.includes(u)) return;
    if (u.length > bestLen) {
      best = [i];
      bestLen = u.length;
    } else if (u.length === bestLen && script.turns[best[0]!]!.user.trim() === u) {
      best.push(i);
    }
  });
  return best;
}

/** Pick the reply for a request from its messages (see the module comment for the rules). */
export function selectReply(script: Script, messages: unknown, closingReply = DEFAULT_CLOSING_REPLY): ReplySelection {
  const msgs = Array.isArray(messages) ? messages : [];
  const roleOf = (m: unknown): string | undefined => (isPlainObject(m) && typeof m.role === 'string' ? m.role : undefined);
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (roleOf(m) !== 'user' || !isPlainObject(m)) continue;
    const text = messageText(m.content);
    const candidates = matchingTurns(script, text);
    if (candidates.length === 0) continue;
    let turnIndex = candidates[0]!;
    if (candidates.length > 1) {
      // Several turns share this user text: the k-th earlier occurrence in the conversation picks the k-th turn.
      const same = script.turns[turnIndex]!.user.trim();
      let earlier = 0;
      for (let j = 0; j < i; j++) {
        const mj = msgs[j];
        if (roleOf(mj) !== 'user' || !isPlainObject(mj)) continue;
        if (matchingTurns(script, messageText(mj.content)).some((k) => script.turns[k]!.user.trim() === same)) earlier++;
      }
      turnIndex = candidates[Math.min(earlier, candidates.length - 1)]!;
    }
    let replyIndex = 0;
    for (let j = i + 1; j < msgs.length; j++) {
      if (roleOf(msgs[j]) === 'assistant' && roleOf(msgs[j - 1]) !== 'assistant') replyIndex++;
    }
    const replies = script.turns[turnIndex]!.replies;
    const reply = replies[replyIndex];
    if (reply !== undefined) return { kind: 'reply', turnIndex, replyIndex, reply: normalizeReply(reply) };
    return { kind: 'closing', turnIndex, replyIndex, reply: { content: closingReply } };
  }
  return { kind: 'unmatched', replyIndex: 0, reply: { content: UNMATCHED_REPLY } };
}

// --- chunking -----------------------------------------------------------------------------------

/**
 * Split reply text into stream deltas the way Open Interpreter's text-mode parser can digest:
 * - every ``` fence is a delta of its own, and the language tag line after an opening fence (with its
 *   newline) is one delta — the parser drops a delta that ends with a backtick and reads the language
 *   from the first line after the fence;
 * - other text is cut every `chunkSize` characters (code points, never splitting a surrogate pair),
 *   and no delta ends with a backtick (a cut that would is moved past the backticks).
 */
export function chunkContent(text: string, chunkSize: number): string[] {
  const size = Math.max(1, Math.floor(chunkSize));
  const out: string[] = [];
  const plain = (s: string) => {
    const cps = Array.from(s);
    let i = 0;
    while (i < cps.length) {
      let end = Math.min(i + size, cps.length);
      while (end < cps.length && cps[end - 1] === '`') end++;
      out.push(cps.slice(i, end).join(''));
      i = end;
    }
  };
  const parts = text.split('```');
  parts.forEach((part, k) => {
    if (k > 0) out.push('```');
    if (part.length === 0) return;
    const opening = k % 2 === 1; // text right after an odd fence is inside a code block
    if (opening) {
      const nl = part.indexOf('\n');
      if (nl !== -1) {
        out.push(part.slice(0, nl + 1));
        plain(part.slice(nl + 1));
        return;
      }
    }
    plain(part);
  });
  return out;
}

// --- the server ----------------------------------------------------------------------------------

/** Restrict a fault to some requests: 1-based numbers of chat-completion requests; absent = every request. */
export interface FaultTarget {
  requests?: number[];
}

export interface ScriptedFaults {
  /** Respond HTTP 500 with an OpenAI-style error body. */
  http500?: FaultTarget & { message?: string };
  /** Destroy the socket after this many SSE data events (the role delta is the first). */
  cutStream?: FaultTarget & { afterChunks: number };
  /** Send headers at once, then wait this long before the first data event. */
  firstChunkDelay?: FaultTarget & { ms: number };
  /** Wait this long before sending anything, headers included. */
  headersDelay?: FaultTarget & { ms: number };
  /** Replace the reply with `bytes` bytes of hostile filler (ANSI escapes, bidi overrides, CR), no code. */
  hugeReply?: FaultTarget & { bytes: number };
  /** After `afterChunks` data events (default 1), send a data event that is not JSON, then carry on. */
  malformedSse?: FaultTarget & { afterChunks?: number };
}

export interface ScriptedModelOptions {
  script: Script;
  /** Default 0 (a free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Characters per content delta. Default 8. */
  chunkSize?: number;
  /** Delay between data events, ms. Default 0. */
  chunkDelayMs?: number;
  /** Model id for `/v1/models` and for responses when the request names none. Default `scripted`. */
  model?: string;
  /** Reply served past the end of a turn's replies. Default "Done.". */
  closingReply?: string;
  faults?: ScriptedFaults;
}

export interface ServedRequest {
  /** 1-based number among chat-completion requests. */
  n: number;
  stream: boolean;
  selection: ReplySelection;
  /** Fault applied, if any. */
  fault?: keyof ScriptedFaults;
}

export interface ScriptedModel {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:40123/v1`. */
  url: string;
  port: number;
  /** Chat-completion request bodies as received (parsed JSON; the raw text when not JSON). */
  requests: unknown[];
  /** What was served for each chat-completion request. */
  served: ServedRequest[];
  close(): Promise<void>;
}

const HOSTILE_FILLER = '\u001b[31mHOSTILE\u001b[0m \u202eesrever\u202c \r\n';

function applies(target: FaultTarget | undefined, n: number): boolean {
  if (!target) return false;
  return target.requests === undefined || target.requests.includes(n);
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** Deterministic rough token estimate (4 characters a token). */
function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function promptText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  return messages.map((m) => (isPlainObject(m) ? messageText(m.content) : '')).join('\n');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(message: string, type: string, code: string | null = null) {
  return { error: { message, type, param: null, code } };
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/** Write and wait for the socket to drain when the kernel buffer is full (so huge replies stay bounded in memory). */
function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

function writeFlushed(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    res.write(text, (err) => resolve(!err));
  });
}

export async function startScriptedModel(options: ScriptedModelOptions): Promise<ScriptedModel> {
  const script = validateScript(options.script, 'scripted model options.script');
  const host = options.host ?? '127.0.0.1';
  const chunkSize = options.chunkSize ?? 8;
  const chunkDelayMs = options.chunkDelayMs ?? 0;
  const defaultModel = options.model ?? 'scripted';
  const closingReply = options.closingReply ?? DEFAULT_CLOSING_REPLY;
  const faults = options.faults ?? {};
  const requests: unknown[] = [];
  const served: ServedRequest[] = [];
  let counter = 0;
  let idCounter = 0;

  const handleChat = async (req: IncomingMessage, res: ServerResponse) => {
    let text: string;
    try {
      text = await readBody(req, 64 * 1024 * 1024);
    } catch {
      if (!res.headersSent) sendJson(res, 413, errorBody('request body too large', 'invalid_request_error'));
      return;
    }
    const n = ++counter;
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (!isPlainObject(parsed)) throw new Error('body is not a JSON object');
      body = parsed;
      requests.push(parsed);
    } catch (err) {
      requests.push(text);
      sendJson(res, 400, errorBody(`invalid JSON body: ${(err as Error).message}`, 'invalid_request_error'));
      return;
    }
    const stream = body.stream === true;
    const selection = selectReply(script, body.messages, closingReply);
    const record: ServedRequest = { n, stream, selection };
    served.push(record);

    if (applies(faults.headersDelay, n)) await sleep(faults.headersDelay!.ms);
    if (applies(faults.http500, n)) {
      record.fault = 'http500';
      sendJson(res, 500, errorBody(faults.http500!.message ?? 'scripted fault: internal server error', 'server_error'));
      return;
    }

    let reply = selection.reply;
    if (applies(faults.hugeReply, n)) {
      record.fault = 'hugeReply';
      const bytes = faults.hugeReply!.bytes;
      const reps = Math.ceil(bytes / Buffer.byteLength(HOSTILE_FILLER));
      reply = { content: HOSTILE_FILLER.repeat(reps).slice(0, bytes) };
    }

    const model = typeof body.model === 'string' && body.model.length > 0 ? body.model : defaultModel;
    const id = `chatcmpl-scripted-${++idCounter}`;
    const created = Math.floor(Date.now() / 1000);
    const toolCallId = `call_scripted_${idCounter}`;
    const args = reply.toolCall ? JSON.stringify({ language: reply.toolCall.language, code: reply.toolCall.code }) : '';
    const promptTokens = estimateTokens(promptText(body.messages));
    const completionTokens = estimateTokens(reply.content + args);
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    const finishReason = reply.toolCall ? 'tool_calls' : 'stop';

    if (!stream) {
      const message: Record<string, unknown> = { role: 'assistant', content: reply.content.length > 0 || !reply.toolCall ? reply.content : null };
      if (reply.toolCall) {
        message.tool_calls = [{ id: toolCallId, type: 'function', function: { name: 'execute', arguments: args } }];
      }
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
        usage,
      });
      return;
    }

    const streamOptions = isPlainObject(body.stream_options) ? body.stream_options : undefined;
    const includeUsage = streamOptions?.include_usage === true;
    const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...extra,
    });
    const events: string[] = [];
    events.push(encodeSseData(chunk({ role: 'assistant', content: '' })));
    for (const piece of chunkContent(reply.content, chunkSize)) events.push(encodeSseData(chunk({ content: piece })));
    if (reply.toolCall) {
      events.push(
        encodeSseData(chunk({ tool_calls: [{ index: 0, id: toolCallId, type: 'function', function: { name: 'execute', arguments: '' } }] })),
      );
      const cps = Array.from(args);
      for (let i = 0; i < cps.length; i += chunkSize) {
        events.push(encodeSseData(chunk({ tool_calls: [{ index: 0, function: { arguments: cps.slice(i, i + chunkSize).join('') } }] })));
      }
    }
    // Without stream_options.include_usage OpenAI sends no usage at all; we still put it on the final
    // chunk (litellm and the openai SDK accept it) so the proxy has token counts to record.
    events.push(encodeSseData(chunk({}, finishReason, includeUsage ? {} : { usage })));
    if (includeUsage) {
      events.push(encodeSseData({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices: [], usage }));
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    if (applies(faults.firstChunkDelay, n)) {
      record.fault ??= 'firstChunkDelay';
      await sleep(faults.firstChunkDelay!.ms);
    }
    const cut = applies(faults.cutStream, n) ? faults.cutStream!.afterChunks : undefined;
    const malformedAt = applies(faults.malformedSse, n) ? (faults.malformedSse!.afterChunks ?? 1) : undefined;
    let sent = 0;
    for (const ev of events) {
      if (cut !== undefined && sent >= cut) {
        record.fault = 'cutStream';
        res.socket?.destroy();
        res.destroy();
        return;
      }
      if (malformedAt !== undefined && sent === malformedAt) {
        record.fault = 'malformedSse';
        if (!(await write(res, 'data: {"id": "broken", "choices": [\n\n'))) return;
      }
      if (sent > 0) await sleep(chunkDelayMs);
      // Before a cut, wait until the chunk has reached the socket, so the client sees exactly K chunks.
      if (!(await (cut !== undefined && sent + 1 >= cut ? writeFlushed(res, ev) : write(res, ev)))) return;
      sent++;
    }
    if (cut !== undefined && sent >= cut) {
      record.fault = 'cutStream';
      res.socket?.destroy();
      res.destroy();
      return;
    }
    await write(res, SSE_DONE);
    res.end();
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    const route = path.startsWith('/v1/') ? path.slice(3) : path;
    if (req.method === 'POST' && route === '/chat/completions') {
      handleChat(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, errorBody(`scripted model error: ${(err as Error).message}`, 'server_error'));
        else res.destroy();
      });
      return;
    }
    if (req.method === 'GET' && route === '/models') {
      sendJson(res, 200, { object: 'list', data: [{ id: defaultModel, object: 'model', created: 0, owned_by: 'oi-audit' }] });
      return;
    }
    if (req.method === 'GET' && (route === '' || route === '/health')) {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    req.resume();
    sendJson(res, 404, errorBody(`no route ${req.method} ${path}`, 'invalid_request_error', 'not_found'));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostPart}:${port}/v1`,
    port,
    requests,
    served,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
