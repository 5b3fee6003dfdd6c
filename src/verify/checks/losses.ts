import type { JsonObject } from '../../record/canonical-json.js';
import { GENESIS_HASH } from '../../integrity/hash.js';
import { AUDIT_EVENTS } from '../../semconv/events.js';
import { VERIFY_LIMITS, type Problem } from '../types.js';
import { HEX64, isObject, where, type Rec } from './records.js';

/**
 * `oi_audit.audit.loss` declarations. Scheme v2 (docs/integrity.md §4a): `data.lost_ranges` =
 * [{from, to, prev, hashes}] commits to what was lost: the seq range, the hash of the record before
 * it (the first lost record's `prev`) and the SHA-256 of every lost body, so the chain and the
 * Merkle roots stay checkable across the gap. Scheme v1 trails wrote `data.lost_seqs` = [[from, to]]
 * with no commitment; that spelling is read for v1 sessions only. Nothing else is a declaration.
 */
export interface LostRange {
  from: number;
  to: number;
  /** v2: SHA-256 of the body before `from` (64 zeros when from = 0). */
  prev?: string;
  /** v2: SHA-256 of every lost body, from..to. */
  hashes?: string[];
}

export interface LossDeclaration {
  rec: Rec;
  kind: 'v2' | 'v1' | 'count';
  ranges: LostRange[];
  /** `data.lost` (a count), when given. */
  lost?: number;
  /** Why the declaration cannot be a writer's (shape): a forgery whatever the keys. */
  invalid?: string;
}

const int = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

function parseV2(data: JsonObject, seq: number): { ranges: LostRange[] } | { invalid: string } {
  const list = data.lost_ranges;
  if (!Array.isArray(list) || list.length === 0) return { invalid: 'lost_ranges is not a non-empty list' };
  const ranges: LostRange[] = [];
  let total = 0;
  for (const item of list) {
    if (!isObject(item)) return { invalid: 'a lost range is not an object' };
    const from = int(item.from);
    const to = int(item.to);
    if (from === undefined || to === undefined || to < from) return { invalid: 'a lost range has no valid from..to' };
    if (to >= seq) return { invalid: `it declares seq ${to} lost, which comes after the declaration itself (seq ${seq})` };
    if (typeof item.prev !== 'string' || !HEX64.test(item.prev)) return { invalid: 'a lost range has no prev hash' };
    const hashes = item.hashes;
    if (!Array.isArray(hashes) || hashes.length !== to - from + 1 || !hashes.every((h) => typeof h === 'string' && HEX64.test(h))) {
      return { invalid: `lost range ${from}..${to} does not carry ${to - from + 1} body hashes` };
    }
    total += hashes.length;
    if (total > VERIFY_LIMITS.maxLostPerDeclaration) return { invalid: `more than ${VERIFY_LIMITS.maxLostPerDeclaration} hashes in one declaration (the writer splits larger losses)` };
    if (ranges.length && from <= ranges[ranges.length - 1]!.to) return { invalid: 'lost ranges overlap or are not in seq order' };
    ranges.push({ from, to, prev: item.prev, hashes: hashes as string[] });
  }
  return { ranges };
}

function parseV1(data: JsonObject, seq: number): { ranges: LostRange[] } | { invalid: string } {
  const list = data.lost_seqs;
  if (!Array.isArray(list)) return { invalid: 'lost_seqs is not a list' };
  const ranges: LostRange[] = [];
  for (const item of list) {
    const from = Array.isArray(item) && item.length === 2 ? int(item[0]) : undefined;
    const to = Array.isArray(item) && item.length === 2 ? int(item[1]) : undefined;
    if (from === undefined || to === undefined || to < from || to >= seq) return { invalid: 'lost_seqs has an entry that is not [from, to] before the declaration' };
    ranges.push({ from, to });
    // Bounded like everything else: no v1 writer declared this much in one event.
    if (ranges.reduce((n, r) => n + r.to - r.from + 1, 0) > VERIFY_LIMITS.maxMacSeq) return { invalid: `lost_seqs declares more than ${VERIFY_LIMITS.maxMacSeq} seqs` };
  }
  return { ranges };
}

