import { SpanKind, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import type { JsonObject, JsonValue } from '../record/canonical-json.js';
import * as A from '../semconv/attributes.js';
import { AUDIT_EVENTS } from '../semconv/events.js';
import { redactionCount } from './content.js';
import { inputMessageAttributes, outputMessageAttributes, type CaptureText } from './genai-content.js';
import type { AuditSession } from './session.js';
import type { AuditTurn } from './turn.js';

export interface GenerationRequest {
  /** Model as requested (e.g. `gpt-4o`, `scripted`). */
  model: string;
  /** gen_ai.provider.name of the upstream (e.g. `openai`). */
  provider: string;
  /** The exact `messages` array sent to the model. */
  messages: JsonValue;
  stream: boolean;
  /** Tools offered to the model, if any (function-calling mode). */
  tools?: JsonValue;
}

export interface GenerationResult {
  /** Assistant text as streamed back, concatenated. */
  content: string;
  /** Tool calls the model made (function-calling mode). */
  toolCalls?: JsonValue;
  finishReasons?: string[];
  responseModel?: string;
  responseId?: string;
  inputTokens?: number;
  outputTokens?: number;
  chunks?: number;
  /** The client (Open Interpreter) hung up before the stream ended — normal in its text mode. */
  clientDisconnected?: boolean;
  upstreamStatus?: number;
}

/**
 * One LLM call: a `chat {model}` span under the turn's prompt span, with request and response events.
 * A call that arrives while no turn is open (turn undefined) hangs under the session root, marked `outside_turn`.
 */
export class AuditGeneration {
  readonly span: Span;
  readonly index: number;
  private readonly session: AuditSession;
  private readonly turn: AuditTurn | undefined;
  private readonly startedAt = performance.now();
  private firstChunkAt: number | undefined;
  private ended = false;
  private readonly request: GenerationRequest;
  private errorType: string | undefined;

  constructor(session: AuditSession, turn: AuditTurn | undefined, index: number, request: GenerationRequest) {
    this.session = session;
    this.turn = turn;
    this.index = index;
    this.request = request;
    this.span = session.startChildSpan(
      `${A.GEN_AI_OPERATION_CHAT} ${request.model}`,
      turn?.span ?? session.rootSpan,
      {
        [A.ATTR_GEN_AI_OPERATION_NAME]: A.GEN_AI_OPERATION_CHAT,
        [A.ATTR_GEN_AI_REQUEST_MODEL]: request.model,
        [A.ATTR_GEN_AI_PROVIDER_NAME]: request.provider,
        [A.ATTR_GEN_AI_CONVERSATION_ID]: session.conversationId,
        [A.ATTR_GEN_AI_REQUEST_STREAM]: request.stream,
        ...(turn ? { [A.ATTR_TURN_INDEX]: turn.index } : {}),
        [A.ATTR_LLM_CALL_INDEX]: index,
        ...(session.config.genAiLatestOnly ? {} : { [A.ATTR_GEN_AI_SYSTEM_DEPRECATED]: request.provider }),
      },
      SpanKind.CLIENT,
    );
    if (session.config.genAiContentAttributes) {
      const content = inputMessageAttributes(request.messages, this.captureText());
      if (content) this.span.setAttributes(content);
    }
    const messages = session.capture('llmMessages', JSON.stringify(request.messages));
    const data: JsonObject = {
      ...this.placement(),
      call: index,
      model: request.model,
      provider: request.provider,
      stream: request.stream,
      messages,
    };
    if (request.tools !== undefined) data.tools = session.capture('llmMessages', JSON.stringify(request.tools));
    session.emit(AUDIT_EVENTS.llmRequest, this.span, data, {
      attributes: { [A.ATTR_GEN_AI_REQUEST_MODEL]: request.model, [A.ATTR_REDACTION_COUNT]: redactionCount(messages) },
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Where the call sits: its turn, or outside any turn. */
  private placement(): JsonObject {
    return this.turn ? { turn: this.turn.index } : { turn: null, outside_turn: true };
  }

  /** Text for the opt-in content attributes, under the LLM-messages capture policy (not counted twice in the metrics). */
  private captureText(): CaptureText {
    return (text) => {
      const captured = this.session.capture('llmMessages', text, undefined, false);
      return typeof captured.text === 'string' ? captured.text : undefined;
    };
  }

  /** Mark the first streamed chunk (time to first token). */
  firstChunk(): void {
    this.firstChunkAt ??= performance.now();
  }

  end(result: GenerationResult): void {
    if (this.ended) return;
    this.ended = true;
    const latencyMs = Math.round(performance.now() - this.startedAt);
    const attributes: Attributes = {};
    if (result.responseModel) attributes[A.ATTR_GEN_AI_RESPONSE_MODEL] = result.responseModel;
    if (result.responseId) attributes[A.ATTR_GEN_AI_RESPONSE_ID] = result.responseId;
    if (result.finishReasons?.length) attributes[A.ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = result.finishReasons;
    if (result.inputTokens !== undefined) attributes[A.ATTR_GEN_AI_USAGE_INPUT_TOKENS] = result.inputTokens;
    if (result.outputTokens !== undefined) attributes[A.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = result.outputTokens;
    if (this.firstChunkAt !== undefined) attributes[A.ATTR_LLM_TIME_TO_FIRST_CHUNK_MS] = Math.round(this.firstChunkAt - this.startedAt);
    if (result.chunks !== undefined) attributes[A.ATTR_LLM_CHUNKS] = result.chunks;
    if (result.clientDisconnected) attributes[A.ATTR_LLM_CLIENT_DISCONNECTED] = true;
    if (result.upstreamStatus !== undefined) attributes[A.ATTR_LLM_HTTP_STATUS] = result.upstreamStatus;
    if (this.session.config.genAiContentAttributes) {
      const content = outputMessageAttributes(result.content, result.toolCalls, result.finishReasons?.[0], this.captureText());
      if (content) Object.assign(attributes, content);
    }
    this.span.setAttributes(attributes);
    this.session.metrics.generation({
      provider: this.request.provider,
      requestModel: this.request.model,
      responseModel: result.responseModel,
      durationS: latencyMs / 1000,
      timeToFirstChunkS: this.request.stream && this.firstChunkAt !== undefined ? (this.firstChunkAt - this.startedAt) / 1000 : undefined,
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
      errorType: this.errorType,
    });
    if (this.session.isEnded) {
      // The session closed while the stream was still flowing: the span ends, no event can join the sealed chain.
      this.span.end();
      return;
    }

    const content = this.session.capture('llmMessages', result.content);
    const data: JsonObject = { ...this.placement(), call: this.index, content, latency_ms: latencyMs };
    if (result.toolCalls !== undefined) data.tool_calls = this.session.capture('llmMessages', JSON.stringify(result.toolCalls));
    if (result.finishReasons?.length) data.finish_reasons = result.finishReasons;
    if (result.responseModel) data.response_model = result.responseModel;
    if (result.inputTokens !== undefined || result.outputTokens !== undefined) {
      data.usage = { input_tokens: result.inputTokens ?? null, output_tokens: result.outputTokens ?? null };
    }
    if (this.firstChunkAt !== undefined) data.time_to_first_chunk_ms = Math.round(this.firstChunkAt - this.startedAt);
    if (result.clientDisconnected) data.client_disconnected = true;
    this.session.emit(AUDIT_EVENTS.llmResponse, this.span, data, {
      attributes: { [A.ATTR_REDACTION_COUNT]: redactionCount(content) },
    });
    this.span.end();
  }

  /** The call failed (upstream error, timeout, cut stream): recorded as an error and a partial response. */
  fail(errorType: string, message: string, partial: Partial<GenerationResult> = {}): void {
    if (this.ended) return;
    if (!this.session.isEnded) this.session.recordError({ source: 'llm', type: errorType, message }, this.span, this.placement());
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
    this.span.setAttribute(A.ATTR_ERROR_TYPE, errorType);
    this.errorType = errorType;
    this.end({ content: '', ...partial });
  }

  /** The turn ended while this call was still open. */
  abandon(): void {
    if (!this.ended) this.fail('abandoned', 'turn ended before the LLM call completed');
  }
}
