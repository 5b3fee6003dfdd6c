import type { JsonObject, JsonValue } from './canonical-json.js';

/**
 * A plain JSON object (not null, not an array): the one check every reader of parsed JSON makes.
 * For a JsonValue it narrows to JsonObject (its values stay JsonValue); for anything else to a record
 * of unknowns, which the caller must still check field by field.
 */
export function isObject(v: JsonValue | undefined): v is JsonObject;
export function isObject(v: unknown): v is Record<string, unknown>;
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Lower-case hex SHA-256 / HMAC-SHA256: `prev`, `mac`, loss-range hashes. */
export const HEX64 = /^[0-9a-f]{64}$/;

/** A JSON number that is a non-negative safe integer (seq, from, to, counts). */
export function nonNegativeInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}
