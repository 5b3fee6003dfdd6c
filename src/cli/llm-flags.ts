/** The LLM flags `demo` and `gateway` share: model, upstream base, Azure api-version, limits, tool-calling mode. */
import type { InterpreterLlmSettings } from '../agents/classic/audited-interpreter.js';
import { routeOfModel } from '../agents/classic/llm-routing.js';
import { UsageError, choiceOption, stringOption } from './args.js';

export const TOOL_CALLING_MODES = ['auto', 'on', 'off'] as const;

export const LLM_FLAG_OPTIONS = {
  model: { type: 'string' },
  'api-base': { type: 'string' },
  'api-version': { type: 'string' },
  'context-window': { type: 'string' },
  'max-tokens': { type: 'string' },
  'tool-calling': { type: 'string' },
} as const;

export const LLM_FLAG_HELP = `  --model M                 model as litellm names it: gpt-4o-mini, azure/<deployment>, anthropic/<model>,
                            ollama/<model>, ollama_chat/<model>
  --api-base URL            the provider's base URL the proxy forwards to (OpenAI: incl. /v1; Azure, Anthropic,
                            Ollama: their root); its key only from $OI_AUDIT_UPSTREAM_API_KEY (argv leaks)
  --api-version V           Azure OpenAI api-version (default 2024-10-21)
  --context-window N        context window told to Open Interpreter (default 8000)
  --max-tokens N            max_tokens of each LLM call (default 1000)
  --tool-calling MODE       auto|on|off: Open Interpreter's function-calling mode (code as \`execute\` tool calls);
                            auto lets it ask litellm whether the model supports functions (default off: text mode)`;

function positiveInt(values: Record<string, unknown>, name: string): number | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(v)) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(v).slice(0, 40)}`);
  return Number(v);
}

export interface LlmFlags {
  model?: string;
  apiBase?: string;
  llm: InterpreterLlmSettings;
}

export function llmFlags(values: Record<string, unknown>): LlmFlags {
  const out: LlmFlags = { llm: { toolCalling: choiceOption(values, 'tool-calling', TOOL_CALLING_MODES, 'off') } };
  const model = stringOption(values, 'model');
  if (model !== undefined) {
    try {
      routeOfModel(model);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    out.model = model;
  }
  const apiBase = stringOption(values, 'api-base');
  if (apiBase !== undefined) {
    try {
      if (!/^https?:$/.test(new URL(apiBase).protocol)) throw new Error('not http(s)');
    } catch {
      throw new UsageError(`--api-base must be an http(s) URL, got ${JSON.stringify(apiBase).slice(0, 80)}`);
    }
    out.apiBase = apiBase;
  }
  const apiVersion = stringOption(values, 'api-version');
  if (apiVersion !== undefined) {
    if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion)) throw new UsageError(`--api-version must look like 2024-10-21, got ${JSON.stringify(apiVersion).slice(0, 40)}`);
    out.llm.apiVersion = apiVersion;
  }
  const cw = positiveInt(values, 'context-window');
  if (cw !== undefined) out.llm.contextWindow = cw;
  const mt = positiveInt(values, 'max-tokens');
  if (mt !== undefined) out.llm.maxTokens = mt;
  return out;
}
