#!/usr/bin/env node
/**
 * The PreToolUse hook oi-audit installs in each session's home: Codex runs it before every tool call, with the
 * call on stdin. It asks the session's oi-audit over the session's Unix socket (path in argv, token in the
 * OI_AUDIT_HOOK_TOKEN environment variable) and prints Codex's `deny` answer unless oi-audit allowed it.
 *
 * Fail-closed: whatever goes wrong here (no socket, no answer in time, a bad answer, input too large) the
 * call is denied, with the reason. Codex treats a hook that exits non-zero, prints something it cannot read
 * or times out as "no objection", so this program never does any of those on purpose: every path ends in
 * `deny` on stdout and exit code 0, well before Codex's own hook timeout.
 *
 * Self-contained (Node built-ins only): it is copied into the session home and run with the Node binary that
 * runs oi-audit.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';

/** Largest hook input read (Codex sends the tool call; a command this large is refused, not truncated). */
const MAX_INPUT_BYTES = 8 * 1024 * 1024;
const MAX_ANSWER_BYTES = 64 * 1024;

function deny(reason: string): never {
  process.stdout.write(
    JSON.stringify({ hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: reason } }),
  );
  process.exit(0);
}

function readStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    process.stdin.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_INPUT_BYTES) reject(new Error(`hook input larger than ${MAX_INPUT_BYTES} bytes`));
      else parts.push(d);
    });
    process.stdin.on('end', () => resolve(Buffer.concat(parts)));
    process.stdin.on('error', reject);
  });
}

async function main(): Promise<void> {
  const socketPath = process.argv[2];
  const deadlineMs = Number(process.argv[3] ?? '60000');
  const token = process.env.OI_AUDIT_HOOK_TOKEN ?? '';
  const timer = setTimeout(() => deny(`oi-audit gave no answer within ${Math.round(deadlineMs / 1000)} s: denied (fail-closed)`), deadlineMs);
  timer.unref();
  let raw: Buffer;
  try {
    raw = await readStdin();
  } catch (err) {
    deny(`oi-audit hook could not read the tool call (${(err as Error).message}): denied (fail-closed)`);
  }
  const fingerprint = `sha256 ${createHash('sha256').update(raw).digest('hex').slice(0, 16)}, ${raw.length} bytes`;
  if (!socketPath || !token) deny(`oi-audit hook is not configured (no socket or token): denied (fail-closed; call ${fingerprint})`);
  let input: unknown;
  try {
    input = JSON.parse(raw.toString('utf8'));
  } catch {
    deny(`oi-audit hook received a tool call that is not JSON: denied (fail-closed; call ${fingerprint})`);
  }

  const answer = await new Promise<string>((resolve) => {
    const socket = connect(socketPath);
    let text = '';
    let answered = false;
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ token, input })}\n`));
    socket.on('data', (d: string) => {
      text += d;
      if (text.length > MAX_ANSWER_BYTES) socket.destroy(new Error('answer too large'));
      const nl = text.indexOf('\n');
      if (nl !== -1 && !answered) {
        answered = true;
        resolve(text.slice(0, nl));
        socket.end();
      }
    });
    socket.on('error', (err) => answered || deny(`oi-audit cannot record this call (${err.message}): denied (fail-closed; call ${fingerprint})`));
    socket.on('close', () => answered || deny(`oi-audit closed the connection without an answer: denied (fail-closed; call ${fingerprint})`));
  });
  let parsed: { decision?: unknown; reason?: unknown };
  try {
    parsed = JSON.parse(answer) as typeof parsed;
  } catch {
    deny(`oi-audit answered something unreadable: denied (fail-closed; call ${fingerprint})`);
  }
  if (parsed.decision === 'allow') process.exit(0); // no output: Codex goes on (and asks for approval where its policy says so)
  deny(typeof parsed.reason === 'string' && parsed.reason.length > 0 ? parsed.reason : 'refused by oi-audit');
}

main().catch((err: unknown) => deny(`oi-audit hook failed (${err instanceof Error ? err.message : String(err)}): denied (fail-closed)`));
