import type { KeyObject } from 'node:crypto';
import { GENESIS_HASH, sha256Hex } from '../../integrity/hash.js';
import { signingInput, verifyText } from '../../integrity/checkpoint.js';
import { normalizePublicKey, parsePublicKey } from '../../keys/integrity-keys.js';
import { eventsMerkleRoot } from '../../integrity/merkle.js';
import { AUDIT_EVENTS } from '../../semconv/events.js';
import type { Problem } from '../types.js';
import type { StartParams } from './mac.js';
import { where, type Rec } from './records.js';

/** What is known of a seq that is not present: its declared hash, or that a v1 loss names it. */
export interface LeafSource {
  chosen: Map<number, Rec>;
  /** Present seqs, ascending. */
  seqs: readonly number[];
  declaredHash(seq: number): string | undefined;
  inV1Range(seq: number): boolean;
  v1Overlap(from: number, to: number): number;
  /** How many seqs are declared with a hash (bounds the Merkle recomputation). */
  declaredCount: number;
}

export type MerkleVerdict = 'ok' | 'mismatch' | 'unverifiable' | 'unverifiable_v1' | 'not_checked';

export interface CheckpointFinding {
  rec: Rec;
  from: number;
  to: number;
  /** The shape is consistent with its position (to = seq - 1, epoch = seq, count = size). */
  shapeOk: boolean;
  sigOk: boolean;
  merkle: MerkleVerdict;
}

export interface KeyFindings {
  /** The key checkpoints are checked with, when one is fixed for the session. */
  verifyKey?: KeyObject;
  keyTrusted?: boolean;
  byKeyId: Map<string, KeyObject>;
  pinned: boolean;
  /** The start publishes a key outside the pinned set (reported once, not per checkpoint). */
  startKeyUntrusted: boolean;
  problems: Problem[];
}

function keyIdOfRaw(raw: string): string {
  const norm = normalizePublicKey(raw);
  return norm ? sha256Hex(Buffer.from(norm, 'base64')).slice(0, 16) : '';
}

/** Which key checkpoints must verify under: a pinned one, else the one the start publishes. */
export function resolveKeys(p: StartParams, trusted: readonly string[]): KeyFindings {
  const problems: Problem[] = [];
  const byKeyId = new Map<string, KeyObject>();
  for (const t of trusted) {
    const k = parsePublicKey(t);
    if (k) byKeyId.set(keyIdOfRaw(t), k);
  }
  if (trusted.length > 0) {
    const keyTrusted = p.publicKey !== undefined && trusted.includes(p.publicKey);
    if (p.publicKey && !keyTrusted) {
      problems.push({ code: 'untrusted_key', severity: 'error', message: `checkpoints are signed with key ${(p.keyId ?? p.publicKey).slice(0, 64)}, which is not among the trusted public keys` });
    }
    const out: KeyFindings = { byKeyId, pinned: true, problems, keyTrusted, startKeyUntrusted: p.publicKey !== undefined && !keyTrusted };
    if (keyTrusted) {
      const k = parsePublicKey(p.publicKey!);
      if (k) out.verifyKey = k;
    }
    return out;
  }
  const out: KeyFindings = { byKeyId, pinned: false, problems, startKeyUntrusted: false };
  if (p.publicKey) {
    const k = parsePublicKey(p.publicKey);
    if (k) out.verifyKey = k;
    problems.push({
      code: 'key_not_pinned',
      severity: 'info',
      message: 'signatures checked against the public key published in the session start; pin trusted keys to rule out a re-signed stream',
    });
  }
  return out;
}

