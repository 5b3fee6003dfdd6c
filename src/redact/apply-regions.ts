import type { RedactionRegion, RedactionResult } from './redactor.js';

/**
 * `text` with each region replaced by its `[REDACTED:<rule>]` marker, and the count per rule. Regions
 * must be disjoint and in order (as `Redactor.regions` returns them).
 */
export function applyRegions(text: string, regions: readonly RedactionRegion[], offset = 0): RedactionResult {
  const counts: Record<string, number> = {};
  if (regions.length === 0) return { text, counts };
  const parts: string[] = [];
  let last = 0;
  for (const h of regions) {
    const start = h.start - offset;
    const end = h.end - offset;
    if (start < last) continue; // cannot happen (regions are disjoint and ordered); defensive
    parts.push(text.slice(last, start), `[REDACTED:${h.rule}]`);
    counts[h.rule] = (counts[h.rule] ?? 0) + 1;
    last = end;
  }
  parts.push(text.slice(last));
  return { text: parts.join(''), counts };
}
