/** What redaction did to one piece of text. */
export interface RedactionResult {
  text: string;
  /** Matches replaced, per rule id. Empty when nothing was found. */
  counts: Record<string, number>;
}

/** Removes secrets and personal data from text before it can reach any exporter. */
export interface Redactor {
  readonly version: string;
  redact(text: string): RedactionResult;
}
