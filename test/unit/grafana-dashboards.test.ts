/**
 * Dashboards and provisioning files load into Grafana's model.
 *
 * Two checks, because neither alone catches everything: the generator builds the dashboards as
 * @grafana/schema `Dashboard` objects (tsc checks field names and types — see the typed assignments
 * below), and this test validates the checked-in JSON at run time for what types cannot see: required
 * fields, unique panel ids, a 24-column grid without overlaps, datasource uids that are provisioned,
 * variables that are defined, links to dashboards that exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dashboard, Panel, RowPanel } from '@grafana/schema';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { bundledRules } from '../../src/detect/engine.js';
import { securityDashboard, sessionDashboard, sessionsDashboard } from '../../tools/grafana/dashboards.js';
import { DASHBOARDS_MOUNT, repoRoot } from '../../tools/grafana/generate.js';
import { DASHBOARD_UIDS } from '../../tools/grafana/queries.js';

const root = repoRoot();
const read = (p: string) => readFileSync(join(root, p), 'utf8');

// Compile-time: the generator's output is a @grafana/schema Dashboard (tsc -p tsconfig.test.json).
const typed: Dashboard[] = [sessionsDashboard(), sessionDashboard(), securityDashboard(bundledRules())];

const BUILTIN_VARIABLES = new Set(['__auto', '__range', '__interval', '__rate_interval', '__all', '__data', '__url_time_range', '__value', '__field', '__series']);
const PANEL_TYPES = new Set(['stat', 'timeseries', 'table', 'logs', 'barchart', 'piechart', 'traces', 'text', 'row', 'bargauge', 'gauge']);

const datasources = parseYaml(read('grafana/provisioning/datasources/datasources.yaml')) as { apiVersion: number; datasources: Array<Record<string, any>> };
const DS_UIDS = new Set(datasources.datasources.map((d) => d.uid as string));

function loadDashboard(name: string): Record<string, any> {
  return JSON.parse(read(`grafana/dashboards/${name}.json`)) as Record<string, any>;
}

function panelsOf(d: Record<string, any>): Array<Panel | RowPanel> {
  return (d.panels ?? []).flatMap((p: any) => (p.type === 'row' ? [p, ...(p.panels ?? [])] : [p]));
}

function variablesIn(text: string): string[] {
  return [...text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

describe.each(['sessions', 'session', 'security'])('dashboard %s.json', (name) => {
  const d = loadDashboard(name);
  const panels = panelsOf(d);

  it('has the required dashboard fields', () => {
    expect(typeof d.uid).toBe('string');
    expect(d.uid.length).toBeLessThanOrEqual(40);
    expect(Object.values(DASHBOARD_UIDS)).toContain(d.uid);
    expect(typeof d.title).toBe('string');
    expect(Number.isInteger(d.schemaVersion)).toBe(true);
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(Array.isArray(d.panels)).toBe(true);
    expect(d.time).toEqual({ from: expect.any(String), to: 'now' });
    expect(d.id).toBeUndefined(); // provisioned dashboards carry no database id
  });

  it('equals the typed generator output', () => {
    expect(typed.find((t) => t.uid === d.uid)).toEqual(d);
  });

  it('panels have unique ids, known types, titles and a place on the 24-column grid without overlaps', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      expect(PANEL_TYPES, p.type).toContain(p.type);
      expect(p.title).toBeTruthy();
      const g = p.gridPos!;
      expect(g.x).toBeGreaterThanOrEqual(0);
      expect(g.w).toBeGreaterThan(0);
      expect(g.x + g.w).toBeLessThanOrEqual(24);
      expect(g.h).toBeGreaterThan(0);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const key = `${x},${y}`;
          expect(cells.has(key), `${p.title} overlaps at ${key}`).toBe(false);
          cells.add(key);
        }
      }
    }
  });

  it('every query targets a provisioned datasource and has a unique refId', () => {
    for (const p of panels as Panel[]) {
      if (p.type === 'row' || p.type === 'text') continue;
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refs = p.targets!.map((t) => t.refId);
      expect(new Set(refs).size).toBe(refs.length);
      expect(DS_UIDS).toContain(p.datasource?.uid);
      for (const t of p.targets!) {
        const ds = t.datasource as { uid: string; type: string };
        expect(DS_UIDS).toContain(ds.uid);
        if (ds.type === 'loki') expect(typeof t.expr).toBe('string');
        if (ds.type === 'tempo') expect(t.queryType).toBe('traceql');
        if (ds.type === 'prometheus') expect(typeof t.expr).toBe('string');
      }
    }
  });

  it('uses only variables it defines (or Grafana built-ins), and defines only variables it uses', () => {
    const defined = new Set<string>((d.templating?.list ?? []).map((v: any) => v.name));
    const used = new Set<string>();
    for (const p of panels as Panel[]) {
      for (const t of p.targets ?? []) for (const v of variablesIn(JSON.stringify(t.expr ?? t.query ?? ''))) used.add(v);
      for (const v of variablesIn(JSON.stringify(p.fieldConfig ?? {}))) used.add(v);
    }
    for (const v of (d.templating?.list ?? []) as Array<Record<string, any>>) for (const x of variablesIn(JSON.stringify(v.query ?? ''))) used.add(x);
    for (const v of used) expect(defined.has(v) || BUILTIN_VARIABLES.has(v), `undefined variable $${v}`).toBe(true);
    for (const v of defined) expect(used, `unused variable ${v}`).toContain(v);
    for (const v of d.templating.list) {
      // Query variables read a provisioned datasource; textboxes are the cost panels' price inputs (a number).
      expect(['query', 'textbox']).toContain(v.type);
      if (v.type === 'query') expect(DS_UIDS).toContain(v.datasource.uid);
      else expect(String(v.query)).toMatch(/^\d+(?:\.\d+)?$/);
    }
  });

  it('links only to dashboards that exist', () => {
    const text = JSON.stringify(d);
    for (const m of text.matchAll(/\/d\/([A-Za-z0-9_-]+)/g)) expect(Object.values(DASHBOARD_UIDS)).toContain(m[1]);
  });
});

describe('dashboard content', () => {
  const titles = (name: string) => panelsOf(loadDashboard(name)).map((p) => p.title);
  it('Sessions shows sessions, users, turns, executions over time, errors and top risk rules', () => {
    expect(titles('sessions')).toEqual(expect.arrayContaining(['Sessions', 'Users', 'Turns', 'Executions by language', 'Errors by type', 'Top risk rules']));
  });
  it('Session shows the trace, the event timeline, output and approvals for $session_id', () => {
    expect(titles('session')).toEqual(expect.arrayContaining(['Trace', 'Event timeline', 'Command output', 'Code and approvals']));
  });
  it('Security shows high-risk executions, refusals, prompt-injection indicators, redactions and missing checkpoints', () => {
    expect(titles('security')).toEqual(
      expect.arrayContaining(['High-risk executions', 'Refusals', 'Prompt-injection indicators', 'Redaction counts', 'Missing integrity checkpoints']),
    );
  });
});

describe('provisioning files', () => {
  it('datasources: Tempo and Loki linked both ways, tenant header from ${LOKI_TENANT}', () => {
    expect(datasources.apiVersion).toBe(1);
    const tempo = datasources.datasources.find((d) => d.type === 'tempo')!;
    const loki = datasources.datasources.find((d) => d.type === 'loki')!;
    expect(tempo.uid).toBe('tempo');
    expect(loki.uid).toBe('loki');
    expect(tempo.jsonData.tracesToLogsV2.datasourceUid).toBe(loki.uid);
    expect(tempo.jsonData.tracesToLogsV2.tags).toEqual(expect.arrayContaining([{ key: 'session.id', value: 'session_id' }]));
    expect(loki.jsonData.derivedFields[0]).toMatchObject({ matcherType: 'label', matcherRegex: 'trace_id', datasourceUid: tempo.uid });
    expect(loki.jsonData.httpHeaderName1).toBe('X-Scope-OrgID');
    expect(loki.secureJsonData.httpHeaderValue1).toBe('${LOKI_TENANT}');
  });

  it('datasources: every `$` is an env variable Grafana should expand or an escaped literal `$$`', () => {
    const text = read('grafana/provisioning/datasources/datasources.yaml');
    const dollars = [...text.replace(/^#.*$/gm, '').matchAll(/\$+\{?[A-Za-z_.]*/g)].map((m) => m[0]);
    for (const d of dollars) expect(d === '${LOKI_TENANT' || d.startsWith('$${'), d).toBe(true);
  });

  it('dashboard provider points at the mounted dashboards folder', () => {
    const prov = parseYaml(read('grafana/provisioning/dashboards/dashboards.yaml')) as Record<string, any>;
    expect(prov.apiVersion).toBe(1);
    expect(prov.providers[0]).toMatchObject({ type: 'file', options: { path: DASHBOARDS_MOUNT } });
  });

  it('Grafana alert rules are well formed', () => {
    const doc = parseYaml(read('grafana/provisioning/alerting/rules.yaml')) as Record<string, any>;
    expect(doc.apiVersion).toBe(1);
    const uids = new Set<string>();
    for (const g of doc.groups) {
      expect(g.folder).toBeTruthy();
      expect(g.interval).toMatch(/^\d+[smh]$/);
      for (const r of g.rules) {
        expect(r.uid).toMatch(/^[a-z0-9-]{1,40}$/);
        expect(uids.has(r.uid)).toBe(false);
        uids.add(r.uid);
        const refs = r.data.map((x: any) => x.refId);
        expect(refs).toContain(r.condition);
        expect(r.data[0].datasourceUid).toBe('loki');
        for (const x of r.data.slice(1)) expect(x.datasourceUid).toBe('__expr__');
        expect(['OK', 'NoData', 'Alerting', 'KeepLast']).toContain(r.noDataState);
        expect(['Error', 'Alerting', 'OK', 'KeepLast']).toContain(r.execErrState);
        expect(r.for).toMatch(/^\d+[smh]$/);
        expect(['critical', 'high', 'warning']).toContain(r.labels.severity);
        // Grafana expands ${VAR} in titles, labels and annotations at provisioning: none may appear.
        expect(JSON.stringify([r.title, r.labels, r.annotations])).not.toMatch(/\$\{/);
        expect(JSON.stringify([r.title, r.labels])).not.toContain('$');
      }
    }
  });

  it('Loki ruler rules are well formed and match the Grafana ones', () => {
    const loki = parseYaml(read('grafana/loki-rules/oi-audit.yaml')) as Record<string, any>;
    const grafana = parseYaml(read('grafana/provisioning/alerting/rules.yaml')) as Record<string, any>;
    const lokiRules = loki.groups.flatMap((g: any) => g.rules);
    const grafanaRules = grafana.groups.flatMap((g: any) => g.rules);
    expect(lokiRules.length).toBe(grafanaRules.length);
    for (const [i, r] of lokiRules.entries()) {
      expect(r.alert).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
      expect(r.expr).toMatch(/\) > \d+$/);
      expect(r.expr).toContain(grafanaRules[i].data[0].model.expr);
      expect(r.labels.severity).toBe(grafanaRules[i].labels.severity);
    }
  });
});
