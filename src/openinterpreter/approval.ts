import type { ApprovalInfo } from '../audit/execution.js';
import type { ApprovalHook, BlockForApproval, RiskDetector } from './turn-driver.js';

export const APPROVAL_MODES = ['all', 'none', 'policy'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

export interface ApprovalSetup {
  name: ApprovalMode;
  hook: ApprovalHook;
  detect?: RiskDetector;
  /** Like hook, but may answer `hold` to ask a human (the gateway's connected client). */
  hold?: (block: BlockForApproval) => Promise<ApprovalInfo | 'hold'>;
  /** Said to the user when the mode does something they might not expect. */
  note?: string;
}

/** The approval hook behind `--approve all|none|policy`. */
export function approvalFor(mode: ApprovalMode): ApprovalSetup {
  switch (mode) {
    case 'all':
      return { name: mode, hook: async () => ({ decision: 'approved', decider: 'policy', reason: 'approve all' }) };
    case 'none':
      return { name: mode, hook: async () => ({ decision: 'refused', decider: 'policy', reason: 'approve none' }) };
    case 'policy':
      return {
        name: mode,
        hook: async () => ({ decision: 'approved', decider: 'policy', reason: 'no detection rules loaded' }),
        note: 'policy mode approves every block until detection rules are loaded',
      };
  }
}
