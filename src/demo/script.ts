/**
 * Demo scripts for the scripted model: their format, validation, loading, and which reply a request
 * gets. The server that serves them in each provider's wire format is scripted-model.ts.
 *
 * Script format (other tools rely on it; keep it exactly):
 *
 *   { "turns": [ { "user": "what the user types",
 *                  "replies": [ "reply to LLM call 1 (markdown, at most one fenced code block)",
 *                               "reply to LLM call 2, after the code output came back",
 *                               { "content": "...", "tool_call": { "language": "python", "code": "..." } } ] } ] }
 *
 * Which reply a request gets is derived from the request's own `messages`, not from server state, so
 * concurrent sessions and client retries get consistent answers:
 * - the turn is the one whose `user` text the latest real user message equals (or, failing that,
 *   contains — Open Interpreter merges adjacent same-role messages and applies a user template).
 *   Open Interpreter's own feedback messages ("Code output: …", "The code above was executed …",
 *   the Jupyter input-patience prompt) are not user turns and are skipped;
 * - the reply index is the number of assistant runs (consecutive assistant messages count once:
 *   in function-calling mode a reply's text and its tool call are two messages) after that user message,
 *   i.e. the number of LLM calls of the turn that already completed;
 * - past the end of a turn's replies the closing reply (default "Done.") is served; when no turn
 *   matches, a short no-code reply says so.
 * Limitation: with Open Interpreter's `code_output_sender="assistant"` (not the default) code output is an
 * assistant message merged into the previous one, so reply indexes would not advance.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';

// --- script types and validation -----------------------------------------------------------------

export interface ScriptToolCall {
  language: string;
  code: string;
}

/** A reply: markdown text (text mode), or text plus a function call (function-calling mode). */
export type ScriptReply = string | { content?: string; tool_call?: ScriptToolCall };

export interface ScriptTurn {
  user: string;
  replies: ScriptReply[];
}

export interface Script {
  turns: ScriptTurn[];
}

export class ScriptError extends Error {
  override name = 'ScriptError';
}

const TOP_LEVEL_KEYS = new Set(['turns', 'description', '$schema']);
const TURN_KEYS = new Set(['user', 'replies']);
const REPLY_KEYS = new Set(['content', 'tool_call']);
const TOOL_CALL_KEYS = new Set(['language', 'code']);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: Set<string>, where: string, source: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) {
      throw new ScriptError(`${source}: ${where} has unknown key "${key}" (allowed: ${[...allowed].join(', ')})`);
    }
  }
}

