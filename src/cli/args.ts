import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes, documented in README and every --help. */
export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

/** Bad flags or unreadable input: exit 2 with the message. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  /** Lines of help text after the usage line (options, exit codes, examples). */
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  allowPositionals: boolean;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

export function parseCommandArgs(spec: CommandSpec, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: spec.allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\nSee: oi-audit ${spec.name} --help`);
  }
}

export function helpText(spec: CommandSpec): string {
  return `Usage: ${spec.usage}\n\n${spec.summary}\n\n${spec.help.trim()}\n`;
}

export function stringOption(values: Record<string, unknown>, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function choiceOption<T extends string>(values: Record<string, unknown>, name: string, choices: readonly T[], fallback: T): T {
  const value = stringOption(values, name);
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got "${value}"`);
  return value as T;
}
