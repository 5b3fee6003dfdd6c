import type { Problem } from '../types.js';
import { where, type Rec } from './records.js';

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** Timestamps that do not parse (malformed), long silences (time_gap) and clocks going backwards. */
export function checkTime(chosen: Map<number, Rec>, seqs: readonly number[], maxGapMs: number | undefined): Problem[] {
  const problems: Problem[] = [];
  let prevTime: { seq: number; ms: number } | undefined;
  for (const s of seqs) {
    const r = chosen.get(s)!;
    const ms = Date.parse(r.ts);
    if (Number.isNaN(ms)) {
      problems.push({ code: 'malformed', severity: 'error', seq: s, message: `ts "${r.ts.slice(0, 40)}" is not a timestamp${where(r.source)}`, source: r.source });
      continue;
    }
    if (prevTime && prevTime.seq === s - 1) {
      const dt = ms - prevTime.ms;
      if (maxGapMs !== undefined && dt > maxGapMs) {
        problems.push({ code: 'time_gap', severity: 'warning', from: prevTime.seq, to: s, message: `${formatMs(dt)} between seq ${prevTime.seq} and seq ${s}` });
      }
      if (dt < -1000) {
        problems.push({ code: 'clock_skew', severity: 'info', from: prevTime.seq, to: s, message: `seq ${s} is ${formatMs(-dt)} earlier than seq ${prevTime.seq}` });
      }
    }
    prevTime = { seq: s, ms };
  }
  return problems;
}
