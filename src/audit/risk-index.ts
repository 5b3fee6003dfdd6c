import type { Attributes } from '@opentelemetry/api';
import type { JsonObject } from '../record/canonical-json.js';
import * as A from '../semconv/attributes.js';
import type { EmitOptions, Severity } from './event-log.js';

const RANK: Record<Severity, number> = { info: 0, warn: 1, error: 2 };

/**
 * The index must agree with the evidence: when an event's body states a risk (`data.risk`,
 * `data.rules`), its log attributes carry the same level and rules, and its severity is at least
 * WARN for high and critical, whatever the emitting code passed. Alerts and the Collector's urgent
 * route read the attributes; the body is what verifies.
 */
export function indexRiskFromBody(data: JsonObject, options: EmitOptions = {}): EmitOptions {
  const level = data.risk;
  if (typeof level !== 'string') return options;
  const attributes: Attributes = { ...options.attributes, [A.ATTR_RISK_LEVEL]: level };
  if (Array.isArray(data.rules) && data.rules.every((r) => typeof r === 'string')) attributes[A.ATTR_RISK_RULES] = data.rules as string[];
  const floor: Severity = level === 'high' || level === 'critical' ? 'warn' : 'info';
  const given = options.severity ?? 'info';
  return { ...options, attributes, severity: RANK[floor] > RANK[given] ? floor : given };
}
