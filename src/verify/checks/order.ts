import type { Problem } from '../types.js';
import { where, type Rec } from './records.js';

/** Bodies not in RFC 8785 form were re-serialised somewhere: their hash no longer is the writer's. */
export function checkCanonical(recs: readonly Rec[]): Problem[] {
  return recs
    .filter((r) => !r.canonical)
    .map((r) => ({ code: 'not_canonical', severity: 'error', seq: r.seq, message: `body is not in RFC 8785 canonical form${where(r.source)}`, source: r.source }) satisfies Problem);
}

/**
 * Records out of seq order within one ordered source file. Every sink oi-audit writes keeps order
 * (sync file sink, ordered spool, one-consumer queues), so that is tampering unless the store is
 * known not to keep order. Sources marked `ordered: false` (Loki answers) carry no order evidence:
 * they are read in seq order, and only the chain decides.
 */
export function checkArrivalOrder(recs: readonly Rec[], allowReorder: boolean): Problem[] {
  const lastSeqByFile = new Map<string, number>();
  let reordered = 0;
  let first: Rec | undefined;
  const arrived = new Set<string>();
  for (const r of [...recs].sort((a, b) => a.index - b.index)) {
    if (r.source?.ordered === false) continue;
    const file = r.source?.file ?? '';
    // A redelivered copy (at-least-once delivery) is a duplicate, reported elsewhere, not a reordering.
    const key = `${file}\u0000${r.seq}`;
    if (arrived.has(key)) continue;
    arrived.add(key);
    const last = lastSeqByFile.get(file);
    if (last !== undefined && r.seq < last) {
      reordered++;
      first ??= r;
    }
    lastSeqByFile.set(file, Math.max(last ?? -1, r.seq));
  }
  if (reordered === 0 || !first) return [];
  return [
    {
      code: 'reordered',
      severity: allowReorder ? 'warning' : 'error',
      seq: first.seq,
      count: reordered,
      message: `${reordered} record(s) arrived after a higher seq in the same file (first: seq ${first.seq}${where(first.source)}); verified in seq order`,
      source: first.source,
    },
  ];
}

export interface SeqIndex {
  /** Distinct bodies per seq (identical copies collapsed). */
  bySeq: Map<number, Rec[]>;
  /** Present seqs, ascending. */
  seqs: number[];
  duplicates: number;
  problems: Problem[];
}

export function indexBySeq(recs: readonly Rec[]): SeqIndex {
  const bySeq = new Map<number, Rec[]>();
  for (const r of recs) {
    const list = bySeq.get(r.seq);
    if (!list) bySeq.set(r.seq, [r]);
    else if (!list.some((x) => x.hash === r.hash)) list.push(r);
  }
  let distinct = 0;
  for (const l of bySeq.values()) distinct += l.length;
  const duplicates = recs.length - distinct;
  const problems: Problem[] = [];
  if (duplicates > 0) {
    problems.push({ code: 'duplicate', severity: 'info', count: duplicates, message: `${duplicates} identical duplicate record(s) (delivered twice); counted once` });
  }
  return { bySeq, seqs: [...bySeq.keys()].sort((a, b) => a - b), duplicates, problems };
}
