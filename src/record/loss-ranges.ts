import type { JsonObject, JsonValue } from './canonical-json.js';
import { HEX64, isObject, nonNegativeInt } from './json-shape.js';

/**
 * The loss-range format of `oi_audit.audit.loss` bodies (docs/integrity.md §4a), written by
 * otel/loss-declaration.ts and read by verify/checks/losses.ts from this one definition.
 *
 * Scheme v2: `data.lost_ranges` = [{from, to, prev, hashes}] commits to what was lost: the seq range,
 * the hash of the record before it (the first lost record's `prev`) and the SHA-256 of every lost
 * body, so the chain and the Merkle roots stay checkable across the gap. Scheme v1 trails wrote
 * `data.lost_seqs` = [[from, to]] with no commitment; that spelling is read for v1 sessions only.
 * Nothing else is a range declaration (a body with neither key declares a count only).
 */

/** Most body hashes one declaration carries; the writer splits larger losses, the reader refuses them. */
export const MAX_LOST_PER_DECLARATION = 1024;

/** Most seqs one v1 `lost_seqs` declaration may name (no v1 writer declared this many in one event). */
export const MAX_V1_LOST_SEQS = 1_000_000;

/** A v2 range as written: every field present. */
export interface CommittedLostRange {
  from: number;
  to: number;
  /** SHA-256 of the body before `from` (64 zeros when from = 0): the first lost record's prev. */
  prev: string;
  /** SHA-256 of every lost body, from..to. */
  hashes: string[];
}

/** A range as read: v2 ranges carry `prev` and `hashes`, v1 ranges only from..to. */
export interface LostRange {
  from: number;
  to: number;
  prev?: string;
  hashes?: string[];
}

/** One lost record as the writer knows it: its seq, the SHA-256 of its body and its `prev`. */
export interface LostBody {
  seq: number;
  hash: string;
  prev: string;
}

/**
 * Lost records → the `lost_ranges` of one or more declarations: contiguous runs of seqs with their
 * body hashes, each declaration carrying at most `max` hashes (a run is split where it must be).
 */
