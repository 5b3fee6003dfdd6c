import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { register } from '../../setup/register.js';
import { AGENT_KINDS, startAgent, type AuditedAgent } from '../../agents/select.js';
import { routeOfModel, type LlmRoute } from '../../agents/classic/llm-routing.js';
import type { TurnResult } from '../../agents/session/turn-result.js';
import { policyByName } from '../../approval/policy.js';
import { startLlmProxy } from '../../llm-proxy/proxy.js';
import { loadScriptSync, startScriptedModel, type ScriptedModel } from '../../demo/scripted-model.js';
import { escapeForLog } from '../../record/escape.js';
import { EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageError, choiceOption, stringOption, type CommandSpec } from '../args.js';
import { LLM_FLAG_HELP, LLM_FLAG_OPTIONS, llmFlags } from '../llm-flags.js';
import { progress } from '../style.js';
import { claimExitCode, onTerminationSignal } from '../../setup/signals.js';
import { askingPolicy } from '../chat/asking-policy.js';
import { LineInput } from '../chat/line-input.js';
import { chunkPrinter, codexPrinter } from '../chat/printer.js';

export const CHAT_APPROVE_MODES = ['ask', 'policy', 'all', 'none'] as const;

/** The provider's own key variable, as Open Interpreter/litellm users set it; OI_AUDIT_UPSTREAM_API_KEY wins. */
const KEY_ENV: Record<LlmRoute, string[]> = {
  openai: ['OPENAI_API_KEY'],
  azure: ['AZURE_API_KEY', 'AZURE_OPENAI_API_KEY'],
  anthropic: ['ANTHROPIC_API_KEY'],
  ollama: ['OLLAMA_API_KEY'],
};

/** The provider's public base URL when --api-base is not given. */
const DEFAULT_BASE: Partial<Record<LlmRoute, string>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  ollama: 'http://127.0.0.1:11434',
};

function upstreamKey(route: LlmRoute): string | undefined {
  const env = process.env;
  if (env.OI_AUDIT_UPSTREAM_API_KEY) return env.OI_AUDIT_UPSTREAM_API_KEY;
  for (const name of KEY_ENV[route]) if (env[name]) return env[name];
  return undefined;
}

/** isTTY is undefined (not false) off a terminal, whatever its declared type says. */
const isTerminal = (stream: { isTTY?: boolean }): boolean => stream.isTTY === true;

