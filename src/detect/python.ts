/**
 * A light Python tokenizer and resolver for the detection rules. Not a parser: it works on the token
 * stream, which is enough to undo the usual ways of hiding a call from a regular expression:
 *
 * - aliases and from-imports: `import subprocess as sp; sp.run(…)` → `subprocess.run(…)`,
 *   `from os import system as s; s(…)` → `os.system(…)`, `from os import *; system(…)`;
 * - dynamic imports with literal names: `__import__('os').system`, `importlib.import_module('os')`,
 *   `getattr(os, 'system')`;
 * - string building: adjacent literals, `'a' + 'b'`, `chr(115)`, path joins (`Path.home() / '.ssh'`,
 *   `os.path.join(os.path.expanduser('~'), '.ssh')` → `"~/.ssh"`);
 * - names assigned once to a string or a list of strings (`cmd = "…"; os.system(cmd)`).
 *
 * The result is a canonical text (comments gone, strings as JSON literals, no spaces except between
 * words) plus the shell commands the code hands to a shell (`os.system`, `subprocess.*`, IPython `!`
 * lines and `%%bash` cells), which the shell rules then see as well. Every pass is linear in the
 * number of tokens, and the number of passes is bounded.
 */

import { PYTHON_ESCAPES, decodeEscapes } from './escapes.js';

export type TokKind = 'name' | 'str' | 'num' | 'op' | 'nl';

export interface Tok {
  k: TokKind;
  v: string;
  /** Name already resolved to its canonical dotted form (never resolve twice). */
  r?: boolean;
}

export interface PythonAnalysis {
  /** Canonical text of the resolved token stream. */
  text: string;
  /** Shell commands the code runs. */
  shell: string[];
  /** Python source run through exec/eval with a literal argument (analysed again by the caller). */
  nested: string[];
}

const MAX_TOKENS = 200_000;
const MAX_PASSES = 6;

/** Members re-exported by `from X import *` that matter to the rules. */
const STAR_MEMBERS: Record<string, readonly string[]> = {
  os: ['system', 'popen', 'remove', 'unlink', 'chmod', 'environ', 'getenv', 'putenv', 'dup2', 'execv', 'execve', 'execl', 'execlp', 'execvp', 'spawnl', 'spawnv', 'fexecve', 'memfd_create', 'rename', 'replace', 'symlink', 'truncate', 'listdir', 'walk'],
  subprocess: ['run', 'call', 'check_call', 'check_output', 'Popen', 'getoutput', 'getstatusoutput', 'PIPE'],
  shutil: ['rmtree', 'copy', 'copy2', 'copyfile', 'copytree', 'move', 'make_archive'],
  base64: ['b64decode', 'b32decode', 'b85decode', 'a85decode', 'b16decode', 'urlsafe_b64decode', 'decodebytes', 'b64encode'],
  socket: ['socket', 'create_connection', 'AF_INET', 'AF_INET6', 'SOCK_STREAM'],
  pty: ['spawn'],
  zlib: ['decompress'],
  marshal: ['loads'],
  codecs: ['decode'],
  binascii: ['unhexlify', 'a2b_base64', 'a2b_hex'],
  requests: ['get', 'post', 'put', 'patch'],
  pathlib: ['Path', 'PosixPath', 'PurePath', 'PurePosixPath'],
  'os.path': ['join', 'expanduser', 'expandvars', 'abspath', 'realpath', 'normpath'],
  'urllib.request': ['urlopen', 'urlretrieve', 'Request'],
  ctypes: ['CDLL', 'cdll'],
};

const SHELL_SINKS = new Set([
  'os.system', 'os.popen', 'os.popen2', 'os.popen3', 'commands.getoutput', 'commands.getstatusoutput',
  'subprocess.run', 'subprocess.call', 'subprocess.check_call', 'subprocess.check_output', 'subprocess.Popen',
  'subprocess.getoutput', 'subprocess.getstatusoutput', 'asyncio.create_subprocess_shell', 'asyncio.create_subprocess_exec',
  'os.execv', 'os.execve', 'os.execl', 'os.execle', 'os.execlp', 'os.execvp', 'os.execvpe', 'os.spawnl', 'os.spawnlp',
  'os.spawnv', 'os.spawnvp', 'pty.spawn', 'os.posix_spawn', 'os.posix_spawnp', 'get_ipython().system', 'IPython.get_ipython().system',
]);

