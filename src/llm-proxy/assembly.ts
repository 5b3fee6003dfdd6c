/**
 * What the proxy records of one LLM response, whatever the wire format: the text, the tool calls with
 * their arguments, finish reasons, ids, model and token usage, rebuilt from a stream as it passes (or
 * from a whole JSON body). Each wire format feeds an `Assembly` from its own events; the limits on what
 * is kept (the stream itself is never limited) live here, once.
 */
import type { SseEvent } from './sse.js';
import { isObject } from '../record/json-shape.js';

export interface AssembledToolCall {
  index: number;
  id?: string;
  type: string;
  function: { name: string; arguments: string };
}

export interface AssembledCompletion {
  /** Assistant text (choice 0 / the first output), concatenated. */
  content: string;
  /** Tool calls, arguments concatenated per call, in index order. */
  toolCalls: AssembledToolCall[];
  /** Finish / stop reasons as the provider names them, in choice order. */
  finishReasons: string[];
  responseId?: string;
  responseModel?: string;
  inputTokens?: number;
  outputTokens?: number;
  /** Events (or NDJSON lines) that carried a response object (not `[DONE]`, not malformed). */
  chunks: number;
  /** Events that were not valid JSON objects. */
  malformedEvents: number;
  /** The format's end-of-response marker was seen (`[DONE]`, `message_stop`, `response.completed`, `"done": true`). */
  done: boolean;
  /** The provider reported an error inside the stream (or as the body). */
  streamError?: { message: string; type?: string; code?: string };
  /** Text or arguments were cut at the size limit. */
  truncated: boolean;
}

/** What an event did: carried a response object, marked the end, or was not JSON. */
export type EventOutcome = 'chunk' | 'done' | 'malformed' | 'ignored';

/** One wire format's reader of a response: stream events (or NDJSON lines, as `data`) or a whole body. */
export interface ResponseAssembler {
  acceptEvent(event: SseEvent): EventOutcome;
  acceptWhole(body: Json): void;
  result(): AssembledCompletion;
}

export type Json = Record<string, unknown>;

/** The one isObject (record/json-shape.ts), re-exported for the wire formats that import it from here. */
export { isObject } from '../record/json-shape.js';

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Parse one event's data as a JSON object; undefined when it is not one. */
export function parseJsonObject(data: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(data);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The accumulating state every format's assembler writes into, with the size limit applied. */
export class Assembly {
  private content = '';
  private readonly calls = new Map<number, AssembledToolCall>();
  private readonly finish = new Map<number, string>();
  responseId: string | undefined;
  responseModel: string | undefined;
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  chunks = 0;
  malformed = 0;
  done = false;
  streamError: AssembledCompletion['streamError'];
  private truncated = false;
  private argChars = 0;

  constructor(private readonly maxChars: number = 16 * 1024 * 1024) {}

  appendText(text: string): void {
    if (!text) return;
    if (this.content.length >= this.maxChars) {
      this.truncated = true;
      return;
    }
    const room = this.maxChars - this.content.length;
    if (text.length > room) {
      this.truncated = true;
      this.content += text.slice(0, room);
    } else {
      this.content += text;
    }
  }

  /** The tool call at `index`, created on first use. */
  toolCall(index: number): AssembledToolCall {
    let call = this.calls.get(index);
    if (!call) {
      call = { index, type: 'function', function: { name: '', arguments: '' } };
      this.calls.set(index, call);
    }
    return call;
  }

  hasToolCall(index: number): boolean {
    return this.calls.has(index);
  }

  get toolCallCount(): number {
    return this.calls.size;
  }

  appendArguments(index: number, args: string): void {
    if (!args) return;
    const call = this.toolCall(index);
    const room = this.maxChars - this.argChars;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const piece = args.length > room ? args.slice(0, room) : args;
    if (piece.length < args.length) this.truncated = true;
    call.function.arguments += piece;
    this.argChars += piece.length;
  }

  /** Replace a call's arguments with the complete text a `…done` event carries, when the deltas were lost. */
  setArgumentsIfEmpty(index: number, args: string): void {
    if (this.toolCall(index).function.arguments.length === 0) this.appendArguments(index, args);
  }

  setFinish(index: number, reason: string): void {
    this.finish.set(index, reason);
  }

  setError(e: Json | string, fallback = 'error inside the stream'): void {
    if (typeof e === 'string') {
      this.streamError = { message: e || fallback };
      return;
    }
    this.streamError = { message: str(e.message) ?? fallback };
    const type = str(e.type);
    const code = str(e.code) ?? (num(e.code) !== undefined ? String(e.code) : undefined);
    if (type) this.streamError.type = type;
    if (code) this.streamError.code = code;
  }

  meta(id: unknown, model: unknown): void {
    this.responseId ??= str(id) || undefined;
    this.responseModel ??= str(model) || undefined;
  }

  usage(input: unknown, output: unknown): void {
    this.inputTokens = num(input) ?? this.inputTokens;
    this.outputTokens = num(output) ?? this.outputTokens;
  }

  result(): AssembledCompletion {
    const r: AssembledCompletion = {
      content: this.content,
      toolCalls: [...this.calls.values()].sort((a, b) => a.index - b.index).map((c) => ({ ...c, function: { ...c.function } })),
      finishReasons: [...this.finish.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v),
      chunks: this.chunks,
      malformedEvents: this.malformed,
      done: this.done,
      truncated: this.truncated,
    };
    if (this.responseId !== undefined) r.responseId = this.responseId;
    if (this.responseModel !== undefined) r.responseModel = this.responseModel;
    if (this.inputTokens !== undefined) r.inputTokens = this.inputTokens;
    if (this.outputTokens !== undefined) r.outputTokens = this.outputTokens;
    if (this.streamError) r.streamError = { ...this.streamError };
    return r;
  }
}
