/**
 * The real Open Interpreter 0.4.3 (litellm 1.83) through the audit proxy to a provider stand-in (the
 * scripted model) for each provider: OpenAI in text mode and in tool-calling mode, Azure OpenAI,
 * Anthropic, Ollama (generate and chat). Per provider: the request reaches the provider's own route
 * with its own auth header carrying the real upstream key, the code runs, the trail holds provider,
 * model and token usage as the stand-in sent them, no key is in anything exported, and the session key
 * Open Interpreter uses is in its environment, never on any command line.
 */
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startScriptedModel, type Script } from '../../src/demo/scripted-model.js';
import { startLlmProxy, type LlmProxy } from '../../src/llm-proxy/proxy.js';
import { approvalFor } from '../../src/approval/modes.js';
import { AuditedInterpreter } from '../../src/agents/classic/audited-interpreter.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const UPSTREAM_KEY = 'sk-upstream-e2e-PROVIDERS-9f8e7d6c5b4a';
const USER = 'Print the provider token.';

const TEXT_SCRIPT: Script = {
  turns: [{ user: USER, replies: ['Printing it.\n\n```python\nprint("prov-token", 6*7)\n```\n', 'It printed prov-token 42.'] }],
};
const TOOL_SCRIPT: Script = {
  turns: [{ user: USER, replies: [{ content: 'Printing it with the tool.', tool_call: { language: 'python', code: 'print("prov-token", 6*7)' } }, 'It printed prov-token 42.'] }],
};

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

/** Every command line and (for processes we may read) environment on the machine. */
function processes(): Array<{ cmdline: string; environ: string }> {
  const out: Array<{ cmdline: string; environ: string }> = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let cmdline = '';
    let environ = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      // gone, or not ours
    }
    out.push({ cmdline, environ });
  }
  return out;
}

interface ProviderCase {
  name: string;
  model: string;
  toolCalling: 'on' | 'off';
  script: Script;
  provider: string;
  /** Route the stand-in must see (path, without query). */
  path: string;
  authHeader: string;
  authValue: string;
  /** The model the stand-in is asked for (and answers with). */
  upstreamModel: string;
  /** Provider key variable Open Interpreter must get the session key in. */
  keyVar: string;
}

const CASES: ProviderCase[] = [
  { name: 'OpenAI, text mode', model: 'gpt-4o-mini', toolCalling: 'off', script: TEXT_SCRIPT, provider: 'openai', path: '/v1/chat/completions', authHeader: 'authorization', authValue: `Bearer ${UPSTREAM_KEY}`, upstreamModel: 'gpt-4o-mini', keyVar: 'OPENAI_API_KEY' },
  { name: 'OpenAI, tool-calling mode', model: 'gpt-4o-mini', toolCalling: 'on', script: TOOL_SCRIPT, provider: 'openai', path: '/v1/chat/completions', authHeader: 'authorization', authValue: `Bearer ${UPSTREAM_KEY}`, upstreamModel: 'gpt-4o-mini', keyVar: 'OPENAI_API_KEY' },
  { name: 'Azure OpenAI', model: 'azure/oi-dep', toolCalling: 'off', script: TEXT_SCRIPT, provider: 'azure.ai.openai', path: '/openai/deployments/oi-dep/chat/completions', authHeader: 'api-key', authValue: UPSTREAM_KEY, upstreamModel: 'oi-dep', keyVar: 'AZURE_API_KEY' },
  { name: 'Anthropic', model: 'anthropic/claude-3-5-sonnet-20241022', toolCalling: 'on', script: TOOL_SCRIPT, provider: 'anthropic', path: '/v1/messages', authHeader: 'x-api-key', authValue: UPSTREAM_KEY, upstreamModel: 'claude-3-5-sonnet-20241022', keyVar: 'ANTHROPIC_API_KEY' },
  { name: 'Ollama (generate)', model: 'ollama/llama3.1', toolCalling: 'off', script: TEXT_SCRIPT, provider: 'ollama', path: '/api/generate', authHeader: 'authorization', authValue: `Bearer ${UPSTREAM_KEY}`, upstreamModel: 'llama3.1', keyVar: 'OLLAMA_API_KEY' },
  { name: 'Ollama (chat)', model: 'ollama_chat/llama3.1', toolCalling: 'off', script: TEXT_SCRIPT, provider: 'ollama', path: '/api/chat', authHeader: 'authorization', authValue: `Bearer ${UPSTREAM_KEY}`, upstreamModel: 'llama3.1', keyVar: 'OLLAMA_API_KEY' },
];

