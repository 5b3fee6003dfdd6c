import type { RedactionRegion, RedactionResult, Redactor } from './redactor.js';
import { applyRegions } from './apply-regions.js';

/**
 * The longest secret, with the context that identifies it (`password=` before a value, a PEM header
 * before its body), that a stream redactor is guaranteed to find whole wherever the stream is cut into
 * parts: each part is redacted together with the next STREAM_HOLD_CHARS characters, and a part never
 * ends inside a match. Every token rule of the table is bounded below this (4096 characters).
 */
export const STREAM_HOLD_CHARS = 4096;

/**
 * Characters of the previous part kept before the next window as context only (never re-emitted): a
 * rule that looks back (`machine … login` before a .netrc `password`, a hash label) sees the same text
 * on both sides of a cut.
 */
const CONTEXT_CHARS = 512;

/** One part of a stream: the stored characters it covers and their redaction. */
export interface StreamPart {
  /** The stream's characters this part covers; the parts' raws joined are the stream. */
  raw: string;
  /** The redacted text and counts, or undefined when the stream is not redacted. */
  redacted: RedactionResult | undefined;
}

/**
 * Cuts a text stream (command output) into parts of about `partChars` characters for recording, and
 * redacts each part over a window reaching STREAM_HOLD_CHARS past its end, so a secret split between
 * two chunks or two parts is found whole and no part (nor two parts joined) holds any of it raw. A part
 * ends before any match that crosses the cut (from its context to its end), and the rest is scanned
 * again with what follows.
 */
export class StreamRedactor {
  private buffer = '';
  /** The end of the last part, for look-back only. */
  private context = '';
  private readonly hold: number;

  constructor(
    private readonly redactor: Redactor | undefined,
    private readonly partChars: number,
    hold = STREAM_HOLD_CHARS,
  ) {
    this.hold = redactor ? hold : 0;
  }

  /** Characters received and not yet in a part. */
  get pendingChars(): number {
    return this.buffer.length;
  }

  /** Add a chunk; returns the parts that are complete. */
  push(text: string): StreamPart[] {
    this.buffer += text;
    const parts: StreamPart[] = [];
    while (this.buffer.length >= this.partChars + this.hold) parts.push(this.cut(false));
    return parts;
  }

  /** The stream ended: the last part (possibly empty). */
  end(): StreamPart {
    return this.cut(true);
  }

  private cut(final: boolean): StreamPart {
    const red = this.redactor;
    const window = final ? this.buffer : this.buffer.slice(0, this.partChars + this.hold);
    let cut = final ? window.length : this.partChars;
    if (!red) return this.take(window, cut, undefined);
    if (!red.regions) {
      // A redactor without regions (a user's own): each part is redacted alone.
      return this.take(window, cut, (raw) => red.redact(raw));
    }
    const ctx = this.context;
    const regions: RedactionRegion[] = [];
    // Regions in the context were the previous part's; one reaching into this window is clipped to it.
    for (const r of red.regions(ctx + window)) {
      if (r.end <= ctx.length) continue;
      const start = Math.max(0, r.start - ctx.length);
      regions.push({ start, end: r.end - ctx.length, from: Math.max(start, r.from - ctx.length), rule: r.rule });
    }
    if (!final) cut = safeCut(window, regions, cut);
    // Only the regions before the cut belong to this part (one cut at a surrogate pair is clipped).
    return this.take(window, cut, (raw) =>
      applyRegions(
        raw,
        regions.filter((r) => r.start < raw.length).map((r) => (r.end <= raw.length ? r : { ...r, end: raw.length })),
      ),
    );
  }

  private take(window: string, cut: number, redact: ((raw: string) => RedactionResult) | undefined): StreamPart {
    const raw = window.slice(0, cut);
    this.buffer = this.buffer.slice(cut);
    this.context = (this.context + raw).slice(-CONTEXT_CHARS);
    return { raw, redacted: redact ? redact(raw) : undefined };
  }
}

/**
 * The cut at or before `target` that lies inside no match (`from`…`end`) and not between the halves of
 * a surrogate pair. When every such position is 0 (one match spans the whole part), the part ends after
 * the match instead, so a stream always advances.
 */
export function safeCut(text: string, regions: readonly RedactionRegion[], target: number): number {
  let cut = target;
  for (let changed = true; changed;) {
    changed = false;
    for (let i = regions.length - 1; i >= 0; i--) {
      const r = regions[i]!;
      if (r.from < cut && cut < r.end) {
        cut = r.from;
        changed = true;
      }
    }
  }
  if (cut <= 0) {
    const over = regions.find((r) => r.from < target && target < r.end);
    cut = over ? over.end : target;
  }
  const c = text.charCodeAt(cut - 1);
  if (cut < text.length && c >= 0xd800 && c <= 0xdbff) cut = cut > 1 ? cut - 1 : cut + 1;
  return cut;
}
