export { register, getAuditRecorder, getAuditHandle, type AuditHandle, type RegisterOptions, type SinkKind } from './otel/register.js';
export { FileLogRecordExporter, FileSpanExporter, LOGS_FILE, TRACES_FILE } from './otel/file-sink.js';
export { AuditRecorder, type AuditRecorderOptions } from './audit/recorder.js';
export { AuditSession, type OpenSessionOptions, type SessionOutcome, type ErrorInfo, type ErrorSource } from './audit/session.js';
export { AuditTurn, type TurnOutcome } from './audit/turn.js';
export { AuditGeneration, type GenerationRequest, type GenerationResult } from './audit/generation.js';
export {
  AuditExecution,
  type ApprovalDecision,
  type ApprovalInfo,
  type Decider,
  type ExecutionEnd,
  type ProposedCode,
  type RiskAssessment,
} from './audit/execution.js';
export { captureContent, type CapturedContent } from './audit/content.js';
export { resolveConfig, DEFAULT_CONFIG, type AuditConfig, type AuditConfigInput, type CaptureMode, type CaptureConfig } from './config/config.js';
export * as semconv from './semconv/attributes.js';
export { AUDIT_EVENTS, AUDIT_EVENT_NAMES, RISK_LEVELS, type AuditEventName, type RiskLevel } from './semconv/events.js';
export { canonicalize, type JsonValue, type JsonObject } from './security/canonical-json.js';
