/**
 * Reads a whole session out of Loki, past the per-query entry limit (`max_entries_limit_per_query`,
 * 5000 by default: a single `query_range` with a larger `limit` is refused with HTTP 400). Pages forward
 * in time; each next page starts AT the last timestamp seen (not after it), because several records can
 * share one timestamp and a page may end in the middle of them; entries already taken at that
 * timestamp are skipped by (timestamp, line). The result is one Loki `query_range` document, which
 * `oi-audit verify` and `view` read like any other Loki output.
 */

export interface LokiExportOptions {
  /** Loki base URL, e.g. http://loki:3100 */
  baseUrl: string;
  /** LogQL stream selector, e.g. {session_id="…"} */
  query: string;
  /** Inclusive start, ns since the epoch. */
  startNs: bigint;
  /** Exclusive end, ns since the epoch. */
  endNs: bigint;
  /** Entries per request (at most Loki's max_entries_limit_per_query). */
  pageSize?: number;
  /** Sent as X-Scope-OrgID when set (multi-tenant Loki). */
  tenant?: string;
  headers?: Record<string, string>;
  /** Stop with an error past this many entries (bounded memory). */
  maxEntries?: number;
  /** Called after each page (progress). */
  onPage?: (entries: number) => void;
}

export interface LokiStream {
  stream: Record<string, string>;
  values: Array<[string, string]>;
}

export interface LokiQueryDocument {
  status: 'success';
  data: { resultType: 'streams'; result: LokiStream[] };
}

export class LokiQueryError extends Error {
  override name = 'LokiQueryError';
}

export const DEFAULT_PAGE_SIZE = 5000;
export const DEFAULT_MAX_ENTRIES = 5_000_000;

function isStreams(doc: unknown): doc is { data: { resultType: 'streams'; result: LokiStream[] } } {
  if (typeof doc !== 'object' || doc === null) return false;
  const data = (doc as { data?: unknown }).data;
  return typeof data === 'object' && data !== null && (data as { resultType?: unknown }).resultType === 'streams' && Array.isArray((data as { result?: unknown }).result);
}

async function fetchPage(opts: LokiExportOptions, startNs: bigint, limit: number): Promise<LokiStream[]> {
  const url = new URL('/loki/api/v1/query_range', opts.baseUrl);
  url.searchParams.set('query', opts.query);
  url.searchParams.set('start', startNs.toString());
  url.searchParams.set('end', opts.endNs.toString());
  url.searchParams.set('limit', String(limit));
  url.searchParams.set('direction', 'forward');
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.tenant) headers['X-Scope-OrgID'] = opts.tenant;
  let res: Response;
  try {
    res = await fetch(url, { headers });
  } catch (err) {
    throw new LokiQueryError(`cannot reach Loki at ${opts.baseUrl}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new LokiQueryError(`Loki answered HTTP ${res.status} to query_range: ${text.slice(0, 300)}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new LokiQueryError('Loki answered query_range with something that is not JSON');
  }
  if (!isStreams(doc)) throw new LokiQueryError('Loki answered query_range without a streams result');
  return doc.data.result;
}

/** Every entry the query selects in [startNs, endNs), fetched page by page. */
export async function exportLokiRange(opts: LokiExportOptions): Promise<LokiQueryDocument> {
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const result: LokiStream[] = [];
  let total = 0;
  let start = opts.startNs;
  // (timestamp, line) of entries already taken at the current page start: the next page repeats them.
  let atStart = new Set<string>();
  for (;;) {
    const streams = await fetchPage(opts, start, pageSize);
    const entries = streams.flatMap((s) => s.values.map((v) => ({ stream: s.stream, ts: BigInt(v[0]), line: v[1] })));
    let newest = start;
    const fresh: LokiStream[] = [];
    let taken = 0;
    for (const s of streams) {
      const values = s.values.filter((v) => !(BigInt(v[0]) === start && atStart.has(`${v[0]}\u0000${v[1]}`)));
      if (values.length) fresh.push({ stream: s.stream, values });
      taken += values.length;
    }
    for (const e of entries) if (e.ts > newest) newest = e.ts;
    result.push(...fresh);
    total += taken;
    opts.onPage?.(total);
    if (total > maxEntries) throw new LokiQueryError(`more than ${maxEntries} entries: narrow the query or the time range`);
    if (entries.length < pageSize) break;
    if (taken === 0) {
      throw new LokiQueryError(`more than ${pageSize} entries share timestamp ${start}: raise the page size (Loki's max_entries_limit_per_query) to read past them`);
    }
    const next = new Set<string>();
    for (const e of entries) if (e.ts === newest) next.add(`${e.ts}\u0000${e.line}`);
    if (newest === start) for (const k of atStart) next.add(k);
    atStart = next;
    start = newest;
  }
  return { status: 'success', data: { resultType: 'streams', result } };
}
