/**
 * What a Codex file change is recorded as: the files and diff when it starts, and what it really left on disk
 * when Codex reports it applied (file ground truth on the execution). Also the diff text a client is shown.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import type { AuditExecution, RiskAssessment } from '../../audit/execution.js';
import type { AuditSession } from '../../audit/session.js';
import type { JsonObject } from '../../record/canonical-json.js';
import type { FileOp } from './patch.js';
import { isObject } from '../../record/json-shape.js';


function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Largest file read back for the on-disk check of a file change (bigger ones are recorded by size only). */
const DISK_CHECK_MAX_BYTES = 16 * 1024 * 1024;

/** A file as the disk holds it now: whether it exists, its size and (up to DISK_CHECK_MAX_BYTES) its SHA-256. */
function diskState(path: string): { exists: boolean; bytes?: number; sha256?: string; symlink?: boolean } {
  try {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return { exists: true, symlink: true };
    if (!st.isFile() || st.size > DISK_CHECK_MAX_BYTES) return { exists: true, bytes: st.size };
    return { exists: true, bytes: st.size, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
  } catch {
    return { exists: false };
  }
}

/** Concatenated unified diffs of a fileChange item's `changes`, one header per file. */
export function describeChanges(changes: unknown): string {
  if (!Array.isArray(changes)) return '';
  return changes
    .map((c) => {
      if (!isObject(c)) return '';
      const kind = isObject(c.kind) ? (str(c.kind.type) ?? '?') : '?';
      return `*** ${kind} ${str(c.path) ?? '?'}\n${str(c.diff) ?? ''}`;
    })
    .join('\n');
}

/** What a file change records when it starts: each file and kind, the diff (under the code capture policy) and its hash. */
export function fileChangeData(session: AuditSession, changes: string, ops: FileOp[], patchSha256: string | undefined): JsonObject {
  return {
    change: 'file',
    files: ops.map((o) => ({ kind: o.kind, path: session.capture('code', o.path), ...(o.moveTo ? { move_to: session.capture('code', o.moveTo) } : {}) })),
    diff: session.capture('code', changes),
    diff_sha256: createHash('sha256').update(changes, 'utf8').digest('hex'),
    ...(patchSha256 !== undefined ? { patch_sha256: patchSha256 } : {}),
  };
}

/**
 * What the change really left on disk, read back when Codex reports it applied: each file's existence, size and
 * SHA-256 (an added file's content must be the approved diff). Recorded as file ground truth on the execution.
 */
export function checkDisk(session: AuditSession, exec: AuditExecution, ops: FileOp[], status: string | undefined): void {
  for (const op of ops) {
    const target = op.moveTo ?? op.path;
    const state = diskState(target);
    const path = session.capture('code', target);
    if (op.kind === 'delete') {
      const finding = status === 'completed' && state.exists ? { level: 'medium' as const, rules: ['file_change.not_applied'], reason: `${target} still exists after the agent reported deleting it` } : undefined;
      exec.recordGroundTruth('file_delete', { source: 'disk_check', path, ok: !state.exists }, finding);
      continue;
    }
    let finding: (RiskAssessment & { reason: string }) | undefined;
    if (status === 'completed' && !state.exists) finding = { level: 'medium', rules: ['file_change.not_applied'], reason: `${target} does not exist after the agent reported writing it` };
    else if (status === 'completed' && op.kind === 'add' && state.sha256 !== undefined && state.sha256 !== createHash('sha256').update(op.content, 'utf8').digest('hex')) {
      finding = { level: 'high', rules: ['file_change.content_mismatch'], reason: `${target} on disk is not the content that was approved` };
    }
    if (op.moveTo && status === 'completed' && diskState(op.path).exists) {
      finding ??= { level: 'medium', rules: ['file_change.not_applied'], reason: `${op.path} still exists after the agent reported moving it` };
    }
    exec.recordGroundTruth(
      'file_write',
      {
        source: 'disk_check',
        op: op.kind === 'add' ? 'create' : op.moveTo ? 'rename' : 'write',
        path,
        ...(op.moveTo ? { from: session.capture('code', op.path) } : {}),
        ok: state.exists,
        ...(state.symlink ? { symlink: true } : {}),
        ...(state.bytes !== undefined ? { bytes: state.bytes } : {}),
        ...(state.sha256 !== undefined ? { sha256: state.sha256 } : {}),
      },
      finding,
    );
  }
}
