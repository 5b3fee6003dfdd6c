/**
 * Newline-delimited JSON, as Ollama streams its responses (`application/x-ndjson`): an incremental
 * line splitter fed as the stream flows. Lines come out as SSE-shaped events (`data` = the line) so
 * the proxy handles both framings alike. Bounded: a line longer than `maxLineBytes` makes the parser
 * drop what it holds and ignore the rest (`overflowed`), as the SSE parser does.
 */
import type { SseEvent } from './sse.js';

export class NdjsonParser {
  private buffer = '';
  private readonly maxLineBytes: number;
  overflowed = false;

  constructor(options: { maxLineBytes?: number } = {}) {
    this.maxLineBytes = options.maxLineBytes ?? 16 * 1024 * 1024;
  }

  feed(text: string): SseEvent[] {
    if (this.overflowed || text.length === 0) return [];
    const out: SseEvent[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.emit(this.buffer + text.slice(start, nl), out);
      this.buffer = '';
      start = nl + 1;
    }
    this.buffer += text.slice(start);
    if (this.buffer.length > this.maxLineBytes) {
      this.overflowed = true;
      this.buffer = '';
    }
    return out;
  }

  /** End of stream: a last line without its newline still counts. */
  end(): SseEvent[] {
    if (this.overflowed) return [];
    const out: SseEvent[] = [];
    this.emit(this.buffer, out);
    this.buffer = '';
    return out;
  }

  private emit(line: string, out: SseEvent[]): void {
    const trimmed = line.replace(/\r$/, '');
    if (trimmed.trim().length > 0) out.push({ data: trimmed });
  }
}
