import { sign, verify, type KeyObject } from 'node:crypto';
import { canonicalize, type JsonObject } from '../record/canonical-json.js';

export type CheckpointReason = 'count' | 'interval' | 'idle' | 'end';

export const SIGNATURE_ALG = 'ed25519';

/**
 * `data` of an `oi_audit.integrity.checkpoint` event. The checkpoint is itself an event of the chain
 * (its `prev` is the hash of event `to_seq`), MACed like any other, and in addition signed.
 */
export interface CheckpointData extends JsonObject {
  reason: CheckpointReason;
  /** First and last seq covered (the events since the previous checkpoint, that one excluded). */
  from_seq: number;
  to_seq: number;
  /** to_seq - from_seq + 1: the Merkle tree size. */
  count: number;
  /** RFC 6962 root over the SHA-256 body hashes of events from_seq..to_seq (hex). */
  merkle_root: string;
  /** SHA-256 of the previous checkpoint's full body, or 64 zeros for the first. */
  prev_checkpoint: string;
  /** Ratchet index of the MAC key of this checkpoint (= its seq). */
  epoch: number;
  alg: typeof SIGNATURE_ALG;
  key_id: string;
  /** Ed25519 signature (base64) over signingInput(body); empty while signing. */
  sig: string;
}

/**
 * What the signature covers: the canonical checkpoint body with `data.sig` = "" and `mac` = null.
 * `body` is the parsed body object (any extra fields included, so nothing escapes the signature).
 */
export function signingInput(body: JsonObject): string {
  const data = body.data;
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new TypeError('checkpoint body has no data object');
  return canonicalize({ ...body, data: { ...data, sig: '' }, mac: null });
}

export function signText(privateKey: KeyObject, text: string): string {
  return sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64');
}

export function verifyText(publicKey: KeyObject, text: string, sigBase64: string): boolean {
  if (typeof sigBase64 !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(sigBase64)) return false;
  try {
    return verify(null, Buffer.from(text, 'utf8'), publicKey, Buffer.from(sigBase64, 'base64'));
  } catch {
    return false;
  }
}
