import { writeFileSync } from 'node:fs';
import { DEFAULT_PAGE_SIZE, exportLokiRange, LokiQueryError } from '../../read/loki-query.js';
import { EXIT_OK, EXIT_PROBLEM, UsageError, stringOption, type CommandSpec } from '../args.js';
import { fieldText } from '../../record/field-text.js';

const DAY_NS = 86_400_000_000_000n;

function parseTime(value: string, name: string): bigint {
  if (/^\d{1,20}$/.test(value)) return BigInt(value) * (value.length <= 13 ? 1_000_000n : 1n);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be RFC 3339, ms or ns since the epoch, got "${value}"`);
  return BigInt(ms) * 1_000_000n;
}

/** LogQL string literal: the session id is data, never syntax. */
function logqlString(s: string): string {
  return JSON.stringify(s);
}

export const exportLokiCommand: CommandSpec = {
  name: 'export-loki',
  summary: "Read a whole session out of Loki (past Loki's per-query entry limit) into a file 'verify' reads.",
  usage: 'oi-audit export-loki --url URL (--session ID | --query LOGQL) [--start T] [--end T] [--tenant ID] [--page-size N] --out FILE',
  help: `
Loki answers one query_range with at most max_entries_limit_per_query entries (5000 by default) and
refuses a larger limit; this pages forward in time until the session is complete and writes one Loki
query_range JSON document. Then:  oi-audit verify FILE --key … --public-key …
Records are read in seq order by 'verify', so Loki's order for equal timestamps does not matter.

Options:
  --url URL         Loki base URL (e.g. http://127.0.0.1:3100)
  --session ID      the session (stream label session_id, as collector-config/loki.yaml indexes it)
  --query LOGQL     a stream selector instead of --session
  --start T         RFC 3339, or ms/ns since the epoch (default: 30 days before --end)
  --end T           default: now + 1 h
  --tenant ID       X-Scope-OrgID for a multi-tenant Loki
  --page-size N     entries per request (default ${DEFAULT_PAGE_SIZE}, Loki's default maximum)
  --out FILE        where to write the result (required)
  -h, --help        this help

Exit codes: 0 written, 1 Loki refused the query or returned no entries, 2 usage error.`,
  options: {
    url: { type: 'string' },
    session: { type: 'string' },
    query: { type: 'string' },
    start: { type: 'string' },
    end: { type: 'string' },
    tenant: { type: 'string' },
    'page-size': { type: 'string' },
    out: { type: 'string' },
  },
  allowPositionals: false,
  async run(values) {
    const url = stringOption(values, 'url');
    const out = stringOption(values, 'out');
    const session = stringOption(values, 'session');
    const selector = stringOption(values, 'query');
    if (!url) throw new UsageError('oi-audit export-loki needs --url');
    if (!out) throw new UsageError('oi-audit export-loki needs --out FILE');
    if ((session === undefined) === (selector === undefined)) throw new UsageError('give exactly one of --session and --query');
    try {
      new URL(url);
    } catch {
      throw new UsageError(`--url is not a URL: "${url}"`);
    }
    const end = values.end ? parseTime(fieldText(values.end), 'end') : BigInt(Date.now() + 3_600_000) * 1_000_000n;
    const start = values.start ? parseTime(fieldText(values.start), 'start') : end - 30n * DAY_NS;
    const pageSizeText = stringOption(values, 'page-size');
    const pageSize = pageSizeText === undefined ? DEFAULT_PAGE_SIZE : Number(pageSizeText);
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new UsageError(`--page-size must be a positive integer, got "${pageSizeText}"`);
    const query = selector ?? `{session_id=${logqlString(session!)}}`;
    const tty = process.stderr.isTTY;
    try {
      const doc = await exportLokiRange({
        baseUrl: url,
        query,
        startNs: start,
        endNs: end,
        pageSize,
        tenant: stringOption(values, 'tenant'),
        onPage: tty ? (n) => process.stderr.write(`\roi-audit: ${n} entries read from Loki`) : undefined,
      });
      if (tty) process.stderr.write('\n');
      const entries = doc.data.result.reduce((n, s) => n + s.values.length, 0);
      writeFileSync(out, `${JSON.stringify(doc)}\n`, { mode: 0o600 });
      process.stderr.write(`oi-audit: ${entries} entries written to ${out}\n`);
      return entries > 0 ? EXIT_OK : EXIT_PROBLEM;
    } catch (err) {
      if (err instanceof LokiQueryError) {
        process.stderr.write(`oi-audit export-loki: ${err.message}\n`);
        return EXIT_PROBLEM;
      }
      throw err;
    }
  },
};
