/**
 * The Rust Open Interpreter adapter against the real Codex 0.148.0 binary (its code base; the Rust Open
 * Interpreter itself cannot be obtained here). The binary is installed by the test setup
 * (scripts/setup-codex.sh); a missing binary fails these tests.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditedRustInterpreter } from '../../src/agents/rust/audited-rust-interpreter.js';
import { PINNED_CODEX_VERSION } from '../../src/agents/rust/binary.js';
import { startScriptedModel, type Script, type ScriptedFaults } from '../../src/demo/scripted-model.js';
import { startLlmProxy } from '../../src/llm-proxy/proxy.js';
import { approvalFor } from '../../src/approval/modes.js';
import { isProcessAlive, processTree } from '../../src/agents/process/process-tree.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { runCli } from '../helpers/cli.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

const CANARY = 'canary.txt';
const THREE_TURNS: Script = {
  turns: [
    { user: 'Create the marker file.', replies: ['I will create it.\n\n```shell\ntouch approved.txt && echo approved-ok\n```\n', 'Created.'] },
    { user: 'List /usr/bin.', replies: ['```shell\nls -la /usr/bin\n```\n', 'Listed.'] },
    { user: 'Show the AWS credentials.', replies: [`\`\`\`shell\ncat ~/.aws/credentials && rm -f ${CANARY}\n\`\`\`\n`, 'Refused, as expected.'] },
  ],
};

async function session(script: Script, faults?: ScriptedFaults, prepare?: (workDir: string) => void) {
  const model = await startScriptedModel({ script, ...(faults ? { faults } : {}) });
  cleanups.push(() => model.close());
  const proxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'upstream-secret-key-for-test', requestTimeoutMs: 10_000 });
  cleanups.push(() => proxy.close());
  const h = inMemoryRecorder({ config: { capture: 'full' } });
  const workDir = mkdtempSync(join(tmpdir(), 'oi-rust-e2e-'));
  prepare?.(workDir);
  const approval = approvalFor('policy');
  const agent = await AuditedRustInterpreter.start({ recorder: h.recorder, proxy, userId: 'e2e-user', model: 'scripted', approve: approval.hook, policyName: approval.name, workDir, turnIdleTimeoutMs: 60_000 });
  cleanups.push(() => agent.close());
  return { ...h, agent, workDir, model };
}

function expectCompleteTrail(bodies: Array<Record<string, any>>) {
  expect(bodies.map((b) => b.seq)).toEqual(bodies.map((_, i) => i));
  expect(new Set(bodies.map((b) => b.session)).size).toBe(1);
  expect(bodies.at(-2)!.event).toBe(AUDIT_EVENTS.sessionEnd);
  expect(bodies.at(-1)!.event).toBe(AUDIT_EVENTS.integrityCheckpoint);
}

async function until(check: () => boolean, what: string, ms = 60_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the Rust Open Interpreter adapter with the real Codex 0.148.0', () => {
  it('demo --agent rust: approved, auto-approved (via the hook) and policy-refused commands, one trace, verify VALID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-rust-demo-'));
    const scriptPath = join(dir, 'script.json');
    writeFileSync(scriptPath, JSON.stringify(THREE_TURNS));
    const out = join(dir, 'logs');
    const keys = join(dir, 'keys');
    const demo = await runCli(['demo', '--agent', 'rust', '--script', scriptPath, '--out', out, '--keys', keys, '--json'], { cwd: dir });
    expect(demo.code, demo.stderr).toBe(0);
    const report = JSON.parse(demo.stdout) as { sessionId: string; agent: string; results: Array<{ outcome: string; executed: number; refused: number }>; sessions: unknown[] };
    expect(report.agent).toBe('rust');
    expect(report.results.map((r) => [r.outcome, r.executed, r.refused])).toEqual([
      ['complete', 1, 0],
      ['complete', 1, 0],
      ['refused', 0, 1],
    ]);

    const verify = await runCli(['verify', out, '--key', join(keys, 'mac-seed'), '--public-key', join(keys, 'signing-key.pub.pem')]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain('VALID');
    expect(verify.stdout).toContain('1/1 session valid');

    // Every data point, by content, from the records on disk.
    const view = await runCli(['view', out, '--json']);
    expect(view.code, view.stderr).toBe(0);
    const text = view.stdout;
    for (const turn of THREE_TURNS.turns) expect(text).toContain(turn.user);
    expect(text).toContain('approved-ok');
    expect(text).toContain('touch approved.txt');
    expect(text).toContain('cat ~/.aws/credentials');
  });

  it('records each gate in the chain: approval request bound to the hook decision, auto-approved through the hook, refusal not run', async () => {
    const s = await session(THREE_TURNS);
    writeFileSync(join(s.workDir, CANARY), 'alive');
    const results = [];
    for (const turn of THREE_TURNS.turns) results.push(await s.agent.send(turn.user));
    await s.agent.close();
    expect(results.map((r) => r.outcome)).toEqual(['complete', 'complete', 'refused']);
    expect(readFileSync(join(s.workDir, CANARY), 'utf8')).toBe('alive');
    expect(existsSync(join(s.workDir, 'approved.txt'))).toBe(true);

    const bodies = s.bodies();
    expectCompleteTrail(bodies);
    const start = bodies[0]!;
    expect(start.data.agent).toBe('codex');
    expect(start.data.agent_binary).toMatchObject({ kind: 'codex', version: PINNED_CODEX_VERSION });
    const spans = s.spans.getFinishedSpans();
    expect(new Set(spans.map((sp) => sp.spanContext().traceId)).size).toBe(1);
    const root = spans.find((sp) => sp.name === 'invoke_agent codex')!;
    expect(root.attributes['gen_ai.conversation.id']).toBe(s.agent.thread);
    expect(root.attributes['gen_ai.agent.version']).toBe(PINNED_CODEX_VERSION);
    for (const g of spans.filter((sp) => sp.name.startsWith('chat '))) expect(g.attributes['gen_ai.conversation.id']).toBe(s.agent.thread);
    // The classic agent's trace shape (test/e2e/audited-session.test.ts): root → one prompt span per turn →
    // its generations and executions; every record in the same trace.
    expect(new Set(bodies.map((b) => b.trace_id))).toEqual(new Set([root.spanContext().traceId]));
    const prompts = spans.filter((sp) => sp.name === 'oi_audit.prompt');
    expect(prompts).toHaveLength(3);
    for (const p of prompts) expect(p.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    const promptIds = new Set(prompts.map((p) => p.spanContext().spanId));
    const generations = spans.filter((sp) => sp.name.startsWith('chat '));
    const executions = spans.filter((sp) => sp.name.startsWith('execute_tool '));
    expect(generations.length).toBeGreaterThanOrEqual(6);
    expect(executions).toHaveLength(3);
    for (const child of [...generations, ...executions]) expect(promptIds.has(child.parentSpanContext!.spanId)).toBe(true);

    const of = (event: string) => bodies.filter((b) => b.event === event);
    expect(of(AUDIT_EVENTS.userInput).map((b) => b.data.input.text)).toEqual(THREE_TURNS.turns.map((t) => t.user));
    // The LLM requests the proxy recorded carry the user's words and the tool output back to the model.
    const requests = of(AUDIT_EVENTS.llmRequest).map((b) => b.data.messages.text as string);
    expect(requests.some((m) => m.includes('Create the marker file.'))).toBe(true);
    expect(requests.some((m) => m.includes('approved-ok'))).toBe(true);

    const decisions = of(AUDIT_EVENTS.approvalDecision);
    expect(decisions.map((d) => [d.turn ?? d.data.turn, d.data.decision, d.data.decider, d.data.gate])).toEqual([
      [0, 'approved', 'policy', 'pre_tool_use'],
      [1, 'approved', 'policy', 'pre_tool_use'],
      [2, 'refused', 'policy', 'pre_tool_use'],
    ]);
    for (const d of decisions) expect(d.data.binding_sha256).toMatch(/^[0-9a-f]{64}$/);
    const executed = of(AUDIT_EVENTS.commandExecuted);
    // Turn 0: Codex asked (touch is not "safe") and got `accept` for exactly the command the hook approved.
    expect(executed[0]!.data).toMatchObject({ gate: 'approval_request', answer: 'accept', decided_at: 'pre_tool_use' });
    expect(executed[0]!.data.command.text).toBe("/bin/bash -lc 'touch approved.txt && echo approved-ok'");
    // Turn 1: Codex ran `ls` without asking; the hook's approval is what let it run.
    expect(executed[1]!.data).toMatchObject({ gate: 'auto_approved', decided_at: 'pre_tool_use' });
    expect(executed).toHaveLength(2);
    const finals = of(AUDIT_EVENTS.commandOutput).filter((b) => b.data.final);
    expect(finals.map((f) => f.data.exit_code)).toEqual([0, 0]);
    const outputOf = (turn: number) => of(AUDIT_EVENTS.commandOutput).filter((b) => b.data.turn === turn).map((b) => b.data.output.text as string).join('');
    expect(outputOf(0)).toContain('approved-ok');
    // Codex 0.148.0 sometimes reports no output at all for a command that exits at once (no delta, no
    // aggregatedOutput; measured with a bare `ls`): a long listing is always seen — though in about one run in
    // five it was seen from mid-listing (cause not pinned down: Codex's delta stream or our recording), so the
    // check is for listing lines, not for an early name.
    expect(outputOf(1)).toMatch(/^[-l]rwx/m);
    // A `.codex` in a parent of the work dir (the machine's, not the session's) is reported as a config warning.
    expect(of(AUDIT_EVENTS.error).filter((e) => e.data.source === 'protocol' && e.data.type !== 'config_warning')).toEqual([]);
    // No tool the session's hook and approvals would not cover is offered to the model: no sub-agents, no web search.
    const offered = (s.model.requests[0] as { tools: Array<{ type: string; name?: string }> }).tools.map((t) => t.name ?? t.type);
    expect(offered).toContain('exec_command');
    expect(offered.filter((n) => /agent|web_search/.test(n))).toEqual([]);
  });

  it('Codex killed mid-command: the session ends process_died and the trail is complete', async () => {
    // The command ignores the hang-up it would get when its terminal goes away with Codex.
    const s = await session({ turns: [{ user: 'Run the long job.', replies: ["```shell\ntrap '' HUP; echo long-started && sleep 120\n```\n", 'Done.'] }] });
    const turn = s.agent.send('Run the long job.');
    await until(() => s.bodies().some((b) => b.event === AUDIT_EVENTS.commandExecuted), 'the command to start');
    // The running command (Codex runs it in a session of its own): it must not outlive the killed agent.
    await until(() => processTree(s.agent.pid).some((e) => e.pid !== s.agent.pid), 'the command process');
    await new Promise((r) => setTimeout(r, 1_500)); // one refresh of the adapter's view of the tree
    const below = processTree(s.agent.pid).map((e) => e.pid).filter((p) => p !== s.agent.pid);
    process.kill(s.agent.pid, 'SIGKILL');
    const result = await turn;
    expect(result.outcome).toBe('error');
    await s.agent.close();
    await until(() => below.every((p) => !isProcessAlive(p)), 'the agent\'s commands to be gone', 10_000);
    const bodies = s.bodies();
    expectCompleteTrail(bodies);
    expect(bodies.at(-2)!.data.outcome).toBe('process_died');
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'process_exit')).toBe(true);
  });

  it('upstream 500: recorded on the generation and as the turn error', async () => {
    const s = await session({ turns: [{ user: 'Hello?', replies: ['Hi.'] }] }, { http500: { requests: [1] } });
    const result = await s.agent.send('Hello?');
    await s.agent.close();
    expect(result.outcome).toBe('error');
    const errors = s.bodies().filter((b) => b.event === AUDIT_EVENTS.error);
    expect(errors.some((e) => e.data.source === 'llm' && e.data.type === 'upstream_500')).toBe(true);
    expect(errors.some((e) => e.data.source === 'server')).toBe(true);
    expectCompleteTrail(s.bodies());
  });

  it("a project's .codex/ config cannot weaken the session: approvals, the sandbox and oi-audit's hook hold, its own hook never runs", async () => {
    const marker = join(tmpdir(), `oi-rust-project-hook-${process.pid}-${Date.now()}`);
    const s = await session({ turns: [THREE_TURNS.turns[2]!] }, undefined, (workDir) => {
      mkdirSync(join(workDir, '.codex'));
      writeFileSync(join(workDir, '.codex', 'config.toml'), 'approval_policy = "never"\nsandbox_mode = "danger-full-access"\n[features]\nhooks = false\n');
      writeFileSync(join(workDir, '.codex', 'hooks.json'), JSON.stringify({ hooks: { PreToolUse: [{ matcher: '.*', hooks: [{ type: 'command', command: `touch ${marker}` }] }] } }));
      writeFileSync(join(workDir, CANARY), 'alive');
    });
    const result = await s.agent.send(THREE_TURNS.turns[2]!.user);
    await s.agent.close();
    expect(result.refused).toBe(1);
    expect(readFileSync(join(s.workDir, CANARY), 'utf8')).toBe('alive');
    expect(existsSync(marker)).toBe(false);
    const decisions = s.bodies().filter((b) => b.event === AUDIT_EVENTS.approvalDecision);
    expect(decisions.map((d) => [d.data.decision, d.data.gate])).toEqual([['refused', 'pre_tool_use']]);
  });

  it("the commands the agent runs never see the hook token or the session's proxy credential", async () => {
    const s = await session({ turns: [{ user: 'Show env.', replies: ["```shell\nenv | grep -E 'OI_AUDIT|oia_' || echo no-oi-audit-vars\n```\n", 'Done.'] }] });
    await s.agent.send('Show env.');
    await s.agent.close();
    const output = s.bodies().filter((b) => b.event === AUDIT_EVENTS.commandOutput).map((b) => b.data.output.text as string).join('');
    expect(output).toContain('no-oi-audit-vars');
    expect(output).not.toContain('OI_AUDIT');
  });

  it('hook socket gone: the hook denies (fail-closed), nothing runs, the denial is recorded', async () => {
    const s = await session({ turns: [{ user: 'Make the file.', replies: ['```shell\ntouch should-not-exist.txt\n```\n', 'Denied.'] }] });
    unlinkSync(s.agent.hookSocketPath);
    const result = await s.agent.send('Make the file.');
    await s.agent.close();
    expect(existsSync(join(s.workDir, 'should-not-exist.txt'))).toBe(false);
    expect(result.refused).toBe(1);
    const bodies = s.bodies();
    const denied = bodies.filter((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'hook_denied');
    expect(denied).toHaveLength(1);
    expect(denied[0]!.data.message.text).toContain('fail-closed');
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.commandExecuted)).toBe(false);
    // The model was told: the next LLM request carries the hook's denial.
    expect(bodies.filter((b) => b.event === AUDIT_EVENTS.llmRequest).some((b) => (b.data.messages.text as string).includes('fail-closed'))).toBe(true);
    expectCompleteTrail(bodies);
  });

  it('file changes (apply_patch through the shell tool): a benign patch approved, applied and checked on disk; a patch to authorized_keys refused and not applied', async () => {
    const note = 'hello from the patch';
    const keyLine = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest attacker@example';
    const script: Script = {
      turns: [
        { user: 'Add the notes file.', replies: [`Adding it.\n\n\`\`\`patch\n*** Begin Patch\n*** Add File: notes.txt\n+${note}\n*** End Patch\n\`\`\`\n`, 'Added.'] },
        { user: 'Authorize my key.', replies: [`\`\`\`patch\n*** Begin Patch\n*** Add File: .ssh/authorized_keys\n+${keyLine}\n*** End Patch\n\`\`\`\n`, 'Refused.'] },
      ],
    };
    const s = await session(script);
    const results = [];
    for (const turn of script.turns) results.push(await s.agent.send(turn.user));
    await s.agent.close();
    expect(results.map((r) => [r.outcome, r.executed, r.refused])).toEqual([
      ['complete', 1, 0],
      ['refused', 0, 1],
    ]);
    // What really changed on disk: the approved file with the approved content, no authorized_keys.
    expect(readFileSync(join(s.workDir, 'notes.txt'), 'utf8')).toBe(`${note}\n`);
    expect(existsSync(join(s.workDir, '.ssh', 'authorized_keys'))).toBe(false);

    const bodies = s.bodies();
    expectCompleteTrail(bodies);
    const of = (event: string) => bodies.filter((b) => b.event === event);
    const generated = of(AUDIT_EVENTS.codeGenerated);
    expect(generated.map((g) => g.data.language)).toEqual(['patch', 'patch']);
    const decisions = of(AUDIT_EVENTS.approvalDecision);
    expect(decisions.map((d) => [d.data.decision, d.data.decider, d.data.gate])).toEqual([
      ['approved', 'policy', 'pre_tool_use'],
      ['refused', 'policy', 'pre_tool_use'],
    ]);
    // The refusal names the persistence rule (a patch is judged as the writes it makes).
    expect(decisions[1]!.data.rules.some((r: string) => /^OIA-PERS-01?3|^OIA-PERS-004/.test(r))).toBe(true);
    expect(decisions[0]!.data.files.text).toBe(`add ${join(s.workDir, 'notes.txt')}`);

    const executed = of(AUDIT_EVENTS.commandExecuted);
    expect(executed).toHaveLength(1);
    const change = executed[0]!.data;
    expect(change).toMatchObject({ change: 'file', gate: 'approval_request', answer: 'accept', decided_at: 'pre_tool_use', language: 'patch' });
    expect(change.files).toEqual([{ kind: 'add', path: expect.objectContaining({ text: join(s.workDir, 'notes.txt') }) }]);
    expect(change.diff.text).toContain(note);
    expect(change.diff_sha256).toBe(change.diff.sha256);
    // The disk check: the file written, its hash that of the approved content.
    const writes = of(AUDIT_EVENTS.fileWrite);
    expect(writes.map((w) => [w.data.source, w.data.op, w.data.ok, w.data.sha256])).toEqual([
      ['disk_check', 'create', true, createHash('sha256').update(`${note}\n`).digest('hex')],
    ]);
    expect(of(AUDIT_EVENTS.groundTruthFinding)).toEqual([]);
    // A `.codex` in a parent of the work dir (the machine's, not the session's) is reported as a config warning.
    expect(of(AUDIT_EVENTS.error).filter((e) => e.data.source === 'protocol' && e.data.type !== 'config_warning')).toEqual([]);
  });

  it('file change content is recorded under the capture policy: redacted mode keeps the hash, not the secret', async () => {
    const secret = 'AKIAIOSFODNN7EXAMPLE';
    const script: Script = { turns: [{ user: 'Write the config.', replies: [`\`\`\`patch\n*** Begin Patch\n*** Add File: app.env\n+AWS_ACCESS_KEY_ID=${secret}\n*** End Patch\n\`\`\`\n`, 'Written.'] }] };
    const model = await startScriptedModel({ script });
    cleanups.push(() => model.close());
    const proxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'upstream-secret-key-for-test', requestTimeoutMs: 10_000 });
    cleanups.push(() => proxy.close());
    const h = inMemoryRecorder({ config: { capture: 'redacted' } });
    const workDir = mkdtempSync(join(tmpdir(), 'oi-rust-e2e-'));
    const approval = approvalFor('all');
    const agent = await AuditedRustInterpreter.start({ recorder: h.recorder, proxy, userId: 'e2e-user', model: 'scripted', approve: approval.hook, policyName: approval.name, workDir, turnIdleTimeoutMs: 60_000 });
    cleanups.push(() => agent.close());
    const result = await agent.send('Write the config.');
    await agent.close();
    expect(result.executed).toBe(1);
    expect(readFileSync(join(workDir, 'app.env'), 'utf8')).toContain(secret);
    const executed = h.bodies().filter((b) => b.event === AUDIT_EVENTS.commandExecuted);
    expect(executed).toHaveLength(1);
    expect(executed[0]!.data.diff.mode).toBe('redacted');
    expect(executed[0]!.data.diff.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(h.bodies())).not.toContain(secret);
  });

  // Codex's own sandbox lets commands read the whole disk: ours (contained-app-server.ts) is what keeps
  // oi-audit's key material and other processes' environments out of reach. These commands run (approval `all`),
  // so only the sandbox stands between them and the keys.
  it('contained: a command that cats the key files by path and walks /proc/*/environ gets nothing; a normal turn works; verify VALID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-rust-attack-'));
    const keys = join(dir, 'keys');
    const files = ['mac-seed', 'signing-key.pem', 'pseudonym-key'].map((f) => join(keys, f));
    const attack = `for f in ${files.join(' ')}; do echo "== $f"; cat "$f"; done; for e in /proc/[0-9]*/environ; do echo "== $e"; tr '\\0' '\\n' < "$e"; done; echo attack-done`;
    const script: Script = {
      turns: [
        { user: 'Read the keys.', replies: [`\`\`\`shell\n${attack}\n\`\`\`\n`, 'Tried.'] },
        { user: 'Say hello.', replies: ['```shell\necho normal-turn-ok && pwd\n```\n', 'Hello.'] },
      ],
    };
    const scriptPath = join(dir, 'script.json');
    writeFileSync(scriptPath, JSON.stringify(script));
    const out = join(dir, 'logs');
    const demo = await runCli(['demo', '--agent', 'rust', '--approve', 'all', '--script', scriptPath, '--out', out, '--keys', keys, '--json'], { cwd: dir, env: { OI_AUDIT_SANDBOX: 'bwrap' } });
    expect(demo.code, demo.stderr).toBe(0);
    const report = JSON.parse(demo.stdout) as { results: Array<{ outcome: string; executed: number }> };
    expect(report.results.map((r) => [r.outcome, r.executed])).toEqual([
      ['complete', 1],
      ['complete', 1],
    ]);
    const verify = await runCli(['verify', out, '--key', join(keys, 'mac-seed'), '--public-key', join(keys, 'signing-key.pub.pem')]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain('VALID');
    const view = await runCli(['view', out, '--json']);
    expect(view.code, view.stderr).toBe(0);
    // The attack ran (its output is in the trail) and the normal turn worked.
    expect(view.stdout).toContain('attack-done');
    expect(view.stdout).toContain('normal-turn-ok');
    // No key byte anywhere: not in the trail, not on the client. Each key's content, line by line (PEM bodies).
    const secrets = files.flatMap((f) => readFileSync(f, 'utf8').split('\n')).map((l) => l.trim()).filter((l) => l.length >= 16 && !l.startsWith('-----'));
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    for (const secret of secrets) {
      expect(view.stdout).not.toContain(secret);
      expect(demo.stdout + demo.stderr).not.toContain(secret);
    }
    // No other process's environment: no oi-audit variable (key paths, session credentials) was read.
    // The capture policy would redact key-like bytes anyway: what shows the sandbox held is that nothing was read.
    for (const f of files) expect(view.stdout).toContain(`cat: ${f}: No such file or directory`);
    expect(view.stdout).not.toMatch(/\[REDACTED:(private-key|high-entropy-hex)/);
    expect(view.stdout).not.toMatch(/OI_AUDIT_(MAC_SEED|SIGNING_KEY|PSEUDONYM_KEY|PROXY_KEY|HOOK_TOKEN)|oia_[0-9a-f]{16}/);
  });

  it('contained: a key file inside the work directory is masked (read-write bind), the rest of the directory is not', async () => {
    const secret = `mac-seed-canary-${process.pid}-${Date.now()}`;
    const saved = process.env.OI_AUDIT_MAC_SEED_FILE;
    let seedPath = '';
    try {
      const s = await session(
        { turns: [{ user: 'Read the seed.', replies: ['```shell\ncat notes.bin; cat visible.txt; echo read-done\n```\n', 'Done.'] }] },
        undefined,
        (workDir) => {
          seedPath = join(workDir, 'notes.bin');
          writeFileSync(seedPath, secret);
          writeFileSync(join(workDir, 'visible.txt'), 'visible-content');
          // ownSecretPaths reads the key files' locations from the environment when the sandbox is built.
          process.env.OI_AUDIT_MAC_SEED_FILE = seedPath;
        },
      );
      const result = await s.agent.send('Read the seed.');
      await s.agent.close();
      expect(result.executed).toBe(1);
      const text = JSON.stringify(s.bodies());
      expect(text).toContain('visible-content');
      expect(text).toContain('read-done');
      expect(text).not.toContain(secret);
      expect(readFileSync(seedPath, 'utf8')).toBe(secret);
    } finally {
      if (saved === undefined) delete process.env.OI_AUDIT_MAC_SEED_FILE;
      else process.env.OI_AUDIT_MAC_SEED_FILE = saved;
    }
  });

  it('contained: a command cannot remove or replace the hook socket; the next call still goes through the hook', async () => {
    const script: Script = {
      turns: [
        { user: 'Break the hook.', replies: ['```shell\nfor s in /tmp/oi-audit-hook-*/hook.sock; do rm -f "$s"; : > "$s.new" && mv -f "$s.new" "$s"; done; echo tamper-tried\n```\n', 'Tried.'] },
        { user: 'Make a file.', replies: ['```shell\ntouch after-tamper.txt && echo after-ok\n```\n', 'Made.'] },
      ],
    };
    const model = await startScriptedModel({ script });
    cleanups.push(() => model.close());
    const proxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'upstream-secret-key-for-test', requestTimeoutMs: 10_000 });
    cleanups.push(() => proxy.close());
    const h = inMemoryRecorder({ config: { capture: 'full' } });
    const workDir = mkdtempSync(join(tmpdir(), 'oi-rust-e2e-'));
    const approval = approvalFor('all');
    const agent = await AuditedRustInterpreter.start({ recorder: h.recorder, proxy, userId: 'e2e-user', model: 'scripted', approve: approval.hook, policyName: approval.name, workDir, turnIdleTimeoutMs: 60_000 });
    cleanups.push(() => agent.close());
    await agent.send('Break the hook.');
    expect(existsSync(agent.hookSocketPath)).toBe(true);
    const second = await agent.send('Make a file.');
    await agent.close();
    expect(second.executed).toBe(1);
    expect(existsSync(join(workDir, 'after-tamper.txt'))).toBe(true);
    const bodies = h.bodies();
    expect(JSON.stringify(bodies)).toContain('tamper-tried');
    // Both calls were decided by oi-audit through the hook (a replaced socket would have denied the second).
    const decisions = bodies.filter((b) => b.event === AUDIT_EVENTS.approvalDecision);
    expect(decisions.map((d) => [d.data.decision, d.data.gate])).toEqual([
      ['approved', 'pre_tool_use'],
      ['approved', 'pre_tool_use'],
    ]);
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'hook_denied')).toBe(false);
  });
});
