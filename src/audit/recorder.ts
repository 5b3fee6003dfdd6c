import { randomUUID } from 'node:crypto';
import { trace, type Attributes, type TracerProvider } from '@opentelemetry/api';
import { logs, type LoggerProvider } from '@opentelemetry/api-logs';
import { resolveConfig, type AuditConfig, type AuditConfigInput } from '../config/config.js';
import { createChainFactory, loadIntegrityKeys, type SessionChain } from '../integrity/chain.js';
import { loadPseudonymizer, type Pseudonymizer } from '../redact/pseudonym.js';
import { createDefaultRedactor } from '../redact/rules.js';
import type { Redactor } from '../redact/redactor.js';
import { INSTRUMENTATION_SCOPE } from '../semconv/attributes.js';
import { VERSION } from '../version.js';
import { AuditMetrics } from './metrics.js';
import type { SealedEventListener } from './event-log.js';
import { AuditSession, type OpenSessionOptions } from './session.js';

export interface AuditRecorderOptions {
  config?: AuditConfigInput;
  /** Defaults to the global provider (set by register()). */
  tracerProvider?: TracerProvider;
  /** Defaults to the global provider (set by register()). */
  loggerProvider?: LoggerProvider;
  redactor?: Redactor;
  pseudonymizer?: Pseudonymizer;
  /** Builds each session's integrity chain (keys, checkpoints). */
  chainFactory?: (sessionId: string) => SessionChain;
  /** Metric instruments (register() gives its private meter's); default: no metrics. */
  metrics?: AuditMetrics;
  /** Sees every sealed event (for spools, tests, live views). Wrapped: it can never break the host. */
  onEvent?: SealedEventListener;
}

/**
 * Entry point of the library API: one recorder per process, one AuditSession per Open Interpreter
 * conversation. Sessions are tracked so shutdown can end what is still open.
 */
export class AuditRecorder {
  readonly config: AuditConfig;
  readonly redactor: Redactor;
  readonly pseudonymizer: Pseudonymizer;
  readonly metrics: AuditMetrics;
  private readonly options: AuditRecorderOptions;
  private readonly chainFactory: (sessionId: string) => SessionChain;
  private readonly openSessions = new Map<string, AuditSession>();

  constructor(options: AuditRecorderOptions = {}) {
    this.options = options;
    this.config = resolveConfig(options.config);
    this.redactor = options.redactor ?? createDefaultRedactor();
    this.metrics = options.metrics ?? new AuditMetrics();
    // Keys from OI_AUDIT_* env/files; without them, per-process keys (see docs/integrity.md for what that proves).
    this.pseudonymizer = options.pseudonymizer ?? loadPseudonymizer();
    this.chainFactory = options.chainFactory ?? createChainFactory(loadIntegrityKeys());
  }

  openSession(options: OpenSessionOptions): AuditSession {
    const sessionId = options.sessionId ?? randomUUID();
    if (this.openSessions.has(sessionId)) throw new Error(`audit session ${sessionId} is already open`);
    const tracer = (this.options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_SCOPE, VERSION);
    const logger = (this.options.loggerProvider ?? logs.getLoggerProvider()).getLogger(INSTRUMENTATION_SCOPE, VERSION);
    const chain = this.chainFactory(sessionId);
    const session = new AuditSession({
      sessionId,
      options,
      tracer,
      logger,
      chain,
      config: this.config,
      redactor: this.redactor,
      metrics: this.metrics,
      userPseudonym: this.pseudonymizer.pseudonymize(options.userId),
      listener: this.options.onEvent,
      onClosed: () => this.openSessions.delete(sessionId),
    });
    this.openSessions.set(sessionId, session);
    return session;
  }

  /** Sessions not yet ended. */
  get activeSessions(): AuditSession[] {
    return [...this.openSessions.values()];
  }

  /** End every open session (outcome `aborted`), e.g. on shutdown, so no stream is left without an end. */
  endAll(reason = 'shutdown'): void {
    for (const session of this.activeSessions) session.end('aborted', { reason });
  }
}

export type { Attributes };
