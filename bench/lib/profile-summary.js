/**
 * Summarise a V8 .cpuprofile (node --cpu-prof): top functions by self time, self time by area
 * (which package or oi-audit module the code lives in), and inclusive time of the audit pipeline's
 * stages. Usage as a script: node bench/lib/profile-summary.js FILE.cpuprofile [--json]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const AREAS = [
  [/\/dist\/redact\//, 'oi-audit redactor (src/redact)'],
  [/\/dist\/integrity\//, 'oi-audit integrity chain (src/integrity)'],
  [/\/dist\/record\/escape/, 'oi-audit log escaping (src/record/escape.ts)'],
  [/\/dist\/record\/canonical-json/, 'oi-audit RFC 8785 canonical JSON (src/record/canonical-json.ts)'],
  [/\/dist\/(keys|record)\//, 'oi-audit keys and record format (other)'],
  [/\/dist\/audit\//, 'oi-audit audit model (src/audit)'],
  [/\/dist\/llm-proxy\/sse\.js/, 'oi-audit SSE parser/assembler (src/llm-proxy/sse.ts)'],
  [/\/dist\/llm-proxy\/proxy\.js/, 'oi-audit LLM proxy (src/llm-proxy/proxy.ts)'],
  [/\/dist\//, 'oi-audit (other)'],
  [/node_modules\/canonicalize\//, 'canonicalize (RFC 8785)'],
  [/node_modules\/@opentelemetry\/otlp-transformer\//, 'OTel otlp-transformer (JSON serialisation)'],
  [/node_modules\/@opentelemetry\/sdk-logs\//, 'OTel sdk-logs'],
  [/node_modules\/@opentelemetry\/sdk-trace-base\//, 'OTel sdk-trace-base'],
  [/node_modules\/@opentelemetry\/otlp-exporter-base\//, 'OTel otlp-exporter-base (HTTP)'],
  [/node_modules\/@opentelemetry\//, 'OTel (other)'],
  [/node_modules\//, 'other packages'],
  [/\/bench\//, 'benchmark harness'],
  [/^node:|^internal\//, 'Node.js internals'],
];

function areaOf(frame) {
  const url = frame.url ?? '';
  if (!url) {
    const fn = frame.functionName;
    if (fn === '(garbage collector)') return 'garbage collector';
    if (fn === '(idle)') return 'idle';
    if (fn === '(program)') return 'V8/native (program)';
    return 'V8 builtins/native';
  }
  for (const [re, name] of AREAS) if (re.test(url)) return name;
  return 'other';
}

function shortUrl(url) {
  if (!url) return '';
  const i = url.lastIndexOf('/node_modules/');
  if (i >= 0) return url.slice(i + '/node_modules/'.length);
  const d = url.indexOf('/dist/');
  if (d >= 0) return url.slice(d + 1);
  const b = url.indexOf('/bench/');
  if (b >= 0) return url.slice(b + 1);
  return url.replace(/^file:\/\//, '');
}

/** Inclusive time of the functions that make up the audit event path: [function name, url pattern, label]. */
const STAGES = [
  ['assistantMessage', /dist\/audit\/turn\.js/, 'turn.assistantMessage: the whole audit event, synchronous part'],
  ['captureContent', /dist\/audit\/content\.js/, 'captureContent (SHA-256 + redact + escape + truncate)'],
  ['redact', /dist\/security\/redact\//, 'redactor.redact'],
  ['escapeForLog', /dist\/security\/escape\.js/, 'escapeForLog'],
  ['sha256Hex', /dist\/security\/hash\.js/, 'sha256Hex (content and body hashes)'],
  ['seal', /dist\/security\/integrity\/chain\.js/, 'SessionChain.seal (canonicalise + MAC + ratchet + hash)'],
  ['canonicalizeLenient', /dist\/security\/integrity\/body\.js/, 'canonicalize event data (RFC 8785)'],
  ['mac', /dist\/security\/integrity\/ratchet\.js/, 'MacRatchet.mac (HMAC-SHA256 of the body)'],
  ['advance', /dist\/security\/integrity\/ratchet\.js/, 'MacRatchet.advance (key ratchet step)'],
  ['sealCheckpoint', /dist\/security\/integrity\/chain\.js/, 'sealCheckpoint (Merkle root + Ed25519, every 100 events)'],
  ['send', /dist\/audit\/event-log\.js/, 'SessionEventLog.send (attributes + logger.emit)'],
  ['emit', /@opentelemetry\/sdk-logs\/build\/src\/Logger\.js/, 'OTel Logger.emit (log record + processor queue)'],
  ['serializeRequest', /otlp-transformer\/build\/src\/logs\//, 'OTLP logs JSON serializeRequest (batch export)'],
  ['send', /otlp-exporter-base\/build\/src\/.*transport/, 'OTLP HTTP transport send'],
];

function isUserland(frame) {
  return /\/dist\/|node_modules\/|\/bench\//.test(frame.url ?? '');
}

export function summarizeProfile(profile, { top = 25 } = {}) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i + 1] ?? 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + dt);
  }
  let totalUs = 0;
  let idleUs = 0;
  const byFn = new Map();
  const byArea = new Map();
  const stageUs = new Map();
  for (const [id, us] of selfUs) {
    const frame = nodes.get(id).callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') idleUs += us;
    const key = `${frame.functionName || '(anonymous)'}\u0000${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    // Natives, builtins (regexes) and Node internals are charged to the nearest caller in user land:
    // "who asked for this work", which is what the areas are for.
    let owner = frame;
    if (!isUserland(frame) && !frame.functionName.startsWith('(')) {
      for (let cur = parent.get(id); cur !== undefined; cur = parent.get(cur)) {
        const f = nodes.get(cur).callFrame;
        if (isUserland(f)) {
          owner = f;
          break;
        }
      }
    }
    const area = areaOf(owner);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    // Inclusive time per stage: each stage counted once per stack.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = nodes.get(cur).callFrame;
      STAGES.forEach(([fn, re], k) => {
        if (f.functionName === fn && re.test(f.url ?? '')) seen.add(k);
      });
    }
    for (const k of seen) stageUs.set(k, (stageUs.get(k) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us) => Math.round((us / busyUs) * 1000) / 10;
  return {
    totalMs: Math.round(totalUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    topSelf: [...byFn]
      .filter(([k]) => !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => {
        const [fn, where] = k.split('\u0000');
        return { function: fn, where, selfMs: Math.round(us / 100) / 10, selfPct: pct(us) };
      }),
    byArea: [...byArea]
      .filter(([a]) => a !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, selfMs: Math.round(us / 100) / 10, selfPct: pct(us) })),
    stages: STAGES.flatMap(([, , label], k) =>
      stageUs.has(k) ? [{ stage: label, inclusiveMs: Math.round(stageUs.get(k) / 100) / 10, inclusivePct: pct(stageUs.get(k)) }] : [],
    ),
  };
}

export function renderProfileSummary(s) {
  const lines = [`busy ${s.busyMs} ms of ${s.totalMs} ms profiled (percentages are of busy time)`, '', 'Self time by area (natives, regexes and Node internals charged to their caller):'];
  for (const a of s.byArea) lines.push(`  ${String(a.selfPct).padStart(5)}%  ${a.selfMs} ms  ${a.area}`);
  lines.push('', 'Inclusive time of pipeline stages:');
  for (const a of s.stages) lines.push(`  ${String(a.inclusivePct).padStart(5)}%  ${a.inclusiveMs} ms  ${a.stage}`);
  lines.push('', 'Top functions by self time:');
  for (const f of s.topSelf) lines.push(`  ${String(f.selfPct).padStart(5)}%  ${f.selfMs} ms  ${f.function}  ${f.where}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')));
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(s, null, 2)}\n` : `${renderProfileSummary(s)}\n`);
}
