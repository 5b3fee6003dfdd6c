/**
 * The app-server's item notifications as LMC chunks (Open Interpreter's streaming message format), so a client
 * of the gateway sees the same `{"type":"lmc","chunk"}` stream whichever agent runs its session: assistant
 * text, the code about to run (shell commands, patches) and console output. What is shown to a client is not
 * evidence: the records come from the TurnRecorder, not from these chunks.
 */
import type { LmcChunk } from '../session/lmc-chunk.js';
import { describeChanges } from './file-change-record.js';
import { isObject } from '../../record/json-shape.js';

type Obj = Record<string, unknown>;


/**
 * Maps one session's notifications to chunks (usually none or one each). Stateful: Codex does not always stream
 * a command's output as deltas (measured with 0.148.0: a short command sometimes has none), and then the
 * output it reports on the completed item is sent instead.
 */
export class LmcChunkMapper {
  private readonly streamed = new Set<string>();

  chunksOf(method: string, params: Obj): LmcChunk[] {
    switch (method) {
      case 'item/agentMessage/delta':
        return typeof params.delta === 'string' && params.delta ? [{ role: 'assistant', type: 'message', content: params.delta }] : [];
      case 'item/commandExecution/outputDelta':
      case 'item/fileChange/outputDelta':
        if (typeof params.itemId === 'string') this.streamed.add(params.itemId);
        return typeof params.delta === 'string' && params.delta ? [{ role: 'computer', type: 'console', format: 'output', content: params.delta }] : [];
      case 'item/started': {
        const item = isObject(params.item) ? params.item : {};
        if (item.type === 'commandExecution' && typeof item.command === 'string') return [{ role: 'assistant', type: 'code', format: 'shell', content: item.command }];
        if (item.type === 'fileChange') return [{ role: 'assistant', type: 'code', format: 'patch', content: describeChanges(item.changes) }];
        return [];
      }
      case 'item/completed': {
        const item = isObject(params.item) ? params.item : {};
        if (item.type !== 'commandExecution' && item.type !== 'fileChange') return [];
        const id = typeof item.id === 'string' ? item.id : '';
        const chunks: LmcChunk[] = [];
        if (!this.streamed.delete(id) && typeof item.aggregatedOutput === 'string' && item.aggregatedOutput) {
          chunks.push({ role: 'computer', type: 'console', format: 'output', content: item.aggregatedOutput });
        }
        chunks.push({ role: 'computer', type: 'console', end: true, status: typeof item.status === 'string' ? item.status : 'unknown' });
        return chunks;
      }
      default:
        return [];
    }
  }
}
