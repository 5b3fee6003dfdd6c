import { describe, expect, it } from 'vitest';
import { TurnDriver, type LmcTransport } from '../../src/agents/classic/lmc/turn-driver.js';
import type { LmcChunk } from '../../src/agents/session/lmc-chunk.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const complete: LmcChunk = { role: 'server', type: 'status', content: 'complete' };

function codeBlock(language: string, code: string): LmcChunk[] {
  return [
    { role: 'assistant', type: 'message', start: true },
    { role: 'assistant', type: 'message', content: 'Let me run this.' },
    { role: 'assistant', type: 'message', end: true },
    { role: 'assistant', type: 'code', format: language, start: true },
    { role: 'assistant', type: 'code', format: language, content: code },
    { role: 'assistant', type: 'code', format: language, end: true },
    complete,
  ];
}

function console_(output: string): LmcChunk[] {
  return [
    { role: 'computer', type: 'console', start: true },
    { role: 'computer', type: 'console', format: 'active_line', content: 1 },
    { role: 'computer', type: 'console', format: 'output', content: output },
    { role: 'computer', type: 'console', format: 'active_line', content: null },
    { role: 'computer', type: 'console', end: true },
    { role: 'assistant', type: 'message', start: true },
    { role: 'assistant', type: 'message', content: 'Done.' },
    { role: 'assistant', type: 'message', end: true },
    complete,
  ];
}

/** A scripted Open Interpreter server at the LMC level: answers a user turn, and `go`, with chunks. */
function fakeServer(onUser: LmcChunk[], onGo: LmcChunk[]) {
  const sent: string[] = [];
  let driver!: TurnDriver;
  const transport: LmcTransport = {
    sendUserMessage(text) {
      sent.push(`user:${text}`);
      queueMicrotask(() => onUser.forEach((c) => driver.push(c)));
    },
    sendCommand(command) {
      sent.push(command);
      if (command === 'go') queueMicrotask(() => onGo.forEach((c) => driver.push(c)));
    },
  };
  return { transport, sent, attach: (d: TurnDriver) => (driver = d) };
}

describe('TurnDriver', () => {
  it('holds the block for approval, sends go only when approved, and records output', async () => {
    const h = inMemoryRecorder({ config: { capture: 'full' } });
    const session = h.recorder.openSession({ userId: 'u' });
    const server = fakeServer(codeBlock('python', 'print(6*7)'), console_('42\n'));
    const seen: string[] = [];
    const driver = new TurnDriver(session, server.transport, {
      approve: async (block) => {
        seen.push(`${block.language}:${block.code}:${block.codeSha256.slice(0, 8)}`);
        return { decision: 'approved', decider: 'policy' };
      },
    });
    server.attach(driver);
    const result = await driver.runTurn('compute');
    expect(result).toMatchObject({ outcome: 'complete', executed: 1, refused: 0 });
    expect(server.sent).toEqual(['user:compute', 'go']);
    expect(seen).toHaveLength(1);
    const events = h.bodies().map((b) => b.event);
    expect(events).toEqual(expect.arrayContaining([AUDIT_EVENTS.codeGenerated, AUDIT_EVENTS.approvalDecision, AUDIT_EVENTS.commandExecuted, AUDIT_EVENTS.commandOutput]));
    const out = h.bodies().find((b) => b.event === AUDIT_EVENTS.commandOutput)!;
    expect(out.data.output.text).toBe('42\n');
    expect(h.bodies().filter((b) => b.event === AUDIT_EVENTS.assistantMessage).map((b) => b.data.content.text)).toEqual(['Let me run this.', 'Done.']);
    session.end();
  });

  it('never sends go for a refused block and ends the turn as refused', async () => {
    const h = inMemoryRecorder();
    const session = h.recorder.openSession({ userId: 'u' });
    const server = fakeServer(codeBlock('shell', 'rm -rf ~'), console_('should not run'));
    const driver = new TurnDriver(session, server.transport, { approve: async () => ({ decision: 'refused', decider: 'policy', reason: 'no' }) });
    server.attach(driver);
    const result = await driver.runTurn('clean up');
    expect(result).toMatchObject({ outcome: 'refused', executed: 0, refused: 1 });
    expect(server.sent).toEqual(['user:clean up']);
    expect(h.bodies().map((b) => b.event)).not.toContain(AUDIT_EVENTS.commandExecuted);
    session.end();
  });

  it('refuses with reason "audit unavailable" when fail-closed and the sink is unhealthy', async () => {
    const h = inMemoryRecorder();
    const session = h.recorder.openSession({ userId: 'u' });
    const server = fakeServer(codeBlock('python', 'print(1)'), console_('1\n'));
    let asked = false;
    const driver = new TurnDriver(session, server.transport, {
      approve: async () => {
        asked = true;
        return { decision: 'approved', decider: 'policy' };
      },
      auditHealthy: () => false,
    });
    server.attach(driver);
    await driver.runTurn('x');
    expect(asked).toBe(false);
    const decision = h.bodies().find((b) => b.event === AUDIT_EVENTS.approvalDecision)!;
    expect(decision.data).toMatchObject({ decision: 'refused', decider: 'fail_closed', reason: 'audit unavailable' });
    session.end();
  });

  it('flags a failing command from its output and records the error text', async () => {
    const h = inMemoryRecorder({ config: { capture: 'full' } });
    const session = h.recorder.openSession({ userId: 'u' });
    const server = fakeServer(codeBlock('shell', 'ls /nope'), console_('ls: cannot access \'/nope\': No such file or directory\n'));
    const driver = new TurnDriver(session, server.transport, { approve: async () => ({ decision: 'approved', decider: 'user' }) });
    server.attach(driver);
    await driver.runTurn('list');
    const error = h.bodies().find((b) => b.event === AUDIT_EVENTS.error)!;
    expect(error.data).toMatchObject({ source: 'execution', type: 'execution_error' });
    expect(error.data.message.text).toContain('No such file or directory');
    session.end();
  });

  it('records server errors, unknown chunk types, and a connection lost mid-turn without hanging', async () => {
    const h = inMemoryRecorder({ config: { capture: 'full' } });
    const session = h.recorder.openSession({ userId: 'u' });
    const transport: LmcTransport = {
      sendUserMessage() {
        queueMicrotask(() => {
          driver.push({ role: 'server', type: 'error', content: 'Traceback: boom' });
          driver.push({ role: 'alien', type: 'thing', content: 1 });
          driver.close('socket closed');
        });
      },
      sendCommand() {},
    };
    const driver = new TurnDriver(session, transport, { approve: async () => ({ decision: 'approved', decider: 'user' }) });
    const result = await driver.runTurn('hi');
    expect(result.outcome).toBe('error');
    const errors = h.bodies().filter((b) => b.event === AUDIT_EVENTS.error).map((b) => b.data.type);
    expect(errors).toEqual(['server_error', 'unknown_chunk', 'connection_lost']);
    session.end();
  });

  it('stops a turn that goes silent, after the chunk timeout', async () => {
    const h = inMemoryRecorder();
    const session = h.recorder.openSession({ userId: 'u' });
    const sent: string[] = [];
    const driver = new TurnDriver(session, { sendUserMessage() {}, sendCommand: (c) => void sent.push(c) }, {
      approve: async () => ({ decision: 'approved', decider: 'user' }),
      chunkTimeoutMs: 50,
    });
    const result = await driver.runTurn('hello?');
    expect(result.outcome).toBe('stopped');
    expect(sent).toEqual(['stop']);
    session.end();
  });
});
