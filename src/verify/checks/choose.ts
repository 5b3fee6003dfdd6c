import { GENESIS_HASH } from '../../integrity/hash.js';
import type { Problem } from '../types.js';
import { where, type Rec } from './records.js';

function majority(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  let best: string | undefined;
  let bestN = 0;
  for (const v of values) {
    const n = (counts.get(v) ?? 0) + 1;
    counts.set(v, n);
    if (n > bestN) {
      best = v;
      bestN = n;
    }
  }
  return best;
}

/**
 * One record per seq. Where different bodies claim a seq (a conflict, always an error), keep the one
 * with the most evidence for it: a valid MAC, chain links on both sides, the session's trace.
 */
export function chooseRecords(
  bySeq: Map<number, Rec[]>,
  seqs: readonly number[],
  macOk: Map<Rec, boolean>,
  traceId: string | undefined,
): { chosen: Map<number, Rec>; problems: Problem[] } {
  const chosen = new Map<number, Rec>();
  const problems: Problem[] = [];
  for (const s of seqs) {
    const variants = bySeq.get(s)!;
    if (variants.length === 1) {
      chosen.set(s, variants[0]!);
      continue;
    }
    const prevRec = chosen.get(s - 1);
    const nextVariants = bySeq.get(s + 1) ?? [];
    const score = (r: Rec) =>
      (macOk.get(r) ? 4 : 0) +
      (prevRec && r.prev === prevRec.hash ? 2 : 0) +
      (nextVariants.some((n) => n.prev === r.hash) ? 2 : 0) +
      (r.traceId === traceId ? 1 : 0);
    const best = [...variants].sort((a, b) => score(b) - score(a) || a.index - b.index)[0]!;
    chosen.set(s, best);
    problems.push({
      code: 'conflict',
      severity: 'error',
      seq: s,
      count: variants.length,
      message: `${variants.length} different records claim seq ${s}: ${variants.slice(0, 8).map((v) => `${v.hash.slice(0, 12)}${where(v.source)}`).join(', ')}`,
      source: variants.find((v) => v !== best)?.source,
    });
  }
  return { chosen, problems };
}

export function sessionTrace(start: Rec | undefined, recs: readonly Rec[]): string | undefined {
  return start?.traceId ?? majority(recs.map((r) => r.traceId));
}

/** Records from another trace, or chained onto a record of another session. */
export function checkForeign(bySeq: Map<number, Rec[]>, traceId: string | undefined, byHash: Map<string, Rec>): Problem[] {
  const problems: Problem[] = [];
  for (const variants of bySeq.values()) {
    for (const r of variants) {
      if (traceId && r.traceId !== traceId) {
        problems.push({ code: 'foreign_record', severity: 'error', seq: r.seq, message: `seq ${r.seq} belongs to trace ${r.traceId.slice(0, 64)}, the session's trace is ${traceId.slice(0, 64)}${where(r.source)}`, source: r.source });
        continue;
      }
      const parent = r.prev === GENESIS_HASH ? undefined : byHash.get(r.prev);
      if (parent && parent.session !== r.session) {
        problems.push({ code: 'foreign_record', severity: 'error', seq: r.seq, message: `seq ${r.seq} chains onto seq ${parent.seq} of session ${parent.session}${where(r.source)}`, source: r.source });
      }
    }
  }
  return problems;
}
