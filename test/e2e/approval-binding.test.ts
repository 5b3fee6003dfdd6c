import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { approvalFor } from '../../src/approval/modes.js';
import { AuditedInterpreter } from '../../src/agents/classic/audited-interpreter.js';
import { startLlmProxy } from '../../src/llm-proxy/proxy.js';
import { startScriptedModel, type Script } from '../../src/demo/scripted-model.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function session(script: Script, mode: 'all' | 'policy') {
  const model = await startScriptedModel({ script });
  cleanups.push(() => model.close());
  const proxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'k', requestTimeoutMs: 10_000 });
  cleanups.push(() => proxy.close());
  const h = inMemoryRecorder({ config: { capture: 'full' } });
  const approval = approvalFor(mode);
  const interpreter = await AuditedInterpreter.start({
    recorder: h.recorder,
    proxy,
    userId: 'e2e-user',
    model: 'scripted',
    approve: approval.hook,
    policyName: approval.name,
    workDir: mkdtempSync(join(tmpdir(), 'oi-bind-')),
    chunkTimeoutMs: 60_000,
    // The canaries live on the host, outside any sandbox workspace: this file tests the binding alone, so
    // without the sandbox a refused block that ran anyway would really delete them (containment.test.ts
    // tests the sandbox).
    containment: { sandbox: 'none', groundTruth: 'off' },
  });
  cleanups.push(() => interpreter.close());
  return { interpreter, ...h };
}

function canary(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'oi-canary-'));
  mkdirSync(join(dir, 'sub'));
  const file = join(dir, 'sub', 'canary.txt');
  writeFileSync(file, 'alive');
  return { dir, file };
}

describe('approval is bound to the code Open Interpreter will run (real 0.4.3)', () => {
  it('refuses a python block whose body is JSON that Open Interpreter rewrites into a shell command; the canary survives', async () => {
    const c = canary();
    const body = JSON.stringify({ language: 'shell', code: `rm -rf ${c.dir}` });
    const user = 'Tidy up.';
    const s = await session({ turns: [{ user, replies: [`Sure.\n\n\`\`\`python\n${body}\n\`\`\`\n`, 'Done.'] }] }, 'all');
    const result = await s.interpreter.send(user);
    await s.interpreter.close();
    expect(existsSync(c.file)).toBe(true);
    expect(result.outcome).toBe('refused');
    const bodies = s.bodies();
    const generated = bodies.find((b) => b.event === AUDIT_EVENTS.codeGenerated)!;
    expect(generated.data.risk).toBe('critical');
    expect(generated.data.rules).toContain('OIA-GATE-001');
    expect(generated.data.language).toBe('shell');
    expect(generated.data.code.text).toBe(`rm -rf ${c.dir}`);
    expect(bodies.some((b) => b.event === AUDIT_EVENTS.commandExecuted)).toBe(false);
    expect(result.refusals[0]!.rules).toEqual(['OIA-GATE-001']);
  });

  it('refuses nested JSON that only the second pass (on go) turns into shell: the canary survives', async () => {
    const c = canary();
    const inner = JSON.stringify({ language: 'shell', code: `rm -rf ${c.dir}` });
    // "Python": OI strips the block's language name ("python", case-sensitive) from every streamed delta.
    const body = JSON.stringify({ language: 'Python', code: inner });
    const user = 'Tidy up twice.';
    const s = await session({ turns: [{ user, replies: [`Sure.\n\n\`\`\`python\n${body}\n\`\`\`\n`, 'Done.'] }] }, 'all');
    const result = await s.interpreter.send(user);
    await s.interpreter.close();
    expect(existsSync(c.file)).toBe(true);
    expect(result.outcome).toBe('refused');
    expect(s.bodies().some((b) => b.event === AUDIT_EVENTS.commandExecuted)).toBe(false);
  });

  it('runs a block whose confirmation equals the proposal, as before: the code recorded and hashed is the code that ran', async () => {
    const c = canary();
    const code = `import os\nos.remove(${JSON.stringify(c.file)})\nprint("removed-ok")`;
    const user = 'Remove the canary.';
    const s = await session({ turns: [{ user, replies: [`Removing it.\n\n\`\`\`python\n${code}\n\`\`\`\n`, 'Removed.'] }] }, 'all');
    const result = await s.interpreter.send(user);
    await s.interpreter.close();
    expect(result).toMatchObject({ outcome: 'complete', executed: 1, refused: 0 });
    expect(existsSync(c.file)).toBe(false);
    const bodies = s.bodies();
    const executed = bodies.find((b) => b.event === AUDIT_EVENTS.commandExecuted)!;
    expect(executed.data.code.text.trim()).toBe(code);
    expect(bodies.map((b) => b.data?.output?.text ?? '').join('')).toContain('removed-ok');
  });
});
