/**
 * Server-sent events as the OpenAI chat-completions API uses them: an incremental parser that can be
 * fed a stream as it flows, an encoder, and an assembler that rebuilds one chat completion from its
 * `chat.completion.chunk` deltas. Shared by the LLM proxy (which parses what it passes through) and the
 * scripted model's tests.
 */

export interface SseEvent {
  /** `event:` field, when present (OpenAI streams never set it). */
  event?: string;
  /** The `data:` lines of the event joined with "\n". */
  data: string;
  id?: string;
}

export interface SseParserOptions {
  /**
   * Longest event (bytes of pending text) the parser holds before giving up. A hostile upstream can
   * send one endless line; past this limit the parser drops what it holds and sets `overflowed`.
   * Default 16 MiB.
   */
  maxEventBytes?: number;
}

/**
 * Incremental SSE parser (WHATWG rules: LF, CRLF or CR line ends; `:` comments; one optional space
 * after the colon; an event is dispatched at a blank line and only if it has data).
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;
  private pendingCR = false;
  private heldBytes = 0;
  private readonly maxEventBytes: number;
  /** True once an event exceeded maxEventBytes; the parser then ignores the rest of the stream. */
  overflowed = false;

  constructor(options: SseParserOptions = {}) {
    this.maxEventBytes = options.maxEventBytes ?? 16 * 1024 * 1024;
  }

  /** Feed decoded text; returns the events completed by it. */
  feed(text: string): SseEvent[] {
    if (this.overflowed || text.length === 0) return [];
    const out: SseEvent[] = [];
    const len = text.length;
    let start = 0;
    if (this.pendingCR) {
      // A CR ended the previous piece; a LF at the start of this one belongs to the same line end.
      this.pendingCR = false;
      if (text.charCodeAt(0) === 10) start = 1;
    }
    // Line ends found with indexOf (native search) rather than a loop over every character; the next
    // LF and the next CR are each searched again only once passed, so the scan stays linear.
    let nextLF = text.indexOf('\n', start);
    let nextCR = text.indexOf('\r', start);
    for (;;) {
      if (nextLF !== -1 && nextLF < start) nextLF = text.indexOf('\n', start);
      if (nextCR !== -1 && nextCR < start) nextCR = text.indexOf('\r', start);
      const end = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR);
      if (end === -1) break;
      const line = this.buffer + text.slice(start, end);
      this.buffer = '';
      this.line(line, out);
      start = end + 1;
      if (end === nextCR) {
        if (end + 1 < len) {
          if (text.charCodeAt(end + 1) === 10) start++;
        } else {
          this.pendingCR = true;
        }
      }
    }
    if (start < len) this.buffer += text.slice(start);
    this.heldBytes = this.buffer.length + this.data.reduce((n, d) => n + d.length, 0);
    if (this.heldBytes > this.maxEventBytes) {
      this.overflowed = true;
      this.buffer = '';
      this.data = [];
    }
    return out;
  }

  /** End of stream: an event not terminated by a blank line is dispatched anyway (as browsers do not, but servers that just close expect). */
  end(): SseEvent[] {
    if (this.overflowed) return [];
    const out: SseEvent[] = [];
    if (this.buffer.length > 0) {
      const line = this.buffer;
      this.buffer = '';
      this.line(line, out);
    }
    this.dispatch(out);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
    // `retry` and unknown fields are ignored.
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length > 0) {
      const ev: SseEvent = { data: this.data.join('\n') };
      if (this.event !== undefined) ev.event = this.event;
      if (this.id !== undefined) ev.id = this.id;
      out.push(ev);
    }
    this.data = [];
    this.event = undefined;
  }
}

