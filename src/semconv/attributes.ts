/**
 * Attribute names used on spans and log records.
 *
 * The GenAI names are copied from the OpenTelemetry semantic conventions (still "Development" upstream),
 * so a rename upstream cannot silently change what we emit. Every name here is documented in
 * docs/semantic-conventions.md; a test checks that the two agree.
 */

// --- OpenTelemetry GenAI conventions (gen-ai spans and events) ---
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_GEN_AI_CONVERSATION_ID = 'gen_ai.conversation.id';
export const ATTR_GEN_AI_AGENT_NAME = 'gen_ai.agent.name';
export const ATTR_GEN_AI_AGENT_VERSION = 'gen_ai.agent.version';
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type';
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
export const ATTR_GEN_AI_TOOL_CALL_ID = 'gen_ai.tool.call.id';
export const ATTR_GEN_AI_TOOL_TYPE = 'gen_ai.tool.type';
/** Opt-in content attributes (structured, under the capture policy; off unless opted in). */
export const ATTR_GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages';
export const ATTR_GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages';
export const ATTR_GEN_AI_SYSTEM_INSTRUCTIONS = 'gen_ai.system_instructions';

/**
 * Deprecated upstream, still emitted next to its replacement unless OTEL_SEMCONV_STABILITY_OPT_IN lists
 * `gen_ai_latest_experimental` (upstream constant ATTR_GEN_AI_SYSTEM, replaced by gen_ai.provider.name in 1.37).
 */
export const ATTR_GEN_AI_SYSTEM_DEPRECATED = 'gen_ai.system';

// --- General OpenTelemetry conventions ---
export const ATTR_SESSION_ID = 'session.id';
export const ATTR_ENDUSER_PSEUDO_ID = 'enduser.pseudo.id';
export const ATTR_CLIENT_ADDRESS = 'client.address';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_EVENT_NAME = 'event.name';
export const ATTR_SERVICE_NAME = 'service.name';

// --- oi-audit's own namespace ---
export const ATTR_USER_ROLES = 'oi_audit.user.roles';
export const ATTR_OI_VERSION = 'oi_audit.open_interpreter.version';
export const ATTR_AUTO_RUN = 'oi_audit.auto_run';
export const ATTR_POLICY = 'oi_audit.policy';
/** Containment of the session's interpreter: `bwrap` or `none` (session span and start event). */
export const ATTR_SANDBOX_MODE = 'oi_audit.sandbox.mode';
/** Network of the sandbox: `shared` or `none`. */
export const ATTR_SANDBOX_NETWORK = 'oi_audit.sandbox.network';
/** Execution ground truth of the session: `strace` or `off`. */
export const ATTR_GROUND_TRUTH = 'oi_audit.ground_truth.mode';
/** Execution span: programs the approved code started, as observed (ground truth). */
export const ATTR_PROCESS_COUNT = 'oi_audit.process.count';
/** Execution span: ground-truth findings (unaccounted or risky programs, sensitive reads). */
export const ATTR_GROUND_TRUTH_FINDINGS = 'oi_audit.ground_truth.findings';
export const ATTR_IMPORTED = 'oi_audit.imported';
export const ATTR_SESSION_OUTCOME = 'oi_audit.session.outcome';

export const ATTR_TURN_INDEX = 'oi_audit.turn.index';
export const ATTR_TURN_OUTCOME = 'oi_audit.turn.outcome';
export const ATTR_INPUT_LENGTH = 'oi_audit.input.length';
export const ATTR_INPUT_SHA256 = 'oi_audit.input.sha256';

export const ATTR_LLM_CALL_INDEX = 'oi_audit.llm.call_index';
export const ATTR_LLM_TIME_TO_FIRST_CHUNK_MS = 'oi_audit.llm.time_to_first_chunk_ms';
export const ATTR_LLM_CHUNKS = 'oi_audit.llm.chunks';
export const ATTR_LLM_CLIENT_DISCONNECTED = 'oi_audit.llm.client_disconnected';
export const ATTR_LLM_HTTP_STATUS = 'oi_audit.llm.upstream_status';

export const ATTR_CODE_LANGUAGE = 'oi_audit.code.language';
export const ATTR_CODE_SHA256 = 'oi_audit.code.sha256';
export const ATTR_CODE_LENGTH = 'oi_audit.code.length';
export const ATTR_CODE_INDEX = 'oi_audit.code.index';
export const ATTR_APPROVAL_DECISION = 'oi_audit.approval.decision';
export const ATTR_APPROVAL_DECIDER = 'oi_audit.approval.decider';
export const ATTR_RISK_LEVEL = 'oi_audit.risk.level';
export const ATTR_RISK_RULES = 'oi_audit.risk.rules';
export const ATTR_OUTPUT_LENGTH = 'oi_audit.output.length';
export const ATTR_OUTPUT_SHA256 = 'oi_audit.output.sha256';
export const ATTR_OUTPUT_TRUNCATED = 'oi_audit.output.truncated';
export const ATTR_EXECUTION_ERROR = 'oi_audit.execution.error';
export const ATTR_EXECUTION_EXIT_CODE = 'oi_audit.execution.exit_code';
export const ATTR_EXECUTION_ITEM_ID = 'oi_audit.execution.item_id';
export const ATTR_AGENT_KIND = 'oi_audit.agent.kind';
export const ATTR_AGENT_TURN_ID = 'oi_audit.agent.turn_id';

export const ATTR_EVENT_SEQ = 'oi_audit.event.seq';
/** Integrity scheme of the session the record belongs to: tells the loss declarer how records are linked. */
export const ATTR_INTEGRITY_SCHEME = 'oi_audit.integrity.scheme';
export const ATTR_REDACTION_COUNT = 'oi_audit.redaction.count';
export const ATTR_CONTENT_MODE = 'oi_audit.content.mode';

// --- metric attributes of oi-audit's own metrics ---
export const ATTR_REDACTION_RULE = 'oi_audit.redaction.rule';
export const ATTR_AUDIT_LOSS_REASON = 'oi_audit.loss.reason';
export const ATTR_AUDIT_SIGNAL = 'oi_audit.signal';

/** Values of gen_ai.agent.name / gen_ai.operation.name we emit. */
export const GEN_AI_AGENT_NAME_VALUE = 'open-interpreter';
export const GEN_AI_OPERATION_CHAT = 'chat';
export const GEN_AI_OPERATION_INVOKE_AGENT = 'invoke_agent';
export const GEN_AI_OPERATION_EXECUTE_TOOL = 'execute_tool';

/** Instrumentation scope for every span and log record oi-audit emits. */
export const INSTRUMENTATION_SCOPE = 'oi-audit';
