import { canonicalize, type JsonObject } from '../record/canonical-json.js';
import { GENESIS_HASH, sha256 } from './hash.js';
import { linkDigestOfUnsigned } from './link.js';
import { AUDIT_EVENTS, type AuditEventName } from '../semconv/events.js';
import { BODY_VERSION, canonicalizeLenient, macInput, splitBody, withMac } from '../record/body.js';
import { SIGNATURE_ALG, signText, type CheckpointData, type CheckpointReason } from './checkpoint.js';
import {
  deriveSessionMacKey,
  ephemeralIntegrityKeys,
  macCommitment,
  MAC_KDF_SALT,
  SEED_RATCHET_LABEL,
  SeedRatchet,
  type IntegrityKeys,
  type MacSeed,
} from '../keys/integrity-keys.js';
import { MerkleAccumulator } from './merkle.js';
import { MacRatchet, RATCHET_LABEL } from './ratchet.js';

export { BODY_VERSION } from '../record/body.js';

/**
 * Integrity scheme published in every session start (docs/integrity.md §10). 2: loss declarations
 * commit to the hashes of what they declare lost (`lost_ranges`); a start without `scheme` is v1.
 * 3: one SHA-256 of the body with `mac` null (and a checkpoint's `sig` blank), D, is the chain link
 * and the Merkle leaf input, and the MAC is HMAC(k_i, D).
 */
export const INTEGRITY_SCHEME = 3;
export type IntegrityScheme = 2 | 3;
export type { CheckpointReason } from './checkpoint.js';

/**
 * A checkpoint already in the chain (its seq, link, MAC and coverage fixed) whose signature may be made
 * later. sign() returns the complete event; it is idempotent.
 */
export interface PendingCheckpoint {
  seq: number;
  hash: string;
  sign(): SealedEvent;
}

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
  /**
   * The chain link: the next event's `prev` and this event's Merkle leaf input. Scheme 2: SHA-256
   * of `body`; scheme 3: D, the SHA-256 of the body with `mac` null (a checkpoint's `sig` blank).
   */
  hash: string;
}

export interface SessionChainOptions {
  sessionId: string;
  /** MAC seed and signing key. Default: keys generated once per process (see docs/integrity.md). */
  keys?: IntegrityKeys;
  /** When set, checkpointDue() is true after this many events since the last checkpoint. */
  checkpointEvery?: number;
  /** When set, checkpointDue() is true this long after the last checkpoint if events are pending. */
  checkpointIntervalMs?: number;
  /** Clock for the interval (ms). Default Date.now. */
  now?: () => number;
  /** Scheme to write (default INTEGRITY_SCHEME); 2 only to produce trails of the previous writer. */
  scheme?: IntegrityScheme;
}

/** Algorithm names published in the session-start event. */
export const INTEGRITY_ALGORITHMS = Object.freeze({
  chain: 'sha256',
  canonicalization: 'rfc8785',
  mac: 'hmac-sha256',
  mac_seed_ratchet: `seed[j+1]=hmac-sha256(seed[j],"${SEED_RATCHET_LABEL}") per session`,
  mac_kdf: `hkdf-sha256(ikm=seed[mac_seed_index],salt="${MAC_KDF_SALT}",info=session)`,
  mac_ratchet: `k[i+1]=hmac-sha256(k[i],"${RATCHET_LABEL}") per event`,
  mac_commitment: 'sha256(hmac-sha256(k0,"commit"))',
  merkle: 'rfc6962-sha256',
  signature: SIGNATURE_ALG,
});

/** One seed ratchet per configured seed, shared by every chain built on it. */
const seedRatchets = new WeakMap<MacSeed, SeedRatchet>();

/**
 * seed[j] for a new session. The first use moves the configured seed into the ratchet and zeroes
 * `keys.macSeed.secret`: from then on only the evolving state is in memory.
 */
function takeSessionSeed(keys: IntegrityKeys): { index: number; seed: Buffer } {
  let r = seedRatchets.get(keys.macSeed);
  if (!r) {
    r = new SeedRatchet(keys.macSeed.secret);
    keys.macSeed.secret.fill(0);
    seedRatchets.set(keys.macSeed, r);
  }
  return r.take();
}

