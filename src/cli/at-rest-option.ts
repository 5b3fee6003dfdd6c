import { loadAtRestIdentity } from '../at-rest/keys.js';
import type { ReadOptions } from '../read/otlp-files.js';
import { UsageError, stringOption } from './args.js';

/** `--identity FILE` of view, verify and export: how to read files encrypted at rest. */
export async function readOptions(values: Record<string, unknown>): Promise<ReadOptions> {
  const file = stringOption(values, 'identity');
  if (file === undefined) return {};
  try {
    return { atRest: await loadAtRestIdentity(file) };
  } catch (err) {
    throw new UsageError(`--identity ${file}: ${(err as Error).message}`);
  }
}
