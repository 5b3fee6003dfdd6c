/**
 * The gateway's security stream: events about clients rather than about one Open Interpreter session (failed
 * logins, refused origins, refused connections over a limit, malformed WebSocket frames, approvals by someone
 * not allowed to give them). They are recorded as `oi_audit.error` events (source `client`) in one audit
 * session of their own, user `oi-audit-gateway`, policy `gateway-security`: hash-chained and checkpointed like
 * any session, and ended (so it verifies) when the gateway closes.
 *
 * Nothing secret is recorded: a presented token appears only as a keyed pseudonym. Rate-limited per client
 * address (a flood of bad logins must not flood the audit): beyond `perAddress` events in a window, events are
 * counted and one `security_events_suppressed` event says how many.
 */
import type { AuditRecorder } from '../audit/recorder.js';
import type { AuditSession } from '../audit/session.js';
import type { JsonObject } from '../record/canonical-json.js';

export const SECURITY_STREAM_USER = 'oi-audit-gateway';
export const SECURITY_STREAM_POLICY = 'gateway-security';

export type SecurityEventType =
  | 'auth_failed'
  | 'origin_refused'
  | 'limit_refused'
  | 'malformed_frame'
  | 'approval_not_allowed'
  | 'client_disconnected_during_startup';

export interface SecurityStreamOptions {
  /** Events recorded per client address per window before they are only counted. Default 20. */
  perAddress?: number;
  /** Events recorded per window over all addresses. Default 200. */
  overall?: number;
  windowMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

export class SecurityStream {
  private readonly session: AuditSession;
  private readonly perAddress: number;
  private readonly overall: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private windowStart: number;
  private counts = new Map<string, number>();
  private total = 0;
  private suppressed = 0;

  constructor(
    private readonly recorder: AuditRecorder,
    options: SecurityStreamOptions = {},
  ) {
    this.perAddress = options.perAddress ?? 20;
    this.overall = options.overall ?? 200;
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
    this.session = recorder.openSession({ userId: SECURITY_STREAM_USER, policy: SECURITY_STREAM_POLICY });
  }

  get sessionId(): string {
    return this.session.id;
  }

  /** A keyed pseudonym of a presented credential: the same token gives the same value, and reveals nothing. */
  pseudonym(secret: string): string {
    return this.recorder.pseudonymizer.pseudonymize(`gateway-token:${secret}`);
  }

  /** Records one event, unless this address (or everyone) is over the window's budget. */
  record(type: SecurityEventType, address: string, message: string, extra: JsonObject = {}): void {
    if (this.session.isEnded) return;
    this.rollWindow();
    // Bounded map: beyond 10 000 addresses in a window, new ones share one budget.
    const key = this.counts.size < 10_000 || this.counts.has(address) ? address : '*';
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    if (count > this.perAddress || this.total >= this.overall) {
      this.suppressed++;
      return;
    }
    this.total++;
    this.session.recordError({ source: 'client', type, message }, undefined, { stream: 'gateway.security', client_address: address, ...extra });
  }

  private rollWindow(): void {
    if (this.now() - this.windowStart < this.windowMs) return;
    this.flushSuppressed();
    this.windowStart = this.now();
    this.counts = new Map();
    this.total = 0;
  }

  private flushSuppressed(): void {
    if (this.suppressed === 0) return;
    this.session.recordError(
      { source: 'client', type: 'security_events_suppressed', message: `${this.suppressed} more gateway security event(s) in this window were counted, not recorded (rate limit)` },
      undefined,
      { stream: 'gateway.security', suppressed: this.suppressed },
    );
    this.suppressed = 0;
  }

  /** Ends the stream (end event, final checkpoint). */
  close(): void {
    if (this.session.isEnded) return;
    this.flushSuppressed();
    this.session.end('complete');
  }
}
