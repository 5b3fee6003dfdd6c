/**
 * The redactor's public face, where callers import it from: the versioned rule table (rule-table.ts),
 * the engine that runs it (engine.ts) and marker substitution (apply-regions.ts).
 */
export { applyRegions } from './apply-regions.js';
export { createDefaultRedactor, createRedactor, type RedactorOptions } from './engine.js';
export { DEFAULT_RULES, REDACTION_RULES_VERSION } from './rule-table.js';
export { scanCards } from './scanners.js';
