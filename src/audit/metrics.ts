import { createNoopMeter, type Attributes, type Counter, type Histogram, type Meter } from '@opentelemetry/api';
import * as A from '../semconv/attributes.js';
import * as M from '../semconv/metrics.js';

/** Bucket boundaries the GenAI metric conventions advise (token counts, and seconds). */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const SECONDS_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

export interface GenerationMeasurement {
  provider: string;
  requestModel: string;
  responseModel?: string | undefined;
  durationS: number;
  /** Streaming calls that received a chunk only. */
  timeToFirstChunkS?: number | undefined;
  inputTokens?: number | undefined;
  outputTokens?: number | undefined;
  errorType?: string | undefined;
}

export interface ExecutionMeasurement {
  toolName: string;
  language: string;
  durationS: number;
  errorType?: string | undefined;
}

/**
 * The metric instruments oi-audit records (names in src/semconv/metrics.ts, documented in
 * docs/semantic-conventions.md): GenAI client metrics per LLM call, tool-execution duration, and the
 * audit's own counters. Metrics describe the audit; they are never evidence (the hash-chained log
 * records are), so a lost metric point loses nothing an auditor relies on.
 */
export class AuditMetrics {
  private readonly tokenUsage: Histogram;
  private readonly operationDuration: Histogram;
  private readonly timeToFirstChunk: Histogram;
  private readonly executeToolDuration: Histogram;
  private readonly blocks: Counter;
  private readonly redactions: Counter;
  private readonly recordsLost: Counter;
  private readonly exportFailures: Counter;
  readonly meter: Meter;

  constructor(meter: Meter = createNoopMeter()) {
    this.meter = meter;
    const histogram = (name: string, unit: string, buckets: number[], description: string): Histogram =>
      meter.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: buckets } });
    this.tokenUsage = histogram(M.METRIC_GEN_AI_CLIENT_TOKEN_USAGE, '{token}', TOKEN_BUCKETS, 'Number of input and output tokens used per LLM call.');
    this.operationDuration = histogram(M.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, 's', SECONDS_BUCKETS,
      'Duration of an LLM call, from request to the last streamed chunk.');
    this.timeToFirstChunk = histogram(M.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, 's', SECONDS_BUCKETS,
      'Time from the LLM request to the first streamed chunk (streaming calls only).');
    this.executeToolDuration = histogram(M.METRIC_GEN_AI_EXECUTE_TOOL_DURATION, 's', SECONDS_BUCKETS,
      'Duration of a code execution, from approval to the end of its output.');
    this.blocks = meter.createCounter(M.METRIC_AUDIT_BLOCKS, { unit: '{block}', description: 'Code blocks decided, by decision, decider and risk level.' });
    this.redactions = meter.createCounter(M.METRIC_AUDIT_REDACTIONS, { unit: '{match}', description: 'Secrets redacted from recorded content, by rule.' });
    this.recordsLost = meter.createCounter(M.METRIC_AUDIT_RECORDS_LOST, { unit: '{record}', description: 'Audit records lost before reaching the sink, by reason (each loss is also declared in its chain).' });
    this.exportFailures = meter.createCounter(M.METRIC_AUDIT_EXPORT_FAILURES, { unit: '{request}', description: 'OTLP export requests that failed (they are spooled and retried), by signal.' });
  }

  generation(m: GenerationMeasurement): void {
    const attributes: Attributes = {
      [A.ATTR_GEN_AI_OPERATION_NAME]: A.GEN_AI_OPERATION_CHAT,
      [A.ATTR_GEN_AI_PROVIDER_NAME]: m.provider,
      [A.ATTR_GEN_AI_REQUEST_MODEL]: m.requestModel,
    };
    if (m.responseModel) attributes[A.ATTR_GEN_AI_RESPONSE_MODEL] = m.responseModel;
    const withError = m.errorType ? { ...attributes, [A.ATTR_ERROR_TYPE]: m.errorType } : attributes;
    this.operationDuration.record(m.durationS, withError);
    if (m.timeToFirstChunkS !== undefined) this.timeToFirstChunk.record(m.timeToFirstChunkS, attributes);
    if (m.inputTokens !== undefined) this.tokenUsage.record(m.inputTokens, { ...attributes, [A.ATTR_GEN_AI_TOKEN_TYPE]: 'input' });
    if (m.outputTokens !== undefined) this.tokenUsage.record(m.outputTokens, { ...attributes, [A.ATTR_GEN_AI_TOKEN_TYPE]: 'output' });
  }

  execution(m: ExecutionMeasurement): void {
    const attributes: Attributes = {
      [A.ATTR_GEN_AI_OPERATION_NAME]: A.GEN_AI_OPERATION_EXECUTE_TOOL,
      [A.ATTR_GEN_AI_TOOL_NAME]: m.toolName,
      [A.ATTR_CODE_LANGUAGE]: m.language,
    };
    if (m.errorType) attributes[A.ATTR_ERROR_TYPE] = m.errorType;
    this.executeToolDuration.record(m.durationS, attributes);
  }

  block(decision: string, decider: string, risk: string): void {
    this.blocks.add(1, { [A.ATTR_APPROVAL_DECISION]: decision, [A.ATTR_APPROVAL_DECIDER]: decider, [A.ATTR_RISK_LEVEL]: risk });
  }

  redacted(byRule: Readonly<Record<string, number>>): void {
    for (const [rule, count] of Object.entries(byRule)) if (count > 0) this.redactions.add(count, { [A.ATTR_REDACTION_RULE]: rule });
  }

  lost(reason: string, count: number): void {
    if (count > 0) this.recordsLost.add(count, { [A.ATTR_AUDIT_LOSS_REASON]: reason });
  }

  exportFailed(signal: string): void {
    this.exportFailures.add(1, { [A.ATTR_AUDIT_SIGNAL]: signal });
  }

  /** Bytes waiting in the spool, per signal, read when metrics are collected. */
  observeSpool(spools: ReadonlyArray<{ signal: string; pendingBytes: () => number }>): void {
    if (spools.length === 0) return;
    const gauge = this.meter.createObservableGauge(M.METRIC_AUDIT_SPOOL_BYTES, { unit: 'By', description: 'Bytes of OTLP requests waiting in the durable spool, by signal.' });
    gauge.addCallback((result) => {
      for (const s of spools) result.observe(s.pendingBytes(), { [A.ATTR_AUDIT_SIGNAL]: s.signal });
    });
  }
}
