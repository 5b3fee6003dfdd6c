import { diag } from '@opentelemetry/api';

/**
 * oi-audit's warnings go to OpenTelemetry's `diag` logger (where an app that set one looks for them);
 * the CLI also prints them on stderr, since nobody has set a diag logger there.
 */
export function auditWarning(message: string, stderr = false): void {
  diag.warn(`oi-audit: ${message}`);
  if (stderr) process.stderr.write(`oi-audit: warning: ${message}\n`);
}