/** Callables that return their (string) argument as a path: folded away. */
const PATH_IDENTITY = new Set([
  'os.path.expanduser', 'os.path.expandvars', 'os.path.abspath', 'os.path.realpath', 'os.path.normpath',
  'pathlib.Path', 'pathlib.PosixPath', 'pathlib.PurePath', 'pathlib.PurePosixPath', 'str', 'os.fspath', 'os.fsencode',
]);

const KEYWORDS = new Set(['import', 'from', 'as', 'def', 'class', 'lambda', 'global', 'nonlocal', 'return', 'if', 'for', 'while', 'with', 'in', 'not', 'and', 'or', 'is', 'else', 'elif', 'try', 'except', 'finally', 'raise', 'del', 'pass', 'yield', 'assert', 'async', 'await', 'break', 'continue']);

const OPS3 = ['**=', '//=', '>>=', '<<=', '...', '!='];
const OPS2 = ['**', '//', '==', '<=', '>=', ':=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '->', '<<', '>>', '@='];

function isNameStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c.charCodeAt(0) > 127;
}

function isNameChar(c: string): boolean {
  return isNameStart(c) || (c >= '0' && c <= '9');
}

/**
 * Tokenize Python source. IPython shell escapes (`!cmd`, `x = !cmd`, `%sx`, `%system`, `%%bash` cells)
 * are collected into `shell` instead of being tokenized.
 */
export function tokenizePython(source: string, maxChars = 512 * 1024): { toks: Tok[]; shell: string[] } {
  const src = source.length > maxChars ? source.slice(0, maxChars) : source;
  const toks: Tok[] = [];
  const shell: string[] = [];
  // A cell magic on the first line makes the whole cell another language.
  const first = /^\s{0,10}%%(\w{1,20})[^\n]{0,200}/.exec(src);
  if (first) {
    const magic = first[1]!;
    const rest = src.slice(first[0].length);
    if (['bash', 'sh', 'script', 'system', 'sx', 'shell'].includes(magic)) shell.push(rest);
    return { toks, shell };
  }
  let depth = 0;
  let lineStart = true;
  let i = 0;
  while (i < src.length && toks.length < MAX_TOKENS) {
    const c = src[i]!;
    if (c === '\n') {
      if (depth === 0 && toks.length > 0 && toks[toks.length - 1]!.k !== 'nl') toks.push({ k: 'nl', v: '\n' });
      lineStart = true;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f') { i++; continue; }
    if (c === '\\' && (src[i + 1] === '\n' || (src[i + 1] === '\r' && src[i + 2] === '\n'))) {
      i += src[i + 1] === '\n' ? 2 : 3;
      continue;
    }
    if (c === '#') {
      const nl = src.indexOf('\n', i);
      i = nl < 0 ? src.length : nl;
      continue;
    }
    const wasLineStart = lineStart;
    lineStart = false;
    // IPython: `!cmd`, `x = !cmd`, `%system cmd`, `%sx cmd`; other line magics are skipped.
    if (depth === 0 && (c === '!' || c === '%') && src[i + 1] !== '=') {
      const prev = toks[toks.length - 1];
      const afterAssign = prev?.k === 'op' && prev.v === '=';
      if (wasLineStart || afterAssign) {
        const nl = src.indexOf('\n', i);
        const line = src.slice(i + 1, nl < 0 ? src.length : nl);
        if (c === '!') shell.push(line);
        else {
          const m = /^(?:system|sx|sh|bash)\s([^\n]{0,100000})/.exec(line);
          if (m) shell.push(m[1]!);
        }
        i = nl < 0 ? src.length : nl;
        continue;
      }
    }
    // String literal, with an optional prefix.
    let p = 0;
    while (p < 2 && i + p < src.length && /[rRbBuUfF]/.test(src[i + p]!)) p++;
    const q = src[i + p];
    if ((q === '"' || q === "'") && (p === 0 || !isNameChar(src[i - 1] ?? ' '))) {
      const prefix = src.slice(i, i + p).toLowerCase();
      const triple = src.startsWith(q.repeat(3), i + p);
      const delim = triple ? q.repeat(3) : q;
      let j = i + p + delim.length;
      let body = '';
      while (j < src.length) {
        if (src[j] === '\\' && j + 1 < src.length) {
          body += src[j]! + src[j + 1]!;
          j += 2;
          continue;
        }
        if (src.startsWith(delim, j)) break;
        if (!triple && src[j] === '\n') break;
        body += src[j]!;
        j++;
      }
      toks.push({ k: 'str', v: prefix.includes('r') ? body : decodeEscapes(body, PYTHON_ESCAPES) });
      i = Math.min(src.length, j + delim.length);
      continue;
    }
    if (isNameStart(c)) {
      let j = i + 1;
      while (j < src.length && isNameChar(src[j]!)) j++;
      toks.push({ k: 'name', v: src.slice(i, j) });
      i = j;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < src.length && /[0-9a-zA-Z_.]/.test(src[j]!)) {
        if ((src[j] === 'e' || src[j] === 'E') && (src[j + 1] === '-' || src[j + 1] === '+') && !/^0[xX]/.test(src.slice(i, j))) j++;
        j++;
      }
      toks.push({ k: 'num', v: src.slice(i, j) });
      i = j;
      continue;
    }
    const op = OPS3.find((o) => src.startsWith(o, i)) ?? OPS2.find((o) => src.startsWith(o, i)) ?? c;
    if (op === '(' || op === '[' || op === '{') depth++;
    if ((op === ')' || op === ']' || op === '}') && depth > 0) depth--;
    toks.push({ k: 'op', v: op });
    i += op.length;
  }
  return { toks, shell };
}

