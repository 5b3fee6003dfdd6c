/**
 * Typed configuration with documented defaults (README "Configuration" lists the same table).
 * Every option can be given in code; the ones an operator needs without code also come from env.
 */

/** Environment variables as read here (`process.env` fits); not NodeJS.ProcessEnv, so consumers need no @types/node. */
export type EnvVars = Record<string, string | undefined>;

/** How a content field (user input, LLM messages, code, output) is recorded. */
export type CaptureMode = 'full' | 'redacted' | 'hash' | 'none';
export const CAPTURE_MODES: readonly CaptureMode[] = ['full', 'redacted', 'hash', 'none'];

export interface CaptureConfig {
  userInput: CaptureMode;
  llmMessages: CaptureMode;
  code: CaptureMode;
  output: CaptureMode;
}

export interface AuditConfig {
  /** `service.name` when OTEL_SERVICE_NAME is unset. Default `oi-audit`. */
  serviceName: string;
  /** Per-field content capture. Default `redacted` everywhere. */
  capture: CaptureConfig;
  /** Content longer than this (UTF-8 bytes) is truncated in the record; the hash covers the original. Default 64 KiB. */
  maxContentBytes: number;
  /** Command output is recorded in parts of at most this many bytes, so a crash loses little. Default 64 KiB. */
  outputPartBytes: number;
  /** Directory of the embedded file sink, used when no OTLP endpoint is set. Default `./oi-audit-logs`. */
  sinkDir: string;
  /** Durable spool for OTLP exports that fail. Default `./oi-audit-spool`. */
  spoolDir: string;
  /** Spool bound in bytes; beyond it records are dropped, counted and declared. Default 256 MiB. */
  spoolMaxBytes: number;
  /** fsync policy of the spool: `always`, `batch` (default, ≤200 ms), `never`. */
  spoolFsync: 'always' | 'batch' | 'never';
  /** `open` (default): keep working when the audit sink is down, record the loss; `closed`: approve no code meanwhile. */
  failMode: 'open' | 'closed';
  /** Collector health endpoint probed for fail-closed decisions (e.g. http://collector:13133/). Optional. */
  healthCheckUrl: string | undefined;
  /** Checkpoint every N events (integrity). Default 100. */
  checkpointEvery: number;
  /** Checkpoint after this long idle or since the last one, in ms. Default 30 000. */
  checkpointIntervalMs: number;
  /**
   * `OI_AUDIT_DISABLED=true`: record nothing. With failMode `closed`, every code block is then refused.
   * (`OTEL_SDK_DISABLED` does not turn the audit off: it is meant for the app's own telemetry.)
   */
  disabled: boolean;
  /**
   * Also put LLM messages on generation spans as the GenAI attributes (`gen_ai.input.messages`,
   * `gen_ai.output.messages`, `gen_ai.system_instructions`), captured like the bodies (`llmMessages` mode:
   * redacted by default; nothing in hash/none). Off unless opted in (OI_AUDIT_GENAI_CONTENT_ATTRIBUTES=true,
   * or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true|span_only|span_and_event).
   */
  genAiContentAttributes: boolean;
  /**
   * `OTEL_SEMCONV_STABILITY_OPT_IN` lists `gen_ai_latest_experimental`: emit only the current GenAI names.
   * Otherwise deprecated names a pre-1.37 back end reads (`gen_ai.system`) are emitted next to their
   * replacements (`gen_ai.provider.name`).
   */
  genAiLatestOnly: boolean;
  /** Containment of each Open Interpreter server: `bwrap` (default; fails closed if it cannot start) or `none`. */
  sandbox: 'bwrap' | 'none';
  /** Network of the sandbox: `shared` (default) or `none` (only the LLM proxy is reachable, through a socket). */
  sandboxNetwork: 'shared' | 'none';
  /** Execution ground truth: `strace` (default: record what approved code really ran) or `off`. */
  groundTruth: 'strace' | 'off';
}

