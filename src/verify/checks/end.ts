import { AUDIT_EVENTS } from '../../semconv/events.js';
import type { Problem, SessionReport } from '../types.js';
import { proves, type CheckpointFinding } from './checkpoints.js';
import { where, type Rec } from './records.js';

/** Split the gap a..b into declared and undeclared parts. */
function splitDeclared(a: number, b: number, declared: ReadonlyArray<[number, number]>): SessionReport['missing'] {
  const cover = declared
    .filter(([x, y]) => y >= a && x <= b)
    .map(([x, y]) => [Math.max(x, a), Math.min(y, b)] as [number, number])
    .sort((p, q) => p[0] - q[0]);
  const out: SessionReport['missing'] = [];
  let at = a;
  for (const [x, y] of cover) {
    if (y < at) continue;
    if (x > at) out.push({ from: at, to: x - 1, declared: false });
    const start = Math.max(x, at);
    const last = out[out.length - 1];
    if (last && last.declared && last.to === start - 1) last.to = y;
    else out.push({ from: start, to: y, declared: true });
    at = y + 1;
  }
  if (at <= b) out.push({ from: at, to: b, declared: false });
  return out;
}

/** Seq ranges absent from the input, each declared (by a trusted loss declaration) or not. */
export function checkGaps(seqs: readonly number[], declared: ReadonlyArray<[number, number]>, checkpointFroms: readonly number[]): { missing: SessionReport['missing']; problems: Problem[] } {
  const missing: SessionReport['missing'] = [];
  let expect = 0;
  for (const s of seqs) {
    if (s > expect) missing.push(...splitDeclared(expect, s - 1, declared));
    expect = s + 1;
  }
  const problems = missing.map((m): Problem => {
    const range = m.from === m.to ? `${m.from}` : `${m.from}..${m.to}`;
    const cpNote = checkpointFroms.some((f) => f > 0 && f - 1 >= m.from && f - 1 <= m.to) ? ' (includes a checkpoint)' : '';
    return {
      code: 'missing',
      severity: m.declared ? 'warning' : 'error',
      from: m.from,
      to: m.to,
      declared: m.declared,
      message: m.declared ? `missing ${range}: declared lost by an authenticated audit.loss event` : `missing ${range}${cpNote}`,
    };
  });
  return { missing, problems };
}

/**
 * The end: a session-end event proven by a checkpoint whose signature and Merkle root verify. That
 * checkpoint's signed seq is the session's record count; nothing may follow it.
 */
export function checkEnd(chosen: Map<number, Rec>, seqs: readonly number[], findings: readonly CheckpointFinding[], allowOpen: boolean): { ended: boolean; complete: boolean; problems: Problem[] } {
  const problems: Problem[] = [];
  const lastSeq = seqs.at(-1);
  if (lastSeq === undefined) return { ended: false, complete: false, problems };
  let endRec: Rec | undefined;
  for (const s of seqs) {
    const r = chosen.get(s)!;
    if (r.event === AUDIT_EVENTS.sessionEnd) {
      endRec = r;
      break;
    }
  }
  const coveredTo = findings.filter(proves).reduce((m, f) => Math.max(m, f.rec.seq), -1);
  if (!endRec) {
    problems.push({
      code: allowOpen ? 'open' : 'truncated',
      severity: allowOpen ? 'warning' : 'error',
      seq: lastSeq,
      message: allowOpen
        ? `no session end yet; last record is seq ${lastSeq}`
        : `truncated after seq ${lastSeq}: no session end event${coveredTo < lastSeq ? `, and seqs ${coveredTo + 1}..${lastSeq} are not covered by a verified checkpoint` : ''}`,
    });
    return { ended: false, complete: false, problems };
  }
  const end = endRec;
  const finalCp = findings.find((f) => f.rec.seq > end.seq);
  // A v1 loss leaves the final root unrecomputable; its signature still commits to the end (scheme_v1 says so).
  const sealsEnd = finalCp !== undefined && (proves(finalCp) || (finalCp.sigOk && finalCp.merkle === 'unverifiable_v1'));
  const complete = sealsEnd && finalCp.from <= end.seq && finalCp.to >= end.seq;
  if (!complete) {
    problems.push({ code: 'truncated', severity: 'error', seq: lastSeq, message: `truncated after seq ${lastSeq}: the session end (seq ${end.seq}) is not covered by a verified checkpoint` });
  }
  const limit = finalCp ? finalCp.rec.seq : end.seq;
  for (const s of seqs) {
    if (s <= limit) continue;
    const r = chosen.get(s)!;
    problems.push({ code: 'after_end', severity: 'error', seq: s, message: `seq ${s} comes after the session's ${finalCp ? 'final checkpoint' : 'end'}${where(r.source)}`, source: r.source });
  }
  return { ended: true, complete, problems };
}
