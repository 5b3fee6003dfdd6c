/**
 * Parser for the output of `strace -f -q -xx -y -ttt -s N` (strace 6.x), one line at a time, into the few facts
 * ground truth needs: execs, forks/threads, cwd changes, opens, deletes, renames, exits.
 *
 * Robustness: with `-xx` every byte of every string argument is printed as `\xHH`, so a string can never contain
 * a raw quote, comma or bracket to confuse the tokenizer; `-s N` bounds each string (a cut string is followed
 * by `...`). A line longer than the caller's bound is dropped by the reader before it gets here. Anything this
 * parser does not recognise yields `undefined` (it is counted, not guessed at).
 */

export type TraceFact =
  | { kind: 'exec'; pid: number; time: number; path: string; argv: string[]; argvTruncated: boolean; ok: boolean }
  | { kind: 'spawn'; pid: number; time: number; child: number; childNsPid?: number; thread: boolean }
  | { kind: 'chdir'; pid: number; time: number; path: string }
  | { kind: 'open'; pid: number; time: number; path: string; write: boolean; create: boolean; ok: boolean; errno?: string }
  | { kind: 'delete'; pid: number; time: number; path: string; ok: boolean; errno?: string }
  | { kind: 'rename'; pid: number; time: number; from: string; to: string; ok: boolean }
  | { kind: 'mkdir'; pid: number; time: number; path: string; ok: boolean }
  | { kind: 'exit'; pid: number; time: number; code?: number; signal?: string };

/** The syscalls to trace (`-e trace=`). Keep in step with decodeSyscall. */
export const TRACED_SYSCALLS = [
  'execve', 'execveat', 'clone', 'clone3', 'fork', 'vfork', 'chdir', 'fchdir',
  'open', 'openat', 'openat2', 'creat', 'unlink', 'unlinkat', 'rmdir', 'rename', 'renameat', 'renameat2',
  'mkdir', 'mkdirat',
];

/** strace options this parser is written for. `-o` and the command are added by the caller. */
export function straceOptions(stringBytes = 1024): string[] {
  return [
    '-f', // follow every fork, clone and vfork
    '-q', // no attach/detach chatter; exit lines (+++ exited with N +++) stay
    '-xx', // every string byte as \xHH: unambiguous to tokenise
    '-y', // file descriptors (and AT_FDCWD) printed with their paths
    '-ttt', // absolute timestamps in µs
    '-s', String(stringBytes),
    '--seccomp-bpf', // only the traced syscalls stop the tracee: the rest run at full speed
    // fork/clone return the child's pid in the caller's PID namespace (the sandbox's); this adds the pid as
    // strace (the host) sees it, which is what every line's prefix uses.
    '--decode-pids=pidns',
    '-e', `trace=${TRACED_SYSCALLS.join(',')}`,
    '-e', 'signal=none',
  ];
}

const LINE = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/;

/**
 * Joins `<unfinished ...>` / `<... name resumed>` halves (strace splits a syscall when another process's line
 * comes in between), per pid, then decodes the result. One parser per trace.
 */
export class StraceParser {
  private readonly pending = new Map<number, { name: string; text: string; time: number }>();
  /** Lines that were not understood (a count, for the summary). */
  unparsed = 0;

