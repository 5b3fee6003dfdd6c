import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway } from '../../src/gateway/gateway.js';
import { approvalFor } from '../../src/approval/modes.js';
import { AuditedInterpreter } from '../../src/agents/classic/audited-interpreter.js';
import { DEMO_MARKERS, DEMO_SCRIPT } from '../../src/demo/demo-script.js';
import { startLlmProxy, type LlmProxy } from '../../src/llm-proxy/proxy.js';
import { startScriptedModel, type Script, type ScriptedFaults, type ScriptedModel } from '../../src/demo/scripted-model.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function stack(script: Script, faults?: ScriptedFaults) {
  const model: ScriptedModel = await startScriptedModel({ script, ...(faults ? { faults } : {}) });
  cleanups.push(() => model.close());
  const proxy: LlmProxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'upstream-secret-key-for-test', requestTimeoutMs: 10_000 });
  cleanups.push(() => proxy.close());
  const h = inMemoryRecorder({ config: { capture: 'full' } });
  return { model, proxy, ...h };
}

async function openInterpreter(s: Awaited<ReturnType<typeof stack>>, mode: 'all' | 'none' | 'policy', workDir = mkdtempSync(join(tmpdir(), 'oi-e2e-'))) {
  const approval = approvalFor(mode);
  const interpreter = await AuditedInterpreter.start({
    recorder: s.recorder,
    proxy: s.proxy,
    userId: 'e2e-user',
    model: 'scripted',
    approve: approval.hook,
    policyName: approval.name,
    workDir,
    chunkTimeoutMs: 60_000,
  });
  cleanups.push(() => interpreter.close());
  return { interpreter, workDir };
}

/** The trail is complete: one stream, seq 0..n without gaps, ending in session end and a checkpoint. */
function expectCompleteTrail(bodies: Array<Record<string, any>>) {
  expect(bodies.map((b) => b.seq)).toEqual(bodies.map((_, i) => i));
  expect(new Set(bodies.map((b) => b.session)).size).toBe(1);
  expect(bodies.at(-2)!.event).toBe(AUDIT_EVENTS.sessionEnd);
  expect(bodies.at(-1)!.event).toBe(AUDIT_EVENTS.integrityCheckpoint);
}

