/**
 * The closed list of audit event names (`event.name` on every log record, `event` in every body).
 * A back end can rely on never seeing any other value.
 */
export const AUDIT_EVENTS = {
  sessionStart: 'oi_audit.session.start',
  sessionEnd: 'oi_audit.session.end',
  userInput: 'oi_audit.user.input',
  llmRequest: 'oi_audit.llm.request',
  llmResponse: 'oi_audit.llm.response',
  assistantMessage: 'oi_audit.assistant.message',
  codeGenerated: 'oi_audit.code.generated',
  approvalDecision: 'oi_audit.approval.decision',
  commandExecuted: 'oi_audit.command.executed',
  commandOutput: 'oi_audit.command.output',
  error: 'oi_audit.error',
  settingsRefused: 'oi_audit.settings.refused',
  auditLoss: 'oi_audit.audit.loss',
  integrityCheckpoint: 'oi_audit.integrity.checkpoint',
  // The embedded sink's own upkeep (rotation, deletion by retention), in maintenance sessions: docs/semantic-conventions.md.
  sinkMaintenance: 'oi_audit.sink.maintenance',
  // Execution ground truth (what approved code really did, observed by strace): see docs/semantic-conventions.md.
  processExec: 'oi_audit.process.exec',
  fileWrite: 'oi_audit.file.write',
  fileDelete: 'oi_audit.file.delete',
  fileSensitiveRead: 'oi_audit.file.sensitive_read',
  groundTruthFinding: 'oi_audit.ground_truth.finding',
  groundTruthSummary: 'oi_audit.ground_truth.summary',
} as const;

export type AuditEventName = (typeof AUDIT_EVENTS)[keyof typeof AUDIT_EVENTS];

export const AUDIT_EVENT_NAMES: readonly AuditEventName[] = Object.values(AUDIT_EVENTS);

export function isAuditEventName(value: unknown): value is AuditEventName {
  return typeof value === 'string' && (AUDIT_EVENT_NAMES as readonly string[]).includes(value);
}

/**
 * The six data points the mission names. A turn's trail is complete when each is present
 * (an error data point may be "none occurred", which the turn's end event states explicitly).
 */
export const REQUIRED_DATA_POINTS = {
  userInput: AUDIT_EVENTS.userInput,
  llmPrompt: AUDIT_EVENTS.llmRequest,
  generatedCode: AUDIT_EVENTS.codeGenerated,
  executedCommand: AUDIT_EVENTS.commandExecuted,
  commandOutput: AUDIT_EVENTS.commandOutput,
  error: AUDIT_EVENTS.error,
} as const;

/** Risk levels, ordered; used by detection, policy, routing and dashboards. */
export const RISK_LEVELS = ['none', 'low', 'medium', 'high', 'critical'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export function riskRank(level: RiskLevel): number {
  return RISK_LEVELS.indexOf(level);
}

export function maxRisk(a: RiskLevel, b: RiskLevel): RiskLevel {
  return riskRank(a) >= riskRank(b) ? a : b;
}
