/**
 * Part 2 — LLM proxy overhead. Processes: this driver (the client, standing in for Open Interpreter's
 * litellm), the scripted model (a helper process, the "remote" LLM), the audit LLM proxy with its
 * AuditRecorder (a helper process, as in the oi-audit host), and the OTLP sink.
 *
 * Latency: the same client code requests a 500-chunk stream directly from the model and through the
 * proxy, alternating (order flipped every sample). Each proxied request runs in a fresh turn of its
 * session (opened over IPC, outside the clock), so it is recorded as a generation with its request and
 * response events. Time to first token = request start → first SSE event with non-empty delta.content.
 *
 * Decomposition (extra paths in the same rotation): a minimal pass-through proxy with no audit (the cost
 * of the hop alone), built on the same upstream client as the audit proxy (undici Pool, Node streams);
 * the same pass-through on the global fetch() (how much the client alone costs); and the audit proxy
 * with capture `hash` (everything but redaction).
 *
 * Memory: 50 sessions on a second proxy whose model streams slowly (chunkDelayMs), so all 50 streams
 * are open at once (measured first, before the latency runs grow the heap). Per stream: (peak RSS −
 * baseline RSS) / 50 with RSS sampled every 5 ms, and live heap (+external) after a full GC taken while
 * all 50 streams are open, minus the baseline after GC, / 50.
 *
 * Usage: node bench/llm-proxy.js [--samples 300] [--warmup 30] [--chunks 500] [--concurrency 50] [--message-bytes 4096]
 *        [--profile-dir DIR]  (CPU profile of the proxy process)  [--no-decompose]
 */
import { fileURLToPath } from 'node:url';
import { makeContent } from './lib/content.js';
import { forkHelper } from './lib/ipc-child.js';
import { STREAM_USER_TEXT } from './lib/stream-text.js';
import { startSink } from './lib/otlp-sink.js';
import { distribution } from './lib/stats.js';
import { emitResult, parseArgs } from './lib/worker.js';

const args = parseArgs();
const samples = Number(args.samples ?? 300);
const warmup = Number(args.warmup ?? 30);
const chunks = Number(args.chunks ?? 500);
const concurrency = Number(args.concurrency ?? 50);
const slowDelayMs = Number(args['slow-delay-ms'] ?? 2);
const messageBytes = Number(args['message-bytes'] ?? 4096);
const decompose = !args['no-decompose'];
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

const requestBody = JSON.stringify({
  model: 'scripted',
  stream: true,
  messages: [
    { role: 'system', content: makeContent(messageBytes, 42) },
    { role: 'user', content: STREAM_USER_TEXT },
  ],
});

/** One streaming chat completion; the same code for both paths (the proxy finds the session by its key). */
async function streamOnce(baseUrl, onFirstToken, key = 'client-key') {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: requestBody,
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let ttft;
  let events = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (!ev.startsWith('data: ')) continue;
      events++;
      if (ttft === undefined && ev !== 'data: [DONE]') {
        const content = JSON.parse(ev.slice(6)).choices?.[0]?.delta?.content;
        if (typeof content === 'string' && content.length > 0) {
          ttft = performance.now() - t0;
          onFirstToken?.();
        }
      }
    }
  }
  return { ttftMs: ttft ?? Number.NaN, totalMs: performance.now() - t0, events };
}

