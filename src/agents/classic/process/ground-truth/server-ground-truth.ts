/**
 * Execution ground truth for one Open Interpreter server: strace output (StraceReader) → attribution
 * (GroundTruthTracker) → audit events in the execution span of the block that was running (observeExecutions).
 */
import { emitGroundTruth, observeExecutions, type AuditExecution } from '../../../../audit/execution.js';
import type { AuditSession } from '../../../../audit/session.js';
import type { JsonObject } from '../../../../record/canonical-json.js';
import { isInside } from '../../../sandbox/bwrap.js';
import { assessExec, assessSensitive, MASS_DELETE_THRESHOLD, RULE_MASS_DELETE } from './assess.js';
import { SensitivePaths } from '../../../sandbox/sensitive-paths.js';
import { StraceReader } from './strace-reader.js';
import { GroundTruthTracker, programName, type FileRecord, type ProcessRecord, type SensitiveRecord, type WindowReport } from './tracker.js';

export interface ServerGroundTruthOptions {
  /** The server's working directory (its starting cwd, as the sandbox sees it). */
  initialCwd: string;
  /** Session workspace (HOME): writes there are flagged `in_workspace`. */
  workspace: string;
  /** Paths of oi-audit's own secrets and records (key files, spool, sink). */
  ownSecrets: string[];
  /** Directories the runtime itself writes (the kernel's IPYTHONDIR): not reported as the code's file writes. */
  runtimeDirs?: string[];
  /** The sandbox HOME when it is not the workspace (its runtime housekeeping is not the code's doing either). */
  home?: string;
  /** Recognises the `interpreter --server` exec itself (server, not a runtime). */
  isServerExec: (argv: string[], path: string) => boolean;
}

/** Runtime housekeeping under HOME that is not the code's doing (IPython history, Jupyter runtime files, caches). */
const RUNTIME_HOUSEKEEPING = ['.ipython', '.local/share/jupyter', '.cache', '.config/matplotlib', '.jupyter'];

export class ServerGroundTruth {
  readonly reader: StraceReader;
  private readonly tracker: GroundTruthTracker;
  private detach: (() => void) | undefined;
  private session: AuditSession | undefined;

  constructor(private readonly opts: ServerGroundTruthOptions) {
    this.tracker = new GroundTruthTracker(new SensitivePaths(opts.ownSecrets), { initialCwd: opts.initialCwd, isServerExec: opts.isServerExec });
    this.reader = new StraceReader((fact) => this.tracker.push(fact));
  }

  /** strace's argv up to and including `--`. */
  straceArgs(): string[] {
    return this.reader.straceArgs();
  }

  /** Record each approved block of `session` with what it really did. */
  attach(session: AuditSession): void {
    this.session = session;
    this.detach = observeExecutions(session, {
      started: () => {
        this.reader.drain();
        this.emitOutside();
        this.tracker.openWindow();
      },
      ending: (execution) => {
        this.reader.drain();
        this.emitWindow(execution, this.tracker.closeWindow());
      },
    });
  }

  /** Stop observing; report what ran outside any block; remove the FIFO. */
  close(): void {
    try {
      this.reader.drain();
      this.emitOutside();
    } finally {
      this.detach?.();
      this.detach = undefined;
      this.reader.close();
    }
  }

  private emitWindow(execution: AuditExecution, report: WindowReport): void {
    const approved = execution.approvedCode;
    const session = this.session!;
    for (const p of report.processes) {
      if (p.role === 'runtime') {
        execution.recordGroundTruth('process', processData(session, p, { accounted: true }));
        continue;
      }
      const a = assessExec(p, approved);
      const data = processData(session, p, { accounted: a.accounted });
      const reason = !a.accounted ? `program ${a.program} is not named by the approved code` : `program ${a.program} matched ${a.rules.join(', ')}`;
      execution.recordGroundTruth('process', data, a.risk !== 'none' ? { level: a.risk, rules: a.rules, reason } : undefined);
    }
    for (const f of report.files) {
      if (this.isHousekeeping(f)) continue;
      execution.recordGroundTruth(f.op === 'delete' ? 'file_delete' : 'file_write', this.fileData(f));
    }
    // Whatever the source said: deleting HOME itself (rm -rf ~ ends with rmdir of it) or very many files.
    const deletes = report.files.filter((f) => f.op === 'delete');
    const deleteCount = deletes.reduce((n, f) => n + f.count, 0) + report.dropped.files;
    const homeTargeted = deletes.some((f) => f.path === this.opts.workspace);
    if (homeTargeted || deleteCount >= MASS_DELETE_THRESHOLD) {
      execution.recordGroundTruthFinding('file_delete', { path: this.opts.workspace, deletes: deleteCount, home_targeted: homeTargeted }, {
        level: homeTargeted ? 'critical' : 'high',
        rules: [RULE_MASS_DELETE],
        reason: homeTargeted ? 'the code tried to delete the home directory itself' : `${deleteCount} deletions in one block`,
      });
    }
    for (const s of report.sensitive) {
      const a = assessSensitive(s);
      execution.recordGroundTruth('sensitive_read', sensitiveData(s), { level: a.risk, rules: a.rules, reason: `${s.class} path ${s.path} opened${s.ok ? '' : ` (failed: ${s.errno ?? 'error'})`}` });
    }
    execution.recordGroundTruthSummary(this.summary(report));
  }

