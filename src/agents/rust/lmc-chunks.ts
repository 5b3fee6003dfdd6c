/**
 * The app-server's item notifications as LMC chunks (Open Interpreter's streaming message format), so a client
 * of the gateway sees the same `{"type":"lmc","chunk"}` stream whichever agent runs its session: assistant
 * text, the code about to run (shell commands, patches) and console output. What is shown to a client is not
 * evidence: the records come from the TurnRecorder, not from these chunks.
 */
import type { LmcChunk } from '../classic/lmc/turn-driver.js';
import { describeChanges } from './turn-recorder.js';

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The chunks one notification stands for (usually none or one). */
export function chunksOf(method: string, params: Obj): LmcChunk[] {
  switch (method) {
    case 'item/agentMessage/delta':
      return typeof params.delta === 'string' && params.delta ? [{ role: 'assistant', type: 'message', content: params.delta }] : [];
    case 'item/commandExecution/outputDelta':
    case 'item/fileChange/outputDelta':
      return typeof params.delta === 'string' && params.delta ? [{ role: 'computer', type: 'console', format: 'output', content: params.delta }] : [];
    case 'item/started': {
      const item = isObject(params.item) ? params.item : {};
      if (item.type === 'commandExecution' && typeof item.command === 'string') return [{ role: 'assistant', type: 'code', format: 'shell', content: item.command }];
      if (item.type === 'fileChange') return [{ role: 'assistant', type: 'code', format: 'patch', content: describeChanges(item.changes) }];
      return [];
    }
    case 'item/completed': {
      const item = isObject(params.item) ? params.item : {};
      if (item.type === 'commandExecution' || item.type === 'fileChange') return [{ role: 'computer', type: 'console', end: true, status: typeof item.status === 'string' ? item.status : 'unknown' }];
      return [];
    }
    default:
      return [];
  }
}
