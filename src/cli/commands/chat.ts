import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { register } from '../../setup/register.js';
import { AuditedInterpreter } from '../../agents/classic/audited-interpreter.js';
import { routeOfModel, type LlmRoute } from '../../agents/classic/llm-routing.js';
import type { LmcChunk, TurnResult } from '../../agents/classic/lmc/turn-driver.js';
import { createPolicy, policyByName, type HoldContext } from '../../approval/policy.js';
import type { ApprovalHook } from '../../agents/classic/lmc/turn-driver.js';
import { startLlmProxy } from '../../llm-proxy/proxy.js';
import { loadScriptSync, startScriptedModel, type ScriptedModel } from '../../demo/scripted-model.js';
import { escapeForLog } from '../../record/escape.js';
import { EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageError, choiceOption, stringOption, type CommandSpec } from '../args.js';
import { LLM_FLAG_HELP, LLM_FLAG_OPTIONS, llmFlags } from '../llm-flags.js';
import { progress } from '../style.js';

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

/** Text from the model or from executed code, safe to print: no escape sequence reaches the terminal. */
function safe(text: string): string {
  // Newlines and tabs stay (they are how output reads); every other control is escaped.
  return text
    .split('\n')
    .map((line) => line.split('\t').map(escapeForLog).join('\t'))
    .join('\n');
}

/** Prints Open Interpreter's chunks as they stream: assistant text, code, console output. */
function chunkPrinter(write: (s: string) => void): (chunk: LmcChunk) => void {
  let last = '';
  return (chunk) => {
    const c = chunk as { role?: string; type?: string; format?: string; content?: unknown; start?: boolean; end?: boolean };
    const key = `${c.role}:${c.type}`;
    if (c.start && key === 'assistant:code') write(`\n\`\`\`${typeof c.format === 'string' ? escapeForLog(c.format) : ''}\n`);
    if (c.end && key === 'assistant:code') write('\n```\n');
    if (typeof c.content !== 'string' || c.content === '') return;
    if (key === 'assistant:message' || key === 'assistant:code') write(safe(c.content));
    else if (key === 'computer:console' && c.format === 'output') {
      if (last !== key) write('\n');
      write(safe(c.content));
    } else return;
    last = key;
  };
}

interface Terminal {
  rl: Interface;
  ask(question: string): Promise<string>;
}

/** `--approve ask`: critical refused by the policy (reason shown), every other block asked [y/N]. */
function askingPolicy(term: Terminal, write: (s: string) => void): ApprovalHook {
  const hold = async (ctx: HoldContext): Promise<'approved' | 'refused'> => {
    const rules = ctx.risk.rules.length ? ` rules ${ctx.risk.rules.map(escapeForLog).join(', ')}` : '';
    write(`\n[oi-audit] ${escapeForLog(ctx.language)} block, risk ${ctx.risk.level}${rules}\n`);
    const answer = await term.ask(`Run this ${escapeForLog(ctx.language)} block? [y/N] `);
    return /^y(es)?$/i.test(answer.trim()) ? 'approved' : 'refused';
  };
  const policy = createPolicy({ actions: { none: 'hold', low: 'hold', medium: 'hold', high: 'hold', critical: 'refuse' }, hold, holdTimeoutMs: 24 * 3_600_000 });
  return async (block) => {
    const decision = await policy(block);
    if (decision.decision === 'refused' && decision.decider === 'policy') write(`\n[oi-audit] refused: ${escapeForLog(decision.reason ?? 'by policy')}\n`);
    return decision;
  };
}