/**
 * Per-session integrity chain. Every body carries `seq` and `prev` (SHA-256 of the previous body), so
 * an edit, deletion or reordering breaks the chain at a named seq; `mac` is HMAC-SHA256 under a key
 * that ratchets forward per event (the old key is erased), so taking the host later does not allow
 * forging what was already written; checkpoints carry an RFC 6962 Merkle root over the events since
 * the previous checkpoint, link to that checkpoint, and are signed with Ed25519.
 */
export class SessionChain {
  readonly sessionId: string;
  private readonly keys: IntegrityKeys;
  private readonly ratchet: MacRatchet;
  private readonly commitment: string;
  private readonly seedIndex: number;
  private readonly options: SessionChainOptions;
  private readonly now: () => number;
  readonly scheme: IntegrityScheme;
  private nextSeq = 0;
  private prevHash = GENESIS_HASH;
  private checkpointFrom = 0;
  private readonly pending = new MerkleAccumulator();
  private prevCheckpoint = GENESIS_HASH;
  private lastCheckpointMs: number;
  private closed = false;

  constructor(options: SessionChainOptions) {
    // Fails early (not in the first seal) on a session id RFC 8785 cannot carry.
    canonicalize(options.sessionId);
    this.sessionId = options.sessionId;
    this.options = options;
    this.keys = options.keys ?? ephemeralIntegrityKeys();
    this.now = options.now ?? Date.now;
    this.scheme = options.scheme ?? INTEGRITY_SCHEME;
    this.lastCheckpointMs = this.now();
    const { index, seed } = takeSessionSeed(this.keys);
    this.seedIndex = index;
    const k0 = deriveSessionMacKey(seed, options.sessionId);
    seed.fill(0);
    this.commitment = macCommitment(k0);
    this.ratchet = new MacRatchet(k0);
    k0.fill(0);
  }

  /** Integrity material published in the session-start event so a verifier can check the stream. */
  sessionStartData(): JsonObject {
    const data: JsonObject = {
      ...INTEGRITY_ALGORITHMS,
      scheme: this.scheme,
      body_version: BODY_VERSION,
      mac_seed_id: this.keys.macSeed.id,
      mac_seed_index: this.seedIndex,
      mac_commitment: this.commitment,
      public_key: this.keys.signing.publicKeyRaw,
      key_id: this.keys.signing.keyId,
    };
    if (this.keys.macSeed.ephemeral) data.mac_seed_ephemeral = true;
    if (this.keys.signing.ephemeral) data.signing_key_ephemeral = true;
    if (this.options.checkpointEvery) data.checkpoint_every = this.options.checkpointEvery;
    if (this.options.checkpointIntervalMs) data.checkpoint_interval_ms = this.options.checkpointIntervalMs;
    return data;
  }

  /** Seq the next sealed event will get. */
  get seq(): number {
    return this.nextSeq;
  }

  /** SHA-256 of the last sealed body (the next `prev`). */
  get head(): string {
    return this.prevHash;
  }

  seal(event: AuditEventName, data: JsonObject, ctx: EventContext): SealedEvent {
    return this.sealCanonical(event, canonicalizeLenient(data).text, ctx);
  }

  /** Whether a checkpoint is owed (count or time based, when this chain was given a policy). */
  checkpointDue(nowMs: number): boolean {
    const pending = this.nextSeq - this.checkpointFrom;
    if (pending <= 0) return false;
    const every = this.options.checkpointEvery;
    if (every !== undefined && pending >= every) return true;
    const interval = this.options.checkpointIntervalMs;
    return interval !== undefined && nowMs - this.lastCheckpointMs >= interval;
  }

  /** True when events were sealed since the last checkpoint. */
  hasUncheckpointedEvents(): boolean {
    return this.nextSeq > this.checkpointFrom;
  }

  /**
   * Seal a signed checkpoint over every event since the previous one. With reason `end`, the MAC key
   * is erased afterwards and the chain accepts no more events.
   */
  sealCheckpoint(reason: CheckpointReason, ctx: EventContext): SealedEvent {
    return this.beginCheckpoint(reason, ctx).sign();
  }

