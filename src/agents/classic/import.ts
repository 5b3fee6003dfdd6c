import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { AuditExecution } from '../../audit/execution.js';
import type { AuditRecorder } from '../../audit/recorder.js';
import type { AuditTurn } from '../../audit/turn.js';
import type { JsonValue } from '../../record/canonical-json.js';
import { InputError } from '../../read/otlp-files.js';
import { detectExecutionError } from './lmc/execution-errors.js';

/** One message of a saved Open Interpreter conversation (its LMC history format). */
interface SavedMessage {
  role: string;
  type: string;
  format?: string;
  content: unknown;
}

export interface ImportResult {
  file: string;
  sessionId: string;
  turns: number;
  codeBlocks: number;
  skipped: number;
}

function parseConversation(file: string): SavedMessage[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { file });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new InputError(`malformed JSON: ${(error as Error).message}`, { file });
  }
  if (!Array.isArray(doc)) throw new InputError('a conversation file is a JSON list of LMC messages', { file });
  return doc.map((m, i) => {
    if (typeof m !== 'object' || m === null || typeof (m as SavedMessage).role !== 'string' || typeof (m as SavedMessage).type !== 'string') {
      throw new InputError(`message ${i} has no role/type`, { file });
    }
    return m as SavedMessage;
  });
}

/** What the model was sent before a reply: the history so far, in OpenAI's shape (an approximation; the original request is gone). */
function historyAsMessages(history: SavedMessage[]): JsonValue {
  return history.map((m) => ({
    role: m.role === 'computer' ? 'user' : m.role,
    content: m.type === 'code' ? `\`\`\`${m.format ?? ''}\n${String(m.content)}\n\`\`\`` : m.type === 'console' ? `Code output: ${String(m.content)}` : String(m.content ?? ''),
  }));
}

/**
 * Rebuild the trace and audit events of a conversation saved before auditing existed. Every event is
 * marked imported (session attribute and start event), the decider of a block that ran is `imported`
 * (nobody knows who approved it then), and a reconstructed LLM request is flagged as such.
 */
export function importConversation(recorder: AuditRecorder, file: string, userId: string): ImportResult {
  const messages = parseConversation(file);
  const session = recorder.openSession({ userId, imported: true, policy: 'imported' });
  let turn: AuditTurn | undefined;
  let exec: AuditExecution | undefined;
  let output = '';
  let turns = 0;
  let codeBlocks = 0;
  let skipped = 0;
  const history: SavedMessage[] = [];

  const closeExecution = () => {
    if (!exec) return;
    const err = detectExecutionError(exec.language, output);
    exec.end({ error: err !== undefined, ...(err ? { errorMessage: err } : {}) });
    exec = undefined;
    output = '';
  };

  for (const m of messages) {
    const content = typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '');
    if (m.role === 'user' && m.type === 'message') {
      closeExecution();
      turn?.end('complete');
      turn = session.startTurn(content, { imported: true, source_file: basename(file) });
      turns++;
    } else if (!turn) {
      skipped++;
    } else if (m.role === 'assistant' && (m.type === 'message' || m.type === 'code')) {
      closeExecution();
      const gen = turn.startGeneration({ model: 'unknown', provider: 'unknown', stream: false, messages: historyAsMessages(history) });
      gen.end({ content: m.type === 'code' ? `\`\`\`${m.format ?? ''}\n${content}\n\`\`\`` : content });
      if (m.type === 'message') turn.assistantMessage(content);
      else {
        codeBlocks++;
        exec = turn.proposeCode({ language: m.format ?? 'python', code: content });
      }
    } else if (m.role === 'computer' && m.type === 'console' && exec) {
      if (!exec.approval) {
        exec.decide({ decision: 'approved', decider: 'imported', reason: 'ran before auditing existed' });
        exec.started();
      }
      output += content;
      exec.output(content);
    } else if (m.role === 'computer' && m.type === 'image' && exec) {
      exec.image(m.format ?? 'unknown', content.length);
    } else {
      skipped++;
    }
    history.push(m);
  }
  closeExecution();
  turn?.end('complete');
  const sessionId = session.id;
  session.end('complete', { imported_from: basename(file), skipped_messages: skipped });
  return { file, sessionId, turns, codeBlocks, skipped };
}