  parse(line: string): TraceFact | undefined {
    const m = LINE.exec(line);
    if (!m) {
      if (line.trim()) this.unparsed++;
      return undefined;
    }
    const pid = Number(m[1]);
    const time = Number(m[2]);
    let rest = m[3]!;

    if (rest.startsWith('+++ ')) {
      const exited = /^\+\+\+ exited with (\d+) \+\+\+$/.exec(rest);
      if (exited) return { kind: 'exit', pid, time, code: Number(exited[1]) };
      const killed = /^\+\+\+ killed by (SIG[A-Z0-9]+)/.exec(rest);
      if (killed) return { kind: 'exit', pid, time, signal: killed[1]! };
      return undefined; // "superseded by execve": the exec line says it all
    }
    if (rest.startsWith('--- ')) return undefined; // signal delivery

    const resumed = /^<\.\.\. ([a-z0-9_]+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const start = this.pending.get(pid);
      this.pending.delete(pid);
      if (!start || start.name !== resumed[1]) {
        this.unparsed++;
        return undefined;
      }
      rest = start.text + resumed[2]!;
      return this.decode(pid, start.time, rest);
    }
    if (rest.endsWith('<unfinished ...>')) {
      const name = /^([a-z0-9_]+)\(/.exec(rest)?.[1];
      if (!name) {
        this.unparsed++;
        return undefined;
      }
      this.pending.set(pid, { name, text: rest.slice(0, -'<unfinished ...>'.length).trimEnd(), time });
      return undefined;
    }
    return this.decode(pid, time, rest);
  }

  private decode(pid: number, time: number, text: string): TraceFact | undefined {
    const call = splitCall(text);
    if (!call) {
      this.unparsed++;
      return undefined;
    }
    const fact = decodeSyscall(pid, time, call);
    if (!fact) this.unparsed++;
    return fact;
  }
}

interface Call {
  name: string;
  args: string[];
  /** Text after `= `: `0`, `-1 ENOENT (…)`, `3<\x2f…>`, `?`, or a child pid. */
  ret: string;
}

/** `name(arg, arg, …) = ret` → parts. Arguments split at top-level commas (outside strings and brackets). */
export function splitCall(text: string): Call | undefined {
  const open = text.indexOf('(');
  if (open <= 0) return undefined;
  const name = text.slice(0, open);
  if (!/^[a-z0-9_]+$/.test(name)) return undefined;
  const args: string[] = [];
  let depth = 0;
  let inString = false;
  let start = open + 1;
  let i = open + 1;
  for (; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{' || c === '(') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ')') {
      if (depth === 0) break;
      depth--;
    } else if (c === ',' && depth === 0) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (i >= text.length) return undefined;
  const last = text.slice(start, i).trim();
  if (last || args.length > 0) args.push(last);
  const eq = /^\s*=\s*(.*)$/.exec(text.slice(i + 1));
  if (!eq) return undefined;
  return { name, args, ret: eq[1]!.trim() };
}

/** Decodes a `-xx` string literal (`"\x2f\x65"`, maybe followed by `...`). */
export function decodeString(token: string): { value: string; truncated: boolean } | undefined {
  const m = /^"((?:\\x[0-9a-fA-F]{2}|\\.|[^"\\])*)"(\.\.\.)?$/.exec(token.trim());
  if (!m) return undefined;
  const body = m[1]!;
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\') {
      const next = body[i + 1];
      if (next === 'x') {
        bytes.push(parseInt(body.slice(i + 2, i + 4), 16));
        i += 3;
      } else {
        const simple: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, '\\': 92, '"': 34, '0': 0 };
        bytes.push(simple[next ?? ''] ?? (next ?? '').charCodeAt(0));
        i += 1;
      }
    } else bytes.push(c.charCodeAt(0) & 0xff);
  }
  return { value: Buffer.from(bytes).toString('utf8'), truncated: m[2] !== undefined };
}

/** `AT_FDCWD<\x2f…>` or `3<\x2f…>` → the path between the angle brackets (-y). */
export function fdPath(token: string): string | undefined {
  const m = /^[A-Z_0-9-]+<((?:\\x[0-9a-fA-F]{2})*)>/.exec(token.trim());
  return m ? decodeString(`"${m[1]}"`)?.value : undefined;
}

/** `["\x6c\x73", "\x2f"]` or `[..., ...]...` → strings. */
export function decodeArray(token: string): { items: string[]; truncated: boolean } {
  const t = token.trim();
  const truncated = /\]\.\.\.$/.test(t) || /\.\.\.\]$/.test(t);
  const inner = t.replace(/^\[/, '').replace(/\](\.\.\.)?$/, '');
  const items: string[] = [];
  let cut = truncated;
  for (const part of splitTop(inner)) {
    if (part === '...') {
      cut = true;
      continue;
    }
    const s = decodeString(part);
    if (!s) continue;
    if (s.truncated) cut = true;
    items.push(s.value);
  }
  return { items, truncated: cut };
}

function splitTop(text: string): string[] {
  const parts: string[] = [];
  let inString = false;
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = text.slice(start).trim();
  if (last) parts.push(last);
  return parts;
}

function result(ret: string): { ok: boolean; value?: number; errno?: string; path?: string } {
  const err = /^-1 ([A-Z0-9]+)/.exec(ret);
  if (err) return { ok: false, errno: err[1]! };
  if (ret.startsWith('?')) return { ok: false };
  const num = /^(\d+)/.exec(ret);
  if (!num) return { ok: false };
  const path = fdPath(ret);
  return { ok: true, value: Number(num[1]), ...(path !== undefined ? { path } : {}) };
}

