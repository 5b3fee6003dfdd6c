/**
 * Turns strace facts of one Open Interpreter server tree into what each approved block really did.
 *
 * Attribution, by process ancestry and by time window:
 * - `server`: the sandbox launcher and the `interpreter --server` process (with its threads and any fork that has
 *   not exec'd). Its own file activity is Open Interpreter's, not the code's, and is ignored.
 * - `runtime`: a program the server starts (the Jupyter kernel, the shell OI keeps for shell blocks, …). The
 *   kernel runs approved Python itself, so its file activity counts; its own exec is recorded but is not a finding.
 * - `code`: every descendant of a runtime. Each exec is a program the approved code started.
 * A fact belongs to the block whose window (from `go` to the block's end) was open when the fact was read;
 * outside any window it is reported as session-level activity (a background process left running).
 *
 * Bounded: per window at most MAX_* records of each kind (the rest counted); facts of a process whose parent is
 * not known yet (strace may print a child's first syscall before the parent's fork returns) wait in a bounded
 * buffer.
 */
import { basename } from 'node:path';
import type { TraceFact } from './strace-parser.js';
import { normalise } from './strace-parser.js';
import type { SensitiveClass, SensitivePaths } from '../../../sandbox/sensitive-paths.js';

export type ProcessRole = 'runtime' | 'code';

export interface ProcessRecord {
  /** Host pid (as strace sees it). */
  pid: number;
  /** The pid inside the sandbox's PID namespace, when it differs (what the code itself would print). */
  nsPid?: number;
  ppid: number;
  role: ProcessRole;
  path: string;
  argv: string[];
  argvTruncated: boolean;
  cwd: string;
  /** Seconds since the epoch (strace -ttt). */
  time: number;
  exitCode?: number;
  signal?: string;
}

export type FileOp = 'write' | 'create' | 'delete' | 'rename' | 'mkdir';

export interface FileRecord {
  op: FileOp;
  path: string;
  /** For rename: the new name. */
  to?: string;
  pid: number;
  ok: boolean;
  /** How many times this op hit this path in the window. */
  count: number;
}

export interface SensitiveRecord {
  path: string;
  class: SensitiveClass;
  pid: number;
  write: boolean;
  ok: boolean;
  errno?: string;
}

export interface WindowReport {
  processes: ProcessRecord[];
  files: FileRecord[];
  sensitive: SensitiveRecord[];
  /** Records not kept because a bound was reached, per kind. */
  dropped: { processes: number; files: number; sensitive: number };
}

export const MAX_PROCESSES = 500;
export const MAX_FILES = 500;
export const MAX_SENSITIVE = 200;
const MAX_BUFFERED_FACTS = 5_000;

interface Proc {
  tgid: number;
  nsPid?: number;
  ppid: number;
  role: 'server' | ProcessRole;
  cwd: string;
  /** The record of the last exec, to attach the exit status to. */
  last?: ProcessRecord;
}

class Window {
  readonly processes: ProcessRecord[] = [];
  readonly files = new Map<string, FileRecord>();
  readonly sensitive: SensitiveRecord[] = [];
  private readonly sensitiveSeen = new Set<string>();
  readonly dropped = { processes: 0, files: 0, sensitive: 0 };

  addProcess(p: ProcessRecord): void {
    if (this.processes.length < MAX_PROCESSES) this.processes.push(p);
    else this.dropped.processes++;
  }

  addFile(op: FileOp, path: string, pid: number, ok: boolean, to?: string): void {
    const key = `${op}\0${path}\0${to ?? ''}`;
    const existing = this.files.get(key);
    if (existing) {
      existing.count++;
      existing.ok ||= ok;
      return;
    }
    if (this.files.size >= MAX_FILES) {
      this.dropped.files++;
      return;
    }
    this.files.set(key, { op, path, pid, ok, count: 1, ...(to !== undefined ? { to } : {}) });
  }

  addSensitive(s: SensitiveRecord): void {
    const key = `${s.path}\0${s.pid}\0${s.write}`;
    if (this.sensitiveSeen.has(key)) return;
    if (this.sensitive.length >= MAX_SENSITIVE) {
      this.dropped.sensitive++;
      return;
    }
    this.sensitiveSeen.add(key);
    this.sensitive.push(s);
  }

  report(): WindowReport {
    return { processes: this.processes, files: [...this.files.values()], sensitive: this.sensitive, dropped: { ...this.dropped } };
  }
}

/** Writes nobody needs to see: terminals, the null device, pipes and /proc. */
function isNoise(path: string): boolean {
  return /^\/(dev|proc|sys)(\/|$)/.test(path) || !path.startsWith('/');
}

export class GroundTruthTracker {
  private readonly procs = new Map<number, Proc>();
  private readonly threadOf = new Map<number, number>();
  private readonly buffered = new Map<number, Array<{ fact: TraceFact; window: Window | undefined }>>();
  private bufferedCount = 0;
  private rootPid: number | undefined;
  private window: Window | undefined;
  private outside = new Window();
  /** Facts dropped because the wait buffer was full. */
  lostFacts = 0;