const sink = await startSink();
const modelHost = await forkHelper(here('./lib/model-host.js'));
const profileDir = typeof args['profile-dir'] === 'string' ? args['profile-dir'] : undefined;
const proxyHost = await forkHelper(here('./lib/proxy-host.js'), [], {
  execArgv: ['--expose-gc', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
});
try {
  const fast = await modelHost.call('start', { chunks });
  const slow = await modelHost.call('start', { chunks, chunkDelayMs: slowDelayMs });
  const p0 = await proxyHost.call('start', { upstreamUrl: fast.url, sinkUrl: sink.url });
  const p1 = await proxyHost.call('start', { upstreamUrl: slow.url, sinkUrl: sink.url });
  const [s0] = await proxyHost.call('sessions', { proxy: p0.proxy, n: 1 });
  // Decomposition (not required by the issue, but it says where the added time goes):
  // a pass-through without audit (the hop alone), and the audit proxy with capture `hash` (no redaction).
  const pt = decompose ? await proxyHost.call('start', { upstreamUrl: fast.url, sinkUrl: sink.url, passthrough: 'undici' }) : undefined;
  const ptf = decompose ? await proxyHost.call('start', { upstreamUrl: fast.url, sinkUrl: sink.url, passthrough: 'fetch' }) : undefined;
  const ph = decompose ? await proxyHost.call('start', { upstreamUrl: fast.url, sinkUrl: sink.url, capture: 'hash' }) : undefined;
  const [sh] = ph ? await proxyHost.call('sessions', { proxy: ph.proxy, n: 1 }) : [];

  // --- memory per concurrent stream (first, while the proxy process is still small) ---
  const streams = await proxyHost.call('sessions', { proxy: p1.proxy, n: concurrency });
  // A few requests first so code is compiled and pools exist before the baseline.
  for (let i = 0; i < Math.min(5, concurrency); i++) await streamOnce(streams[i].baseUrl, undefined, streams[i].token);
  const base = await proxyHost.call('memory', { gc: true });
  await proxyHost.call('sampleStart', { everyMs: 5 });
  const t0 = performance.now();
  let started = 0;
  let allStarted;
  const allStartedP = new Promise((r) => (allStarted = r));
  const concP = Promise.all(streams.map((s) => streamOnce(s.baseUrl, () => ++started === concurrency && allStarted(), s.token)));
  await allStartedP;
  // All streams are open (each lasts ~chunks × chunkDelayMs): live memory after a full GC.
  const live = await proxyHost.call('memory', { gc: true });
  const liveAtMs = performance.now() - t0;
  const conc = await concP;
  const concWallMs = performance.now() - t0;
  const peak = await proxyHost.call('sampleStop');
  const after = await proxyHost.call('memory', { gc: true });
  const concTtft = distribution(conc.map((r) => r.ttftMs));
  const openAtLive = conc.filter((r) => r.totalMs > liveAtMs).length;

  const paths = {
    direct: async () => streamOnce(fast.url),
    proxy: async () => {
      await proxyHost.call('newTurn', { session: s0.session });
      return streamOnce(s0.baseUrl, undefined, s0.token);
    },
  };
  if (decompose) {
    paths.passthrough = async () => streamOnce(pt.baseUrl, undefined, pt.token);
    paths.passthroughFetch = async () => streamOnce(ptf.baseUrl, undefined, ptf.token);
    paths.proxyHashOnly = async () => {
      await proxyHost.call('newTurn', { session: sh.session });
      return streamOnce(sh.baseUrl, undefined, sh.token);
    };
  }
  const names = Object.keys(paths);
  for (let i = 0; i < warmup; i++) for (const n of names) await paths[n]();
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < samples; i++) {
    // Rotate the order every sample so no path always runs first or last.
    for (let k = 0; k < names.length; k++) {
      const n = names[(i + k) % names.length];
      runs[n].push(await paths[n]());
    }
  }
  const d = runs.direct;
  const p = runs.proxy;
  await proxyHost.call('endSessions');
  const audit = await proxyHost.call('flush');
  const expectedEvents = chunks + 3; // role delta, content deltas, final delta, [DONE]
  const lost = Object.values(runs).flat().filter((r) => r.events < expectedEvents).length;

  const dt = distribution(d.map((r) => r.ttftMs));
  const pT0 = distribution(p.map((r) => r.ttftMs));
  const dT = distribution(d.map((r) => r.totalMs));
  const pT = distribution(p.map((r) => r.totalMs));


  emitResult({
    part: 'llm-proxy',
    chunks,
    samples,
    warmup,
    messageBytes,
    paths: Object.fromEntries(
      names.map((n) => [n, { ttft: distribution(runs[n].map((r) => r.ttftMs)), total: distribution(runs[n].map((r) => r.totalMs)) }]),
    ),
    added: {
      ttftP50Ms: pT0.p50 - dt.p50,
      ttftP99Ms: pT0.p99 - dt.p99,
      ttftMeanMs: pT0.mean - dt.mean,
      totalP50Ms: pT.p50 - dT.p50,
      totalP99Ms: pT.p99 - dT.p99,
      totalMeanMs: pT.mean - dT.mean,
    },
    streamsShort: lost,
    auditErrors: audit.auditErrors,
    firstAuditError: audit.firstAuditError,
    concurrency: {
      streams: concurrency,
      chunkDelayMs: slowDelayMs,
      wallMs: concWallMs,
      minStreamMs: Math.min(...conc.map((r) => r.totalMs)),
      ttft: concTtft,
      baseline: base,
      peak,
      afterGc: after,
      live,
      liveAtMs,
      openAtLive,
      rssPerStreamBytes: (peak.rss - base.rss) / concurrency,
      peakHeapPerStreamBytes: (peak.heapPlusExternal - (base.heapUsed + base.external)) / concurrency,
      liveHeapPerStreamBytes: (live.heapUsed + live.external - base.heapUsed - base.external) / concurrency,
      retainedAfterPerStreamBytes: (after.heapUsed + after.external - base.heapUsed - base.external) / concurrency,
    },
  });
} finally {
  await proxyHost.call('close').catch(() => undefined);
  await proxyHost.close();
  await modelHost.call('close').catch(() => undefined);
  await modelHost.close();
  await sink.close();
}
