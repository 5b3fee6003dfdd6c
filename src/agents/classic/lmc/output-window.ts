import { MAX_SCAN_CHARS } from '../../../detect/engine.js';

/** First and last characters of a block's output scanned for an error (the error patterns are not linear). */
const ERROR_SCAN_CHARS = 16 * 1024;
/** Last characters of a block's output kept beyond the head the risk detector reads. */
const OUTPUT_TAIL_CHARS = ERROR_SCAN_CHARS;

/**
 * What the driver keeps of one block's output for error and risk detection: the head (up to what the
 * detector reads) and the last OUTPUT_TAIL_CHARS. The whole output is hashed and recorded, in parts, by
 * AuditExecution; holding all of it here too would grow with the output (50 MB of output, 50 MB held).
 */
export class OutputWindow {
  private head = '';
  /** Text after the head, in arrival order; compacted to its last OUTPUT_TAIL_CHARS when it holds twice that. */
  private tailParts: string[] = [];
  private tailChars = 0;

  add(text: string): void {
    let rest = text;
    if (this.head.length < MAX_SCAN_CHARS) {
      const room = MAX_SCAN_CHARS - this.head.length;
      this.head += rest.length > room ? rest.slice(0, room) : rest;
      rest = rest.length > room ? rest.slice(room) : '';
    }
    if (rest.length === 0) return;
    this.tailParts.push(rest);
    this.tailChars += rest.length;
    if (this.tailChars > 2 * OUTPUT_TAIL_CHARS) {
      const kept = this.tail();
      this.tailParts = [kept];
      this.tailChars = kept.length;
    }
  }

  private tail(): string {
    return this.tailParts.join('').slice(-OUTPUT_TAIL_CHARS);
  }

  /** The text the risk detector reads (it reads at most MAX_SCAN_CHARS). */
  forRisk(): string {
    return this.head;
  }

  /** The first and last ERROR_SCAN_CHARS characters (all of it when shorter). */
  forErrors(): string {
    if (this.tailChars === 0 && this.head.length <= 2 * ERROR_SCAN_CHARS) return this.head;
    const tail = this.tail();
    const last = tail.length >= ERROR_SCAN_CHARS ? tail.slice(-ERROR_SCAN_CHARS) : this.head.slice(-(ERROR_SCAN_CHARS - tail.length)) + tail;
    return `${this.head.slice(0, ERROR_SCAN_CHARS)}\n${last}`;
  }
}
