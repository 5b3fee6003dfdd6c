/** Helpers for benchmark worker processes: argument parsing, result output, GC, yielding. */
import { setImmediate as immediate } from 'node:timers/promises';

export const RESULT_MARKER = 'OI_AUDIT_BENCH_RESULT ';

/** `--name value` and `--flag` arguments into an object (numbers parsed). */
export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[key] = true;
    else {
      out[key] = /^-?\d+(\.\d+)?$/.test(next) ? Number(next) : next;
      i++;
    }
  }
  return out;
}

/** The worker's result: one marked JSON line on stdout (the orchestrator picks it out). */
export function emitResult(result) {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

export function gc() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
}

export const yieldToLoop = () => immediate();

export function cpuMs(since) {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
}