describe.each(CASES)('provider $name with the real Open Interpreter 0.4.3', (c) => {
  it('reaches the provider route with its own auth header, runs the code, and records provider, model and usage', async () => {
    const model = await startScriptedModel({ script: c.script });
    cleanups.push(() => model.close());
    const real: LlmProxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: UPSTREAM_KEY, requestTimeoutMs: 20_000 });
    cleanups.push(() => real.close());
    const tokens: string[] = [];
    const proxy: LlmProxy = {
      ...real,
      register: (session, opts) => {
        const r = real.register(session, opts);
        tokens.push(r.token);
        return r;
      },
    };
    const h = inMemoryRecorder({ config: { capture: 'full' } });
    const approval = approvalFor('all');
    const interpreter = await AuditedInterpreter.start({
      recorder: h.recorder,
      proxy,
      userId: 'e2e-user',
      model: c.model,
      llm: { toolCalling: c.toolCalling },
      approve: approval.hook,
      policyName: approval.name,
      workDir: mkdtempSync(join(tmpdir(), 'oi-prov-')),
      chunkTimeoutMs: 60_000,
    });
    cleanups.push(() => interpreter.close());

    // While it runs: the session key is in Open Interpreter's environment, in no process's command line.
    const [token] = tokens;
    expect(token).toMatch(/^oia_[0-9a-f]{64}$/);
    const procs = processes();
    expect(procs.filter((p) => p.cmdline.includes(token!))).toEqual([]);
    expect(procs.some((p) => p.environ.split('\0').includes(`${c.keyVar}=${token}`))).toBe(true);
    expect(procs.some((p) => p.cmdline.includes(UPSTREAM_KEY) || p.environ.includes(UPSTREAM_KEY))).toBe(false);

    const result = await interpreter.send(USER);
    await interpreter.close();
    expect(result.outcome).toBe('complete');

    // The stand-in got the provider's own route and auth header, with the real upstream key.
    const llmCalls = model.received.filter((r) => r.url.split('?')[0] === c.path);
    expect(llmCalls.length).toBeGreaterThanOrEqual(2);
    for (const r of llmCalls) expect(r.headers[c.authHeader]).toBe(c.authValue);
    expect(JSON.stringify(model.received)).not.toContain(token!);
    if (c.provider === 'azure.ai.openai') expect(llmCalls[0]!.url).toMatch(/\?api-version=2024-10-21$/);

    const bodies = h.bodies();
    const of = (event: string) => bodies.filter((b) => b.event === event);
    const executed = of(AUDIT_EVENTS.commandExecuted).map((b) => String(b.data.code.text).trim());
    expect(executed).toEqual(['print("prov-token", 6*7)']);
    expect(of(AUDIT_EVENTS.commandOutput).map((b) => b.data.output?.text ?? '').join('')).toContain('prov-token 42');

    const gens = h.spans.getFinishedSpans().filter((s) => s.name.startsWith('chat '));
    const served = model.served.filter((s) => s.selection.kind === 'reply');
    expect(served.length).toBeGreaterThanOrEqual(2);
    for (const g of gens) {
      expect(g.attributes['gen_ai.provider.name']).toBe(c.provider);
      expect(g.attributes['gen_ai.request.model']).toBe(c.upstreamModel);
    }
    // Usage as the stand-in sent it: the first scripted reply's counts are on a generation.
    const withUsage = gens.filter((g) => typeof g.attributes['gen_ai.usage.input_tokens'] === 'number' && typeof g.attributes['gen_ai.usage.output_tokens'] === 'number');
    expect(withUsage.length).toBeGreaterThanOrEqual(2);
    if (c.toolCalling === 'on') {
      // Function-calling mode for real: the execute tool was offered and called, with the code as its arguments.
      expect(of(AUDIT_EVENTS.llmRequest).some((b) => typeof b.data.tools?.text === 'string' && b.data.tools.text.includes('execute'))).toBe(true);
      const calls = of(AUDIT_EVENTS.llmResponse).filter((b) => b.data.tool_calls).map((b) => JSON.parse(b.data.tool_calls.text));
      expect(calls.flat().map((tc: any) => JSON.parse(tc.function.arguments))).toContainEqual({ language: 'python', code: 'print("prov-token", 6*7)' });
    }

    const exported = JSON.stringify(bodies) + JSON.stringify(h.spans.getFinishedSpans().map((s) => ({ n: s.name, a: s.attributes, e: s.events })));
    expect(exported).not.toContain(UPSTREAM_KEY);
    expect(exported).not.toContain(token!);
  });
});