/** Where the model's code runs: the user's directory (as with `interpreter`), or a throwaway one. */
function workspaceOf(values: Record<string, unknown>): { dir: string; temporary: boolean } {
  const given = stringOption(values, 'workspace');
  if (values['temp-workspace'] === true) {
    if (given) throw new UsageError('--workspace and --temp-workspace exclude each other');
    return { dir: mkdtempSync(join(tmpdir(), 'oi-audit-chat-')), temporary: true };
  }
  const dir = resolve(given ?? '.');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--workspace ${JSON.stringify(dir).slice(0, 200)}: not a directory`);
  return { dir, temporary: false };
}

/** The verify command for the trail just written, with the key files this process used. */
function verifyHint(dir: string): string {
  const env = process.env;
  let hint = `oi-audit verify ${dir}`;
  if (env.OI_AUDIT_MAC_SEED_FILE) hint += ` --key ${env.OI_AUDIT_MAC_SEED_FILE}`;
  const pub = env.OI_AUDIT_SIGNING_KEY_FILE?.replace(/\.pem$/, '.pub.pem');
  if (pub && pub !== env.OI_AUDIT_SIGNING_KEY_FILE && existsSync(pub)) hint += ` --public-key ${pub}`;
  return escapeForLog(hint);
}

export const chatCommand: CommandSpec = {
  name: 'chat',
  summary: 'Talk to an audited Open Interpreter at the terminal: like `interpreter`, every session recorded.',
  usage:
    'oi-audit chat [--agent classic|rust] [--model M] [--api-base URL] [--api-version V] [--approve ask|policy|all|none] [--workspace DIR | --temp-workspace] [--out DIR] [--user ID] [--context-window N] [--max-tokens N] [--script FILE]',
  help: `
One real Open Interpreter session per run (0.4.3, or with --agent rust the Rust Open Interpreter on
Codex 0.148.0), audited like every other (same trace, same records, same policy). Keys only from the
environment, never recorded: OPENAI_API_KEY, ANTHROPIC_API_KEY, AZURE_API_KEY (with --api-version),
none for Ollama; OI_AUDIT_UPSTREAM_API_KEY overrides them.

At a terminal: prompt "> "; assistant text, code and output stream as they arrive. Each code block is
shown with its language, risk level and rule ids and asked "[y/N]" (--approve ask, the default):
critical blocks are refused by the policy with the reason shown. Ctrl-C during a turn stops the turn
(its running code gets SIGINT; the stop is recorded) and the prompt comes back; Ctrl-C or Ctrl-D at the
prompt, "exit" or "quit" end the session (SIGTERM and SIGHUP too), then the trail and the verify
command are printed.

The code runs in the current directory (as with \`interpreter\`), or --workspace DIR: under the sandbox
(OI_AUDIT_SANDBOX=bwrap, the default) that directory is the only writable place of the host, and the
audit's own keys, spool and sink stay hidden even inside it. --temp-workspace: a fresh empty directory,
removed when the session ends.

Without a terminal (stdin not a TTY): each line of stdin is one user turn, in order; --approve ask is
refused (exit 2: no terminal to ask).

Options:
  --agent KIND              classic (Open Interpreter 0.4.3, default) | rust (Codex 0.148.0)
${LLM_FLAG_HELP}
  --approve MODE            ask (default) | policy | all | none
  --workspace DIR           where the code runs (default: the current directory)
  --temp-workspace          run the code in a fresh temporary directory instead
  --out DIR                 embedded file sink directory (default ./oi-audit-logs)
  --user ID                 the user recorded (only its pseudonym is stored; default: the OS user)
  --script FILE             offline: the scripted model answers from FILE (demo script format)
  -h, --help                this help

Exit codes: 0 every turn completed (or was stopped), 1 a turn errored or the session could not start,
2 usage error.`,
  options: {
    ...LLM_FLAG_OPTIONS,
    agent: { type: 'string' },
    approve: { type: 'string' },
    workspace: { type: 'string' },
    'temp-workspace': { type: 'boolean' },
    out: { type: 'string' },
    user: { type: 'string' },
    script: { type: 'string' },
  },
  allowPositionals: false,
  async run(values) {
    const tty = isTerminal(process.stdin) && isTerminal(process.stdout);
    const approveMode = choiceOption(values, 'approve', CHAT_APPROVE_MODES, 'ask');
    if (approveMode === 'ask' && !tty) {
      process.stderr.write('oi-audit chat: no terminal to ask (stdin is not a TTY): use --approve policy, all or none\n');
      return EXIT_USAGE;
    }
    const agentKind = choiceOption(values, 'agent', AGENT_KINDS, 'classic');
    const llm = llmFlags(values);
    const scriptPath = stringOption(values, 'script');
    let model: ScriptedModel | undefined;
    let upstreamBaseUrl: string;
    let key: string | undefined;
    const modelName = llm.model ?? (scriptPath ? 'scripted' : 'gpt-4o-mini');
    let script;
    if (scriptPath) {
      try {
        script = loadScriptSync(scriptPath);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    } else {
      const route = routeOfModel(modelName);
      const base = llm.apiBase ?? DEFAULT_BASE[route];
      if (!base) throw new UsageError(`--model ${modelName}: give the provider's base URL with --api-base`);
      upstreamBaseUrl = base;
      key = upstreamKey(route);
      if (!key && route !== 'ollama') throw new UsageError(`no API key: set ${KEY_ENV[route].join(' or ')} (or OI_AUDIT_UPSTREAM_API_KEY)`);
    }
    // Usage is checked before anything starts: a bad --workspace records nothing.
    const workspace = workspaceOf(values);
    if (script) {
      model = await startScriptedModel({ script });
      upstreamBaseUrl = model.url;
      key = 'scripted-model-key';
    }
    const out = stringOption(values, 'out');
    const audit = register({ ...(out ? { sinkDir: out } : {}) });
    const proxy = await startLlmProxy({ upstreamBaseUrl: upstreamBaseUrl!, ...(key ? { upstreamApiKey: key } : {}) });
    // A terminal that went away (SIGHUP) fails writes with EIO: the session still ends and is recorded.
    const write = (s: string) => void process.stdout.write(s);
    process.stdout.on('error', () => undefined);
    process.stderr.on('error', () => undefined);
    const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
    // Off a terminal, stdin lines arrive while Open Interpreter starts: LineInput keeps them from the first one.
    const input = new LineInput(rl);
    const approve = approveMode === 'ask' ? askingPolicy(input, write) : policyByName(approveMode);
    let agent: AuditedAgent | undefined;
    let anyError = false;
    let ending: Promise<number> | undefined;
    let turnRunning = false;
    const results: TurnResult[] = [];

    const finish = (code: number, why?: string): Promise<number> => {
      ending ??= (async () => {
        // A signal during a turn: the turn is stopped (and recorded so) before the session ends.
        if (turnRunning && why) await agent?.stop(why).catch(() => undefined);
        rl.close();
        await agent?.close().catch(() => undefined);
        await proxy.close();
        await model?.close();
        await audit.shutdown();
        if (workspace.temporary) rmSync(workspace.dir, { recursive: true, force: true });
        if (audit.sink === 'file' && audit.sinkDir) process.stderr.write(`\nAudit trail: ${escapeForLog(audit.sinkDir)}\nVerify: ${verifyHint(audit.sinkDir)}\n`);
        else process.stderr.write(`\nSession exported over OTLP to ${escapeForLog(String(audit.endpoint))}.\n`);
        return code;
      })();
      return ending;
    };
    // SIGTERM, SIGHUP, a real SIGINT (kill -INT, or Ctrl-C off a terminal): through the one signal coordinator,
    // so the session ends (a running turn stopped and recorded) before the audit flushes and processes go.
    const removeSignalStep = onTerminationSignal('sessions', async (signal) => {
      claimExitCode(anyError ? EXIT_PROBLEM : EXIT_OK);
      await finish(anyError ? EXIT_PROBLEM : EXIT_OK, `session ended by ${signal}`);
    });

    try {
      const starting = agentKind === 'rust' ? 'Starting the Rust Open Interpreter (Codex 0.148.0; the first run installs it)…' : 'Starting Open Interpreter 0.4.3 (the first run installs it: a few minutes)…';
      if (tty) progress(starting);
      else process.stderr.write(`oi-audit chat: ${starting}\n`);
      agent = await startAgent(agentKind, {
        recorder: audit.recorder,
        proxy,
        userId: stringOption(values, 'user') ?? userInfo().username,
        clientAddress: 'terminal',
        model: modelName,
        llm: llm.llm,
        approve,
        policyName: approveMode,
        ...(audit.approvalGuard ? { auditHealthy: audit.approvalGuard } : {}),
        workDir: workspace.dir,
        // The user's own directory: Open Interpreter's HOME (config, history) is kept out of it.
        ...(workspace.temporary ? {} : { containment: { homeOutsideWorkspace: true } }),
        // One printer per agent: the Rust agent also maps its items to LMC chunks (for gateway clients), so
        // printing both would show every delta twice.
        ...(agentKind === 'rust' ? { onNotification: codexPrinter(write) } : { onChunk: chunkPrinter(write) }),
        onProgress: (line) => (tty ? progress(line) : undefined),
      });
    } catch (error) {
      process.stderr.write(`oi-audit chat: ${escapeForLog((error as Error).message)}\n`);
      removeSignalStep();
      return finish(EXIT_PROBLEM);
    }
    const live = agent;

    // Ctrl-C (readline's raw mode turns it into this event): stops a running turn, ends the session at the prompt.
    rl.on('SIGINT', () => {
      if (turnRunning) {
        write('\n[oi-audit] stopping the turn…\n');
        // The stop is registered before an open [y/N] question is cancelled, so the turn ends as stopped.
        void live.stop().catch(() => undefined);
        input.cancel();
      } else input.cancel();
    });

    const runTurn = async (text: string): Promise<void> => {
      turnRunning = true;
      try {
        const result = await live.send(text);
        if (result.outcome === 'error' || result.errors.length) anyError = true;
        write(result.outcome === 'stopped' ? '\n[oi-audit] turn stopped\n' : '\n');
        results.push(result);
      } catch (error) {
        anyError = true;
        write(`\n[oi-audit] turn failed: ${escapeForLog((error as Error).message)}\n`);
      } finally {
        turnRunning = false;
      }
    };

    try {
      for (;;) {
        const line = await input.read('> ', { typeAhead: true, showPrompt: tty });
        if (line === undefined || ending) break;
        if (tty && /^(exit|quit)$/i.test(line.trim())) break;
        if (!line.trim()) continue;
        await runTurn(line);
        if (ending) break;
      }
      return await finish(anyError ? EXIT_PROBLEM : EXIT_OK);
    } finally {
      removeSignalStep();
    }
  },
};
