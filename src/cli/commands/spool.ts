import { resolve } from 'node:path';
import { loadAtRestIdentity } from '../../at-rest/keys.js';
import { OtlpSender } from '../../otel/otlp-sender.js';
import { replaySpoolDir } from '../../otel/spool-replay.js';
import { EXIT_OK, EXIT_PROBLEM, UsageError, stringOption, type CommandSpec } from '../args.js';
import { escapeForLog } from '../../record/escape.js';

/** Paths and messages may hold anything (a directory name from the host): escaped for the terminal. */
const escapeText = (text: string): string => escapeForLog(text).replace(/\n/g, '\\n');

export const spoolCommand: CommandSpec = {
  name: 'spool',
  summary: 'Replay an encrypted spool the app could not deliver itself (spool replay --identity).',
  usage: 'oi-audit spool replay [SPOOL_DIR] --identity FILE [--endpoint URL] [--json]',
  help: `
An app with OI_AUDIT_AT_REST_RECIPIENT set spools encrypted: each segment's key is sealed to the security
team and kept in the app's memory only, so the app replays its own outage backlog, but a restarted app
cannot read what an earlier run spooled. It moves those segments to SPOOL_DIR/<signal>/sealed/; this
command decrypts them with the team's identity and sends them to the Collector, oldest first, byte for
byte as spooled. The spool of a run that is no longer alive is replayed too; one still running is left to
itself. Run it where the identity may be, e.g. on a security workstation with the spool directory mounted.

SPOOL_DIR defaults to OI_AUDIT_SPOOL_DIR, else ./oi-audit-spool. The Collector is --endpoint (base URL,
/v1/logs and /v1/traces are appended), else OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_EXPORTER_OTLP_*
variables (headers, TLS) as the app uses them.

Options:
  --identity FILE  the security team's at-rest identity (oi-audit keygen --at-rest)
  --endpoint URL   the Collector's OTLP/HTTP base URL
  --json           print what was replayed as JSON
  -h, --help       this help

Exit codes: 0 everything replayed, 1 something is left (the Collector refused, a segment did not
authenticate, or a running app holds a spool), 2 usage error or unreadable identity.`,
  options: { identity: { type: 'string' }, endpoint: { type: 'string' }, json: { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals) {
    const [action, dirArg, ...extra] = positionals;
    if (action !== 'replay' || extra.length > 0) throw new UsageError('usage: oi-audit spool replay [SPOOL_DIR] --identity FILE');
    const identityFile = stringOption(values, 'identity');
    if (!identityFile) throw new UsageError('oi-audit spool replay needs --identity FILE (the security team\'s at-rest identity)');
    let atRest;
    try {
      atRest = await loadAtRestIdentity(identityFile);
    } catch (err) {
      throw new UsageError(`--identity ${identityFile}: ${(err as Error).message}`);
    }
    const endpoint = stringOption(values, 'endpoint');
    if (!endpoint && !process.env.OTEL_EXPORTER_OTLP_ENDPOINT && !process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT) {
      throw new UsageError('no Collector: give --endpoint URL or set OTEL_EXPORTER_OTLP_ENDPOINT');
    }
    const root = resolve(dirArg ?? process.env.OI_AUDIT_SPOOL_DIR ?? './oi-audit-spool');
    const problems: string[] = [];
    const result = await replaySpoolDir(root, atRest.identity, (signal) => new OtlpSender({ signal, endpoint }), (m) => {
      problems.push(m);
      process.stderr.write(`oi-audit: ${escapeText(m)}\n`);
    });
    const ok = problems.length === 0 && result.every((r) => r.drained);
    if (values.json) process.stdout.write(`${JSON.stringify({ ok, dirs: result, problems }, null, 2)}\n`);
    else {
      if (result.length === 0) process.stdout.write(`nothing to replay in ${escapeText(root)}\n`);
      for (const r of result) process.stdout.write(`${r.signal}: ${escapeText(r.dir)}: ${r.sent} request(s) sent${r.drained ? ', drained' : ''}${r.note ? ` (${escapeText(r.note)})` : ''}\n`);
    }
    return ok ? EXIT_OK : EXIT_PROBLEM;
  },
};
