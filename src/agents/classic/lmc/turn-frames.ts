/**
 * The frame state machine of one user turn: every LMC chunk Open Interpreter sends moves it, and each move
 * is recorded as it happens (prose, code held for a decision, console output of the running block, images,
 * server errors, protocol anomalies). It never sends anything; it tells the driver when to decide a block
 * (`decide`) and when the turn is over (`complete`).
 */
import { createHash, type Hash } from 'node:crypto';
import type { AuditExecution, RiskAssessment } from '../../../audit/execution.js';
import type { AuditTurn } from '../../../audit/turn.js';
import { escapeForLog } from '../../../record/escape.js';
import type { CodeBlock } from './code-binding.js';
import { detectExecutionError } from './execution-errors.js';
import { PROTOCOL_ERROR_FORMAT } from './lmc-client.js';
import { OutputWindow } from './output-window.js';
import type { SessionDetector } from '../../session/detector.js';
import type { LmcChunk } from '../../session/lmc-chunk.js';

/** What the driver does after a frame. */
export type FrameAction =
  | { kind: 'next' }
  /** Open Interpreter paused on a block (code end + complete): decide it. `confirmation` if OI sent one. */
  | { kind: 'decide'; block: CodeBlock; confirmation?: CodeBlock }
  | { kind: 'complete' };

/**
 * An open start…end run of chunks. `computer` is code output other than console text (images, html/js):
 * Open Interpreter wraps each in start/end too, between runs of console output.
 */
type Stream = { kind: 'message' | 'code' | 'console' | 'computer' | 'other'; role: string; type: string; language: string; text: string };

function streamKind(role: string, type: string): Stream['kind'] {
  if (role === 'assistant' && (type === 'message' || type === 'code')) return type;
  if (role === 'computer') {
    if (type === 'console') return 'console';
    if (type === 'image' || type === 'code') return 'computer';
  }
  return 'other';
}

/** Longest role/type/format label recorded; the server chooses them, so they are cut and escaped. */
const LABEL_CHARS = 100;
/** Protocol anomalies recorded one by one per turn; beyond this they are counted and the count recorded. */
const MAX_PROTOCOL_ERRORS_PER_TURN = 100;
/** Characters of output that arrived with no execution running kept for the record (hash and length cover all). */
const ORPHAN_HEAD_CHARS = 64 * 1024;

/** A server-chosen label made safe for an audit body: cut short, control and lone-surrogate characters escaped. */
function label(value: string): string {
  return escapeForLog(value.length > LABEL_CHARS ? `${value.slice(0, LABEL_CHARS)}…` : value);
}

/** JSON for a value the server sent, never throwing (deeply nested values overflow JSON.stringify's stack). */
export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch (error) {
    return `[${Array.isArray(value) ? 'array' : typeof value} that cannot be serialised: ${(error as Error).message}]`;
  }
}

