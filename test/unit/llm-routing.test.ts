import { describe, expect, it } from 'vitest';
import { llmRouting, routeOfModel } from '../../src/agents/classic/llm-routing.js';
import { buildServerArgs } from '../../src/agents/classic/process/supervisor.js';

const KEY = `oia_${'c'.repeat(64)}`;
const ROOT = 'http://127.0.0.1:4100';

describe('Open Interpreter LLM routing per provider', () => {
  it.each([
    ['gpt-4o-mini', 'openai/gpt-4o-mini', `${ROOT}/v1`, 'OPENAI_API_KEY'],
    ['openai/gpt-4o', 'openai/gpt-4o', `${ROOT}/v1`, 'OPENAI_API_KEY'],
    ['azure/my-dep', 'azure/my-dep', ROOT, 'AZURE_API_KEY'],
    ['anthropic/claude-3-5-sonnet-20241022', 'anthropic/claude-3-5-sonnet-20241022', undefined, 'ANTHROPIC_API_KEY'],
    ['ollama/llama3.1', 'ollama/llama3.1', ROOT, 'OLLAMA_API_KEY'],
    ['ollama_chat/llama3.1', 'ollama_chat/llama3.1', ROOT, 'OLLAMA_API_KEY'],
  ])('%s → model %s, api_base %s, key in %s', (model, oiModel, apiBase, keyVar) => {
    const r = llmRouting(model, ROOT, KEY);
    expect(r.model).toBe(oiModel);
    expect(r.apiBase).toBe(apiBase);
    expect(r.env[keyVar]).toBe(KEY);
  });

  it('gives Azure an api-version (the flag, else the GA default) and Anthropic its base through the environment', () => {
    expect(llmRouting('azure/d', ROOT, KEY).env.AZURE_API_VERSION).toBe('2024-10-21');
    expect(llmRouting('azure/d', ROOT, KEY, '2024-06-01').env.AZURE_API_VERSION).toBe('2024-06-01');
    expect(llmRouting('anthropic/c', ROOT, KEY).env.ANTHROPIC_API_BASE).toBe(ROOT);
  });

  it('refuses a provider prefix the proxy does not speak, naming the ones it does', () => {
    expect(() => routeOfModel('groq/llama3-70b')).toThrow(/provider "groq" is not supported.*azure\/<deployment>/);
    expect(() => routeOfModel('bedrock/anthropic.claude')).toThrow(/not supported/);
  });

  it('puts no secret on the command line, whatever the provider, and maps --tool-calling', () => {
    for (const model of ['gpt-4o-mini', 'azure/d', 'anthropic/c', 'ollama/m', 'ollama_chat/m']) {
      const args = buildServerArgs({ llmBaseUrl: `${ROOT}/v1`, llmApiKey: KEY, model });
      expect(args.join(' ')).not.toContain(KEY.slice(4));
      expect(args).toContain('--no-llm_supports_functions'); // default off: text mode
    }
    const on = buildServerArgs({ llmBaseUrl: `${ROOT}/v1`, llmApiKey: KEY, model: 'gpt-4o-mini', toolCalling: 'on' });
    expect(on).toContain('--llm_supports_functions');
    const auto = buildServerArgs({ llmBaseUrl: `${ROOT}/v1`, llmApiKey: KEY, model: 'gpt-4o-mini', toolCalling: 'auto', contextWindow: 32000, maxTokens: 2000 });
    expect(auto.filter((a) => a.includes('supports_functions'))).toEqual([]);
    expect(auto.join(' ')).toContain('--context_window 32000 --max_tokens 2000');
    expect(buildServerArgs({ llmBaseUrl: `${ROOT}/v1`, llmApiKey: KEY, model: 'anthropic/c' })).not.toContain('--api_base');
  });
});

describe('the LLM flags of demo and gateway', () => {
  it('reads valid flags and refuses bad ones as usage errors', async () => {
    const { llmFlags } = await import('../../src/cli/llm-flags.js');
    const { UsageError } = await import('../../src/cli/args.js');
    expect(llmFlags({ model: 'azure/d', 'api-version': '2024-10-21', 'context-window': '16000', 'max-tokens': '500', 'tool-calling': 'on', 'api-base': 'https://x.openai.azure.com' })).toEqual({
      model: 'azure/d',
      apiBase: 'https://x.openai.azure.com',
      llm: { toolCalling: 'on', apiVersion: '2024-10-21', contextWindow: 16000, maxTokens: 500 },
    });
    expect(llmFlags({}).llm).toEqual({ toolCalling: 'off' });
    for (const bad of [{ 'tool-calling': 'maybe' }, { model: 'groq/x' }, { 'context-window': '0' }, { 'max-tokens': '1e3' }, { 'api-base': 'file:///etc/passwd' }, { 'api-version': 'latest' }]) {
      expect(() => llmFlags(bad), JSON.stringify(bad)).toThrow(UsageError);
    }
  });
});
