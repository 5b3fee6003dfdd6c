/**
 * The audit LLM proxy: an OpenAI-compatible endpoint that Open Interpreter's litellm talks to, one URL
 * per audit session (`http://127.0.0.1:P/s/<token>/v1`). Each chat completion becomes a generation span
 * of the session's active turn, with the exact request messages and the assembled response recorded,
 * while the upstream stream is passed through to the client chunk by chunk.
 *
 * Decisions:
 * - Unknown, missing or ended-session tokens get 404 and are counted (`unknownTokenRequests`) and
 *   reported through `onUnknownToken`, so the gateway can turn them into audit records.
 * - The key the Open Interpreter process sends is never forwarded; the upstream key is added here and is
 *   scrubbed from everything recorded (and from upstream error bodies passed back to the client).
 * - A call that arrives while the session has no active turn is forwarded by default and recorded on
 *   the session root: an `llm_call_outside_turn` error event on the root span, and a `chat` span under
 *   the root with the usual request/response events (`turn: null`, `outside_turn: true`).
 *   With `outsideTurn: 'refuse'` it is recorded the same way and answered 409 instead of forwarded.
 * - Open Interpreter's text mode hangs up after the first closing code fence: that ends the generation
 *   with `clientDisconnected: true` and what was received so far. It is not an error. With litellm the
 *   hang-up is lazy (the connection closes when Python collects the stream), so a client that leaves
 *   streamed data unread for `clientStallTimeoutMs`, or whose session sends its next LLM call, counts as
 *   gone too; backpressure keeps memory bounded meanwhile.
 * - Upstream failures: non-2xx → status and body passed through, `upstream_<status>`; unreachable → 502
 *   `upstream_unreachable`; no response headers in time → 504 `upstream_timeout`; stream cut, stalled or
 *   ended without `[DONE]`/finish_reason → `upstream_stream_cut` / `upstream_timeout`, and the client gets
 *   an OpenAI-style `data: {"error": …}` event (the openai SDK raises on it) instead of a silently
 *   truncated reply it might act on.
 * - The request is forwarded byte for byte (no `stream_options` injected), so what the model receives is
 *   exactly what the client sent and what the `llm.request` event records.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Span } from '@opentelemetry/api';
import { AuditGeneration, type GenerationRequest, type GenerationResult } from '../audit/generation.js';
import type { AuditSession } from '../audit/session.js';
import type { JsonObject, JsonValue } from '../security/canonical-json.js';
import { ChatCompletionAssembler, encodeSseData, SseParser, type AssembledCompletion } from './sse.js';

export interface UnknownTokenInfo {
  reason: 'unknown_token' | 'missing_token' | 'session_ended';
  method: string;
  /** Request path with the token replaced by `<token>`. */
  path: string;
  /** First 16 hex digits of the SHA-256 of the presented token (never the token itself). */
  tokenSha256Prefix?: string;
  remoteAddress?: string;
  at: string;
}

export interface LlmProxyOptions {
  /** Upstream OpenAI-compatible base URL including its version path, e.g. `https://api.openai.com/v1`. */
  upstreamBaseUrl: string;
  /** Sent upstream as `Authorization: Bearer …`; never recorded. */
  upstreamApiKey?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** `gen_ai.provider.name` recorded for generations. Default `openai`. */
  provider?: string;
  /** Longest wait for the upstream's response headers, ms. Default 120 000. */
  requestTimeoutMs?: number;
  /** Longest silence between upstream body chunks, ms. Default: requestTimeoutMs. */
  idleTimeoutMs?: number;
  /**
   * How long the client may leave streamed data unread (socket buffers full) before the proxy treats it
   * as gone, ms. Open Interpreter's text mode stops reading at the first closing code fence but, with
   * litellm, only closes the connection when Python garbage-collects the stream, which can be much later.
   * A new LLM request for the same session also ends any stream of that session left unread.
   * Default 5 000.
   */
  clientStallTimeoutMs?: number;
  /** Largest request body accepted, bytes. Default 32 MiB. */
  maxRequestBytes?: number;
  /** Most characters of response content assembled for the record (the stream itself is not limited). Default 16 Mi. */
  maxAssembledChars?: number;
  /** What to do with a call that arrives while the session has no active turn. Default `forward`. */
  outsideTurn?: 'forward' | 'refuse';
  /** Called for every request with an unknown, missing or ended-session token. Errors thrown are ignored. */
  onUnknownToken?: (info: UnknownTokenInfo) => void;
  /** Called when recording to the audit session throws (the proxy keeps serving). */
  onAuditError?: (error: unknown) => void;
}

