/**
 * LogQL and TraceQL building blocks shared by the dashboards and the alert rules.
 *
 * Assumptions about how records land in Loki (collector-config/loki.yaml, Loki native OTLP ingestion):
 * - index labels: `service_name` (resource service.name) and `session_id` (log attribute session.id,
 *   promoted with `limits_config.otlp_config.log_attributes: index_label`);
 * - every other log attribute is structured metadata, its name with dots turned into underscores
 *   (`oi_audit.risk.level` → `oi_audit_risk_level`), filtered with `| name="value"` and no parser;
 * - the log line is the audit body verbatim: canonical JSON (RFC 8785, no whitespace), so
 *   `"rules":["OIA-…"]` appears exactly in that spelling, and escaped text inside captured content
 *   can never produce it (its quotes are backslash-escaped).
 */
import {
  ATTR_APPROVAL_DECISION,
  ATTR_CODE_LANGUAGE,
  ATTR_ENDUSER_PSEUDO_ID,
  ATTR_ERROR_TYPE,
  ATTR_EVENT_NAME,
  ATTR_EVENT_SEQ,
  ATTR_REDACTION_COUNT,
  ATTR_RISK_LEVEL,
  ATTR_SERVICE_NAME,
  ATTR_SESSION_ID,
  ATTR_TURN_INDEX,
} from '../../src/semconv/attributes.js';
import { AUDIT_EVENTS, type AuditEventName } from '../../src/semconv/events.js';

export const LOKI_UID = 'loki';
export const TEMPO_UID = 'tempo';
export const FOLDER_UID = 'oi-audit';
export const FOLDER_TITLE = 'oi-audit';
export const DASHBOARD_UIDS = { sessions: 'oi-audit-sessions', session: 'oi-audit-session', security: 'oi-audit-security' } as const;

/** Loki's name for an OTLP attribute: every character outside [A-Za-z0-9_] becomes `_`. */
export function lokiName(attribute: string): string {
  return attribute.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Label / structured-metadata names the queries use. */
export const L = {
  service: lokiName(ATTR_SERVICE_NAME),
  session: lokiName(ATTR_SESSION_ID),
  event: lokiName(ATTR_EVENT_NAME),
  user: lokiName(ATTR_ENDUSER_PSEUDO_ID),
  risk: lokiName(ATTR_RISK_LEVEL),
  language: lokiName(ATTR_CODE_LANGUAGE),
  decision: lokiName(ATTR_APPROVAL_DECISION),
  redactions: lokiName(ATTR_REDACTION_COUNT),
  errorType: lokiName(ATTR_ERROR_TYPE),
  seq: lokiName(ATTR_EVENT_SEQ),
  turn: lokiName(ATTR_TURN_INDEX),
} as const;

/** Stream selectors: dashboards filter by the `service` variable, alerts look at every service. */
export const SEL = {
  dashboard: `{${L.service}=~"$service"}`,
  session: `{${L.service}=~"$service", ${L.session}="$session_id"}`,
  alert: `{${L.service}=~".+"}`,
} as const;

/** `SELECTOR | event_name="…"` plus extra pipeline stages. */
export function events(selector: string, event: AuditEventName | AuditEventName[], ...stages: string[]): string {
  const match = Array.isArray(event) ? `${L.event}=~"${event.map((e) => e.replace(/\./g, '\\\\.')).join('|')}"` : `${L.event}="${event}"`;
  return [selector, `| ${match}`, ...stages].join(' ');
}

/** Line filter: the body's `rules` array names the rule (see the module comment for why this is exact). */
export function bodyNamesRule(ruleIdOrPrefix: string, exact = true): string {
  return `|~ \`"rules":\\[[^\\]]{0,400}"${ruleIdOrPrefix}${exact ? '"' : ''}\``;
}

/** An RE2 line filter in a backtick string (no escaping inside). */
export function lineRegex(re2: string): string {
  if (re2.includes('`')) throw new Error(`a LogQL backtick string cannot contain a backtick: ${re2}`);
  return `|~ \`${re2}\``;
}

export function countOver(query: string, range: string, by?: string[]): string {
  const inner = `count_over_time(${query} [${range}])`;
  return by ? `sum by (${by.join(', ')}) (${inner})` : `sum(${inner})`;
}

/**
 * Events sealed into the chain but not yet covered by a checkpoint, per session: the highest event
 * seq seen minus the highest `to_seq` of a checkpoint (both over `range`). Sessions that never
 * checkpointed at all in the range count their highest seq + 1. Positive = uncovered events.
 */
export function uncoveredEvents(selector: string, range: string): string {
  const lastEvent = `max by (${L.session}) (max_over_time(${events(selector, AUDIT_EVENTS.integrityCheckpoint).replace(`${L.event}="`, `${L.event}!="`)} | unwrap ${L.seq} [${range}]))`;
  const lastCovered = `max by (${L.session}) (max_over_time(${events(selector, AUDIT_EVENTS.integrityCheckpoint, '| json to_seq="data.to_seq"', '| unwrap to_seq')} [${range}]))`;
  return `(${lastEvent} - on (${L.session}) ${lastCovered}) or on (${L.session}) (${lastEvent} + 1 unless on (${L.session}) ${lastCovered})`;
}

/** The TraceQL search for one session's trace (its root span carries session.id and invoke_agent). */
export const TRACEQL = {
  sessionRoot: `{ span.${ATTR_SESSION_ID} = "$session_id" && span.gen_ai.operation.name = "invoke_agent" }`,
  sessionSpans: `{ span.${ATTR_SESSION_ID} = "$session_id" } | select(span.${ATTR_RISK_LEVEL}, span.${ATTR_CODE_LANGUAGE}, span.${ATTR_APPROVAL_DECISION}, span.gen_ai.request.model)`,
  riskySpans: `{ span.${ATTR_RISK_LEVEL} =~ "high|critical" } | select(span.${ATTR_SESSION_ID}, span.oi_audit.risk.rules, span.${ATTR_APPROVAL_DECISION})`,
} as const;
