/**
 * A wire format the proxy speaks: how to read a request of it, where and with which auth header to
 * forward it, how to rebuild the response for the record, and how to tell the client about an error in
 * the client's own format. One module per provider API implements this (openai-chat, anthropic-messages,
 * ollama, openai-responses); the exchange (exchange.ts) is the same for all.
 */
import type { JsonValue } from '../record/canonical-json.js';
import { isObject, type AssembledCompletion, type Json, type ResponseAssembler } from './assembly.js';
import type { SseEvent } from './sse.js';

/** What the record needs of a request, read from its body. */
export interface RequestFacts {
  model: string;
  stream: boolean;
  /** The conversation sent to the model (messages, or the format's input), recorded as is. */
  messages: JsonValue;
  tools?: JsonValue;
}

/** The parts of the client's request URL a format routes by. */
export interface RouteInfo {
  /** Path after the proxy's origin, without the query. */
  path: string;
  /** Query string including `?`, or ''. */
  query: string;
  /** Path parameters the route matched (e.g. the Azure deployment). */
  params: Record<string, string>;
}

/** A request body rewritten for upstream, with what the client must not see because of the rewrite. */
export interface UpstreamBody {
  raw: Buffer;
  /** Drop this event from what the client gets (it exists only because of the rewrite). */
  hideEvent?: (event: SseEvent, parsed: Json | undefined) => boolean;
}

export interface WireFormat {
  /** Stable id, e.g. `openai-chat`. */
  readonly id: string;
  /** `gen_ai.provider.name` recorded unless the proxy or registration overrides it. */
  readonly provider: string;
  /** How a streamed body is framed. */
  readonly framing: 'sse' | 'ndjson';
  /** The facts to record, or a message saying why the body is not a request of this format. */
  readRequest(body: Json, route: RouteInfo): RequestFacts | string;
  /** The body sent upstream. Default: the client's bytes unchanged. */
  upstreamBody?(body: Json, raw: Buffer, facts: RequestFacts, route: RouteInfo): UpstreamBody;
  /** Upstream URL for this request, from the configured base (trailing slashes removed). */
  upstreamUrl(base: string, route: RouteInfo): string;
  /** The upstream key in this provider's own auth header (plus any header the provider requires). */
  authHeaders(upstreamKey: string | undefined): Record<string, string>;
  /** Client request headers passed on upstream unchanged (lower case), e.g. `anthropic-version`. */
  readonly forwardHeaders: readonly string[];
  newAssembler(maxChars: number): ResponseAssembler;
  /** Whether a response that ended normally was complete (its end marker or a finish reason seen). */
  isComplete(r: AssembledCompletion, streamed: boolean): boolean;
  /** A JSON error body in this format (for HTTP errors the proxy itself answers). */
  errorBody(message: string, type: string, code: string | null): string;
  /** An error event in this format's stream (sent when the upstream stream breaks). */
  streamErrorEvent(message: string, type: string): string;
  /** The provider's error message inside an upstream error body, if it has one. */
  errorDetail(body: unknown): string | undefined;
}

export function modelOf(body: Json): string {
  return typeof body.model === 'string' && body.model.length > 0 ? body.model : 'unknown';
}

/** Upstream base with a trailing `/v1` removed (for providers whose paths carry their own version). */
export function rootOf(base: string): string {
  return base.replace(/\/v1$/, '');
}

/** `Authorization: Bearer <key>` (OpenAI, the Responses API, hosted Ollama); no header without a key. */
export function bearerAuth(upstreamKey: string | undefined): Record<string, string> {
  return upstreamKey ? { authorization: `Bearer ${upstreamKey}` } : {};
}

/** An OpenAI-style error body (Chat Completions and Responses alike). */
export function openAiErrorBody(message: string, type: string, code: string | null): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

/** `error.message` of an error body, where OpenAI and Anthropic both put it. */
export function errorMessageOf(body: unknown): string | undefined {
  return isObject(body) && isObject(body.error) && typeof body.error.message === 'string' ? body.error.message : undefined;
}
