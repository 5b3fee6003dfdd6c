/**
 * The real Open Interpreter 0.4.3 server, started by the supervisor and spoken to over LMC, against a tiny
 * scripted OpenAI-compatible SSE server defined here. Nothing is skipped: if Open Interpreter cannot be installed,
 * the suite fails.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LmcConnection } from '../../src/agents/classic/lmc/lmc-client.js';
import type { LmcChunk } from '../../src/agents/session/lmc-chunk.js';
import { startInterpreterServer, type InterpreterServer } from '../../src/agents/classic/process/supervisor.js';
import { processTree } from '../../src/agents/process/process-tree.js';
import { ensureOpenInterpreter } from '../../src/agents/classic/process/venv.js';

interface RecordedLlmRequest {
  url: string;
  headers: IncomingHttpHeaders;
  body: { model?: string; stream?: boolean; tools?: unknown; messages?: { role: string; content: unknown }[] };
}

/**
 * OpenAI-compatible `/chat/completions` that streams the n-th reply for the n-th call (the last one repeats).
 * Chunks split at code fences, newlines and spaces, the way a tokenizer would: Open Interpreter's text-mode
 * parser needs "```" to arrive apart from the language tag, or it mis-reads the block.
 */
async function startScriptedLlm(replies: string[]): Promise<{ baseUrl: (path: string) => string; requests: RecordedLlmRequest[]; close: () => Promise<void> }> {
  const requests: RecordedLlmRequest[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString('utf8')));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as RecordedLlmRequest['body'];
      requests.push({ url: req.url ?? '', headers: req.headers, body });
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404).end();
        return;
      }
      const reply = replies[Math.min(requests.length - 1, replies.length - 1)] ?? '';
      const frame = (delta: Record<string, unknown>, finish: string | null): string =>
        `data: ${JSON.stringify({ id: `chatcmpl-${requests.length}`, object: 'chat.completion.chunk', created: 0, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(frame({ role: 'assistant', content: '' }, null));
      for (const piece of reply.split(/(```|\n| )/).filter(Boolean)) res.write(frame({ content: piece }, null));
      res.write(frame({}, 'stop'));
      res.end('data: [DONE]\n\n');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: (path) => `http://127.0.0.1:${port}${path}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Running (not a zombie: orphans here are reaped by PID 1 whenever it gets round to it). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function consoleOutput(chunks: LmcChunk[]): string {
  return chunks
    .filter((c) => c.role === 'computer' && c.type === 'console' && c.format === 'output')
    .map((c) => String(c.content))
    .join('');
}

function codeOf(chunks: LmcChunk[]): string {
  return chunks
    .filter((c) => c.role === 'assistant' && c.type === 'code' && typeof c.content === 'string')
    .map((c) => String(c.content))
    .join('');
}

describe('real Open Interpreter server', () => {
  const token = `OI-E2E-${randomBytes(6).toString('hex')}`;
  let llm: Awaited<ReturnType<typeof startScriptedLlm>>;
  let server: InterpreterServer | undefined;
  let connection: LmcConnection | undefined;
  const serverLog: string[] = [];

  beforeAll(async () => {
    // Fails the suite (never skips it) when the pinned venv cannot be installed.
    await ensureOpenInterpreter({ onProgress: (line) => process.stderr.write(`${line}\n`) });
    llm = await startScriptedLlm([
      // A child process started by the generated code: stop() must kill it too (it lives in the kernel's group).
      `I will print the token.\n\`\`\`python\nimport subprocess\nchild = subprocess.Popen(['sleep', '300'])\nprint('${token}', child.pid)\n\`\`\``,
      'The token was printed. Done.',
    ]);
  });

  afterAll(async () => {
    await connection?.close();
    await server?.stop();
    await llm?.close();
  });

  it('starts, runs an approved code block, and stop() leaves no process of its tree alive', async () => {
    server = await startInterpreterServer({
      llmBaseUrl: llm.baseUrl('/s/session-token-1/v1'),
      llmApiKey: 'sk-scripted',
      model: 'scripted-model',
      onLog: (stream, line) => serverLog.push(`[${stream}] ${line}`),
    });
    expect(server.version).toBe('0.4.3');
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}/`);
    const heartbeat = await fetch(`${server.httpUrl}/heartbeat`);
    expect(await heartbeat.json()).toEqual({ status: 'alive' });
    // The HTTP API wants the key too.
    expect((await fetch(`${server.httpUrl}/settings/auto_run`)).status).toBe(403);
    const autoRun = await fetch(`${server.httpUrl}/settings/auto_run`, { headers: { 'X-API-KEY': server.apiKey } });
    expect(JSON.parse((await autoRun.json()) as string)).toEqual({ auto_run: false });

    connection = await LmcConnection.connect(server.url, server.apiKey, { timeoutMs: 15_000 });

    // Turn 1: the model proposes a block; with auto-run off the turn ends on it, nothing runs.
    await connection.sendUserMessage('Print the token, please.');
    const proposal = await connection.nextTurnEnd({ timeoutMs: 60_000 });
    expect(proposal.outcome, serverLog.join('\n')).toBe('complete');
    expect(proposal.serverErrors).toEqual([]);
    expect(codeOf(proposal.chunks)).toContain(`print('${token}', child.pid)`);
    expect(proposal.chunks.find((c) => c.type === 'code' && c.start === true)).toMatchObject({ format: 'python' });
    expect(consoleOutput(proposal.chunks)).toBe('');
    const lastTwo = proposal.chunks.slice(-2);
    expect(lastTwo[0]).toMatchObject({ role: 'assistant', type: 'code', format: 'python', end: true });
    expect(lastTwo[1]).toEqual({ role: 'server', type: 'status', content: 'complete' });

    // Approve: the block runs in the Jupyter kernel, then the model is called again with its output.
    await connection.sendCommand('go');
    const execution = await connection.nextTurnEnd({ timeoutMs: 90_000 });
    expect(execution.outcome, serverLog.join('\n')).toBe('complete');
    const output = consoleOutput(execution.chunks);
    expect(output).toContain(token);
    const grandchildPid = Number(new RegExp(`${token} (\\d+)`).exec(output)?.[1]);
    expect(grandchildPid).toBeGreaterThan(0);
    expect(execution.chunks.some((c) => c.role === 'assistant' && c.type === 'message' && c.content === 'Done.')).toBe(true);

    // Every LLM call went to the per-session URL, in text mode, with the key from the environment.
    expect(llm.requests).toHaveLength(2);
    for (const request of llm.requests) {
      expect(request.url).toBe('/s/session-token-1/v1/chat/completions');
      expect(request.headers.authorization).toBe('Bearer sk-scripted');
      expect(request.body).toMatchObject({ model: 'scripted-model', stream: true });
      expect(request.body.tools).toBeUndefined();
    }
    expect(JSON.stringify(llm.requests[1]?.body.messages)).toContain(`Code output: ${token}`);

    // The tree: server, Jupyter kernel (its own process group), and the sleep the code started.
    // The code runs in the sandbox's PID namespace (the default): it printed its namespace pid; find its host pid.
    expect(server.containment.sandbox).toBe('bwrap');
    const tree = processTree(server.pid);
    const pids = tree.map((p) => p.pid);
    expect(pids.map(namespacePid)).toContain(grandchildPid);
    expect(new Set(tree.map((p) => p.pgid)).size).toBeGreaterThan(1);

    await connection.close();
    await server.stop();
    expect(await server.exited).toBeDefined();
    for (const pid of pids) expect(isRunning(pid), `pid ${pid} survived stop()`).toBe(false);
    await server.stop(); // idempotent
  });

  it('says why when the virtualenv is missing', async () => {
    await expect(
      startInterpreterServer({ llmBaseUrl: llm.baseUrl('/v1'), llmApiKey: 'x', model: 'm', venvDir: '/nonexistent/oi-venv' }),
    ).rejects.toThrow(/Open Interpreter is not installed: \/nonexistent\/oi-venv\/bin\/interpreter is missing/);
  });

  it('says why when the process exits during startup, quoting its stderr', async () => {
    // A Python that cannot find its standard library dies at once.
    await expect(
      startInterpreterServer({ llmBaseUrl: llm.baseUrl('/v1'), llmApiKey: 'x', model: 'm', env: { PYTHONHOME: '/nonexistent' } }),
    ).rejects.toThrow(/exited during startup \(code 1[\s\S]*\[stderr\].*(encodings|Python)/);
  });

  it('says why when the heartbeat does not answer in time, and leaves nothing running', async () => {
    const error = await startInterpreterServer({
      llmBaseUrl: llm.baseUrl('/v1'),
      llmApiKey: 'x',
      model: 'm',
      startTimeoutMs: 300,
      onLog: () => undefined,
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/timed out after 300 ms waiting for GET http:\/\/127\.0\.0\.1:\d+\/heartbeat/);
    const port = Number(/127\.0\.0\.1:(\d+)/.exec((error as Error).message)?.[1]);
    expect(port).toBeGreaterThan(0);
    // The half-started server was killed, so nothing answers on its port any more.
    const listening = await fetch(`http://127.0.0.1:${port}/heartbeat`).then(
      () => true,
      () => false,
    );
    expect(listening).toBe(false);
  });

  it('refuses the model "i", which Open Interpreter sends to its hosted API', async () => {
    await expect(startInterpreterServer({ llmBaseUrl: llm.baseUrl('/v1'), llmApiKey: 'x', model: 'i' })).rejects.toThrow(/hosted API/);
  });
});

/** The pid a process has in its innermost PID namespace (last NSpid field of /proc/<pid>/status). */
function namespacePid(hostPid: number): number {
  try {
    const nspid = /^NSpid:\s+(.+)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'))?.[1];
    return Number(nspid?.trim().split(/\s+/).at(-1));
  } catch {
    return -1;
  }
}
