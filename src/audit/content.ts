import type { CaptureMode } from '../config/config.js';
import type { JsonObject } from '../record/canonical-json.js';
import { escapeForLog } from '../record/escape.js';
import { sha256Hex } from '../integrity/hash.js';
import type { RedactionResult, Redactor } from '../redact/redactor.js';
import { UTF8_MEMO_MAX_CHARS, utf8Bytes } from '../redact/utf8-bytes.js';

/**
 * A content field as recorded in an audit body. Whatever the mode, the SHA-256 and byte length of the
 * original are there, so a record can be matched against a copy of the content held elsewhere.
 */
export interface CapturedContent extends JsonObject {
  mode: CaptureMode;
  sha256: string;
  bytes: number;
}

export interface CaptureStage {
  mode: CaptureMode;
  redactor: Redactor;
  maxBytes: number;
}

/** Cut a string to at most maxBytes of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): { text: string; truncated: boolean } {
  if (text.length <= maxBytes / 3) return { text, truncated: false };
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, truncated: false };
  let end = maxBytes;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return { text: buf.subarray(0, end).toString('utf8'), truncated: true };
}

/**
 * The capture pipeline for one field: fingerprint the original → (redact) → escape → truncate.
 * Redaction runs before truncation so a secret cut in half at the boundary is still found whole.
 * `redacted`: the redaction of `original` already done (a stream part redacted with what follows it).
 */
export function captureContent(original: string, stage: CaptureStage, redacted?: RedactionResult): CapturedContent {
  // One UTF-8 encoding serves the length, the hash and (through the same memo) the redactor.
  const utf8 = original.length <= UTF8_MEMO_MAX_CHARS ? utf8Bytes(original) : undefined;
  const bytes = utf8 ? utf8.length : Buffer.byteLength(original, 'utf8');
  const captured: CapturedContent = { mode: stage.mode, sha256: sha256Hex(utf8 ?? original), bytes };
  if (stage.mode === 'hash' || stage.mode === 'none') return captured;
  let text = original;
  if (stage.mode === 'redacted') {
    const result = redacted ?? stage.redactor.redact(original);
    text = result.text;
    for (const id in result.counts) {
      if ((result.counts[id] ?? 0) > 0) {
        captured.redactions = { ...result.counts };
        break;
      }
    }
    captured.redaction_rules = stage.redactor.version;
  }
  // Every character becomes at least one byte, so the record's first maxBytes bytes come from the first
  // maxBytes characters: escape only those (plus one, so truncation is still detected). Escaping a whole
  // multi-megabyte text first would build several copies of it, each larger than the original.
  const head = text.length > stage.maxBytes + 1 ? text.slice(0, stage.maxBytes + 1) : text;
  const cut = truncateUtf8(escapeForLog(head), stage.maxBytes);
  captured.text = cut.text;
  if (cut.truncated) {
    captured.truncated = true;
    // The counts say what the stored text holds: markers cut off with the tail are not counted.
    if (captured.redactions) {
      const kept: Record<string, number> = {};
      for (const m of cut.text.matchAll(/\[REDACTED:([a-z0-9-]{1,40})\]/g)) kept[m[1]!] = (kept[m[1]!] ?? 0) + 1;
      if (Object.keys(kept).length > 0) captured.redactions = kept;
      else delete captured.redactions;
    }
  }
  return captured;
}

/** Total matches redacted in a captured field. */
export function redactionCount(captured: CapturedContent): number {
  const counts = captured.redactions;
  if (!counts || typeof counts !== 'object' || Array.isArray(counts)) return 0;
  return Object.values(counts).reduce<number>((sum, n) => sum + (typeof n === 'number' ? n : 0), 0);
}
