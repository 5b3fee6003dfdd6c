import { readOptions } from '../at-rest-option.js';
import { parseEvents } from '../../read/sessions.js';
import { readAuditFiles } from '../../read/otlp-files.js';
import { safeJson, toEcs, toOcsf, validateOcsf } from '../../siem/index.js';
import { escapeForLog } from '../../record/escape.js';
import { EXIT_OK, EXIT_PROBLEM, UsageError, choiceOption, type CommandSpec } from '../args.js';

export const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'Render audit events as OCSF 1.x or ECS JSON lines for a SIEM.',
  usage: 'oi-audit export PATH... --format ocsf|ecs [--validate]',
  help: `
Reads the same inputs as 'view' and 'verify' and prints one JSON object per line: for OCSF, Script
Activity for code and executions, API Activity for LLM calls, Detection Finding for each rule hit (one
audit event may give several lines); for ECS, one document per event. Every mapped record keeps the
original canonical body, so the SIEM copy still verifies. Mapping: docs/siem-mapping.md.

Options:
  --format ocsf|ecs   output schema (required)
  --validate          (OCSF) check each event against its class's required fields; exit 1 if any fails
  --identity FILE     the security team's at-rest identity: read files the sink encrypted (OI_AUDIT_AT_REST_RECIPIENT)
  -h, --help          this help

Exit codes: 0 ok, 1 a validation failure (with --validate), 2 usage error or unreadable input.`,
  options: {
    identity: { type: 'string' }, format: { type: 'string' }, validate: { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('oi-audit export needs at least one PATH');
    if (values.format === undefined) throw new UsageError('oi-audit export needs --format ocsf or --format ecs');
    const format = choiceOption(values, 'format', ['ocsf', 'ecs'] as const, 'ocsf');
    const data = readAuditFiles(positionals, await readOptions(values));
    const { events } = parseEvents(data);
    let invalid = 0;
    const lines: string[] = [];
    for (const event of events.sort((a, b) => a.session.localeCompare(b.session) || a.seq - b.seq)) {
      const ctx = { observedTimeMs: Date.parse(event.ts) || Date.now() };
      if (format === 'ecs') {
        lines.push(safeJson(toEcs(event.body, ctx)));
        continue;
      }
      for (const ocsf of toOcsf(event.body, ctx)) {
        if (values.validate) {
          const result = validateOcsf(ocsf);
          if (!result.valid) {
            invalid++;
            process.stderr.write(`oi-audit: ${escapeForLog(event.source.file)}:${event.source.line}: OCSF event invalid: ${escapeForLog(result.errors.join('; '))}\n`);
          }
        }
        lines.push(safeJson(ocsf));
      }
    }
    if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
    return invalid > 0 ? EXIT_PROBLEM : EXIT_OK;
  },
};
