import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from '../../setup/register.js';
import { generateKeyFiles, keyFilePaths, keyFilesEnv } from '../../keys/keygen.js';
import { AGENT_KINDS, agentStartMessage, startAgent } from '../../agents/select.js';
import { ensureOpenInterpreter, isOpenInterpreterInstalled, openInterpreterVenvDir } from '../../agents/classic/process/venv.js';
import { approvalFor, APPROVAL_MODES } from '../../approval/modes.js';
import { DEMO_SCRIPT } from '../../demo/demo-script.js';
import { startLlmProxy } from '../../llm-proxy/proxy.js';
import { loadScriptSync, startScriptedModel, type Script } from '../../demo/scripted-model.js';
import type { TurnResult } from '../../agents/session/turn-result.js';
import { assembleSessions } from '../../read/sessions.js';
import { readAuditFiles } from '../../read/otlp-files.js';
import { renderSession } from '../timeline.js';
import { EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageError, choiceOption, stringOption, type CommandSpec } from '../args.js';
import { LLM_FLAG_HELP, LLM_FLAG_OPTIONS, llmFlags } from '../llm-flags.js';
import { createStyle, progress } from '../style.js';

/**
 * The demo's trail should be verifiable end to end, MACs included: without configured keys it uses
 * (and on first run creates) key files in DIR. Configured keys (OI_AUDIT_* env) always win.
 */
