import type { ApprovalHook, ProposedBlock } from '../../../approval/hook.js';
import type { ApprovalInfo, AuditExecution } from '../../../audit/execution.js';
import type { AuditSession } from '../../../audit/session.js';
import type { AuditTurn } from '../../../audit/turn.js';
import { bindToConfirmation, CODE_REWRITTEN_RULE, type CodeBlock } from './code-binding.js';
import type { SessionDetector } from '../../session/detector.js';
import { assessBlock, TurnFrames } from './turn-frames.js';
import type { LmcChunk } from '../../session/lmc-chunk.js';
import type { TurnResult } from '../../session/turn-result.js';

/** What the driver needs from a connection to an Open Interpreter server. */
export interface LmcTransport {
  sendUserMessage(text: string): void | Promise<void>;
  sendCommand(command: 'go' | 'stop'): void | Promise<void>;
  /**
   * Open Interpreter's own copy of the block `go` would run (the last message of its history), or null when it
   * holds none (then `go` would start a new LLM call and run whatever block that produces, unseen). Optional:
   * without it both of Open Interpreter's rewrite passes are modelled over the proposal (code-binding.ts).
   */
  pendingBlock?(): Promise<CodeBlock | null>;
}

// The approval types live in approval/hook.ts (one name for every agent); BlockForApproval stays as an alias.
export type BlockForApproval = ProposedBlock;

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
 * Drives one user turn over LMC: the frames move a TurnFrames machine (which records them); at each pause on
 * a code block the driver binds the block to what Open Interpreter will run, asks the approval hook, and sends
 * `go` only for an approved block.
 */
export class TurnDriver {
  private readonly queue: LmcChunk[] = [];
  private waiter: ((chunk: LmcChunk | Error) => void) | undefined;
  private closedReason: string | undefined;
  private turnActive = false;
  private interruptedBy: string | undefined;

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

  /**
   * The user stopped the running turn: it ends now as `stopped`, the stop recorded. Whatever Open Interpreter
   * still sends for it arrives as the next turn's stale chunks. False when no turn runs.
   */
  interrupt(reason: string): boolean {
    if (!this.turnActive) return false;
    this.interruptedBy ??= reason;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(new TurnInterrupted(reason));
    }
    return true;
  }

  private next(timeoutMs: number): Promise<LmcChunk> {
    if (this.interruptedBy) return Promise.reject(new TurnInterrupted(this.interruptedBy));
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
    const result: TurnResult = { outcome: 'complete', executed: 0, refused: 0, errors: [], refusals: [] };
    const frames = new TurnFrames(turn, this.options.detect);
    frames.stale(stale);
    this.turnActive = true;
    try {
      await this.transport.sendUserMessage(input);
      await this.followFrames(turn, frames, result);
    } catch (error) {
      if (!(error instanceof TurnInterrupted)) await this.turnCutOff(turn, error, result);
      frames.cutOff();
    }
    this.turnActive = false;
    if (this.interruptedBy) {
      // A stop is the user's choice, not a failure: recorded on the turn, not counted in result.errors.
      turn.recordError({ source: 'client', type: 'stopped_by_user', message: this.interruptedBy });
      result.outcome = 'stopped';
      this.interruptedBy = undefined;
    }
    frames.close();
    result.errors.unshift(...frames.serverErrors);
    turn.end(result.outcome);
    return result;
  }

  /** Frames until the turn completes or a block is refused. */
  private async followFrames(turn: AuditTurn, frames: TurnFrames, result: TurnResult): Promise<void> {
    const timeoutMs = this.options.chunkTimeoutMs ?? 300_000;
    for (;;) {
      const action = frames.frame(await this.next(timeoutMs));
      if (frames.serverErrors.length > 0 && result.outcome === 'complete') result.outcome = 'error';
      if (action.kind === 'complete') return;
      if (action.kind === 'next') continue;
      const approved = await this.decide(turn, action.block, action.confirmation, result);
      if (!approved) {
        result.outcome = 'refused';
        return;
      }
      // Stopped while the decision was pending: `go` is never sent (the execution ends unrun with the turn).
      if (this.interruptedBy) return;
      frames.running(approved);
      approved.started();
      result.executed++;
      await this.transport.sendCommand('go');
    }
  }

  /** No next frame: a timeout stops the turn, anything else means the connection is gone. */
  private async turnCutOff(turn: AuditTurn, error: unknown, result: TurnResult): Promise<void> {
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
  }

  /**
   * What `go` would run: Open Interpreter's confirmation (sent, or read from its history), after the rewrite
   * pass `go` applies. A failure to read it is a reason to refuse, never to run.
   */
  private async confirmationOf(proposal: CodeBlock, sent: CodeBlock | undefined): Promise<{ confirmed: CodeBlock; rewritten?: string }> {
    let stored: CodeBlock | null | undefined = sent;
    if (!stored && this.transport.pendingBlock) {
      try {
        stored = await this.transport.pendingBlock();
      } catch (error) {
        return { confirmed: proposal, rewritten: `could not read the block Open Interpreter holds: ${(error as Error).message}` };
      }
      if (stored === null) return { confirmed: proposal, rewritten: 'Open Interpreter holds no pending code block (go would run a block nobody saw)' };
    }
    return bindToConfirmation(proposal, stored);
  }

  /**
   * Bind the block to what will run, record it, ask the hook, record the decision; the execution when approved.
   * The code recorded, hashed, assessed and shown to the hook is the confirmed code. A confirmed block that is
   * not the proposal is a critical `code.rewritten` finding (CODE_REWRITTEN_RULE) and is refused unasked.
   */
  private async decide(turn: AuditTurn, proposal: CodeBlock, sent: CodeBlock | undefined, result: TurnResult): Promise<AuditExecution | undefined> {
    const binding = await this.confirmationOf(proposal, sent);
    const assessed = assessBlock(this.options.detect, binding.confirmed);
    if (binding.rewritten) assessed.risk = { level: 'critical', rules: [...new Set([CODE_REWRITTEN_RULE, ...assessed.risk.rules])] };
    const exec = turn.proposeCode(assessed);
    let approval: ApprovalInfo;
    if (binding.rewritten) {
      turn.recordError(
        { source: 'protocol', type: 'code_rewritten', message: `${binding.rewritten}. Proposed ${JSON.stringify(proposal.language)}:\n${proposal.code}` },
        exec.span,
      );
      approval = { decision: 'refused', decider: 'policy', reason: `code.rewritten: ${binding.rewritten}`, rules: [CODE_REWRITTEN_RULE] };
    } else if (this.options.auditHealthy && !this.options.auditHealthy()) {
      approval = { decision: 'refused', decider: 'fail_closed', reason: 'audit unavailable' };
    } else {
      try {
        approval = await this.options.approve({
          sessionId: this.session.id,
          turn: turn.index,
          index: exec.index,
          language: exec.language,
          code: binding.confirmed.code,
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
    result.refusals.push({ index: exec.index, decider: approval.decider, ...(approval.reason ? { reason: approval.reason } : {}), rules: approval.rules ?? exec.risk.rules });
    return undefined;
  }

}

export class TurnInterrupted extends Error {
  override name = 'TurnInterrupted';
}

export class TurnTimeout extends Error {
  override name = 'TurnTimeout';
  constructor(ms: number) {
    super(`no message from Open Interpreter for ${Math.round(ms / 1000)} s`);
  }
}