const isOp = (t: Tok | undefined, v: string): boolean => t !== undefined && t.k === 'op' && t.v === v;

/** Parse a number literal (int, hex, octal, binary). */
function intValue(v: string): number | undefined {
  const s = v.replace(/_/g, '');
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^0[oO][0-7]{1,11}$/.test(s)) return parseInt(s.slice(2), 8);
  if (/^0[bB][01]{1,32}$/.test(s)) return parseInt(s.slice(2), 2);
  if (/^[0-9]{1,9}$/.test(s)) return parseInt(s, 10);
  return undefined;
}

function joinPath(a: string, b: string): string {
  if (b.startsWith('/')) return b;
  if (a === '' || a.endsWith('/')) return a + b;
  return `${a}/${b}`;
}

/** One pass of rewrites; returns the new array and whether anything changed. */
function rewrite(toks: Tok[], aliases: Map<string, string>, strVars: Map<string, string>, resolve: boolean): [Tok[], boolean] {
  const out: Tok[] = [];
  let changed = false;
  for (let i = 0; i < toks.length; i++) {
    let t = toks[i]!;
    const prev = out[out.length - 1];
    // a. Dotted names: NAME . NAME → one name token.
    if (t.k === 'name' && prev?.k === 'op' && prev.v === '.' && out[out.length - 2]?.k === 'name' && !KEYWORDS.has(t.v)) {
      out.pop();
      const base = out.pop()!;
      out.push({ k: 'name', v: `${base.v}.${t.v}`, r: base.r });
      changed = true;
      continue;
    }
    // j. Alias resolution (once per token; never inside import statements, which are marked resolved).
    if (resolve && t.k === 'name' && !t.r && !(prev?.k === 'op' && prev.v === '.')) {
      const dot = t.v.indexOf('.');
      const head = dot < 0 ? t.v : t.v.slice(0, dot);
      const canon = aliases.get(head);
      if (canon !== undefined && canon !== head) {
        out.push({ k: 'name', v: canon + (dot < 0 ? '' : t.v.slice(dot)), r: true });
        changed = true;
        continue;
      }
      // i. A name bound once to a string (or list of strings), used as a value.
      const next = toks[i + 1];
      const isStore = isOp(next, '=') || isOp(next, ':') && prev?.k === 'nl';
      const isKeyword = isOp(next, '=') || (prev?.k === 'op' && prev.v === '.');
      if (dot < 0 && !isStore && !isKeyword) {
        const s = strVars.get(t.v);
        if (s !== undefined) {
          out.push({ k: 'str', v: s });
          changed = true;
          continue;
        }
      }
      t = { ...t, r: true };
    }
    // b. __import__('x') / importlib.import_module('x') → name x; c. getattr(NAME, 'y') → NAME.y
    if (t.k === 'name' && (t.v === '__import__' || t.v === 'importlib.import_module' || t.v === 'importlib.__import__') &&
      isOp(toks[i + 1], '(') && toks[i + 2]?.k === 'str' && (isOp(toks[i + 3], ')') || isOp(toks[i + 3], ','))) {
      let j = i + 3;
      if (isOp(toks[j], ',')) {
        let depth = 0;
        while (j < toks.length && !(depth === 0 && isOp(toks[j], ')'))) {
          if (isOp(toks[j], '(')) depth++;
          if (isOp(toks[j], ')')) depth--;
          j++;
        }
      }
      out.push({ k: 'name', v: toks[i + 2]!.v, r: true });
      i = j;
      changed = true;
      continue;
    }
    if (t.k === 'name' && t.v === 'getattr' && isOp(toks[i + 1], '(') && toks[i + 2]?.k === 'name' && isOp(toks[i + 3], ',') &&
      toks[i + 4]?.k === 'str' && isOp(toks[i + 5], ')') && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(toks[i + 4]!.v)) {
      out.push({ k: 'name', v: `${toks[i + 2]!.v}.${toks[i + 4]!.v}`, r: toks[i + 2]!.r });
      i += 5;
      changed = true;
      continue;
    }
    // e. chr(NUM) → one-character string.
    if (t.k === 'name' && t.v === 'chr' && isOp(toks[i + 1], '(') && toks[i + 2]?.k === 'num' && isOp(toks[i + 3], ')')) {
      const n = intValue(toks[i + 2]!.v);
      if (n !== undefined && n < 0x110000) {
        out.push({ k: 'str', v: String.fromCodePoint(n) });
        i += 3;
        changed = true;
        continue;
      }
    }
    // f. Home directory expressions → "~".
    if (t.k === 'name' && (t.v === 'pathlib.Path.home' || t.v === 'pathlib.PosixPath.home') && isOp(toks[i + 1], '(') && isOp(toks[i + 2], ')')) {
      out.push({ k: 'str', v: '~' });
      i += 2;
      changed = true;
      continue;
    }
    if (t.k === 'name' && (t.v === 'os.getenv' || t.v === 'os.environ.get') && isOp(toks[i + 1], '(') && toks[i + 2]?.k === 'str' &&
      toks[i + 2]!.v === 'HOME' && isOp(toks[i + 3], ')')) {
      out.push({ k: 'str', v: '~' });
      i += 3;
      changed = true;
      continue;
    }
    if (t.k === 'name' && t.v === 'os.environ' && isOp(toks[i + 1], '[') && toks[i + 2]?.k === 'str' && toks[i + 2]!.v === 'HOME' &&
      isOp(toks[i + 3], ']') && !isOp(toks[i + 4], '=')) {
      out.push({ k: 'str', v: '~' });
      i += 3;
      changed = true;
      continue;
    }
    // g. Path identities PATH("x") → "x"; os.path.join("a", "b", …) → "a/b/…"
    if (t.k === 'name' && PATH_IDENTITY.has(t.v) && isOp(toks[i + 1], '(') && toks[i + 2]?.k === 'str' && isOp(toks[i + 3], ')')) {
      out.push({ k: 'str', v: toks[i + 2]!.v });
      i += 3;
      changed = true;
      continue;
    }
    if (t.k === 'name' && (t.v === 'os.path.join' || t.v === 'posixpath.join') && isOp(toks[i + 1], '(')) {
      let j = i + 2;
      const parts: string[] = [];
      while (toks[j]?.k === 'str' && (isOp(toks[j + 1], ',') || isOp(toks[j + 1], ')'))) {
        parts.push(toks[j]!.v);
        j += 2;
        if (isOp(toks[j - 1], ')')) break;
      }
      if (parts.length > 0 && isOp(toks[j - 1], ')')) {
        out.push({ k: 'str', v: parts.reduce(joinPath) });
        i = j - 1;
        changed = true;
        continue;
      }
    }
    // d. String concatenation: "a" "b", "a" + "b", "a" / "b" (pathlib).
    if (t.k === 'str' && prev?.k === 'str') {
      prev.v = (prev.v + t.v).slice(0, 100_000);
      changed = true;
      continue;
    }
    if (t.k === 'str' && prev?.k === 'op' && (prev.v === '+' || prev.v === '/') && out[out.length - 2]?.k === 'str') {
      const before = out[out.length - 3];
      // Only fold when the left literal is not the right operand of a higher-precedence operator.
      if (!(before?.k === 'op' && (before.v === '*' || before.v === '%' || before.v === '/' && prev.v === '+'))) {
        out.pop();
        const left = out[out.length - 1]!;
        left.v = (prev.v === '+' ? left.v + t.v : joinPath(left.v, t.v)).slice(0, 100_000);
        changed = true;
        continue;
      }
    }
    out.push(t);
  }
  return [out, changed];
}

