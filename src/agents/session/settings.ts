import type { AuditSession } from '../../audit/session.js';
import type { JsonValue } from '../../record/canonical-json.js';

/**
 * Settings a client may never change through oi-audit: each would let code run unapproved, hide what
 * the model was told, or move LLM traffic (with the whole conversation) around the audit proxy.
 */
export const AUDIT_WEAKENING_SETTINGS = ['auto_run', 'system_message', 'custom_instructions', 'api_base', 'messages', 'llm.api_base', 'llm.api_key', 'llm.model', 'computer.import_computer_api', 'offline', 'loop'];

/** Whether a setting is (or, as an object, holds) one of AUDIT_WEAKENING_SETTINGS: `{ llm: { api_base } }` is `llm.api_base`. */
export function weakensAudit(key: string, value: JsonValue): boolean {
  if (AUDIT_WEAKENING_SETTINGS.includes(key)) return true;
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).some((k) => AUDIT_WEAKENING_SETTINGS.includes(`${key}.${k}`));
}

/**
 * A client asked to change agent settings. No agent passes settings through: each key is refused and
 * recorded, those that would weaken the audit by name. Returns the refused keys.
 */
export function refuseSettings(session: AuditSession, settings: Record<string, JsonValue>): string[] {
  const refused: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    session.recordSettingsRefused(key, weakensAudit(key, value) ? 'would weaken the audit' : 'settings are not passed through', value);
    refused.push(key);
  }
  return refused;
}
