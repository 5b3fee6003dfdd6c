import { createPolicy, type HoldContext } from '../../approval/policy.js';
import { escapeForLog } from '../../record/escape.js';
import type { ApprovalHook } from '../../approval/hook.js';
import type { LineInput } from './line-input.js';

/** A day: the person at the terminal decides; the policy's own hold timeout must not decide for them. */
const ASK_TIMEOUT_MS = 24 * 3_600_000;

/**
 * `--approve ask`: critical blocks refused by the policy (the reason shown), every other block shown with its
 * language, risk level and rule ids and asked `[y/N]`: y or yes runs it, anything else (Ctrl-C, Ctrl-D
 * included) refuses. The decider recorded is `user`.
 */
export function askingPolicy(input: LineInput, write: (s: string) => void): ApprovalHook {
  const hold = async (ctx: HoldContext): Promise<'approved' | 'refused'> => {
    const rules = ctx.risk.rules.length ? `, rules ${ctx.risk.rules.map(escapeForLog).join(', ')}` : '';
    write(`\n[oi-audit] ${escapeForLog(ctx.language)} block, risk ${ctx.risk.level}${rules}\n`);
    const answer = await input.read(`Run this ${escapeForLog(ctx.language)} block? [y/N] `, { typeAhead: false, showPrompt: true });
    return answer !== undefined && /^y(es)?$/i.test(answer.trim()) ? 'approved' : 'refused';
  };
  const policy = createPolicy({ actions: { none: 'hold', low: 'hold', medium: 'hold', high: 'hold', critical: 'refuse' }, hold, holdTimeoutMs: ASK_TIMEOUT_MS });
  return async (block) => {
    const decision = await policy(block);
    if (decision.decision === 'refused' && decision.decider === 'policy') write(`\n[oi-audit] refused: ${escapeForLog(decision.reason ?? 'by policy')}\n`);
    return decision;
  };
}
