import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AtRestIdentity } from '../at-rest/keys.js';
import { OWNER_FILE, SEALED_DIR, Spool } from './spool.js';
import { fromSpoolLine, type RequestSender } from './spooling-exporter.js';

/** The signals an app's spool directory holds, one sub-directory each (register.ts). */
export const SPOOL_SIGNALS = ['logs', 'traces'] as const;
export type SpoolSignal = (typeof SPOOL_SIGNALS)[number];

export interface ReplayedDir {
  signal: SpoolSignal;
  dir: string;
  /** Requests sent (each an OTLP export request). */
  sent: number;
  /** Everything in it was sent and it was removed (sealed batches) or left empty. */
  drained: boolean;
  /** Why it was not replayed or not finished (a live writer, the Collector refusing). */
  note?: string;
}

/** Whether the process that wrote a spool directory is still running (it replays its own segments). */
function liveOwner(dir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/**
 * The operator's replay of a spool the app could not deliver itself: every `sealed/` batch (segments of
 * an earlier run, whose keys died with it) and the spool of a run that is no longer alive, decrypted with
 * the security team's identity, in order, each request sent byte for byte as it was spooled. A request the
 * Collector refuses stops that directory (it stays on disk for the next attempt: duplicates, never gaps).
 */
export async function replaySpoolDir(
  root: string,
  identity: AtRestIdentity,
  senderFor: (signal: SpoolSignal) => RequestSender,
  onProblem: (message: string) => void,
): Promise<ReplayedDir[]> {
  const out: ReplayedDir[] = [];
  for (const signal of SPOOL_SIGNALS) {
    const base = join(root, signal);
    if (!existsSync(base)) continue;
    const sealedRoot = join(base, SEALED_DIR);
    const dirs = existsSync(sealedRoot) ? readdirSync(sealedRoot).sort().map((d) => join(sealedRoot, d)) : [];
    const owner = liveOwner(base);
    if (owner === undefined) dirs.push(base);
    else out.push({ signal, dir: base, sent: 0, drained: false, note: `written by running process ${owner}, which replays it itself` });
    if (dirs.length === 0) continue;
    const sender = senderFor(signal);
    try {
      for (const dir of dirs) out.push(await replayOne(signal, dir, dir !== base, identity, sender, onProblem));
    } finally {
      await sender.shutdown();
    }
  }
  return out;
}

async function replayOne(signal: SpoolSignal, dir: string, removeWhenDone: boolean, identity: AtRestIdentity, sender: RequestSender, onProblem: (message: string) => void): Promise<ReplayedDir> {
  const spool = new Spool({ dir, maxBytes: Number.MAX_SAFE_INTEGER, identity, onProblem });
  await spool.whenReady();
  let sent = 0;
  try {
    for (let line = spool.peek(); line; line = spool.peek()) {
      try {
        await sender.send(fromSpoolLine(line));
      } catch (err) {
        return { signal, dir, sent, drained: false, note: `stopped: ${(err as Error).message}` };
      }
      spool.ack(line);
      sent++;
    }
  } finally {
    spool.close();
  }
  // A drained batch leaves only its cursor (and any corrupt/ segment, kept for inspection).
  if (removeWhenDone && readdirSync(dir).every((f) => f === 'cursor.json' || f === 'cursor.json.tmp')) rmSync(dir, { recursive: true, force: true });
  return { signal, dir, sent, drained: true };
}