/** Record import aliases and mark the import statements' own names as resolved. */
function collectImports(toks: Tok[], aliases: Map<string, string>): void {
  const starMembers = (mod: string) => {
    for (const m of STAR_MEMBERS[mod] ?? []) if (!aliases.has(m)) aliases.set(m, `${mod}.${m}`);
  };
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const stmtStart = i === 0 || toks[i - 1]!.k === 'nl' || isOp(toks[i - 1], ';') || isOp(toks[i - 1], ':');
    if (t.k !== 'name' || !stmtStart) continue;
    if (t.v === 'import') {
      // import a.b.c [as d], e
      let j = i + 1;
      while (j < toks.length && toks[j]!.k !== 'nl' && !isOp(toks[j], ';')) {
        const parts: string[] = [];
        while (toks[j]?.k === 'name' && toks[j]!.v !== 'as') {
          parts.push(toks[j]!.v);
          toks[j]!.r = true;
          j++;
          if (isOp(toks[j], '.')) j++;
          else break;
        }
        if (parts.length === 0) {
          j++;
          continue;
        }
        const dotted = parts.join('.');
        if (toks[j]?.k === 'name' && toks[j]!.v === 'as' && toks[j + 1]?.k === 'name') {
          toks[j]!.r = true;
          toks[j + 1]!.r = true;
          aliases.set(toks[j + 1]!.v, dotted);
          j += 2;
        } else if (!aliases.has(parts[0]!)) {
          aliases.set(parts[0]!, parts[0]!);
        }
        if (isOp(toks[j], ',')) j++;
      }
      i = j - 1;
    } else if (t.v === 'from') {
      // from a.b import c [as d], (e, f) / *
      let j = i + 1;
      let mod = '';
      while (j < toks.length && !(toks[j]!.k === 'name' && toks[j]!.v === 'import') && toks[j]!.k !== 'nl') {
        mod += toks[j]!.v;
        toks[j]!.r = true;
        j++;
      }
      if (toks[j]?.v !== 'import') continue;
      toks[j]!.r = true;
      j++;
      while (j < toks.length && toks[j]!.k !== 'nl' && !isOp(toks[j], ';')) {
        const x = toks[j]!;
        if (isOp(x, '*')) starMembers(mod);
        if (x.k === 'name') {
          x.r = true;
          if (toks[j + 1]?.v === 'as' && toks[j + 2]?.k === 'name') {
            toks[j + 1]!.r = true;
            toks[j + 2]!.r = true;
            aliases.set(toks[j + 2]!.v, `${mod}.${x.v}`);
            j += 2;
          } else {
            aliases.set(x.v, `${mod}.${x.v}`);
          }
        }
        j++;
      }
      i = j - 1;
    }
  }
}