/** Joins a possibly relative path to the directory a dirfd argument names (`AT_FDCWD<…>` / `N<…>`). */
function atPath(dirArg: string | undefined, pathArg: string | undefined): string | undefined {
  const p = pathArg === undefined ? undefined : decodeString(pathArg)?.value;
  if (p === undefined) return undefined;
  if (p.startsWith('/')) return normalise(p);
  const dir = dirArg === undefined ? undefined : fdPath(dirArg);
  return dir === undefined ? p : normalise(`${dir}/${p}`);
}

/** Collapses `.`, `..` and repeated slashes (lexically: symlinks are not followed). Relative paths stay relative. */
export function normalise(path: string): string {
  const abs = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
    } else out.push(part);
  }
  return (abs ? '/' : '') + out.join('/');
}

const WRITE_FLAGS = /\b(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND)\b/;

function decodeSyscall(pid: number, time: number, call: Call): TraceFact | undefined {
  const { name, args, ret } = call;
  const r = result(ret);
  switch (name) {
    case 'execve':
    case 'execveat': {
      const [pathArg, argvArg] = name === 'execve' ? [args[0], args[1]] : [args[1], args[2]];
      const path = name === 'execve' ? decodeString(pathArg ?? '')?.value : atPath(args[0], pathArg);
      if (path === undefined) return undefined;
      const argv = decodeArray(argvArg ?? '[]');
      return { kind: 'exec', pid, time, path, argv: argv.items, argvTruncated: argv.truncated, ok: r.ok && r.value === 0 };
    }
    case 'clone':
    case 'clone3':
    case 'fork':
    case 'vfork': {
      if (!r.ok || r.value === undefined) return { kind: 'spawn', pid, time, child: -1, thread: false }; // failed: nothing spawned
      const flags = /flags=([A-Z0-9_|]+)/.exec(args.join(','))?.[1] ?? '';
      const hostPid = /\/\* (\d+) in strace's PID NS \*\//.exec(ret)?.[1];
      return {
        kind: 'spawn', pid, time,
        child: hostPid ? Number(hostPid) : r.value,
        ...(hostPid ? { childNsPid: r.value } : {}),
        thread: /\bCLONE_THREAD\b/.test(flags),
      };
    }
    case 'chdir': {
      const p = decodeString(args[0] ?? '')?.value;
      if (p === undefined) return undefined;
      return { kind: 'chdir', pid, time, path: r.ok ? p : '' }; // '' = failed, cwd unchanged
    }
    case 'fchdir': {
      const p = fdPath(args[0] ?? '');
      return { kind: 'chdir', pid, time, path: r.ok && p !== undefined ? p : '' };
    }
    case 'open':
    case 'creat':
    case 'openat':
    case 'openat2': {
      const path = name === 'open' || name === 'creat' ? atPath(undefined, args[0]) : atPath(args[0], args[1]);
      if (path === undefined) return undefined;
      const flags = name === 'creat' ? 'O_CREAT|O_WRONLY|O_TRUNC' : (name === 'open' ? args[1] : args[2]) ?? '';
      return {
        kind: 'open', pid, time,
        path: r.ok && r.path ? r.path : path,
        write: WRITE_FLAGS.test(flags),
        create: /\bO_CREAT\b/.test(flags),
        ok: r.ok,
        ...(r.errno ? { errno: r.errno } : {}),
      };
    }
    case 'unlink':
    case 'rmdir':
    case 'unlinkat': {
      const path = name === 'unlinkat' ? atPath(args[0], args[1]) : atPath(undefined, args[0]);
      if (path === undefined) return undefined;
      return { kind: 'delete', pid, time, path, ok: r.ok, ...(r.errno ? { errno: r.errno } : {}) };
    }
    case 'rename':
    case 'renameat':
    case 'renameat2': {
      const [from, to] = name === 'rename' ? [atPath(undefined, args[0]), atPath(undefined, args[1])] : [atPath(args[0], args[1]), atPath(args[2], args[3])];
      if (from === undefined || to === undefined) return undefined;
      return { kind: 'rename', pid, time, from, to, ok: r.ok };
    }
    case 'mkdir':
    case 'mkdirat': {
      const path = name === 'mkdirat' ? atPath(args[0], args[1]) : atPath(undefined, args[0]);
      if (path === undefined) return undefined;
      return { kind: 'mkdir', pid, time, path, ok: r.ok };
    }
    default:
      return undefined;
  }
}
