/**
 * Ollama's native API: `POST /api/chat` (messages, tools) and `POST /api/generate` (a prompt), both
 * streaming newline-delimited JSON by default (`"stream": false` for one object). Written from the
 * Ollama API reference (docs/api.md, Ollama 0.5): each line carries `model`, `created_at` and either
 * `message` {role, content, tool_calls: [{function: {name, arguments: {…}}}]} (chat) or `response`
 * (generate); the last has `"done": true`, `done_reason`, `prompt_eval_count` (input tokens) and
 * `eval_count` (output tokens). Errors are `{"error": "…"}`, as a body or as a line. Auth: Ollama
 * itself needs none; hosted Ollama takes `Authorization: Bearer`, which is what litellm sends.
 */
import { isObject, str, type AssembledCompletion, type EventOutcome, type Json } from './assembly.js';
import { bearerAuth, modelOf, rootOf, type RequestFacts, type WireFormat } from './format.js';
import { JsonEventAssembler } from './json-event-assembler.js';
import type { JsonValue } from '../record/canonical-json.js';
import { fieldText } from '../record/field-text.js';

export class OllamaAssembler extends JsonEventAssembler {
  protected acceptObject(line: Json): EventOutcome {
    this.accept(line);
    return this.a.done ? 'done' : 'chunk';
  }

  acceptWhole(body: Json): void {
    this.accept(body);
  }

  private accept(obj: Json): void {
    if (obj.error !== undefined) {
      this.a.setError(isObject(obj.error) ? obj.error : fieldText(obj.error));
      return;
    }
    this.a.chunks++;
    this.a.meta(undefined, obj.model);
    this.a.appendText(str(obj.response) ?? '');
    if (isObject(obj.message)) {
      this.a.appendText(str(obj.message.content) ?? '');
      if (Array.isArray(obj.message.tool_calls)) for (const tc of obj.message.tool_calls) this.toolCall(tc);
    }
    if (obj.done === true) {
      this.a.done = true;
      this.a.setFinish(0, str(obj.done_reason) ?? 'stop');
      this.a.usage(obj.prompt_eval_count, obj.eval_count);
    }
  }

  /** Ollama sends each tool call whole, its arguments as an object. */
  private toolCall(tc: unknown): void {
    if (!isObject(tc) || !isObject(tc.function)) return;
    const index = this.a.toolCallCount;
    const call = this.a.toolCall(index);
    call.function.name = str(tc.function.name) ?? '';
    const id = str(tc.id);
    if (id) call.id = id;
    const args = tc.function.arguments;
    this.a.appendArguments(index, typeof args === 'string' ? args : JSON.stringify(args ?? {}));
  }
}

function errorBody(message: string, _type: string, _code: string | null): string {
  return JSON.stringify({ error: message });
}

const common = {
  provider: 'ollama',
  framing: 'ndjson' as const,
  forwardHeaders: [] as const,
  authHeaders: bearerAuth,
  newAssembler: (maxChars: number) => new OllamaAssembler(maxChars),
  isComplete: (r: AssembledCompletion) => r.done,
  errorBody,
  streamErrorEvent: (message: string) => `${JSON.stringify({ error: message })}\n`,
  errorDetail: (body: unknown) => (isObject(body) && typeof body.error === 'string' ? body.error : undefined),
};

export const OLLAMA_CHAT: WireFormat = {
  ...common,
  id: 'ollama-chat',
  readRequest(body: Json): RequestFacts | string {
    if (!Array.isArray(body.messages)) return '"messages" must be an array';
    // Ollama streams unless told not to.
    const facts: RequestFacts = { model: modelOf(body), stream: body.stream !== false, messages: body.messages as JsonValue };
    if (body.tools !== undefined) facts.tools = body.tools as JsonValue;
    return facts;
  },
  upstreamUrl: (base) => `${rootOf(base)}/api/chat`,
};

export const OLLAMA_GENERATE: WireFormat = {
  ...common,
  id: 'ollama-generate',
  readRequest(body: Json): RequestFacts | string {
    if (typeof body.prompt !== 'string') return '"prompt" must be a string';
    const messages: JsonValue[] = [];
    if (typeof body.system === 'string') messages.push({ role: 'system', content: body.system });
    messages.push({ role: 'user', content: body.prompt });
    return { model: modelOf(body), stream: body.stream !== false, messages };
  },
  upstreamUrl: (base) => `${rootOf(base)}/api/generate`,
};
