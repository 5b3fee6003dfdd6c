import * as crypto from 'node:crypto';

/** One-shot SHA-256 (crypto.hash, Node >= 20.12: no Hash object per call) with a createHash fallback. */
const hashHex: (data: string | Uint8Array) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

const hashBytes: (data: string | Uint8Array) => Buffer =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'buffer')
    : (data) => crypto.createHash('sha256').update(data).digest();

/** SHA-256 of a UTF-8 string or bytes, as 32 bytes. */
export function sha256(data: string | Uint8Array): Buffer {
  return hashBytes(data);
}

/** Lower-case hex SHA-256 of a UTF-8 string or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return hashHex(data);
}

/** The `prev` of the first event of a stream. */
export const GENESIS_HASH = '0'.repeat(64);
