import { policyByName, type HoldCallback } from './policy.js';
import type { ApprovalHook } from '../agents/classic/lmc/turn-driver.js';

export const APPROVAL_MODES = ['all', 'none', 'policy'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

export interface ApprovalSetup {
  name: ApprovalMode;
  hook: ApprovalHook;
}

/**
 * The approval hook behind `--approve all|none|policy`. `policy` is the detection-rule policy: refuse
 * critical, hold high for a human (`hold`; refused when none is wired), approve the rest.
 */
export function approvalFor(mode: ApprovalMode, hold?: HoldCallback): ApprovalSetup {
  return { name: mode, hook: policyByName(mode, hold ? { hold } : {}) };
}