  private emitOutside(): void {
    const session = this.session;
    if (!session || session.isEnded) return;
    const report = this.tracker.takeOutside();
    for (const p of report.processes) {
      if (p.role === 'runtime') {
        emitGroundTruth(session, session.rootSpan, 'process', { ...processData(session, p, { accounted: true }), outside_block: true });
        continue;
      }
      // Started while no block ran: a background process of earlier code. No approved code accounts for it.
      const a = assessExec(p, { language: 'shell', code: '' });
      emitGroundTruth(session, session.rootSpan, 'process', { ...processData(session, p, { accounted: false }), outside_block: true }, { level: a.risk, rules: a.rules, reason: `program ${a.program} started outside any approved block` });
    }
    for (const s of report.sensitive) {
      const a = assessSensitive(s);
      emitGroundTruth(session, session.rootSpan, 'sensitive_read', { ...sensitiveData(s), outside_block: true }, { level: a.risk, rules: a.rules, reason: `${s.class} path ${s.path} opened outside any approved block` });
    }
  }

  private isHousekeeping(f: FileRecord): boolean {
    const home = this.opts.home ?? this.opts.workspace;
    return (
      RUNTIME_HOUSEKEEPING.some((dir) => isInside(f.path, `${home}/${dir}`)) ||
      (this.opts.runtimeDirs ?? []).some((dir) => isInside(f.path, dir))
    );
  }

  private fileData(f: FileRecord): JsonObject {
    const data: JsonObject = { op: f.op, path: f.path, pid: f.pid, ok: f.ok, count: f.count, in_workspace: isInside(f.path, this.opts.workspace) };
    if (f.to !== undefined) data.to = f.to;
    return data;
  }

  private summary(report: WindowReport): JsonObject {
    return {
      source: 'strace',
      processes: report.processes.filter((p) => p.role === 'code').length,
      runtime_processes: report.processes.filter((p) => p.role === 'runtime').length,
      files: report.files.length,
      sensitive_reads: report.sensitive.length,
      dropped: { ...report.dropped },
      // Cumulative for the server: trace lines not understood or dropped for length, facts lost for buffer space.
      unparsed_lines: this.reader.unparsed,
      long_lines: this.reader.longLines,
      lost_facts: this.tracker.lostFacts,
    };
  }
}

/**
 * argv is content (a command line can carry a token): recorded under the session's code capture policy, each
 * element redacted, plus the whole command line as a captured field (its hash survives any mode).
 */
function processData(session: AuditSession, p: ProcessRecord, extra: { accounted: boolean }): JsonObject {
  const commandLine = session.capture('code', p.argv.join(' '));
  const argv = typeof commandLine.text === 'string' ? p.argv.map((a) => textOf(session.capture('code', a).text)) : [];
  const data: JsonObject = {
    program: programName(p),
    path: p.path,
    argv,
    command_line: commandLine,
    argv_truncated: p.argvTruncated,
    cwd: p.cwd,
    pid: p.pid,
    ppid: p.ppid,
    role: p.role,
    accounted: extra.accounted,
    time_unix: p.time,
  };
  if (p.nsPid !== undefined) data.sandbox_pid = p.nsPid;
  if (p.exitCode !== undefined) data.exit_code = p.exitCode;
  if (p.signal !== undefined) data.signal = p.signal;
  if (p.exitCode === undefined && p.signal === undefined) data.running = true;
  return data;
}

const textOf = (text: unknown): string => (typeof text === 'string' ? text : '');

function sensitiveData(s: SensitiveRecord): JsonObject {
  return { path: s.path, class: s.class, pid: s.pid, write: s.write, ok: s.ok, ...(s.errno ? { errno: s.errno } : {}) };
}
