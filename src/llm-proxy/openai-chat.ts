/**
 * OpenAI Chat Completions (`POST /v1/chat/completions`) and Azure OpenAI's deployment route
 * (`POST /openai/deployments/<deployment>/chat/completions?api-version=…`, `api-key` header), which
 * speaks the same body and stream. Written from the OpenAI API reference (Chat Completions, streaming
 * `chat.completion.chunk`, `stream_options.include_usage`; as published 2025-06) and Azure OpenAI's
 * REST reference (data-plane inference, api-version 2024-10-21).
 *
 * Token usage: a stream carries usage only when the request sets `stream_options.include_usage`, which
 * Open Interpreter (litellm) never does. The proxy sets it upstream so usage can be recorded, and hides
 * the extra usage-only chunk (`choices: []`) from a client that did not ask for it, so the client gets
 * what it would have got. Azure accepts `stream_options` from api-version 2024-09-01-preview on; for
 * older versions the request is forwarded unchanged.
 */
import {
  Assembly,
  isObject,
  num,
  parseJsonObject,
  str,
  type AssembledCompletion,
  type EventOutcome,
  type Json,
  type ResponseAssembler,
} from './assembly.js';
import { bearerAuth, errorMessageOf, modelOf, openAiErrorBody, rootOf, type RequestFacts, type RouteInfo, type UpstreamBody, type WireFormat } from './format.js';
import { encodeSseData, type SseEvent } from './sse.js';
import type { JsonValue } from '../record/canonical-json.js';

/**
 * Rebuilds one chat completion from `chat.completion.chunk` objects (streaming) or from a whole
 * `chat.completion` object. Tolerant: unknown shapes are skipped, never thrown on.
 */
export class ChatCompletionAssembler implements ResponseAssembler {
  private readonly a: Assembly;

  constructor(options: { maxContentChars?: number } = {}) {
    this.a = new Assembly(options.maxContentChars);
  }

  acceptEvent(event: SseEvent): EventOutcome {
    const r = this.acceptEventData(event.data);
    return r === 'done' ? 'done' : r === undefined ? 'malformed' : 'chunk';
  }

  /** Feed one SSE event's data. Returns the parsed chunk, `'done'`, or undefined when malformed. */
  acceptEventData(data: string): Json | 'done' | undefined {
    const trimmed = data.trim();
    if (trimmed === '[DONE]') {
      this.a.done = true;
      return 'done';
    }
    const parsed = parseJsonObject(trimmed);
    if (!parsed) {
      this.a.malformed++;
      return undefined;
    }
    this.acceptChunk(parsed);
    return parsed;
  }

  /** Feed one parsed `chat.completion.chunk` (or an error object sent inside the stream). */
  acceptChunk(chunk: Json): void {
    if (isObject(chunk.error)) {
      this.a.setError(chunk.error);
      return;
    }
    this.a.chunks++;
    this.meta(chunk);
    this.choices(chunk, 'delta');
  }

  acceptWhole(body: Json): void {
    this.acceptCompletion(body);
  }

  /** Feed a whole non-streaming `chat.completion` object. */
  acceptCompletion(body: Json): void {
    if (isObject(body.error)) {
      this.acceptChunk(body);
      return;
    }
    this.meta(body);
    this.choices(body, 'message');
    this.a.done = true;
  }

  result(): AssembledCompletion {
    return this.a.result();
  }

  /**
   * Every choice's finish reason; choice 0's text and tool calls, from its `delta` (a chunk, whose tool
   * calls carry their index) or its `message` (a whole completion, whose tool calls are in index order).
   */
  private choices(obj: Json, part: 'delta' | 'message'): void {
    for (const choice of Array.isArray(obj.choices) ? obj.choices : []) {
      if (!isObject(choice)) continue;
      const index = num(choice.index) ?? 0;
      const fr = str(choice.finish_reason);
      if (fr) this.a.setFinish(index, fr);
      const m = choice[part];
      if (index !== 0 || !isObject(m)) continue;
      this.a.appendText(str(m.content) ?? '');
      if (Array.isArray(m.tool_calls)) {
        m.tool_calls.forEach((tc, i) => {
          if (isObject(tc)) this.toolCallDelta(part === 'delta' ? tc : { index: i, ...tc });
        });
      }
      if (isObject(m.function_call)) this.toolCallDelta({ index: 0, type: 'function', function: m.function_call });
    }
  }

