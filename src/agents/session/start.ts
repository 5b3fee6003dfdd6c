/**
 * The steps every agent's `start()` shares: the session's opening fields, abandoning a start whose client is
 * gone, and recording a failed start. The agent-specific steps (installing, spawning, handshakes) stay in
 * each adapter.
 */
import type { AuditSession, OpenSessionOptions } from '../../audit/session.js';
import type { AgentSessionOptions } from './options.js';

/** What only the agent knows about its session (version, binary, containment). */
export type AgentSessionFields = Pick<OpenSessionOptions, 'openInterpreterVersion' | 'agent' | 'containment'>;

/** Opens the audit session of an agent: never auto-run, the user, client and policy from the shared options. */
export function openAgentSession(options: AgentSessionOptions, fields: AgentSessionFields): AuditSession {
  return options.recorder.openSession({
    userId: options.userId,
    model: options.model,
    policy: options.policyName,
    autoRun: false,
    ...(options.clientAddress ? { clientAddress: options.clientAddress } : {}),
    ...(options.roles ? { roles: options.roles } : {}),
    ...fields,
  });
}

/** Thrown between start steps once the start's signal is aborted. */
export class StartAborted extends Error {}

/** Call between start steps: stops the start at the next step once whoever asked for it is gone. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StartAborted(`session start abandoned: ${String(signal.reason ?? 'aborted')}`);
}

/**
 * Records why a start failed and ends the session (`aborted` when the client went away, else `error`).
 * Call only after the agent's processes are stopped: the session's end must not be recorded while they run.
 * `detail` (e.g. the agent's last stderr) is added to the recorded message. Returns the error's message.
 */
export function recordFailedStart(session: AuditSession, error: unknown, signal: AbortSignal | undefined, detail?: string): string {
  const message = error instanceof Error ? error.message : String(error);
  // Aborted while a step was running: that step's own error is a consequence of the abandonment.
  const abandoned = error instanceof StartAborted || signal?.aborted === true;
  session.recordError(
    abandoned
      ? { source: 'client', type: 'client_disconnected', message }
      : { source: 'process', type: 'start_failed', message: detail ? `${message}\n${detail}` : message },
  );
  session.end(abandoned ? 'aborted' : 'error');
  return message;
}