function checkShape(cp: Rec): { from: number; to: number; ok: boolean } | Problem {
  const d = cp.data;
  const from = d.from_seq;
  const to = d.to_seq;
  if (
    typeof from !== 'number' || typeof to !== 'number' || !Number.isSafeInteger(from) || !Number.isSafeInteger(to) ||
    from < 0 || to < from - 1 || typeof d.merkle_root !== 'string' || typeof d.prev_checkpoint !== 'string' || typeof d.sig !== 'string'
  ) {
    return { code: 'bad_checkpoint', severity: 'error', seq: cp.seq, message: `checkpoint at seq ${cp.seq} lacks from_seq/to_seq/merkle_root/prev_checkpoint/sig${where(cp.source)}`, source: cp.source };
  }
  const ok = to === cp.seq - 1 && d.epoch === cp.seq && (d.count === undefined || d.count === to - from + 1) && from <= cp.seq;
  return { from, to, ok };
}

/** Its own chain: prev_checkpoint is the hash of the checkpoint at from_seq - 1 (present or declared lost). */
function checkLink(cp: Rec, from: number, leaves: LeafSource): Problem | undefined {
  const prevCp = cp.data.prev_checkpoint;
  if (from === 0) {
    if (prevCp === GENESIS_HASH) return undefined;
    return { code: 'checkpoint_chain', severity: 'error', seq: cp.seq, message: `first checkpoint (seq ${cp.seq}) does not start the checkpoint chain${where(cp.source)}`, source: cp.source };
  }
  const before = leaves.chosen.get(from - 1);
  if (before && before.event !== AUDIT_EVENTS.integrityCheckpoint) {
    return { code: 'checkpoint_chain', severity: 'error', seq: cp.seq, message: `checkpoint at seq ${cp.seq} starts at ${from}, but seq ${from - 1} is not a checkpoint${where(cp.source)}`, source: cp.source };
  }
  const hash = before?.hash ?? leaves.declaredHash(from - 1);
  if (hash === undefined) {
    const v1 = leaves.inV1Range(from - 1);
    return {
      code: 'checkpoint_chain',
      severity: v1 ? 'warning' : 'error',
      seq: cp.seq,
      message: `the checkpoint before seq ${cp.seq} (at seq ${from - 1}) is missing${v1 ? ' (declared lost by a scheme v1 loss, which carries no hash)' : ''}; the checkpoint chain cannot be followed`,
    };
  }
  if (hash !== prevCp) {
    return { code: 'checkpoint_chain', severity: 'error', seq: cp.seq, message: `checkpoint at seq ${cp.seq} does not link to the checkpoint at seq ${from - 1} (prev_checkpoint differs)${where(cp.source)}`, source: cp.source };
  }
  return undefined;
}

/** Count of known leaves (present or declared) in from..to, without walking the claimed range. */
function knownLeaves(from: number, to: number, leaves: LeafSource): number {
  const lo = lowerBound(leaves.seqs, from);
  const hi = lowerBound(leaves.seqs, to + 1);
  return hi - lo + leaves.declaredCount + leaves.v1Overlap(from, to);
}

export function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkMerkle(cp: Rec, from: number, to: number, leaves: LeafSource): { verdict: MerkleVerdict; problem?: Problem } {
  const size = to - from + 1;
  // A claimed size beyond what the input can supply is not walked (a checkpoint may claim 2^53 records).
  if (size > knownLeaves(from, to, leaves)) {
    return { verdict: 'unverifiable', problem: { code: 'unverifiable_checkpoint', severity: 'error', seq: cp.seq, message: `Merkle root at seq ${cp.seq} not recomputed: it covers ${size} records and the input holds fewer of them` } };
  }
  const hashes: string[] = [];
  let absent = 0;
  let v1Only = true;
  for (let s = from; s <= to; s++) {
    const h = leaves.chosen.get(s)?.hash ?? leaves.declaredHash(s);
    if (h !== undefined) hashes.push(h);
    else {
      absent++;
      if (!leaves.inV1Range(s)) v1Only = false;
    }
  }
  if (absent > 0) {
    return {
      verdict: v1Only ? 'unverifiable_v1' : 'unverifiable',
      problem: {
        code: 'unverifiable_checkpoint',
        severity: v1Only ? 'warning' : 'error',
        seq: cp.seq,
        message: `Merkle root at seq ${cp.seq} not recomputed: ${absent} of the ${size} records it covers are missing${v1Only ? ' (declared lost by a scheme v1 loss, which carries no hashes)' : ''}`,
      },
    };
  }
  if (eventsMerkleRoot(hashes) === cp.data.merkle_root) return { verdict: 'ok' };
  return { verdict: 'mismatch', problem: { code: 'merkle_mismatch', severity: 'error', seq: cp.seq, from, to, message: `Merkle root at seq ${cp.seq} does not match records ${from}..${to}${where(cp.source)}`, source: cp.source } };
}