export function lostRangeChunks(records: readonly LostBody[], max = MAX_LOST_PER_DECLARATION): CommittedLostRange[][] {
  const bySeq = new Map<number, LostBody>();
  for (const r of records) if (!bySeq.has(r.seq)) bySeq.set(r.seq, r);
  const sorted = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const chunks: CommittedLostRange[][] = [];
  let chunk: CommittedLostRange[] = [];
  let inChunk = 0;
  for (const r of sorted) {
    if (inChunk === max) {
      chunks.push(chunk);
      chunk = [];
      inChunk = 0;
    }
    const last = chunk.at(-1);
    if (last && last.to === r.seq - 1) {
      last.to = r.seq;
      last.hashes.push(r.hash);
    } else chunk.push({ from: r.seq, to: r.seq, prev: r.prev, hashes: [r.hash] });
    inChunk++;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

/** The `data` fields a declaration of these ranges carries (merged into the loss event's data). */
export function encodeLostRanges(ranges: readonly CommittedLostRange[]): JsonObject {
  return { lost_ranges: ranges.map((r) => ({ from: r.from, to: r.to, prev: r.prev, hashes: [...r.hashes] })) };
}

/** The lost records a v2 range list commits to, one per seq, each with its `prev`. */
export function expandLostRanges(ranges: readonly LostRange[]): LostBody[] {
  const out: LostBody[] = [];
  for (const r of ranges) {
    if (r.prev === undefined || r.hashes === undefined) continue;
    let prev = r.prev;
    r.hashes.forEach((hash, i) => {
      out.push({ seq: r.from + i, hash, prev });
      prev = hash;
    });
  }
  return out;
}

export type DecodedLoss =
  | { kind: 'v2' | 'v1' | 'count'; ranges: LostRange[] }
  /** Why the declaration cannot be a writer's (its shape): a forgery whatever the keys. */
  | { kind: 'v2' | 'v1'; invalid: string };

export interface DecodeLossOptions {
  /** The session's integrity scheme is 1: the uncommitted `lost_seqs` spelling is accepted. */
  v1: boolean;
  maxHashes?: number;
  maxV1Seqs?: number;
}

/**
 * Read the ranges of a loss declaration at `seq` from its `data`, checked as the writer writes them:
 * ranges in seq order, not overlapping, before the declaration, each v2 range with its prev and one
 * hash per seq, within the size bounds. Never throws.
 */
export function decodeLostRanges(data: JsonObject, seq: number, options: DecodeLossOptions): DecodedLoss {
  if ('lost_ranges' in data) {
    const r = decodeV2(data.lost_ranges, seq, options.maxHashes ?? MAX_LOST_PER_DECLARATION);
    return 'invalid' in r ? { kind: 'v2', invalid: r.invalid } : { kind: 'v2', ranges: r.ranges };
  }
  if ('lost_seqs' in data) {
    if (!options.v1) return { kind: 'v1', invalid: 'lost_seqs without commitments is the scheme v1 spelling, and this session is not v1' };
    const r = decodeV1(data.lost_seqs, seq, options.maxV1Seqs ?? MAX_V1_LOST_SEQS);
    return 'invalid' in r ? { kind: 'v1', invalid: r.invalid } : { kind: 'v1', ranges: r.ranges };
  }
  return { kind: 'count', ranges: [] };
}

type Ranges = { ranges: LostRange[] } | { invalid: string };

function decodeV2(list: JsonValue | undefined, seq: number, maxHashes: number): Ranges {
  if (!Array.isArray(list) || list.length === 0) return { invalid: 'lost_ranges is not a non-empty list' };
  const ranges: LostRange[] = [];
  let total = 0;
  for (const item of list) {
    if (!isObject(item)) return { invalid: 'a lost range is not an object' };
    const from = nonNegativeInt(item.from);
    const to = nonNegativeInt(item.to);
    if (from === undefined || to === undefined || to < from) return { invalid: 'a lost range has no valid from..to' };
    if (to >= seq) return { invalid: `it declares seq ${to} lost, which comes after the declaration itself (seq ${seq})` };
    if (typeof item.prev !== 'string' || !HEX64.test(item.prev)) return { invalid: 'a lost range has no prev hash' };
    const hashes = item.hashes;
    if (!Array.isArray(hashes) || hashes.length !== to - from + 1 || !hashes.every((h) => typeof h === 'string' && HEX64.test(h))) {
      return { invalid: `lost range ${from}..${to} does not carry ${to - from + 1} body hashes` };
    }
    total += hashes.length;
    if (total > maxHashes) return { invalid: `more than ${maxHashes} hashes in one declaration (the writer splits larger losses)` };
    if (ranges.length && from <= ranges[ranges.length - 1]!.to) return { invalid: 'lost ranges overlap or are not in seq order' };
    ranges.push({ from, to, prev: item.prev, hashes: hashes as string[] });
  }
  return { ranges };
}

function decodeV1(list: JsonValue | undefined, seq: number, maxSeqs: number): Ranges {
  if (!Array.isArray(list)) return { invalid: 'lost_seqs is not a list' };
  const ranges: LostRange[] = [];
  let total = 0;
  for (const item of list) {
    const from = Array.isArray(item) && item.length === 2 ? nonNegativeInt(item[0]) : undefined;
    const to = Array.isArray(item) && item.length === 2 ? nonNegativeInt(item[1]) : undefined;
    if (from === undefined || to === undefined || to < from || to >= seq) return { invalid: 'lost_seqs has an entry that is not [from, to] before the declaration' };
    ranges.push({ from, to });
    total += to - from + 1;
    if (total > maxSeqs) return { invalid: `lost_seqs declares more than ${maxSeqs} seqs` };
  }
  return { ranges };
}
