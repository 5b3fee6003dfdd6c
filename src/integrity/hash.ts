import * as crypto from 'node:crypto';

/** crypto.hash (Node >= 20.12) hashes in one call, without a Hash object per call; older 20.x fall back. */
const oneShot = typeof (crypto as { hash?: unknown }).hash === 'function';

/** SHA-256 of a UTF-8 string or bytes, as 32 bytes. */
export function sha256(data: string | Uint8Array): Buffer {
  return oneShot ? crypto.hash('sha256', data, 'buffer') : crypto.createHash('sha256').update(data).digest();
}

/** Lower-case hex SHA-256 of a UTF-8 string or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return oneShot ? crypto.hash('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}

/** The `prev` of the first event of a stream. */
export const GENESIS_HASH = '0'.repeat(64);
