import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { JsonObject } from '../record/canonical-json.js';
import { sha256Hex } from '../integrity/hash.js';
import * as A from '../semconv/attributes.js';
import { AUDIT_EVENTS } from '../semconv/events.js';
import { redactionCount } from './content.js';
import { AuditExecution, type ProposedCode } from './execution.js';
import { AuditGeneration, type GenerationRequest } from './generation.js';
import type { AuditSession, ErrorInfo } from './session.js';

export type TurnOutcome = 'complete' | 'stopped' | 'error' | 'refused' | 'interrupted';

/** One user turn: the prompt span, and under it the turn's LLM calls and code executions. */
export class AuditTurn {
  readonly index: number;
  readonly span: Span;
  private readonly session: AuditSession;
  private generations: AuditGeneration[] = [];
  private executions: AuditExecution[] = [];
  private ended = false;

  constructor(session: AuditSession, index: number, input: string, extra: JsonObject) {
    this.session = session;
    this.index = index;
    const inputSha = sha256Hex(input);
    this.span = session.startChildSpan(
      'oi_audit.prompt',
      session.rootSpan,
      {
        [A.ATTR_TURN_INDEX]: index,
        [A.ATTR_INPUT_LENGTH]: Buffer.byteLength(input, 'utf8'),
        [A.ATTR_INPUT_SHA256]: inputSha,
      },
      SpanKind.SERVER,
    );
    const captured = session.capture('userInput', input);
    session.emit(AUDIT_EVENTS.userInput, this.span, { turn: index, input: captured, ...extra }, {
      attributes: { [A.ATTR_REDACTION_COUNT]: redactionCount(captured) },
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get generationCount(): number {
    return this.generations.length;
  }

  /** An LLM call of this turn begins (called by the LLM proxy when a request for this session arrives). */
  startGeneration(request: GenerationRequest): AuditGeneration {
    const generation = new AuditGeneration(this.session, this, this.generations.length, request);
    this.generations.push(generation);
    return generation;
  }

  /** A code block the model proposed: opens the execution span and records the code. */
  proposeCode(proposed: ProposedCode): AuditExecution {
    const execution = new AuditExecution(this.session, this, this.executions.length, proposed);
    this.executions.push(execution);
    return execution;
  }

  /** Assistant prose as the client saw it (the LLM response event holds the raw model output). */
  assistantMessage(text: string): void {
    if (text.length === 0) return;
    const captured = this.session.capture('llmMessages', text);
    this.session.emit(AUDIT_EVENTS.assistantMessage, this.span, { turn: this.index, content: captured });
  }

  recordError(error: ErrorInfo, span: Span = this.span): void {
    this.session.recordError(error, span, { turn: this.index });
  }

  end(outcome: TurnOutcome = 'complete'): void {
    if (this.ended) return;
    for (const g of this.generations) g.abandon();
    for (const e of this.executions) e.abandon(outcome);
    this.ended = true;
    this.span.setAttribute(A.ATTR_TURN_OUTCOME, outcome);
    if (outcome === 'error') this.span.setStatus({ code: SpanStatusCode.ERROR, message: 'turn ended in error' });
    this.span.end();
  }
}
