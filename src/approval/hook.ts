import type { ApprovalInfo, RiskAssessment } from '../audit/execution.js';

/** A proposed code block, as an approval hook sees it: the code the agent will run, its hash and its risk. */
export interface ProposedBlock {
  sessionId: string;
  turn: number;
  index: number;
  language: string;
  code: string;
  codeSha256: string;
  risk: RiskAssessment;
}

/** Called for every proposed block (by any agent's driver); resolves to the decision to record. */
export type ApprovalHook = (block: ProposedBlock) => Promise<ApprovalInfo>;
