/**
 * One LLM exchange through the proxy, the same for every wire format: read the request, decide whether
 * it may go out at all, forward it to the upstream with the upstream key in the provider's own auth
 * header, record it (its generation in the active turn, or on the session root when none is active),
 * pass the response through chunk by chunk while the format's assembler rebuilds it, and end the
 * generation with what arrived. The failure rules are the proxy's (see proxy.ts); the format decides
 * only the shapes.
 *
 * Recording order (`recordRequest`): by default (`before-forward`) the request record is sealed first and
 * the request forwarded only then, so the upstream never sees a request the trail does not hold (one
 * redaction + seal longer to the first token). `while-forwarding` (opt-in) seals it while the request
 * travels (the dispatch is synchronous, the seal right after it, before anything of the answer is read):
 * nothing of the answer, not even its status, reaches the client before the seal, and when it cannot be
 * sealed the upstream call is cancelled and the client gets 503, but the provider may have seen it.
 * Calls refused by policy (outside a turn with `outsideTurn: 'refuse'`) are never forwarded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Span } from '@opentelemetry/api';
import { AuditGeneration, type GenerationRequest, type GenerationResult } from '../audit/generation.js';
import type { AuditSession } from '../audit/session.js';
import type { JsonObject, JsonValue } from '../record/canonical-json.js';
import { isObject, type AssembledCompletion, type Json, type ResponseAssembler } from './assembly.js';
import { BodyTooLarge, readBody, sendJsonError, type BlockedWrite } from './client-io.js';
import type { RequestFacts, RouteInfo, UpstreamBody, WireFormat } from './format.js';
import { StreamPump, type Framing, type PumpDeps, type PumpOutcome } from './stream-pump.js';
import { describeUpstreamError, readText, type UpstreamClient, type UpstreamResponse } from './upstream-client.js';

/** `audit`: the request record could not be sealed after the request went out (see the module comment). */
export type AbortReason = 'client' | 'headers_timeout' | 'idle_timeout' | 'shutdown' | 'audit';

/** When the request record is sealed: before the request is sent (default) or while it travels (opt-in). */
export type RecordRequestOrder = 'while-forwarding' | 'before-forward';

/** A registered session as the exchange needs it. */
export interface SessionRoute {
  session: AuditSession;
  /** `gen_ai.provider.name` override for this session; else the proxy's, else the format's. */
  provider?: string;
  outsideCalls: number;
  /** Streams of this session currently waiting for the client to read. */
  blocked: Set<BlockedWrite>;
}

/** What the proxy gives every exchange. */
export interface ExchangeContext {
  upstreamBase: string;
  upstreamKey: string | undefined;
  upstream: UpstreamClient;
  recordRequest: RecordRequestOrder;
  provider: string | undefined;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  clientStallTimeoutMs: number;
  maxRequestBytes: number;
  maxAssembledChars: number;
  outsideTurn: 'forward' | 'refuse';
  /** Remove the upstream key from anything recorded or sent back. */
  scrub: (text: string) => string;
  /** Run a recording step; a throw is reported, never breaks the proxy. */
  audit(fn: () => void): void;
  /** Track an in-flight exchange (for shutdown); returns its untrack. */
  track(entry: { abort: (reason: AbortReason) => void; settled: Promise<void> }): () => void;
}

/** What the exchange needs of a generation: AuditGeneration, or the root-span stand-in for calls outside a turn. */
interface GenerationSink {
  readonly span: Span;
  firstChunk(): void;
  end(result: GenerationResult): void;
  fail(type: string, message: string, partial?: Partial<GenerationResult>): void;
}

function toolCallsJson(asm: AssembledCompletion): JsonValue | undefined {
  if (asm.toolCalls.length === 0) return undefined;
  return asm.toolCalls.map((tc) => {
    const o: JsonObject = { index: tc.index, type: tc.type, function: { name: tc.function.name, arguments: tc.function.arguments } };
    if (tc.id !== undefined) o.id = tc.id;
    return o;
  });
}


/** A request read and judged, its record not yet made. */
interface Prepared {
  request: GenerationRequest;
  keyInRequest: boolean;
  /** Outside a turn with `outsideTurn: 'refuse'`: recorded, answered 409, never forwarded. */
  refused: boolean;
}

