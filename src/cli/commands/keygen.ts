import { generateKeyFiles, keyFilesEnv } from '../../security/keygen.js';
import { EXIT_OK, UsageError, type CommandSpec } from '../args.js';

export const keygenCommand: CommandSpec = {
  name: 'keygen',
  summary: 'Create integrity and pseudonym key files (MAC seed, Ed25519 signing key, pseudonym key).',
  usage: 'oi-audit keygen DIR [--json]',
  help: `
Writes DIR/mac-seed, DIR/signing-key.pem, DIR/signing-key.pub.pem and DIR/pseudonym-key (secrets 0600,
DIR 0700) and prints the environment that makes oi-audit use them. Keep mac-seed with the verifier, not
only on the audited host; pin signing-key.pub.pem in 'oi-audit verify --public-key'. Refuses to overwrite.

Options:
  --json        print the file paths and environment as JSON
  -h, --help    this help

Exit codes: 0 created, 2 usage error or a key file already exists.`,
  options: { json: { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError('oi-audit keygen needs exactly one DIR');
    let files;
    try {
      files = generateKeyFiles(positionals[0]!);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const env = keyFilesEnv(files);
    if (values.json) process.stdout.write(`${JSON.stringify({ files, env }, null, 2)}\n`);
    else process.stdout.write(`${Object.entries(env).map(([k, v]) => `export ${k}=${v}`).join('\n')}\n# verify with: oi-audit verify PATH --key ${files.macSeed} --public-key ${files.publicKey}\n`);
    return EXIT_OK;
  },
};
