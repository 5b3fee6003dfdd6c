/** Where in an input a problem is: a file, and a line when the input is line-oriented. */
export interface InputLocation {
  file: string;
  line?: number;
  ordered?: boolean;
}

/** Input that cannot be read or parsed (any reader: OTLP files, saved conversations): the CLI maps it to exit code 2. */
export class InputError extends Error {
  override name = 'InputError';
  constructor(message: string, readonly source?: InputLocation) {
    super(source ? `${source.file}${'line' in source && source.line !== undefined ? `:${source.line}` : ''}: ${message}` : message);
  }
}
