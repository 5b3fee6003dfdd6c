import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/gateway.js';
import { isProcessAlive, processTree } from '../../src/agents/process/process-tree.js';
import { startScriptedModel, type Script } from '../../src/demo/scripted-model.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { runCli } from '../helpers/cli.js';
import { gatewayClient as client, masked, rawFrame, startGatewayCli } from '../helpers/gateway-client.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-approver-token-0123456789';
const SSH_CODE = 'import os\nprint(open(os.path.expanduser("~/.ssh/id_rsa")).read())';
/** Alice may chat; Bob may also approve. */
const users = () =>
  new Map([
    [ALICE, { userId: 'alice' }],
    [BOB, { userId: 'bob', roles: ['approver'] }],
  ]);

const SCRIPT: Script = {
  turns: [
    { user: 'Say hi.', replies: ['Hi.'] },
    { user: 'Show me my SSH key.', replies: [`Reading it.\n\n\`\`\`python\n${SSH_CODE}\n\`\`\`\n`, 'Done.'] },
  ],
};

async function gateway(extra: Partial<GatewayOptions> = {}) {
  const model = await startScriptedModel({ script: SCRIPT });
  cleanups.push(() => model.close());
  const h = inMemoryRecorder({ config: { capture: 'full' } });
  const gw: Gateway = await startGateway({
    recorder: h.recorder,
    users: users(),
    upstreamBaseUrl: model.url,
    model: 'scripted',
    policy: 'policy',
    session: { workDir: mkdtempSync(join(tmpdir(), 'oi-gw-')), chunkTimeoutMs: 60_000 },
    ...extra,
  });
  cleanups.push(() => gw.close());
  const security = () => h.bodies().filter((b) => b.session === gw.securityStreamId && b.event === AUDIT_EVENTS.error).map((b) => b.data);
  return { gw, h, security };
}

