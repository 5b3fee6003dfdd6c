/**
 * The canonical text views the pattern rules run on: a shell block's canonical text (shell.ts), the
 * resolved text of Python code (python.ts), and the commands each hands to the other.
 */
import { analyzePython } from './python.js';
import { MAX_SCAN_CHARS, type LanguageFamily } from './rule-table.js';
import { analyzeShell } from './shell.js';
import { cap, type CodeViews } from './taint.js';

const MAX_DEPTH = 3;

/** Map an Open Interpreter language name (or alias) to a family. */
export function languageFamily(language: string): LanguageFamily {
  const l = language.trim().toLowerCase();
  if (['shell', 'bash', 'sh', 'zsh', 'dash', 'ksh', 'fish', 'batch', 'bat', 'terminal', 'console'].includes(l)) return 'shell';
  if (['python', 'py', 'python3', 'ipython', 'jupyter'].includes(l)) return 'python';
  return 'other';
}

/** Build the views the rules run on (exported for tests and for `oi-audit` tooling). */
export function codeViews(language: string, code: string): CodeViews {
  const shell: string[] = [];
  const python: string[] = [];
  const family = languageFamily(language);
  const fromShell = (src: string, depth: number) => {
    const a = analyzeShell(src, MAX_SCAN_CHARS);
    shell.push(a.text);
    if (depth < MAX_DEPTH) for (const p of a.python) fromPython(p, depth + 1);
  };
  const fromPython = (src: string, depth: number) => {
    const a = analyzePython(src, MAX_SCAN_CHARS);
    python.push(a.text);
    if (depth < MAX_DEPTH) {
      for (const s of a.shell) fromShell(s, depth + 1);
      for (const n of a.nested) fromPython(n, depth + 1);
    }
  };
  if (family === 'python') fromPython(code, 0);
  else fromShell(code, 0); // shell, and other languages' raw text lexed as shell (strips quotes around commands)
  return { shell: cap(shell.join('\n')), python: cap(python.join('\n')), any: cap(code) };
}

