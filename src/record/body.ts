import { canonicalize, type JsonObject, type JsonValue } from './canonical-json.js';
import { fieldText } from './field-text.js';
import type { AuditEventName } from '../semconv/events.js';

/** Body schema version. Bump when a field changes meaning. */
export const BODY_VERSION = 1;

/** The fields of an audit event body other than `data` and `mac`. */
export interface BodyHeader {
  session: string;
  seq: number;
  prev: string;
  ts: string;
  event: string;
  trace_id: string;
  span_id: string;
}

/**
 * A whole audit event body, as splitBody/withMac write it and record/decode.ts reads it back:
 * `{data, event, mac, prev, seq, session, span_id, trace_id, ts, v}`. A type alias (not an
 * interface) so that it is a JsonObject too.
 */
export type AuditRecordBody = Omit<BodyHeader, 'event'> & {
  v: typeof BODY_VERSION;
  event: AuditEventName;
  data: JsonObject;
  /** HMAC-SHA256 (hex) under the session's ratcheting key; null when written without one. */
  mac: string | null;
};

/**
 * An RFC 8785 body split around its `mac` value. The top-level keys are fixed, so their canonical
 * order is known (data, event, mac, prev, seq, session, span_id, trace_id, ts, v); `data` is
 * canonicalised once and the body is `head + <mac> + tail`. With `mac` = `null` this is the text the
 * MAC covers; with the quoted hex MAC it is the body. Equal to canonicalize() of the whole object
 * (test/unit/integrity.test.ts checks this).
 */
export interface SplitBody {
  head: string;
  tail: string;
}

/** Strings that need no JSON escaping and cannot hold a surrogate: quoted as they are. */
const PLAIN = /^[A-Za-z0-9_.:+-]*$/;

/** canonicalize() for a header string, skipping the general path for the common plain-ASCII case. */
function str(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : canonicalize(value);
}

export function splitBody(header: BodyHeader, dataCanonical: string): SplitBody {
  if (!Number.isSafeInteger(header.seq) || header.seq < 0) throw new RangeError(`seq must be a non-negative integer, got ${header.seq}`);
  const head = `{"data":${dataCanonical},"event":${str(header.event)},"mac":`;
  const tail =
    `,"prev":${str(header.prev)},"seq":${header.seq},"session":${str(header.session)}` +
    `,"span_id":${str(header.span_id)},"trace_id":${str(header.trace_id)},"ts":${str(header.ts)}` +
    `,"v":${BODY_VERSION}}`;
  return { head, tail };
}

/** The text a MAC covers: the canonical body with `"mac":null`. */
export function macInput(split: SplitBody): string {
  return `${split.head}null${split.tail}`;
}

export function withMac(split: SplitBody, mac: string | null): string {
  return `${split.head}${mac === null ? 'null' : str(mac)}${split.tail}`;
}

/**
 * canonicalize(), but never throws on what an audit event may legitimately carry: lone surrogates
 * become `\u{d800}`-style text (as escapeForLog writes them), NaN/±Infinity become null, anything
 * non-JSON (functions, symbols, bigints) becomes its string form. Returns whether it had to.
 */
export function canonicalizeLenient(value: JsonObject): { text: string; sanitized: boolean } {
  try {
    return { text: canonicalize(value), sanitized: false };
  } catch {
    const clean = sanitize(value) as JsonObject;
    clean._sanitized = true;
    return { text: canonicalize(clean), sanitized: true };
  }
}

const LONE =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function sanitize(value: unknown, depth = 0): JsonValue {
  if (depth > 64) return '[depth limit]';
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return value.replace(LONE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'object': {
      if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sanitize(v, depth + 1)));
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
        out[sanitize(k) as string] = sanitize(v, depth + 1);
      }
      return out;
    }
    default:
      return fieldText(value);
  }
}
