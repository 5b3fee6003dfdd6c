import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeSecret, parseKeySpec } from './keyspec.js';

/**
 * Integrity keys of one process:
 * - the **MAC seed** (symmetric, shared with the verifier, kept off the app host's logs): each session's
 *   first MAC key k0 is HKDF(seed, session id); keys then ratchet forward per event;
 * - the **signing key** (Ed25519): signs checkpoints; its public key is published in every session-start
 *   event and should be pinned by verifiers out of band.
 * Neither is ever the pseudonym key (loading refuses the same secret for both).
 */
export interface MacSeed {
  id: string;
  secret: Buffer;
  /** Generated for this process: nobody else holds it, so no one can check the MACs it produced. */
  ephemeral: boolean;
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKeyRaw: string;
  /** First 16 hex digits of SHA-256 over the raw public key. */
  keyId: string;
  /** Generated for this process (not loaded): trust it only via a public key pinned elsewhere. */
  ephemeral: boolean;
}

export interface IntegrityKeys {
  macSeed: MacSeed;
  signing: SigningKey;
}

/** HKDF salt for per-session MAC keys (a fixed domain label; the session id is the HKDF info). */
export const MAC_KDF_SALT = 'oi-audit/mac/v1';
/** HMAC message that derives the published commitment to k0. */
export const MAC_COMMIT_LABEL = 'commit';

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** HMAC message of the seed's forward step (one step per session opened). */
export const SEED_RATCHET_LABEL = 'oi-audit seed ratchet';

/** seed[j+1] = HMAC-SHA256(seed[j], "oi-audit seed ratchet"). */
export function nextSeed(seed: Buffer): Buffer {
  return createHmac('sha256', seed).update(SEED_RATCHET_LABEL).digest();
}

/** seed[index] from the configured seed[0] (what a verifier does with the index a session publishes). */
export function seedAt(seed0: Buffer, index: number): Buffer {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`seed index must be a non-negative integer, got ${index}`);
  let s: Buffer = Buffer.from(seed0);
  for (let i = 0; i < index; i++) {
    const n = nextSeed(s);
    s.fill(0);
    s = n;
  }
  return s;
}

/**
 * The seed, evolving forward once per session opened in this process: session j gets seed[j] (its index
 * is published in the session start) and seed[j] is erased as soon as k0 is derived from it. A later
 * look at this process's memory therefore yields neither the configured seed nor any earlier session's
 * k0 (the configured seed's *source*, env or file, is another matter: see docs/integrity.md).
 */
export class SeedRatchet {
  private seed: Buffer;
  private idx = 0;

  /** Takes a copy; the caller erases its own. */
  constructor(seed0: Buffer) {
    this.seed = Buffer.from(seed0);
  }

  get index(): number {
    return this.idx;
  }

  /** seed[index] for a new session (a copy the caller erases), then step forward. */
  take(): { index: number; seed: Buffer } {
    const out = { index: this.idx, seed: Buffer.from(this.seed) };
    const next = nextSeed(this.seed);
    this.seed.fill(0);
    this.seed = next;
    this.idx++;
    return out;
  }
}

/** k0 for a session: HKDF-SHA256(ikm = seed, salt = "oi-audit/mac/v1", info = session id), 32 bytes. */
export function deriveSessionMacKey(seed: Buffer, sessionId: string): Buffer {
  const info = Buffer.from(sessionId, 'utf8');
  if (info.length > 1024) throw new RangeError('session id is longer than 1024 bytes (HKDF info limit)');
  return Buffer.from(hkdfSync('sha256', seed, MAC_KDF_SALT, info, 32));
}

/** The commitment to k0 published at session start: hex SHA-256(HMAC-SHA256(k0, "commit")). */
export function macCommitment(k0: Buffer): string {
  const inner = createHmac('sha256', k0).update(MAC_COMMIT_LABEL).digest();
  return createHash('sha256').update(inner).digest('hex');
}

export function keyIdOf(publicKeyRaw: Buffer): string {
  return createHash('sha256').update(publicKeyRaw).digest('hex').slice(0, 16);
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

function signingKeyFrom(privateKey: KeyObject, ephemeral: boolean): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`signing key must be Ed25519, got ${privateKey.asymmetricKeyType ?? 'a symmetric key'}`);
  }
  const publicKey = createPublicKey(privateKey);
  const raw = rawPublicKey(publicKey);
  return { privateKey, publicKey, publicKeyRaw: raw.toString('base64'), keyId: keyIdOf(raw), ephemeral };
}

/** A fresh Ed25519 key pair. */
export function generateSigningKey(): SigningKey {
  return signingKeyFrom(generateKeyPairSync('ed25519').privateKey, true);
}

/**
 * An Ed25519 private key from text: a PKCS#8 PEM (`openssl genpkey -algorithm ed25519`), or the raw
 * 32-byte seed in hex or base64.
 */
export function parseSigningKey(text: string | Buffer, source = 'signing key'): SigningKey {
  const s = typeof text === 'string' ? text : text.toString('utf8');
  if (s.includes('-----BEGIN')) {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: s, format: 'pem' });
    } catch (err) {
      throw new Error(`${source}: not a readable PEM private key (${(err as Error).message})`);
    }
    return signingKeyFrom(key, false);
  }
  const seed = decodeSecret(s.trim(), source);
  if (seed.length !== 32) throw new Error(`${source}: a raw Ed25519 seed is 32 bytes, got ${seed.length}`);
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  seed.fill(0);
  return signingKeyFrom(key, false);
}

