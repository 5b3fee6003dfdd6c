import { LLM_FLAG_HELP, LLM_FLAG_OPTIONS, llmFlags } from '../llm-flags.js';
import { readFileSync } from 'node:fs';
import { register } from '../../setup/register.js';
import { startGateway, type GatewayUser } from '../../gateway/gateway.js';
import { parseTokensDocument } from '../../gateway/tokens.js';
import { APPROVAL_MODES } from '../../approval/modes.js';
import { claimExitCode, onTerminationSignal } from '../../setup/signals.js';
import { UsageError, choiceOption, stringOption, type CommandSpec } from '../args.js';

/** Tokens file: {"<token>": {"user": "alice", "roles": ["approver"]}}; env: "token=user,token2=user2". */
function loadUsers(file: string | undefined, env: NodeJS.ProcessEnv): Map<string, GatewayUser> {
  const users = new Map<string, GatewayUser>();
  if (file) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new UsageError(`${file}: cannot read tokens file: ${(error as Error).message}`);
    }
    try {
      for (const [token, user] of parseTokensDocument(doc, file)) users.set(token, user);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  for (const pair of (env.OI_AUDIT_GATEWAY_TOKENS ?? '').split(',').filter(Boolean)) {
    const [token, user] = pair.split('=');
    if (!token || !user) throw new UsageError('OI_AUDIT_GATEWAY_TOKENS must be "token=user,token2=user2"');
    users.set(token, { userId: user });
  }
  return users;
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

export const gatewayCommand: CommandSpec = {
  name: 'gateway',
  summary: 'Serve audited Open Interpreter sessions to WebSocket clients (one process per session).',
  usage:
    'oi-audit gateway [--host H] [--port P] [--tokens FILE] [--upstream URL] [--model M] [--approve all|none|policy] [--max-sessions N] [--max-sessions-per-token N] [--allow-origin O]… [--allow-self-approval]',
  help: `
Each WebSocket client (Authorization: Bearer <token>) gets its own audited Open Interpreter server; its
LLM calls go through the audit proxy to the upstream. Protocol: see README "Gateway".

Options:
  --host H                    listen address (default 127.0.0.1)
  --port P                    listen port (default 8765)
  --tokens FILE               JSON {"<token>": {"user": "alice", "roles": ["approver"]}}; also OI_AUDIT_GATEWAY_TOKENS="tok=user,…"
  --upstream URL              OpenAI-compatible base URL incl. /v1 (default $OI_AUDIT_UPSTREAM_BASE_URL)
                              the upstream key is read from $OI_AUDIT_UPSTREAM_API_KEY only (never a flag: argv leaks)
${LLM_FLAG_HELP}
                              (gateway: --model defaults to $OI_AUDIT_MODEL or gpt-4o; --api-base is --upstream)
  --approve MODE              all, none or policy (default policy; held blocks go to clients with the approver role)
  --max-sessions N            sessions over all clients (default 16; $OI_AUDIT_GATEWAY_MAX_SESSIONS)
  --max-sessions-per-token N  sessions per token (default 4; $OI_AUDIT_GATEWAY_MAX_SESSIONS_PER_TOKEN)
                              over a limit the connection gets {"type":"error","code":"limit"} and close code 1013
  --allow-origin O            accept WebSocket requests with this Origin (repeatable, or comma-separated in
                              $OI_AUDIT_GATEWAY_ALLOWED_ORIGINS); default none: any request with an Origin is refused (403)
  --allow-self-approval       let a user approve a block held in their own session (default off)
  -h, --help                  this help

Exit codes: 0 stopped by SIGINT/SIGTERM after a clean shutdown (every session ended, audit flushed), 2 usage error.`,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    tokens: { type: 'string' },
    upstream: { type: 'string' },
    ...LLM_FLAG_OPTIONS,
    approve: { type: 'string' },
    'max-sessions': { type: 'string' },
    'max-sessions-per-token': { type: 'string' },
    'allow-origin': { type: 'string', multiple: true },
    'allow-self-approval': { type: 'boolean' },
  },
  allowPositionals: false,
  async run(values) {
    const users = loadUsers(stringOption(values, 'tokens'), process.env);
    if (users.size === 0) throw new UsageError('no client tokens: give --tokens FILE or OI_AUDIT_GATEWAY_TOKENS');
    const llm = llmFlags(values);
    const upstream = stringOption(values, 'upstream') ?? llm.apiBase ?? process.env.OI_AUDIT_UPSTREAM_BASE_URL;
    if (!upstream) throw new UsageError('no upstream LLM: give --upstream URL or OI_AUDIT_UPSTREAM_BASE_URL');
    const port = Number(stringOption(values, 'port') ?? '8765');
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0-65535');
    const policy = choiceOption(values, 'approve', APPROVAL_MODES, 'policy');
    const maxSessions = positiveInt(stringOption(values, 'max-sessions') ?? process.env.OI_AUDIT_GATEWAY_MAX_SESSIONS, '--max-sessions', 16);
    const maxSessionsPerToken = positiveInt(
      stringOption(values, 'max-sessions-per-token') ?? process.env.OI_AUDIT_GATEWAY_MAX_SESSIONS_PER_TOKEN,
      '--max-sessions-per-token',
      4,
    );
    const originFlags = values['allow-origin'];
    const allowedOrigins = [
      ...(Array.isArray(originFlags) ? originFlags.map(String) : typeof originFlags === 'string' ? [originFlags] : []),
      ...(process.env.OI_AUDIT_GATEWAY_ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    ];
    // Signals go through the one coordinator: sessions end first (this step), then the audit flushes
    // (register's step), then stray processes are killed; then the process exits 0 as --help promises.
    const audit = register({ warningsToStderr: true });
    const gateway = await startGateway({
      recorder: audit.recorder,
      users,
      upstreamBaseUrl: upstream,
      ...(process.env.OI_AUDIT_UPSTREAM_API_KEY ? { upstreamApiKey: process.env.OI_AUDIT_UPSTREAM_API_KEY } : {}),
      model: llm.model ?? process.env.OI_AUDIT_MODEL ?? 'gpt-4o',
      llm: llm.llm,
      host: stringOption(values, 'host') ?? '127.0.0.1',
      port,
      policy,
      limits: { maxSessions, maxSessionsPerToken },
      allowedOrigins,
      allowSelfApproval: values['allow-self-approval'] === true,
      ...(audit.approvalGuard ? { auditHealthy: audit.approvalGuard } : {}),
      log: (line) => process.stderr.write(`oi-audit gateway: ${line}\n`),
    });
    claimExitCode(0);
    onTerminationSignal('sessions', async (signal) => {
      process.stderr.write(`oi-audit gateway: ${signal}: ending ${gateway.activeSessions} session(s)\n`);
      await gateway.close();
    });
    process.stderr.write(`oi-audit gateway: listening on ${gateway.url} (${users.size} client tokens, upstream ${upstream})\n`);
    // Runs until a signal; the coordinator exits the process.
    await new Promise<never>(() => undefined);
    return 0;
  },
};
