#!/usr/bin/env node
import { InputError } from '../errors/input-error.js';
import { EXIT_USAGE, UsageError, helpText, parseCommandArgs, type CommandSpec } from './args.js';
import { COMMANDS } from './commands/index.js';
import { VERSION } from '../version.js';

const MAIN_HELP = `Usage: oi-audit <command> [options]

OpenTelemetry audit instrumentation for Open Interpreter.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

Run 'oi-audit <command> --help' for a command's options.

Exit codes: 0 ok, 1 a problem was found (e.g. verification failed), 2 usage error or unreadable input.
Environment: NO_COLOR disables colour; OTEL_EXPORTER_OTLP_ENDPOINT sends to a Collector instead of the file sink.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(MAIN_HELP);
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command: CommandSpec | undefined = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"\n\n${MAIN_HELP}`);
  const { values, positionals } = parseCommandArgs(command, rest);
  if (values.help) {
    process.stdout.write(helpText(command));
    return 0;
  }
  return command.run(values, positionals);
}

// A reader that stops early (`| head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof InputError) {
      process.stderr.write(`oi-audit: ${error.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`oi-audit: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
