import { ROOT_CONTEXT, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { SeverityNumber, type Logger } from '@opentelemetry/api-logs';
import type { JsonObject } from '../record/canonical-json.js';
import type { CheckpointReason, PendingCheckpoint, SealedEvent, SessionChain } from '../integrity/chain.js';
import { ATTR_EVENT_NAME, ATTR_EVENT_SEQ, ATTR_INTEGRITY_SCHEME } from '../semconv/attributes.js';
import { AUDIT_EVENTS, type AuditEventName } from '../semconv/events.js';

export type Severity = 'info' | 'warn' | 'error';

const SEVERITY_NUMBER: Record<Severity, SeverityNumber> = {
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};

const SEVERITY_TEXT: Record<Severity, string> = { info: 'INFO', warn: 'WARN', error: 'ERROR' };

export interface EmitOptions {
  severity?: Severity;
  /** Index attributes for this record (risk, language…); never free text. */
  attributes?: Attributes;
}

/** Called for every sealed event; errors thrown by it are swallowed (a hook must never break the host). */
export type SealedEventListener = (event: SealedEvent, attributes: Attributes) => void;

let isoMs = -1;
let isoText = '';

/** The current time as RFC 3339 with milliseconds; formatted once per millisecond, not per event. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** A record waiting, in seq order, behind a checkpoint whose signature is not made yet. */
interface Held {
  sealed?: SealedEvent;
  checkpoint?: PendingCheckpoint;
  span: Span;
  options: EmitOptions;
  timestamp: number;
}

/** Logs holding records when the process exits: their records are signed and handed over then. */
const holding = new Set<SessionEventLog>();
let exitHooked = false;

function hold(log: SessionEventLog): void {
  holding.add(log);
  if (exitHooked) return;
  exitHooked = true;
  // process.exit() (or the end of the program) before the microtask ran: sign and emit now, so a
  // synchronous exporter still writes them (an 'exit' listener runs synchronously).
  process.on('exit', releaseAllHeld);
}

/** Sign and emit every held record of every session now (the process 'exit' listener). */
export function releaseAllHeld(): void {
  for (const l of [...holding]) l.releaseHeld();
}

/**
 * One session's audit stream: seals each event into the hash chain, then emits it as a log record
 * tied to its span. The body is the canonical JSON string; attributes only index it.
 */
export class SessionEventLog {
  private lastEmitMs = Date.now();
  private lastCheckpointMs = Date.now();
  private eventsSinceCheckpoint = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** A due checkpoint waiting for the next turn of the event loop (see deferCheckpoint). */
  private deferred: NodeJS.Immediate | undefined;
  private deferredReason: CheckpointReason = 'count';
  private deferredSpan: Span | undefined;
  private closed = false;
  /** Scheme 3: records behind an unsigned checkpoint (the first item), released in order once it is signed. */
  private held: Held[] = [];
  private releasing = false;
  private releaseScheduled = false;
  /** Weak: a span that ended and is gone takes its context with it. */
  private readonly spanContexts = new WeakMap<Span, Context>();

  private readonly baseAttributes: Attributes;

  constructor(
    private readonly logger: Logger,
    private readonly chain: SessionChain,
    baseAttributes: Attributes,
    private readonly checkpointPolicy: { every: number; intervalMs: number; anchor: () => Span },
    private readonly listener?: SealedEventListener,
  ) {
    // The scheme tells the loss declarer which link (body hash or D) stands for a dropped record.
    this.baseAttributes = { ...baseAttributes, [ATTR_INTEGRITY_SCHEME]: chain.scheme };
    // Idle checkpoints: a session waiting for its user still seals what it has, so a crash during
    // the wait leaves a signed prefix. unref() keeps the timer from holding the process open.
    this.idleTimer = setInterval(() => this.onIdleTick(), Math.max(250, Math.floor(checkpointPolicy.intervalMs / 2)));
    this.idleTimer.unref();
  }

  get sessionId(): string {
    return this.chain.sessionId;
  }

  emit(event: AuditEventName, span: Span, data: JsonObject, options: EmitOptions = {}): SealedEvent {
    // Scheme 2: a checkpoint that fell due on the previous call and has not been sealed yet (the loop has
    // not turned) is sealed first, so it lands exactly where it would have: right after the event that made it due.
    this.flushDeferred();
    const sealed = this.sealAndSend(event, span, data, options);
    this.eventsSinceCheckpoint++;
    const now = Date.now();
    const every = this.checkpointPolicy.every;
    if (this.eventsSinceCheckpoint >= every || now - this.lastCheckpointMs >= this.checkpointPolicy.intervalMs || this.chain.checkpointDue(now)) {
      const reason = this.eventsSinceCheckpoint >= every ? 'count' : 'interval';
      if (this.chain.scheme === 3) this.checkpointSignedLater(reason, span);
      else this.deferCheckpoint(reason, span);
    }
    return sealed;
  }

  /**
   * Scheme 3: the checkpoint is sealed into the chain on the call (seq, link D, MAC, Merkle coverage: a few
   * hashes), and only its Ed25519 signature (~50-80 µs, the emitting call's p99) waits for a microtask, i.e.
   * until the host's current synchronous run ends. Events emitted meanwhile are sealed at once (their
   * `prev` is the checkpoint's D, which needs no signature) and their log records wait behind the
   * checkpoint's, so the exporter sees every record in seq order. At most one checkpoint is pending: a
   * second one falling due first releases the first (signing it on that call), so what waits is bounded
   * by one checkpoint interval. An explicit checkpoint, close(), idle tick or process exit releases too.
   */
  private checkpointSignedLater(reason: CheckpointReason, span: Span): void {
    if (this.held.length > 0) this.releaseHeld();
    const pending = this.chain.beginCheckpoint(reason, this.contextOf(span));
    this.eventsSinceCheckpoint = 0;
    this.lastCheckpointMs = Date.now();
    this.held.push({ checkpoint: pending, span, options: { severity: 'info' }, timestamp: this.lastCheckpointMs });
    hold(this);
    if (this.releaseScheduled) return;
    this.releaseScheduled = true;
    queueMicrotask(() => {
      this.releaseScheduled = false;
      try {
        this.releaseHeld();
      } catch (err) {
        // Off the host's call: report rather than throw into an unrelated microtask.
        process.emitWarning(`oi-audit: could not emit held audit records of session ${this.sessionId}: ${(err as Error).message}`);
      }
    });
  }

  /** Sign the pending checkpoint and hand it and the records behind it to the logger, in seq order. */
  releaseHeld(): void {
    if (this.releasing) return;
    this.releasing = true;
    try {
      while (this.held.length > 0) {
        const h = this.held.shift()!;
        this.send(h.checkpoint ? h.checkpoint.sign() : h.sealed!, h.span, h.options, h.timestamp);
      }
    } finally {
      this.releasing = false;
      holding.delete(this);
    }
  }

  /**
   * The Ed25519 signature of a checkpoint (~50 µs) was the emitting call's p99: a due checkpoint is sealed
   * after the call returns, in the next turn of the event loop, or at the start of the next emit (or
   * checkpoint, or close) if that comes first. Either way nothing is sealed between the event that made it
   * due and the checkpoint, so the chain is exactly what sealing it on the call gave (same seq, same
   * coverage, same reason); only the time it is signed moves, by at most one turn of the loop.
   */
  private deferCheckpoint(reason: CheckpointReason, span: Span): void {
    if (this.deferred) return;
    this.deferredReason = reason;
    this.deferredSpan = span;
    this.deferred = setImmediate(() => {
      this.deferred = undefined;
      if (!this.closed) this.checkpoint(reason, span);
    });
  }

  private flushDeferred(): void {
    if (!this.deferred) return;
    clearImmediate(this.deferred);
    this.deferred = undefined;
    this.checkpoint(this.deferredReason, this.deferredSpan);
  }

  /** Seal a signed checkpoint over the events since the last one (no-op when there are none). */
  checkpoint(reason: CheckpointReason, span: Span = this.checkpointPolicy.anchor()): SealedEvent | undefined {
    this.flushDeferred();
    this.releaseHeld();
    if (!this.chain.hasUncheckpointedEvents()) return undefined;
    const ctx = this.contextOf(span);
    const sealed = this.chain.sealCheckpoint(reason, ctx);
    this.send(sealed, span, { severity: 'info' });
    this.eventsSinceCheckpoint = 0;
    this.lastCheckpointMs = Date.now();
    return sealed;
  }

  /** Final checkpoint and timer teardown; the session-end event must already be emitted. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.idleTimer);
    this.checkpoint('end');
  }

  private onIdleTick(): void {
    if (this.closed) return;
    const now = Date.now();
    if (now - this.lastEmitMs >= this.checkpointPolicy.intervalMs / 2 && this.chain.hasUncheckpointedEvents()) {
      this.checkpoint('idle');
    }
  }

  /** The log record's context (its span): one per span, not one per event. */
  private contextFor(span: Span): Context {
    let ctx = this.spanContexts.get(span);
    if (!ctx) {
      ctx = trace.setSpan(ROOT_CONTEXT, span);
      this.spanContexts.set(span, ctx);
    }
    return ctx;
  }

  private contextOf(span: Span) {
    const sc = span.spanContext();
    return { ts: isoNow(), traceId: sc.traceId, spanId: sc.spanId };
  }

  private sealAndSend(event: AuditEventName, span: Span, data: JsonObject, options: EmitOptions): SealedEvent {
    if (this.closed && event !== AUDIT_EVENTS.integrityCheckpoint) {
      throw new Error(`audit session ${this.sessionId} is closed; cannot record ${event}`);
    }
    const sealed = this.chain.seal(event, data, this.contextOf(span));
    if (this.held.length > 0 || this.releasing) this.held.push({ sealed, span, options, timestamp: Date.now() });
    else this.send(sealed, span, options);
    return sealed;
  }

  private send(sealed: SealedEvent, span: Span, options: EmitOptions, timestamp = Date.now()): void {
    this.lastEmitMs = timestamp;
    const attributes: Attributes = {
      ...this.baseAttributes,
      ...options.attributes,
      [ATTR_EVENT_NAME]: sealed.event,
      [ATTR_EVENT_SEQ]: sealed.seq,
    };
    const severity = options.severity ?? 'info';
    this.logger.emit({
      eventName: sealed.event,
      timestamp: this.lastEmitMs,
      severityNumber: SEVERITY_NUMBER[severity],
      severityText: SEVERITY_TEXT[severity],
      body: sealed.body,
      attributes,
      context: this.contextFor(span),
    });
    if (this.listener) {
      try {
        this.listener(sealed, attributes);
      } catch {
        // A user hook must never break the audited call.
      }
    }
  }
}
