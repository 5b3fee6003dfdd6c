/**
 * `--agent classic|rust`: which Open Interpreter a session runs. Both adapters record the same trace model
 * and take the same approval hooks; this module starts either behind one interface.
 */
import { AuditedRustInterpreter, type AuditedRustInterpreterOptions } from './rust/audited-rust-interpreter.js';
import { AuditedInterpreter, type AuditedInterpreterOptions } from './classic/audited-interpreter.js';
import type { AuditSession, SessionOutcome } from '../audit/session.js';
import type { TurnResult } from './classic/lmc/turn-driver.js';
import type { JsonValue } from '../record/canonical-json.js';

export const AGENT_KINDS = ['classic', 'rust'] as const;
export type AgentKind = (typeof AGENT_KINDS)[number];

/** What demo, chat and gateway use of an audited session, whichever agent runs it. */
export interface AuditedAgent {
  readonly session: AuditSession;
  readonly pid: number;
  send(text: string): Promise<TurnResult>;
  stop(): Promise<void>;
  requestSettings(settings: Record<string, JsonValue>): string[];
  close(outcome?: SessionOutcome): Promise<void>;
}

export type StartAgentOptions = AuditedInterpreterOptions & Partial<Pick<AuditedRustInterpreterOptions, 'sandbox' | 'turnIdleTimeoutMs' | 'hookTimeoutSec'>>;

/** What the progress line says is being started (and installed on first use). */
export function agentStartMessage(kind: AgentKind): string {
  return kind === 'rust'
    ? 'Starting the Rust Open Interpreter (Codex 0.148.0; first run installs it into ~/.cache/oi-audit)…'
    : 'Starting Open Interpreter (first run installs it into .venv/oi)…';
}

export async function startAgent(kind: AgentKind, options: StartAgentOptions): Promise<AuditedAgent> {
  if (kind === 'classic') return AuditedInterpreter.start(options);
  if (!options.workDir) throw new Error('--agent rust needs a work directory (the sandbox root of its commands)');
  const { chunkTimeoutMs, onChunk, ...rest } = options;
  void onChunk; // LMC chunks exist only for the classic agent
  return AuditedRustInterpreter.start({ ...rest, workDir: options.workDir, ...(chunkTimeoutMs && !options.turnIdleTimeoutMs ? { turnIdleTimeoutMs: chunkTimeoutMs } : {}) });
}