export const DEFAULT_CONFIG: AuditConfig = Object.freeze({
  serviceName: 'oi-audit',
  capture: Object.freeze({ userInput: 'redacted', llmMessages: 'redacted', code: 'redacted', output: 'redacted' }),
  maxContentBytes: 64 * 1024,
  outputPartBytes: 64 * 1024,
  sinkDir: './oi-audit-logs',
  spoolDir: './oi-audit-spool',
  spoolMaxBytes: 256 * 1024 * 1024,
  spoolFsync: 'batch',
  failMode: 'open',
  healthCheckUrl: undefined,
  checkpointEvery: 100,
  checkpointIntervalMs: 30_000,
  disabled: false,
  genAiContentAttributes: false,
  genAiLatestOnly: false,
  sandbox: 'bwrap',
  sandboxNetwork: 'shared',
  groundTruth: 'strace',
});

export type AuditConfigInput = Partial<Omit<AuditConfig, 'capture'>> & { capture?: Partial<CaptureConfig> | CaptureMode };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function parseCaptureMode(value: string, source: string): CaptureMode {
  const mode = value.trim().toLowerCase();
  if ((CAPTURE_MODES as readonly string[]).includes(mode)) return mode as CaptureMode;
  throw new ConfigError(`${source}: capture mode must be one of ${CAPTURE_MODES.join(', ')}, got "${value}"`);
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function envFlag(value: string | undefined, name: string): boolean | undefined {
  const v = value?.trim().toLowerCase();
  if (!v) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${value}"`);
}

function genAiContentFromEnv(env: EnvVars): boolean | undefined {
  const own = envFlag(env.OI_AUDIT_GENAI_CONTENT_ATTRIBUTES, 'OI_AUDIT_GENAI_CONTENT_ATTRIBUTES');
  if (own !== undefined) return own;
  const genai = env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT?.trim().toLowerCase();
  return genai === 'true' || genai === 'span_only' || genai === 'span_and_event' ? true : undefined;
}

function oneOf<T extends string>(value: string, choices: readonly T[], name: string): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`${name} must be one of ${choices.join(', ')}, got "${value}"`);
}

/**
 * Capture defaults from the environment:
 * - `OI_AUDIT_CAPTURE` (one mode for every field) and `OI_AUDIT_CAPTURE_<FIELD>` (USER_INPUT, LLM_MESSAGES, CODE, OUTPUT);
 * - `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`: `false` records fingerprints only (hash mode);
 *   `true` records content, still redacted — raw secrets never reach an exporter unless a field is set to `full` explicitly.
 */
export function captureFromEnv(env: EnvVars = process.env): Partial<CaptureConfig> {
  const capture: Partial<CaptureConfig> = {};
  const genai = env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT?.trim().toLowerCase();
  if (genai === 'false') Object.assign(capture, { userInput: 'hash', llmMessages: 'hash', code: 'hash', output: 'hash' });
  if (genai === 'true') Object.assign(capture, { userInput: 'redacted', llmMessages: 'redacted', code: 'redacted', output: 'redacted' });
  if (env.OI_AUDIT_CAPTURE) {
    const mode = parseCaptureMode(env.OI_AUDIT_CAPTURE, 'OI_AUDIT_CAPTURE');
    Object.assign(capture, { userInput: mode, llmMessages: mode, code: mode, output: mode });
  }
  const fields: Array<[keyof CaptureConfig, string]> = [
    ['userInput', 'OI_AUDIT_CAPTURE_USER_INPUT'],
    ['llmMessages', 'OI_AUDIT_CAPTURE_LLM_MESSAGES'],
    ['code', 'OI_AUDIT_CAPTURE_CODE'],
    ['output', 'OI_AUDIT_CAPTURE_OUTPUT'],
  ];
  for (const [field, name] of fields) {
    const value = env[name];
    if (value) capture[field] = parseCaptureMode(value, name);
  }
  return capture;
}

