/**
 * The processes below an agent's server, from /proc: what the classic supervisor and the Rust app-server client
 * signal and wait for when a session ends, and what tests check is gone.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcessEntry {
  pid: number;
  ppid: number;
  pgid: number;
}

/** All processes from /proc (Linux). Elsewhere an empty list, and only the server's own group is signalled. */
function listProcesses(): ProcessEntry[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const entries: ProcessEntry[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after "(comm)": state ppid pgrp ...; comm may itself contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      entries.push({ pid: Number(name), ppid: Number(fields[1]), pgid: Number(fields[2]) });
    } catch {
      // exited while we were reading
    }
  }
  return entries;
}

/** The process and all its descendants that are alive now. */
export function processTree(rootPid: number): ProcessEntry[] {
  const all = listProcesses();
  const childrenOf = new Map<number, ProcessEntry[]>();
  for (const entry of all) {
    const siblings = childrenOf.get(entry.ppid) ?? [];
    siblings.push(entry);
    childrenOf.set(entry.ppid, siblings);
  }
  const tree: ProcessEntry[] = [];
  const queue = all.filter((e) => e.pid === rootPid);
  while (queue.length > 0) {
    const entry = queue.shift()!;
    tree.push(entry);
    queue.push(...(childrenOf.get(entry.pid) ?? []));
  }
  return tree;
}

/**
 * Whether the process still runs. A zombie counts as gone: it runs nothing, and orphans killed here are reaped
 * by whatever PID 1 is, which in containers may be slow to do it or never do it.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux'; // no /proc to look at: trust kill(0)
  }
}
