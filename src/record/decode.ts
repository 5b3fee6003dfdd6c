import { BODY_VERSION, type AuditRecordBody } from './body.js';
import { canonicalize, type JsonValue } from './canonical-json.js';
import { HEX64, isObject, nonNegativeInt } from './json-shape.js';
import { isAuditEventName } from '../semconv/events.js';

export type { AuditRecordBody } from './body.js';

/**
 * The result of reading one body. On failure `reason` says which field is wrong (verify reports it as
 * `malformed`, siem throws it as a BodyError, read skips the record), and `session` is the body's
 * session when it names one, so the problem can be filed there.
 */
export type DecodeResult = { ok: true; record: AuditRecordBody } | { ok: false; reason: string; session?: string };

/**
 * Parse and shape-check one audit body: the single reader of the format record/body.ts writes. Every
 * field the writer emits is checked (v, session, seq, prev, ts, event, trace_id, span_id, data, mac);
 * keys the writer does not emit are kept on `record` (the body is evidence: verify hashes and MACs it
 * as it came) and make it fail the MAC, not the decode. Never throws: any input, however deep, large
 * or odd, gives a record or a reason. Whether the text is canonical is a separate question
 * (isCanonicalBody), asked only by verify.
 */
export function decodeRecord(text: string): DecodeResult {
  let parsed: JsonValue;
  try {
    parsed = JSON.parse(text) as JsonValue;
  } catch (err) {
    return { ok: false, reason: `body is not JSON (${(err as Error).message})` };
  }
  return decodeParsed(parsed);
}

/** decodeRecord() for a body already parsed from JSON text. */
export function decodeParsed(obj: JsonValue): DecodeResult {
  if (!isObject(obj)) return { ok: false, reason: 'body is not a JSON object' };
  const session = typeof obj.session === 'string' && obj.session ? obj.session : undefined;
  const bad = (reason: string): DecodeResult => (session === undefined ? { ok: false, reason } : { ok: false, reason, session });
  if (!session) return bad('body lacks session');
  // The event name before the version: what a body claims to be is the most useful first complaint.
  if (typeof obj.event !== 'string' || !isAuditEventName(obj.event)) return bad(`unknown audit event ${shown(obj.event)}`);
  if (obj.v !== BODY_VERSION) return bad(`unknown body version ${shown(obj.v)}`);
  if (nonNegativeInt(obj.seq) === undefined) return bad('seq is not a non-negative integer');
  if (typeof obj.prev !== 'string' || !HEX64.test(obj.prev)) return bad('prev is not a SHA-256 hex digest');
  if (typeof obj.ts !== 'string') return bad('ts is not a string');
  if (typeof obj.trace_id !== 'string' || typeof obj.span_id !== 'string') return bad('trace_id/span_id missing');
  if (!isObject(obj.data)) return bad('data is not an object');
  if (obj.mac !== null && (typeof obj.mac !== 'string' || !HEX64.test(obj.mac))) return bad('mac is neither null nor a hex HMAC');
  // Every field checked above: the object is the body the writer's type describes (plus any extra keys).
  return { ok: true, record: obj as AuditRecordBody };
}

/** A field's value for a reason text: JSON, cut short (an absent field is `undefined`). */
function shown(v: JsonValue | undefined): string {
  return v === undefined ? 'undefined' : JSON.stringify(v).slice(0, 80);
}

/**
 * Whether `text` is exactly the RFC 8785 form of the decoded body, as the writer emits it. False (not
 * a throw) for what canonicalisation refuses (lone surrogates, nesting deeper than the stack).
 */
export function isCanonicalBody(record: AuditRecordBody, text: string): boolean {
  try {
    return canonicalize(record) === text;
  } catch {
    return false;
  }
}