const waitUntil = async (cond: () => boolean, ms = 60_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** The built CLI's gateway env: its sink, and Alice's token. */
const gatewayEnv = (sink: string): Record<string, string> => ({ OI_AUDIT_SINK_DIR: sink, OI_AUDIT_GATEWAY_TOKENS: `${ALICE}=alice` });

/** Alice connects and finishes the first turn ("Say hi."). */
async function saidHi(url: string) {
  const c = client(url, ALICE);
  await c.waitFor((m) => m.type === 'ready');
  c.send({ type: 'user', content: 'Say hi.' });
  await c.waitFor((m) => m.type === 'turn_end');
  return c;
}

/**
 * A stopped gateway's sink verifies: both streams, the client's session and the gateway's security stream,
 * each ended and checkpointed. No keys are configured for these gateways: verified for consistency, and
 * said so (--allow-unauthenticated).
 */
async function expectBothStreamsValid(sink: string): Promise<void> {
  const verify = await runCli(['verify', sink, '--json', '--allow-unauthenticated']);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  const report = JSON.parse(verify.stdout);
  expect(report.summary.sessions).toBe(2);
  expect(report.summary.valid).toBe(2);
}

/** Open Interpreter processes (and their children) started by this test process. */
const interpreterPids = () => processTree(process.pid).filter((e) => e.pid !== process.pid).map((e) => e.pid);

describe('the gateway holds (real Open Interpreter 0.4.3 behind it)', () => {
  it('each malformed frame class closes only that connection, with a security event; the gateway serves the next client', async () => {
    const { gw, security } = await gateway({ limits: { maxMessageBytes: 1024 } });
    const classes: Array<[string, Buffer, string, string]> = [
      ['too long', masked(0x1, Buffer.alloc(2000, 0x61)), 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', '\x88\x02\x03\xf1'],
      ['invalid UTF-8', masked(0x1, Buffer.from([0xc3, 0x28])), 'WS_ERR_INVALID_UTF8', '\x88\x02\x03\xef'],
      ['bad opcode', masked(0x3, Buffer.alloc(0)), 'WS_ERR_INVALID_OPCODE', '\x88\x02\x03\xea'],
      ['unmasked', Buffer.from([0x81, 0x02, 0x68, 0x69]), 'WS_ERR_EXPECTED_MASK', '\x88\x02\x03\xea'],
    ];
    for (const [, frame, , closeFrame] of classes) {
      const reply = await rawFrame(gw.port, ALICE, frame);
      expect(reply).toContain('101 Switching Protocols');
      expect(reply.endsWith(closeFrame) || reply.includes(closeFrame)).toBe(true);
    }
    await waitUntil(() => gw.activeSessions === 0);
    const codes = security().filter((e) => e.type === 'malformed_frame').map((e) => e.ws_error);
    expect(codes.sort()).toEqual(classes.map((c) => c[2]).sort());
    const c = client(gw.url, ALICE);
    await c.waitFor((m) => m.type === 'ready');
    c.send({ type: 'user', content: 'Say hi.' });
    expect((await c.waitFor((m) => m.type === 'turn_end')).result.outcome).toBe('complete');
    c.ws.close();
  });

  it('50 parallel connections over a limit of 10: 10 sessions, 40 refused with the reason and close code 1013; refused Origin and bad tokens', async () => {
    const { gw, security } = await gateway({ limits: { maxSessions: 10, maxSessionsPerToken: 50 } });
    const evil = client(gw.url, ALICE, { origin: 'http://evil.example' });
    expect((await evil.errored).message).toMatch(/403/);
    const stranger = client(gw.url, 'not-a-token-at-all');
    expect((await stranger.errored).message).toMatch(/401/);
    const types = security().map((e) => e.type);
    expect(types).toContain('origin_refused');
    expect(types).toContain('auth_failed');
    expect(JSON.stringify(security())).not.toContain('not-a-token-at-all');
    const clients = Array.from({ length: 50 }, () => client(gw.url, ALICE));
    const results = await Promise.all(clients.map((c) => Promise.race([c.closed.then((x) => ({ ...x, refused: true })), c.opened.then(() => new Promise((r) => setTimeout(r, 3000))).then(() => ({ code: 0, reason: '', refused: false }))])));
    const refused = results.filter((r) => r.refused && r.code === 1013);
    expect(refused).toHaveLength(40);
    for (const c of clients.filter((_, i) => results[i]!.refused)) expect(c.messages[0]).toMatchObject({ type: 'error', code: 'limit' });
    expect(gw.activeSessions).toBe(10);
    for (const c of clients) c.ws.close();
    await waitUntil(() => gw.activeSessions === 0);
    expect(security().filter((e) => e.type === 'limit_refused').length).toBeGreaterThan(0);

    expect(gw.activeSessions).toBe(0);
  });

  it('an early message is queued; a held block cannot be approved by its requester, only by an approver, who is recorded', async () => {
    const { gw, h, security } = await gateway();
    const alice = client(gw.url, ALICE);
    await alice.opened;
    alice.send({ type: 'user', content: 'Say hi.' }); // before ready
    const ready = await alice.waitFor((m) => m.type === 'ready');
    expect(alice.messages.indexOf(ready)).toBe(0);
    expect((await alice.waitFor((m) => m.type === 'turn_end')).result.outcome).toBe('complete');
    const bob = client(gw.url, BOB);
    await bob.waitFor((m) => m.type === 'ready');
    alice.send({ type: 'user', content: 'Show me my SSH key.' });
    const request = await alice.waitFor((m) => m.type === 'approval_request');
    expect(request.can_approve).toBe(false);
    alice.send({ type: 'approval', id: request.id, decision: 'approved' });
    expect(await alice.waitFor((m) => m.type === 'error')).toMatchObject({ code: 'not_allowed' });
    expect(security().some((e) => e.type === 'approval_not_allowed')).toBe(true);
    const forBob = await bob.waitFor((m) => m.type === 'approval_request' && m.id === request.id);
    expect(forBob.can_approve).toBe(true);
    bob.send({ type: 'approval', id: request.id, decision: 'approved' });
    const end = await alice.waitFor((m) => m.type === 'turn_end' && m.result.executed === 1);
    expect(end.result.outcome).toBe('complete');
    const decision = h.bodies().find((b) => b.event === AUDIT_EVENTS.approvalDecision && b.data.decision === 'approved' && b.data.decider === 'user')!;
    expect(decision.data.approver).toBe(h.recorder.pseudonymizer.pseudonymize('bob'));
    alice.ws.close();
    bob.ws.close();
  });

  it('a refused block reaches the client with its reason and rule ids', async () => {
    const { gw } = await gateway();
    const alice = client(gw.url, ALICE);
    await alice.waitFor((m) => m.type === 'ready');
    alice.send({ type: 'user', content: 'Show me my SSH key.' }); // high: held; no approver connected → times out
    const request = await alice.waitFor((m) => m.type === 'approval_request');
    alice.send({ type: 'approval', id: request.id, decision: 'refused' });
    const end = await alice.waitFor((m) => m.type === 'turn_end');
    expect(end.result.outcome).toBe('refused');
    expect(end.result.refusals[0].reason).toMatch(/refused/);
    expect(end.result.refusals[0].rules).toContain('OIA-CRED-001');
    alice.ws.close();
  });

  it('a client that disconnects during startup leaves no process behind (checked by PID) and its session ends', async () => {
    const { gw, h } = await gateway();
    const before = new Set(interpreterPids());
    const c = client(gw.url, ALICE);
    await c.opened;
    await waitUntil(() => interpreterPids().some((p) => !before.has(p)));
    const pids = interpreterPids().filter((p) => !before.has(p));
    c.ws.close();
    await waitUntil(() => gw.activeSessions === 0);
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
    const ends = h.bodies().filter((b) => b.event === AUDIT_EVENTS.sessionEnd && b.session !== gw.securityStreamId);
    expect(ends).toHaveLength(1);
    expect(ends[0]!.data.outcome).toBe('aborted');
  });

  it('SIGTERM with a connected client: the built CLI exits 0 and every session verifies', async () => {
    const model = await startScriptedModel({ script: SCRIPT });
    cleanups.push(() => model.close());
    const sink = mkdtempSync(join(tmpdir(), 'oi-gw-sink-'));
    const gw = await startGatewayCli(['--port', '0', '--upstream', model.url, '--model', 'scripted'], gatewayEnv(sink), cleanups);
    await saidHi(gw.url);
    gw.child.kill('SIGTERM');
    expect(await gw.exited, gw.stderr()).toEqual({ code: 0, signal: null });
    expect(readdirSync(sink).length).toBeGreaterThan(0);
    await expectBothStreamsValid(sink);
  });
});

// --- `--agent rust`: the same gateway, client protocol and approvals over the real Codex 0.148.0 app-server ---

const RUST_CANARY = 'canary.txt';
const RUST_SCRIPT: Script = {
  turns: [
    { user: 'Say hi.', replies: ['Hi from the Rust agent.'] },
    { user: 'Show me my SSH key.', replies: ['Reading it.\n\n```shell\ncat ~/.ssh/id_rsa; sleep 1; echo read-attempted\n```\n', 'Done.'] },
    { user: 'Show me the AWS credentials.', replies: [`\`\`\`shell\ncat ~/.aws/credentials; rm -f ${RUST_CANARY}\n\`\`\`\n`, 'Refused.'] },
  ],
};

async function rustGateway(extra: Partial<GatewayOptions> = {}) {
  const model = await startScriptedModel({ script: RUST_SCRIPT });
  cleanups.push(() => model.close());
  const h = inMemoryRecorder({ config: { capture: 'full' } });
  const workDir = mkdtempSync(join(tmpdir(), 'oi-gw-rust-'));
  writeFileSync(join(workDir, RUST_CANARY), 'alive');
  const gw: Gateway = await startGateway({
    recorder: h.recorder,
    agent: 'rust',
    users: users(),
    upstreamBaseUrl: model.url,
    upstreamApiKey: 'upstream-secret-key-for-gateway-test',
    model: 'scripted',
    policy: 'policy',
    session: { workDir, chunkTimeoutMs: 60_000 },
    ...extra,
  });
  cleanups.push(() => gw.close());
  const sessionBodies = () => h.bodies().filter((b) => b.session !== gw.securityStreamId);
  return { gw, h, workDir, sessionBodies };
}

describe('the gateway with --agent rust (real Codex 0.148.0 behind it)', () => {
  it('same protocol: queued message, LMC chunks, a held command only an approver can approve (recorded), a refusal with reason and rules, nothing refused runs', async () => {
    const { gw, h, workDir, sessionBodies } = await rustGateway();
    const alice = client(gw.url, ALICE);
    await alice.opened;
    alice.send({ type: 'user', content: 'Say hi.' }); // before ready: queued
    const ready = await alice.waitFor((m) => m.type === 'ready');
    expect(alice.messages.indexOf(ready)).toBe(0);
    expect((await alice.waitFor((m) => m.type === 'turn_end')).result.outcome).toBe('complete');
    // The agent's words reach the client as LMC chunks, as with the classic agent.
    const said = alice.messages.filter((m) => m.type === 'lmc' && m.chunk.role === 'assistant' && m.chunk.type === 'message').map((m) => m.chunk.content).join('');
    expect(said).toContain('Hi from the Rust agent.');

    const bob = client(gw.url, BOB);
    await bob.waitFor((m) => m.type === 'ready');
    alice.send({ type: 'user', content: 'Show me my SSH key.' });
    const request = await alice.waitFor((m) => m.type === 'approval_request');
    expect(request.block.code).toContain('cat ~/.ssh/id_rsa');
    expect(request.can_approve).toBe(false);
    alice.send({ type: 'approval', id: request.id, decision: 'approved' });
    expect(await alice.waitFor((m) => m.type === 'error')).toMatchObject({ code: 'not_allowed' });
    const forBob = await bob.waitFor((m) => m.type === 'approval_request' && m.id === request.id);
    expect(forBob.can_approve).toBe(true);
    bob.send({ type: 'approval', id: request.id, decision: 'approved' });
    const end = await alice.waitFor((m) => m.type === 'turn_end' && m.result.executed === 1);
    expect(end.result.outcome).toBe('complete');
    // The command does not exit at once: Codex 0.148.0 sometimes reports no output at all for one that does
    // (no delta, no aggregatedOutput; see rust-agent.test.ts), and then there is nothing to show.
    expect(alice.messages.some((m) => m.type === 'lmc' && m.chunk.role === 'computer' && String(m.chunk.content ?? '').includes('read-attempted'))).toBe(true);

    alice.send({ type: 'user', content: 'Show me the AWS credentials.' });
    const held = await alice.waitFor((m) => m.type === 'approval_request' && m.id !== request.id);
    alice.send({ type: 'approval', id: held.id, decision: 'refused' }); // refusing one's own is always allowed
    const refused = await alice.waitFor((m) => m.type === 'turn_end' && m.result.refused === 1);
    expect(refused.result.outcome).toBe('refused');
    expect(refused.result.refusals[0].reason).toMatch(/refused/);
    expect(refused.result.refusals[0].rules.some((r: string) => r.startsWith('OIA-CRED'))).toBe(true);
    expect(readFileSync(join(workDir, RUST_CANARY), 'utf8')).toBe('alive');

    // Settings never reach the agent.
    alice.send({ type: 'settings', settings: { auto_run: true } });
    expect((await alice.waitFor((m) => m.type === 'settings_refused')).keys).toEqual(['auto_run']);
    alice.ws.close();
    bob.ws.close();
    await waitUntil(() => gw.activeSessions === 0);

    const bodies = sessionBodies();
    const aliceSession = ready.session as string;
    const of = (event: string) => bodies.filter((b) => b.session === aliceSession && b.event === event);
    expect(of(AUDIT_EVENTS.sessionStart)[0]!.data).toMatchObject({ agent: 'codex', agent_binary: { kind: 'codex' } });
    const decisions = of(AUDIT_EVENTS.approvalDecision);
    expect(decisions.map((d) => [d.data.decision, d.data.decider, d.data.gate])).toEqual([
      ['approved', 'user', 'pre_tool_use'],
      ['refused', 'user', 'pre_tool_use'],
    ]);
    expect(decisions[0]!.data.approver).toBe(h.recorder.pseudonymizer.pseudonymize('bob'));
    expect(decisions[0]!.data.binding_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(of(AUDIT_EVENTS.commandExecuted)).toHaveLength(1);
    expect(of(AUDIT_EVENTS.settingsRefused)).toHaveLength(1);
    expect(of(AUDIT_EVENTS.sessionEnd)[0]!.data.outcome).toBe('complete');
  });

  it('a client that disconnects while its command is held: the hold ends refused, the session ends aborted, the agent process is gone (checked by PID)', async () => {
    const { gw, sessionBodies } = await rustGateway();
    const before = new Set(interpreterPids());
    const c = client(gw.url, ALICE);
    const ready = await c.waitFor((m) => m.type === 'ready');
    const pids = interpreterPids().filter((p) => !before.has(p));
    expect(pids.length).toBeGreaterThan(0);
    // Held (no approver is connected): the turn waits inside Codex's PreToolUse hook.
    c.send({ type: 'user', content: 'Show me my SSH key.' });
    await c.waitFor((m) => m.type === 'approval_request');
    c.ws.close();
    await waitUntil(() => gw.activeSessions === 0);
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
    const bodies = sessionBodies().filter((b) => b.session === ready.session);
    expect(bodies.map((b) => b.seq)).toEqual(bodies.map((_, i) => i));
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'client_disconnected')).toBe(true);
    expect(bodies.filter((b) => b.event === AUDIT_EVENTS.approvalDecision).map((b) => b.data.decision)).toEqual(['refused']);
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.commandExecuted)).toBe(false);
    expect(bodies.at(-2)!.event).toBe(AUDIT_EVENTS.sessionEnd);
    expect(bodies.at(-2)!.data.outcome).toBe('aborted');
    expect(bodies.at(-1)!.event).toBe(AUDIT_EVENTS.integrityCheckpoint);
  });

  it('gateway --agent: an unknown agent or a missing --work-root is a usage error (exit 2) before anything listens', async () => {
    const env = { OI_AUDIT_GATEWAY_TOKENS: `${ALICE}=alice` };
    const bogus = await runCli(['gateway', '--agent', 'perl', '--upstream', 'http://127.0.0.1:9/v1', '--port', '0'], { env });
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/classic|rust/);
    const missing = await runCli(['gateway', '--agent', 'rust', '--work-root', join(tmpdir(), 'oi-gw-no-such-dir-0'), '--upstream', 'http://127.0.0.1:9/v1', '--port', '0'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--work-root');
    expect(bogus.stderr + missing.stderr).not.toContain('listening');
  });

  it('gateway --agent rust: SIGTERM with a connected client mid-turn (a command held), the built CLI exits 0 and every session verifies', async () => {
    const model = await startScriptedModel({ script: RUST_SCRIPT });
    cleanups.push(() => model.close());
    const dir = mkdtempSync(join(tmpdir(), 'oi-gw-rust-sink-'));
    const sink = join(dir, 'logs');
    const gw = await startGatewayCli(
      ['--agent', 'rust', '--work-root', dir, '--port', '0', '--upstream', model.url, '--model', 'scripted'],
      gatewayEnv(sink),
      cleanups,
      /listening on (ws:\/\/\S+) \(agent rust/,
    );
    const c = await saidHi(gw.url);
    c.send({ type: 'user', content: 'Show me my SSH key.' });
    await c.waitFor((m) => m.type === 'approval_request');
    gw.child.kill('SIGTERM');
    expect(await gw.exited, gw.stderr()).toEqual({ code: 0, signal: null });
    // The session worked in its own directory under --work-root.
    expect(readdirSync(dir).some((n) => n.startsWith('oi-audit-gateway-'))).toBe(true);
    await expectBothStreamsValid(sink);
  });
});
