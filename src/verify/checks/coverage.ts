import type { Problem } from '../types.js';
import { proves, seqsIn, type CheckpointFinding } from './checkpoints.js';
import type { Rec } from './records.js';

export interface CoverageInput {
  chosen: Map<number, Rec>;
  seqs: readonly number[];
  findings: readonly CheckpointFinding[];
  /** MAC verdicts, when a seed was given. */
  macOk?: Map<Rec, boolean>;
  /** Seq declared lost (any scheme): a lost checkpoint leaves its records without a signature. */
  isDeclared(seq: number): boolean;
  allowOpen: boolean;
  ended: boolean;
}

export interface Coverage {
  /** Records proven by a checkpoint whose signature and Merkle root verify (or that are such a checkpoint). */
  covered: Set<number>;
  problems: Problem[];
}

/**
 * Every record must fall under a checkpoint that proves it. A record that does not is `uncovered`:
 * an error, except where the writer itself explains it and the record's own MAC verifies (under a
 * checkpoint whose records a scheme v1 loss took, or under a checkpoint declared lost), or where the
 * session is still running (`allowOpen`, after the last checkpoint).
 */
export function checkCoverage(c: CoverageInput): Coverage {
  const covered = new Set<number>();
  const soft = new Set<number>();
  let lastProvenCp = -1;
  c.findings.forEach((f, i) => {
    if (proves(f)) {
      covered.add(f.rec.seq);
      lastProvenCp = Math.max(lastProvenCp, f.rec.seq);
      for (const s of seqsIn(c.seqs, f.from, f.to)) covered.add(s);
    } else if (f.sigOk && f.merkle === 'unverifiable_v1') {
      soft.add(f.rec.seq);
      for (const s of seqsIn(c.seqs, f.from, f.to)) soft.add(s);
    }
    // Records between the previous checkpoint and a declared-lost one (this one's from_seq - 1).
    if (f.shapeOk && f.from > 0 && !c.chosen.has(f.from - 1) && c.isDeclared(f.from - 1)) {
      const before = i > 0 ? c.findings[i - 1]!.rec.seq : -1;
      for (const s of seqsIn(c.seqs, before + 1, f.from - 2)) soft.add(s);
    }
  });
  const problems: Problem[] = [];
  let run: { from: number; to: number; severity: 'error' | 'warning'; reason: string } | undefined;
  const flush = () => {
    if (!run) return;
    const range = run.from === run.to ? `seq ${run.from}` : `seqs ${run.from}..${run.to}`;
    problems.push({ code: 'uncovered', severity: run.severity, from: run.from, to: run.to, message: `${range} not proven by any checkpoint whose signature and Merkle root verify${run.reason}` });
    run = undefined;
  };
  for (const s of c.seqs) {
    if (covered.has(s)) {
      flush();
      continue;
    }
    const r = c.chosen.get(s)!;
    const macVerified = c.macOk?.get(r) === true;
    let severity: 'error' | 'warning' = 'error';
    let reason = '';
    if (c.allowOpen && !c.ended && s > lastProvenCp) {
      severity = 'warning';
      reason = ' (session still open: not yet sealed by a checkpoint)';
    } else if (soft.has(s) && macVerified) {
      severity = 'warning';
      reason = ' (its checkpoint cannot be recomputed after a declared loss; its MAC verifies)';
    }
    if (run && run.to === s - 1 && run.severity === severity && run.reason === reason) run.to = s;
    else {
      flush();
      run = { from: s, to: s, severity, reason };
    }
  }
  flush();
  return { covered, problems };
}

