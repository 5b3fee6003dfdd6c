/**
 * Settings a client may never change through oi-audit: each would let code run unapproved, hide what
 * the model was told, or move LLM traffic (with the whole conversation) around the audit proxy.
 */
export const AUDIT_WEAKENING_SETTINGS = ['auto_run', 'system_message', 'custom_instructions', 'api_base', 'messages', 'llm.api_base', 'llm.api_key', 'llm.model', 'computer.import_computer_api', 'offline', 'loop'];