/** `x = "…"` / `x = ["…", "…"]` at most once each: single-assignment string and list variables. */
function collectVars(toks: Tok[], strVars: Map<string, string>, listVars: Map<string, string[]>, aliases: Map<string, string>): void {
  const counts = new Map<string, number>();
  for (let i = 0; i + 2 < toks.length; i++) {
    const t = toks[i]!;
    if (t.k !== 'name' || t.v.includes('.') || !isOp(toks[i + 1], '=')) continue;
    const stmtStart = i === 0 || toks[i - 1]!.k === 'nl' || isOp(toks[i - 1], ';');
    if (!stmtStart) continue;
    counts.set(t.v, (counts.get(t.v) ?? 0) + 1);
    const v = toks[i + 2]!;
    const end = toks[i + 3];
    if (v.k === 'str' && (end === undefined || end.k === 'nl' || isOp(end, ';'))) strVars.set(t.v, v.v);
    else if (isOp(v, '[')) {
      const items: string[] = [];
      let j = i + 3;
      while (j < toks.length && !isOp(toks[j], ']') && items.length < 256) {
        const x = toks[j]!;
        if (x.k === 'str') items.push(x.v);
        else if (x.k === 'name') items.push(x.v);
        else if (!isOp(x, ',')) break;
        j++;
      }
      if (isOp(toks[j], ']')) listVars.set(t.v, items);
    } else if (v.k === 'name' && (v.v === '__import__' || v.v === 'importlib.import_module') && isOp(toks[i + 3], '(') && toks[i + 4]?.k === 'str' && isOp(toks[i + 5], ')')) {
      aliases.set(t.v, toks[i + 4]!.v);
    }
  }
  for (const [name, n] of counts) {
    if (n > 1) {
      strVars.delete(name);
      listVars.delete(name);
    }
  }
}