/** One `data:` event carrying JSON (or the literal `[DONE]`). */
export function encodeSseData(data: unknown): string {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

export const SSE_DONE = 'data: [DONE]\n\n';

// --- assembling a chat completion from its chunks ---------------------------------------------------

export interface AssembledToolCall {
  index: number;
  id?: string;
  type: string;
  function: { name: string; arguments: string };
}

export interface AssembledCompletion {
  /** Assistant text of choice 0, concatenated. */
  content: string;
  /** Tool calls of choice 0 (arguments concatenated per tool-call index); legacy `function_call` deltas become one. */
  toolCalls: AssembledToolCall[];
  /** finish_reason of every choice that reported one, in choice order. */
  finishReasons: string[];
  responseId?: string;
  responseModel?: string;
  inputTokens?: number;
  outputTokens?: number;
  /** Data events that held a chunk object (not `[DONE]`, not malformed). */
  chunks: number;
  /** Data events that were not valid JSON objects. */
  malformedEvents: number;
  /** `data: [DONE]` was seen. */
  done: boolean;
  /** An `{"error": …}` object arrived inside the stream. */
  streamError?: { message: string; type?: string; code?: string };
  /** Text or arguments were cut at the assembler's size limit. */
  truncated: boolean;
}

export interface AssemblerOptions {
  /** Most characters of content (and of all tool-call arguments together) kept. Default 16 Mi characters. */
  maxContentChars?: number;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * Rebuilds one chat completion from `chat.completion.chunk` objects (streaming) or from a whole
 * `chat.completion` object (non-streaming). Tolerant: unknown shapes are skipped, never thrown on.
 */
export class ChatCompletionAssembler {
  private content = '';
  private readonly toolCalls = new Map<number, AssembledToolCall>();
  private readonly finish = new Map<number, string>();
  private responseId: string | undefined;
  private responseModel: string | undefined;
  private inputTokens: number | undefined;
  private outputTokens: number | undefined;
  private chunks = 0;
  private malformed = 0;
  private done = false;
  private streamError: AssembledCompletion['streamError'];
  private truncated = false;
  private argChars = 0;
  private readonly maxChars: number;

  constructor(options: AssemblerOptions = {}) {
    this.maxChars = options.maxContentChars ?? 16 * 1024 * 1024;
  }

  /** Feed one SSE event's data. Returns the parsed chunk, `'done'`, or undefined when malformed. */
  acceptEventData(data: string): Json | 'done' | undefined {
    const trimmed = data.trim();
    if (trimmed === '[DONE]') {
      this.done = true;
      return 'done';
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      this.malformed++;
      return undefined;
    }
    if (!isObject(parsed)) {
      this.malformed++;
      return undefined;
    }
    this.acceptChunk(parsed);
    return parsed;
  }

  /** Feed one parsed `chat.completion.chunk` (or an error object sent inside the stream). */
  acceptChunk(chunk: Json): void {
    if (isObject(chunk.error)) {
      const e = chunk.error;
      this.streamError = { message: str(e.message) ?? 'error inside the stream' };
      const type = str(e.type);
      const code = str(e.code) ?? (num(e.code) !== undefined ? String(e.code) : undefined);
      if (type) this.streamError.type = type;
      if (code) this.streamError.code = code;
      return;
    }
    this.chunks++;
    this.meta(chunk);
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    for (const choice of choices) {
      if (!isObject(choice)) continue;
      const index = num(choice.index) ?? 0;
      const fr = str(choice.finish_reason);
      if (fr) this.finish.set(index, fr);
      if (index !== 0) continue;
      const delta = isObject(choice.delta) ? choice.delta : undefined;
      if (!delta) continue;
      const text = str(delta.content);
      if (text) this.appendContent(text);
      if (Array.isArray(delta.tool_calls)) {
        for (const tc of delta.tool_calls) if (isObject(tc)) this.toolCallDelta(tc);
      }
      if (isObject(delta.function_call)) this.toolCallDelta({ index: 0, type: 'function', function: delta.function_call });
    }
  }

  /** Feed a whole non-streaming `chat.completion` object. */
  acceptCompletion(body: Json): void {
    if (isObject(body.error)) {
      this.acceptChunk(body);
      return;
    }
    this.meta(body);
    this.chunks = 0;
    const choices = Array.isArray(body.choices) ? body.choices : [];
    for (const choice of choices) {
      if (!isObject(choice)) continue;
      const index = num(choice.index) ?? 0;
      const fr = str(choice.finish_reason);
      if (fr) this.finish.set(index, fr);
      if (index !== 0 || !isObject(choice.message)) continue;
      const msg = choice.message;
      const text = str(msg.content);
      if (text) this.appendContent(text);
      if (Array.isArray(msg.tool_calls)) {
        msg.tool_calls.forEach((tc, i) => {
          if (isObject(tc)) this.toolCallDelta({ index: i, ...tc });
        });
      }
      if (isObject(msg.function_call)) this.toolCallDelta({ index: 0, type: 'function', function: msg.function_call });
    }
    this.done = true;
  }

  result(): AssembledCompletion {
    const r: AssembledCompletion = {
      content: this.content,
      toolCalls: [...this.toolCalls.values()].sort((a, b) => a.index - b.index),
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

  private meta(obj: Json): void {
    this.responseId ??= str(obj.id) || undefined;
    this.responseModel ??= str(obj.model) || undefined;
    if (isObject(obj.usage)) {
      const u = obj.usage;
      this.inputTokens = num(u.prompt_tokens) ?? num(u.input_tokens) ?? this.inputTokens;
      this.outputTokens = num(u.completion_tokens) ?? num(u.output_tokens) ?? this.outputTokens;
    }
  }

  private appendContent(text: string): void {
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

  private toolCallDelta(tc: Json): void {
    const index = num(tc.index) ?? 0;
    let call = this.toolCalls.get(index);
    if (!call) {
      call = { index, type: 'function', function: { name: '', arguments: '' } };
      this.toolCalls.set(index, call);
    }
    const id = str(tc.id);
    if (id) call.id = id;
    const type = str(tc.type);
    if (type) call.type = type;
    const fn = isObject(tc.function) ? tc.function : undefined;
    if (!fn) return;
    const name = str(fn.name);
    if (name) call.function.name = call.function.name === name ? name : call.function.name + name;
    const args = str(fn.arguments);
    if (args) {
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
  }
}
