/**
 * The package root: where its scripts/ and python/ are (installers run scripts from there). This file runs as
 * src/package-root.ts (tests) or dist/package-root.js (built package); the root is one level up from both.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}
