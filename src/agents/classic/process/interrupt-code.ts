import { readFileSync } from 'node:fs';
import { processTree } from '../../process/process-tree.js';

/** Open Interpreter's persistent shells: they read each block from stdin, so they must survive an interrupt. */
const SHELLS = new Set(['bash', 'sh', 'dash', 'zsh']);

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * What a terminal's Ctrl-C does to running code, for an `interpreter --server` that has no terminal: SIGINT to
 * the code's processes. The server process itself is spared (SIGINT would shut uvicorn down), and so is each
 * persistent shell (if it died, Open Interpreter would wait for its end-of-execution marker forever); the
 * commands the shell runs, and the Jupyter kernel (which turns SIGINT into KeyboardInterrupt), are signalled.
 * `rootPid` is the process the supervisor started (the server, or bwrap / strace around it). Returns how many
 * processes were signalled.
 */
export function interruptRunningCode(rootPid: number): number {
  const tree = processTree(rootPid);
  const depth = new Map<number, number>();
  for (const entry of tree) depth.set(entry.pid, (depth.get(entry.ppid) ?? -1) + 1);
  // The deepest process started with --server is Open Interpreter itself (bwrap and strace carry it in argv).
  const servers = tree.filter((e) => cmdline(e.pid).includes('--server'));
  const server = servers.sort((a, b) => (depth.get(b.pid) ?? 0) - (depth.get(a.pid) ?? 0))[0];
  if (!server) return 0;
  const below = new Map<number, number>([[server.pid, 0]]);
  let signalled = 0;
  for (const entry of tree) {
    const parentLevel = below.get(entry.ppid);
    if (parentLevel === undefined) continue;
    const level = parentLevel + 1;
    below.set(entry.pid, level);
    if (level === 1 && SHELLS.has(comm(entry.pid))) continue;
    try {
      process.kill(entry.pid, 'SIGINT');
      signalled++;
    } catch {
      // exited meanwhile
    }
  }
  return signalled;
}
