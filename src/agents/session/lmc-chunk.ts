/**
 * LMC, Open Interpreter's streaming message format: what the classic server sends and what every agent shows
 * its client (the Rust adapter maps Codex's items onto the same roles and types). One type for both: the
 * classic client only yields JSON objects with a string `role` (parseLmcFrame); the frame machine still checks
 * each field, since TurnDriver.push is public and may be fed anything.
 */
export interface LmcChunk {
  role: string;
  type?: unknown;
  format?: unknown;
  content?: unknown;
  start?: unknown;
  end?: unknown;
  [key: string]: unknown;
}