describe('audited sessions with the real Open Interpreter 0.4.3', () => {
  it('records a two-turn session (Python, shell, a failing command) as one trace with the six data points by content', async () => {
    const s = await stack(DEMO_SCRIPT);
    const { interpreter } = await openInterpreter(s, 'all');
    for (const turn of DEMO_SCRIPT.turns) await interpreter.send(turn.user);
    await interpreter.close();

    const bodies = s.bodies();
    expectCompleteTrail(bodies);
    const spans = s.spans.getFinishedSpans();
    expect(new Set(spans.map((sp) => sp.spanContext().traceId)).size).toBe(1);
    expect(new Set(bodies.map((b) => b.trace_id))).toEqual(new Set([spans[0]!.spanContext().traceId]));
    const root = spans.find((sp) => sp.name === 'invoke_agent open-interpreter')!;
    const prompts = spans.filter((sp) => sp.name === 'oi_audit.prompt');
    expect(prompts).toHaveLength(2);
    for (const p of prompts) expect(p.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    const promptIds = new Set(prompts.map((p) => p.spanContext().spanId));
    const generations = spans.filter((sp) => sp.name.startsWith('chat '));
    const executions = spans.filter((sp) => sp.name.startsWith('execute_tool '));
    expect(generations.length).toBeGreaterThanOrEqual(5);
    expect(executions).toHaveLength(3);
    for (const child of [...generations, ...executions]) expect(promptIds.has(child.parentSpanContext!.spanId)).toBe(true);

    const of = (event: string) => bodies.filter((b) => b.event === event);
    // The user's words reach the model: they are in the recorded request messages.
    const requests = of(AUDIT_EVENTS.llmRequest).map((b) => b.data.messages.text as string);
    expect(requests.some((m) => m.includes(DEMO_SCRIPT.turns[0]!.user))).toBe(true);
    expect(requests.some((m) => m.includes(DEMO_SCRIPT.turns[1]!.user))).toBe(true);
    // The code the script proposed is the code recorded as executed.
    const executed = of(AUDIT_EVENTS.commandExecuted).map((b) => (b.data.code.text as string).trim());
    expect(executed).toEqual(['print("token", 6*7)', 'echo sh-ok && uname -s', `ls ${DEMO_MARKERS.missingPath}`]);
    // A token printed by the code appears in the recorded output.
    const outputs = of(AUDIT_EVENTS.commandOutput).map((b) => b.data.output?.text ?? '').join('');
    expect(outputs).toContain(DEMO_MARKERS.pythonToken);
    expect(outputs).toContain(DEMO_MARKERS.shellOk);
    // The failing command's error text is in an error record.
    const errors = of(AUDIT_EVENTS.error);
    expect(errors.some((e) => e.data.source === 'execution' && String(e.data.message.text).includes('No such file or directory'))).toBe(true);
    expect(of(AUDIT_EVENTS.userInput)).toHaveLength(2);
    expect(of(AUDIT_EVENTS.codeGenerated)).toHaveLength(3);
    // The upstream key never appears in any record.
    expect(JSON.stringify(bodies)).not.toContain('upstream-secret-key-for-test');
  });

  it('runs no code with --approve none (the file the code would create does not exist) and records the refusal; with all it runs', async () => {
    const script = (file: string): Script => ({
      turns: [{ user: 'Create the marker file.', replies: [`Creating it.\n\n\`\`\`python\nopen(${JSON.stringify(file)}, "w").write("x")\n\`\`\`\n`, 'Created.'] }],
    });
    for (const mode of ['none', 'all'] as const) {
      // In the session's workspace: under the sandbox that is the only place the code can write to.
      const workDir = mkdtempSync(join(tmpdir(), 'oi-approve-'));
      const file = join(workDir, 'marker.txt');
      const s = await stack(script(file));
      const { interpreter } = await openInterpreter(s, mode, workDir);
      const result = await interpreter.send('Create the marker file.');
      await interpreter.close();
      const decisions = s.bodies().filter((b) => b.event === AUDIT_EVENTS.approvalDecision);
      expect(decisions).toHaveLength(1);
      if (mode === 'none') {
        expect(result.outcome).toBe('refused');
        expect(existsSync(file)).toBe(false);
        expect(decisions[0]!.data).toMatchObject({ decision: 'refused', decider: 'policy' });
        expect(s.bodies().some((b) => b.event === AUDIT_EVENTS.commandExecuted)).toBe(false);
      } else {
        expect(existsSync(file)).toBe(true);
        expect(decisions[0]!.data.decision).toBe('approved');
      }
      expectCompleteTrail(s.bodies());
    }
  });

  it('refuses an SSH-key read under the default policy (high: held, no human wired): rule id recorded, code not run', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'oi-policy-')), 'ran.txt');
    const code = `import os\nopen(${JSON.stringify(marker)}, "w").write("ran")\nprint(open(os.path.expanduser("~/.ssh/id_rsa")).read())`;
    const s = await stack({ turns: [{ user: 'Show me my SSH key.', replies: [`Reading it.\n\n\`\`\`python\n${code}\n\`\`\`\n`, 'Done.'] }] });
    const { interpreter } = await openInterpreter(s, 'policy');
    const result = await interpreter.send('Show me my SSH key.');
    await interpreter.close();
    expect(result.outcome).toBe('refused');
    expect(existsSync(marker)).toBe(false);
    const bodies = s.bodies();
    const generated = bodies.find((b) => b.event === AUDIT_EVENTS.codeGenerated)!;
    expect(['high', 'critical']).toContain(generated.data.risk);
    expect(generated.data.rules).toContain('OIA-CRED-001');
    const decision = bodies.find((b) => b.event === AUDIT_EVENTS.approvalDecision)!;
    expect(decision.data).toMatchObject({ decision: 'refused', decider: 'policy', risk: generated.data.risk });
    expect(decision.data.rules).toEqual(generated.data.rules);
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.commandExecuted)).toBe(false);
    const span = s.spans.getFinishedSpans().find((sp) => sp.name.startsWith('execute_tool'))!;
    expect(span.attributes['oi_audit.risk.level']).toBe(generated.data.risk);
    expect(span.attributes['oi_audit.approval.decision']).toBe('refused');
    expectCompleteTrail(bodies);
  });

  it('ends in a clear message and a complete trail when Open Interpreter is killed mid-turn', async () => {
    const s = await stack({ turns: [{ user: 'Sleep a while.', replies: ['Sleeping.\n\n```python\nimport time\ntime.sleep(60)\n```\n'] }] });
    const { interpreter } = await openInterpreter(s, 'all');
    const turn = interpreter.send('Sleep a while.');
    // Kill once the code has started running.
    for (let i = 0; i < 200 && !s.bodies().some((b) => b.event === AUDIT_EVENTS.commandExecuted); i++) await new Promise((r) => setTimeout(r, 100));
    process.kill(-interpreter.pid, 'SIGKILL');
    const result = await turn;
    await interpreter.close();
    expect(result.outcome).toBe('error');
    expect(result.errors.join('\n')).toMatch(/closed|exited/);
    const bodies = s.bodies();
    expectCompleteTrail(bodies);
    expect(bodies.find((b) => b.event === AUDIT_EVENTS.sessionEnd)!.data.outcome).toBe('process_died');
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'process_exit')).toBe(true);
  });

  it('records an upstream 500 as an LLM error and still closes a complete trail', async () => {
    const s = await stack({ turns: [{ user: 'Hello there.', replies: ['Hi.'] }] }, { http500: { message: 'upstream exploded' } });
    const { interpreter } = await openInterpreter(s, 'all');
    const result = await interpreter.send('Hello there.');
    await interpreter.close();
    const bodies = s.bodies();
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'upstream_500')).toBe(true);
    expect(result.errors.length + bodies.filter((b) => b.event === AUDIT_EVENTS.error).length).toBeGreaterThan(0);
    expectCompleteTrail(bodies);
  });

  it('records an upstream stream cut mid-way as an LLM error and still closes a complete trail', async () => {
    const s = await stack({ turns: [{ user: 'Tell me a story.', replies: ['Once upon a time there was a very long story that never ended.'] }] }, { cutStream: { afterChunks: 3 } });
    const { interpreter } = await openInterpreter(s, 'all');
    await interpreter.send('Tell me a story.');
    await interpreter.close();
    const bodies = s.bodies();
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'upstream_stream_cut')).toBe(true);
    expectCompleteTrail(bodies);
  });

  it('gateway: a client disconnecting mid-turn ends the session as aborted with a complete trail', async () => {
    const model = await startScriptedModel({ script: { turns: [{ user: 'Sleep a while.', replies: ['Sleeping.\n\n```python\nimport time\ntime.sleep(60)\n```\n'] }] } });
    cleanups.push(() => model.close());
    const h = inMemoryRecorder({ config: { capture: 'full' } });
    const gateway = await startGateway({
      recorder: h.recorder,
      users: new Map([['client-token', { userId: 'gw-user' }]]),
      upstreamBaseUrl: model.url,
      model: 'scripted',
      policy: 'all',
    });
    cleanups.push(() => gateway.close());
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(gateway.url, { headers: { authorization: 'Bearer wrong' } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(refused).toBe(401);

    const ws = new WebSocket(gateway.url, { headers: { authorization: 'Bearer client-token' } });
    const messages: any[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((r) => ws.on('open', r));
    for (let i = 0; i < 600 && !messages.some((m) => m.type === 'ready'); i++) await new Promise((r) => setTimeout(r, 100));
    ws.send(JSON.stringify({ type: 'settings', settings: { auto_run: true } }));
    ws.send(JSON.stringify({ type: 'user', content: 'Sleep a while.' }));
    for (let i = 0; i < 300 && !h.bodies().some((b) => b.event === AUDIT_EVENTS.commandExecuted); i++) await new Promise((r) => setTimeout(r, 100));
    ws.terminate();
    for (let i = 0; i < 300 && gateway.activeSessions > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(gateway.activeSessions).toBe(0);
    // The refused login above went to the gateway's security stream, a session of its own: judge the client's.
    const clientSession = messages.find((m) => m.type === 'ready')!.session;
    const bodies = h.bodies().filter((b) => b.session === clientSession);
    expect(h.bodies().some((b) => b.session !== clientSession)).toBe(true);
    expectCompleteTrail(bodies);
    expect(bodies.find((b) => b.event === AUDIT_EVENTS.settingsRefused)!.data).toMatchObject({ setting: 'auto_run', reason: 'would weaken the audit' });
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'client_disconnected')).toBe(true);
    expect(bodies.find((b) => b.event === AUDIT_EVENTS.sessionEnd)!.data.outcome).toBe('aborted');
    expect(messages.some((m) => m.type === 'lmc' && m.chunk.type === 'code')).toBe(true);
  });
});
