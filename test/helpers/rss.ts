/**
 * Resident-set-size sampling for bad-input tests: "bounded memory" means the test process's RSS peak
 * during a case stays within a stated bound of a baseline taken in the same test, just before the case.
 * Everything in-process counts (the audit pipeline, the LLM proxy, the scripted model, the in-memory
 * exporters); Open Interpreter and its kernel are other processes and are not measured here.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const MB = 1024 * 1024;

let gcFn: (() => void) | undefined | null = null;

/** A full garbage collection when the runtime allows one (exposed on demand; a no-op otherwise). */
export function collectGarbage(): void {
  if (gcFn === null) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = undefined;
    }
  }
  gcFn?.();
}

export interface RssReport {
  /** RSS just before the case, after a full GC, MB. */
  baselineMb: number;
  /** Highest RSS seen while the case ran, MB. */
  peakMb: number;
  /** peak − baseline, MB (never below 0). */
  growthMb: number;
  samples: number;
}

/** Samples `process.memoryUsage().rss` every `intervalMs` until stopped. */
export class RssSampler {
  private readonly baseline: number;
  private peak: number;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 20) {
    collectGarbage();
    this.baseline = process.memoryUsage().rss;
    this.peak = this.baseline;
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const rss = process.memoryUsage().rss;
    this.samples++;
    if (rss > this.peak) this.peak = rss;
  }

  stop(): RssReport {
    clearInterval(this.timer);
    this.sample();
    const round = (n: number) => Math.round((n / MB) * 10) / 10;
    return {
      baselineMb: round(this.baseline),
      peakMb: round(this.peak),
      growthMb: round(Math.max(0, this.peak - this.baseline)),
      samples: this.samples,
    };
  }
}

/** Runs `fn` while sampling RSS; returns its result and the report. */
export async function measureRss<T>(fn: () => Promise<T>, intervalMs = 20): Promise<{ result: T; rss: RssReport }> {
  const sampler = new RssSampler(intervalMs);
  try {
    const result = await fn();
    return { result, rss: sampler.stop() };
  } catch (error) {
    sampler.stop();
    throw error;
  }
}
