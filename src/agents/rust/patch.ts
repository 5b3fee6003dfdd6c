/**
 * Codex's file edits, as oi-audit judges and binds them. A patch reaches the app-server either through its
 * `apply_patch` tool or as a shell call `apply_patch <<'EOF' … EOF` (Codex intercepts it; measured with 0.148.0:
 * the PreToolUse hook sees the shell command, then a `fileChange` item and `item/fileChange/requestApproval`
 * follow). Both are reduced to file operations: judged by the detection rules as the equivalent shell writes
 * (so a patch to `~/.ssh/authorized_keys` or a shell startup file is what a `cat >` to it would be), and the
 * operations the hook approved must be exactly those of the item Codex then asks to apply.
 *
 * The patch grammar is Codex's own ("*** Begin Patch", "*** Add File: p", "*** Delete File: p",
 * "*** Update File: p", "*** Move to: p", "*** End Patch"), read from its tool description.
 */
import { isAbsolute, normalize, resolve } from 'node:path';
import { isObject } from '../../record/json-shape.js';

export type FileOpKind = 'add' | 'delete' | 'update';

export interface FileOp {
  kind: FileOpKind;
  /** Absolute (resolved against the cwd the patch applies in). */
  path: string;
  /** Absolute target of a rename. */
  moveTo?: string;
  /** The new content of an added file; for an update, the added lines (what the detection rules scan). */
  content: string;
}

const MAX_OPS = 1_000;

/** The patch text of a shell command that only runs apply_patch (heredoc or one quoted argument), else undefined. */
export function applyPatchOfCommand(command: string): string | undefined {
  const heredoc = /^\s*(?:apply_patch|applypatch)\s*<<-?\s*(['"]?)([A-Za-z_][\w-]{0,63})\1[ \t]*\n([\s\S]*?)\n\2\s*$/.exec(command);
  if (heredoc) return heredoc[3];
  const quoted = /^\s*(?:apply_patch|applypatch)\s+'([^']*)'\s*$/.exec(command);
  if (quoted) return quoted[1];
  return undefined;
}

function abs(path: string, cwd: string): string {
  const p = path.trim();
  return normalize(isAbsolute(p) ? p : resolve(cwd || '/', p));
}

/** The file operations of a patch in Codex's format; undefined when it is not one. Bounded to MAX_OPS. */
export function patchOperations(patch: string, cwd: string): FileOp[] | undefined {
  const lines = patch.replace(/\r\n/g, '\n').split('\n');
  const first = lines.findIndex((l) => l.trim().length > 0);
  if (first === -1 || lines[first]!.trim() !== '*** Begin Patch') return undefined;
  const ops: FileOp[] = [];
  let current: FileOp | undefined;
  for (const line of lines.slice(first + 1)) {
    const header = /^\*\*\* (Add|Delete|Update) File: (.+)$/.exec(line);
    if (header) {
      if (ops.length >= MAX_OPS) return undefined;
      current = { kind: header[1]!.toLowerCase() as FileOpKind, path: abs(header[2]!, cwd), content: '' };
      ops.push(current);
      continue;
    }
    const move = /^\*\*\* Move to: (.+)$/.exec(line);
    if (move && current?.kind === 'update') {
      current.moveTo = abs(move[1]!, cwd);
      continue;
    }
    if (line.trim() === '*** End Patch') break;
    if (current && current.kind !== 'delete' && line.startsWith('+')) current.content += `${line.slice(1)}\n`;
  }
  return ops;
}


/** The file operations of a `fileChange` item's `changes` (paths as Codex resolved them). */
export function changeOperations(changes: unknown, cwd: string): FileOp[] {
  if (!Array.isArray(changes)) return [];
  const ops: FileOp[] = [];
  for (const c of changes.slice(0, MAX_OPS)) {
    if (!isObject(c) || typeof c.path !== 'string') continue;
    const kind = isObject(c.kind) && (c.kind.type === 'add' || c.kind.type === 'delete' || c.kind.type === 'update') ? c.kind.type : 'update';
    const diff = typeof c.diff === 'string' ? c.diff : '';
    // An added file's diff is its content; an update's is a unified diff, whose added lines are the new text.
    const content = kind === 'add' ? diff : kind === 'update' ? diff.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++')).map((l) => `${l.slice(1)}\n`).join('') : '';
    const moveTo = kind === 'update' && isObject(c.kind) && typeof c.kind.move_path === 'string' ? abs(c.kind.move_path, cwd) : undefined;
    ops.push({ kind, path: abs(c.path, cwd), ...(moveTo ? { moveTo } : {}), content });
  }
  return ops;
}

/** The same operations, one line each, for comparing what was approved with what is applied. */
export function operationsKey(ops: FileOp[]): string {
  return ops
    .map((o) => `${o.kind} ${o.path}${o.moveTo ? ` -> ${o.moveTo}` : ''}`)
    .sort()
    .join('\n');
}

/** POSIX single-quoting. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The operations as the shell commands with the same effect on the file system, for the detection rules: an
 * add or update is a truncating write of its new text, a delete an `rm`, a rename an `mv`.
 */
export function operationsAsShell(ops: FileOp[]): string {
  const out: string[] = [];
  for (const o of ops) {
    if (o.kind === 'delete') {
      out.push(`rm -f -- ${shq(o.path)}`);
      continue;
    }
    const target = o.moveTo ?? o.path;
    if (o.moveTo) out.push(`mv -- ${shq(o.path)} ${shq(o.moveTo)}`);
    let fence = 'OIA_PATCH_EOF';
    while (o.content.includes(fence)) fence += '_';
    out.push(`cat > ${shq(target)} <<'${fence}'\n${o.content}${o.content.endsWith('\n') || o.content === '' ? '' : '\n'}${fence}`);
  }
  return out.join('\n');
}
