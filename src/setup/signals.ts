/**
 * The one place that handles SIGINT, SIGTERM and SIGHUP for oi-audit.
 *
 * Several parts need to act on a termination signal, in order: the gateway ends its sessions (end event,
 * final checkpoint), the audit SDK flushes, and the supervisor kills any Open Interpreter process still
 * tracked. Each used to install its own listener and guess from `process.listenerCount` whether someone else
 * would exit; with three of them the guesses contradicted each other (the gateway's SIGTERM exited 143 with
 * its sessions cut off). Here each part registers a step for its phase; one listener per signal runs the
 * phases in order, each bounded in time, then exits once.
 *
 * How it exits: with the code a command claimed (`claimExitCode`, e.g. the gateway promises 0 after a clean
 * shutdown); otherwise, when the host application listens to the signal itself, not at all (the host
 * decides); otherwise by re-raising the signal, as if nobody had handled it. A second signal during the
 * shutdown skips the remaining steps, runs the `processes` phase and exits at once.
 */

export type ShutdownPhase = 'sessions' | 'audit' | 'processes';
export type TerminationSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

const PHASES: readonly ShutdownPhase[] = ['sessions', 'audit', 'processes'];
const SIGNALS: readonly TerminationSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** Longest wait per phase: a hung Collector or session must not keep a signalled process alive. */
const PHASE_TIMEOUT_MS: Readonly<Record<ShutdownPhase, number>> = { sessions: 20_000, audit: 5_000, processes: 8_000 };

type Step = (signal: TerminationSignal) => void | Promise<void>;

interface Registration {
  phase: ShutdownPhase;
  step: Step;
}

const registrations = new Set<Registration>();
const listeners = new Map<TerminationSignal, () => void>();
let claimedExitCode: number | undefined;
let shuttingDown: TerminationSignal | undefined;

/**
 * Run `step` when a termination signal arrives, in `phase` order (all steps of a phase run together).
 * @returns a function that removes the step (the listeners go when no step is left).
 */
export function onTerminationSignal(phase: ShutdownPhase, step: Step): () => void {
  const registration: Registration = { phase, step };
  registrations.add(registration);
  install();
  return () => {
    registrations.delete(registration);
    if (registrations.size === 0 && shuttingDown === undefined) uninstall();
  };
}

/** The exit code after a signal-driven shutdown (a command that documents one claims it). */
export function claimExitCode(code: number): void {
  claimedExitCode = code;
}

/** True once a termination signal is being handled. */
export function isShuttingDown(): boolean {
  return shuttingDown !== undefined;
}

function install(): void {
  if (listeners.size > 0) return;
  for (const signal of SIGNALS) {
    const listener = (): void => void handle(signal);
    listeners.set(signal, listener);
    process.on(signal, listener);
  }
}

function uninstall(): void {
  for (const [signal, listener] of listeners) process.off(signal, listener);
  listeners.clear();
}

async function runPhase(phase: ShutdownPhase, signal: TerminationSignal): Promise<void> {
  const steps = [...registrations].filter((r) => r.phase === phase);
  if (steps.length === 0) return;
  const all = Promise.allSettled(steps.map(async (r) => r.step(signal)));
  await Promise.race([all, new Promise<void>((resolve) => setTimeout(resolve, PHASE_TIMEOUT_MS[phase]).unref())]);
}

async function handle(signal: TerminationSignal): Promise<void> {
  if (shuttingDown !== undefined) {
    // Asked twice: stop waiting, leave no interpreter behind.
    await runPhase('processes', signal);
    process.exit(claimedExitCode ?? 1);
  }
  shuttingDown = signal;
  for (const phase of PHASES) await runPhase(phase, signal);
  uninstall();
  if (claimedExitCode !== undefined) process.exit(claimedExitCode);
  // The host application listens too: it decides whether and how to exit.
  if (process.listenerCount(signal) > 0) return;
  process.kill(process.pid, signal);
}
