import { escapeForLog } from '../record/escape.js';

/**
 * Every string of a value escaped for a terminal: control characters (ESC, CSI, OSC 52, C1), bidi
 * and zero-width characters become visible `\u{…}` text. Newlines and tabs stay (the timeline splits
 * on them); everything a record carries goes through this before `view` styles and prints it.
 */
export function terminalSafe<T>(value: T): T {
  return clean(value, 0) as T;
}

function clean(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return escapeForLog(value);
  if (depth > 64 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = clean(v, depth + 1);
  return out;
}
