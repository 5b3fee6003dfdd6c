import { createHash, type Hash } from 'node:crypto';
import { SpanKind, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import type { JsonObject } from '../record/canonical-json.js';
import { sha256Hex } from '../integrity/hash.js';
import * as A from '../semconv/attributes.js';
import { AUDIT_EVENTS, maxRisk, type RiskLevel } from '../semconv/events.js';
import type { StreamPart, StreamRedactor } from '../redact/stream.js';
import { redactionCount } from './content.js';
import type { AuditSession } from './session.js';
import type { AuditTurn, TurnOutcome } from './turn.js';

export interface RiskAssessment {
  level: RiskLevel;
  /** Ids of the detection rules that matched. */
  rules: string[];
}

export interface ProposedCode {
  language: string;
  code: string;
  risk?: RiskAssessment;
  /** The model's tool-call id (function-calling mode); else one is derived from the turn and block index. */
  toolCallId?: string;
}

export type ApprovalDecision = 'approved' | 'refused';
/** Who decided: Open Interpreter's auto-run, a human, a policy rule, the fail-closed guard, or unknown (imported history). */
export type Decider = 'auto_run' | 'user' | 'policy' | 'fail_closed' | 'client' | 'imported';

export interface ApprovalInfo {
  decision: ApprovalDecision;
  decider: Decider;
  reason?: string;
  /** Rule ids that drove the decision. */
  rules?: string[];
  /** Keyed pseudonym of the human who decided (a gateway approver), when one did. */
  approver?: string;
}

export interface ExecutionEnd {
  /** Execution ended in an error (traceback, failed command), as detected from its output or the server. */
  error?: boolean;
  errorMessage?: string;
  /** Stopped before it finished (stop command, process died). */
  interrupted?: boolean;
  /** Detection over the output (prompt-injection indicators, secrets shown…): raises the span's risk. */
  outputRisk?: RiskAssessment;
  /** Exit code and run time as the agent reported them (`--agent rust`); recorded on the final output part. */
  exitCode?: number;
  durationMs?: number;
}

/**
 * Told when an approved block starts running and just before its span ends (still open for events), so execution
 * ground truth can attribute what the code really did to that block. One observer per session.
 */
export interface ExecutionObserver {
  started(execution: AuditExecution): void;
  ending(execution: AuditExecution): void;
}

const observers = new WeakMap<AuditSession, ExecutionObserver>();

/** Observe every execution of `session` (replaces any earlier observer). Returns the undo. */
export function observeExecutions(session: AuditSession, observer: ExecutionObserver): () => void {
  observers.set(session, observer);
  return () => {
    if (observers.get(session) === observer) observers.delete(session);
  };
}

/** Ground-truth record kinds and the event each becomes. */
export type GroundTruthKind = 'process' | 'file_write' | 'file_delete' | 'sensitive_read';
const GROUND_TRUTH_EVENTS = {
  process: AUDIT_EVENTS.processExec,
  file_write: AUDIT_EVENTS.fileWrite,
  file_delete: AUDIT_EVENTS.fileDelete,
  sensitive_read: AUDIT_EVENTS.fileSensitiveRead,
} as const;

/**
 * Emits one ground-truth record on `span` (an execution span, or the session's root span for activity outside
 * any block). With a `finding`, also emits `oi_audit.ground_truth.finding` at warn severity.
 */
export function emitGroundTruth(
  session: AuditSession,
  span: Span,
  kind: GroundTruthKind,
  data: JsonObject,
  finding?: RiskAssessment & { reason: string },
  attributes: Attributes = {},
): void {
  const risky = finding !== undefined && finding.level !== 'none';
  session.emit(GROUND_TRUTH_EVENTS[kind], span, finding ? { ...data, risk: finding.level, rules: finding.rules } : data, {
    attributes: { ...attributes, ...(finding ? { [A.ATTR_RISK_LEVEL]: finding.level } : {}) },
    severity: risky ? 'warn' : 'info',
  });
  if (risky) {
    session.emit(AUDIT_EVENTS.groundTruthFinding, span, { ...data, kind, risk: finding.level, rules: finding.rules, reason: finding.reason }, {
      attributes: { ...attributes, [A.ATTR_RISK_LEVEL]: finding.level },
      severity: 'warn',
    });
  }
}

/**
 * One proposed code block: the execution span runs from proposal to the end of its output.
 * Output is recorded in parts as it streams (redacted across part boundaries: a part is scanned with
 * the 4 KiB that follow it, see StreamRedactor), so a crash mid-run loses at most one part and that hold;
 * the final part carries the length and SHA-256 of the whole output.
 */
export class AuditExecution {
  readonly span: Span;
  readonly index: number;
  readonly codeSha256: string;
  readonly language: string;
  readonly risk: RiskAssessment;
  private readonly session: AuditSession;
  private readonly turn: AuditTurn;
  private readonly code: string;
  private decision: ApprovalInfo | undefined;
  private running = false;
  private ended = false;
  /** Output not yet in a part; redacted across part boundaries (see StreamRedactor). */
  private readonly stream: StreamRedactor;
  private parts = 0;
  private outputBytes = 0;
  private readonly outputHash: Hash = createHash('sha256');
  private images = 0;
  private outputRisk: RiskAssessment | undefined;
  private runningSince: number | undefined;
  private outputTruncated = false;
  private groundTruthRisk: RiskAssessment | undefined;
  private groundTruthFindings = 0;
  private processCount = 0;
  private groundTruthObserved = false;

  constructor(session: AuditSession, turn: AuditTurn, index: number, proposed: ProposedCode) {
    this.session = session;
    this.turn = turn;
    this.index = index;
    this.code = proposed.code;
    this.language = proposed.language.toLowerCase();
    this.codeSha256 = sha256Hex(proposed.code);
    this.risk = proposed.risk ?? { level: 'none', rules: [] };
    this.stream = session.captureStream('output', session.config.outputPartBytes);
    this.span = session.startChildSpan(
      `${A.GEN_AI_OPERATION_EXECUTE_TOOL} ${this.language}`,
      turn.span,
      {
        [A.ATTR_GEN_AI_OPERATION_NAME]: A.GEN_AI_OPERATION_EXECUTE_TOOL,
        // The tool is the language Open Interpreter runs the block as (the span is `execute_tool {language}`).
        [A.ATTR_GEN_AI_TOOL_NAME]: this.language,
        [A.ATTR_GEN_AI_TOOL_TYPE]: 'function',
        [A.ATTR_GEN_AI_TOOL_CALL_ID]: proposed.toolCallId ?? `oi_${turn.index}_${index}`,
        [A.ATTR_TURN_INDEX]: turn.index,
        [A.ATTR_CODE_INDEX]: index,
        [A.ATTR_CODE_LANGUAGE]: this.language,
        [A.ATTR_CODE_SHA256]: this.codeSha256,
        [A.ATTR_CODE_LENGTH]: Buffer.byteLength(proposed.code, 'utf8'),
        [A.ATTR_RISK_LEVEL]: this.risk.level,
        [A.ATTR_RISK_RULES]: this.risk.rules,
      },
      SpanKind.INTERNAL,
    );
    const captured = session.capture('code', proposed.code);
    session.emit(
      AUDIT_EVENTS.codeGenerated,
      this.span,
      { turn: turn.index, index, language: this.language, code: captured, risk: this.risk.level, rules: this.risk.rules },
      { attributes: this.indexAttributes({ [A.ATTR_REDACTION_COUNT]: redactionCount(captured) }), severity: this.riskSeverity() },
    );
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get approval(): ApprovalInfo | undefined {
    return this.decision;
  }

  /**
   * Record the approval decision, bound to the code's SHA-256. `extra` adds fields to the decision event (an
   * agent that binds approvals to more than the code records what it bound them to).
   */
  decide(approval: ApprovalInfo, extra: JsonObject = {}): void {
    if (this.decision) throw new Error(`code block ${this.index} of turn ${this.turn.index} already has a decision`);
    this.decision = approval;
    this.span.setAttribute(A.ATTR_APPROVAL_DECISION, approval.decision);
    this.span.setAttribute(A.ATTR_APPROVAL_DECIDER, approval.decider);
    const data: JsonObject = {
      turn: this.turn.index,
      index: this.index,
      decision: approval.decision,
      decider: approval.decider,
      code_sha256: this.codeSha256,
      risk: this.risk.level,
      rules: approval.rules ?? this.risk.rules,
      ...extra,
    };
    if (approval.reason) data.reason = approval.reason;
    if (approval.approver) data.approver = approval.approver;
    this.session.metrics.block(approval.decision, approval.decider, this.risk.level);
    this.session.emit(AUDIT_EVENTS.approvalDecision, this.span, data, {
      attributes: this.indexAttributes({ [A.ATTR_APPROVAL_DECISION]: approval.decision }),
      severity: approval.decision === 'refused' ? 'warn' : this.riskSeverity(),
    });
    if (approval.decision === 'refused') this.finish({ refused: true });
  }

  /** The code this block approved (what ground truth is judged against). */
  get approvedCode(): { language: string; code: string } {
    return { language: this.language, code: this.code };
  }

  get turnIndex(): number {
    return this.turn.index;
  }

  /**
   * What the running code really did (a process it started, a file it changed, a sensitive path it opened).
   * A finding raises the span's risk and is emitted as `oi_audit.ground_truth.finding`, whatever the gate decided.
   */
  recordGroundTruth(kind: GroundTruthKind, data: JsonObject, finding?: RiskAssessment & { reason: string }): void {
    if (this.ended) return;
    if (kind === 'process') this.processCount++;
    const risky = finding !== undefined && finding.level !== 'none';
    if (risky) {
      this.groundTruthFindings++;
      const level = maxRisk(this.groundTruthRisk?.level ?? 'none', finding.level);
      this.groundTruthRisk = { level, rules: [...new Set([...(this.groundTruthRisk?.rules ?? []), ...finding.rules])] };
    }
    emitGroundTruth(this.session, this.span, kind, { turn: this.turn.index, index: this.index, ...data }, finding, this.indexAttributes({}));
  }

  /** A finding about the block as a whole (e.g. a mass deletion), not tied to one record. */
  recordGroundTruthFinding(kind: GroundTruthKind, data: JsonObject, finding: RiskAssessment & { reason: string }): void {
    if (this.ended || finding.level === 'none') return;
    this.groundTruthFindings++;
    const level = maxRisk(this.groundTruthRisk?.level ?? 'none', finding.level);
    this.groundTruthRisk = { level, rules: [...new Set([...(this.groundTruthRisk?.rules ?? []), ...finding.rules])] };
    this.session.emit(AUDIT_EVENTS.groundTruthFinding, this.span, { turn: this.turn.index, index: this.index, ...data, kind, risk: finding.level, rules: finding.rules, reason: finding.reason }, {
      attributes: this.indexAttributes({ [A.ATTR_RISK_LEVEL]: finding.level }),
      severity: 'warn',
    });
  }

  /** Counts and losses of the block's ground truth (always emitted when ground truth is on). */
  recordGroundTruthSummary(data: JsonObject): void {
    if (this.ended) return;
    this.groundTruthObserved = true;
    this.session.emit(AUDIT_EVENTS.groundTruthSummary, this.span, { turn: this.turn.index, index: this.index, ...data, findings: this.groundTruthFindings }, {
      attributes: this.indexAttributes({}),
      severity: this.groundTruthFindings > 0 ? 'warn' : 'info',
    });
  }

  /** The approved code was handed to Open Interpreter to run. `extra` adds fields to the event (what the agent ran). */
  started(extra: JsonObject = {}): void {
    if (this.decision?.decision !== 'approved') {
      throw new Error(`code block ${this.index} of turn ${this.turn.index} runs without an approval`);
    }
    if (this.running) return;
    this.running = true;
    this.runningSince = performance.now();
    observers.get(this.session)?.started(this);
    const captured = this.session.capture('code', this.code);
    this.session.emit(
      AUDIT_EVENTS.commandExecuted,
      this.span,
      { turn: this.turn.index, index: this.index, language: this.language, code_sha256: this.codeSha256, code: captured, ...extra },
      { attributes: this.indexAttributes({}), severity: this.riskSeverity() },
    );
  }

  /** A chunk of console output. */
  output(text: string): void {
    if (this.ended) return;
    this.outputHash.update(text, 'utf8');
    this.outputBytes += Buffer.byteLength(text, 'utf8');
    for (const part of this.stream.push(text)) this.emitPart(part, false);
  }

  /** An image the code produced: recorded as format and size, never its content. */
  image(format: string, bytes: number): void {
    if (this.ended) return;
    this.images++;
    this.session.emit(AUDIT_EVENTS.commandOutput, this.span, {
      turn: this.turn.index,
      index: this.index,
      kind: 'image',
      format,
      bytes,
    }, { attributes: this.indexAttributes({}) });
  }

  end(result: ExecutionEnd = {}): void {
    if (this.ended) return;
    this.finish({ ...result });
  }

  /** The turn ended while this block was still open. */
  abandon(outcome: TurnOutcome): void {
    if (this.ended) return;
    if (!this.decision) {
      this.finish({ undecided: true, outcome });
    } else {
      this.finish({ interrupted: this.running, outcome });
    }
  }

  private finish(state: ExecutionEnd & { refused?: boolean; undecided?: boolean; outcome?: TurnOutcome }): void {
    if (this.ended) return;
    if (this.running) {
      // Ground truth first, while the span is open: what the code did belongs in its span.
      try {
        observers.get(this.session)?.ending(this);
      } catch (error) {
        this.session.recordError({ source: 'audit', type: 'ground_truth_failed', message: (error as Error).message }, this.span);
      }
    }
    if (state.outputRisk && state.outputRisk.level !== 'none') this.outputRisk = state.outputRisk;
    const extra = [this.outputRisk, this.groundTruthRisk].filter((r): r is RiskAssessment => r !== undefined && r.level !== 'none');
    if (extra.length > 0) {
      const level = extra.reduce((l, r) => maxRisk(l, r.level), this.risk.level);
      this.span.setAttribute(A.ATTR_RISK_LEVEL, level);
      this.span.setAttribute(A.ATTR_RISK_RULES, [...new Set([...this.risk.rules, ...extra.flatMap((r) => r.rules)])]);
    }
    if (this.groundTruthObserved) {
      this.span.setAttribute(A.ATTR_PROCESS_COUNT, this.processCount);
      this.span.setAttribute(A.ATTR_GROUND_TRUTH_FINDINGS, this.groundTruthFindings);
    }
    if (this.running) this.flushPart(state);
    this.ended = true;
    const outputSha = this.outputHash.digest('hex');
    if (this.running) {
      this.span.setAttributes({
        [A.ATTR_OUTPUT_LENGTH]: this.outputBytes,
        [A.ATTR_OUTPUT_SHA256]: outputSha,
        [A.ATTR_EXECUTION_ERROR]: state.error === true,
        [A.ATTR_OUTPUT_TRUNCATED]: this.outputTruncated,
      });
      if (state.exitCode !== undefined) this.span.setAttribute(A.ATTR_EXECUTION_EXIT_CODE, state.exitCode);
    }
    if (state.error) {
      this.session.recordError(
        { source: 'execution', type: 'execution_error', message: state.errorMessage ?? 'code execution reported an error' },
        this.span,
        { turn: this.turn.index, index: this.index },
      );
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: 'execution error' });
    } else if (state.interrupted) {
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: 'interrupted' });
    }
    if (state.undecided) this.span.setAttribute(A.ATTR_APPROVAL_DECISION, 'none');
    if (this.runningSince !== undefined) {
      this.session.metrics.execution({
        toolName: this.language,
        language: this.language,
        durationS: (performance.now() - this.runningSince) / 1000,
        errorType: state.error ? 'execution_error' : state.interrupted ? 'interrupted' : undefined,
      });
    }
    this.span.end();
  }

  /** The last part: what the stream still holds (possibly nothing), with the totals. */
  private flushPart(end: ExecutionEnd = {}): void {
    this.emitPart(this.stream.end(), true, end);
  }

  private emitPart(part: StreamPart, final: boolean, end: ExecutionEnd = {}): void {
    const captured = this.session.capture('output', part.raw, part.redacted);
    if (captured.truncated === true) this.outputTruncated = true;
    const data: JsonObject = {
      turn: this.turn.index,
      index: this.index,
      kind: 'console',
      part: this.parts++,
      final,
      output: captured,
    };
    if (final) {
      if (this.outputRisk) {
        data.risk = this.outputRisk.level;
        data.rules = this.outputRisk.rules;
      }
      data.total_bytes = this.outputBytes;
      data.total_sha256 = this.outputHash.copy().digest('hex');
      data.images = this.images;
      if (end.exitCode !== undefined) data.exit_code = end.exitCode;
      if (end.durationMs !== undefined) data.duration_ms = end.durationMs;
    }
    this.session.emit(AUDIT_EVENTS.commandOutput, this.span, data, {
      attributes: this.indexAttributes({ [A.ATTR_REDACTION_COUNT]: redactionCount(captured) }),
    });
  }

  private indexAttributes(extra: Attributes): Attributes {
    return {
      [A.ATTR_CODE_LANGUAGE]: this.language,
      [A.ATTR_RISK_LEVEL]: this.risk.level,
      [A.ATTR_TURN_INDEX]: this.turn.index,
      ...extra,
    };
  }

  private riskSeverity(): 'info' | 'warn' {
    return this.risk.level === 'high' || this.risk.level === 'critical' ? 'warn' : 'info';
  }
}
