import { GENESIS_HASH } from '../../integrity/hash.js';
import type { Problem } from '../types.js';
import { where, type Rec } from './records.js';

/**
 * The hash chain: each record's `prev` is the hash of the record before it. Across a gap the hash
 * declared for the lost record stands in (scheme v2), so a declared gap does not hide a rewrite.
 */
export function checkHashChain(chosen: Map<number, Rec>, seqs: readonly number[], declaredHash: (seq: number) => string | undefined): Problem[] {
  const problems: Problem[] = [];
  for (const s of seqs) {
    const r = chosen.get(s)!;
    if (s === 0) {
      if (r.prev !== GENESIS_HASH) {
        problems.push({ code: 'hash_mismatch', severity: 'error', seq: 0, message: `seq 0 does not start a chain (prev is not 64 zeros)${where(r.source)}`, source: r.source });
      }
      continue;
    }
    const before = chosen.get(s - 1);
    if (before) {
      if (r.prev !== before.hash) {
        problems.push({
          code: 'hash_mismatch',
          severity: 'error',
          seq: s - 1,
          message: `the hash of seq ${s - 1} does not match the prev recorded in seq ${s}: seq ${s - 1} (or the link) was altered${where(before.source)}`,
          source: before.source,
        });
      }
      continue;
    }
    const declared = declaredHash(s - 1);
    if (declared !== undefined && r.prev !== declared) {
      problems.push({
        code: 'hash_mismatch',
        severity: 'error',
        seq: s,
        message: `seq ${s} does not chain onto the hash declared for the lost seq ${s - 1}: the record after the gap is not the one the writer sealed${where(r.source)}`,
        source: r.source,
      });
    }
  }
  return problems;
}
