import { canonicalize, type JsonObject } from '../record/canonical-json.js';
import { AUDIT_EVENTS } from '../semconv/events.js';
import { signingInput } from './checkpoint.js';
import { sha256, sha256Hex } from './hash.js';

/**
 * Scheme 3's digest D (docs/integrity.md §2): SHA-256 of the canonical body with `"mac":null`, and for a
 * checkpoint also `data.sig` = "" (exactly the text the checkpoint's signature covers). D is the next
 * event's `prev`, the Merkle leaf input and the MAC's message, so none of them depends on the MAC or the
 * signature, and the signature can be made after the chain has moved on.
 */
export function linkDigestOfUnsigned(unsignedText: string): Buffer {
  return sha256(unsignedText);
}

/** D of a parsed scheme 3 body (the verifier, and the writer's loss declarations). Throws on non-JSON values. */
export function linkHashOfBody(obj: JsonObject): string {
  const text = obj.event === AUDIT_EVENTS.integrityCheckpoint ? signingInput(obj) : canonicalize({ ...obj, mac: null });
  return sha256Hex(text);
}
