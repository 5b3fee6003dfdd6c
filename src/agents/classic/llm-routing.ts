/**
 * How Open Interpreter 0.4.3 (through litellm 1.83) reaches the audit proxy for each provider, by the
 * model name a user writes. Measured with the real litellm against a recording server: it sends
 *   gpt-4o-mini / openai/…   POST {api_base}/chat/completions                Authorization: Bearer <key>
 *   azure/<deployment>       POST {api_base}/openai/deployments/<d>/chat/completions?api-version=…  api-key: <key>
 *   anthropic/<model>        POST {api_base}/v1/messages                     x-api-key: <key>, anthropic-version
 *   ollama/<model>           POST {api_base}/api/generate                    Authorization: Bearer <key>
 *   ollama_chat/<model>      POST {api_base}/api/chat                        Authorization: Bearer <key>
 * (anthropic/ with its base in ANTHROPIC_API_BASE, not --api_base: see below). So the proxy's session key goes in the provider's own key variable (litellm reads OPENAI_API_KEY,
 * AZURE_API_KEY, ANTHROPIC_API_KEY, OLLAMA_API_KEY), the base URL holds no secret, and nothing secret
 * is on the command line.
 */

export type LlmRoute = 'openai' | 'azure' | 'anthropic' | 'ollama';

export interface LlmRouting {
  route: LlmRoute;
  /** Model name for Open Interpreter (`openai/` prefixed when no provider is named). */
  model: string;
  /** `--api_base` for Open Interpreter; absent when the base must go through the environment (Anthropic). */
  apiBase?: string;
  /** Variables for the Open Interpreter process: the key (and Azure's api-version). */
  env: Record<string, string>;
}

/** Azure OpenAI's GA data-plane api-version used when none is given. */
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

/** Every variable litellm could take a provider key or base from: cleared so only ours count. */
export const PROVIDER_ENV_VARS = [
  'OPENAI_API_KEY', 'OPENAI_API_BASE', 'OPENAI_BASE_URL',
  'AZURE_API_KEY', 'AZURE_OPENAI_API_KEY', 'AZURE_API_BASE', 'AZURE_OPENAI_ENDPOINT', 'AZURE_API_VERSION',
  'ANTHROPIC_API_KEY', 'ANTHROPIC_API_BASE', 'ANTHROPIC_BASE_URL',
  'OLLAMA_API_KEY', 'OLLAMA_API_BASE', 'OLLAMA_HOST',
];

/** The provider a model name routes to; throws for a provider prefix the proxy does not speak. */
export function routeOfModel(model: string): LlmRoute {
  if (model.startsWith('azure/')) return 'azure';
  if (model.startsWith('anthropic/')) return 'anthropic';
  if (model.startsWith('ollama/') || model.startsWith('ollama_chat/')) return 'ollama';
  if (!model.includes('/') || model.startsWith('openai/')) return 'openai';
  // Another litellm provider would take its key and URL from variables we do not set, around the proxy.
  throw new Error(
    `model "${model}": provider "${model.split('/')[0]}" is not supported by the audit proxy; ` +
      'use a plain OpenAI model name, openai/…, azure/<deployment>, anthropic/…, ollama/… or ollama_chat/…',
  );
}

/**
 * @param proxyRoot the proxy's origin, `http://127.0.0.1:P` (no secret)
 * @param key the session's proxy key
 */
export function llmRouting(model: string, proxyRoot: string, key: string, apiVersion?: string): LlmRouting {
  const route = routeOfModel(model);
  const root = proxyRoot.replace(/\/+$/, '');
  switch (route) {
    case 'azure':
      return { route, model, apiBase: root, env: { AZURE_API_KEY: key, AZURE_API_BASE: root, AZURE_API_VERSION: apiVersion ?? DEFAULT_AZURE_API_VERSION } };
    case 'anthropic':
      // Not --api_base: with one set, Open Interpreter 0.4.3 prefixes `openai/` to any model not named
      // openai/, azure/ or ollama (start_terminal_interface.py), so litellm would speak OpenAI. litellm
      // takes the base from ANTHROPIC_API_BASE and appends /v1/messages.
      return { route, model, env: { ANTHROPIC_API_KEY: key, ANTHROPIC_API_BASE: root } };
    case 'ollama':
      // OLLAMA_HOST too: Open Interpreter's own model check (/api/tags) falls back to it.
      return { route, model, apiBase: root, env: { OLLAMA_API_KEY: key, OLLAMA_HOST: root } };
    default: {
      const base = `${root}/v1`;
      // Also the backstop for calls that ignore llm.api_base (the Jupyter input-patience call).
      return { route, model: model.startsWith('openai/') ? model : `openai/${model}`, apiBase: base, env: { OPENAI_API_KEY: key, OPENAI_API_BASE: base, OPENAI_BASE_URL: base } };
    }
  }
}
