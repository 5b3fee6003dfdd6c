/**
 * Escapes characters that let logged text forge lines or hide content in a terminal or SIEM view:
 * C0/C1 controls (ANSI/OSC escapes start with ESC), CR, bidi overrides and invisible formatting characters.
 * Tab and LF are kept (they are structure in code and output, and JSON escapes them in the body anyway).
 */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

export function escapeForLog(text: string): string {
  return text.replace(UNSAFE, (ch) => `\\u{${ch.codePointAt(0)!.toString(16).padStart(4, '0')}}`);
}
