/**
 * A small POSIX-shell lexer that turns a code block into a canonical text for the detection rules.
 *
 * What it undoes (the evasions listed in the security reference, §3.5 "Implementation notes"):
 * - quotes inside words (`c'u'rl`, `"rm" -rf`), backslashes (`r\m`), line continuations;
 * - ANSI-C strings (`$'\x72\x6d'`), `$IFS` / `${IFS}` used as a separator;
 * - simple variable assignments earlier in the block (`X=/; rm -rf $X`), `$HOME` → `~`;
 * - comments (so `# never run rm -rf /` is not a finding).
 *
 * The canonical text has one line per input line, words separated by one space, and every operator
 * (`|`, `;`, `&&`, `>`, `>&`, `$(` …) as its own space-separated token, so rules can be written against
 * one spelling. Quoted text keeps its inner spaces. The lexer is a single left-to-right pass: linear time,
 * no regular expressions over the input.
 */

import { ANSI_C_ESCAPES, decodeEscapes } from './escapes.js';

export interface ShellAnalysis {
  /** Canonical text (see above). */
  text: string;
  /** Python programs passed inline (`python -c '…'`), for the Python analysis. */
  python: string[];
}

const OPERATORS = [
  '&>>', '<<<', '<<-', '&&', '||', ';;', '>>', '>&', '<&', '&>', '<<', '<>', '>|', '<(', '>(',
  '|', '&', ';', '(', ')', '<', '>',
];

const WRAPPERS = new Set(['export', 'local', 'declare', 'readonly', 'typeset']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_VARS = 256;


/** Normalise a shell code block. `maxChars` bounds the work on pathological input. */
export function analyzeShell(code: string, maxChars = 512 * 1024): ShellAnalysis {
  const src = code.length > maxChars ? code.slice(0, maxChars) : code;
  const vars = new Map<string, string>();
  const lines: string[][] = [[]];
  const python: string[] = [];
  let word = '';
  let inWord = false; // a word is open (possibly empty, e.g. "")
  let cmdWords: string[] = []; // words of the current simple command
  let atCommandStart = true;

  const push = (tok: string) => lines[lines.length - 1]!.push(tok);

  const endWord = () => {
    if (!inWord) return;
    inWord = false;
    const w = word;
    word = '';
    const eq = w.indexOf('=');
    const isAssignment = eq > 0 && NAME.test(w.slice(0, eq));
    if (isAssignment && (atCommandStart || (cmdWords.length === 1 && WRAPPERS.has(cmdWords[0]!)))) {
      if (vars.size < MAX_VARS || vars.has(w.slice(0, eq))) vars.set(w.slice(0, eq), w.slice(eq + 1));
    } else if (!(atCommandStart && WRAPPERS.has(w))) {
      atCommandStart = false;
    }
    cmdWords.push(w);
    // `python -c CODE` / `python3 -I -c CODE`: hand the program to the Python analysis.
    if (cmdWords.length >= 3 && python.length < 16) {
      const first = cmdWords.find((x) => !x.includes('=') && !WRAPPERS.has(x) && x !== 'sudo' && x !== 'env') ?? '';
      const base = first.slice(first.lastIndexOf('/') + 1);
      const prev = cmdWords[cmdWords.length - 2]!;
      if (/^python[0-9.]{0,5}$/.test(base) && /^-[A-Za-z]{0,4}c$/.test(prev)) python.push(w);
    }
    push(w);
  };

  const endCommand = () => {
    cmdWords = [];
    atCommandStart = true;
  };

  const expand = (name: string): string => {
    if (name === 'IFS') return ' ';
    if (name === 'HOME') return '~';
    const v = vars.get(name);
    return v !== undefined ? v : '$' + name;
  };

  /** Read a `$…` expansion starting at src[i] === '$'; returns the text and the index after it. */
  const readDollar = (i: number, inDouble: boolean): [string, number] => {
    const next = src[i + 1];
    if (next === '{') {
      const close = src.indexOf('}', i + 2);
      if (close < 0 || close - i > 200) return ['${', i + 2];
      const inner = src.slice(i + 2, close);
      const m = /^([A-Za-z_][A-Za-z0-9_]{0,63})(?:(:?[-=?+])(.{0,200}))?$/s.exec(inner);
      if (!m) return ['${' + inner + '}', close + 1];
      const value = expand(m[1]!);
      if (value.startsWith('$') && m[2] && (m[2] === '-' || m[2] === ':-' || m[2] === '=' || m[2] === ':=')) return [m[3] ?? '', close + 1];
      return [value, close + 1];
    }
    if (next === "'" && !inDouble) {
      const close = src.indexOf("'", i + 2);
      const end = close < 0 ? src.length : close;
      return [decodeEscapes(src.slice(i + 2, end), ANSI_C_ESCAPES), end + 1];
    }
    if (next !== undefined && /[A-Za-z_]/.test(next)) {
      let j = i + 1;
      while (j < src.length && j - i <= 64 && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      return [expand(src.slice(i + 1, j)), j];
    }
    if (next !== undefined && /[0-9@*#?$!-]/.test(next)) {
      // $9, $@ …: positional and special parameters expand to nothing we know; `$IFS$9` is a classic.
      return [next === '9' || next === '1' ? '' : '$' + next, i + 2];
    }
    return ['$', i + 1];
  };

  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    // Line continuation.
    if (c === '\\' && src[i + 1] === '\n') { i += 2; continue; }
    if (c === '\\' && src[i + 1] === '\r' && src[i + 2] === '\n') { i += 3; continue; }
    if (c === '\\') {
      inWord = true;
      if (i + 1 < src.length) word += src[i + 1]!;
      i += 2;
      continue;
    }
    if (c === '\n') {
      endWord();
      endCommand();
      lines.push([]);
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') { endWord(); i++; continue; }
    if (c === '#' && !inWord) {
      const nl = src.indexOf('\n', i);
      i = nl < 0 ? src.length : nl;
      continue;
    }
    if (c === "'") {
      inWord = true;
      const close = src.indexOf("'", i + 1);
      const end = close < 0 ? src.length : close;
      word += src.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '"') {
      inWord = true;
      let j = i + 1;
      while (j < src.length && src[j] !== '"') {
        const d = src[j]!;
        if (d === '\\' && j + 1 < src.length && '$`"\\\n'.includes(src[j + 1]!)) {
          if (src[j + 1] !== '\n') word += src[j + 1] ?? '';
          j += 2;
        } else if (d === '$' && src[j + 1] !== '(') {
          const [text, after] = readDollar(j, true);
          word += text;
          j = after;
        } else {
          word += d;
          j++;
        }
      }
      i = j + 1;
      continue;
    }
    if (c === '$') {
      if (src[i + 1] === '(') {
        endWord();
        push('$(');
        endCommand();
        i += 2;
        continue;
      }
      inWord = true;
      const [text, after] = readDollar(i, false);
      word += text;
      i = after;
      continue;
    }
    if (c === '`') {
      endWord();
      push('`');
      endCommand();
      i++;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op) {
      endWord();
      push(op);
      if (op === '|' || op === '||' || op === '&&' || op === '&' || op === ';' || op === ';;' || op === '(' || op === '<(' || op === '>(') {
        endCommand();
      }
      i += op.length;
      continue;
    }
    inWord = true;
    word += c;
    i++;
  }
  endWord();
  const text = lines.map((l) => l.join(' ')).filter((l) => l.length > 0).join('\n');
  return { text, python };
}
