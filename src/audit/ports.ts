import type { Attributes, Span, SpanKind } from '@opentelemetry/api';
import type { AuditConfig } from '../config/config.js';
import type { SealedEvent } from '../integrity/chain.js';
import type { JsonObject } from '../record/canonical-json.js';
import type { RedactionResult } from '../redact/redactor.js';
import type { StreamRedactor } from '../redact/stream.js';
import type { AuditEventName } from '../semconv/events.js';
import type { CapturedContent } from './content.js';
import type { EmitOptions } from './event-log.js';
import type { AuditMetrics } from './metrics.js';

/**
 * What a turn, an execution and a generation use of the objects that create them. The session creates
 * turns and turns create executions and generations; these call back only through the small interfaces
 * here (AuditSession and AuditTurn implement them), so audit/ has no import circle.
 */

/** Errors recorded against a session or turn: where they came from decides how to read them. */
export type ErrorSource = 'execution' | 'llm' | 'server' | 'process' | 'protocol' | 'client' | 'audit';

export interface ErrorInfo {
  source: ErrorSource;
  message: string;
  /** Short machine-readable kind for `error.type` (e.g. `upstream_500`, `process_exit`). */
  type?: string;
}

export type TurnOutcome = 'complete' | 'stopped' | 'error' | 'refused' | 'interrupted';

/** The session as its turns, executions and generations see it. */
export interface SessionPort {
  readonly config: AuditConfig;
  readonly metrics: AuditMetrics;
  readonly rootSpan: Span;
  readonly conversationId: string;
  readonly isEnded: boolean;
  capture(field: keyof AuditConfig['capture'], text: string, redacted?: RedactionResult, count?: boolean): CapturedContent;
  captureStream(field: keyof AuditConfig['capture'], partChars: number): StreamRedactor;
  startChildSpan(name: string, parent: Span, attributes: Attributes, kind?: SpanKind): Span;
  emit(event: AuditEventName, span: Span, data: JsonObject, options?: EmitOptions): SealedEvent;
  recordError(error: ErrorInfo, span?: Span, extra?: JsonObject): void;
}

/** The turn as its executions and generations see it. */
export interface TurnPort {
  readonly index: number;
  readonly span: Span;
}
