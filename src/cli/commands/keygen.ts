import { generateKeyFiles, keyFilesEnv } from '../../keys/keygen.js';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateAtRestKeyPair } from '../../at-rest/keys.js';
import { loadSodium } from '../../at-rest/sodium.js';
import { EXIT_OK, UsageError, type CommandSpec } from '../args.js';

export const keygenCommand: CommandSpec = {
  name: 'keygen',
  summary: 'Create integrity and pseudonym key files (MAC seed, Ed25519 signing key, pseudonym key).',
  usage: 'oi-audit keygen DIR [--json]',
  help: `
Writes DIR/mac-seed, DIR/signing-key.pem, DIR/signing-key.pub.pem and DIR/pseudonym-key (secrets 0600,
DIR 0700) and prints the environment that makes oi-audit use them. Keep mac-seed with the verifier, not
only on the audited host; pin signing-key.pub.pem in 'oi-audit verify --public-key'. Refuses to overwrite.

With --at-rest it also writes DIR/at-rest.recipient and DIR/at-rest.identity: the sink encrypts to the
recipient (OI_AUDIT_AT_REST_RECIPIENT); the identity reads it back ('view'/'verify'/'export --identity').
Move at-rest.identity to the security team and delete it from the audited host: a host that holds it
can read its own trail.

Options:
  --at-rest     also create the at-rest key pair
  --json        print the file paths and environment as JSON
  -h, --help    this help

Exit codes: 0 created, 2 usage error or a key file already exists.`,
  options: { json: { type: 'boolean' }, 'at-rest': { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError('oi-audit keygen needs exactly one DIR');
    let files;
    try {
      files = generateKeyFiles(positionals[0]!);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const env: Record<string, string> = keyFilesEnv(files);
    if (values['at-rest']) {
      const dir = positionals[0]!;
      const recipient = join(dir, 'at-rest.recipient');
      const identity = join(dir, 'at-rest.identity');
      if (existsSync(recipient) || existsSync(identity)) throw new UsageError(`${recipient} or ${identity} already exists; refusing to overwrite`);
      const pair = generateAtRestKeyPair(await loadSodium());
      writeFileSync(identity, pair.identity, { mode: 0o600, flag: 'wx' });
      writeFileSync(recipient, pair.recipient, { mode: 0o644, flag: 'wx' });
      Object.assign(files, { atRestRecipient: recipient, atRestIdentity: identity });
      env.OI_AUDIT_AT_REST_RECIPIENT = recipient;
    }
    if (values.json) process.stdout.write(`${JSON.stringify({ files, env }, null, 2)}\n`);
    else process.stdout.write(`${Object.entries(env).map(([k, v]) => `export ${k}=${v}`).join('\n')}\n# verify with: oi-audit verify PATH --key ${files.macSeed} --public-key ${files.publicKey}\n`);
    return EXIT_OK;
  },
};
