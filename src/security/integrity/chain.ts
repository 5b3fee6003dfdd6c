import { canonicalize, type JsonObject } from '../canonical-json.js';
import { GENESIS_HASH, sha256Hex } from '../hash.js';
import { AUDIT_EVENTS, type AuditEventName } from '../../semconv/events.js';

/** Where an event sits in the trace, and when it happened. */
export interface EventContext {
  /** RFC 3339 UTC timestamp with milliseconds. */
  ts: string;
  traceId: string;
  spanId: string;
}

/** One event as it leaves the chain: its canonical body is the evidence. */
export interface SealedEvent {
  seq: number;
  event: AuditEventName;
  /** RFC 8785 canonical JSON of the whole body, `mac` included. */
  body: string;
  /** SHA-256 of `body`: the next event's `prev`, and this event's Merkle leaf. */
  hash: string;
}

export interface SessionChainOptions {
  sessionId: string;
}

/** Body schema version. Bump when a field changes meaning. */
export const BODY_VERSION = 1;

/**
 * Per-session hash chain: each body carries `seq` and `prev` (the SHA-256 of the previous body),
 * so any edit, deletion or reordering breaks the chain at a named sequence number.
 */
export class SessionChain {
  readonly sessionId: string;
  private nextSeq = 0;
  private prevHash = GENESIS_HASH;
  private checkpointFrom = 0;

  constructor(options: SessionChainOptions) {
    this.sessionId = options.sessionId;
  }

  /** Integrity material published in the session-start event so a verifier can check the stream. */
  sessionStartData(): JsonObject {
    return { chain: 'sha256' };
  }

  seal(event: AuditEventName, data: JsonObject, ctx: EventContext): SealedEvent {
    const seq = this.nextSeq++;
    const unsigned: JsonObject = {
      v: BODY_VERSION,
      session: this.sessionId,
      seq,
      prev: this.prevHash,
      ts: ctx.ts,
      event,
      trace_id: ctx.traceId,
      span_id: ctx.spanId,
      data,
      mac: null,
    };
    const body = canonicalize(unsigned);
    const hash = sha256Hex(body);
    this.prevHash = hash;
    return { seq, event, body, hash };
  }

  /** Whether a checkpoint is owed (count or time based). */
  checkpointDue(_nowMs: number): boolean {
    return false;
  }

  /** True when events were sealed since the last checkpoint. */
  hasUncheckpointedEvents(): boolean {
    return this.nextSeq > this.checkpointFrom;
  }

  /** Seal a checkpoint over every event since the previous one. */
  sealCheckpoint(reason: CheckpointReason, ctx: EventContext): SealedEvent {
    const data: JsonObject = { reason, from_seq: this.checkpointFrom, to_seq: this.nextSeq - 1 };
    this.checkpointFrom = this.nextSeq + 1;
    return this.seal(AUDIT_EVENTS.integrityCheckpoint, data, ctx);
  }
}

export type CheckpointReason = 'count' | 'interval' | 'idle' | 'end';