export const chatCommand: CommandSpec = {
  name: 'chat',
  summary: 'Talk to an audited Open Interpreter at the terminal: like `interpreter`, every session recorded.',
  usage: 'oi-audit chat [--model M] [--api-base URL] [--api-version V] [--approve ask|policy|all|none] [--out DIR] [--user ID] [--context-window N] [--max-tokens N] [--script FILE]',
  help: `
One real Open Interpreter 0.4.3 session per run, audited like every other (same trace, same records,
same policy). Keys only from the environment, never recorded: OPENAI_API_KEY, ANTHROPIC_API_KEY,
AZURE_API_KEY (with --api-version), none for Ollama; OI_AUDIT_UPSTREAM_API_KEY overrides them.

At a terminal: prompt "> "; assistant text, code and output stream as they arrive. Each code block is
shown with its language, risk level and rule ids and asked "[y/N]" (--approve ask, the default):
critical blocks are refused by the policy with the reason shown. Ctrl-C during a turn stops the turn;
Ctrl-C at the prompt, Ctrl-D, "exit" or "quit" end the session, then the trail and the verify command
are printed.

Without a terminal (stdin not a TTY): each line of stdin is one user turn, in order; --approve ask is
refused (exit 2: no terminal to ask).

Options:
${LLM_FLAG_HELP}
  --approve MODE            ask (default) | policy | all | none
  --out DIR                 embedded file sink directory (default ./oi-audit-logs)
  --user ID                 the user recorded (only its pseudonym is stored; default: the OS user)
  --script FILE             offline: the scripted model answers from FILE (demo script format)
  -h, --help                this help

Exit codes: 0 every turn completed, 1 a turn errored or the session could not start, 2 usage error.`,
  options: {
    ...LLM_FLAG_OPTIONS,
    approve: { type: 'string' },
    out: { type: 'string' },
    user: { type: 'string' },
    script: { type: 'string' },
  },
  allowPositionals: false,
  async run(values) {
    const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    const approveMode = choiceOption(values, 'approve', CHAT_APPROVE_MODES, 'ask');
    if (approveMode === 'ask' && !tty) {
      process.stderr.write('oi-audit chat: no terminal to ask (stdin is not a TTY): use --approve policy, all or none\n');
      return EXIT_USAGE;
    }
    const llm = llmFlags(values);
    const scriptPath = stringOption(values, 'script');
    let model: ScriptedModel | undefined;
    let upstreamBaseUrl: string;
    let key: string | undefined;
    const modelName = llm.model ?? (scriptPath ? 'scripted' : 'gpt-4o-mini');
    if (scriptPath) {
      let script;
      try {
        script = loadScriptSync(scriptPath);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      model = await startScriptedModel({ script });
      upstreamBaseUrl = model.url;
      key = 'scripted-model-key';
    } else {
      const route = routeOfModel(modelName);
      const base = llm.apiBase ?? DEFAULT_BASE[route];
      if (!base) throw new UsageError(`--model ${modelName}: give the provider's base URL with --api-base`);
      upstreamBaseUrl = base;
      key = upstreamKey(route);
      if (!key && route !== 'ollama') throw new UsageError(`no API key: set ${KEY_ENV[route].join(' or ')} (or OI_AUDIT_UPSTREAM_API_KEY)`);
    }
    const out = stringOption(values, 'out');
    const audit = register({ ...(out ? { sinkDir: out } : {}) });
    const proxy = await startLlmProxy({ upstreamBaseUrl, ...(key ? { upstreamApiKey: key } : {}) });
    const workDir = mkdtempSync(join(tmpdir(), 'oi-audit-chat-'));
    const write = (s: string) => void process.stdout.write(s);
    const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
    const term: Terminal = { rl, ask: (q) => new Promise((resolve) => rl.question(q, resolve)) };
    // Off a terminal, stdin lines arrive while Open Interpreter starts: queue them from the first one.
    const queued: string[] = [];
    let stdinEnded = false;
    let wake: (() => void) | undefined;
    if (!tty) {
      rl.on('line', (line) => {
        queued.push(line);
        wake?.();
      });
      rl.on('close', () => {
        stdinEnded = true;
        wake?.();
      });
    }
    const nextQueued = async (): Promise<string | undefined> => {
      while (queued.length === 0 && !stdinEnded) await new Promise<void>((r) => (wake = r));
      return queued.shift();
    };
    const approve = approveMode === 'ask' ? askingPolicy(term, write) : policyByName(approveMode);
    let interpreter: AuditedInterpreter | undefined;
    let anyError = false;
    let ending = false;
    const results: TurnResult[] = [];

    const finish = async (code: number): Promise<number> => {
      if (ending) return code;
      ending = true;
      rl.close();
      await interpreter?.close().catch(() => undefined);
      await proxy.close();
      await model?.close();
      await audit.shutdown();
      rmSync(workDir, { recursive: true, force: true });
      if (audit.sink === 'file' && audit.sinkDir) {
        process.stderr.write(`\nAudit trail: ${audit.sinkDir}\nVerify: oi-audit verify ${audit.sinkDir}${process.env.OI_AUDIT_MAC_SEED_FILE ? ` --key ${process.env.OI_AUDIT_MAC_SEED_FILE}` : ''}\n`);
      } else process.stderr.write(`\nSession exported over OTLP to ${audit.endpoint}.\n`);
      return code;
    };

    try {
      if (tty) progress('Starting Open Interpreter (the first run installs it, a few minutes)…');
      else process.stderr.write('oi-audit chat: starting Open Interpreter…\n');
      interpreter = await AuditedInterpreter.start({
        recorder: audit.recorder,
        proxy,
        userId: stringOption(values, 'user') ?? userInfo().username,
        clientAddress: 'terminal',
        model: modelName,
        llm: llm.llm,
        approve,
        policyName: approveMode === 'ask' ? 'ask' : approveMode,
        ...(audit.approvalGuard ? { auditHealthy: audit.approvalGuard } : {}),
        workDir,
        onChunk: chunkPrinter(write),
        onProgress: (line) => (tty ? progress(line) : undefined),
      });
    } catch (error) {
      process.stderr.write(`oi-audit chat: ${escapeForLog((error as Error).message)}\n`);
      return finish(EXIT_PROBLEM);
    }
    const live = interpreter;

    let turnRunning = false;
    let sigintAtPrompt: (() => void) | undefined;
    rl.on('SIGINT', () => {
      if (turnRunning) {
        write('\n[oi-audit] stopping the turn…\n');
        void live.stop().catch(() => undefined);
      } else sigintAtPrompt?.();
    });
    const onSignal = () => void finish(anyError ? EXIT_PROBLEM : EXIT_OK).then((code) => process.exit(code));
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);

    const runTurn = async (text: string): Promise<void> => {
      turnRunning = true;
      try {
        const result = await live.send(text);
        results.push(result);
        if (result.outcome === 'error' || result.errors.length) anyError = true;
        write('\n');
      } catch (error) {
        anyError = true;
        write(`\n[oi-audit] turn failed: ${escapeForLog((error as Error).message)}\n`);
      } finally {
        turnRunning = false;
      }
    };

    try {
      if (!tty) {
        for (let line = await nextQueued(); line !== undefined; line = await nextQueued()) {
          if (line.trim()) await runTurn(line);
        }
        return await finish(anyError ? EXIT_PROBLEM : EXIT_OK);
      }
      for (;;) {
        const line = await new Promise<string | undefined>((resolve) => {
          sigintAtPrompt = () => resolve(undefined);
          rl.once('close', () => resolve(undefined));
          rl.question('> ', resolve);
        });
        sigintAtPrompt = undefined;
        if (line === undefined || /^(exit|quit)$/i.test(line.trim())) break;
        if (!line.trim()) continue;
        await runTurn(line);
      }
      return await finish(anyError ? EXIT_PROBLEM : EXIT_OK);
    } finally {
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGHUP', onSignal);
    }
  },
};
