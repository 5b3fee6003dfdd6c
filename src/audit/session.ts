import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { Logger } from '@opentelemetry/api-logs';
import type { AuditConfig, CaptureMode } from '../config/config.js';
import type { JsonObject, JsonValue } from '../record/canonical-json.js';
import { escapeForLog } from '../record/escape.js';
import type { SessionChain } from '../integrity/chain.js';
import type { Redactor } from '../redact/redactor.js';
import * as A from '../semconv/attributes.js';
import { AUDIT_EVENTS } from '../semconv/events.js';
import { captureContent, type CapturedContent } from './content.js';
import type { AuditMetrics } from './metrics.js';
import type { RedactionResult } from '../redact/redactor.js';
import { StreamRedactor } from '../redact/stream.js';
import { SessionEventLog, type EmitOptions, type SealedEventListener } from './event-log.js';
import { indexRiskFromBody } from './risk-index.js';
import { AuditTurn } from './turn.js';

export interface OpenSessionOptions {
  /** The user's id in the host application; only its keyed pseudonym is ever recorded. */
  userId: string;
  sessionId?: string;
  clientAddress?: string;
  roles?: string[];
  /** Model name as configured for Open Interpreter. */
  model?: string;
  /** Approval policy name (`all`, `none`, `policy`, …). */
  policy?: string;
  autoRun?: boolean;
  openInterpreterVersion?: string;
  /** Marks sessions rebuilt by `oi-audit import` from saved conversations. */
  imported?: boolean;
  /** How the session's interpreter is contained and observed (recorded on the start event and root span). */
  containment?: { sandbox: string; network: string; groundTruth: string };
  /** The agent driving the session when it is not the classic Open Interpreter (`--agent rust`). */
  agent?: AgentInfo;
}

/** Which agent binary a session runs: recorded on the session start and the root span. */
export interface AgentInfo {
  /** gen_ai.agent.name, e.g. `codex` or `open-interpreter-rust`. */
  name: string;
  version: string;
  /** `codex` or `interpreter`. */
  kind: string;
  /** Path of the binary run. */
  binary: string;
}

export type SessionOutcome = 'complete' | 'error' | 'aborted' | 'process_died';

export interface SessionContext {
  sessionId: string;
  options: OpenSessionOptions;
  tracer: Tracer;
  logger: Logger;
  chain: SessionChain;
  config: AuditConfig;
  redactor: Redactor;
  metrics: AuditMetrics;
  userPseudonym: string;
  listener?: SealedEventListener | undefined;
  onClosed: () => void;
}

/** Errors recorded against a session or turn: where they came from decides how to read them. */
export type ErrorSource = 'execution' | 'llm' | 'server' | 'process' | 'protocol' | 'client' | 'audit';

export interface ErrorInfo {
  source: ErrorSource;
  message: string;
  /** Short machine-readable kind for `error.type` (e.g. `upstream_500`, `process_exit`). */
  type?: string;
}

/**
 * One Open Interpreter conversation = one trace. The root span lives from open to end; every event
 * of the session is sealed into one hash chain.
 */
export class AuditSession {
  readonly id: string;
  readonly userPseudonym: string;
  readonly rootSpan: Span;
  readonly log: SessionEventLog;
  private readonly ctx: SessionContext;
  private turns: AuditTurn[] = [];
  private currentTurn: AuditTurn | undefined;
  private ended = false;
  private errorCount = 0;
  private readonly startedAt = Date.now();
  private conversation: string;

