import { basename } from 'node:path';
import type { LogEntry } from '../read/otlp-files.js';
import type { Problem, SessionReport } from './types.js';
import { decodeRecord } from '../record/decode.js';
import { isObject } from '../record/json-shape.js';
import { AUDIT_EVENTS } from '../semconv/events.js';

const MAINTENANCE_EVENT = AUDIT_EVENTS.sinkMaintenance;

interface Deleted {
  file: string;
  by: string;
  ranges: Array<{ from: number; to: number }>;
}

/**
 * Gaps that the sink's retention explains. A rotation record names the seq ranges of each session its
 * file holds; a deletion record names the file. Both must come from maintenance sessions that verified
 * VALID and authenticated (MAC seed or pinned key), or they explain nothing: an attacker who deletes
 * files cannot excuse the hole without the keys. A covered `missing`/`missing_start` becomes a warning
 * `deleted_by_retention` naming the file; anything else (a gap outside a deleted file) stays an error.
 */
export function applyRetentionEvidence(reports: readonly SessionReport[], logs: readonly LogEntry[]): SessionReport[] {
  const trusted = new Set(reports.filter((r) => r.status === 'valid' && r.authenticatedBy !== 'none').map((r) => r.session));
  const rotated = new Map<string, Map<string, Array<{ from: number; to: number }>>>();
  const deletedFiles = new Map<string, string>();
  for (const entry of logs) {
    if (!entry.body.includes(MAINTENANCE_EVENT)) continue;
    // The one decoder: a body it refuses is no evidence of anything (a malformed record filed under
    // another session is reported there, so it would not stop the maintenance session verifying).
    const decoded = decodeRecord(entry.body);
    if (!decoded.ok) continue;
    const b = decoded.record;
    if (b.event !== MAINTENANCE_EVENT || !trusted.has(b.session) || typeof b.data.file !== 'string') continue;
    const file = basename(b.data.file);
    if (b.data.action === 'deleted_by_retention') deletedFiles.set(file, b.session);
    if (b.data.action === 'rotated' && Array.isArray(b.data.sessions)) {
      const bySession = rotated.get(file) ?? new Map<string, Array<{ from: number; to: number }>>();
      for (const s of b.data.sessions) {
        if (!isObject(s)) continue;
        const from = Number.isSafeInteger(s.from) ? (s.from as number) : undefined;
        const to = Number.isSafeInteger(s.to) ? (s.to as number) : undefined;
        if (typeof s.session !== 'string' || from === undefined || to === undefined) continue;
        const list = bySession.get(s.session) ?? [];
        list.push({ from, to });
        bySession.set(s.session, list);
      }
      rotated.set(file, bySession);
    }
  }
  const deletedBySession = new Map<string, Deleted[]>();
  for (const [file, by] of deletedFiles) {
    for (const [session, ranges] of rotated.get(file) ?? []) {
      const list = deletedBySession.get(session) ?? [];
      list.push({ file, by, ranges });
      deletedBySession.set(session, list);
    }
  }
  if (deletedBySession.size === 0) return [...reports];
  return reports.map((r) => {
    const deleted = deletedBySession.get(r.session);
    if (!deleted) return r;
    const cover = (from: number, to: number) => deleted.find((d) => d.ranges.some((x) => x.from <= from && to <= x.to));
    // The deleted head 0..k: the first checkpoint after it covers deleted records, so its Merkle root cannot
    // be recomputed, and the records between k and it stay unproven (without the start no MAC key either).
    // They are reported as such, as warnings naming the cause, not as errors of an unexplained gap.
    let head = -1;
    for (let grew = true; grew; ) {
      grew = false;
      for (const d of deleted) {
        for (const x of d.ranges) {
          if (x.from <= head + 1 && x.to > head) {
            head = x.to;
            grew = true;
          }
        }
      }
    }
    const firstCheckpoint = Math.min(...r.problems.filter((p) => p.code === 'unverifiable_checkpoint' && (p.seq ?? -1) > head).map((p) => p.seq!));
    const problems: Problem[] = r.problems.map((p) => {
      if (head >= 0 && p.code === 'unverifiable_checkpoint' && p.seq === firstCheckpoint) {
        return { ...p, severity: 'warning', message: `${p.message}: the records it covers before seq ${head + 1} were deleted by retention` };
      }
      if (head >= 0 && p.code === 'uncovered' && p.from === head + 1 && (p.to ?? Infinity) <= firstCheckpoint) {
        return { ...p, severity: 'warning', message: `${p.message}: NOT PROVEN: their checkpoint also covers records deleted by retention, and without the session start their MACs cannot be checked` };
      }
      if (p.code !== 'missing' && p.code !== 'missing_start') return p;
      const from = p.code === 'missing_start' ? 0 : (p.from ?? p.seq ?? 0);
      const to = p.code === 'missing_start' ? 0 : (p.to ?? from);
      const d = cover(from, to);
      if (!d) return p;
      const what = p.code === 'missing_start' ? 'the session start (seq 0)' : `seq ${from}..${to}`;
      return {
        code: 'deleted_by_retention',
        severity: 'warning',
        from,
        to,
        message: `${what} was in ${d.file}, deleted by retention as recorded by maintenance session ${d.by}; what remains is proven only by the signed checkpoints that cover no deleted record (pin the key with --public-key)`,
      };
    });
    return { ...r, problems, status: problems.some((p) => p.severity === 'error') ? 'invalid' : 'valid' };
  });
}
