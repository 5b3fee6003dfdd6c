/**
 * The scripted model: an HTTP server that replays a demo script (script.ts) in every provider wire
 * format the proxy speaks, so the demo and the tests run offline and deterministically against the
 * real Open Interpreter (and Codex): OpenAI Chat Completions and Azure OpenAI, OpenAI Responses,
 * Anthropic Messages, Ollama chat and generate. How each format is written is in scripted-replies.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOn } from '../llm-proxy/listen.js';
import { DEFAULT_CLOSING_REPLY, isPlainObject, messageText, selectReply, validateScript, type ReplySelection, type Script } from './script.js';
import { renderAnthropic, renderChat, renderOllama, renderResponses, type Rendered, type ReplyPlan } from './scripted-replies.js';

export * from './script.js';

// --- the server ----------------------------------------------------------------------------------

/** Restrict a fault to some requests: 1-based numbers of LLM requests (any format); absent = every request. */
export interface FaultTarget {
  requests?: number[];
}

export interface ScriptedFaults {
  /** Respond HTTP 500 with an error body in the request's format. */
  http500?: FaultTarget & { message?: string };
  /** Destroy the socket after this many stream events (chat: the role delta is the first). */
  cutStream?: FaultTarget & { afterChunks: number };
  /** Send headers at once, then wait this long before the first data event. */
  firstChunkDelay?: FaultTarget & { ms: number };
  /** Wait this long before sending anything, headers included. */
  headersDelay?: FaultTarget & { ms: number };
  /** Replace the reply with `bytes` bytes of hostile filler (ANSI escapes, bidi overrides, CR), no code. */
  hugeReply?: FaultTarget & { bytes: number };
  /** After `afterChunks` events (default 1), send an event (or NDJSON line) that is not JSON, then carry on. */
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

/** The wire formats served, by route. */
export type ScriptedFormat = 'openai-chat' | 'azure-openai-chat' | 'openai-responses' | 'anthropic-messages' | 'ollama-chat' | 'ollama-generate';

export interface ServedRequest {
  /** 1-based number among LLM requests (any format). */
  n: number;
  format: ScriptedFormat;
  stream: boolean;
  selection: ReplySelection;
  /** Fault applied, if any. */
  fault?: keyof ScriptedFaults;
}

/** One LLM request as it arrived: what a stand-in test checks (route, auth header, body). */
export interface ReceivedRequest {
  format: ScriptedFormat;
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface ScriptedModel {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:40123/v1` (OpenAI-style clients). */
  url: string;
  /** `http://127.0.0.1:40123` (Azure, Anthropic and Ollama clients). */
  rootUrl: string;
  port: number;
  /** LLM request bodies as received (parsed JSON; the raw text when not JSON). */
  requests: unknown[];
  /** Route and headers of each LLM request, in the same order as `requests`. */
  received: ReceivedRequest[];
  /** What was served for each LLM request. */
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

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An error body in the format's own shape. */
function errorBody(format: ScriptedFormat, message: string, type: string, code: string | null = null): unknown {
  if (format === 'anthropic-messages') return { type: 'error', error: { type: type === 'server_error' ? 'api_error' : type, message } };
  if (format === 'ollama-chat' || format === 'ollama-generate') return { error: message };
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

/** The conversation of a request as role/content messages, whatever its format (for reply selection). */
export function conversationOf(format: ScriptedFormat, body: Record<string, unknown>): unknown[] {
  if (format === 'openai-responses') {
    const input = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : Array.isArray(body.input) ? body.input : [];
    // function_call items are the assistant's turn; their outputs are the tool's, not the user's.
    return input.map((it: unknown): unknown =>
      isPlainObject(it) && it.type === 'function_call' ? { role: 'assistant', content: '' }
      : isPlainObject(it) && typeof it.type === 'string' && it.type.endsWith('_output') ? { role: 'tool', content: '' }
      : it,
    );
  }
  if (format === 'ollama-generate') return promptMessages(typeof body.prompt === 'string' ? body.prompt : '');
  return Array.isArray(body.messages) ? body.messages : [];
}

/** litellm writes an Ollama /api/generate prompt as `### System:` / `### User:` / `### Assistant:` sections. */
function promptMessages(prompt: string): unknown[] {
  const out: { role: string; content: string }[] = [];
  const re = /^### (System|User|Assistant):\n/gm;
  const marks = [...prompt.matchAll(re)];
  if (marks.length === 0) return [{ role: 'user', content: prompt }];
  marks.forEach((m, i) => {
    const end = i + 1 < marks.length ? marks[i + 1]!.index : prompt.length;
    out.push({ role: m[1]!.toLowerCase(), content: prompt.slice(m.index + m[0].length, end).trim() });
  });
  return out;
}

function routeOf(method: string, path: string): ScriptedFormat | undefined {
  if (method !== 'POST') return undefined;
  if (path === '/v1/chat/completions' || path === '/chat/completions') return 'openai-chat';
  if (/^\/openai\/deployments\/[^/]+\/chat\/completions$/.test(path)) return 'azure-openai-chat';
  if (path === '/v1/responses' || path === '/responses') return 'openai-responses';
  if (path === '/v1/messages') return 'anthropic-messages';
  if (path === '/api/chat') return 'ollama-chat';
  if (path === '/api/generate') return 'ollama-generate';
  return undefined;
}

function render(format: ScriptedFormat, plan: ReplyPlan, body: Record<string, unknown>): Rendered {
  switch (format) {
    case 'openai-responses':
      return renderResponses(plan, body);
    case 'anthropic-messages':
      return renderAnthropic(plan);
    case 'ollama-chat':
      return renderOllama(plan, 'chat');
    case 'ollama-generate':
      return renderOllama(plan, 'generate');
    default:
      return renderChat(plan, body);
  }
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
  const received: ReceivedRequest[] = [];
  const served: ServedRequest[] = [];
  let counter = 0;

  /** Stream the rendered events with the configured faults applied. */
  const stream = async (res: ServerResponse, r: Rendered, n: number, record: ServedRequest) => {
    res.writeHead(200, { 'content-type': r.contentType, 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    if (applies(faults.firstChunkDelay, n)) {
      record.fault ??= 'firstChunkDelay';
      await sleep(faults.firstChunkDelay!.ms);
    }
    const cut = applies(faults.cutStream, n) ? faults.cutStream!.afterChunks : undefined;
    const malformedAt = applies(faults.malformedSse, n) ? (faults.malformedSse!.afterChunks ?? 1) : undefined;
    const hangUp = () => {
      record.fault = 'cutStream';
      res.socket?.destroy();
      res.destroy();
    };
    let sent = 0;
    for (const ev of r.events) {
      if (cut !== undefined && sent >= cut) return hangUp();
      if (malformedAt !== undefined && sent === malformedAt) {
        record.fault = 'malformedSse';
        if (!(await write(res, r.malformed))) return;
      }
      if (sent > 0) await sleep(chunkDelayMs);
      // Before a cut, wait until the chunk has reached the socket, so the client sees exactly K chunks.
      if (!(await (cut !== undefined && sent + 1 >= cut ? writeFlushed(res, ev) : write(res, ev)))) return;
      sent++;
    }
    if (cut !== undefined && sent >= cut) return hangUp();
    if (r.trailer) await write(res, r.trailer);
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, format: ScriptedFormat) => {
    const url = req.url ?? '/';
    let text: string;
    try {
      text = await readBody(req, 64 * 1024 * 1024);
    } catch {
      if (!res.headersSent) sendJson(res, 413, errorBody(format, 'request body too large', 'invalid_request_error'));
      return;
    }
    const n = ++counter;
    received.push({ format, method: req.method ?? 'POST', url, headers: { ...req.headers } });
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (!isPlainObject(parsed)) throw new Error('body is not a JSON object');
      body = parsed;
      requests.push(parsed);
    } catch (err) {
      requests.push(text);
      sendJson(res, 400, errorBody(format, `invalid JSON body: ${(err as Error).message}`, 'invalid_request_error'));
      return;
    }
    // Ollama streams unless told not to; the others only when asked.
    const streamed = format.startsWith('ollama') ? body.stream !== false : body.stream === true;
    const messages = conversationOf(format, body);
    const selection = selectReply(script, messages, closingReply);
    const record: ServedRequest = { n, format, stream: streamed, selection };
    served.push(record);

    if (applies(faults.headersDelay, n)) await sleep(faults.headersDelay!.ms);
    if (applies(faults.http500, n)) {
      record.fault = 'http500';
      sendJson(res, 500, errorBody(format, faults.http500!.message ?? 'scripted fault: internal server error', 'server_error'));
      return;
    }
    let reply = selection.reply;
    if (applies(faults.hugeReply, n)) {
      record.fault = 'hugeReply';
      const bytes = faults.hugeReply!.bytes;
      reply = { content: HOSTILE_FILLER.repeat(Math.ceil(bytes / Buffer.byteLength(HOSTILE_FILLER))).slice(0, bytes) };
    }
    const model = typeof body.model === 'string' && body.model.length > 0 ? body.model : defaultModel;
    const prompt = messages.map((m) => (isPlainObject(m) ? messageText(m.content) : '')).join('\n');
    const toolText = reply.toolCall ? JSON.stringify(reply.toolCall) : '';
    const plan: ReplyPlan = { n, model, reply, chunkSize, inputTokens: estimateTokens(prompt), outputTokens: estimateTokens(reply.content + toolText) };
    const rendered = render(format, plan, body);
    if (!streamed) return sendJson(res, 200, rendered.whole);
    await stream(res, rendered, n, record);
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const format = routeOf(method, path);
    if (format) {
      handle(req, res, format).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, errorBody(format, `scripted model error: ${(err as Error).message}`, 'server_error'));
        else res.destroy();
      });
      return;
    }
    const route = path.startsWith('/v1/') ? path.slice(3) : path;
    if (method === 'GET' && route === '/models') {
      sendJson(res, 200, { object: 'list', data: [{ id: defaultModel, object: 'model', created: 0, owned_by: 'oi-audit' }] });
      return;
    }
    if (method === 'GET' && path === '/api/tags') {
      sendJson(res, 200, { models: [{ name: `${defaultModel}:latest`, model: `${defaultModel}:latest` }] });
      return;
    }
    if (method === 'GET' && (route === '' || route === '/health')) {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    req.resume();
    sendJson(res, 404, errorBody('openai-chat', `no route ${method} ${path}`, 'invalid_request_error', 'not_found'));
  });

  const { port, urlHost: hostPart } = await listenOn(server, options.port ?? 0, host);
  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostPart}:${port}/v1`,
    rootUrl: `http://${hostPart}:${port}`,
    port,
    requests,
    received,
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