const WORDY = (t: Tok) => t.k === 'name' || t.k === 'num';

/** Render the token stream: strings as JSON literals, spaces only between adjacent words. */
export function renderTokens(toks: Tok[]): string {
  let out = '';
  let prev: Tok | undefined;
  for (const t of toks) {
    if (t.k === 'nl') {
      out += '\n';
      prev = undefined;
      continue;
    }
    if (prev && WORDY(prev) && WORDY(t)) out += ' ';
    out += t.k === 'str' ? JSON.stringify(t.v) : t.v;
    prev = t;
  }
  return out;
}

/** Find the first positional argument of the call whose '(' is at index `open`; return it as a shell command. */
function commandArgument(toks: Tok[], open: number, listVars: Map<string, string[]>): string | undefined {
  const a = toks[open + 1];
  if (!a) return undefined;
  const next = toks[open + 2];
  const endsArg = (x: Tok | undefined) => isOp(x, ',') || isOp(x, ')');
  if (a.k === 'str' && endsArg(next)) return a.v;
  if (a.k === 'name' && a.v === 'shlex.split' && isOp(next, '(') && toks[open + 3]?.k === 'str') return toks[open + 3]!.v;
  if (a.k === 'name' && endsArg(next)) {
    const list = listVars.get(a.v);
    if (list) return list.join(' ');
  }
  if (isOp(a, '[') || isOp(a, '(')) {
    const close = isOp(a, '[') ? ']' : ')';
    const items: string[] = [];
    let j = open + 2;
    while (j < toks.length && !isOp(toks[j], close) && items.length < 256) {
      const x = toks[j]!;
      if (x.k === 'str' || x.k === 'num') items.push(x.v);
      else if (x.k === 'name') items.push(x.v);
      else if (!isOp(x, ',')) return items.length ? items.join(' ') : undefined;
      j++;
    }
    return items.join(' ');
  }
  // os.execv(path, [args]) / os.spawnv(mode, path, [args]): the argument vector is the command.
  return undefined;
}

/** Analyse a Python code block. */
export function analyzePython(source: string, maxChars = 512 * 1024): PythonAnalysis {
  const { toks: raw, shell } = tokenizePython(source, maxChars);
  const aliases = new Map<string, string>();
  const strVars = new Map<string, string>();
  const listVars = new Map<string, string[]>();
  collectImports(raw, aliases);
  // First pass: dotted names and string folding only, so the variable scan sees `importlib.import_module`
  // and concatenated literals; then resolution passes until nothing changes.
  let toks = raw;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const [next, changed] = rewrite(toks, aliases, strVars, false);
    toks = next;
    if (!changed) break;
  }
  collectVars(toks, strVars, listVars, aliases);
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const [next, changed] = rewrite(toks, aliases, strVars, true);
    toks = next;
    if (!changed) break;
  }
  const nested: string[] = [];
  for (let i = 0; i + 1 < toks.length; i++) {
    const t = toks[i]!;
    if (t.k !== 'name' || !isOp(toks[i + 1], '(')) continue;
    if (SHELL_SINKS.has(t.v) && shell.length < 64) {
      let cmd = commandArgument(toks, i + 1, listVars);
      if (cmd === undefined && /^os\.(?:exec|spawn)/.test(t.v)) {
        // Skip to the argument vector (a list literal or a list variable) of exec*/spawn*.
        for (let j = i + 2; j < toks.length && j < i + 12 && !isOp(toks[j], ')'); j++) {
          if (isOp(toks[j], ',') ) {
            cmd = commandArgument(toks, j, listVars);
            if (cmd !== undefined) break;
          }
        }
      }
      if (cmd !== undefined) shell.push(cmd);
    } else if ((t.v === 'exec' || t.v === 'eval' || t.v === 'compile') && toks[i + 2]?.k === 'str' && nested.length < 8) {
      nested.push(toks[i + 2]!.v);
    }
  }
  return { text: renderTokens(toks), shell, nested };
}
