import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GeneratedKeyFiles {
  dir: string;
  /** OI_AUDIT_MAC_SEED_FILE: the verifier's secret; whoever holds it can check (and forge) MACs. */
  macSeed: string;
  /** OI_AUDIT_SIGNING_KEY_FILE: Ed25519 private key (PKCS#8 PEM) that signs checkpoints. */
  signingKey: string;
  /** The public key (SPKI PEM) to pin in `oi-audit verify --public-key`. */
  publicKey: string;
  /** OI_AUDIT_PSEUDONYM_KEY_FILE: keyed-hash key for user pseudonyms, separate from integrity keys. */
  pseudonymKey: string;
}

/** Where keygen puts each file in DIR. */
export function keyFilePaths(dir: string): GeneratedKeyFiles {
  return {
    dir,
    macSeed: join(dir, 'mac-seed'),
    signingKey: join(dir, 'signing-key.pem'),
    publicKey: join(dir, 'signing-key.pub.pem'),
    pseudonymKey: join(dir, 'pseudonym-key'),
  };
}

/** Create a fresh set of key files (0600 in a 0700 directory); refuses to overwrite existing ones. */
export function generateKeyFiles(dir: string, keyId = new Date().toISOString().slice(0, 10).replaceAll('-', '')): GeneratedKeyFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = keyFilePaths(dir);
  for (const path of [files.macSeed, files.signingKey, files.publicKey, files.pseudonymKey]) {
    if (existsSync(path)) throw new Error(`${path} exists; refusing to overwrite a key`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(files.macSeed, `mac-${keyId}:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  writeFileSync(files.signingKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(files.publicKey, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  writeFileSync(files.pseudonymKey, `pn-${keyId}:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return files;
}

/** The environment that makes oi-audit use a set of key files. */
export function keyFilesEnv(files: GeneratedKeyFiles): Record<string, string> {
  return {
    OI_AUDIT_MAC_SEED_FILE: files.macSeed,
    OI_AUDIT_SIGNING_KEY_FILE: files.signingKey,
    OI_AUDIT_PSEUDONYM_KEY_FILE: files.pseudonymKey,
  };
}