type Forwarded = { response: UpstreamResponse } | { error: unknown };

export class Exchange {
  private readonly session: AuditSession;
  private readonly controller = new AbortController();
  private abortReason: AbortReason | undefined;
  private clientGone = false;
  private timer: NodeJS.Timeout | undefined;
  private timerReason: AbortReason = 'headers_timeout';
  private timerMs = 0;
  private gen!: GenerationSink;
  private recorded = false;
  private asm!: ResponseAssembler;
  private status: number | undefined;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly format: WireFormat,
    private readonly route: RouteInfo,
    private readonly reg: SessionRoute,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.session = reg.session;
  }

  async run(): Promise<void> {
    // The client moved on to its next LLM call: a stream of this session it left unread is over for it.
    for (const b of [...this.reg.blocked]) b.kick();
    const read = await this.readRequest();
    if (!read) return;
    const prep = this.prepare(read.facts, read.rawText);
    if (prep.refused || this.ctx.recordRequest === 'before-forward') {
      if (!this.record(prep)) {
        this.sendError(503, 'the audit trail could not record this LLM call; it was not forwarded', 'audit_unavailable');
        return;
      }
      if (prep.refused) {
        this.ctx.audit(() => this.gen.fail('llm_call_refused', 'LLM call outside a turn refused by policy'));
        this.sendError(409, 'no turn is active for this session; the LLM call was refused', 'invalid_request_error', 'no_active_turn');
        return;
      }
    }
    this.asm = this.format.newAssembler(this.ctx.maxAssembledChars);
    let settle!: () => void;
    const untrack = this.ctx.track({ abort: (r) => this.abort(r), settled: new Promise<void>((r) => (settle = r)) });
    this.res.on('close', () => {
      if (!this.res.writableFinished) {
        this.clientGone = true;
        this.abort('client');
      }
    });
    try {
      const upstreamBody = this.format.upstreamBody?.(read.body, read.raw, read.facts, this.route) ?? { raw: read.raw };
      const sent = this.forward(upstreamBody.raw, read.facts.stream);
      if (!this.recorded) {
        // undici writes a request on a reused keep-alive socket from an Immediate (it first lets the loop
        // see a FIN or stray bytes on the idle socket); ours, queued after it, runs once the request is on
        // the wire. Sealing the record then overlaps with the upstream's work, and nothing of the answer
        // is read before the seal.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (!this.recorded && !this.record(prep)) {
        this.abort('audit');
        await sent;
        this.sendError(503, 'the audit trail could not record this LLM call; the upstream call was cancelled and nothing of its answer was passed on', 'audit_unavailable');
        return;
      }
      const forwarded = await sent;
      if ('error' in forwarded) {
        this.forwardFailed(forwarded.error);
        return;
      }
      const upstream = forwarded.response;
      this.status = upstream.status;
      if (upstream.status < 200 || upstream.status > 299) await this.relayError(upstream);
      else await this.relay(upstream, read.facts.stream, upstreamBody);
    } finally {
      clearTimeout(this.timer);
      untrack();
      settle();
    }
  }

  private abort(reason: AbortReason): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller.abort();
  }

  /** Start (or restart) the one timer of this exchange; restarting it for the same reason is a refresh, not a new timer. */
  private arm(ms: number, reason: AbortReason): void {
    if (this.timer && this.timerReason === reason && this.timerMs === ms) {
      this.timer.refresh();
      return;
    }
    clearTimeout(this.timer);
    this.timerReason = reason;
    this.timerMs = ms;
    this.timer = setTimeout(() => this.abort(this.timerReason), ms);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private sendError(status: number, message: string, type: string, code: string | null = type): void {
    sendJsonError(this.res, status, this.format.errorBody(message, type, code));
  }

  private recordSessionError(type: string, message: string): void {
    this.ctx.audit(() => {
      if (!this.session.isEnded) this.session.recordError({ source: 'llm', type, message: this.ctx.scrub(message) });
    });
  }

  private async readRequest(): Promise<{ raw: Buffer; rawText: string; body: Json; facts: RequestFacts } | undefined> {
    let raw: Buffer;
    try {
      raw = await readBody(this.req, this.ctx.maxRequestBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        this.recordSessionError('request_too_large', err.message);
        this.sendError(413, err.message, 'invalid_request_error', 'request_too_large');
        this.req.resume();
      } else {
        this.res.destroy();
      }
      return undefined;
    }
    const rawText = raw.toString('utf8');
    let body: Json;
    try {
      const parsed: unknown = JSON.parse(rawText);
      if (!isObject(parsed)) throw new Error('the body is not a JSON object');
      body = parsed;
    } catch (err) {
      const message = `malformed LLM request: ${(err as Error).message}`;
      this.recordSessionError('invalid_request', message);
      this.sendError(400, message, 'invalid_request_error', 'invalid_json');
      return undefined;
    }
    const facts = this.format.readRequest(body, this.route);
    if (typeof facts === 'string') {
      const message = `malformed LLM request: ${facts}`;
      this.recordSessionError('invalid_request', message);
      this.sendError(400, message, 'invalid_request_error', 'invalid_request');
      return undefined;
    }
    return { raw, rawText, body, facts };
  }

  /** What the record will hold, and whether policy refuses the call; records nothing yet. */
  private prepare(facts: RequestFacts, rawText: string): Prepared {
    const { ctx } = this;
    const key = ctx.upstreamKey;
    const keyInRequest = key !== undefined && rawText.includes(key);
    // The record never holds the upstream key, even if the client somehow sent it.
    const recorded = (v: JsonValue): JsonValue => (keyInRequest ? (JSON.parse(ctx.scrub(JSON.stringify(v))) as JsonValue) : v);
    const request: GenerationRequest = {
      model: keyInRequest ? ctx.scrub(facts.model) : facts.model,
      provider: this.reg.provider ?? ctx.provider ?? this.format.provider,
      messages: recorded(facts.messages),
      stream: facts.stream,
    };
    if (facts.tools !== undefined) request.tools = recorded(facts.tools);
    return { request, keyInRequest, refused: !this.session.activeTurn && ctx.outsideTurn === 'refuse' };
  }

  /** Seal the request record (the generation); false when it could not be recorded (reported through onAuditError). */
  private record(prep: Prepared): boolean {
    const { session, ctx } = this;
    try {
      if (prep.keyInRequest) {
        session.recordError({ source: 'llm', type: 'upstream_key_in_request', message: 'the LLM request contained the upstream API key; it was scrubbed from the record' });
      }
      const turn = session.activeTurn;
      if (turn) {
        this.gen = turn.startGeneration(prep.request);
      } else {
        session.recordError(
          {
            source: 'llm',
            type: 'llm_call_outside_turn',
            message: prep.refused
              ? 'LLM call received while no turn was active; refused'
              : 'LLM call received while no turn was active; forwarded and recorded on the session root',
          },
          session.rootSpan,
        );
        this.gen = new AuditGeneration(session, undefined, this.reg.outsideCalls++, prep.request);
      }
    } catch (err) {
      ctx.audit(() => {
        throw err;
      });
      return false;
    }
    this.recorded = true;
    return true;
  }

  // --- recording the outcome ---

  private partial(): Partial<GenerationResult> {
    const { scrub } = this.ctx;
    const r = this.asm.result();
    const out: Partial<GenerationResult> = { content: scrub(r.content), chunks: r.chunks };
    const tc = toolCallsJson(r);
    if (tc !== undefined) out.toolCalls = JSON.parse(scrub(JSON.stringify(tc))) as JsonValue;
    if (r.finishReasons.length) out.finishReasons = r.finishReasons;
    if (r.responseModel) out.responseModel = r.responseModel;
    if (r.responseId) out.responseId = r.responseId;
    if (r.inputTokens !== undefined) out.inputTokens = r.inputTokens;
    if (r.outputTokens !== undefined) out.outputTokens = r.outputTokens;
    if (this.status !== undefined) out.upstreamStatus = this.status;
    return out;
  }

  private endClientDisconnected(): void {
    this.ctx.audit(() => this.gen.end({ content: '', ...this.partial(), clientDisconnected: true }));
  }

  private failWith(type: string, message: string): void {
    this.ctx.audit(() => this.gen.fail(type, this.ctx.scrub(message), this.partial()));
  }

  private note(type: string, message: string): void {
    this.ctx.audit(() => {
      if (!this.session.isEnded) this.session.recordError({ source: 'llm', type, message }, this.gen.span);
    });
  }

  // --- forwarding ---

  /** Send the request; the dispatch happens before this returns its promise, which never rejects. */
  private async forward(raw: Buffer, stream: boolean): Promise<Forwarded> {
    const { ctx, format } = this;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: stream ? (format.framing === 'ndjson' ? 'application/x-ndjson' : 'text/event-stream') : 'application/json',
      'user-agent': 'oi-audit-llm-proxy',
    };
    Object.assign(headers, format.authHeaders(ctx.upstreamKey));
    // After the auth headers, so a client's own `anthropic-version` wins over the default.
    for (const name of format.forwardHeaders) {
      const v = this.req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    this.arm(ctx.requestTimeoutMs, 'headers_timeout');
    try {
      const response = await ctx.upstream.request(format.upstreamUrl(ctx.upstreamBase, this.route), {
        method: 'POST',
        headers,
        body: raw,
        signal: this.controller.signal,
      });
      return { response };
    } catch (error) {
      return { error };
    }
  }

  /** No response from upstream: why (our abort, or the connection), recorded and answered. */
  private forwardFailed(err: unknown): void {
    const { ctx } = this;
    if (this.abortReason === 'client') {
      this.endClientDisconnected();
    } else if (this.abortReason === 'headers_timeout') {
      this.failWith('upstream_timeout', `no response from upstream within ${ctx.requestTimeoutMs} ms`);
      this.sendError(504, `upstream did not respond within ${ctx.requestTimeoutMs} ms`, 'upstream_timeout');
    } else if (this.abortReason === 'shutdown') {
      this.failWith('proxy_shutdown', 'the LLM proxy shut down during the call');
      this.sendError(503, 'the LLM proxy is shutting down', 'proxy_shutdown');
    } else {
      const message = `upstream unreachable: ${describeUpstreamError(err)}`;
      this.failWith('upstream_unreachable', message);
      this.sendError(502, ctx.scrub(message), 'upstream_unreachable');
    }
  }

  /** A non-2xx answer: recorded as `upstream_<status>` with the provider's message, passed on unchanged (minus the key). */
  private async relayError(upstream: UpstreamResponse): Promise<void> {
    const max = 1024 * 1024;
    // An error body that never ends is cut by the idle timeout and the size limit, not waited for.
    this.arm(this.ctx.idleTimeoutMs, 'idle_timeout');
    let text = '';
    try {
      // A little past the limit, so a key straddling the cut is still scrubbed whole.
      text = this.ctx.scrub(await readText(upstream.body, max + (this.ctx.upstreamKey?.length ?? 0)));
    } catch {
      // body lost; the status still tells the story
    }
    this.disarm();
    if (text.length > max) text = text.slice(0, max);
    let detail = text.slice(0, 500);
    try {
      detail = this.format.errorDetail(JSON.parse(text))?.slice(0, 500) ?? detail;
    } catch {
      // not JSON
    }
    const status = upstream.status;
    this.failWith(`upstream_${status}`, `upstream returned HTTP ${status}${detail ? `: ${detail}` : ''}`);
    if (!this.clientGone && !this.res.destroyed) {
      this.res.writeHead(status, { 'content-type': upstream.header('content-type') ?? 'application/json' });
      this.res.end(text);
    }
  }

  private framingOf(contentType: string, stream: boolean): Framing {
    if (contentType.includes('text/event-stream')) return 'sse';
    if (this.format.framing === 'ndjson' && (contentType.includes('ndjson') || stream)) return 'ndjson';
    return 'whole';
  }

  private async relay(upstream: UpstreamResponse, stream: boolean, upstreamBody: UpstreamBody): Promise<void> {
    const { res } = this;
    const contentType = upstream.header('content-type') ?? (stream ? 'text/event-stream' : 'application/json');
    const framing = this.framingOf(contentType, stream);
    res.writeHead(upstream.status, {
      'content-type': contentType,
      'cache-control': 'no-cache',
      ...(framing === 'sse' ? { 'x-accel-buffering': 'no' } : {}),
    });
    res.flushHeaders();
    const pump = new StreamPump(this.pumpDeps, framing, framing === 'sse' ? upstreamBody.hideEvent : undefined);
    const outcome = await pump.run(upstream.body);
    this.conclude(outcome, framing, pump);
  }

  /** Decide how the generation ends once the upstream body is over (or broken). */
  private conclude(o: PumpOutcome, framing: Framing, pump: StreamPump): void {
    const { res, ctx } = this;
    if (this.clientGone || this.abortReason === 'client') {
      this.endClientDisconnected();
      // A client that stopped reading gets no more: its connection is closed.
      if (o.stalled) res.destroy();
      return;
    }
    if (this.abortReason === 'shutdown') {
      this.failWith('proxy_shutdown', 'the LLM proxy shut down during the call');
      res.destroy();
      return;
    }
    const tail = pump.finish();
    const r = this.asm.result();
    const malformed: string[] = [];
    if (r.malformedEvents > 0) malformed.push(`${r.malformedEvents} ${framing === 'ndjson' ? 'NDJSON line(s)' : 'SSE data event(s)'} were not JSON`);
    if (pump.overflowed) malformed.push(`an ${framing === 'ndjson' ? 'NDJSON line' : 'SSE event'} exceeded the parser limit; the rest of the stream was not assembled`);
    if (malformed.length > 0) this.note(framing === 'ndjson' ? 'upstream_malformed_ndjson' : 'upstream_malformed_sse', malformed.join('; '));
    if (r.truncated) {
      this.note('llm_response_truncated', `the response was longer than ${ctx.maxAssembledChars} characters; the record holds the first ${ctx.maxAssembledChars} and its hash covers only those`);
    }
    const streamed = framing !== 'whole';
    if (o.streamErr !== undefined) {
      const idle = this.abortReason === 'idle_timeout';
      const type = idle ? 'upstream_timeout' : 'upstream_stream_cut';
      const message = idle
        ? `upstream sent nothing for ${ctx.idleTimeoutMs} ms mid-response`
        : `upstream stream cut after ${r.chunks} chunk(s): ${describeUpstreamError(o.streamErr)}`;
      this.failWith(type, message);
      // end(), not an awaited write: a client that stopped reading must not hold this handler.
      res.end(streamed ? tail + this.format.streamErrorEvent(ctx.scrub(message), type) : undefined);
      return;
    }
    if (r.streamError) {
      this.failWith('upstream_stream_error', `upstream reported an error inside the stream: ${r.streamError.message}`);
      res.end(tail);
      return;
    }
    if (!this.format.isComplete(r, streamed) || (!streamed && !pump.sawBody)) {
      const message = streamed ? 'upstream stream ended before its end marker or a finish reason' : 'upstream response was not a complete response of this API';
      this.failWith(streamed ? 'upstream_stream_cut' : 'upstream_invalid_response', message);
      res.end(streamed ? tail + this.format.streamErrorEvent(message, 'upstream_stream_cut') : tail);
      return;
    }
    this.ctx.audit(() => this.gen.end({ content: '', ...this.partial() }));
    res.end(tail);
  }

  // --- what StreamPump needs ---

  /** What the pump may see and do of this exchange. */
  private get pumpDeps(): PumpDeps {
    const { ctx } = this;
    return {
      res: this.res,
      signal: this.controller.signal,
      blocked: this.reg.blocked,
      asm: this.asm,
      idleTimeoutMs: ctx.idleTimeoutMs,
      clientStallTimeoutMs: ctx.clientStallTimeoutMs,
      maxAssembledChars: ctx.maxAssembledChars,
      firstChunk: () => ctx.audit(() => this.gen.firstChunk()),
      armIdle: () => this.arm(ctx.idleTimeoutMs, 'idle_timeout'),
      disarm: () => this.disarm(),
      aborted: () => this.abortReason !== undefined,
      clientLeft: () => {
        this.clientGone = true;
        this.abort('client');
      },
      clientGone: () => this.clientGone,
    };
  }

}
