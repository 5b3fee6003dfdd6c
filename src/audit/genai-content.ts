import type { Attributes } from '@opentelemetry/api';
import type { JsonValue } from '../record/canonical-json.js';
import * as A from '../semconv/attributes.js';

/**
 * The opt-in GenAI content attributes (`gen_ai.input.messages`, `gen_ai.system_instructions`,
 * `gen_ai.output.messages`) in the structure the GenAI conventions define (role + typed parts), as JSON
 * strings (OTel attribute values cannot nest). Every text goes through `capture`, the session's capture
 * policy for LLM messages, so it is redacted unless the operator chose `full`; in `hash`/`none` mode there
 * is no text to show and no attribute is set.
 */
export type CaptureText = (text: string) => string | undefined;

interface Part {
  type: string;
  [key: string]: JsonValue;
}

function textParts(content: JsonValue | undefined, capture: CaptureText): Part[] | undefined {
  if (typeof content === 'string') {
    const text = capture(content);
    return text === undefined ? undefined : [{ type: 'text', content: text }];
  }
  if (!Array.isArray(content)) return [];
  const parts: Part[] = [];
  for (const item of content) {
    if (item && typeof item === 'object' && !Array.isArray(item) && typeof item.text === 'string') {
      const text = capture(item.text);
      if (text === undefined) return undefined;
      parts.push({ type: 'text', content: text });
    } else if (item && typeof item === 'object' && !Array.isArray(item) && typeof item.type === 'string') {
      parts.push({ type: item.type }); // images and other media: the kind only, never the payload
    }
  }
  return parts;
}

function toolCallParts(toolCalls: JsonValue | undefined, capture: CaptureText): Part[] | undefined {
  if (!Array.isArray(toolCalls)) return [];
  const parts: Part[] = [];
  for (const call of toolCalls) {
    if (!call || typeof call !== 'object' || Array.isArray(call)) continue;
    const fn = call.function && typeof call.function === 'object' && !Array.isArray(call.function) ? call.function : {};
    const args = typeof fn.arguments === 'string' ? capture(fn.arguments) : '';
    if (args === undefined) return undefined;
    const part: Part = { type: 'tool_call', name: typeof fn.name === 'string' ? fn.name : '', arguments: args };
    if (typeof call.id === 'string') part.id = call.id;
    parts.push(part);
  }
  return parts;
}

/** Request attributes from an OpenAI-style `messages` array; undefined when the policy records no text. */
export function inputMessageAttributes(messages: JsonValue, capture: CaptureText): Attributes | undefined {
  if (!Array.isArray(messages)) return undefined;
  const input: JsonValue[] = [];
  const system: Part[] = [];
  for (const m of messages) {
    if (!m || typeof m !== 'object' || Array.isArray(m)) continue;
    const role = typeof m.role === 'string' ? m.role : 'user';
    const parts = textParts(m.content, capture);
    if (parts === undefined) return undefined;
    if (role === 'system' || role === 'developer') {
      system.push(...parts);
      continue;
    }
    const calls = toolCallParts(m.tool_calls, capture);
    if (calls === undefined) return undefined;
    if (role === 'tool') {
      const response = parts.map((p) => p.content).filter((c) => typeof c === 'string').join('');
      const part: Part = { type: 'tool_call_response', response };
      if (typeof m.tool_call_id === 'string') part.id = m.tool_call_id;
      input.push({ role, parts: [part] });
      continue;
    }
    input.push({ role, parts: [...parts, ...calls] });
  }
  const attributes: Attributes = { [A.ATTR_GEN_AI_INPUT_MESSAGES]: JSON.stringify(input) };
  if (system.length) attributes[A.ATTR_GEN_AI_SYSTEM_INSTRUCTIONS] = JSON.stringify(system);
  return attributes;
}

/** Response attribute: one assistant message with its text, tool calls and finish reason. */
export function outputMessageAttributes(
  content: string,
  toolCalls: JsonValue | undefined,
  finishReason: string | undefined,
  capture: CaptureText,
): Attributes | undefined {
  const parts = content ? textParts(content, capture) : [];
  const calls = toolCallParts(toolCalls, capture);
  if (parts === undefined || calls === undefined) return undefined;
  const message: { [key: string]: JsonValue } = { role: 'assistant', parts: [...parts, ...calls] };
  if (finishReason) message.finish_reason = finishReason;
  return { [A.ATTR_GEN_AI_OUTPUT_MESSAGES]: JSON.stringify([message]) };
}