  constructor(
    private readonly sensitive: SensitivePaths,
    private readonly opts: { initialCwd: string; isServerExec: (argv: string[], path: string) => boolean },
  ) {}

  /** A block's code was handed to Open Interpreter: attribute what follows to it. */
  openWindow(): void {
    this.window = new Window();
  }

  /** The block ended: what it did. Exit statuses of processes still running are absent. */
  closeWindow(): WindowReport {
    const w = this.window ?? new Window();
    this.window = undefined;
    return w.report();
  }

  /** What happened outside any block since the last call (background processes). */
  takeOutside(): WindowReport {
    const w = this.outside;
    this.outside = new Window();
    return w.report();
  }

  push(fact: TraceFact): void {
    this.apply(fact, this.window);
  }

  private apply(fact: TraceFact, window: Window | undefined): void {
    const tgid = this.tgid(fact.pid);
    let proc = this.procs.get(tgid);
    if (!proc) {
      if (this.rootPid === undefined) {
        this.rootPid = fact.pid;
        proc = { tgid: fact.pid, ppid: 0, role: 'server', cwd: this.opts.initialCwd };
        this.procs.set(fact.pid, proc);
      } else {
        this.buffer(fact, window);
        return;
      }
    }
    const sink = window ?? this.outside;
    switch (fact.kind) {
      case 'spawn': {
        if (fact.child <= 0) return;
        if (fact.thread) {
          this.threadOf.set(fact.child, tgid);
        } else {
          this.procs.set(fact.child, {
            tgid: fact.child,
            ...(fact.childNsPid !== undefined && fact.childNsPid !== fact.child ? { nsPid: fact.childNsPid } : {}),
            ppid: tgid,
            role: proc.role === 'server' ? 'server' : 'code',
            cwd: proc.cwd,
          });
        }
        this.flushBuffered(fact.child);
        return;
      }
      case 'exec': {
        if (!fact.ok) return; // a PATH search miss: nothing ran
        if (proc.role === 'server') {
          const parent = this.procs.get(proc.ppid);
          const stillServer = tgid === this.rootPid || this.opts.isServerExec(fact.argv, fact.path) || parent === undefined;
          if (stillServer) return;
          proc.role = 'runtime';
        }
        const record: ProcessRecord = {
          pid: tgid,
          ...(proc.nsPid !== undefined ? { nsPid: proc.nsPid } : {}),
          ppid: proc.ppid,
          role: proc.role,
          path: fact.path,
          argv: fact.argv,
          argvTruncated: fact.argvTruncated,
          cwd: proc.cwd,
          time: fact.time,
        };
        proc.last = record;
        sink.addProcess(record);
        return;
      }
      case 'chdir':
        if (fact.path) proc.cwd = fact.path.startsWith('/') ? normalise(fact.path) : normalise(`${proc.cwd}/${fact.path}`);
        return;
      case 'exit': {
        if (fact.pid !== tgid) return; // a thread
        if (proc.last) {
          if (fact.code !== undefined) proc.last.exitCode = fact.code;
          if (fact.signal !== undefined) proc.last.signal = fact.signal;
        }
        this.procs.delete(tgid);
        for (const [tid, group] of this.threadOf) if (group === tgid) this.threadOf.delete(tid);
        return;
      }
      default:
        break;
    }
    if (proc.role === 'server') return;
    const abs = (p: string): string => (p.startsWith('/') ? p : normalise(`${proc.cwd}/${p}`));
    switch (fact.kind) {
      case 'open': {
        const path = abs(fact.path);
        const cls = this.sensitive.classify(path);
        if (cls) {
          sink.addSensitive({ path, class: cls, pid: tgid, write: fact.write, ok: fact.ok, ...(fact.errno ? { errno: fact.errno } : {}) });
        }
        if (fact.write && fact.ok && !isNoise(path)) sink.addFile(fact.create ? 'create' : 'write', path, tgid, true);
        return;
      }
      case 'delete':
        sink.addFile('delete', abs(fact.path), tgid, fact.ok);
        return;
      case 'rename':
        sink.addFile('rename', abs(fact.from), tgid, fact.ok, abs(fact.to));
        return;
      case 'mkdir':
        sink.addFile('mkdir', abs(fact.path), tgid, fact.ok);
        return;
    }
  }

  private tgid(pid: number): number {
    return this.threadOf.get(pid) ?? pid;
  }

  private buffer(fact: TraceFact, window: Window | undefined): void {
    if (this.bufferedCount >= MAX_BUFFERED_FACTS) {
      this.lostFacts++;
      return;
    }
    const list = this.buffered.get(fact.pid) ?? [];
    list.push({ fact, window });
    this.buffered.set(fact.pid, list);
    this.bufferedCount++;
  }

  private flushBuffered(pid: number): void {
    const list = this.buffered.get(pid);
    if (!list) return;
    this.buffered.delete(pid);
    this.bufferedCount -= list.length;
    for (const { fact, window } of list) this.apply(fact, window);
  }
}

/** The program name of an exec, as a reader would say it (`ls`, `python3`). */
export function programName(record: Pick<ProcessRecord, 'path' | 'argv'>): string {
  return basename(record.argv[0] ?? record.path) || basename(record.path);
}
