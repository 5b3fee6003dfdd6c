import { createHash, type Hash } from 'node:crypto';
import type { ApprovalInfo, AuditExecution, RiskAssessment } from '../audit/execution.js';
import type { AuditSession } from '../audit/session.js';
import type { AuditTurn, TurnOutcome } from '../audit/turn.js';
import { MAX_SCAN_CHARS } from '../detect/engine.js';
import { escapeForLog } from '../security/escape.js';
import { detectExecutionError } from './execution-errors.js';
import { PROTOCOL_ERROR_FORMAT } from './lmc-client.js';
import type { SessionDetector } from './session-detector.js';

/** One LMC chunk as the Open Interpreter server sends it (validated to be a JSON object). */
export interface LmcChunk {
  role?: unknown;
  type?: unknown;
  format?: unknown;
  content?: unknown;
  start?: unknown;
  end?: unknown;
  [key: string]: unknown;
}

/** What the driver needs from a connection to an Open Interpreter server. */
export interface LmcTransport {
  sendUserMessage(text: string): void | Promise<void>;
  sendCommand(command: 'go' | 'stop'): void | Promise<void>;
}

/** A proposed block, as the approval hook sees it. */
export interface BlockForApproval {
  sessionId: string;
  turn: number;
  index: number;
  language: string;
  code: string;
  codeSha256: string;
  risk: RiskAssessment;
}

export type ApprovalHook = (block: BlockForApproval) => Promise<ApprovalInfo>;

export interface TurnResult {
  outcome: TurnOutcome;
  executed: number;
  refused: number;
  errors: string[];
}

export interface TurnDriverOptions {
  approve: ApprovalHook;
  /** Risk of input, code and output (detection rules); without it everything is risk `none`. */
  detect?: SessionDetector;
  /** When false, no block is approved (fail-closed while the audit sink is unhealthy). */
  auditHealthy?: () => boolean;
  /** Longest wait for the next chunk before the turn is stopped. Default 300 s. */
  chunkTimeoutMs?: number;
  /** Each chunk as received (a gateway forwards them to its client). Errors are swallowed. */
  onChunk?: (chunk: LmcChunk) => void;
}

/**
 * An open start…end run of chunks. `computer` is code output other than console text (images, html/js,
 * confirmations): Open Interpreter wraps each in start/end too, between runs of console output.
 */
type Stream = { kind: 'message' | 'code' | 'console' | 'computer' | 'other'; role: string; type: string; language: string; text: string };

function streamKind(role: string, type: string): Stream['kind'] {
  if (role === 'assistant' && (type === 'message' || type === 'code')) return type;
  if (role === 'computer') {
    if (type === 'console') return 'console';
    if (type === 'image' || type === 'code' || type === 'confirmation') return 'computer';
  }
  return 'other';
}

/** Longest role/type/format label recorded; the server chooses them, so they are cut and escaped. */
const LABEL_CHARS = 100;
/** Protocol anomalies recorded one by one per turn; beyond this they are counted and the count recorded. */
const MAX_PROTOCOL_ERRORS_PER_TURN = 100;
/** First and last characters of a block's output scanned for an error (the error patterns are not linear). */
const ERROR_SCAN_CHARS = 16 * 1024;
/** Last characters of a block's output kept beyond the head the risk detector reads. */
const OUTPUT_TAIL_CHARS = ERROR_SCAN_CHARS;
/** Characters of output that arrived with no execution running kept for the record (hash and length cover all). */
const ORPHAN_HEAD_CHARS = 64 * 1024;

/** A server-chosen label made safe for an audit body: cut short, control and lone-surrogate characters escaped. */
function label(value: string): string {
  return escapeForLog(value.length > LABEL_CHARS ? `${value.slice(0, LABEL_CHARS)}…` : value);
}

/** JSON for a value the server sent, never throwing (deeply nested values overflow JSON.stringify's stack). */
function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch (error) {
    return `[${Array.isArray(value) ? 'array' : typeof value} that cannot be serialised: ${(error as Error).message}]`;
  }
}

