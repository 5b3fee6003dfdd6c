/**
 * Judging what really ran against what was approved: each program the code started is run through the same
 * detection as proposed code (its argv as a shell command line), and a program the approved code does not
 * name is "unaccounted". Either raises a ground-truth finding, whether or not the source passed the gate.
 */
import { detectCode } from '../../../../detect/engine.js';
import { detectProcess } from '../../../../detect/executed.js';
import { maxRisk, type RiskLevel } from '../../../../semconv/events.js';
import { programName, type ProcessRecord, type SensitiveRecord } from './tracker.js';

export interface ExecAssessment {
  program: string;
  /** The approved code names this program (or, for a shell started by a Python process call, calls one). */
  accounted: boolean;
  risk: RiskLevel;
  rules: string[];
}

export const RULE_UNACCOUNTED_EXEC = 'ground_truth.unaccounted_exec';
export const RULE_SENSITIVE_READ = 'ground_truth.sensitive_read';
export const RULE_MASS_DELETE = 'ground_truth.mass_delete';
/** Deletions in one block from which it counts as a mass deletion. */
export const MASS_DELETE_THRESHOLD = 100;

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh']);
const PROCESS_CALLS = /\b(os\.system|os\.popen|os\.exec\w*|os\.spawn\w*|subprocess|shell\s*=\s*True|getoutput|pty\.spawn)\b|`|\$\(/;

/** Quote one argv element for a POSIX shell (what detection reads). */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

function namesProgram(code: string, program: string): boolean {
  if (!program) return false;
  const escaped = program.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_.-])${escaped}($|[^A-Za-z0-9_-])`).test(code);
}

export function assessExec(record: ProcessRecord, approved: { language: string; code: string }): ExecAssessment {
  const program = programName(record);
  let accounted = namesProgram(approved.code, program) || namesProgram(approved.code, record.path);
  // subprocess.run("…", shell=True), os.system(…) start /bin/sh: the shell is the code's doing when it makes such a call.
  if (!accounted && SHELLS.has(program) && PROCESS_CALLS.test(approved.code)) accounted = true;
  // A shell block runs in the shell OI keeps: that shell itself is the runtime, its commands are named in the block.
  const commandLine = record.argv.length ? record.argv.map(shellQuote).join(' ') : shellQuote(record.path);
  const detection = detectCode('shell', commandLine);
  // The same effect rules as the gate, on the argv that really ran (not re-parsed from a joined string).
  const executed = detectProcess({ argv: record.argv.length ? record.argv : [record.path] });
  const rules = [...new Set([...detection.rules, ...executed.rules])];
  let risk: RiskLevel = maxRisk(detection.level, executed.level);
  if (!accounted) {
    rules.push(RULE_UNACCOUNTED_EXEC);
    risk = maxRisk(risk, 'high');
  }
  return { program, accounted, risk, rules };
}

/** A read (or write) of a sensitive path by the approved code: high, critical for oi-audit's own secrets. */
export function assessSensitive(record: SensitiveRecord): { risk: RiskLevel; rules: string[] } {
  const risk: RiskLevel = record.class === 'oi_audit_secret' || record.class === 'process_environment' ? 'critical' : 'high';
  return { risk, rules: [RULE_SENSITIVE_READ, `${RULE_SENSITIVE_READ}.${record.class}`] };
}
