/**
 * Open Interpreter 0.4.3 reports no exit code and mixes stderr into stdout (see docs/open-interpreter-protocol.md),
 * so whether a block failed is read from its output. These patterns are the common failure shapes; a miss
 * leaves the output recorded in full, only unflagged.
 */
const PYTHON_ERROR = /Traceback \(most recent call last\)|^[ \t]*[A-Za-z_][\w.]{0,80}(?:Error|Exception): /m;
const SHELL_ERROR = /(?:command not found|No such file or directory|cannot access|Permission denied|Operation not permitted|^\S{1,40}: line \d{1,6}: |^(?:ba|z)?sh: )/m;

/** The first line that shows an error, or undefined when the output looks clean. */
export function detectExecutionError(language: string, output: string): string | undefined {
  const pattern = language === 'python' || language === 'py' ? PYTHON_ERROR : SHELL_ERROR;
  const match = pattern.exec(output) ?? (language === 'python' ? null : PYTHON_ERROR.exec(output));
  if (!match) return undefined;
  const start = output.lastIndexOf('\n', match.index) + 1;
  const end = output.indexOf('\n', match.index + match[0].length);
  const line = output.slice(start, end === -1 ? undefined : end).trim();
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}