/** Resolve options given in code over the environment over the defaults. */
export function resolveConfig(input: AuditConfigInput = {}, env: EnvVars = process.env): AuditConfig {
  const fromCode: Partial<CaptureConfig> =
    typeof input.capture === 'string'
      ? { userInput: input.capture, llmMessages: input.capture, code: input.capture, output: input.capture }
      : (input.capture ?? {});
  const capture: CaptureConfig = { ...DEFAULT_CONFIG.capture, ...captureFromEnv(env), ...fromCode };
  for (const [field, mode] of Object.entries(capture) as [string, string][]) parseCaptureMode(mode, `capture.${field}`);
  return {
    serviceName: input.serviceName ?? env.OTEL_SERVICE_NAME ?? DEFAULT_CONFIG.serviceName,
    capture,
    maxContentBytes: positiveInt(input.maxContentBytes ?? DEFAULT_CONFIG.maxContentBytes, 'maxContentBytes'),
    outputPartBytes: positiveInt(input.outputPartBytes ?? DEFAULT_CONFIG.outputPartBytes, 'outputPartBytes'),
    sinkDir: input.sinkDir ?? env.OI_AUDIT_SINK_DIR ?? DEFAULT_CONFIG.sinkDir,
    spoolDir: input.spoolDir ?? env.OI_AUDIT_SPOOL_DIR ?? DEFAULT_CONFIG.spoolDir,
    spoolMaxBytes: positiveInt(input.spoolMaxBytes ?? (env.OI_AUDIT_SPOOL_MAX_BYTES ? Number(env.OI_AUDIT_SPOOL_MAX_BYTES) : DEFAULT_CONFIG.spoolMaxBytes), 'spoolMaxBytes'),
    spoolFsync: oneOf(input.spoolFsync ?? env.OI_AUDIT_SPOOL_FSYNC ?? DEFAULT_CONFIG.spoolFsync, ['always', 'batch', 'never'] as const, 'spoolFsync'),
    failMode: oneOf(input.failMode ?? env.OI_AUDIT_FAIL_MODE ?? DEFAULT_CONFIG.failMode, ['open', 'closed'] as const, 'failMode'),
    healthCheckUrl: input.healthCheckUrl ?? env.OI_AUDIT_HEALTH_CHECK_URL ?? DEFAULT_CONFIG.healthCheckUrl,
    checkpointEvery: positiveInt(input.checkpointEvery ?? DEFAULT_CONFIG.checkpointEvery, 'checkpointEvery'),
    checkpointIntervalMs: positiveInt(input.checkpointIntervalMs ?? DEFAULT_CONFIG.checkpointIntervalMs, 'checkpointIntervalMs'),
    disabled: input.disabled ?? envFlag(env.OI_AUDIT_DISABLED, 'OI_AUDIT_DISABLED') ?? DEFAULT_CONFIG.disabled,
    genAiContentAttributes: input.genAiContentAttributes ?? genAiContentFromEnv(env) ?? DEFAULT_CONFIG.genAiContentAttributes,
    genAiLatestOnly:
      input.genAiLatestOnly ??
      (env.OTEL_SEMCONV_STABILITY_OPT_IN ?? '').split(',').some((v) => v.trim().toLowerCase() === 'gen_ai_latest_experimental'),
    ...containmentFromEnv(input, env),
  };
}

/** `OI_AUDIT_SANDBOX`, `OI_AUDIT_SANDBOX_NETWORK`, `OI_AUDIT_GROUND_TRUTH` (code over env over defaults). */
export function containmentFromEnv(
  input: Partial<Pick<AuditConfig, 'sandbox' | 'sandboxNetwork' | 'groundTruth'>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Pick<AuditConfig, 'sandbox' | 'sandboxNetwork' | 'groundTruth'> {
  const pick = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim().toLowerCase());
  return {
    sandbox: oneOf(input.sandbox ?? pick(env.OI_AUDIT_SANDBOX) ?? DEFAULT_CONFIG.sandbox, ['bwrap', 'none'] as const, 'OI_AUDIT_SANDBOX'),
    sandboxNetwork: oneOf(input.sandboxNetwork ?? pick(env.OI_AUDIT_SANDBOX_NETWORK) ?? DEFAULT_CONFIG.sandboxNetwork, ['shared', 'none'] as const, 'OI_AUDIT_SANDBOX_NETWORK'),
    groundTruth: oneOf(input.groundTruth ?? pick(env.OI_AUDIT_GROUND_TRUTH) ?? DEFAULT_CONFIG.groundTruth, ['strace', 'off'] as const, 'OI_AUDIT_GROUND_TRUTH'),
  };
}
