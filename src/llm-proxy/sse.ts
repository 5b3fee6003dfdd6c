/**
 * Server-sent events as the provider APIs use them (OpenAI data-only events, Anthropic and Responses
 * named events): an incremental parser that can be fed a stream as it flows, and encoders. Shared by
 * the LLM proxy (which parses what it passes through) and the scripted model.
 */

export interface SseEvent {
  /** `event:` field, when present (OpenAI chat streams never set it; Anthropic and Responses streams do). */
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

/** One named event (`event:` + `data:`), as Anthropic Messages and the Responses API send them. */
export function encodeSseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
