import { GENESIS_HASH } from '../../integrity/hash.js';
import { nonNegativeInt } from '../../record/json-shape.js';
import { decodeLostRanges, type LostRange } from '../../record/loss-ranges.js';
import { AUDIT_EVENTS } from '../../semconv/events.js';
import { VERIFY_LIMITS, type Problem } from '../types.js';
import { where, type Rec } from './records.js';

/**
 * `oi_audit.audit.loss` declarations. Their ranges are read by record/loss-ranges.ts, the one
 * definition of the format the writer (otel/loss-declaration.ts) emits: v2 `lost_ranges` commit to
 * what was lost; the v1 `lost_seqs` spelling is read for v1 sessions only.
 */
export type { LostRange } from '../../record/loss-ranges.js';

export interface LossDeclaration {
  rec: Rec;
  kind: 'v2' | 'v1' | 'count';
  ranges: LostRange[];
  /** `data.lost` (a count), when given. */
  lost?: number;
  /** Why the declaration cannot be a writer's (shape): a forgery whatever the keys. */
  invalid?: string;
}

/** Every loss declaration among the chosen records, shape-checked. */
export function parseDeclarations(chosen: Map<number, Rec>, seqs: readonly number[], scheme: number | undefined): LossDeclaration[] {
  const out: LossDeclaration[] = [];
  for (const s of seqs) {
    const rec = chosen.get(s)!;
    if (rec.event !== AUDIT_EVENTS.auditLoss) continue;
    const lost = nonNegativeInt(rec.data.lost);
    const base = lost === undefined ? { rec } : { rec, lost };
    const decoded = decodeLostRanges(rec.data, s, {
      v1: scheme === 1,
      maxHashes: VERIFY_LIMITS.maxLostPerDeclaration,
      // Bounded like everything else: the MAC walk's bound.
      maxV1Seqs: VERIFY_LIMITS.maxMacSeq,
    });
    out.push('invalid' in decoded ? { ...base, kind: decoded.kind, ranges: [], invalid: decoded.invalid } : { ...base, kind: decoded.kind, ranges: decoded.ranges });
  }
  return out;
}

/** What a set of trusted declarations says about seqs that are not present. */
export interface LossLedger {
  /** SHA-256 of a body declared lost (v2). */
  hashOf: (seq: number) => string | undefined;
  /** Covered by a v1 range (declared, but with no hash). */
  inV1Range: (seq: number) => boolean;
  /** How many seqs of from..to v1 ranges declare (bounds the Merkle walk without walking). */
  v1Overlap: (from: number, to: number) => number;
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
