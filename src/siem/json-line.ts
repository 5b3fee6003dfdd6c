/**
 * JSON text with nothing a terminal or a SIEM parser would act on. JSON.stringify escapes C0 but
 * leaves DEL, C1 (a raw 0x9b is a CSI to many terminals), bidi overrides, zero-width and line/paragraph
 * separators as they are; these are written as \uXXXX escapes instead. The JSON value is unchanged, so
 * the body a line carries still verifies byte for byte after parsing.
 */
// Combining marks are listed one by one on purpose: each is matched alone.
// eslint-disable-next-line no-misleading-character-class
const UNSAFE_IN_JSON = /[\u007f-\u009f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]/g;

export function safeJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