function describeValue(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

const kindLabel = (role: string, type: string) => `${label(role || '?')}/${label(type || '?')}`;

/** Protocol anomalies of one turn: each kept once (by key), at most MAX_PROTOCOL_ERRORS_PER_TURN, the rest counted. */
class ProtocolErrorLog {
  private readonly seen = new Set<string>();
  private recorded = 0;
  private suppressed = 0;

  constructor(private readonly turn: AuditTurn) {}

  add(type: string, message: string, key?: string): void {
    if (key !== undefined) {
      if (this.seen.has(key)) return;
      if (this.seen.size < MAX_PROTOCOL_ERRORS_PER_TURN) this.seen.add(key);
    }
    if (this.recorded >= MAX_PROTOCOL_ERRORS_PER_TURN) {
      this.suppressed++;
      return;
    }
    this.recorded++;
    this.turn.recordError({ source: 'protocol', type, message });
  }

  close(): void {
    if (this.suppressed === 0) return;
    this.turn.recordError({ source: 'protocol', type: 'protocol_errors_suppressed', message: `${this.suppressed} more protocol error(s) in this turn were not recorded one by one` });
  }
}

/**
 * Console output with no approved block running: Open Interpreter ran something nobody approved, or the
 * frames are out of order. Kept as evidence: one error per run, with the length and hash of all of it.
 */
class OrphanOutput {
  private bytes = 0;
  private hash: Hash | undefined;
  private head = '';

  add(text: string): void {
    this.hash ??= createHash('sha256');
    this.bytes += Buffer.byteLength(text, 'utf8');
    this.hash.update(text, 'utf8');
    if (this.head.length < ORPHAN_HEAD_CHARS) this.head += text.slice(0, ORPHAN_HEAD_CHARS - this.head.length);
  }

  flush(errors: ProtocolErrorLog): void {
    if (!this.hash) return;
    errors.add('output_without_execution', `console output arrived while no approved code block was running (${this.bytes} bytes, sha256 ${this.hash.digest('hex')}):\n${this.head}`);
    this.hash = undefined;
    this.bytes = 0;
    this.head = '';
  }
}

/** A confirmation chunk's content, `{"type":"code","format":<language>,"content":<code>}`, when well formed. */
function confirmationBlock(content: unknown): CodeBlock | undefined {
  if (typeof content !== 'object' || content === null) return undefined;
  const c = content as Record<string, unknown>;
  return typeof c['format'] === 'string' && typeof c['content'] === 'string' ? { language: c['format'], code: c['content'] } : undefined;
}

/** A block with its risk by the session's detection rules (`none` without a detector). */
export function assessBlock(detect: SessionDetector | undefined, block: CodeBlock): { language: string; code: string; risk: RiskAssessment } {
  return { language: block.language, code: block.code, risk: detect?.code(block.language, block.code) ?? { level: 'none', rules: [] } };
}

export class TurnFrames {
  /** `content` of every server error chunk of the turn. */
  readonly serverErrors: string[] = [];
  private readonly errors: ProtocolErrorLog;
  private readonly orphan = new OrphanOutput();
  private current: Stream | undefined;
  private pending: CodeBlock | undefined;
  private confirmation: CodeBlock | undefined;
  private execution: AuditExecution | undefined;
  private output = new OutputWindow();
  // The running block's console run has ended (its output may continue after an image, so the execution ends
  // only when the assistant speaks again or the turn completes; a turn cut off after this point was not mid-output).
  private outputClosed = false;

  constructor(
    private readonly turn: AuditTurn,
    private readonly detect: SessionDetector | undefined,
  ) {
    this.errors = new ProtocolErrorLog(turn);
  }

  /** Chunks that arrived after the previous turn ended, before this one began: recorded, not attributed. */
  stale(chunks: LmcChunk[]): void {
    if (chunks.length === 0) return;
    const kinds = [...new Set(chunks.map((c) => kindLabel(typeof c.role === 'string' ? c.role : '', typeof c.type === 'string' ? c.type : '')))];
    let excerpt = '';
    for (const c of chunks) {
      if (excerpt.length >= ORPHAN_HEAD_CHARS) break;
      excerpt += `${safeJson(c).slice(0, ORPHAN_HEAD_CHARS - excerpt.length)}\n`;
    }
    this.errors.add(
      'stale_chunk',
      `${chunks.length} chunk(s) arrived after the previous turn ended, before this one began (${kinds.slice(0, 20).join(', ')}${kinds.length > 20 ? ', …' : ''}); not attributed to this turn:\n${excerpt}`,
    );
  }

  /** An approved block was sent `go`: its output is recorded from now on. */
  running(execution: AuditExecution): void {
    this.execution = execution;
  }

  /** Move the machine by one frame. */
  frame(chunk: LmcChunk): FrameAction {
    const role = typeof chunk.role === 'string' ? chunk.role : '';
    const type = typeof chunk.type === 'string' ? chunk.type : '';
    const format = typeof chunk.format === 'string' ? chunk.format : '';
    if (role === 'server' && type === 'status' && chunk.content === 'complete') return this.onComplete();
    if (role === 'server' && type === 'error') return this.onServerError(chunk, format);
    if (role === 'computer' && type === 'confirmation') return this.onConfirmation(chunk);
    const kind = streamKind(role, type);
    if (kind === 'other') {
      this.errors.add('unknown_chunk', `unexpected LMC chunk ${kindLabel(role, type)}`, `unknown:${kindLabel(role, type)}`);
      return NEXT;
    }
    if (chunk.start === true) return this.onStart(kind, role, type, format);
    if (chunk.end === true) return this.onEnd(kind, role, type);
    if (kind === 'message' || kind === 'code') return this.onText(kind, role, type, format, chunk.content);
    if (kind === 'console') return this.onConsole(role, type, format, chunk.content);
    return this.onComputerOutput(role, type, format, chunk.content);
  }

  /** The turn ended early (timeout, lost connection): the running block, if any, ends as interrupted. */
  cutOff(): void {
    this.finishExecution(!this.outputClosed);
  }

  /** Record what is still open when the turn ends: a partial message, a block never run, pending anomalies. */
  close(): void {
    if (this.current?.kind === 'message' || this.current?.kind === 'code' || this.current?.kind === 'console') this.closeStream();
    this.current = undefined;
    this.orphan.flush(this.errors);
    if (this.pending) {
      // A block arrived but the turn ended before a decision point: recorded, never run.
      const exec = this.turn.proposeCode(assessBlock(this.detect, this.pending));
      exec.end({ interrupted: true });
      this.pending = undefined;
    }
    this.finishExecution();
    this.errors.close();
  }

  // ---- one unit per frame class ---------------------------------------------------------------------------

  private onComplete(): FrameAction {
    if (this.current) {
      this.errors.add('out_of_order_chunk', `complete status while ${kindLabel(this.current.role, this.current.type)} was open (no end frame)`, 'complete-open');
      this.closeStream();
    }
    this.orphan.flush(this.errors);
    this.finishExecution();
    if (!this.pending) return { kind: 'complete' };
    // The server paused before running the block (auto-run is off): the driver decides now.
    const action: FrameAction = { kind: 'decide', block: this.pending, ...(this.confirmation ? { confirmation: this.confirmation } : {}) };
    this.pending = undefined;
    this.confirmation = undefined;
    return action;
  }

  private onServerError(chunk: LmcChunk, format: string): FrameAction {
    const message = typeof chunk.content === 'string' ? chunk.content : safeJson(chunk.content);
    if (format === PROTOCOL_ERROR_FORMAT) {
      // The connection could not read a frame (not JSON, not an object, binary): the server did not say this.
      this.errors.add('malformed_frame', message);
      return NEXT;
    }
    this.serverErrors.push(message);
    this.turn.recordError({ source: 'server', type: 'server_error', message });
    return NEXT;
  }

  /** Open Interpreter's own statement of what it is about to run (sent only by some versions and modes). */
  private onConfirmation(chunk: LmcChunk): FrameAction {
    const block = confirmationBlock(chunk.content);
    if (!block) {
      this.errors.add('invalid_chunk', `computer/confirmation content is not {"format": <language>, "content": <code>}`, 'invalid:confirmation');
      return NEXT;
    }
    this.confirmation = block;
    return NEXT;
  }

  private onStart(kind: Stream['kind'], role: string, type: string, format: string): FrameAction {
    if (this.current) {
      this.errors.add('out_of_order_chunk', `${kindLabel(role, type)} start while ${kindLabel(this.current.role, this.current.type)} was still open`, `start:${kind}:${this.current.kind}`);
      this.closeStream();
    }
    // The block's output ends when the assistant speaks again (console runs may be split by images).
    if (role === 'assistant') this.finishExecution();
    else this.outputClosed = false;
    this.current = { kind, role, type, language: label(format), text: '' };
    return NEXT;
  }

  private onEnd(kind: Stream['kind'], role: string, type: string): FrameAction {
    if (this.current?.kind === kind) this.closeStream();
    else this.errors.add('out_of_order_chunk', `${kindLabel(role, type)} end without its start frame`, `end:${kind}`);
    return NEXT;
  }

  private onText(kind: 'message' | 'code', role: string, type: string, format: string, content: unknown): FrameAction {
    if (typeof content !== 'string') {
      this.errors.add('invalid_chunk', `${kindLabel(role, type)} content is ${describeValue(content)}, not a string`, `invalid:${kind}`);
      return NEXT;
    }
    this.streamFor(kind, role, type, format).text += content;
    return NEXT;
  }

  private onConsole(role: string, type: string, format: string, content: unknown): FrameAction {
    this.streamFor('console', role, type, format);
    if (format !== 'output') return NEXT; // active_line markers carry no evidence beyond the code itself
    if (typeof content !== 'string') {
      this.errors.add('invalid_chunk', `${kindLabel(role, type)} output is ${describeValue(content)}, not a string`, 'invalid:console');
    } else if (this.execution) {
      this.output.add(content);
      this.execution.output(content);
    } else {
      this.orphan.add(content);
    }
    return NEXT;
  }

  /** What the code produced besides console text: images, rich output (html/javascript). */
  private onComputerOutput(role: string, type: string, format: string, content: unknown): FrameAction {
    this.streamFor('computer', role, type, format);
    if (!this.execution) {
      this.errors.add('output_without_execution', `${kindLabel(role, type)} output arrived while no approved code block was running`, `orphan:${type}`);
      return NEXT;
    }
    if (type === 'image') {
      const text = typeof content === 'string' ? content : '';
      this.execution.image(label(format) || 'unknown', format.startsWith('base64') ? Math.floor((text.length * 3) / 4) : text.length);
      return NEXT;
    }
    if (typeof content === 'string') {
      this.output.add(content);
      this.execution.output(content);
    }
    return NEXT;
  }

  // ---- streams and the running block ---------------------------------------------------------------------

  /** End the open stream as its end frame would: record prose, hold code for a decision. */
  private closeStream(): void {
    const s = this.current;
    this.current = undefined;
    if (!s) return;
    if (s.kind === 'message') this.turn.assistantMessage(s.text);
    if (s.kind === 'code') {
      this.pending = { language: s.language || 'python', code: s.text };
      this.confirmation = undefined; // a confirmation belongs to the block before it
    }
    if (s.kind === 'console') {
      this.orphan.flush(this.errors);
      this.outputClosed = true;
    }
  }

  /** A content chunk for `kind`: the stream it belongs to, opened implicitly (and flagged) when its start is missing. */
  private streamFor(kind: Stream['kind'], role: string, type: string, format: string): Stream {
    if (this.current?.kind === kind) return this.current;
    this.errors.add('out_of_order_chunk', `${kindLabel(role, type)} content without its start frame${this.current ? ` (while ${kindLabel(this.current.role, this.current.type)} was open)` : ''}`, `content:${kind}`);
    this.closeStream();
    this.current = { kind, role, type, language: label(format), text: '' };
    return this.current;
  }

  private finishExecution(interrupted = false): void {
    const execution = this.execution;
    if (!execution) return;
    const err = detectExecutionError(execution.language, this.output.forErrors());
    const outputRisk = this.detect?.output(this.output.forRisk());
    execution.end({ error: err !== undefined, ...(err ? { errorMessage: err } : {}), interrupted, ...(outputRisk ? { outputRisk } : {}) });
    this.execution = undefined;
    this.output = new OutputWindow();
    this.outputClosed = false;
  }
}

const NEXT: FrameAction = { kind: 'next' };
