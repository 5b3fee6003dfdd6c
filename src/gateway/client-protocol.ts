import type { JsonValue } from '../record/canonical-json.js';

/** Client → gateway messages (one JSON object per text frame). */
export type ClientMessage =
  | { type: 'user'; content: string }
  | { type: 'stop' }
  | { type: 'settings'; settings: Record<string, JsonValue> }
  | { type: 'approval'; id: string; decision: 'approved' | 'refused' };

/** Parses one client frame; a string saying what is wrong otherwise. */
export function parseClientMessage(raw: string): ClientMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return 'message is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'message is not a JSON object';
  const m = value as Record<string, unknown>;
  switch (m['type']) {
    case 'user':
      return typeof m['content'] === 'string' ? { type: 'user', content: m['content'] } : 'user message needs string content';
    case 'stop':
      return { type: 'stop' };
    case 'settings':
      return typeof m['settings'] === 'object' && m['settings'] !== null && !Array.isArray(m['settings'])
        ? { type: 'settings', settings: m['settings'] as Record<string, JsonValue> }
        : 'settings needs an object';
    case 'approval':
      return typeof m['id'] === 'string' && (m['decision'] === 'approved' || m['decision'] === 'refused')
        ? { type: 'approval', id: m['id'], decision: m['decision'] }
        : 'approval needs id and decision approved|refused';
    default:
      return `unknown message type ${JSON.stringify(m['type'])?.slice(0, 100) ?? 'undefined'}`;
  }
}
