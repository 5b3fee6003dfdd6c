/**
 * What an approval is bound to, and how the command Codex asks about is compared with the one the
 * PreToolUse hook approved.
 *
 * Codex's approval request carries the command as it will run (`shlex_join(argv)`, e.g.
 * `/bin/bash -lc 'ls -la'`); the hook sees only the model's command string (`ls -la`). An approval request is
 * answered from a hook decision only when unwrapping the request's shell invocation gives back exactly the
 * command the hook approved, in the same directory.
 */
import { canonicalize } from '../../record/canonical-json.js';
import { sha256Hex } from '../../integrity/hash.js';

/** SHA-256 over the canonical JSON of (command, cwd, itemId): the approval binds to this. */
export function bindingSha256(command: string, cwd: string, itemId: string): string {
  return sha256Hex(canonicalize({ command, cwd, item_id: itemId }));
}

/**
 * POSIX shell word splitting for one command line as shlex quotes it: single quotes literal, double quotes
 * with `\` escaping `$ \` " \\ newline`, backslash outside quotes escaping the next character. Returns
 * undefined for an unterminated quote (never guessed).
 */
export function shellSplit(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) return undefined;
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < line.length) {
        const d = line[i]!;
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1]!)) {
          word += line[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      if (!closed) return undefined;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= line.length) return undefined;
      word += line[i + 1];
      inWord = true;
      i += 2;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

const SHELL_RE = /^(?:.*\/)?(?:ba|z|da|k)?sh$/;

/** The script a `<shell> -c|-lc <script>` invocation runs, or undefined when the argv is not one. */
export function unwrapShell(argv: string[]): string | undefined {
  if (argv.length === 3 && SHELL_RE.test(argv[0]!) && (argv[1] === '-c' || argv[1] === '-lc')) return argv[2];
  return undefined;
}

/** The model-level command of a Codex command line: the shell script it wraps, else the line itself. */
export function modelCommand(commandLine: string): string {
  const argv = shellSplit(commandLine);
  return (argv && unwrapShell(argv)) ?? commandLine;
}

/** Does the command line Codex will run (and its cwd) match what the hook approved? */
export function matchesApproved(commandLine: string, cwd: string, approved: { command: string; cwd: string }): boolean {
  if (cwd !== approved.cwd) return false;
  const argv = shellSplit(commandLine);
  if (!argv) return false;
  const script = unwrapShell(argv);
  return script !== undefined ? script === approved.command : commandLine === approved.command;
}