  constructor(ctx: SessionContext) {
    this.ctx = ctx;
    this.id = ctx.sessionId;
    this.conversation = ctx.sessionId;
    this.userPseudonym = ctx.userPseudonym;
    const o = ctx.options;
    const agentName = o.agent?.name ?? A.GEN_AI_AGENT_NAME_VALUE;
    const attributes: Attributes = {
      [A.ATTR_SESSION_ID]: this.id,
      [A.ATTR_GEN_AI_CONVERSATION_ID]: this.id,
      [A.ATTR_GEN_AI_AGENT_NAME]: agentName,
      [A.ATTR_GEN_AI_OPERATION_NAME]: A.GEN_AI_OPERATION_INVOKE_AGENT,
      [A.ATTR_ENDUSER_PSEUDO_ID]: this.userPseudonym,
      [A.ATTR_AUTO_RUN]: o.autoRun ?? false,
    };
    if (o.clientAddress) attributes[A.ATTR_CLIENT_ADDRESS] = o.clientAddress;
    if (o.roles?.length) attributes[A.ATTR_USER_ROLES] = o.roles;
    if (o.model) attributes[A.ATTR_GEN_AI_REQUEST_MODEL] = o.model;
    if (o.policy) attributes[A.ATTR_POLICY] = o.policy;
    if (o.openInterpreterVersion) attributes[A.ATTR_OI_VERSION] = o.openInterpreterVersion;
    if (o.imported) attributes[A.ATTR_IMPORTED] = true;
    if (o.agent) {
      attributes[A.ATTR_GEN_AI_AGENT_VERSION] = o.agent.version;
      attributes[A.ATTR_AGENT_KIND] = o.agent.kind;
    }
    if (o.containment) {
      attributes[A.ATTR_SANDBOX_MODE] = o.containment.sandbox;
      attributes[A.ATTR_SANDBOX_NETWORK] = o.containment.network;
      attributes[A.ATTR_GROUND_TRUTH] = o.containment.groundTruth;
    }
    this.rootSpan = ctx.tracer.startSpan(
      `${A.GEN_AI_OPERATION_INVOKE_AGENT} ${agentName}`,
      // INTERNAL: the agent runs in this process (the GenAI agent conventions allow CLIENT or INTERNAL).
      { root: true, kind: SpanKind.INTERNAL, attributes },
    );
    this.log = new SessionEventLog(
      ctx.logger,
      ctx.chain,
      { [A.ATTR_SESSION_ID]: this.id, [A.ATTR_ENDUSER_PSEUDO_ID]: this.userPseudonym },
      { every: ctx.config.checkpointEvery, intervalMs: ctx.config.checkpointIntervalMs, anchor: () => this.rootSpan },
      ctx.listener,
    );
    const data: JsonObject = {
      user: this.userPseudonym,
      agent: agentName,
      auto_run: o.autoRun ?? false,
      capture: { ...ctx.config.capture },
      redaction_rules: ctx.redactor.version,
      integrity: ctx.chain.sessionStartData(),
    };
    if (o.clientAddress) data.client_address = o.clientAddress;
    if (o.roles?.length) data.roles = [...o.roles];
    if (o.model) data.model = o.model;
    if (o.policy) data.policy = o.policy;
    if (o.openInterpreterVersion) data.open_interpreter_version = o.openInterpreterVersion;
    if (o.imported) data.imported = true;
    if (o.agent) data.agent_binary = { name: o.agent.name, version: o.agent.version, kind: o.agent.kind, path: o.agent.binary };
    if (o.containment) data.sandbox = { mode: o.containment.sandbox, network: o.containment.network, ground_truth: o.containment.groundTruth };
    this.log.emit(AUDIT_EVENTS.sessionStart, this.rootSpan, data);
  }

  /** gen_ai.conversation.id: the session id, unless the agent has its own conversation id (bindConversation). */
  get conversationId(): string {
    return this.conversation;
  }

  /**
   * The agent's own id for this conversation (the Rust agent's thread id, known only once its thread started):
   * from now on it is the gen_ai.conversation.id of the root span and of every generation.
   */
  bindConversation(id: string): void {
    this.assertOpen('conversation id');
    this.conversation = id;
    this.rootSpan.setAttribute(A.ATTR_GEN_AI_CONVERSATION_ID, id);
  }

  get config(): AuditConfig {
    return this.ctx.config;
  }

  get metrics(): AuditMetrics {
    return this.ctx.metrics;
  }

