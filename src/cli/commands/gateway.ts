import { readFileSync } from 'node:fs';
import { register } from '../../otel/register.js';
import { startGateway, type GatewayUser } from '../../gateway/gateway.js';
import { APPROVAL_MODES } from '../../openinterpreter/approval.js';
import { UsageError, choiceOption, stringOption, type CommandSpec } from '../args.js';

/** Tokens file: {"<token>": {"user": "alice", "roles": ["analyst"]}}; env: "token=user,token2=user2". */
function loadUsers(file: string | undefined, env: NodeJS.ProcessEnv): Map<string, GatewayUser> {
  const users = new Map<string, GatewayUser>();
  if (file) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new UsageError(`${file}: cannot read tokens file: ${(error as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null) throw new UsageError(`${file}: expected {"<token>": {"user": "…"}}`);
    for (const [token, entry] of Object.entries(doc as Record<string, { user?: unknown; roles?: unknown }>)) {
      if (typeof entry?.user !== 'string') throw new UsageError(`${file}: token entry without "user"`);
      users.set(token, { userId: entry.user, ...(Array.isArray(entry.roles) ? { roles: entry.roles.map(String) } : {}) });
    }
  }
  for (const pair of (env.OI_AUDIT_GATEWAY_TOKENS ?? '').split(',').filter(Boolean)) {
    const [token, user] = pair.split('=');
    if (!token || !user) throw new UsageError('OI_AUDIT_GATEWAY_TOKENS must be "token=user,token2=user2"');
    users.set(token, { userId: user });
  }
  return users;
}

export const gatewayCommand: CommandSpec = {
  name: 'gateway',
  summary: 'Serve audited Open Interpreter sessions to WebSocket clients (one process per session).',
  usage: 'oi-audit gateway [--host H] [--port P] [--tokens FILE] [--upstream URL] [--model M] [--approve all|none|policy]',
  help: `
Each WebSocket client (Authorization: Bearer <token>) gets its own audited Open Interpreter server; its
LLM calls go through the audit proxy to the upstream. Protocol: see README "Gateway".

Options:
  --host H          listen address (default 127.0.0.1)
  --port P          listen port (default 8765)
  --tokens FILE     JSON {"<token>": {"user": "alice", "roles": ["…"]}}; also OI_AUDIT_GATEWAY_TOKENS="tok=user,…"
  --upstream URL    OpenAI-compatible base URL incl. /v1 (default $OI_AUDIT_UPSTREAM_BASE_URL)
                    the upstream key is read from $OI_AUDIT_UPSTREAM_API_KEY only (never a flag: argv leaks)
  --model M         model name sent upstream (default $OI_AUDIT_MODEL or gpt-4o)
  --approve MODE    all, none or policy (default policy; held blocks are asked of the connected client)
  -h, --help        this help

Exit codes: 0 stopped by a signal after a clean shutdown, 2 usage error.`,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    tokens: { type: 'string' },
    upstream: { type: 'string' },
    model: { type: 'string' },
    approve: { type: 'string' },
  },
  allowPositionals: false,
  async run(values) {
    const users = loadUsers(stringOption(values, 'tokens'), process.env);
    if (users.size === 0) throw new UsageError('no client tokens: give --tokens FILE or OI_AUDIT_GATEWAY_TOKENS');
    const upstream = stringOption(values, 'upstream') ?? process.env.OI_AUDIT_UPSTREAM_BASE_URL;
    if (!upstream) throw new UsageError('no upstream LLM: give --upstream URL or OI_AUDIT_UPSTREAM_BASE_URL');
    const port = Number(stringOption(values, 'port') ?? '8765');
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0-65535');
    const policy = choiceOption(values, 'approve', APPROVAL_MODES, 'policy');
    const audit = register({ handleSignals: false, warningsToStderr: true });
    const gateway = await startGateway({
      recorder: audit.recorder,
      users,
      upstreamBaseUrl: upstream,
      ...(process.env.OI_AUDIT_UPSTREAM_API_KEY ? { upstreamApiKey: process.env.OI_AUDIT_UPSTREAM_API_KEY } : {}),
      model: stringOption(values, 'model') ?? process.env.OI_AUDIT_MODEL ?? 'gpt-4o',
      host: stringOption(values, 'host') ?? '127.0.0.1',
      port,
      policy,
      ...(audit.approvalGuard ? { auditHealthy: audit.approvalGuard } : {}),
      log: (line) => process.stderr.write(`oi-audit gateway: ${line}\n`),
    });
    process.stderr.write(`oi-audit gateway: listening on ${gateway.url} (${users.size} client tokens, upstream ${upstream})\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await gateway.close();
    await audit.shutdown();
    return 0;
  },
};
