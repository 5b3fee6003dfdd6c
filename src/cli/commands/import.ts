import { register } from '../../setup/register.js';
import { importConversation, type ImportResult } from '../../agents/classic/import.js';
import { EXIT_OK, UsageError, stringOption, type CommandSpec } from '../args.js';

export const importCommand: CommandSpec = {
  name: 'import',
  summary: 'Turn saved Open Interpreter conversation files into audit traces and events.',
  usage: 'oi-audit import FILE... [--out DIR] [--user ID] [--json]',
  help: `
FILE is a conversation saved by Open Interpreter: a JSON list of LMC messages
({"role","type","format"?,"content"}). Each file becomes one session, marked imported.

Options:
  --out DIR     embedded file sink directory (default ./oi-audit-logs; ignored when
                OTEL_EXPORTER_OTLP_ENDPOINT is set, then events go to the Collector)
  --user ID     user the conversations belonged to (default "unknown"; only its pseudonym is recorded)
  --json        print the import results as JSON
  -h, --help    this help

Exit codes: 0 imported, 2 usage error or unreadable/malformed file (nothing of that file is imported).`,
  options: { out: { type: 'string' }, user: { type: 'string' }, json: { type: 'boolean' } },
  allowPositionals: true,
  async run(values, files) {
    if (files.length === 0) throw new UsageError('oi-audit import needs at least one FILE');
    const out = stringOption(values, 'out');
    const audit = register({ ...(out ? { sinkDir: out } : {}), warningsToStderr: true });
    const results: ImportResult[] = [];
    try {
      for (const file of files) results.push(importConversation(audit.recorder, file, stringOption(values, 'user') ?? 'unknown'));
    } finally {
      await audit.shutdown();
    }
    if (values.json) process.stdout.write(`${JSON.stringify({ sink: audit.sink, sinkDir: audit.sinkDir ?? null, results }, null, 2)}\n`);
    else {
      for (const r of results) process.stdout.write(`${r.file}: session ${r.sessionId}, ${r.turns} turns, ${r.codeBlocks} code blocks${r.skipped ? `, ${r.skipped} messages skipped` : ''}\n`);
      process.stdout.write(`Written to ${audit.sink === 'file' ? audit.sinkDir : (audit.endpoint ?? 'nowhere (OI_AUDIT_DISABLED=true)')}\n`);
    }
    return EXIT_OK;
  },
};
