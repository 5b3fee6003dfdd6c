/**
 * `--agent classic|rust`: which Open Interpreter a session runs. Both adapters record the same trace model
 * and take the same approval hooks; this module starts either behind one interface.
 */
import { AuditedRustInterpreter, type AuditedRustInterpreterOptions } from './rust/audited-rust-interpreter.js';
import { AuditedInterpreter, type AuditedInterpreterOptions } from './classic/audited-interpreter.js';
import type { AuditSession, SessionOutcome } from '../audit/session.js';
import type { AgentSessionOptions } from './session/options.js';
import type { TurnResult } from './session/turn-result.js';
import type { JsonValue } from '../record/canonical-json.js';

export const AGENT_KINDS = ['classic', 'rust'] as const;
export type AgentKind = (typeof AGENT_KINDS)[number];

/** What demo, chat and gateway use of an audited session, whichever agent runs it. */
export interface AuditedAgent {
  readonly session: AuditSession;
  readonly pid: number;
  send(text: string): Promise<TurnResult>;
  /** Interrupt the running turn (recorded as stopped); `reason` is recorded where the agent records one. */
  stop(reason?: string): Promise<void>;
  requestSettings(settings: Record<string, JsonValue>): string[];
  close(outcome?: SessionOutcome): Promise<void>;
}

/** The shared options, plus each adapter's own (each takes only what it has; the classic agent's LLM settings and containment, the Rust agent's sandbox and timeouts). */
export type StartAgentOptions = AgentSessionOptions &
  Omit<AuditedInterpreterOptions, keyof AgentSessionOptions> &
  Partial<Omit<AuditedRustInterpreterOptions, keyof AgentSessionOptions>>;

/** What the progress line says is being started (and installed on first use). */
export function agentStartMessage(kind: AgentKind): string {
  return kind === 'rust'
    ? 'Starting the Rust Open Interpreter (Codex 0.148.0; first run installs it into ~/.cache/oi-audit)…'
    : 'Starting Open Interpreter (first run installs it into .venv/oi)…';
}

export async function startAgent(kind: AgentKind, options: StartAgentOptions): Promise<AuditedAgent> {
  if (kind === 'classic') return AuditedInterpreter.start(options);
  if (!options.workDir) throw new Error('--agent rust needs a work directory (the sandbox root of its commands)');
  // Open Interpreter's LLM settings and containment have no Codex counterpart (its config is generated per session).
  const { chunkTimeoutMs, llm: _llm, containment: _containment, ...rest } = options;
  // The classic agent's "longest wait for the next chunk" is the Rust agent's idle timeout.
  return AuditedRustInterpreter.start({ ...rest, workDir: options.workDir, ...(chunkTimeoutMs && !options.turnIdleTimeoutMs ? { turnIdleTimeoutMs: chunkTimeoutMs } : {}) });
}
