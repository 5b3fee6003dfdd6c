import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Sodium } from './sodium.js';

/**
 * At-rest keys: an X25519 key pair of the security team. The app host gets only the RECIPIENT (public
 * key): it can append encrypted segments but cannot read them back. The IDENTITY (secret key) stays with
 * whoever reads the trail (`view`/`verify`/`export --identity FILE`).
 *
 * Text forms: `oi-audit-recipient-v1:<base64 32 bytes>` and `oi-audit-identity-v1:<base64 32 bytes>`.
 */
export const RECIPIENT_PREFIX = 'oi-audit-recipient-v1:';
export const IDENTITY_PREFIX = 'oi-audit-identity-v1:';

export interface AtRestIdentity {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

function decodeKey(text: string, prefix: string, what: string): Uint8Array {
  const t = text.trim();
  if (!t.startsWith(prefix)) throw new Error(`${what} must start with "${prefix}"`);
  const raw = Buffer.from(t.slice(prefix.length), 'base64');
  if (raw.length !== 32) throw new Error(`${what} must hold 32 bytes (got ${raw.length})`);
  return new Uint8Array(raw);
}

/** `OI_AUDIT_AT_REST_RECIPIENT`: the recipient text itself, or a path to a file holding it. */
export function parseRecipient(value: string): Uint8Array {
  const text = value.trim().startsWith(RECIPIENT_PREFIX) ? value : readFileSync(value, 'utf8');
  return decodeKey(text, RECIPIENT_PREFIX, 'at-rest recipient');
}

export function readIdentityFile(file: string, sodium: Sodium): AtRestIdentity {
  const secretKey = decodeKey(readFileSync(file, 'utf8'), IDENTITY_PREFIX, `identity file ${file}`);
  return { secretKey, publicKey: sodium.crypto_scalarmult_base(secretKey) };
}

export function generateAtRestKeyPair(sodium: Sodium): { recipient: string; identity: string } {
  const kp = sodium.crypto_box_keypair();
  return {
    recipient: `${RECIPIENT_PREFIX}${Buffer.from(kp.publicKey).toString('base64')}\n`,
    identity: `${IDENTITY_PREFIX}${Buffer.from(kp.privateKey).toString('base64')}\n`,
  };
}

/** Short id of a recipient key, written in each segment header so a reader knows which identity it needs. */
export function recipientId(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

/** The identity file and the loaded crypto module, as readers need them (readAuditFiles' atRest option). */
export async function loadAtRestIdentity(file: string): Promise<{ identity: AtRestIdentity; sodium: Sodium }> {
  const { loadSodium } = await import('./sodium.js');
  const sodium = await loadSodium();
  return { identity: readIdentityFile(file, sodium), sodium };
}
