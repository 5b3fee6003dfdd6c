import { createHash, type Hash } from 'node:crypto';
import { SpanKind, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import type { JsonObject } from '../security/canonical-json.js';
import { sha256Hex } from '../security/hash.js';
import * as A from '../semconv/attributes.js';
import { AUDIT_EVENTS, maxRisk, type RiskLevel } from '../semconv/events.js';
import type { StreamPart, StreamRedactor } from '../security/redact/stream.js';
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
}

export interface ExecutionEnd {
  /** Execution ended in an error (traceback, failed command), as detected from its output or the server. */
  error?: boolean;
  errorMessage?: string;
  /** Stopped before it finished (stop command, process died). */
  interrupted?: boolean;
  /** Detection over the output (prompt-injection indicators, secrets shown…): raises the span's risk. */
  outputRisk?: RiskAssessment;
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

  /** Record the approval decision, bound to the code's SHA-256. */
  decide(approval: ApprovalInfo): void {
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
    };
    if (approval.reason) data.reason = approval.reason;
    this.session.emit(AUDIT_EVENTS.approvalDecision, this.span, data, {
      attributes: this.indexAttributes({ [A.ATTR_APPROVAL_DECISION]: approval.decision }),
      severity: approval.decision === 'refused' ? 'warn' : this.riskSeverity(),
    });
    if (approval.decision === 'refused') this.finish({ refused: true });
  }

  /** The approved code was handed to Open Interpreter to run. */
  started(): void {
    if (this.decision?.decision !== 'approved') {
      throw new Error(`code block ${this.index} of turn ${this.turn.index} runs without an approval`);
    }
    if (this.running) return;
    this.running = true;
    const captured = this.session.capture('code', this.code);
    this.session.emit(
      AUDIT_EVENTS.commandExecuted,
      this.span,
      { turn: this.turn.index, index: this.index, language: this.language, code_sha256: this.codeSha256, code: captured },
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
    if (state.outputRisk && state.outputRisk.level !== 'none') {
      this.outputRisk = state.outputRisk;
      const level = maxRisk(this.risk.level, state.outputRisk.level);
      this.span.setAttribute(A.ATTR_RISK_LEVEL, level);
      this.span.setAttribute(A.ATTR_RISK_RULES, [...new Set([...this.risk.rules, ...state.outputRisk.rules])]);
    }
    if (this.running) this.flushPart();
    this.ended = true;
    const outputSha = this.outputHash.digest('hex');
    if (this.running) {
      this.span.setAttributes({
        [A.ATTR_OUTPUT_LENGTH]: this.outputBytes,
        [A.ATTR_OUTPUT_SHA256]: outputSha,
        [A.ATTR_EXECUTION_ERROR]: state.error === true,
      });
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
    this.span.end();
  }

  /** The last part: what the stream still holds (possibly nothing), with the totals. */
  private flushPart(): void {
    this.emitPart(this.stream.end(), true);
  }

  private emitPart(part: StreamPart, final: boolean): void {
    const captured = this.session.capture('output', part.raw, part.redacted);
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
