import { statSync } from 'node:fs';
import { parseRecipient } from '../../at-rest/keys.js';
import { closedArchiveFiles, sealArchiveFile, type SealedFile } from '../../archive/seal.js';
import { loadSodium } from '../../at-rest/sodium.js';
import { escapeForLog } from '../../record/escape.js';
import { EXIT_OK, EXIT_PROBLEM, UsageError, stringOption, type CommandSpec } from '../args.js';

const escapeText = (text: string): string => escapeForLog(text).replace(/\n/g, '\\n');

export const sealArchiveCommand: CommandSpec = {
  name: 'seal-archive',
  summary: 'Encrypt closed Collector archive files to the security team (read back with --identity).',
  usage: 'oi-audit seal-archive DIR|FILE... [--recipient R] [--keep] [--json]',
  help: `
The Collector's file exporter writes the archive in plaintext (zstd), and the Collector has no option to
encrypt it. Run this step next to it (a timer, after each rotation): every CLOSED archive file in DIR
(rotated ones, named <name>-<UTC time>.<ext>; never the file the Collector is writing) becomes
<name>-<time>.sealed.jsonl, encrypted to the recipient with a fresh key (libsodium sealed box +
secretstream, each request compressed first), checked against the original, which is then deleted.
A FILE given by name is sealed as is: give only files the Collector no longer writes (e.g. after it stopped).
'oi-audit view|verify|export --identity FILE' read sealed files; the host that seals cannot.
Note: the Collector's own retention (max_days, max_backups) no longer sees sealed files.

Options:
  --recipient R  the recipient (oi-audit-recipient-v1:… or a file holding it); default OI_AUDIT_AT_REST_RECIPIENT
  --keep         keep the plaintext originals (for a trial run)
  --json         print what was sealed as JSON
  -h, --help     this help

Exit codes: 0 sealed (or nothing to seal), 1 a file could not be sealed (its original is kept),
2 usage error or unreadable recipient.`,
  options: { recipient: { type: 'string' }, keep: { type: 'boolean' }, json: { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('oi-audit seal-archive needs a DIR or FILE');
    const spec = stringOption(values, 'recipient') ?? process.env.OI_AUDIT_AT_REST_RECIPIENT;
    if (!spec) throw new UsageError('no recipient: give --recipient R or set OI_AUDIT_AT_REST_RECIPIENT');
    let recipient: Uint8Array;
    try {
      recipient = parseRecipient(spec);
    } catch (err) {
      throw new UsageError(`--recipient: ${(err as Error).message}`);
    }
    const files: string[] = [];
    for (const p of positionals) {
      let isDir: boolean;
      try {
        isDir = statSync(p).isDirectory();
      } catch (err) {
        throw new UsageError(`${p}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      files.push(...(isDir ? closedArchiveFiles(p) : [p]));
    }
    const sodium = await loadSodium();
    const sealed: SealedFile[] = [];
    const failed: Array<{ file: string; error: string }> = [];
    for (const file of files) {
      try {
        sealed.push(sealArchiveFile(file, recipient, sodium, { keep: values.keep === true }));
      } catch (err) {
        failed.push({ file, error: (err as Error).message });
      }
    }
    if (values.json) process.stdout.write(`${JSON.stringify({ sealed, failed }, null, 2)}\n`);
    else {
      if (files.length === 0) process.stdout.write('nothing to seal (no closed archive files)\n');
      for (const s of sealed) process.stdout.write(`sealed ${escapeText(s.source)} -> ${escapeText(s.sealed)} (${s.requests} requests, ${s.bytesIn} -> ${s.bytesOut} bytes)\n`);
      for (const f of failed) process.stderr.write(`oi-audit: ${escapeText(f.file)}: ${escapeText(f.error)}\n`);
    }
    return failed.length === 0 ? EXIT_OK : EXIT_PROBLEM;
  },
};
