/**
 * `oi-audit demo` (real Open Interpreter 0.4.3, scripted model reporting usage) with the embedded sink:
 * metrics.jsonl holds the GenAI client metrics with the attributes other GenAI tools group by, the
 * tool-execution durations and the audit's block counter; the spans carry the current GenAI conventions.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

type Attrs = Record<string, unknown>;
const attrs = (list: Array<{ key: string; value: Record<string, unknown> }> = []): Attrs =>
  Object.fromEntries(list.map((a) => [a.key, Object.values(a.value)[0]]));

/** The last collection of each metric (cumulative temporality: each line holds the totals so far). */
function metricPoints(file: string): Map<string, Array<{ attributes: Attrs; sum?: number; count?: number; value?: number }>> {
  const out = new Map<string, Array<{ attributes: Attrs; sum?: number; count?: number; value?: number }>>();
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    for (const rm of JSON.parse(line).resourceMetrics) {
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          const points = m.histogram?.dataPoints ?? m.sum?.dataPoints ?? m.gauge?.dataPoints ?? [];
          const list: Array<{ attributes: Attrs; sum?: number; count?: number; value?: number }> = [];
          for (const p of points) list.push({ attributes: attrs(p.attributes), sum: p.sum, count: Number(p.count ?? 0), value: Number(p.asInt ?? p.asDouble ?? 0) });
          out.set(m.name, list);
        }
      }
    }
  }
  return out;
}

describe('demo session metrics (embedded sink)', () => {
  it('metrics.jsonl holds gen_ai.client.* with provider, model and token type; execution durations; blocks by decision and risk', async () => {
    const base = mkdtempSync(join(tmpdir(), 'oi-audit-demo-metrics-'));
    const out = join(base, 'logs');
    const env = { ...process.env };
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
    const demo = await runCli(['demo', '--out', out, '--keys', join(base, 'keys'), '--approve', 'all', '--json'], { cwd: base, env });
    expect(demo.code, demo.stderr).toBe(0);

    const points = metricPoints(join(out, 'metrics.jsonl'));
    const usage = points.get('gen_ai.client.token.usage') ?? [];
    const input = usage.filter((p) => p.attributes['gen_ai.token.type'] === 'input');
    const output = usage.filter((p) => p.attributes['gen_ai.token.type'] === 'output');
    expect(input.length).toBeGreaterThan(0);
    expect(output.length).toBeGreaterThan(0);
    for (const p of usage) {
      expect(p.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'scripted' });
      expect(p.sum).toBeGreaterThan(0);
    }
    const duration = points.get('gen_ai.client.operation.duration') ?? [];
    expect(duration.reduce((n, p) => n + (p.count ?? 0), 0)).toBeGreaterThanOrEqual(5);
    expect(duration[0]!.attributes).toMatchObject({ 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'scripted' });
    expect((points.get('gen_ai.client.operation.time_to_first_chunk') ?? []).length).toBeGreaterThan(0);
    const tools = points.get('gen_ai.execute_tool.duration') ?? [];
    expect(tools.reduce((n, p) => n + (p.count ?? 0), 0)).toBe(3);
    expect(new Set(tools.map((p) => p.attributes['gen_ai.tool.name']))).toEqual(new Set(['python', 'shell']));
    const blocks = points.get('oi_audit.blocks') ?? [];
    expect(blocks.reduce((n, p) => n + (p.value ?? 0), 0)).toBe(3);
    expect(blocks[0]!.attributes).toMatchObject({ 'oi_audit.approval.decision': 'approved' });
    expect(blocks[0]!.attributes['oi_audit.risk.level']).toBeDefined();

    // The spans: the root is INTERNAL, executions carry the GenAI tool attributes.
    const spans = readFileSync(join(out, 'traces.jsonl'), 'utf8').trim().split('\n')
      .flatMap((l) => JSON.parse(l).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)));
    const root = spans.find((s: any) => s.name === 'invoke_agent open-interpreter');
    expect(root.kind).toBe(1); // SPAN_KIND_INTERNAL
    const exec = spans.filter((s: any) => s.name.startsWith('execute_tool '));
    expect(exec).toHaveLength(3);
    for (const s of exec) {
      const a = attrs(s.attributes);
      expect(a['gen_ai.tool.name']).toBe(s.name.slice('execute_tool '.length));
      expect(a['gen_ai.tool.call.id']).toMatch(/\S/);
    }
    // Content attributes are off unless opted in.
    for (const s of spans) expect(attrs(s.attributes)['gen_ai.input.messages']).toBeUndefined();
  });
});
