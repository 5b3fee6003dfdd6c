/**
 * What the ECS and the OCSF mapping derive alike from an audit body: the 1–5 severity of a risk level,
 * the token counts of an LLM response, and a rule's ATT&CK technique and tactic split into ids and names.
 */
import type { DetectionRule } from '../detect/engine.js';
import type { JsonObject } from '../record/canonical-json.js';
import type { RiskLevel } from '../semconv/events.js';
import { num, splitTactic, splitTechnique } from './body.js';

/** OCSF severity_id (1 Informational … 5 Critical); ECS event.severity uses the same scale. */
export const SEVERITY_ID: Record<RiskLevel, number> = { none: 1, low: 2, medium: 3, high: 4, critical: 5 };

/** Input and output tokens of an `oi_audit.llm.response` body's `data.usage`, each undefined when not recorded. */
export function tokenUsage(data: JsonObject): { input: number | undefined; output: number | undefined } {
  const usage = data.usage && typeof data.usage === 'object' && !Array.isArray(data.usage) ? data.usage : {};
  return { input: num(usage.input_tokens), output: num(usage.output_tokens) };
}

export interface RuleAttack extends ReturnType<typeof splitTechnique> {
  tactic: { uid: string; name: string };
}

/** The technique (and sub-technique) and the tactic a rule names. */
export function ruleAttack(rule: DetectionRule): RuleAttack {
  return { ...splitTechnique(rule.attack.technique, rule.attack.name), tactic: splitTactic(rule.attack.tactic) };
}
