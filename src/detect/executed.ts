/**
 * Rules on what really ran: the execution ground truth (argv of every process a block started, the
 * files it deleted, wrote or read, from containment) judged by the same effect analysis and rule table
 * as proposed code. An obfuscated block whose source passed the gate but exec'd `rm -rf ~` is flagged here.
 */
import { homedir } from 'node:os';
import { judgeArgv, newState } from './commands.js';
import { Collector } from './effects.js';
import { getDetector, result, type DetectionResult, type Finding } from './engine.js';
import { judgeDelete, judgeRead, judgeWrite } from './path-effects.js';

export interface ExecutedProcess {
  argv: string[];
  cwd?: string;
}

export interface ExecutedFile {
  op: 'delete' | 'write' | 'read';
  path: string;
  cwd?: string;
}

export interface ExecutedOptions {
  /** The home directory of the session (default: this process's). */
  home?: string;
  /** The workspace: deletes outside it (and outside the temporary directories) are flagged. */
  workspace?: string;
}

/** Shell-quote one argument so the pattern rules see the argv as a command line. */
function quote(a: string): string {
  return /^[\w@%+=:,./~-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Judge processes that ran and file operations that happened. */
export function detectExecuted(processes: readonly ExecutedProcess[], files: readonly ExecutedFile[] = [], options: ExecutedOptions = {}): DetectionResult {
  const detector = getDetector();
  const home = options.home ?? process.env.HOME ?? homedir();
  const found = new Map<string, Finding>();
  const out = new Collector();
  for (const p of processes.slice(0, 4096)) {
    if (p.argv.length === 0) continue;
    const state = { ...newState(), home, cwd: p.cwd ?? options.workspace };
    judgeArgv(p.argv, [], state, out);
    // Pattern rules on the command line, effect rules on inline code (`python3 -c …`, `sh -c …`).
    detector.judgeCode('shell', p.argv.map(quote).join(' '), state, 1, found);
  }
  for (const f of files.slice(0, 65_536)) {
    const state = { ...newState(), home, cwd: options.workspace ?? f.cwd };
    if (f.op === 'delete') judgeDelete(f.path, state, out, 'deleted');
    else if (f.op === 'write') judgeWrite(f.path, state, out, undefined, false);
    else judgeRead(f.path, state, out, false);
  }
  detector.effectFindings(out.effects, found);
  return result([...found.values()]);
}

/** One process at a time (as containment reports them). */
export function detectProcess(p: ExecutedProcess, options: ExecutedOptions = {}): DetectionResult {
  return detectExecuted([p], [], options);
}