  /**
   * Seal a checkpoint into the chain now and sign it later. Scheme 3: the chain link, the MAC and the
   * Merkle state do not depend on the signature (D is taken with `sig` blank), so the chain moves on at
   * once and sign() (Ed25519, the costly part) may run after the emitting call returns. Scheme 2: the
   * link is the hash of the signed body, so the signature is made here and sign() only returns it.
   */
  beginCheckpoint(reason: CheckpointReason, ctx: EventContext): PendingCheckpoint {
    this.assertOpen(AUDIT_EVENTS.integrityCheckpoint);
    const seq = this.nextSeq;
    const data: CheckpointData = {
      reason,
      from_seq: this.checkpointFrom,
      to_seq: seq - 1,
      count: this.pending.count,
      merkle_root: this.pending.rootHex(),
      prev_checkpoint: this.prevCheckpoint,
      epoch: this.ratchet.index,
      alg: SIGNATURE_ALG,
      key_id: this.keys.signing.keyId,
      sig: '',
    };
    const header = this.header(AUDIT_EVENTS.integrityCheckpoint, seq, ctx);
    const unsigned = macInput(splitBody(header, canonicalize(data)));
    const privateKey = this.keys.signing.privateKey;
    let pending: PendingCheckpoint;
    if (this.scheme === 2) {
      data.sig = signText(privateKey, unsigned);
      const sealed = this.sealCanonical(AUDIT_EVENTS.integrityCheckpoint, canonicalize(data), ctx);
      pending = { seq, hash: sealed.hash, sign: () => sealed };
    } else {
      const digest = linkDigestOfUnsigned(unsigned);
      const mac = this.ratchet.mac(digest);
      this.ratchet.advance();
      const hash = digest.toString('hex');
      this.nextSeq = seq + 1;
      this.prevHash = hash;
      let signed: SealedEvent | undefined;
      pending = {
        seq,
        hash,
        sign: () => {
          if (!signed) {
            data.sig = signText(privateKey, unsigned);
            const body = withMac(splitBody(header, canonicalize(data)), mac);
            signed = { seq, event: AUDIT_EVENTS.integrityCheckpoint, body, hash };
          }
          return signed;
        },
      };
    }
    this.prevCheckpoint = pending.hash;
    this.checkpointFrom = this.nextSeq;
    this.pending.reset();
    this.lastCheckpointMs = this.now();
    if (reason === 'end') this.close();
    return pending;
  }

  /** Erase the MAC key; further seals throw. Called by an `end` checkpoint. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ratchet.destroy();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * A copy of the MAC key state (index and key): exactly what an attacker who takes the process now
   * would hold. For forward-security tests and demonstrations; never log it.
   */
  keyStateForTesting(): { index: number; key: Buffer } {
    return this.ratchet.snapshot();
  }

  private header(event: AuditEventName, seq: number, ctx: EventContext) {
    return {
      session: this.sessionId,
      seq,
      prev: this.prevHash,
      ts: ctx.ts,
      event,
      trace_id: ctx.traceId,
      span_id: ctx.spanId,
    };
  }

  private sealCanonical(event: AuditEventName, dataCanonical: string, ctx: EventContext): SealedEvent {
    this.assertOpen(event);
    const seq = this.nextSeq;
    const split = splitBody(this.header(event, seq, ctx), dataCanonical);
    let body: string;
    let digest: Buffer;
    if (this.scheme === 2) {
      const mac = this.ratchet.mac(macInput(split));
      this.ratchet.advance();
      body = withMac(split, mac);
      digest = sha256(body);
    } else {
      // One pass over the body: D serves as MAC input, chain link and Merkle leaf input.
      digest = linkDigestOfUnsigned(macInput(split));
      const mac = this.ratchet.mac(digest);
      this.ratchet.advance();
      body = withMac(split, mac);
    }
    const hash = digest.toString('hex');
    this.nextSeq = seq + 1;
    this.prevHash = hash;
    if (event !== AUDIT_EVENTS.integrityCheckpoint) this.pending.append(digest);
    return { seq, event, body, hash };
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new Error(`integrity chain of session ${this.sessionId} is closed; cannot seal ${what}`);
  }
}

/** A chainFactory for AuditRecorderOptions: every session gets a chain under these keys. */
export function createChainFactory(
  keys: IntegrityKeys,
  options: Omit<SessionChainOptions, 'sessionId' | 'keys'> = {},
): (sessionId: string) => SessionChain {
  return (sessionId) => new SessionChain({ ...options, sessionId, keys });
}

export { loadIntegrityKeys, ephemeralIntegrityKeys, type IntegrityKeys, type LoadIntegrityKeysOptions } from '../keys/integrity-keys.js';