function describeValue(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

/**
 * What the driver keeps of one block's output for error and risk detection: the head (up to what the
 * detector reads) and the last OUTPUT_TAIL_CHARS. The whole output is hashed and recorded, in parts, by
 * AuditExecution; holding all of it here too would grow with the output (50 MB of output, 50 MB held).
 */
class OutputWindow {
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

/**
 * Drives one user turn over LMC and turns every chunk into audit events as it arrives:
 * assistant prose, code blocks (each held for the approval hook; only an approved block gets `go`),
 * console output, images, server errors and the `complete` status.
 */
export class TurnDriver {
  private readonly queue: LmcChunk[] = [];
  private waiter: ((chunk: LmcChunk | Error) => void) | undefined;
  private closedReason: string | undefined;

  constructor(
    private readonly session: AuditSession,
    private readonly transport: LmcTransport,
    private readonly options: TurnDriverOptions,
  ) {}

  /** Feed a chunk received from the server. */
  push(chunk: LmcChunk): void {
    try {
      this.options.onChunk?.(chunk);
    } catch {
      // A consumer's bug must not break the audit.
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(chunk);
    } else this.queue.push(chunk);
  }

  /** The connection or the process is gone: any waiting turn ends with this reason. */
  close(reason: string): void {
    this.closedReason ??= reason;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(new Error(reason));
    }
  }

  private next(timeoutMs: number): Promise<LmcChunk> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closedReason) return Promise.reject(new Error(this.closedReason));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new TurnTimeout(timeoutMs));
      }, timeoutMs);
      this.waiter = (chunk) => {
        clearTimeout(timer);
        if (chunk instanceof Error) reject(chunk);
        else resolve(chunk);
      };
    });
  }

  /** Run one user turn to its end; never throws for server-side failures (they are recorded). */
  async runTurn(input: string): Promise<TurnResult> {
    // Chunks that arrived after the previous turn ended (e.g. a late reply after a timeout) are not this turn's.
    const stale = this.queue.splice(0);
    const inputRisk = this.options.detect?.input(input);
    const turn = this.session.startTurn(input, inputRisk && inputRisk.level !== 'none' ? { risk: inputRisk.level, rules: inputRisk.rules } : {});
    const result: TurnResult = { outcome: 'complete', executed: 0, refused: 0, errors: [] };
    const timeoutMs = this.options.chunkTimeoutMs ?? 300_000;
    let current: Stream | undefined;
    let pending: { language: string; code: string } | undefined;
    let execution: AuditExecution | undefined;
    let output = new OutputWindow();
    // The running block's console run has ended (its output may continue after an image, so the execution ends
    // only when the assistant speaks again or the turn completes; a turn cut off after this point was not mid-output).
    let outputClosed = false;
    let orphan: { bytes: number; hash: Hash; head: string } | undefined;

    // Protocol anomalies: each recorded once per turn (by key), at most MAX_PROTOCOL_ERRORS_PER_TURN, the rest counted.
    const seen = new Set<string>();
    let recorded = 0;
    let suppressed = 0;
    const protocolError = (type: string, message: string, key?: string) => {
      if (key !== undefined) {
        if (seen.has(key)) return;
        if (seen.size < MAX_PROTOCOL_ERRORS_PER_TURN) seen.add(key);
      }
      if (recorded >= MAX_PROTOCOL_ERRORS_PER_TURN) {
        suppressed++;
        return;
      }
      recorded++;
      turn.recordError({ source: 'protocol', type, message });
    };
    const kindLabel = (role: string, type: string) => `${label(role || '?')}/${label(type || '?')}`;

    if (stale.length > 0) {
      const kinds = [...new Set(stale.map((c) => kindLabel(typeof c.role === 'string' ? c.role : '', typeof c.type === 'string' ? c.type : '')))];
      let excerpt = '';
      for (const c of stale) {
        if (excerpt.length >= ORPHAN_HEAD_CHARS) break;
        excerpt += `${safeJson(c).slice(0, ORPHAN_HEAD_CHARS - excerpt.length)}\n`;
      }
      protocolError(
        'stale_chunk',
        `${stale.length} chunk(s) arrived after the previous turn ended, before this one began (${kinds.slice(0, 20).join(', ')}${kinds.length > 20 ? ', …' : ''}); not attributed to this turn:\n${excerpt}`,
      );
    }

    const finishExecution = (interrupted = false) => {
      if (!execution) return;
      const err = detectExecutionError(execution.language, output.forErrors());
      const outputRisk = this.options.detect?.output(output.forRisk());
      execution.end({ error: err !== undefined, ...(err ? { errorMessage: err } : {}), interrupted, ...(outputRisk ? { outputRisk } : {}) });
      execution = undefined;
      output = new OutputWindow();
      outputClosed = false;
    };

    // Console output with no approved block running: Open Interpreter ran something nobody approved, or the
    // frames are out of order. Recorded as evidence: one error per run, with the length and hash of all of it.
    const orphanOutput = (text: string) => {
      orphan ??= { bytes: 0, hash: createHash('sha256'), head: '' };
      orphan.bytes += Buffer.byteLength(text, 'utf8');
      orphan.hash.update(text, 'utf8');
      if (orphan.head.length < ORPHAN_HEAD_CHARS) orphan.head += text.slice(0, ORPHAN_HEAD_CHARS - orphan.head.length);
    };
    const flushOrphan = () => {
      if (!orphan) return;
      const o = orphan;
      orphan = undefined;
      protocolError(
        'output_without_execution',
        `console output arrived while no approved code block was running (${o.bytes} bytes, sha256 ${o.hash.digest('hex')}):\n${o.head}`,
      );
    };

    /** End the open stream as its end frame would: record prose, hold code for a decision. */
    const closeStream = () => {
      const s = current;
      current = undefined;
      if (!s) return;
      if (s.kind === 'message') turn.assistantMessage(s.text);
      if (s.kind === 'code') pending = { language: s.language || 'python', code: s.text };
      if (s.kind === 'console') {
        flushOrphan();
        outputClosed = true;
      }
    };
    /** A content chunk for `kind`: the stream it belongs to, opened implicitly (and flagged) when its start is missing. */
    const streamFor = (kind: Stream['kind'], role: string, type: string, format: string): Stream => {
      if (current?.kind === kind) return current;
      protocolError(
        'out_of_order_chunk',
        `${kindLabel(role, type)} content without its start frame${current ? ` (while ${kindLabel(current.role, current.type)} was open)` : ''}`,
        `content:${kind}`,
      );
      closeStream();
      current = { kind, role, type, language: label(format), text: '' };
      return current;
    };

    try {
      await this.transport.sendUserMessage(input);
      for (;;) {
        const chunk = await this.next(timeoutMs);
        const role = typeof chunk.role === 'string' ? chunk.role : '';
        const type = typeof chunk.type === 'string' ? chunk.type : '';
        const format = typeof chunk.format === 'string' ? chunk.format : '';

        if (role === 'server' && type === 'status' && chunk.content === 'complete') {
          if (current) {
            protocolError('out_of_order_chunk', `complete status while ${kindLabel(current.role, current.type)} was open (no end frame)`, 'complete-open');
            closeStream();
          }
          flushOrphan();
          finishExecution();
          if (!pending) break;
          // The server paused before running the block (auto-run is off): decide now.
          const block = pending;
          pending = undefined;
          const approved = await this.decide(turn, block, result);
          if (!approved) {
            result.outcome = 'refused';
            break;
          }
          execution = approved;
          execution.started();
          result.executed++;
          await this.transport.sendCommand('go');
          continue;
        }
        if (role === 'server' && type === 'error') {
          if (format === PROTOCOL_ERROR_FORMAT) {
            // The connection could not read a frame (not JSON, not an object, binary): the server did not say this.
            protocolError('malformed_frame', typeof chunk.content === 'string' ? chunk.content : safeJson(chunk.content));
            continue;
          }
          const message = typeof chunk.content === 'string' ? chunk.content : safeJson(chunk.content);
          result.errors.push(message);
          turn.recordError({ source: 'server', type: 'server_error', message });
          result.outcome = 'error';
          continue;
        }
        const kind = streamKind(role, type);
        if (kind === 'other') {
          protocolError('unknown_chunk', `unexpected LMC chunk ${kindLabel(role, type)}`, `unknown:${kindLabel(role, type)}`);
          continue;
        }
        if (chunk.start === true) {
          if (current) {
            protocolError(
              'out_of_order_chunk',
              `${kindLabel(role, type)} start while ${kindLabel(current.role, current.type)} was still open`,
              `start:${kind}:${current.kind}`,
            );
            closeStream();
          }
          // The block's output ends when the assistant speaks again (console runs may be split by images).
          if (role === 'assistant') finishExecution();
          else outputClosed = false;
          current = { kind, role, type, language: label(format), text: '' };
          continue;
        }
        if (chunk.end === true) {
          if (current?.kind === kind) closeStream();
          else protocolError('out_of_order_chunk', `${kindLabel(role, type)} end without its start frame`, `end:${kind}`);
          continue;
        }
        // Content chunks.
        if (kind === 'message' || kind === 'code') {
          if (typeof chunk.content !== 'string') {
            protocolError('invalid_chunk', `${kindLabel(role, type)} content is ${describeValue(chunk.content)}, not a string`, `invalid:${kind}`);
            continue;
          }
          streamFor(kind, role, type, format).text += chunk.content;
          continue;
        }
        if (kind === 'console') {
          streamFor(kind, role, type, format);
          if (format === 'output') {
            if (typeof chunk.content !== 'string') {
              protocolError('invalid_chunk', `${kindLabel(role, type)} output is ${describeValue(chunk.content)}, not a string`, 'invalid:console');
            } else if (execution) {
              output.add(chunk.content);
              execution.output(chunk.content);
            } else {
              orphanOutput(chunk.content);
            }
          }
          continue; // active_line markers carry no evidence beyond the code itself
        }
        // kind === 'computer': what the code produced besides console text.
        streamFor(kind, role, type, format);
        if (type === 'confirmation') continue; // the block itself was already recorded
        if (!execution) {
          protocolError('output_without_execution', `${kindLabel(role, type)} output arrived while no approved code block was running`, `orphan:${type}`);
          continue;
        }
        if (type === 'image') {
          const content = typeof chunk.content === 'string' ? chunk.content : '';
          execution.image(label(format) || 'unknown', format.startsWith('base64') ? Math.floor((content.length * 3) / 4) : content.length);
          continue;
        }
        // Rich output (html/javascript) produced by the code: recorded as output text.
        if (typeof chunk.content === 'string') {
          output.add(chunk.content);
          execution.output(chunk.content);
        }
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      result.errors.push(message);
      if (error instanceof TurnTimeout) {
        turn.recordError({ source: 'server', type: 'timeout', message });
        try {
          await this.transport.sendCommand('stop');
        } catch {
          // Connection may already be gone; the error is recorded.
        }
        result.outcome = 'stopped';
      } else {
        turn.recordError({ source: 'process', type: 'connection_lost', message });
        result.outcome = 'error';
      }
      finishExecution(!outputClosed);
    }
    // A stream cut off by the end of the turn is still recorded (a partial message, a block never run).
    if (current?.kind === 'message' || current?.kind === 'code' || current?.kind === 'console') closeStream();
    current = undefined;
    flushOrphan();
    if (pending) {
      // A block arrived but the turn ended before a decision point: recorded, never run.
      const exec = turn.proposeCode(this.assess(pending));
      exec.end({ interrupted: true });
    }
    finishExecution();
    if (suppressed > 0) {
      turn.recordError({ source: 'protocol', type: 'protocol_errors_suppressed', message: `${suppressed} more protocol error(s) in this turn were not recorded one by one` });
    }
    turn.end(result.outcome);
    return result;
  }

  private assess(block: { language: string; code: string }) {
    const risk = this.options.detect?.code(block.language, block.code) ?? { level: 'none' as const, rules: [] };
    return { language: block.language, code: block.code, risk };
  }

  /** Record the block, ask the hook, record the decision; returns the execution when approved. */
  private async decide(turn: AuditTurn, block: { language: string; code: string }, result: TurnResult): Promise<AuditExecution | undefined> {
    const exec = turn.proposeCode(this.assess(block));
    let approval: ApprovalInfo;
    if (this.options.auditHealthy && !this.options.auditHealthy()) {
      approval = { decision: 'refused', decider: 'fail_closed', reason: 'audit unavailable' };
    } else {
      try {
        approval = await this.options.approve({
          sessionId: this.session.id,
          turn: turn.index,
          index: exec.index,
          language: exec.language,
          code: block.code,
          codeSha256: exec.codeSha256,
          risk: exec.risk,
        });
      } catch (error) {
        // A failing approval hook refuses: never run code nobody approved.
        approval = { decision: 'refused', decider: 'policy', reason: `approval hook failed: ${(error as Error).message}` };
      }
    }
    exec.decide(approval);
    if (approval.decision === 'approved') return exec;
    result.refused++;
    return undefined;
  }
}

export class TurnTimeout extends Error {
  override name = 'TurnTimeout';
  constructor(ms: number) {
    super(`no message from Open Interpreter for ${Math.round(ms / 1000)} s`);
  }
}