/** Count of ``` fences in a text reply: 0 (no code) or 2 (one block) are what Open Interpreter's text mode handles. */
function fenceCount(text: string): number {
  return (text.match(/```/g) ?? []).length;
}

/**
 * Validate a parsed script. Errors name the source and the exact place, e.g.
 * `demo.json: turns[1].replies[0].tool_call.language must be a non-empty string`.
 */
export function validateScript(value: unknown, source = 'script'): Script {
  if (!isPlainObject(value)) throw new ScriptError(`${source}: the script must be a JSON object with a "turns" array, got ${describe(value)}`);
  checkKeys(value, TOP_LEVEL_KEYS, 'the top level', source);
  const turns = value.turns;
  if (!Array.isArray(turns)) throw new ScriptError(`${source}: "turns" must be an array, got ${describe(turns)}`);
  if (turns.length === 0) throw new ScriptError(`${source}: "turns" is empty; a script needs at least one turn`);
  const out: ScriptTurn[] = turns.map((turn, t) => {
    const at = `turns[${t}]`;
    if (!isPlainObject(turn)) throw new ScriptError(`${source}: ${at} must be an object with "user" and "replies", got ${describe(turn)}`);
    checkKeys(turn, TURN_KEYS, at, source);
    if (typeof turn.user !== 'string' || turn.user.trim().length === 0) {
      throw new ScriptError(`${source}: ${at}.user must be a non-empty string, got ${describe(turn.user)}`);
    }
    if (!Array.isArray(turn.replies)) throw new ScriptError(`${source}: ${at}.replies must be an array, got ${describe(turn.replies)}`);
    const replies: ScriptReply[] = turn.replies.map((reply, r) => {
      const rat = `${at}.replies[${r}]`;
      if (typeof reply === 'string') {
        const fences = fenceCount(reply);
        if (fences !== 0 && fences !== 2) {
          throw new ScriptError(
            `${source}: ${rat} has ${fences} \`\`\` fences; a text reply may hold at most one fenced code block ` +
              '(Open Interpreter runs only the first block and stops reading at its closing fence)',
          );
        }
        return reply;
      }
      if (!isPlainObject(reply)) throw new ScriptError(`${source}: ${rat} must be a string or an object {content, tool_call}, got ${describe(reply)}`);
      checkKeys(reply, REPLY_KEYS, rat, source);
      if (reply.content !== undefined && typeof reply.content !== 'string') {
        throw new ScriptError(`${source}: ${rat}.content must be a string, got ${describe(reply.content)}`);
      }
      const norm: { content?: string; tool_call?: ScriptToolCall } = {};
      if (typeof reply.content === 'string') norm.content = reply.content;
      if (reply.tool_call !== undefined) {
        const tc = reply.tool_call;
        if (!isPlainObject(tc)) throw new ScriptError(`${source}: ${rat}.tool_call must be an object {language, code}, got ${describe(tc)}`);
        checkKeys(tc, TOOL_CALL_KEYS, `${rat}.tool_call`, source);
        if (typeof tc.language !== 'string' || tc.language.trim().length === 0) {
          throw new ScriptError(`${source}: ${rat}.tool_call.language must be a non-empty string, got ${describe(tc.language)}`);
        }
        if (typeof tc.code !== 'string') throw new ScriptError(`${source}: ${rat}.tool_call.code must be a string, got ${describe(tc.code)}`);
        norm.tool_call = { language: tc.language, code: tc.code };
      }
      if (norm.content === undefined && norm.tool_call === undefined) {
        throw new ScriptError(`${source}: ${rat} must have "content", "tool_call" or both`);
      }
      return norm;
    });
    return { user: turn.user, replies };
  });
  return { turns: out };
}

/** Parse and validate script text. */
export function parseScript(text: string, source = 'script'): Script {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ScriptError(`${source}: not valid JSON: ${(err as Error).message}`);
  }
  return validateScript(parsed, source);
}

/** Read, parse and validate a script file. Errors start with the path. */
export async function loadScript(path: string): Promise<Script> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ScriptError(`${path}: cannot read script: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseScript(text, path);
}

/** Synchronous loadScript, for CLI start-up code. */
export function loadScriptSync(path: string): Script {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScriptError(`${path}: cannot read script: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseScript(text, path);
}

// --- reply selection ------------------------------------------------------------------------------

export interface NormalizedReply {
  content: string;
  toolCall?: ScriptToolCall;
}

export interface ReplySelection {
  kind: 'reply' | 'closing' | 'unmatched';
  /** Script turn index, when a turn matched. */
  turnIndex?: number;
  /** Index of the reply in the turn (for `closing`, the index that was past the end). */
  replyIndex: number;
  reply: NormalizedReply;
}

export const DEFAULT_CLOSING_REPLY = 'Done.';
export const UNMATCHED_REPLY = 'The scripted model has no scripted turn for this conversation.';

/** Open Interpreter's own user-role messages (code output feedback, input-patience prompt): never a user turn. */
const OI_FEEDBACK_PREFIXES = ['Code output:', 'The code above was executed on my machine.'];
const OI_FEEDBACK_MARKERS = ['The program above has been running for over'];

export function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (isPlainObject(part) && typeof part.text === 'string' ? part.text : ''))
      .filter((s) => s.length > 0)
      .join('\n');
  }
  return '';
}

function isFeedback(text: string): boolean {
  const t = text.trimStart();
  return OI_FEEDBACK_PREFIXES.some((p) => t.startsWith(p)) || OI_FEEDBACK_MARKERS.some((m) => t.includes(m));
}

function normalizeReply(reply: ScriptReply): NormalizedReply {
  if (typeof reply === 'string') return { content: reply };
  const out: NormalizedReply = { content: reply.content ?? '' };
  if (reply.tool_call) out.toolCall = { ...reply.tool_call };
  return out;
}

