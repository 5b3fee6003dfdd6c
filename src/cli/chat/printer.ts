import { escapeForLog } from '../../record/escape.js';
import type { LmcChunk } from '../../agents/session/lmc-chunk.js';

/** Text from the model or from executed code, safe to print: no escape sequence reaches the terminal. */
export function safe(text: string): string {
  // Newlines and tabs stay (they are how output reads); every other control character is escaped.
  return text
    .split('\n')
    .map((line) => line.split('\t').map(escapeForLog).join('\t'))
    .join('\n');
}

/** Prints Open Interpreter's chunks as they stream: assistant text, code, console output. */
export function chunkPrinter(write: (s: string) => void): (chunk: LmcChunk) => void {
  let last = '';
  return (chunk) => {
    const c = chunk as { role?: string; type?: string; format?: string; content?: unknown; start?: boolean; end?: boolean };
    const key = `${c.role}:${c.type}`;
    if (c.start && key === 'assistant:code') write(`\n\`\`\`${typeof c.format === 'string' ? escapeForLog(c.format) : ''}\n`);
    if (c.end && key === 'assistant:code') write('\n```\n');
    if (typeof c.content !== 'string' || c.content === '') return;
    if (key === 'assistant:message' || key === 'assistant:code') write(safe(c.content));
    else if (key === 'computer:console' && c.format === 'output') {
      if (last !== key) write('\n');
      write(safe(c.content));
    } else return;
    last = key;
  };
}

/**
 * Prints the Rust Open Interpreter's (Codex app-server) notifications as they stream: message deltas, each
 * command as it starts, its output deltas. A message or output that came without deltas is printed whole
 * when its item completes.
 */
export function codexPrinter(write: (s: string) => void): (method: string, params: Record<string, unknown>) => void {
  const streamed = new Set<string>();
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  return (method, params) => {
    const itemId = str(params.itemId);
    if (method === 'item/agentMessage/delta' || method === 'item/commandExecution/outputDelta') {
      if (!str(params.delta)) return;
      streamed.add(itemId);
      write(safe(str(params.delta)));
      return;
    }
    const item = typeof params.item === 'object' && params.item !== null ? (params.item as Record<string, unknown>) : undefined;
    if (!item) return;
    const id = str(item.id);
    if (method === 'item/started' && item.type === 'commandExecution') write(`\n\`\`\`shell\n${safe(str(item.command))}\n\`\`\`\n`);
    if (method === 'item/completed' && !streamed.has(id)) {
      if (item.type === 'agentMessage' && str(item.text)) write(`${safe(str(item.text))}\n`);
      if (item.type === 'commandExecution' && str(item.aggregatedOutput)) write(safe(str(item.aggregatedOutput)));
    }
  };
}
