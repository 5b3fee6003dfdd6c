import type { ApprovalInfo, AuditExecution, RiskAssessment } from '../audit/execution.js';
import type { AuditSession } from '../audit/session.js';
import type { AuditTurn, TurnOutcome } from '../audit/turn.js';
import { detectExecutionError } from './execution-errors.js';
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

type Stream = { kind: 'message' | 'code' | 'console' | 'other'; language: string; text: string };

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
    const inputRisk = this.options.detect?.input(input);
    const turn = this.session.startTurn(input, inputRisk && inputRisk.level !== 'none' ? { risk: inputRisk.level, rules: inputRisk.rules } : {});
    const result: TurnResult = { outcome: 'complete', executed: 0, refused: 0, errors: [] };
    const timeoutMs = this.options.chunkTimeoutMs ?? 300_000;
    let current: Stream | undefined;
    let pending: { language: string; code: string } | undefined;
    let execution: AuditExecution | undefined;
    const unknownTypes = new Set<string>();
    let outputSoFar = '';

    const finishExecution = (interrupted = false) => {
      if (!execution) return;
      const err = detectExecutionError(execution.language, outputSoFar);
      const outputRisk = this.options.detect?.output(outputSoFar);
      execution.end({ error: err !== undefined, ...(err ? { errorMessage: err } : {}), interrupted, ...(outputRisk ? { outputRisk } : {}) });
      execution = undefined;
      outputSoFar = '';
    };

    try {
      await this.transport.sendUserMessage(input);
      for (;;) {
        const chunk = await this.next(timeoutMs);
        const role = typeof chunk.role === 'string' ? chunk.role : '';
        const type = typeof chunk.type === 'string' ? chunk.type : '';
        const format = typeof chunk.format === 'string' ? chunk.format : '';

        if (role === 'server' && type === 'status' && chunk.content === 'complete') {
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
          const message = typeof chunk.content === 'string' ? chunk.content : JSON.stringify(chunk.content);
          result.errors.push(message);
          turn.recordError({ source: 'server', type: 'server_error', message });
          result.outcome = 'error';
          continue;
        }
        if (chunk.start === true) {
          current = {
            kind: type === 'message' || type === 'code' || type === 'console' ? type : 'other',
            language: format,
            text: '',
          };
          continue;
        }
        if (chunk.end === true) {
          if (current?.kind === 'message' && role === 'assistant') turn.assistantMessage(current.text);
          if (current?.kind === 'code' && role === 'assistant') pending = { language: current.language || 'python', code: current.text };
          if (current?.kind === 'console') finishExecution();
          current = undefined;
          continue;
        }
        // Content chunks.
        if (role === 'assistant' && (type === 'message' || type === 'code')) {
          if (current) current.text += typeof chunk.content === 'string' ? chunk.content : '';
          continue;
        }
        if (role === 'computer' && type === 'console') {
          if (format === 'output' && typeof chunk.content === 'string') {
            outputSoFar += chunk.content;
            execution?.output(chunk.content);
          }
          continue; // active_line markers carry no evidence beyond the code itself
        }
        if (role === 'computer' && type === 'image') {
          const content = typeof chunk.content === 'string' ? chunk.content : '';
          execution?.image(format || 'unknown', format.startsWith('base64') ? Math.floor((content.length * 3) / 4) : content.length);
          continue;
        }
        if (role === 'computer' && type === 'code') {
          // Rich output (html/javascript) produced by the code: recorded as output text.
          if (typeof chunk.content === 'string') execution?.output(chunk.content);
          continue;
        }
        if (role === 'computer' && type === 'confirmation') continue; // the block itself was already recorded
        const kind = `${role || '?'}/${type || '?'}`;
        if (!unknownTypes.has(kind)) {
          unknownTypes.add(kind);
          turn.recordError({ source: 'protocol', type: 'unknown_chunk', message: `unexpected LMC chunk ${kind}` });
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
      finishExecution(true);
    }
    if (pending) {
      // A block arrived but the turn ended before a decision point: recorded, never run.
      const exec = turn.proposeCode(this.assess(pending));
      exec.end({ interrupted: true });
    }
    finishExecution();
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
