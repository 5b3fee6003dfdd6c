/** Types of the verification report (src/verify/verify.ts re-exports them). */
import { MAX_LOST_PER_DECLARATION } from '../record/loss-ranges.js';

/** Where a record was read from. */
export interface RecordSource {
  file: string;
  line: number;
  /**
   * false: the store does not keep arrival order (a Loki query answer, where records with equal
   * timestamps come back in any order), so the position of a record in it is no evidence.
   */
  ordered?: boolean;
}

/** One log body as read, and where it came from. A src/read LogEntry is structurally one of these. */
export interface ParsedRecord {
  /** The log record body: the canonical JSON audit event, verbatim. */
  body: string;
  source?: RecordSource;
  /**
   * The session the transport filed this record under (log attribute `session.id`, a Loki stream
   * label, a per-session file). When it disagrees with the body's `session`, the record is foreign.
   */
  sessionHint?: string;
  /** Log record attributes; `session.id` is used as sessionHint when that is not given. */
  attributes?: Record<string, unknown>;
}

export interface VerifyOptions {
  /** The master MAC seed. With it, every record must carry a MAC that verifies, or the session is invalid. */
  macSeed?: Buffer;
  /**
   * Ed25519 public keys the checkpoints must be signed with (raw base64 as in session-start events,
   * base64 SPKI DER, or SPKI PEM). With them, every record must be covered by a checkpoint signed
   * by one of them. Without them, signatures are checked against the key the stream publishes
   * itself, which proves consistency, not origin.
   */
  trustedPublicKeys?: string[];
  /** Report a time_gap when consecutive events are further apart than this (ms). */
  maxGapMs?: number;
  /** The store does not keep arrival order (e.g. a Collector queue with several consumers): reordering is a warning. */
  allowReorder?: boolean;
  /** Sessions still running: a missing end is a warning (`open`), not `truncated`. */
  allowOpen?: boolean;
  /**
   * Neither a MAC seed nor a pinned key: the report says what could not be checked either way; by
   * default that is an error (`unauthenticated`), with this a warning.
   */
  allowUnauthenticated?: boolean;
}

export type Severity = 'error' | 'warning' | 'info';

export type ProblemCode =
  | 'malformed'
  | 'not_canonical'
  | 'hash_mismatch'
  | 'bad_mac'
  | 'bad_commitment'
  | 'mac_not_checked'
  | 'bad_signature'
  | 'untrusted_key'
  | 'key_not_pinned'
  | 'merkle_mismatch'
  | 'checkpoint_chain'
  | 'bad_checkpoint'
  | 'unverifiable_checkpoint'
  | 'uncovered'
  | 'missing'
  | 'missing_start'
  | 'deleted_by_retention'
  | 'declared_loss'
  | 'forged_loss'
  | 'loss_mismatch'
  | 'conflict'
  | 'duplicate'
  | 'reordered'
  | 'truncated'
  | 'open'
  | 'after_end'
  | 'time_gap'
  | 'clock_skew'
  | 'foreign_record'
  | 'unauthenticated'
  | 'scheme_v1'
  | 'limit';

export interface Problem {
  code: ProblemCode;
  severity: Severity;
  message: string;
  /** The record concerned. */
  seq?: number;
  /** A range of seqs (missing a..b, a time gap between a and b). */
  from?: number;
  to?: number;
  /** For `missing`: the gap is covered by an authenticated `oi_audit.audit.loss` event. */
  declared?: boolean;
  /** How many times it occurred, for problems reported once (duplicates, reordering). */
  count?: number;
  source?: RecordSource;
}

export interface SessionReport {
  session: string;
  /** `invalid` when any problem has severity error. */
  status: 'valid' | 'invalid';
  /** Integrity scheme the session start names (1 when it names none); undefined without a start. */
  scheme?: number;
  /** What authenticated the records: the MAC seed, pinned public keys, both, or nothing. */
  authenticatedBy: 'mac+pinned_key' | 'mac' | 'pinned_key' | 'none';
  /** Distinct seqs present. */
  records: number;
  firstSeq?: number;
  lastSeq?: number;
  firstTs?: string;
  lastTs?: string;
  /** A session-end event is present. */
  ended: boolean;
  /** Ended, and the end is covered by a signed checkpoint. */
  complete: boolean;
  checkpoints: number;
  /** Checkpoints whose signature verified. */
  signaturesValid: number;
  /** Checkpoints whose Merkle root was recomputed and matched. */
  merkleRootsValid: number;
  /** `checked`: every present record's MAC was verified with the seed. */
  mac: 'checked' | 'not_checked' | 'wrong_seed';
  macsValid: number;
  publicKey?: string;
  keyId?: string;
  /** true: pinned key; false: key not in the trusted list; undefined: no list given. */
  keyTrusted?: boolean;
  duplicates: number;
  /** Seq ranges absent from the input. */
  missing: Array<{ from: number; to: number; declared: boolean }>;
  /** Events declared lost by authenticated `oi_audit.audit.loss` events (with or without seq ranges). */
  declaredLost: number;
  problems: Problem[];
  sources: string[];
}

/** Bounds on the work hostile input can cause (stated in `oi-audit verify --help`). */
export const VERIFY_LIMITS = Object.freeze({
  /** Seqs beyond this are not MAC-checked (the ratchet is walked one HMAC per seq). */
  maxMacSeq: 1_000_000,
  /** Largest seed index a session may name (the seed ratchet is walked one HMAC per step). */
  maxSeedIndex: 1_000_000,
  /** Most leaf hashes one loss declaration may carry (the writer splits larger losses). */
  maxLostPerDeclaration: MAX_LOST_PER_DECLARATION,
});