export interface RegisterOptions {
  /** Overrides the proxy's `provider` for this session. */
  provider?: string;
}

export interface ProxyRegistration {
  /** 32 random bytes, hex. A bearer credential for this session's LLM traffic: keep it out of logs. */
  token: string;
  /** `http://127.0.0.1:P/s/<token>/v1`: give it to Open Interpreter as `api_base`. */
  baseUrl: string;
  /** Stop accepting this token (bound; safe to pass around). In-flight requests finish. */
  unregister: () => void;
}

export interface LlmProxy {
  /** `http://host:port` */
  url: string;
  port: number;
  /** Requests refused for an unknown, missing or ended-session token since start. */
  readonly unknownTokenRequests: number;
  /** Chat-completion requests in flight. */
  readonly activeRequests: number;
  register(session: AuditSession, opts?: RegisterOptions): ProxyRegistration;
  /** Stop listening, abort in-flight upstream calls (their generations fail with `proxy_shutdown`) and wait for them. */
  close(): Promise<void>;
}

interface Registration {
  session: AuditSession;
  provider: string;
  outsideCalls: number;
  /** Streams of this session currently waiting for the client to read. */
  blocked: Set<BlockedWrite>;
}

/** What the proxy needs of a generation: AuditGeneration, or the root-span stand-in for calls outside a turn. */
interface GenerationSink {
  readonly span: Span;
  firstChunk(): void;
  end(result: GenerationResult): void;
  fail(type: string, message: string, partial?: Partial<GenerationResult>): void;
}

type AbortReason = 'client' | 'headers_timeout' | 'idle_timeout' | 'shutdown';

const TOKEN_RE = /^[0-9a-f]{64}$/;

function errorJson(message: string, type: string, code: string | null = null): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

function sendError(res: ServerResponse, status: number, message: string, type: string, code: string | null = type): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = errorJson(message, type, code);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type WriteOutcome = 'ok' | 'closed' | 'stalled' | 'aborted';

/** A write to the client that is still waiting for the client to read (socket buffers full). */
interface BlockedWrite {
  /** Give up on the client: the pending write resolves `stalled`. */
  kick(): void;
}

/**
 * Write to the client with backpressure. If the client stops reading (buffers full) the write waits
 * for `drain`, but no longer than `stallMs`, nor past an abort, nor past a `kick`.
 */
function writeToClient(
  res: ServerResponse,
  data: Uint8Array | string,
  signal: AbortSignal,
  stallMs: number,
  onBlocked: (blocked: BlockedWrite | undefined) => void,
): Promise<WriteOutcome> {
  if (res.destroyed || res.writableEnded) return Promise.resolve('closed');
  if (signal.aborted) return Promise.resolve('aborted');
  if (res.write(data)) return Promise.resolve('ok');
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (outcome: WriteOutcome) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      onBlocked(undefined);
      resolve(outcome);
    };
    const onDrain = () => done('ok');
    const onClose = () => done('closed');
    const onAbort = () => done('aborted');
    timer = setTimeout(() => done('stalled'), stallMs);
    res.on('drain', onDrain);
    res.on('close', onClose);
    signal.addEventListener('abort', onAbort);
    onBlocked({ kick: () => done('stalled') });
  });
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (b: Buffer) => {
      if (failed) return;
      size += b.length;
      if (size > limit) {
        failed = true;
        reject(new BodyTooLarge(`request body larger than ${limit} bytes`));
        return;
      }
      parts.push(b);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(parts));
    });
    req.on('aborted', () => {
      if (!failed) reject(new Error('client aborted the request'));
      failed = true;
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
      failed = true;
    });
  });
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return `${err.message}: ${code ? `${code} ` : ''}${cause.message}`.trim();
  }
  return err.message;
}

