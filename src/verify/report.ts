import { escapeForLog } from '../record/escape.js';
import type { Problem, SessionReport, Severity } from './verify.js';

/** Totals over a verification run. */
export interface VerifySummary {
  sessions: number;
  valid: number;
  invalid: number;
  records: number;
  /** Problems by code, errors and warnings only. */
  problems: Record<string, number>;
}

export function summarize(reports: readonly SessionReport[]): VerifySummary {
  const problems: Record<string, number> = {};
  for (const r of reports) {
    for (const p of r.problems) if (p.severity !== 'info') problems[p.code] = (problems[p.code] ?? 0) + 1;
  }
  const valid = reports.filter((r) => r.status === 'valid').length;
  return {
    sessions: reports.length,
    valid,
    invalid: reports.length - valid,
    records: reports.reduce((n, r) => n + r.records, 0),
    problems,
  };
}

/** 0 when every session is valid (and there was at least one), 1 otherwise. Unreadable input (2) is the reader's call. */
export function exitCodeFor(reports: readonly SessionReport[]): 0 | 1 {
  return reports.length > 0 && reports.every((r) => r.status === 'valid') ? 0 : 1;
}

/** Text from the stream is untrusted: no control, bidi or line-breaking characters reach the terminal. */
function clean(text: string): string {
  return escapeForLog(text).replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

export interface TextOptions {
  /** Include info-level notes (MAC not checked, key not pinned, duplicates). */
  verbose?: boolean;
  /** ANSI colours for VALID/INVALID (only when writing to a terminal). */
  color?: boolean;
}

const LABEL: Record<Severity, string> = { error: 'ERROR', warning: 'WARNING', info: 'info' };

function problemLine(p: Problem): string {
  const at = p.seq !== undefined ? `seq ${p.seq}` : p.from !== undefined ? (p.from === p.to ? `seq ${p.from}` : `seq ${p.from}..${p.to}`) : '';
  const prefix = at && p.code !== 'missing' ? `${at}: ` : '';
  return `  ${LABEL[p.severity].padEnd(7)} ${p.code.padEnd(23)} ${prefix}${clean(p.message)}`;
}

function sessionLine(r: SessionReport, color: boolean): string {
  const status = r.status === 'valid' ? 'VALID' : 'INVALID';
  const painted = color ? (r.status === 'valid' ? `\x1b[32m${status}\x1b[0m` : `\x1b[31m${status}\x1b[0m`) : status;
  const range = r.firstSeq !== undefined ? ` (seq ${r.firstSeq}..${r.lastSeq})` : '';
  const parts = [
    `${r.records} record${r.records === 1 ? '' : 's'}${range}`,
    r.complete ? 'complete' : r.ended ? 'ended, final checkpoint missing' : 'no session end',
    `${r.signaturesValid}/${r.checkpoints} checkpoint signatures valid`,
    `${r.merkleRootsValid}/${r.checkpoints} Merkle roots valid`,
    r.mac === 'checked' ? `MACs ${r.macsValid}/${r.records} valid` : r.mac === 'wrong_seed' ? 'MAC seed does not match' : 'MAC not checked',
  ];
  if (r.keyTrusted === true) parts.push('key pinned');
  if (r.authenticatedBy === 'none') parts.push('NOT AUTHENTICATED (no --key, no --public-key)');
  if (r.scheme === 1) parts.push('integrity scheme v1');
  if (r.declaredLost > 0) parts.push(`${r.declaredLost} declared lost`);
  if (r.duplicates > 0) parts.push(`${r.duplicates} duplicate${r.duplicates === 1 ? '' : 's'}`);
  return `Session ${clean(r.session)}\t${painted}\t${parts.join(', ')}`;
}

/** Human-readable report: one line per session, then its problems (errors and warnings; info with verbose). */
export function renderText(reports: readonly SessionReport[], opts: TextOptions = {}): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(sessionLine(r, opts.color ?? false));
    for (const p of r.problems) if (opts.verbose || p.severity !== 'info') lines.push(problemLine(p));
  }
  const s = summarize(reports);
  lines.push('');
  if (s.sessions === 0) {
    lines.push('Results: no audit records found');
  } else {
    const byCode = Object.entries(s.problems)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    lines.push(
      `Results: ${s.valid}/${s.sessions} session${s.sessions === 1 ? '' : 's'} valid` +
        (s.invalid > 0 ? `, ${s.invalid}/${s.sessions} INVALID` : '') +
        `; ${s.records} record${s.records === 1 ? '' : 's'}` +
        (byCode ? `; problems: ${byCode}` : ''),
    );
    const unauthenticated = reports.filter((r) => r.authenticatedBy === 'none').length;
    if (unauthenticated > 0) {
      lines.push(
        `NOT AUTHENTICATED: ${unauthenticated}/${s.sessions} session${s.sessions === 1 ? '' : 's'} checked without a MAC seed or a pinned public key; ` +
          'MACs were not checked and signatures only against the key the trail publishes itself, so a rewritten trail would pass these checks too. Give --key and --public-key.',
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Machine-readable report: `{ summary, sessions }`, stable field names (those of SessionReport). */
export function renderJson(reports: readonly SessionReport[], opts: { pretty?: boolean } = {}): string {
  return `${JSON.stringify({ summary: summarize(reports), sessions: reports }, null, opts.pretty === false ? undefined : 2)}\n`;
}
