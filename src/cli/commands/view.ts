import { readOptions } from '../at-rest-option.js';
import { safeJson } from '../../siem/json-line.js';
import { terminalSafe } from '../terminal-safe.js';
import { assembleSessions } from '../../read/sessions.js';
import { readAuditFiles } from '../../read/otlp-files.js';
import { renderSession } from '../timeline.js';
import { EXIT_OK, UsageError, type CommandSpec } from '../args.js';
import { createStyle } from '../style.js';

export const viewCommand: CommandSpec = {
  name: 'view',
  summary: 'Print each audited session in the given files as a readable timeline.',
  usage: 'oi-audit view PATH... [--json] [--session ID]',
  help: `
PATH is a JSONL file written by the embedded sink or the Collector's file exporter (plain or gzip),
a Loki query_range JSON result, or a directory holding such files.

Options:
  --json          print the assembled sessions as JSON (nothing else on stdout)
  --session ID    only this session
  --identity FILE     the security team's at-rest identity: read files the sink encrypted (OI_AUDIT_AT_REST_RECIPIENT)
  -h, --help      this help

Exit codes: 0 ok, 2 usage error or unreadable/malformed input (the message names file and line).`,
  options: {
    identity: { type: 'string' }, json: { type: 'boolean' }, session: { type: 'string' } },
  allowPositionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('oi-audit view needs at least one PATH');
    const data = readAuditFiles(positionals, await readOptions(values));
    let sessions = assembleSessions(data);
    if (typeof values.session === 'string') sessions = sessions.filter((s) => s.sessionId === values.session);
    if (values.json) {
      process.stdout.write(`${safeJson({ sessions }, 2)}\n`);
      return EXIT_OK;
    }
    const style = createStyle();
    if (sessions.length === 0) {
      process.stdout.write(`No audit sessions found in ${data.files.length} file(s).\n`);
      return EXIT_OK;
    }
    process.stdout.write(`${sessions.map((s) => renderSession(terminalSafe(s), style)).join('\n\n')}\n`);
    return EXIT_OK;
  },
};