/** Every loss declaration among the chosen records, shape-checked. */
export function parseDeclarations(chosen: Map<number, Rec>, seqs: readonly number[], scheme: number | undefined): LossDeclaration[] {
  const out: LossDeclaration[] = [];
  for (const s of seqs) {
    const rec = chosen.get(s)!;
    if (rec.event !== AUDIT_EVENTS.auditLoss) continue;
    const d = rec.data;
    const lost = int(d.lost);
    const base = lost === undefined ? { rec } : { rec, lost };
    let parsed: { ranges: LostRange[] } | { invalid: string };
    let kind: LossDeclaration['kind'];
    if ('lost_ranges' in d) {
      kind = 'v2';
      parsed = parseV2(d, s);
    } else if ('lost_seqs' in d) {
      kind = 'v1';
      parsed = scheme === 1 ? parseV1(d, s) : { invalid: 'lost_seqs without commitments is the scheme v1 spelling, and this session is not v1' };
    } else {
      kind = 'count';
      parsed = { ranges: [] };
    }
    out.push('invalid' in parsed ? { ...base, kind, ranges: [], invalid: parsed.invalid } : { ...base, kind, ranges: parsed.ranges });
  }
  return out;
}

/** What a set of trusted declarations says about seqs that are not present. */
export interface LossLedger {
  /** SHA-256 of a body declared lost (v2). */
  hashOf(seq: number): string | undefined;
  /** Covered by a v1 range (declared, but with no hash). */
  inV1Range(seq: number): boolean;
  /** How many seqs of from..to v1 ranges declare (bounds the Merkle walk without walking). */
  v1Overlap(from: number, to: number): number;
  /** Every declared range (v1 and v2), for the gap report. */
  ranges: Array<[number, number]>;
  problems: Problem[];
}

/**
 * Build the ledger from the declarations trusted so far, and check each against what is present:
 * a declared-lost record that is present must have the declared hash, and the record before a range
 * must hash to the range's `prev`.
 */
export function buildLedger(decls: readonly LossDeclaration[], chosen: Map<number, Rec>): LossLedger {
  const hashes = new Map<number, { hash: string; by: Rec }>();
  const v1: Array<[number, number]> = [];
  const ranges: Array<[number, number]> = [];
  const problems: Problem[] = [];
  const mismatch = (by: Rec, seq: number, message: string) =>
    problems.push({ code: 'loss_mismatch', severity: 'error', seq: by.seq, from: seq, to: seq, message: `loss declaration at seq ${by.seq}: ${message}${where(by.source)}`, source: by.source });
  for (const d of decls) {
    for (const r of d.ranges) {
      ranges.push([r.from, r.to]);
      if (!r.hashes) {
        v1.push([r.from, r.to]);
        continue;
      }
      r.hashes.forEach((h, i) => {
        const seq = r.from + i;
        const other = hashes.get(seq);
        if (other && other.hash !== h) mismatch(d.rec, seq, `declares seq ${seq} lost with another hash than the declaration at seq ${other.by.seq}`);
        else if (!other) hashes.set(seq, { hash: h, by: d.rec });
        const present = chosen.get(seq);
        if (present && present.hash !== h) mismatch(d.rec, seq, `declares seq ${seq} lost with hash ${h.slice(0, 12)}, but seq ${seq} is present with hash ${present.hash.slice(0, 12)}`);
      });
    }
  }
  const hashOf = (seq: number) => chosen.get(seq)?.hash ?? hashes.get(seq)?.hash;
  for (const d of decls) {
    for (const r of d.ranges) {
      if (r.prev === undefined) continue;
      const before = r.from === 0 ? GENESIS_HASH : hashOf(r.from - 1);
      if (before !== undefined && before !== r.prev) mismatch(d.rec, r.from, `the record before lost range ${r.from}..${r.to} does not hash to the range's prev`);
    }
  }
  return {
    hashOf: (seq) => hashes.get(seq)?.hash,
    inV1Range: (seq) => v1.some(([a, b]) => seq >= a && seq <= b),
    v1Overlap: (from, to) => v1.reduce((n, [a, b]) => n + Math.max(0, Math.min(b, to) - Math.max(a, from) + 1), 0),
    ranges,
    problems,
  };
}
