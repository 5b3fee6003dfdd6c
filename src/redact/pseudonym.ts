import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseKeySpec, type KeySpec } from '../keys/keyspec.js';

/** A keyed-hash key for user pseudonyms; kept apart from integrity keys. */
export interface PseudonymKey {
  id: string;
  secret: Buffer;
}

/**
 * Keyed HMAC-SHA256 pseudonyms: `<key id>:<first 32 hex of HMAC(user id)>`. The key id prefix lets keys
 * rotate without old pseudonyms becoming ambiguous; without the key, a pseudonym cannot be reversed
 * by guessing user ids.
 *
 * Rotation: load a new key under a new id; keep the old keys as `previous` for as long as records made
 * under them are retained, so `candidates()` can still find a user's older records. Destroying an old
 * key makes its pseudonyms unlinkable to anyone (crypto-shredding of that epoch).
 */
export class Pseudonymizer {
  private readonly previous: readonly PseudonymKey[];

  constructor(
    private readonly key: PseudonymKey,
    previous: readonly PseudonymKey[] = [],
  ) {
    if (!/^[A-Za-z0-9._-]{1,32}$/.test(key.id)) throw new TypeError(`pseudonym key id "${key.id}": use 1–32 of [A-Za-z0-9._-]`);
    this.previous = previous.filter((k) => k.id !== key.id);
  }

  /** A random key for this process only: pseudonyms are stable within the process, not across restarts. */
  static ephemeral(): Pseudonymizer {
    return new Pseudonymizer({ id: 'ephemeral', secret: randomBytes(32) });
  }

  get keyId(): string {
    return this.key.id;
  }

  /** Key ids this instance can still compute pseudonyms for (current first). */
  get keyIds(): string[] {
    return [this.key.id, ...this.previous.map((k) => k.id)];
  }

  pseudonymize(userId: string): string {
    return Pseudonymizer.under(this.key, userId);
  }

  /** The user's pseudonym under the current and every previous key (to search records across a rotation). */
  candidates(userId: string): string[] {
    return [this.key, ...this.previous].map((k) => Pseudonymizer.under(k, userId));
  }

  /** Whether a recorded pseudonym belongs to this user (constant-time compare, any loaded key). */
  matches(userId: string, pseudonym: string): boolean {
    const want = Buffer.from(pseudonym, 'utf8');
    let hit = false;
    for (const c of this.candidates(userId)) {
      const got = Buffer.from(c, 'utf8');
      if (got.length === want.length && timingSafeEqual(got, want)) hit = true;
    }
    return hit;
  }

  private static under(key: PseudonymKey, userId: string): string {
    const mac = createHmac('sha256', key.secret).update(userId, 'utf8').digest('hex');
    return `${key.id}:${mac.slice(0, 32)}`;
  }
}

/** HKDF info for pseudonym keys: the loaded secret is never used directly, and never as a MAC key. */
export const PSEUDONYM_KDF_INFO = 'oi-audit/pseudonym/v1';

/** Derive the HMAC key for pseudonyms from a configured secret (domain-separated from integrity keys). */
export function derivePseudonymKey(spec: KeySpec): PseudonymKey {
  const secret = Buffer.from(hkdfSync('sha256', spec.secret, Buffer.alloc(0), `${PSEUDONYM_KDF_INFO}/${spec.id}`, 32));
  return { id: spec.id, secret };
}

export interface LoadPseudonymizerOptions {
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** A file holding the key spec(s); overrides OI_AUDIT_PSEUDONYM_KEY_FILE. */
  keyFile?: string;
  /** When no key is configured: `ephemeral` (default) or `error`. */
  onMissing?: 'ephemeral' | 'error';
}

/**
 * Load the pseudonym key(s):
 * - `OI_AUDIT_PSEUDONYM_KEY=<keyid>:<secret>` where the secret is hex or base64 (at least 16 bytes);
 *   several, comma- or newline-separated, are current-first (older ones kept for `candidates()`);
 * - or `OI_AUDIT_PSEUDONYM_KEY_FILE` / `keyFile`: a file with the same content (one spec a line,
 *   `#` comments allowed).
 * The secret goes through HKDF (`oi-audit/pseudonym/v1/<keyid>`), and loading fails if it is the same
 * secret as the integrity MAC seed (`OI_AUDIT_MAC_SEED`): the two must be separate keys.
 * With nothing configured, an ephemeral key (pseudonyms stable only for this process).
 */
export function loadPseudonymizer(options: LoadPseudonymizerOptions = {}): Pseudonymizer {
  const env = options.env ?? process.env;
  let text: string | undefined;
  let source = '';
  const file = options.keyFile ?? env.OI_AUDIT_PSEUDONYM_KEY_FILE;
  if (file) {
    text = readFileSync(file, 'utf8');
    source = file;
  } else if (env.OI_AUDIT_PSEUDONYM_KEY) {
    text = env.OI_AUDIT_PSEUDONYM_KEY;
    source = 'OI_AUDIT_PSEUDONYM_KEY';
  }
  if (text === undefined) {
    if (options.onMissing === 'error') throw new Error('no pseudonym key: set OI_AUDIT_PSEUDONYM_KEY or OI_AUDIT_PSEUDONYM_KEY_FILE');
    return Pseudonymizer.ephemeral();
  }
  const specs = text
    .split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'))
    .map((l) => parseKeySpec(l, source, { requireId: true }));
  if (specs.length === 0) throw new Error(`${source}: no pseudonym key found`);
  const macSeed = env.OI_AUDIT_MAC_SEED ? parseKeySpec(env.OI_AUDIT_MAC_SEED.trim(), 'OI_AUDIT_MAC_SEED', { requireId: false }) : undefined;
  for (const s of specs) {
    if (macSeed && s.secret.length === macSeed.secret.length && timingSafeEqual(s.secret, macSeed.secret)) {
      throw new Error(`${source}: pseudonym key "${s.id}" is the integrity MAC seed; the two must be separate keys`);
    }
  }
  const ids = new Set<string>();
  for (const s of specs) {
    if (ids.has(s.id)) throw new Error(`${source}: pseudonym key id "${s.id}" appears twice`);
    ids.add(s.id);
  }
  const [current, ...previous] = specs.map(derivePseudonymKey);
  return new Pseudonymizer(current!, previous);
}
