/**
 * LMC, Open Interpreter's streaming message format: what the classic server sends and what every agent shows
 * its client (the Rust adapter maps Codex's items onto the same roles and types).
 */

/** One LMC chunk as the Open Interpreter server sends it (validated to be a JSON object). */
export interface LmcChunk {
  role?: unknown;
  type?: unknown;
  format?: unknown;
  content?: unknown;
  start?: unknown;
  end?: unknown;
  [key: string]: unknown;
}
