import canonicalizeImpl from 'canonicalize';

/** A JSON value as it appears in an audit body. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * RFC 8785 (JCS) canonical form: the byte string every hash, MAC and signature in oi-audit covers.
 * We use the reference implementation's package (by the RFC's author) rather than our own serializer,
 * because number formatting and key ordering are exactly where hand-written versions go wrong.
 */
export function canonicalize(value: JsonValue): string {
  const text = canonicalizeImpl(value);
  if (text === undefined) throw new TypeError('value cannot be canonicalised as JSON');
  return text;
}
