/**
 * Reads the block Open Interpreter 0.4.3 holds for `go`: the last message of its history, from
 * `GET /settings/messages` (X-API-KEY). In server mode OI sends no confirmation chunk over the WebSocket when
 * auto-run is off (async_core.py breaks on it), but it stores the block as its first rewrite pass left it.
 * The endpoint answers a JSON *string* holding `{"messages": [...]}`.
 */
import type { CodeBlock } from './code-binding.js';

/** The history holds the whole conversation; beyond this the answer is refused rather than buffered. */
const MAX_HISTORY_BYTES = 64 * 1024 * 1024;
const READ_TIMEOUT_MS = 15_000;

async function boundedText(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_HISTORY_BYTES) throw new Error(`history is ${declared} bytes (limit ${MAX_HISTORY_BYTES})`);
  const reader = response.body?.getReader();
  if (!reader) return '';
  const parts: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > MAX_HISTORY_BYTES) {
      await reader.cancel();
      throw new Error(`history is over ${MAX_HISTORY_BYTES} bytes`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The pending code block, null when the last message is not a code block; throws when the answer is unusable. */
export async function readPendingBlock(httpUrl: string, apiKey: string): Promise<CodeBlock | null> {
  const response = await fetch(`${httpUrl}/settings/messages`, { headers: { 'X-API-KEY': apiKey }, signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
  const text = await boundedText(response);
  if (!response.ok) throw new Error(`GET /settings/messages answered HTTP ${response.status}`);
  let doc: unknown = JSON.parse(text);
  if (typeof doc === 'string') doc = JSON.parse(doc);
  const messages = typeof doc === 'object' && doc !== null ? (doc as { messages?: unknown }).messages : undefined;
  if (!Array.isArray(messages)) throw new Error('GET /settings/messages did not return {"messages": [...]}');
  const last: unknown = messages.at(-1);
  if (typeof last !== 'object' || last === null) return null;
  const m = last as Record<string, unknown>;
  if (m['type'] !== 'code') return null;
  if (typeof m['format'] !== 'string' || typeof m['content'] !== 'string') throw new Error('the pending code message has no string format and content');
  return { language: m['format'], code: m['content'] };
}
