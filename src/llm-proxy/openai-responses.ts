/**
 * The OpenAI Responses API (`POST /v1/responses`), the wire format of Codex (and so of the Rust Open
 * Interpreter). Written from the OpenAI API reference for Responses and its streaming events (as
 * published 2025-06): `response.created`, `response.output_item.added|done`,
 * `response.output_text.delta`, `response.function_call_arguments.delta|done`, `response.completed`
 * (with `usage.input_tokens|output_tokens`), `response.incomplete`, `response.failed`, `error`.
 *
 * Tool calls: `function_call` items (name, `call_id`, arguments), `custom_tool_call` items (their
 * `input` is recorded as the arguments) and `local_shell_call` items (their `action` as JSON). Each is
 * indexed by its `output_index`. Finish reasons: the response `status` (`completed`, `failed`), or the
 * `incomplete_details.reason` of an incomplete one (e.g. `max_output_tokens`).
 */
import { isObject, num, str, type EventOutcome, type Json } from './assembly.js';
import { bearerAuth, errorMessageOf, modelOf, openAiErrorBody, type RequestFacts, type WireFormat } from './format.js';
import { JsonEventAssembler } from './json-event-assembler.js';
import type { JsonValue } from '../record/canonical-json.js';

const TOOL_ITEM_TYPES = new Set(['function_call', 'custom_tool_call', 'local_shell_call']);

export class ResponsesAssembler extends JsonEventAssembler {
  protected acceptObject(ev: Json, type: string): EventOutcome {
    this.a.chunks++;
    switch (type) {
      case 'response.created':
      case 'response.in_progress':
        this.response(ev.response);
        break;
      case 'response.output_text.delta':
        this.a.appendText(str(ev.delta) ?? '');
        break;
      case 'response.output_item.added':
      case 'response.output_item.done':
        this.item(num(ev.output_index) ?? this.a.toolCallCount, ev.item, type.endsWith('.done'));
        break;
      case 'response.function_call_arguments.delta':
      case 'response.custom_tool_call_input.delta':
        this.a.appendArguments(num(ev.output_index) ?? 0, str(ev.delta) ?? '');
        break;
      case 'response.function_call_arguments.done':
        this.a.setArgumentsIfEmpty(num(ev.output_index) ?? 0, str(ev.arguments) ?? '');
        break;
      case 'response.completed':
      case 'response.incomplete':
        this.response(ev.response);
        this.a.done = true;
        return 'done';
      case 'response.failed':
        this.response(ev.response);
        this.a.setError(isObject(ev.response) && isObject(ev.response.error) ? ev.response.error : 'the response failed');
        break;
      case 'error':
        this.a.setError(isObject(ev.error) ? ev.error : ev);
        break;
      default:
        break;
    }
    return 'chunk';
  }

  acceptWhole(body: Json): void {
    if (isObject(body.error) && !Array.isArray(body.output)) {
      this.a.setError(body.error);
      return;
    }
    this.response(body);
    const output = Array.isArray(body.output) ? body.output : [];
    output.forEach((item, i) => {
      if (!isObject(item)) return;
      if (item.type === 'message' && Array.isArray(item.content)) {
        for (const part of item.content) if (isObject(part) && part.type === 'output_text') this.a.appendText(str(part.text) ?? '');
      }
      this.item(i, item, true);
    });
    this.a.done = true;
  }

  private response(r: unknown): void {
    if (!isObject(r)) return;
    this.a.meta(r.id, r.model);
    if (isObject(r.usage)) this.a.usage(r.usage.input_tokens, r.usage.output_tokens);
    const status = str(r.status);
    if (status === 'incomplete' && isObject(r.incomplete_details) && str(r.incomplete_details.reason)) {
      this.a.setFinish(0, str(r.incomplete_details.reason)!);
    } else if (status && status !== 'in_progress' && status !== 'queued') {
      this.a.setFinish(0, status);
    }
  }

  private item(index: number, item: unknown, done: boolean): void {
    if (!isObject(item) || !TOOL_ITEM_TYPES.has(str(item.type) ?? '')) return;
    const call = this.a.toolCall(index);
    call.type = str(item.type)!;
    const id = str(item.call_id) ?? str(item.id);
    if (id) call.id = id;
    call.function.name ||= str(item.name) ?? (item.type === 'local_shell_call' ? 'local_shell' : '');
    if (!done) return;
    const args = item.type === 'local_shell_call' ? JSON.stringify(item.action ?? null) : (str(item.arguments) ?? str(item.input) ?? '');
    this.a.setArgumentsIfEmpty(index, args);
  }
}

/** The conversation as the model sees it: `instructions` first (the API inserts them as a system message), then `input`. */
function conversationOf(body: Json): JsonValue {
  const input: JsonValue[] = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : ((body.input ?? []) as JsonValue[]);
  return typeof body.instructions === 'string' ? [{ role: 'system', content: body.instructions }, ...input] : input;
}

function readResponsesRequest(body: Json): RequestFacts | string {
  if (typeof body.input !== 'string' && !Array.isArray(body.input)) return '"input" must be a string or an array';
  const facts: RequestFacts = { model: modelOf(body), stream: body.stream === true, messages: conversationOf(body) };
  if (body.tools !== undefined) facts.tools = body.tools as JsonValue;
  return facts;
}

export const OPENAI_RESPONSES: WireFormat = {
  id: 'openai-responses',
  provider: 'openai',
  framing: 'sse',
  forwardHeaders: [],
  readRequest: readResponsesRequest,
  upstreamUrl: (base) => `${base}/responses`,
  authHeaders: bearerAuth,
  newAssembler: (maxChars) => new ResponsesAssembler(maxChars),
  isComplete: (r) => r.done,
  errorBody: openAiErrorBody,
  // A `response.failed` event: what a Responses client (Codex) treats as the end of a failed turn.
  streamErrorEvent: (message, type) =>
    `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', response: { object: 'response', status: 'failed', error: { code: type, message } } })}\n\n`,
  errorDetail: errorMessageOf,
};
