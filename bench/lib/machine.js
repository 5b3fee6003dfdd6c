/** Machine description for the report, and CPU pinning (taskset) for the measured processes. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

let tasksetChecked;

/** Whether `taskset` works here (Linux util-linux). */
export function canPin() {
  if (tasksetChecked === undefined) {
    try {
      execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
      tasksetChecked = os.cpus().length >= 2;
    } catch {
      tasksetChecked = false;
    }
  }
  return tasksetChecked;
}

/** Pin a process (all its threads) to one CPU; silently does nothing when pinning is unavailable. */
export function pinToCpu(pid, cpu) {
  if (cpu === undefined || !canPin()) return false;
  try {
    execFileSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function cpuModel() {
  const model = os.cpus()[0]?.model?.trim();
  if (model) return model;
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machineInfo() {
  return {
    cpu: cpuModel(),
    cpus: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