function checkSignature(cp: Rec, keys: KeyFindings): { ok: boolean; problem?: Problem } {
  const keyId = cp.data.key_id;
  const key = keys.verifyKey ?? (typeof keyId === 'string' ? keys.byKeyId.get(keyId) : undefined);
  if (!key) {
    // Reported once per session as untrusted_key when the start names a key outside the pinned set.
    if (keys.startKeyUntrusted) return { ok: false };
    return { ok: false, problem: { code: 'untrusted_key', severity: 'error', seq: cp.seq, message: `no trusted public key to check the checkpoint at seq ${cp.seq} (key id ${String(keyId).slice(0, 40)}): session start missing and key not pinned` } };
  }
  let ok = false;
  try {
    ok = verifyText(key, signingInput(cp.obj), cp.data.sig as string);
  } catch {
    ok = false;
  }
  if (ok) return { ok };
  return { ok, problem: { code: 'bad_signature', severity: 'error', seq: cp.seq, message: `checkpoint signature at seq ${cp.seq} does not verify${where(cp.source)}`, source: cp.source } };
}

/** Every present checkpoint: shape, link to the previous one, signature, Merkle root. */
export function checkCheckpoints(leaves: LeafSource, keys: KeyFindings): { findings: CheckpointFinding[]; problems: Problem[] } {
  const findings: CheckpointFinding[] = [];
  const problems: Problem[] = [];
  for (const s of leaves.seqs) {
    const cp = leaves.chosen.get(s)!;
    if (cp.event !== AUDIT_EVENTS.integrityCheckpoint) continue;
    const shape = checkShape(cp);
    const sig = checkSignature(cp, keys);
    if (sig.problem) problems.push(sig.problem);
    if (!('ok' in shape)) {
      problems.push(shape);
      findings.push({ rec: cp, from: cp.seq, to: cp.seq - 1, shapeOk: false, sigOk: sig.ok, merkle: 'not_checked' });
      continue;
    }
    const { from, to } = shape;
    if (!shape.ok) {
      problems.push({ code: 'bad_checkpoint', severity: 'error', seq: cp.seq, message: `checkpoint at seq ${cp.seq} covers ${from}..${to} with epoch ${String(cp.data.epoch).slice(0, 20)}; expected to end at seq ${cp.seq - 1} with epoch ${cp.seq}${where(cp.source)}`, source: cp.source });
      findings.push({ rec: cp, from, to, shapeOk: false, sigOk: sig.ok, merkle: 'not_checked' });
      continue;
    }
    const link = checkLink(cp, from, leaves);
    if (link) problems.push(link);
    const merkle = checkMerkle(cp, from, to, leaves);
    if (merkle.problem) problems.push(merkle.problem);
    findings.push({ rec: cp, from, to, shapeOk: true, sigOk: sig.ok, merkle: merkle.verdict });
  }
  return { findings, problems };
}

/** A checkpoint proves the records it covers when its signature and its Merkle root both verify. */
export function proves(f: CheckpointFinding): boolean {
  return f.shapeOk && f.sigOk && f.merkle === 'ok';
}

/** Present seqs within from..to (binary search: no walk over a claimed range). */
export function* seqsIn(seqs: readonly number[], from: number, to: number): Generator<number> {
  for (let i = lowerBound(seqs, from); i < seqs.length && seqs[i]! <= to; i++) yield seqs[i]!;
}
