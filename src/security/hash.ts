import { createHash } from 'node:crypto';

/** Lower-case hex SHA-256 of a UTF-8 string or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The `prev` of the first event of a stream. */
export const GENESIS_HASH = '0'.repeat(64);
