/**
 * Metric names oi-audit records. The GenAI names are copied from the OpenTelemetry GenAI semantic
 * conventions (Development upstream; constant names as in `@opentelemetry/semantic-conventions/incubating`),
 * the `oi_audit.*` ones are the audit's own. Every name is documented in docs/semantic-conventions.md.
 */

// --- OpenTelemetry GenAI client and tool metrics ---
export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = 'gen_ai.client.token.usage';
export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = 'gen_ai.client.operation.duration';
export const METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK = 'gen_ai.client.operation.time_to_first_chunk';
export const METRIC_GEN_AI_EXECUTE_TOOL_DURATION = 'gen_ai.execute_tool.duration';

// --- oi-audit's own ---
export const METRIC_AUDIT_BLOCKS = 'oi_audit.blocks';
export const METRIC_AUDIT_REDACTIONS = 'oi_audit.redactions';
export const METRIC_AUDIT_RECORDS_LOST = 'oi_audit.records.lost';
export const METRIC_AUDIT_EXPORT_FAILURES = 'oi_audit.export.failures';
export const METRIC_AUDIT_SPOOL_BYTES = 'oi_audit.spool.bytes';
