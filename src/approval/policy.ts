/**
 * Approval policy for proposed code blocks: per risk level approve, refuse, or hold for a human.
 *
 * The Open Interpreter client calls an {@link ApprovalHook} for every proposed block and records the
 * ApprovalInfo it returns (AuditExecution.decide). The default `policy` refuses critical blocks, holds
 * high ones for a human (and refuses them when no human is wired or none answers in time), and
 * approves the rest.
 */
import type { ApprovalInfo, RiskAssessment } from '../audit/execution.js';
import { RISK_LEVELS, type RiskLevel } from '../semconv/events.js';

export type PolicyAction = 'approve' | 'refuse' | 'hold';

/** A code block as the hook sees it. */
export interface ProposedBlock {
  language: string;
  code: string;
  risk: RiskAssessment;
  sessionId: string;
  turn: number;
}

/** Called for every proposed block; resolves to the decision to record. */
export type ApprovalHook = (block: ProposedBlock) => Promise<ApprovalInfo>;

/** What a human is shown when a block is held. */
export interface HoldContext extends ProposedBlock {
  /** Why the block is held (risk level and rules). */
  reason: string;
  timeoutMs: number;
  /** Aborted when the hold times out: close the prompt. */
  signal: AbortSignal;
}

/** Ask a human. Resolve 'approved' or 'refused'; a rejection or a timeout counts as refused. */
export type HoldCallback = (ctx: HoldContext) => Promise<'approved' | 'refused'>;

export interface PolicyOptions {
  /** Action per risk level; unset levels take DEFAULT_ACTIONS. */
  actions?: Partial<Record<RiskLevel, PolicyAction>>;
  /** The human in the loop. Without one, held blocks are refused. */
  hold?: HoldCallback;
  /** How long a human has to answer. Default 120 000 ms. */
  holdTimeoutMs?: number;
}

/** Default: refuse critical, hold high, approve the rest. */
export const DEFAULT_ACTIONS: Readonly<Record<RiskLevel, PolicyAction>> = Object.freeze({
  none: 'approve',
  low: 'approve',
  medium: 'approve',
  high: 'hold',
  critical: 'refuse',
});

export const DEFAULT_HOLD_TIMEOUT_MS = 120_000;

function ruleList(risk: RiskAssessment): string {
  return risk.rules.length > 0 ? ` (${risk.rules.join(', ')})` : '';
}

function info(decision: ApprovalInfo['decision'], decider: ApprovalInfo['decider'], reason: string, risk: RiskAssessment): ApprovalInfo {
  return { decision, decider, reason, rules: [...risk.rules] };
}

/** An unknown level (a newer rule table, a bad caller) is treated as the worst. */
function levelOf(risk: RiskAssessment): RiskLevel {
  return (RISK_LEVELS as readonly string[]).includes(risk.level) ? risk.level : 'critical';
}

async function askHuman(block: ProposedBlock, hold: HoldCallback, timeoutMs: number): Promise<ApprovalInfo> {
  const level = levelOf(block.risk);
  const reason = `risk ${level}${ruleList(block.risk)} held for a human`;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error('approval timed out'));
      resolve('timeout');
    }, timeoutMs);
  });
  try {
    const answer = await Promise.race([hold({ ...block, reason, timeoutMs, signal: controller.signal }), timeout]);
    if (answer === 'timeout') return info('refused', 'policy', `${reason}: no answer within ${Math.round(timeoutMs / 1000)} s, refused`, block.risk);
    if (answer === 'approved') return info('approved', 'user', `${reason}: approved by a human`, block.risk);
    return info('refused', 'user', `${reason}: refused by a human`, block.risk);
  } catch (err) {
    return info('refused', 'policy', `${reason}: the approval prompt failed (${(err as Error)?.message ?? String(err)}), refused`, block.risk);
  } finally {
    clearTimeout(timer);
  }
}

/** A policy with per-level actions. */
export function createPolicy(options: PolicyOptions = {}): ApprovalHook {
  const actions: Record<RiskLevel, PolicyAction> = { ...DEFAULT_ACTIONS, ...options.actions };
  for (const [level, action] of Object.entries(actions)) {
    if (!(RISK_LEVELS as readonly string[]).includes(level)) throw new Error(`unknown risk level ${level}`);
    if (!['approve', 'refuse', 'hold'].includes(action)) throw new Error(`unknown policy action ${action} for ${level}`);
  }
  const timeoutMs = options.holdTimeoutMs ?? DEFAULT_HOLD_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new Error(`holdTimeoutMs must be positive, got ${timeoutMs}`);
  return async (block) => {
    const level = levelOf(block.risk);
    const action = actions[level];
    if (action === 'approve') return info('approved', 'policy', `risk ${level}${ruleList(block.risk)}: approved by policy`, block.risk);
    if (action === 'refuse') return info('refused', 'policy', `risk ${level}${ruleList(block.risk)}: refused by policy`, block.risk);
    if (!options.hold) return info('refused', 'policy', `risk ${level}${ruleList(block.risk)} needs a human and none is wired: refused`, block.risk);
    return askHuman(block, options.hold, timeoutMs);
  };
}

/** The default policy: refuse critical, hold high (refuse without a human), approve the rest. */
export function policy(options: Omit<PolicyOptions, 'actions'> = {}): ApprovalHook {
  return createPolicy(options);
}

/** Approve every block (the audit still records risk and rules). */
export const approveAll: ApprovalHook = async (block) => info('approved', 'policy', 'policy "all": every block is approved', block.risk);

/** Refuse every block. */
export const approveNone: ApprovalHook = async (block) => info('refused', 'policy', 'policy "none": every block is refused', block.risk);

export type PolicyName = 'all' | 'none' | 'policy';

/** The hook for a policy name (as in OpenSessionOptions.policy / the gateway's --policy). */
export function policyByName(name: PolicyName, options: Omit<PolicyOptions, 'actions'> = {}): ApprovalHook {
  switch (name) {
    case 'all':
      return approveAll;
    case 'none':
      return approveNone;
    case 'policy':
      return policy(options);
    default:
      throw new Error(`unknown policy ${String(name)} (expected all, none or policy)`);
  }
}
