import { readOptions } from '../at-rest-option.js';
import { readFileSync } from 'node:fs';
import { parseKeySpec } from '../../keys/keyspec.js';
import { readAuditFiles } from '../../read/otlp-files.js';
import { exitCodeFor, renderJson, renderText } from '../../verify/report.js';
import { READ_LIMITS } from '../../read/limits.js';
import { VERIFY_LIMITS, verifySessions } from '../../verify/verify.js';
import { applyRetentionEvidence } from '../../verify/retention.js';
import { EXIT_PROBLEM, UsageError, stringOption, type CommandSpec } from '../args.js';
import { createStyle } from '../style.js';

function readMacSeed(file: string | undefined, env: NodeJS.ProcessEnv): Buffer | undefined {
  let text: string | undefined;
  let source = '';
  if (file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`${file}: cannot read MAC seed: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    source = file;
  } else if (env.OI_AUDIT_MAC_SEED_FILE) {
    text = readFileSync(env.OI_AUDIT_MAC_SEED_FILE, 'utf8');
    source = env.OI_AUDIT_MAC_SEED_FILE;
  } else if (env.OI_AUDIT_MAC_SEED) {
    text = env.OI_AUDIT_MAC_SEED;
    source = 'OI_AUDIT_MAC_SEED';
  }
  if (text === undefined) return undefined;
  try {
    return parseKeySpec(text.trim(), source, { requireId: false }).secret;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function readPublicKeys(files: string[]): string[] {
  return files.map((f) => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch (error) {
      throw new UsageError(`${f}: cannot read public key: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  });
}

const MiB = 1024 * 1024;
const LIMITS_HELP = [
  `a JSON line of at most ${READ_LIMITS.maxLineBytes / MiB} MiB, nested at most ${READ_LIMITS.maxDepth} deep (else exit 2)`,
  `a gzip file decompresses to, and a Loki answer is, at most ${READ_LIMITS.maxDecompressedBytes / MiB} MiB (else exit 2)`,
  `MACs checked up to seq ${VERIFY_LIMITS.maxMacSeq}; seed index at most ${VERIFY_LIMITS.maxSeedIndex}; ${VERIFY_LIMITS.maxLostPerDeclaration} hashes per loss declaration`,
  'a checkpoint claiming more records than the input holds is reported, not walked',
].join('\n  ');

export const verifyCommand: CommandSpec = {
  name: 'verify',
  summary: 'Check the integrity of exported audit records, session by session.',
  usage: 'oi-audit verify PATH... [--json] [--key FILE] [--public-key FILE]... [--max-gap SECONDS] [--allow-open] [--allow-reorder] [--allow-unauthenticated] [--verbose]',
  help: `
Reads embedded-sink or Collector file-exporter output (files or directories, gzip too) and Loki
query_range JSON, groups audit events by session and checks: canonical form, the SHA-256 hash chain
(seq/prev), forward-secure MACs, signed checkpoints and their Merkle roots, missing or reordered
records, declared losses, duplicates, truncation (no end event and final checkpoint), time gaps and
records replayed from another session.

With --key and/or --public-key every record must be authenticated by them (its MAC verifies; it is
covered by a checkpoint whose signature and Merkle root verify), or the session is INVALID with the
reason named: a missing session start, a record outside every verified checkpoint, a loss declaration
that is not authentic. Without either, nothing can be authenticated: the report says so and the exit
code is 1 unless --allow-unauthenticated is given. Loki answers (which do not keep the order of
records with equal timestamps) are read in seq order; order within any other file is checked.

Options:
  --key FILE          MAC seed file (as OI_AUDIT_MAC_SEED_FILE); without it, MACs are reported as not checked
                      (OI_AUDIT_MAC_SEED / OI_AUDIT_MAC_SEED_FILE are used when set)
  --public-key FILE   Ed25519 public key (PEM or raw base64) checkpoints must be signed with; repeatable
  --max-gap SECONDS   report a time gap between consecutive events longer than this
  --allow-reorder     the store does not keep arrival order: out-of-order records are a warning, not an error
  --allow-open        sessions still running: a missing end is a warning, not "truncated"
  --allow-unauthenticated
                      no keys at hand: report what could not be checked as a warning, not an error
  --verbose           also list info-level notes (duplicates, key not pinned, …)
  --json              print the report as JSON only
  --identity FILE     the security team's at-rest identity: read files the sink encrypted (OI_AUDIT_AT_REST_RECIPIENT)
  -h, --help          this help

Bounds on hostile input (beyond them: a named error, never unbounded work):
  ${LIMITS_HELP}

Exit codes: 0 every session valid, 1 any problem (or no audit records found), 2 unreadable input or usage error.`,
  options: {
    identity: { type: 'string' },
    json: { type: 'boolean' },
    key: { type: 'string' },
    'public-key': { type: 'string', multiple: true },
    'max-gap': { type: 'string' },
    'allow-open': { type: 'boolean' },
    'allow-reorder': { type: 'boolean' },
    'allow-unauthenticated': { type: 'boolean' },
    verbose: { type: 'boolean' },
  },
  allowPositionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('oi-audit verify needs at least one PATH');
    const maxGap = stringOption(values, 'max-gap');
    if (maxGap !== undefined && !(Number(maxGap) > 0)) throw new UsageError('--max-gap must be a positive number of seconds');
    const macSeed = readMacSeed(stringOption(values, 'key'), process.env);
    const trustedPublicKeys = readPublicKeys((values['public-key'] as string[] | undefined) ?? []);
    const data = readAuditFiles(positionals, await readOptions(values));
    // Gaps the embedded sink's retention recorded (authenticated maintenance sessions) are not losses.
    const reports = applyRetentionEvidence(verifySessions(data.logs, {
      ...(macSeed ? { macSeed } : {}),
      ...(trustedPublicKeys.length ? { trustedPublicKeys } : {}),
      ...(maxGap ? { maxGapMs: Number(maxGap) * 1000 } : {}),
      ...(values['allow-open'] ? { allowOpen: true } : {}),
      ...(values['allow-reorder'] ? { allowReorder: true } : {}),
      ...(values['allow-unauthenticated'] ? { allowUnauthenticated: true } : {}),
    }), data.logs);
    if (values.json) process.stdout.write(renderJson(reports));
    else {
      const style = createStyle();
      process.stdout.write(renderText(reports, { verbose: values.verbose === true, color: style.bold('x') !== 'x' }));
    }
    return reports.length === 0 ? EXIT_PROBLEM : exitCodeFor(reports);
  },
};