/** Which script turns a user message belongs to: exact matches first, else the most specific contained text. */
function matchingTurns(script: Script, text: string): number[] {
  const t = text.trim();
  const exact = script.turns.flatMap((turn, i) => (turn.user.trim() === t ? [i] : []));
  if (exact.length > 0) return exact;
  if (isFeedback(text)) return [];
  let best: number[] = [];
  let bestLen = 0;
  script.turns.forEach((turn, i) => {
    const u = turn.user.trim();
    if (!t.includes(u)) return;
    if (u.length > bestLen) {
      best = [i];
      bestLen = u.length;
    } else if (u.length === bestLen && script.turns[best[0]!]!.user.trim() === u) {
      best.push(i);
    }
  });
  return best;
}

/** Pick the reply for a request from its messages (see the module comment for the rules). */
export function selectReply(script: Script, messages: unknown, closingReply = DEFAULT_CLOSING_REPLY): ReplySelection {
  const msgs: unknown[] = Array.isArray(messages) ? messages : [];
  const roleOf = (m: unknown): string | undefined => (isPlainObject(m) && typeof m.role === 'string' ? m.role : undefined);
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (roleOf(m) !== 'user' || !isPlainObject(m)) continue;
    const text = messageText(m.content);
    const candidates = matchingTurns(script, text);
    if (candidates.length === 0) continue;
    let turnIndex = candidates[0]!;
    if (candidates.length > 1) {
      // Several turns share this user text: the k-th earlier occurrence in the conversation picks the k-th turn.
      const same = script.turns[turnIndex]!.user.trim();
      let earlier = 0;
      for (let j = 0; j < i; j++) {
        const mj = msgs[j];
        if (roleOf(mj) !== 'user' || !isPlainObject(mj)) continue;
        if (matchingTurns(script, messageText(mj.content)).some((k) => script.turns[k]!.user.trim() === same)) earlier++;
      }
      turnIndex = candidates[Math.min(earlier, candidates.length - 1)]!;
    }
    let replyIndex = 0;
    for (let j = i + 1; j < msgs.length; j++) {
      if (roleOf(msgs[j]) === 'assistant' && roleOf(msgs[j - 1]) !== 'assistant') replyIndex++;
    }
    const replies = script.turns[turnIndex]!.replies;
    const reply = replies[replyIndex];
    if (reply !== undefined) return { kind: 'reply', turnIndex, replyIndex, reply: normalizeReply(reply) };
    return { kind: 'closing', turnIndex, replyIndex, reply: { content: closingReply } };
  }
  return { kind: 'unmatched', replyIndex: 0, reply: { content: UNMATCHED_REPLY } };
}

// --- chunking -----------------------------------------------------------------------------------

/**
 * Split reply text into stream deltas the way Open Interpreter's text-mode parser can digest:
 * - every ``` fence is a delta of its own, and the language tag line after an opening fence (with its
 *   newline) is one delta — the parser drops a delta that ends with a backtick and reads the language
 *   from the first line after the fence;
 * - other text is cut every `chunkSize` characters (code points, never splitting a surrogate pair),
 *   and no delta ends with a backtick (a cut that would is moved past the backticks).
 */
export function chunkContent(text: string, chunkSize: number): string[] {
  const size = Math.max(1, Math.floor(chunkSize));
  const out: string[] = [];
  const plain = (s: string) => {
    const cps = Array.from(s);
    let i = 0;
    while (i < cps.length) {
      let end = Math.min(i + size, cps.length);
      while (end < cps.length && cps[end - 1] === '`') end++;
      out.push(cps.slice(i, end).join(''));
      i = end;
    }
  };
  const parts = text.split('```');
  parts.forEach((part, k) => {
    if (k > 0) out.push('```');
    if (part.length === 0) return;
    const opening = k % 2 === 1; // text right after an odd fence is inside a code block
    if (opening) {
      const nl = part.indexOf('\n');
      if (nl !== -1) {
        out.push(part.slice(0, nl + 1));
        plain(part.slice(nl + 1));
        return;
      }
    }
    plain(part);
  });
  return out;
}

