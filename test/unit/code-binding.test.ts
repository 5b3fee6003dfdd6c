import { describe, expect, it } from 'vitest';
import { bindToConfirmation, CODE_REWRITTEN_RULE, prepareAsOpenInterpreter } from '../../src/agents/classic/lmc/code-binding.js';
import { TurnDriver, type LmcTransport } from '../../src/agents/classic/lmc/turn-driver.js';
import type { LmcChunk } from '../../src/agents/session/lmc-chunk.js';
import { createSessionDetector } from '../../src/agents/session/detector.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const py = (code: string) => ({ language: 'python', code });

describe("Open Interpreter's block preparation, modelled (respond.py 0.4.3)", () => {
  it('unwraps a {"language","code"} JSON body into that language and code', () => {
    expect(prepareAsOpenInterpreter(py('\n{"language": "shell", "code": "rm -rf ~"}\n'))).toEqual({ block: { language: 'shell', code: 'rm -rf ~' } });
  });
  it('unwraps the {language: …, code: …} spelling, and functions.execute(…)', () => {
    expect(prepareAsOpenInterpreter(py('{language: "shell", code: "id"}'))).toEqual({ block: { language: 'shell', code: 'id' } });
    expect(prepareAsOpenInterpreter(py('functions.execute({"language": "shell", "code": "id"})'))).toEqual({ block: { language: 'shell', code: 'id' } });
  });
  it('leaves JSON with other keys, and ordinary code, as it is (language lower-cased and trimmed as OI does)', () => {
    expect(prepareAsOpenInterpreter(py('{"language": "shell", "code": "id", "x": 1}'))).toEqual({ block: py('{"language": "shell", "code": "id", "x": 1}') });
    expect(prepareAsOpenInterpreter({ language: ' Python ', code: 'print(1)\n' })).toEqual({ block: py('print(1)\n') });
  });
  it('drops executeexecute and a leading "`\\n"', () => {
    expect(prepareAsOpenInterpreter(py('print(1)executeexecute'))).toEqual({ block: py('print(1)') });
    expect(prepareAsOpenInterpreter(py('`\nprint(1)\n'))).toEqual({ block: py('print(1)') });
  });
  it('calls a body only Python can parse unpredictable', () => {
    expect(prepareAsOpenInterpreter(py('{"language": "shell", "code": "id", "n": NaN}'))).toHaveProperty('unpredictable');
  });
});

describe('bindToConfirmation', () => {
  it('a plain block is its own confirmation', () => {
    expect(bindToConfirmation(py('\nprint(6*7)\n'), py('\nprint(6*7)\n'))).toEqual({ confirmed: py('\nprint(6*7)\n') });
    expect(bindToConfirmation(py('print(6*7)'), undefined)).toEqual({ confirmed: py('print(6*7)') });
  });
  it('the JSON-smuggled shell command is what runs, and is reported as rewritten', () => {
    const proposal = py('\n{"language": "shell", "code": "rm -rf ~"}\n');
    const stored = { language: 'shell', code: 'rm -rf ~' };
    for (const b of [bindToConfirmation(proposal, stored), bindToConfirmation(proposal, undefined)]) {
      expect(b.confirmed).toEqual(stored);
      expect(b.rewritten).toMatch(/language \("python" → "shell"\) and its code/);
    }
  });
  it('nested JSON: the stored block still looks like Python, the second pass (on go) makes it shell', () => {
    const inner = JSON.stringify({ language: 'shell', code: 'echo nested' });
    const proposal = py(`\n${JSON.stringify({ language: 'python', code: inner })}\n`);
    const b = bindToConfirmation(proposal, py(inner));
    expect(b.confirmed).toEqual({ language: 'shell', code: 'echo nested' });
    expect(b.rewritten).toBeDefined();
  });
});

const complete: LmcChunk = { role: 'server', type: 'status', content: 'complete' };
const block = (language: string, code: string): LmcChunk[] => [
  { role: 'assistant', type: 'code', format: language, start: true },
  { role: 'assistant', type: 'code', format: language, content: code },
  { role: 'assistant', type: 'code', format: language, end: true },
  complete,
];

function driverWith(onUser: LmcChunk[], pendingBlock?: LmcTransport['pendingBlock']) {
  const h = inMemoryRecorder({ config: { capture: 'full' } });
  const session = h.recorder.openSession({ userId: 'u' });
  const sent: string[] = [];
  const asked: string[] = [];
  const transport: LmcTransport = {
    sendUserMessage: () => queueMicrotask(() => onUser.forEach((c) => driver.push(c))),
    sendCommand: (c) => {
      sent.push(c);
      if (c === 'go') queueMicrotask(() => driver.push(complete));
    },
    ...(pendingBlock ? { pendingBlock } : {}),
  };
  const driver = new TurnDriver(session, transport, {
    detect: createSessionDetector(),
    approve: async (b) => {
      asked.push(`${b.language}:${b.code}`);
      return { decision: 'approved', decider: 'policy' };
    },
  });
  return { h, driver, sent, asked };
}

describe('TurnDriver binds the approval to the confirmed code', () => {
  it('refuses a rewritten block without asking the hook or sending go; records the confirmed code, critical, OIA-GATE-001', async () => {
    const d = driverWith(block('python', '{"language": "shell", "code": "rm -rf ~"}'), async () => ({ language: 'shell', code: 'rm -rf ~' }));
    const result = await d.driver.runTurn('tidy');
    expect(result.outcome).toBe('refused');
    expect(result.refusals[0]).toMatchObject({ rules: [CODE_REWRITTEN_RULE] });
    expect(result.refusals[0]!.reason).toMatch(/^code\.rewritten: /);
    expect(d.sent).toEqual([]);
    expect(d.asked).toEqual([]);
    const generated = d.h.bodies().find((b) => b.event === AUDIT_EVENTS.codeGenerated)!;
    expect(generated.data).toMatchObject({ language: 'shell', risk: 'critical' });
    expect(generated.data.code.text).toBe('rm -rf ~');
    expect(generated.data.rules).toContain(CODE_REWRITTEN_RULE);
    // Detection ran on the confirmed code (the shell rm), not on the harmless-looking JSON.
    expect(generated.data.rules.length).toBeGreaterThan(1);
    expect(d.h.bodies().some((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'code_rewritten')).toBe(true);
  });
  it('refuses when Open Interpreter holds no block, or its history cannot be read (fail closed)', async () => {
    for (const pending of [async () => null, async () => Promise.reject(new Error('HTTP 500'))]) {
      const d = driverWith(block('python', 'print(1)'), pending);
      const result = await d.driver.runTurn('x');
      expect(result.outcome).toBe('refused');
      expect(d.sent).toEqual([]);
    }
  });
  it('approves and runs a block whose confirmation equals the proposal; a sent confirmation chunk is used as is', async () => {
    const d = driverWith(block('python', 'print(1)'), async () => py('print(1)'));
    expect((await d.driver.runTurn('x')).executed).toBe(1);
    expect(d.sent).toEqual(['go']);
    expect(d.asked).toEqual(['python:print(1)']);
    const chunks = block('python', 'print(2)');
    chunks.splice(3, 0, { role: 'computer', type: 'confirmation', format: 'execution', content: { type: 'code', format: 'shell', content: 'id' } });
    const e = driverWith(chunks, async () => py('print(2)'));
    expect((await e.driver.runTurn('x')).outcome).toBe('refused');
    expect(e.sent).toEqual([]);
  });
});