  get tracer(): Tracer {
    return this.ctx.tracer;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get turnCount(): number {
    return this.turns.length;
  }

  /** The turn in progress, if any (the LLM proxy attaches generations to it). */
  get activeTurn(): AuditTurn | undefined {
    return this.currentTurn && !this.currentTurn.isEnded ? this.currentTurn : undefined;
  }

  /**
   * Capture one content field under this session's policy. `redacted`: the text's redaction, already made
   * (stream parts redacted across their cuts); `count`: add its redactions to the metrics.
   */
  capture(field: keyof AuditConfig['capture'], text: string, redacted?: RedactionResult, count = true): CapturedContent {
    const mode: CaptureMode = this.ctx.config.capture[field];
    const captured = captureContent(text, { mode, redactor: this.ctx.redactor, maxBytes: this.ctx.config.maxContentBytes }, redacted);
    if (count && captured.redactions) this.ctx.metrics.redacted(captured.redactions as Record<string, number>);
    return captured;
  }

  /** A stream of one content field (command output) cut into parts, redacted across the cuts when the field is. */
  captureStream(field: keyof AuditConfig['capture'], partChars: number): StreamRedactor {
    const mode: CaptureMode = this.ctx.config.capture[field];
    return new StreamRedactor(mode === 'redacted' ? this.ctx.redactor : undefined, partChars);
  }

  /** Start a child span of `parent` in this session's trace. */
  startChildSpan(name: string, parent: Span, attributes: Attributes, kind: SpanKind = SpanKind.INTERNAL): Span {
    const parentContext = trace.setSpan(context.active(), parent);
    return this.ctx.tracer.startSpan(name, { kind, attributes: { [A.ATTR_SESSION_ID]: this.id, ...attributes } }, parentContext);
  }

  emit(event: Parameters<SessionEventLog['emit']>[0], span: Span, data: JsonObject, options?: EmitOptions) {
    this.assertOpen(event);
    return this.log.emit(event, span, data, indexRiskFromBody(data, options));
  }

  /** A user turn begins: the prompt span opens and the user input is recorded. */
  startTurn(input: string, extra: JsonObject = {}): AuditTurn {
    this.assertOpen('turn');
    this.currentTurn?.end('interrupted');
    const turn = new AuditTurn(this, this.turns.length, input, extra);
    this.turns.push(turn);
    this.currentTurn = turn;
    return turn;
  }

  /** An attempt to change a setting that would weaken the audit, refused. */
  recordSettingsRefused(setting: string, reason: string, attempted?: JsonValue): void {
    // The key can come from a gateway client: recorded escaped, like any captured text.
    const data: JsonObject = { setting: escapeForLog(setting), reason };
    if (attempted !== undefined) data.attempted = this.capture('userInput', JSON.stringify(attempted));
    this.emit(AUDIT_EVENTS.settingsRefused, this.activeTurn?.span ?? this.rootSpan, data, { severity: 'warn' });
  }

  /** Records that audit events were lost (spool full, sink down): a declared gap, not a silent one. */
  recordLoss(lost: number, reason: string, extra: JsonObject = {}): void {
    this.emit(AUDIT_EVENTS.auditLoss, this.rootSpan, { lost, reason, ...extra }, { severity: 'error' });
  }

  /** The sink rotated a file or deleted one by retention (a maintenance session): deletion is evidenced, not silent. */
  recordMaintenance(data: JsonObject): void {
    this.emit(AUDIT_EVENTS.sinkMaintenance, this.rootSpan, data);
  }

  /** An error not tied to one turn (or tied to the span given). */
  recordError(error: ErrorInfo, span: Span = this.activeTurn?.span ?? this.rootSpan, extra: JsonObject = {}): void {
    this.errorCount++;
    const data: JsonObject = { source: error.source, message: this.capture('output', error.message), ...extra };
    if (error.type) data.type = error.type;
    const attributes: Attributes = {};
    if (error.type) attributes[A.ATTR_ERROR_TYPE] = error.type;
    this.emit(AUDIT_EVENTS.error, span, data, { severity: 'error', attributes });
    if (span !== this.rootSpan) span.setAttribute(A.ATTR_ERROR_TYPE, error.type ?? error.source);
  }

  /** End the session: open turns end, the end event and a final checkpoint are sealed, the root span ends. */
  end(outcome: SessionOutcome = 'complete', extra: JsonObject = {}): void {
    if (this.ended) return;
    this.currentTurn?.end(outcome === 'complete' ? 'complete' : 'error');
    const data: JsonObject = {
      outcome,
      turns: this.turns.length,
      errors: this.errorCount,
      duration_ms: Date.now() - this.startedAt,
      ...extra,
    };
    this.log.emit(AUDIT_EVENTS.sessionEnd, this.rootSpan, data, { severity: outcome === 'complete' ? 'info' : 'warn' });
    this.ended = true;
    this.log.close();
    this.rootSpan.setAttribute(A.ATTR_SESSION_OUTCOME, outcome);
    if (outcome !== 'complete') this.rootSpan.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    this.rootSpan.end();
    this.ctx.onClosed();
  }

  private assertOpen(what: string): void {
    if (this.ended) throw new Error(`audit session ${this.id} has ended; cannot record ${what}`);
  }
}