/**
 * A public key given as raw 32-byte base64 (as in session-start events), base64 SPKI DER, or SPKI PEM.
 * Returns undefined when the text is none of these.
 */
export function parsePublicKey(text: string): KeyObject | undefined {
  const s = text.trim();
  try {
    if (s.includes('-----BEGIN')) {
      const key = createPublicKey({ key: s, format: 'pem' });
      return key.asymmetricKeyType === 'ed25519' ? key : undefined;
    }
    const bytes = Buffer.from(s, /^[0-9a-fA-F]{64}$/.test(s) ? 'hex' : 'base64');
    const der = bytes.length === 32 ? Buffer.concat([ED25519_SPKI_PREFIX, bytes]) : bytes;
    const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ed25519' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Raw base64 form of a public key given in any form parsePublicKey accepts. */
export function normalizePublicKey(text: string): string | undefined {
  const key = parsePublicKey(text);
  return key ? rawPublicKey(key).toString('base64') : undefined;
}

export interface LoadIntegrityKeysOptions {
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Files, overriding OI_AUDIT_MAC_SEED_FILE and OI_AUDIT_SIGNING_KEY_FILE. */
  files?: { macSeed?: string; signingKey?: string };
  /** Given in code (config), overriding env and files: `[<id>:]<hex|base64>` or the raw bytes. */
  macSeed?: string | Buffer;
  /** Given in code: PEM text, a raw seed (hex/base64), or a KeyObject. */
  signingKey?: string | KeyObject;
  /** Refuse to start without a configured MAC seed / signing key instead of generating one. */
  require?: { macSeed?: boolean; signingKey?: boolean };
}

let processKeys: IntegrityKeys | undefined;

/** Keys generated once per process (used when nothing is configured). */
export function ephemeralIntegrityKeys(): IntegrityKeys {
  processKeys ??= {
    macSeed: { id: 'ephemeral', secret: randomBytes(32), ephemeral: true },
    signing: generateSigningKey(),
  };
  return processKeys;
}

/**
 * Load integrity keys: code options over files over the environment.
 * - MAC seed: `OI_AUDIT_MAC_SEED=[<id>:]<hex|base64>` or `OI_AUDIT_MAC_SEED_FILE` (same content);
 *   at least 16 bytes, 32 recommended. Without one, a per-process random seed: MACs are still
 *   produced (and ratcheted) but nobody can verify them.
 * - Signing key: `OI_AUDIT_SIGNING_KEY_FILE` (PKCS#8 PEM or a raw 32-byte seed in hex/base64).
 *   Without one, a per-process key pair whose public key appears in each session-start event.
 * Refuses a MAC seed equal to the pseudonym key (`OI_AUDIT_PSEUDONYM_KEY`).
 */
export function loadIntegrityKeys(options: LoadIntegrityKeysOptions = {}): IntegrityKeys {
  const env = options.env ?? process.env;
  const fallback = () => ephemeralIntegrityKeys();

  let macSeed: MacSeed | undefined;
  if (options.macSeed !== undefined) {
    if (Buffer.isBuffer(options.macSeed)) {
      if (options.macSeed.length < 16) throw new Error('macSeed: at least 16 bytes are required');
      macSeed = { id: 'default', secret: Buffer.from(options.macSeed), ephemeral: false };
    } else {
      const spec = parseKeySpec(options.macSeed, 'macSeed', { requireId: false });
      macSeed = { ...spec, ephemeral: false };
    }
  } else {
    const file = options.files?.macSeed ?? env.OI_AUDIT_MAC_SEED_FILE;
    const text = file ? readFileSync(file, 'utf8') : env.OI_AUDIT_MAC_SEED;
    if (text !== undefined && text.trim() !== '') {
      const spec = parseKeySpec(text.trim(), file ?? 'OI_AUDIT_MAC_SEED', { requireId: false });
      macSeed = { ...spec, ephemeral: false };
    }
  }
  if (!macSeed && options.require?.macSeed) throw new Error('no MAC seed: set OI_AUDIT_MAC_SEED or OI_AUDIT_MAC_SEED_FILE');
  macSeed ??= fallback().macSeed;

  if (!macSeed.ephemeral && env.OI_AUDIT_PSEUDONYM_KEY) {
    for (const line of env.OI_AUDIT_PSEUDONYM_KEY.split(/[\n,]/)) {
      if (!line.trim()) continue;
      let secret: Buffer;
      try {
        secret = parseKeySpec(line, 'OI_AUDIT_PSEUDONYM_KEY', { requireId: false }).secret;
      } catch {
        continue; // the pseudonym loader reports its own format errors
      }
      if (secret.length === macSeed.secret.length && timingSafeEqual(secret, macSeed.secret)) {
        throw new Error('the MAC seed is the pseudonym key; integrity and pseudonym keys must be separate');
      }
    }
  }

  let signing: SigningKey | undefined;
  if (options.signingKey !== undefined) {
    signing =
      typeof options.signingKey === 'string'
        ? parseSigningKey(options.signingKey, 'signingKey')
        : signingKeyFrom(options.signingKey, false);
  } else {
    const file = options.files?.signingKey ?? env.OI_AUDIT_SIGNING_KEY_FILE;
    if (file) signing = parseSigningKey(readFileSync(file, 'utf8'), file);
  }
  if (!signing && options.require?.signingKey) throw new Error('no signing key: set OI_AUDIT_SIGNING_KEY_FILE');
  signing ??= fallback().signing;

  return { macSeed, signing };
}