function toolCallsJson(asm: AssembledCompletion): JsonValue | undefined {
  if (asm.toolCalls.length === 0) return undefined;
  return asm.toolCalls.map((tc) => {
    const o: JsonObject = { index: tc.index, type: tc.type, function: { name: tc.function.name, arguments: tc.function.arguments } };
    if (tc.id !== undefined) o.id = tc.id;
    return o;
  });
}


export async function startLlmProxy(options: LlmProxyOptions): Promise<LlmProxy> {
  const upstreamBase = options.upstreamBaseUrl.replace(/\/+$/, '');
  try {
    new URL(upstreamBase);
  } catch {
    throw new Error(`startLlmProxy: upstreamBaseUrl is not a valid URL: ${options.upstreamBaseUrl}`);
  }
  const host = options.host ?? '127.0.0.1';
  const provider = options.provider ?? 'openai';
  const requestTimeoutMs = options.requestTimeoutMs ?? 120_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? requestTimeoutMs;
  const clientStallTimeoutMs = options.clientStallTimeoutMs ?? 5_000;
  const maxRequestBytes = options.maxRequestBytes ?? 32 * 1024 * 1024;
  const maxAssembledChars = options.maxAssembledChars ?? 16 * 1024 * 1024;
  const outsideTurn = options.outsideTurn ?? 'forward';
  const upstreamKey = options.upstreamApiKey && options.upstreamApiKey.length > 0 ? options.upstreamApiKey : undefined;

  const registrations = new Map<string, Registration>();
  const inFlight = new Set<{ abort: (reason: AbortReason) => void; settled: Promise<void> }>();
  let unknownTokenRequests = 0;
  let closing = false;

  /** Remove the upstream key from anything that will be recorded or sent back. */
  const scrub = (text: string): string => (upstreamKey && text.includes(upstreamKey) ? text.split(upstreamKey).join('[upstream-api-key]') : text);

  const audit = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      try {
        options.onAuditError?.(err);
      } catch {
        // a hook must not break the proxy
      }
    }
  };

  const refuseToken = (req: IncomingMessage, res: ServerResponse, reason: UnknownTokenInfo['reason'], token?: string) => {
    unknownTokenRequests++;
    const info: UnknownTokenInfo = {
      reason,
      method: req.method ?? 'GET',
      path: (req.url ?? '/').replace(/^\/s\/[^/?]*/, '/s/<token>').slice(0, 200),
      at: new Date().toISOString(),
    };
    if (token) info.tokenSha256Prefix = createHash('sha256').update(token).digest('hex').slice(0, 16);
    if (req.socket.remoteAddress) info.remoteAddress = req.socket.remoteAddress;
    try {
      options.onUnknownToken?.(info);
    } catch {
      // ignore
    }
    req.resume();
    const message = reason === 'session_ended' ? 'the audit session for this URL has ended' : 'unknown or missing session token';
    sendError(res, 404, message, 'invalid_request_error', reason);
  };

  const upstreamHeaders = (accept: string): Record<string, string> => {
    const h: Record<string, string> = { 'content-type': 'application/json', accept, 'user-agent': 'oi-audit-llm-proxy' };
    if (upstreamKey) h.authorization = `Bearer ${upstreamKey}`;
    return h;
  };

  const handleModels = async (res: ServerResponse) => {
    try {
      const r = await fetch(`${upstreamBase}/models`, {
        headers: upstreamHeaders('application/json'),
        redirect: 'error',
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const text = scrub(await r.text());
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
      res.end(text);
    } catch (err) {
      sendError(res, 502, `upstream unreachable: ${scrub(describeFetchError(err))}`, 'upstream_unreachable');
    }
  };

  const handleChat = async (req: IncomingMessage, res: ServerResponse, reg: Registration) => {
    const { session } = reg;
    // The client moved on to its next LLM call: a stream of this session it left unread is over for it.
    for (const b of [...reg.blocked]) b.kick();
    const onTurnOrRoot = (type: string, message: string) =>
      audit(() => {
        if (!session.isEnded) session.recordError({ source: 'llm', type, message: scrub(message) });
      });

    let raw: Buffer;
    try {
      raw = await readBody(req, maxRequestBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        onTurnOrRoot('request_too_large', err.message);
        sendError(res, 413, err.message, 'invalid_request_error', 'request_too_large');
        req.resume();
      } else {
        res.destroy();
      }
      return;
    }
    const rawText = raw.toString('utf8');
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(rawText);
      if (!isPlainObject(parsed)) throw new Error('the body is not a JSON object');
      body = parsed;
    } catch (err) {
      const message = `malformed LLM request: ${(err as Error).message}`;
      onTurnOrRoot('invalid_request', message);
      sendError(res, 400, message, 'invalid_request_error', 'invalid_json');
      return;
    }
    if (!Array.isArray(body.messages)) {
      const message = 'malformed LLM request: "messages" must be an array';
      onTurnOrRoot('invalid_request', message);
      sendError(res, 400, message, 'invalid_request_error', 'invalid_request');
      return;
    }
    const model = typeof body.model === 'string' && body.model.length > 0 ? body.model : 'unknown';
    const stream = body.stream === true;
    const keyInRequest = upstreamKey !== undefined && rawText.includes(upstreamKey);
    // The record never holds the upstream key, even if the client somehow sent it.
    const recorded = (v: unknown): JsonValue => (keyInRequest ? (JSON.parse(scrub(JSON.stringify(v))) as JsonValue) : (v as JsonValue));
    const request: GenerationRequest = {
      model,
      provider: reg.provider,
      messages: recorded(body.messages),
      stream,
    };
    const tools = body.tools ?? body.functions;
    if (tools !== undefined) request.tools = recorded(tools);

    let gen: GenerationSink | undefined;
    let refused = false;
    try {
      if (keyInRequest) {
        session.recordError({ source: 'llm', type: 'upstream_key_in_request', message: 'the LLM request contained the upstream API key; it was scrubbed from the record' });
      }
      const turn = session.activeTurn;
      if (turn) {
        gen = turn.startGeneration(request);
      } else {
        const call = reg.outsideCalls++;
        refused = outsideTurn === 'refuse';
        session.recordError(
          {
            source: 'llm',
            type: 'llm_call_outside_turn',
            message: refused
              ? 'LLM call received while no turn was active; refused'
              : 'LLM call received while no turn was active; forwarded and recorded on the session root',
          },
          session.rootSpan,
        );
        gen = new AuditGeneration(session, undefined, call, request);
      }
    } catch (err) {
      audit(() => {
        throw err;
      });
      sendError(res, 503, 'the audit trail could not record this LLM call; it was not forwarded', 'audit_unavailable');
      return;
    }
    const g = gen;
    if (refused) {
      audit(() => g.fail('llm_call_refused', 'LLM call outside a turn refused by policy'));
      sendError(res, 409, 'no turn is active for this session; the LLM call was refused', 'invalid_request_error', 'no_active_turn');
      return;
    }

    // --- forward ---
    const controller = new AbortController();
    let abortReason: AbortReason | undefined;
    const abort = (reason: AbortReason) => {
      if (abortReason) return;
      abortReason = reason;
      controller.abort();
    };
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        abort('client');
      }
    });
    res.on('error', () => undefined);

    let settle!: () => void;
    const entry = { abort, settled: new Promise<void>((r) => (settle = r)) };
    inFlight.add(entry);
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number, reason: AbortReason) => {
      clearTimeout(timer);
      timer = setTimeout(() => abort(reason), ms);
    };
    const asm = new ChatCompletionAssembler({ maxContentChars: maxAssembledChars });
    const partial = (status?: number): Partial<GenerationResult> => {
      const r = asm.result();
      const out: Partial<GenerationResult> = { content: scrub(r.content), chunks: r.chunks };
      const tc = toolCallsJson(r);
      if (tc !== undefined) out.toolCalls = JSON.parse(scrub(JSON.stringify(tc))) as JsonValue;
      if (r.finishReasons.length) out.finishReasons = r.finishReasons;
      if (r.responseModel) out.responseModel = r.responseModel;
      if (r.responseId) out.responseId = r.responseId;
      if (r.inputTokens !== undefined) out.inputTokens = r.inputTokens;
      if (r.outputTokens !== undefined) out.outputTokens = r.outputTokens;
      if (status !== undefined) out.upstreamStatus = status;
      return out;
    };
    const endClientDisconnected = (status?: number) =>
      audit(() => g.end({ content: '', ...partial(status), clientDisconnected: true }));
    const failWith = (type: string, message: string, status?: number) => audit(() => g.fail(type, scrub(message), partial(status)));
    const shutdownOr = (type: string, message: string, status?: number) =>
      abortReason === 'shutdown' ? failWith('proxy_shutdown', 'the LLM proxy shut down during the call', status) : failWith(type, message, status);

    try {
      arm(requestTimeoutMs, 'headers_timeout');
      let upstream: Response;
      try {
        upstream = await fetch(`${upstreamBase}/chat/completions`, {
          method: 'POST',
          headers: upstreamHeaders(stream ? 'text/event-stream' : 'application/json'),
          body: raw,
          redirect: 'error',
          signal: controller.signal,
        });
      } catch (err) {
        if (abortReason === 'client') {
          endClientDisconnected();
        } else if (abortReason === 'headers_timeout') {
          failWith('upstream_timeout', `no response from upstream within ${requestTimeoutMs} ms`);
          sendError(res, 504, `upstream did not respond within ${requestTimeoutMs} ms`, 'upstream_timeout');
        } else if (abortReason === 'shutdown') {
          failWith('proxy_shutdown', 'the LLM proxy shut down during the call');
          sendError(res, 503, 'the LLM proxy is shutting down', 'proxy_shutdown');
        } else {
          const message = `upstream unreachable: ${describeFetchError(err)}`;
          failWith('upstream_unreachable', message);
          sendError(res, 502, scrub(message), 'upstream_unreachable');
        }
        return;
      }
      const status = upstream.status;

      if (status < 200 || status > 299) {
        clearTimeout(timer);
        let text = '';
        try {
          text = scrub(await upstream.text());
        } catch {
          // body lost; the status still tells the story
        }
        if (text.length > 1024 * 1024) text = text.slice(0, 1024 * 1024);
        let detail = text.slice(0, 500);
        try {
          const j: unknown = JSON.parse(text);
          if (isPlainObject(j) && isPlainObject(j.error) && typeof j.error.message === 'string') detail = j.error.message.slice(0, 500);
        } catch {
          // not JSON
        }
        failWith(`upstream_${status}`, `upstream returned HTTP ${status}${detail ? `: ${detail}` : ''}`, status);
        if (!clientGone && !res.destroyed) {
          res.writeHead(status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
          res.end(text);
        }
        return;
      }

      const contentType = upstream.headers.get('content-type') ?? (stream ? 'text/event-stream' : 'application/json');
      const isSse = contentType.includes('text/event-stream');
      res.writeHead(status, {
        'content-type': contentType,
        'cache-control': 'no-cache',
        ...(isSse ? { 'x-accel-buffering': 'no' } : {}),
      });
      res.flushHeaders();

      const parser = new SseParser({ maxEventBytes: Math.max(1024 * 1024, maxAssembledChars) });
      const decoder = new TextDecoder();
      const whole: Buffer[] = [];
      let wholeBytes = 0;
      let wholeOverflow = false;
      let firstSeen = false;
      const onEvents = (events: ReturnType<SseParser['feed']>) => {
        for (const ev of events) {
          const parsed = asm.acceptEventData(ev.data);
          if (parsed !== undefined && parsed !== 'done' && !firstSeen) {
            firstSeen = true;
            audit(() => g.firstChunk());
          }
        }
      };
      const reader = upstream.body?.getReader();
      let streamErr: unknown;
      let stalled = false;
      let blockedNow: BlockedWrite | undefined;
      const onBlocked = (b: BlockedWrite | undefined) => {
        if (blockedNow) reg.blocked.delete(blockedNow);
        blockedNow = b;
        if (b) reg.blocked.add(b);
      };
      if (reader) {
        try {
          for (;;) {
            arm(idleTimeoutMs, 'idle_timeout');
            const { value, done } = await reader.read();
            clearTimeout(timer); // waiting on the client below is not the upstream's silence
            if (done) break;
            if (!isSse && !firstSeen) {
              firstSeen = true;
              audit(() => g.firstChunk());
            }
            // Pass it on first, then assemble what was passed on while it travels: parsing a large
            // read (hundreds of events) never delays the bytes, and the assembly is in memory either
            // way until the call is recorded at its end, so the order changes nothing in the record.
            const writing = writeToClient(res, value, controller.signal, clientStallTimeoutMs, onBlocked);
            if (isSse) {
              onEvents(parser.feed(decoder.decode(value, { stream: true })));
            } else if (!wholeOverflow) {
              wholeBytes += value.length;
              if (wholeBytes > maxAssembledChars * 4) wholeOverflow = true;
              else whole.push(Buffer.from(value));
            }
            const outcome = await writing;
            if (outcome === 'aborted') break;
            if (outcome !== 'ok') {
              clientGone = true;
              stalled = outcome === 'stalled';
              abort('client');
              break;
            }
          }
        } catch (err) {
          streamErr = err;
        } finally {
          clearTimeout(timer);
          onBlocked(undefined);
          if (clientGone || streamErr || abortReason) reader.cancel().catch(() => undefined);
        }
      }
      clearTimeout(timer);

      if (clientGone || abortReason === 'client') {
        endClientDisconnected(status);
        // A client that stopped reading gets no more: its connection is closed.
        if (stalled) res.destroy();
        return;
      }
      if (abortReason === 'shutdown') {
        failWith('proxy_shutdown', 'the LLM proxy shut down during the call', status);
        res.destroy();
        return;
      }
      if (isSse) onEvents([...parser.feed(decoder.decode()), ...parser.end()]);
      else if (!wholeOverflow && whole.length > 0) {
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(whole).toString('utf8'));
          if (isPlainObject(parsed)) asm.acceptCompletion(parsed);
        } catch {
          // recorded below as an incomplete response
        }
      }
      const r = asm.result();
      const malformed: string[] = [];
      if (r.malformedEvents > 0) malformed.push(`${r.malformedEvents} SSE data event(s) were not JSON`);
      if (parser.overflowed) malformed.push('an SSE event exceeded the parser limit; the rest of the stream was not assembled');
      const note = (type: string, message: string) =>
        audit(() => {
          if (!session.isEnded) session.recordError({ source: 'llm', type, message }, g.span);
        });
      if (malformed.length > 0) note('upstream_malformed_sse', malformed.join('; '));
      if (r.truncated) {
        note('llm_response_truncated', `the response was longer than ${maxAssembledChars} characters; the record holds the first ${maxAssembledChars} and its hash covers only those`);
      }

      if (streamErr !== undefined) {
        const type = abortReason === 'idle_timeout' ? 'upstream_timeout' : 'upstream_stream_cut';
        const message =
          abortReason === 'idle_timeout'
            ? `upstream sent nothing for ${idleTimeoutMs} ms mid-response`
            : `upstream stream cut after ${r.chunks} chunk(s): ${describeFetchError(streamErr)}`;
        shutdownOr(type, message, status);
        // end(), not an awaited write: a client that stopped reading must not hold this handler.
        res.end(isSse ? encodeSseData(JSON.parse(errorJson(scrub(message), type, type))) : undefined);
        return;
      }
      if (r.streamError) {
        failWith('upstream_stream_error', `upstream reported an error inside the stream: ${r.streamError.message}`, status);
        res.end();
        return;
      }
      const complete = isSse ? r.done || r.finishReasons.length > 0 : whole.length > 0 && r.done;
      if (!complete) {
        const message = isSse ? 'upstream stream ended before [DONE] or a finish_reason' : 'upstream response was not a chat completion';
        failWith(isSse ? 'upstream_stream_cut' : 'upstream_invalid_response', message, status);
        res.end(isSse ? encodeSseData(JSON.parse(errorJson(message, 'upstream_stream_cut', 'upstream_stream_cut'))) : undefined);
        return;
      }
      audit(() => g.end({ content: '', ...partial(status) }));
      res.end();
    } finally {
      clearTimeout(timer);
      inFlight.delete(entry);
      settle();
    }
  };

  const server: Server = createServer((req, res) => {
    res.on('error', () => undefined);
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    if (req.method === 'GET' && (path === '/healthz' || path === '/health')) {
      const body = JSON.stringify({ status: 'ok' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const m = /^\/s\/([^/]*)(\/.*)?$/.exec(path);
    if (!m) {
      refuseToken(req, res, 'missing_token');
      return;
    }
    const token = m[1]!;
    const reg = TOKEN_RE.test(token) ? registrations.get(token) : undefined;
    if (!reg) {
      refuseToken(req, res, 'unknown_token', token);
      return;
    }
    if (reg.session.isEnded) {
      registrations.delete(token);
      refuseToken(req, res, 'session_ended', token);
      return;
    }
    if (closing) {
      req.resume();
      sendError(res, 503, 'the LLM proxy is shutting down', 'proxy_shutdown');
      return;
    }
    const rest = (m[2] ?? '/').replace(/\/+$/, '');
    const route = rest.startsWith('/v1/') ? rest.slice(3) : rest;
    if (route === '/chat/completions') {
      if (req.method !== 'POST') {
        req.resume();
        sendError(res, 405, 'use POST for chat completions', 'invalid_request_error', 'method_not_allowed');
        return;
      }
      handleChat(req, res, reg).catch((err: unknown) => {
        audit(() => {
          throw err;
        });
        sendError(res, 500, 'internal error in the LLM proxy', 'proxy_error');
      });
      return;
    }
    if (route === '/models' && req.method === 'GET') {
      void handleModels(res);
      return;
    }
    req.resume();
    sendError(res, 404, `no route ${req.method} ${route || '/'}`, 'invalid_request_error', 'not_found');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `http://${hostPart}:${port}`;
  let closed: Promise<void> | undefined;

  return {
    url,
    port,
    get unknownTokenRequests() {
      return unknownTokenRequests;
    },
    get activeRequests() {
      return inFlight.size;
    },
    register(session: AuditSession, opts: RegisterOptions = {}): ProxyRegistration {
      if (session.isEnded) throw new Error(`cannot register ended audit session ${session.id} with the LLM proxy`);
      const token = randomBytes(32).toString('hex');
      registrations.set(token, { session, provider: opts.provider ?? provider, outsideCalls: 0, blocked: new Set() });
      return {
        token,
        baseUrl: `${url}/s/${token}/v1`,
        unregister: () => {
          registrations.delete(token);
        },
      };
    },
    close(): Promise<void> {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        const pending = [...inFlight];
        for (const f of pending) f.abort('shutdown');
        await Promise.all(pending.map((f) => f.settled));
        server.closeAllConnections();
        await stopped;
        registrations.clear();
      })();
      return closed;
    },
  };
}
