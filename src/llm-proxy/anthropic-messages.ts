/**
 * Anthropic Messages (`POST /v1/messages`, `x-api-key` and `anthropic-version` headers). Written from
 * Anthropic's API reference for Messages and its streaming events (anthropic-version 2023-06-01):
 * `message_start` (id, model, usage.input_tokens), `content_block_start` (text or `tool_use` with id and
 * name), `content_block_delta` (`text_delta`, `input_json_delta` with `partial_json`),
 * `content_block_stop`, `message_delta` (stop_reason, usage.output_tokens), `message_stop`, `ping`,
 * `error`. Tool calls are the `tool_use` blocks, indexed by block index, their input JSON as arguments.
 */
import { isObject, num, str, type EventOutcome, type Json } from './assembly.js';
import { errorMessageOf, modelOf, rootOf, type RequestFacts, type WireFormat } from './format.js';
import { JsonEventAssembler } from './json-event-assembler.js';
import { encodeSseEvent } from './sse.js';
import type { JsonValue } from '../record/canonical-json.js';

export const ANTHROPIC_VERSION = '2023-06-01';

export class AnthropicAssembler extends JsonEventAssembler {
  protected acceptObject(ev: Json, type: string): EventOutcome {
    if (type === 'ping') return 'ignored';
    this.a.chunks++;
    const index = num(ev.index) ?? 0;
    switch (type) {
      case 'message_start':
        if (isObject(ev.message)) this.message(ev.message);
        break;
      case 'content_block_start':
        this.block(index, ev.content_block, false);
        break;
      case 'content_block_delta':
        if (!isObject(ev.delta)) break;
        if (ev.delta.type === 'text_delta') this.a.appendText(str(ev.delta.text) ?? '');
        else if (ev.delta.type === 'input_json_delta') this.a.appendArguments(index, str(ev.delta.partial_json) ?? '');
        break;
      case 'message_delta':
        if (isObject(ev.delta) && str(ev.delta.stop_reason)) this.a.setFinish(0, str(ev.delta.stop_reason)!);
        if (isObject(ev.usage)) this.a.usage(ev.usage.input_tokens, ev.usage.output_tokens);
        break;
      case 'message_stop':
        this.a.done = true;
        return 'done';
      case 'error':
        this.a.setError(isObject(ev.error) ? ev.error : 'error inside the stream');
        break;
      default:
        break;
    }
    return 'chunk';
  }

  acceptWhole(body: Json): void {
    if (body.type === 'error' || (isObject(body.error) && !Array.isArray(body.content))) {
      this.a.setError(isObject(body.error) ? body.error : 'error');
      return;
    }
    this.message(body);
    const content = Array.isArray(body.content) ? body.content : [];
    content.forEach((blk, i) => this.block(i, blk, true));
    if (str(body.stop_reason)) this.a.setFinish(0, str(body.stop_reason)!);
    this.a.done = true;
  }

  private message(m: Json): void {
    this.a.meta(m.id, m.model);
    if (isObject(m.usage)) this.a.usage(m.usage.input_tokens, m.usage.output_tokens);
  }

  /** A content block: text is appended; a tool_use block becomes a tool call (its whole input when not streamed). */
  private block(index: number, blk: unknown, whole: boolean): void {
    if (!isObject(blk)) return;
    if (blk.type === 'text') {
      this.a.appendText(str(blk.text) ?? '');
      return;
    }
    if (blk.type !== 'tool_use') return;
    const call = this.a.toolCall(index);
    call.type = 'tool_use';
    const id = str(blk.id);
    if (id) call.id = id;
    call.function.name = str(blk.name) ?? call.function.name;
    // Streamed blocks start with `input: {}` and send the input as input_json_delta; whole ones carry it.
    if (whole && blk.input !== undefined) this.a.setArgumentsIfEmpty(index, JSON.stringify(blk.input));
  }
}

function readMessagesRequest(body: Json): RequestFacts | string {
  if (!Array.isArray(body.messages)) return '"messages" must be an array';
  const messages = (body.system !== undefined ? [{ role: 'system', content: body.system }, ...(body.messages as unknown[])] : body.messages) as JsonValue;
  const facts: RequestFacts = { model: modelOf(body), stream: body.stream === true, messages };
  if (body.tools !== undefined) facts.tools = body.tools as JsonValue;
  return facts;
}

function errorBody(message: string, type: string, _code: string | null): string {
  return JSON.stringify({ type: 'error', error: { type, message } });
}

export const ANTHROPIC_MESSAGES: WireFormat = {
  id: 'anthropic-messages',
  provider: 'anthropic',
  framing: 'sse',
  forwardHeaders: ['anthropic-version', 'anthropic-beta'],
  readRequest: readMessagesRequest,
  upstreamUrl: (base) => `${rootOf(base)}/v1/messages`,
  // anthropic-version is required upstream; a client's own value is forwarded and wins (exchange.ts sets it after these).
  authHeaders: (key): Record<string, string> => ({ 'anthropic-version': ANTHROPIC_VERSION, ...(key ? { 'x-api-key': key } : {}) }),
  newAssembler: (maxChars) => new AnthropicAssembler(maxChars),
  isComplete: (r) => r.done,
  errorBody,
  streamErrorEvent: (message, type) => encodeSseEvent('error', { type: 'error', error: { type, message } }),
  errorDetail: errorMessageOf,
};
