import { readFileSync } from 'node:fs';

/**
 * The package version, read from package.json: the one place it is written. This file runs as
 * src/version.ts (tests) or dist/version.js (built package); package.json is one level up from both.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
