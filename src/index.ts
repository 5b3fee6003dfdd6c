/// <reference types="node" preserve="true" />
export { register, getAuditRecorder, getAuditHandle, type AuditHandle, type RegisterOptions, type SinkKind } from './setup/register.js';
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
export { canonicalize, type JsonValue, type JsonObject } from './record/canonical-json.js';

// Open Interpreter integration
export { AuditedInterpreter, type AuditedInterpreterOptions } from './agents/classic/audited-interpreter.js';
export { AUDIT_WEAKENING_SETTINGS } from './agents/session/settings.js';
export { TurnDriver, type BlockForApproval } from './agents/classic/lmc/turn-driver.js';
export type { ApprovalHook } from './approval/hook.js';
export type { LmcChunk } from './agents/session/lmc-chunk.js';
export type { TurnResult } from './agents/session/turn-result.js';
export { startLlmProxy, type LlmProxy, type LlmProxyOptions } from './llm-proxy/proxy.js';
export { startInterpreterServer, type InterpreterServer } from './agents/classic/process/supervisor.js';
export { ensureOpenInterpreter } from './agents/classic/process/venv.js';
export { importConversation } from './agents/classic/import.js';
export { startGateway, type Gateway, type GatewayOptions } from './gateway/gateway.js';

// Detection and policy
export { detectCode, detectInput, detectOutput, TaintContext, type DetectionResult, type Finding } from './detect/engine.js';
export { createPolicy, policy, policyByName, approveAll, approveNone, type HoldCallback, type PolicyOptions } from './approval/policy.js';
export type { ProposedBlock } from './approval/hook.js';

// Evidence
export { verifySessions, type SessionReport, type VerifyOptions } from './verify/verify.js';
export { renderText as renderVerifyText, renderJson as renderVerifyJson } from './verify/report.js';
export { createChainFactory, loadIntegrityKeys, SessionChain } from './integrity/chain.js';
export { loadPseudonymizer, Pseudonymizer } from './redact/pseudonym.js';
export { createRedactor, createDefaultRedactor, REDACTION_RULES_VERSION } from './redact/rules.js';
export { generateKeyFiles } from './keys/keygen.js';
export { readAuditFiles } from './read/otlp-files.js';
export { assembleSessions } from './read/sessions.js';

// SIEM
export { toOcsf, toEcs, validateOcsf } from './siem/index.js';