  private meta(obj: Json): void {
    this.a.meta(obj.id, obj.model);
    if (isObject(obj.usage)) {
      const u = obj.usage;
      this.a.usage(num(u.prompt_tokens) ?? num(u.input_tokens), num(u.completion_tokens) ?? num(u.output_tokens));
    }
  }

  private toolCallDelta(tc: Json): void {
    const index = num(tc.index) ?? 0;
    const call = this.a.toolCall(index);
    const id = str(tc.id);
    if (id) call.id = id;
    const type = str(tc.type);
    if (type) call.type = type;
    const fn = isObject(tc.function) ? tc.function : undefined;
    if (!fn) return;
    const name = str(fn.name);
    if (name) call.function.name = call.function.name === name ? name : call.function.name + name;
    this.a.appendArguments(index, str(fn.arguments) ?? '');
  }
}

function readChatRequest(body: Json): RequestFacts | string {
  if (!Array.isArray(body.messages)) return '"messages" must be an array';
  const facts: RequestFacts = { model: modelOf(body), stream: body.stream === true, messages: body.messages as JsonValue };
  const tools = body.tools ?? body.functions;
  if (tools !== undefined) facts.tools = tools as JsonValue;
  return facts;
}

/** The usage-only chunk a stream ends with when `include_usage` is set (OpenAI: `choices` is always empty there). */
function isUsageOnlyChunk(parsed: Json | undefined): boolean {
  return parsed !== undefined && Array.isArray(parsed.choices) && parsed.choices.length === 0 && isObject(parsed.usage);
}

/** Ask upstream for usage on a stream; hide the resulting extra chunk unless the client asked for it. */
function withStreamUsage(body: Json, raw: Buffer, facts: RequestFacts): UpstreamBody {
  if (!facts.stream) return { raw };
  const so = isObject(body.stream_options) ? body.stream_options : undefined;
  if (so?.include_usage === true) return { raw };
  const rewritten = { ...body, stream_options: { ...(so ?? {}), include_usage: true } };
  return { raw: Buffer.from(JSON.stringify(rewritten)), hideEvent: (_ev, parsed) => isUsageOnlyChunk(parsed) };
}

const chatCommon = {
  framing: 'sse' as const,
  forwardHeaders: [] as const,
  readRequest: readChatRequest,
  newAssembler: (maxChars: number) => new ChatCompletionAssembler({ maxContentChars: maxChars }),
  isComplete: (r: AssembledCompletion, streamed: boolean) => (streamed ? r.done || r.finishReasons.length > 0 : r.done),
  errorBody: openAiErrorBody,
  streamErrorEvent: (message: string, type: string) => encodeSseData(JSON.parse(openAiErrorBody(message, type, type))),
  errorDetail: errorMessageOf,
};

export const OPENAI_CHAT: WireFormat = {
  ...chatCommon,
  id: 'openai-chat',
  provider: 'openai',
  upstreamBody: withStreamUsage,
  upstreamUrl: (base) => `${base}/chat/completions`,
  authHeaders: bearerAuth,
};

/** api-version from which Azure OpenAI accepts `stream_options` (2024-09-01-preview). */
const AZURE_STREAM_OPTIONS_SINCE = '2024-09-01';

function azureApiVersion(route: RouteInfo): string | undefined {
  return new URLSearchParams(route.query).get('api-version') ?? undefined;
}

export const AZURE_OPENAI_CHAT: WireFormat = {
  ...chatCommon,
  id: 'azure-openai-chat',
  provider: 'azure.ai.openai',
  readRequest(body, route) {
    const facts = readChatRequest(body);
    // litellm sends the deployment as `model`; a client that leaves it out still names the deployment in the path.
    if (typeof facts !== 'string' && facts.model === 'unknown' && route.params.deployment) facts.model = route.params.deployment;
    return facts;
  },
  upstreamBody: (body, raw, facts, route) =>
    (azureApiVersion(route) ?? '') >= AZURE_STREAM_OPTIONS_SINCE ? withStreamUsage(body, raw, facts) : { raw },
  upstreamUrl: (base, route) =>
    `${rootOf(base).replace(/\/openai$/, '')}/openai/deployments/${encodeURIComponent(route.params.deployment ?? '')}/chat/completions${route.query}`,
  authHeaders: (key): Record<string, string> => (key ? { 'api-key': key } : {}),
};