function demoKeys(dir: string) {
  const env = process.env;
  if (env.OI_AUDIT_MAC_SEED || env.OI_AUDIT_MAC_SEED_FILE || env.OI_AUDIT_SIGNING_KEY_FILE) return undefined;
  const files = existsSync(keyFilePaths(dir).macSeed) ? keyFilePaths(dir) : generateKeyFiles(dir);
  Object.assign(env, keyFilesEnv(files));
  return files;
}

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary: 'Run one audited Open Interpreter session end to end, offline, and print its timeline.',
  usage: 'oi-audit demo [--agent classic|rust] [--script FILE] [--out DIR] [--approve all|none|policy] [--user ID] [--keys DIR] [--model M] [--api-base URL] [--tool-calling auto|on|off] [--json]',
  help: `
Starts the scripted model (an offline stand-in for an LLM that speaks the OpenAI, Azure, Anthropic and
Ollama wire formats), the audit LLM proxy and a real Open Interpreter 0.4.3 server (installed on first use
into $OI_AUDIT_VENV, default $XDG_CACHE_HOME/oi-audit/venv-<lock hash>, XDG_CACHE_HOME defaulting to
~/.cache), sends each scripted user turn,
holds every proposed code block for approval, runs the approved ones for real, and records it all.

With --agent rust the session runs the Rust Open Interpreter's code base, Codex 0.148.0 (installed from npm
into ~/.cache/oi-audit on first use; OI_AUDIT_RUST_INTERPRETER_BIN picks another binary), driven through its
app-server; the scripted model then answers in the OpenAI Responses format with shell-tool calls.

Options:
  --agent classic|rust      which Open Interpreter runs the session (default classic: Open Interpreter 0.4.3)
  --script FILE             scripted-model script {"turns":[{"user":"…","replies":["…"]}]}
                            (default: a built-in script with Python, a shell command and a failing command)
  --out DIR                 embedded file sink directory (default ./oi-audit-logs); with
                            OTEL_EXPORTER_OTLP_ENDPOINT set, events go to that Collector instead
  --approve all|none|policy approval of code blocks (default policy: the detection rules decide)
  --keys DIR                integrity and pseudonym key files to use, created on first run when no
                            OI_AUDIT_MAC_SEED*/OI_AUDIT_SIGNING_KEY_FILE is set (default ./oi-audit-keys)
  --user ID                 the user the session is recorded for (only its pseudonym is stored; default demo-user)
  --json                    print the session as JSON instead of the timeline
${LLM_FLAG_HELP}
                            (demo: --model defaults to "scripted"; without --api-base the scripted model answers
                            in the model's provider format, with it the script's user turns go to that upstream)
  -h, --help                this help

Exit codes: 0 the session ran, 1 it could not start or ended in a process failure, 2 usage error or
Open Interpreter could not be installed.`,
  options: {
    agent: { type: 'string' },
    script: { type: 'string' },
    out: { type: 'string' },
    approve: { type: 'string' },
    user: { type: 'string' },
    keys: { type: 'string' },
    json: { type: 'boolean' },
    ...LLM_FLAG_OPTIONS,
  },
  allowPositionals: false,
  async run(values) {
    const approveMode = choiceOption(values, 'approve', APPROVAL_MODES, 'policy');
    const llm = llmFlags(values);
    const agent = choiceOption(values, 'agent', AGENT_KINDS, 'classic');
    const scriptPath = stringOption(values, 'script');
    let script: Script = DEMO_SCRIPT;
    if (scriptPath) {
      try {
        script = loadScriptSync(scriptPath);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    }
    // Open Interpreter first: a venv that cannot be created ends the demo here, before anything is recorded.
    if (agent === 'classic' && !(await isOpenInterpreterInstalled())) {
      // Always said (even off a terminal): the first run installs ~770 MB and takes minutes.
      process.stderr.write(`oi-audit: installing Open Interpreter 0.4.3 into ${openInterpreterVenvDir()} (first run only; a few minutes)…\n`);
      try {
        await ensureOpenInterpreter({ onProgress: (line) => progress(line) });
      } catch (error) {
        process.stderr.write(
          `oi-audit: cannot install Open Interpreter: ${(error as Error).message}\n` +
            'Set OI_AUDIT_VENV to a writable directory (or XDG_CACHE_HOME), or run scripts/setup-openinterpreter.sh.\n',
        );
        return EXIT_USAGE;
      }
    }
    const out = stringOption(values, 'out');
    const keys = demoKeys(stringOption(values, 'keys') ?? './oi-audit-keys');
    const audit = register({ ...(out ? { sinkDir: out } : {}), warningsToStderr: true });
    const approval = approvalFor(approveMode);

    const workDir = mkdtempSync(join(tmpdir(), 'oi-audit-demo-'));
    const model = await startScriptedModel({ script });
    const upstreamKey = llm.apiBase ? process.env.OI_AUDIT_UPSTREAM_API_KEY : 'scripted-model-key';
    const proxy = await startLlmProxy({ upstreamBaseUrl: llm.apiBase ?? model.url, ...(upstreamKey ? { upstreamApiKey: upstreamKey } : {}) });
    const results: TurnResult[] = [];
    let sessionId = '';
    let failed = false;
    try {
      progress(agentStartMessage(agent));
      const interpreter = await startAgent(agent, {
        recorder: audit.recorder,
        proxy,
        userId: stringOption(values, 'user') ?? 'demo-user',
        clientAddress: '127.0.0.1',
        model: llm.model ?? 'scripted',
        llm: llm.llm,
        approve: approval.hook,
        policyName: approval.name,
        ...(audit.approvalGuard ? { auditHealthy: audit.approvalGuard } : {}),
        workDir,
        onProgress: (line) => progress(line),
      });
      sessionId = interpreter.session.id;
      try {
        for (const turn of script.turns) {
          progress(`> ${turn.user}`);
          const result = await interpreter.send(turn.user);
          results.push(result);
          if (result.outcome === 'error' && result.errors.some((e) => /process exited|app-server exited|connection/.test(e))) {
            failed = true;
            break;
          }
        }
      } finally {
        await interpreter.close();
      }
    } catch (error) {
      process.stderr.write(`oi-audit: ${(error as Error).message}\n`);
      failed = true;
    } finally {
      await proxy.close();
      await model.close();
      await audit.shutdown();
      rmSync(workDir, { recursive: true, force: true });
    }

    if (audit.sink === 'file' && audit.sinkDir && process.env.OI_AUDIT_AT_REST_RECIPIENT) {
      // Encrypted to the security team: this host cannot (and should not) read the trail back.
      const hint = `oi-audit view ${audit.sinkDir} --identity <the security team's at-rest.identity>`;
      if (values.json) process.stdout.write(`${JSON.stringify({ sink: 'file', sinkDir: audit.sinkDir, encrypted: true, sessionId, approve: approveMode, results }, null, 2)}\n`);
      else process.stdout.write(`Audit files (encrypted at rest): ${audit.sinkDir}\nRead them with: ${hint}\n`);
    } else if (audit.sink === 'file' && audit.sinkDir) {
      const sessions = assembleSessions(readAuditFiles([audit.sinkDir])).filter((s) => !sessionId || s.sessionId === sessionId);
      if (values.json) process.stdout.write(`${JSON.stringify({ sink: 'file', sinkDir: audit.sinkDir, sessionId, agent, approve: approveMode, results, sessions }, null, 2)}\n`);
      else {
        const style = createStyle();
        process.stdout.write(`${sessions.map((s) => renderSession(s, style)).join('\n\n')}\n\nAudit files: ${audit.sinkDir}\n`);
        if (keys) process.stdout.write(`Verify: oi-audit verify ${audit.sinkDir} --key ${keys.macSeed} --public-key ${keys.publicKey}\n`);
      }
    } else if (audit.sink === 'none') {
      if (values.json) process.stdout.write(`${JSON.stringify({ sink: 'none', sessionId, approve: approveMode, results }, null, 2)}\n`);
      else process.stdout.write('The audit is disabled (OI_AUDIT_DISABLED=true): nothing was recorded.\n');
    } else if (values.json) {
      process.stdout.write(`${JSON.stringify({ sink: 'otlp', endpoint: audit.endpoint, sessionId, approve: approveMode, results }, null, 2)}\n`);
    } else {
      process.stdout.write(`Session ${sessionId} exported over OTLP to ${audit.endpoint}.\n`);
    }
    return failed ? EXIT_PROBLEM : EXIT_OK;
  },
};
