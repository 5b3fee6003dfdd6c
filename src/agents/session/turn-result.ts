/** What one user turn gives back, whichever agent ran it (the CLI prints it, the gateway sends it). */
import type { ApprovalInfo } from '../../audit/execution.js';
import type { TurnOutcome } from '../../audit/turn.js';

/** A refused block, with why: what a client is told. */
export interface Refusal {
  index: number;
  decider: ApprovalInfo['decider'];
  reason?: string;
  rules: string[];
}

export interface TurnResult {
  outcome: TurnOutcome;
  executed: number;
  refused: number;
  errors: string[];
  /** One entry per refused block. */
  refusals: Refusal[];
}
