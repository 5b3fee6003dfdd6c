/**
 * The three dashboards, built as @grafana/schema `Dashboard` objects so tsc checks their shape
 * (type-only import: nothing from @grafana/schema is needed at run time).
 */
import type { Dashboard, DashboardCursorSync, DataSourceRef, FieldColorModeId, Panel, VariableModel, VariableRefresh, VariableSort } from '@grafana/schema';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import type { RuleFile } from '../../src/detect/engine.js';
import { APP_METRICS, appSelector, COLLECTOR_METRICS, estimatedCost, histogramQuantile, LOKI_EXPORTER, promBaseName, PROMETHEUS_UID, promLabel, SCRAPE_JOBS } from './prometheus.js';
import { bodyNamesRule, countOver, DASHBOARD_UIDS, events, L, lineRegex, LOKI_UID, SEL, TEMPO_UID, TRACEQL, uncoveredEvents } from './queries.js';
import * as A from '../../src/semconv/attributes.js';

const LOKI: DataSourceRef = { type: 'loki', uid: LOKI_UID };
const TEMPO: DataSourceRef = { type: 'tempo', uid: TEMPO_UID };
const PROM: DataSourceRef = { type: 'prometheus', uid: PROMETHEUS_UID };
const SCHEMA_VERSION = 39;

/*
 * @grafana/schema enum members by their JSON values: the schema is imported for its types only (no run-time
 * dependency), so its enums cannot be referenced; the dashboard JSON holds the plain values anyway.
 */
const COLOR_FIXED = 'fixed' as unknown as FieldColorModeId;
const REFRESH_ON_TIME_RANGE = 2 as unknown as VariableRefresh;
const SORT_NONE = 0 as unknown as VariableSort;
const SORT_ALPHA_ASC = 1 as unknown as VariableSort;
const CURSOR_CROSSHAIR = 1 as unknown as DashboardCursorSync;

type LokiTarget = { refId: string; datasource: DataSourceRef; expr: string; queryType: 'range' | 'instant'; legendFormat?: string; editorMode: 'code' };
type TempoTarget = { refId: string; datasource: DataSourceRef; queryType: 'traceql'; query: string; limit: number; tableType: 'traces' | 'spans' };
type PromTarget = { refId: string; datasource: DataSourceRef; expr: string; instant: boolean; range: boolean; legendFormat?: string; editorMode: 'code' };

function loki(expr: string, queryType: 'range' | 'instant' = 'range', legendFormat?: string, refId = 'A'): LokiTarget {
  const t: LokiTarget = { refId, datasource: LOKI, expr, queryType, editorMode: 'code' };
  if (legendFormat) t.legendFormat = legendFormat;
  return t;
}

function prom(expr: string, legendFormat?: string, refId = 'A', instant = false): PromTarget {
  const t: PromTarget = { refId, datasource: PROM, expr, instant, range: !instant, editorMode: 'code' };
  if (legendFormat) t.legendFormat = legendFormat;
  return t;
}

function tempo(query: string, tableType: 'traces' | 'spans', refId = 'A'): TempoTarget {
  return { refId, datasource: TEMPO, queryType: 'traceql', query, limit: 50, tableType };
}

/** Lays panels out left to right, wrapping at 24 columns. */
class Layout {
  private x = 0;
  private y = 0;
  private rowHeight = 0;
  private nextId = 1;
  readonly panels: Panel[] = [];

  add(panel: Omit<Panel, 'id' | 'gridPos'>, w: number, h: number): void {
    if (this.x + w > 24) {
      this.x = 0;
      this.y += this.rowHeight;
      this.rowHeight = 0;
    }
    this.panels.push({ ...panel, id: this.nextId++, gridPos: { x: this.x, y: this.y, w, h } });
    this.x += w;
    this.rowHeight = Math.max(this.rowHeight, h);
  }

  /** A row header on a line of its own; the panels after it belong to it. */
  row(title: string): void {
    if (this.x > 0) {
      this.y += this.rowHeight;
      this.x = 0;
    }
    this.panels.push({ type: 'row', title, collapsed: false, panels: [], id: this.nextId++, gridPos: { x: 0, y: this.y, w: 24, h: 1 } } as Panel);
    this.y += 1;
    this.rowHeight = 0;
  }
}

function stat(title: string, expr: string, description: string, color = 'blue'): Omit<Panel, 'id' | 'gridPos'> {
  return {
    type: 'stat',
    title,
    description,
    datasource: LOKI,
    targets: [loki(expr, 'instant')],
    fieldConfig: { defaults: { color: { mode: COLOR_FIXED, fixedColor: color }, unit: 'short', noValue: '0' }, overrides: [] },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none', textMode: 'value' },
  };
}

function timeseries(title: string, targets: LokiTarget[], description: string, stacked = true): Omit<Panel, 'id' | 'gridPos'> {
  return {
    type: 'timeseries',
    title,
    description,
    datasource: LOKI,
    targets,
    fieldConfig: {
      defaults: { unit: 'short', custom: { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: stacked ? 'normal' : 'none', group: 'A' } } },
      overrides: [],
    },
    options: { legend: { showLegend: true, displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi', sort: 'desc' } },
  };
}

function logs(title: string, expr: string, description: string): Omit<Panel, 'id' | 'gridPos'> {
  return {
    type: 'logs',
    title,
    description,
    datasource: LOKI,
    targets: [loki(expr)],
    options: { showTime: true, wrapLogMessage: true, prettifyLogMessage: false, enableLogDetails: true, sortOrder: 'Ascending', dedupStrategy: 'none' },
  };
}

function table(title: string, targets: Array<LokiTarget | TempoTarget>, description: string, extra: Partial<Panel> = {}): Omit<Panel, 'id' | 'gridPos'> {
  return {
    type: 'table',
    title,
    description,
    datasource: targets[0]!.datasource,
    targets,
    options: { showHeader: true, cellHeight: 'sm' },
    fieldConfig: { defaults: {}, overrides: [] },
    ...extra,
  };
}

function promStat(title: string, expr: string, description: string, unit: string, color = 'blue', decimals?: number): Omit<Panel, 'id' | 'gridPos'> {
  const defaults: Record<string, unknown> = { color: { mode: COLOR_FIXED, fixedColor: color }, unit, noValue: '0' };
  if (decimals !== undefined) defaults.decimals = decimals;
  return {
    type: 'stat',
    title,
    description,
    datasource: PROM,
    targets: [prom(expr, undefined, 'A', true)],
    fieldConfig: { defaults, overrides: [] },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none', textMode: 'value' },
  };
}

function promTimeseries(title: string, targets: PromTarget[], description: string, unit: string): Omit<Panel, 'id' | 'gridPos'> {
  return {
    type: 'timeseries',
    title,
    description,
    datasource: PROM,
    targets,
    fieldConfig: { defaults: { unit, custom: { drawStyle: 'line', fillOpacity: 10, stacking: { mode: 'none', group: 'A' } } }, overrides: [] },
    options: { legend: { showLegend: true, displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } },
  };
}

/** Price inputs for the cost panels: USD per million tokens, one blended price per token type (set them per view: `?var-usd_per_mtok_input=3`). */
function priceVariable(name: string, label: string): VariableModel {
  return { name, label, type: 'textbox', query: '0', current: { text: '0', value: '0' }, options: [{ text: '0', value: '0', selected: true }] };
}

const P = {
  provider: promLabel(A.ATTR_GEN_AI_PROVIDER_NAME),
  model: promLabel(A.ATTR_GEN_AI_REQUEST_MODEL),
  tokenType: promLabel(A.ATTR_GEN_AI_TOKEN_TYPE),
  language: promLabel(A.ATTR_CODE_LANGUAGE),
  decision: promLabel(A.ATTR_APPROVAL_DECISION),
  risk: promLabel(A.ATTR_RISK_LEVEL),
  lossReason: promLabel(A.ATTR_AUDIT_LOSS_REASON),
  signal: promLabel(A.ATTR_AUDIT_SIGNAL),
  redactionRule: promLabel(A.ATTR_REDACTION_RULE),
} as const;

/** The usage, latency and cost row: the app's GenAI metrics, through the Collector's Prometheus exporter. */
function usageRow(g: Layout): void {
  const tokens = `${promBaseName(APP_METRICS.tokenUsage)}_sum`;
  const calls = `${promBaseName(APP_METRICS.operationDuration)}_count`;
  g.row('Usage, latency and cost (Prometheus: gen_ai.client.* metrics)');
  g.add(promStat('Tokens', `sum(increase(${appSelector(tokens)}[$__range]))`, 'Input and output tokens of every LLM call in the range (gen_ai.client.token.usage).', 'short'), 6, 4);
  g.add(promStat('LLM calls', `sum(increase(${appSelector(calls)}[$__range]))`, 'LLM calls in the range (gen_ai.client.operation.duration count), failed ones included.', 'short'), 6, 4);
  g.add(promStat('LLM call p95', histogramQuantile(0.95, APP_METRICS.operationDuration, [], '$__range'), '95th percentile of the LLM call duration over the range.', 's', 'purple'), 6, 4);
  g.add(promStat('Estimated cost (USD)', estimatedCost('$__range'), 'Tokens times the price variables above (USD per million input / output tokens; 0 until you set them). The metrics carry no prices: this is an estimate at one blended price per token type.', 'currencyUSD', 'green', 2), 6, 4);
  g.add(promTimeseries('Token usage by model', [
    prom(`sum by (${P.provider}, ${P.model}, ${P.tokenType}) (rate(${appSelector(tokens)}[$__rate_interval]))`, `{{${P.provider}}} {{${P.model}}} {{${P.tokenType}}}`),
  ], 'Tokens per second by provider, requested model and token type (input / output).', 'short'), 12, 8);
  g.add(promTimeseries('Estimated cost by model', [
    prom(estimatedCost('$__rate_interval', [P.model]), `{{${P.model}}}`),
  ], 'Estimated USD per rate interval by requested model, at the price variables.', 'currencyUSD'), 12, 8);
  g.add(promTimeseries('LLM call duration p50 / p95', [
    prom(histogramQuantile(0.5, APP_METRICS.operationDuration, [P.model]), `p50 {{${P.model}}}`, 'A'),
    prom(histogramQuantile(0.95, APP_METRICS.operationDuration, [P.model]), `p95 {{${P.model}}}`, 'B'),
  ], 'Duration of an LLM call, request to last streamed chunk (gen_ai.client.operation.duration), by requested model.', 's'), 12, 8);
  g.add(promTimeseries('Time to first chunk p50 / p95', [
    prom(histogramQuantile(0.5, APP_METRICS.timeToFirstChunk, [P.model]), `p50 {{${P.model}}}`, 'A'),
    prom(histogramQuantile(0.95, APP_METRICS.timeToFirstChunk, [P.model]), `p95 {{${P.model}}}`, 'B'),
  ], 'Time from the LLM request to its first streamed chunk (gen_ai.client.operation.time_to_first_chunk), streaming calls only.', 's'), 12, 8);
  g.add(promTimeseries('Code execution duration p50 / p95', [
    prom(histogramQuantile(0.5, APP_METRICS.executeToolDuration, [P.language]), `p50 {{${P.language}}}`, 'A'),
    prom(histogramQuantile(0.95, APP_METRICS.executeToolDuration, [P.language]), `p95 {{${P.language}}}`, 'B'),
  ], 'Duration of a code execution, approval to end of output (gen_ai.execute_tool.duration), by language.', 's'), 12, 8);
  g.add(promTimeseries('Code blocks by decision and risk', [
    prom(`sum by (${P.decision}, ${P.risk}) (increase(${appSelector(promBaseName(APP_METRICS.blocks))}[$__rate_interval]))`, `{{${P.decision}}} {{${P.risk}}}`),
  ], 'Code blocks decided (oi_audit.blocks), by approval decision and risk level.', 'short'), 12, 8);
}

/** The audit pipeline's health: the app's loss/export/spool metrics and the Collector's Loki exporter. */
function pipelineRow(g: Layout): void {
  const loki = `exporter="${LOKI_EXPORTER}"`;
  g.row('Audit pipeline (Prometheus: oi_audit.* metrics and the Collector\'s own)');
  g.add(promTimeseries('Records lost by reason', [
    prom(`sum by (${P.lossReason}) (increase(${appSelector(promBaseName(APP_METRICS.recordsLost))}[$__rate_interval]))`, `{{${P.lossReason}}}`),
  ], 'Audit records lost before the sink (oi_audit.records.lost); each loss is also declared in its chain (oi_audit.audit.loss).', 'short'), 8, 8);
  g.add(promTimeseries('App export failures and spool', [
    prom(`sum by (${P.signal}) (increase(${appSelector(promBaseName(APP_METRICS.exportFailures))}[$__rate_interval]))`, `failed {{${P.signal}}}`, 'A'),
    prom(`sum by (${P.signal}) (${appSelector(promBaseName(APP_METRICS.spoolBytes))})`, `spool bytes {{${P.signal}}}`, 'B'),
  ], 'OTLP export requests that failed (spooled and retried), and the bytes waiting in the durable spool.', 'short'), 8, 8);
  g.add(promTimeseries('Collector → Loki', [
    prom(`sum(${COLLECTOR_METRICS.queueSize}{job="${SCRAPE_JOBS.collector}", ${loki}})`, 'queued', 'A'),
    prom(`sum(rate(${COLLECTOR_METRICS.sentLogRecords}{job="${SCRAPE_JOBS.collector}", ${loki}}[$__rate_interval]))`, 'sent/s', 'B'),
    prom(`sum(increase(${COLLECTOR_METRICS.sendFailedLogRecords}{job="${SCRAPE_JOBS.collector}", ${loki}}[$__rate_interval]))`, 'refused (dropped at Loki)', 'C'),
  ], 'The Collector\'s Loki exporter: records queued (retried: Loki down, 429, 503), sent per second, and refused for good (400: too old, too far in the future). Refused records are still in the archive and the SIEM; alerts OiAuditLokiRefusedRecords and OiAuditLokiBacklogStuck (collector-config/prometheus-rules.yml).', 'short'), 8, 8);
  g.add(promTimeseries('Redactions by rule', [
    prom(`sum by (${P.redactionRule}) (increase(${appSelector(promBaseName(APP_METRICS.redactions))}[$__rate_interval]))`, `{{${P.redactionRule}}}`),
  ], 'Secrets and personal data redacted before export (oi_audit.redactions), by redaction rule.', 'short'), 24, 8);
}

function serviceVariable(): VariableModel {
  return {
    name: 'service',
    label: 'Service',
    type: 'query',
    datasource: LOKI,
    query: { qryType: 1, label: L.service, stream: '', refId: 'LokiVariableQueryEditor-VariableQuery' },
    refresh: REFRESH_ON_TIME_RANGE,
    includeAll: true,
    multi: true,
    allValue: '.+',
    current: { text: 'All', value: '$__all' },
    sort: SORT_ALPHA_ASC,
  };
}

function sessionVariable(): VariableModel {
  return {
    name: 'session_id',
    label: 'Session',
    type: 'query',
    datasource: LOKI,
    query: { qryType: 1, label: L.session, stream: '{service_name=~"$service"}', refId: 'LokiVariableQueryEditor-VariableQuery' },
    refresh: REFRESH_ON_TIME_RANGE,
    includeAll: false,
    multi: false,
    sort: SORT_NONE,
  };
}

function dashboard(uid: string, title: string, description: string, panels: Panel[], variables: VariableModel[], time = 'now-24h'): Dashboard {
  return {
    uid,
    title,
    description,
    tags: ['oi-audit', 'open-interpreter', 'audit'],
    timezone: 'utc',
    editable: false,
    graphTooltip: CURSOR_CROSSHAIR,
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    refresh: '1m',
    time: { from: time, to: 'now' },
    templating: { list: variables },
    annotations: { list: [] },
    links: [
      { title: 'oi-audit', type: 'dashboards', tags: ['oi-audit'], asDropdown: true, includeVars: true, keepTime: true, icon: 'external link', targetBlank: false, tooltip: '', url: '' },
    ],
    panels,
  };
}

const SESSION_LINK = `/d/${DASHBOARD_UIDS.session}/?var-service=\${service}&var-session_id=\${__data.fields.${L.session}}&\${__url_time_range}`;

export function sessionsDashboard(): Dashboard {
  const s = SEL.dashboard;
  const g = new Layout();
  g.add(stat('Sessions', countOver(events(s, AUDIT_EVENTS.sessionStart), '$__range'), 'Interpreter sessions started in the time range.'), 4, 4);
  g.add(stat('Users', `count(${countOver(events(s, AUDIT_EVENTS.sessionStart), '$__range', [L.user])})`, 'Distinct pseudonymous users (enduser.pseudo.id) who started a session.'), 4, 4);
  g.add(stat('Turns', countOver(events(s, AUDIT_EVENTS.userInput), '$__range'), 'User turns (one user input event each).'), 4, 4);
  g.add(stat('Executions', countOver(events(s, AUDIT_EVENTS.commandExecuted), '$__range'), 'Code blocks that were approved and run.'), 4, 4);
  g.add(stat('Refused', countOver(events(s, AUDIT_EVENTS.approvalDecision, `| ${L.decision}="refused"`), '$__range'), 'Code blocks refused by the policy or a human.', 'orange'), 4, 4);
  g.add(stat('Errors', countOver(events(s, AUDIT_EVENTS.error), '$__range'), 'Error events (execution, LLM, server, process, protocol).', 'red'), 4, 4);
  g.add(timeseries('Sessions and turns', [
    loki(countOver(events(s, AUDIT_EVENTS.sessionStart), '$__auto'), 'range', 'sessions', 'A'),
    loki(countOver(events(s, AUDIT_EVENTS.userInput), '$__auto'), 'range', 'turns', 'B'),
  ], 'Sessions started and user turns over time.', false), 12, 8);
  g.add(timeseries('Executions by language', [
    loki(countOver(events(s, AUDIT_EVENTS.commandExecuted), '$__auto', [L.language]), 'range', `{{${L.language}}}`),
  ], 'Code blocks run, by language.'), 12, 8);
  g.add(timeseries('Errors by type', [
    loki(countOver(events(s, AUDIT_EVENTS.error), '$__auto', [L.errorType]), 'range', `{{${L.errorType}}}`),
  ], 'Error events by error.type (empty: no type recorded).'), 12, 8);
  g.add(timeseries('Proposed code by risk level', [
    loki(countOver(events(s, AUDIT_EVENTS.codeGenerated), '$__auto', [L.risk]), 'range', `{{${L.risk}}}`),
  ], 'Code blocks proposed by the model, by the risk level the detection rules gave them.'), 12, 8);
  g.add(table('Top risk rules', [
    loki(`topk(15, ${countOver(events(s, [AUDIT_EVENTS.codeGenerated, AUDIT_EVENTS.commandOutput, AUDIT_EVENTS.userInput], '| regexp `"rules":\\["(?P<rule>OIA-[A-Z]{2,6}-[0-9]{3})"`'), '$__range', ['rule'])})`, 'instant'),
  ], 'The most severe rule of each proposed code block, command output and user input (rules are recorded most severe first), counted over the range. Rule ids are defined in src/detect/rules.json; playbooks in docs/playbooks.md.', {
    transformations: [{ id: 'reduce', options: { reducers: ['lastNotNull'] } }, { id: 'sortBy', options: { sort: [{ field: 'Last *', desc: true }] } }],
  }), 12, 10);
  g.add(table('Sessions', [
    loki(countOver(events(s, [AUDIT_EVENTS.sessionStart, AUDIT_EVENTS.userInput, AUDIT_EVENTS.commandExecuted]), '$__range', [L.session, L.user]), 'instant'),
  ], 'Sessions in the range with their events counted (start, turns, executions). Click a session to open it.', {
    transformations: [{ id: 'labelsToFields', options: { mode: 'columns' } }, { id: 'organize', options: { excludeByName: { Time: true } } }],
    fieldConfig: {
      defaults: {},
      overrides: [{ matcher: { id: 'byName', options: L.session }, properties: [{ id: 'links', value: [{ title: 'Open session', url: SESSION_LINK }] }] }],
    },
  }), 12, 10);
  usageRow(g);
  return dashboard(DASHBOARD_UIDS.sessions, 'oi-audit / Sessions', 'Open Interpreter sessions audited by oi-audit: activity, executions, errors and risk; LLM usage, latency and estimated cost.', g.panels, [
    serviceVariable(),
    priceVariable('usd_per_mtok_input', 'USD / 1M input tokens'),
    priceVariable('usd_per_mtok_output', 'USD / 1M output tokens'),
  ]);
}

export function sessionDashboard(): Dashboard {
  const s = SEL.session;
  const g = new Layout();
  g.add(stat('Turns', countOver(events(s, AUDIT_EVENTS.userInput), '$__range'), 'User turns in this session.'), 4, 4);
  g.add(stat('Code blocks', countOver(events(s, AUDIT_EVENTS.codeGenerated), '$__range'), 'Code blocks the model proposed.'), 4, 4);
  g.add(stat('Executed', countOver(events(s, AUDIT_EVENTS.commandExecuted), '$__range'), 'Code blocks approved and run.'), 4, 4);
  g.add(stat('Refused', countOver(events(s, AUDIT_EVENTS.approvalDecision, `| ${L.decision}="refused"`), '$__range'), 'Code blocks refused.', 'orange'), 4, 4);
  g.add(stat('High/critical blocks', countOver(events(s, AUDIT_EVENTS.codeGenerated, `| ${L.risk}=~"high|critical"`), '$__range'), 'Proposed code blocks rated high or critical.', 'red'), 4, 4);
  g.add(stat('Errors', countOver(events(s, AUDIT_EVENTS.error), '$__range'), 'Error events in this session.', 'red'), 4, 4);
  g.add(table('Trace', [tempo(TRACEQL.sessionRoot, 'traces')], 'The session\'s trace in Tempo (TraceQL on session.id). Open it for the span tree: prompt → generation / execution.'), 8, 8);
  g.add(table('Spans', [tempo(TRACEQL.sessionSpans, 'spans')], 'Every span of the session with its risk level, language, approval decision and model.'), 16, 8);
  g.add(logs('Event timeline', events(s, [
    AUDIT_EVENTS.sessionStart, AUDIT_EVENTS.userInput, AUDIT_EVENTS.llmRequest, AUDIT_EVENTS.llmResponse, AUDIT_EVENTS.assistantMessage,
    AUDIT_EVENTS.codeGenerated, AUDIT_EVENTS.approvalDecision, AUDIT_EVENTS.commandExecuted, AUDIT_EVENTS.error, AUDIT_EVENTS.settingsRefused,
    AUDIT_EVENTS.auditLoss, AUDIT_EVENTS.sessionEnd,
  ]), 'Every audit event of the session in order (command output and checkpoints have their own panels). Each line is the evidence: the canonical JSON body with seq, prev and mac.'), 24, 12);
  g.add(logs('Code and approvals', events(s, [AUDIT_EVENTS.codeGenerated, AUDIT_EVENTS.approvalDecision]), 'Proposed code with its risk level and rule ids, and the approval decision bound to the code\'s SHA-256.'), 12, 10);
  g.add(logs('Command output', events(s, AUDIT_EVENTS.commandOutput), 'Console output (in parts), as captured under the session\'s capture policy.'), 12, 10);
  g.add(logs('Errors', events(s, AUDIT_EVENTS.error), 'Errors with their source and type.'), 12, 8);
  g.add(logs('Integrity checkpoints', events(s, AUDIT_EVENTS.integrityCheckpoint), 'Checkpoints sealing the chain (from_seq … to_seq). Verify with `oi-audit verify`.'), 12, 8);
  return dashboard(DASHBOARD_UIDS.session, 'oi-audit / Session', 'One Open Interpreter session: its trace, its audit events in order, code, approvals, output and errors.', g.panels, [serviceVariable(), sessionVariable()], 'now-7d');
}

export function securityDashboard(rules: RuleFile): Dashboard {
  const s = SEL.dashboard;
  const g = new Layout();
  g.add(stat('High/critical executed', countOver(events(s, AUDIT_EVENTS.commandExecuted, `| ${L.risk}=~"high|critical"`), '$__range'), 'Code blocks rated high or critical that were approved and run.', 'red'), 6, 4);
  g.add(stat('Refusals', countOver(events(s, AUDIT_EVENTS.approvalDecision, `| ${L.decision}="refused"`), '$__range'), 'Code blocks refused (policy, human, fail-closed guard).', 'orange'), 6, 4);
  g.add(stat('Redactions', `sum(sum_over_time(${s} | ${L.redactions} > 0 | unwrap ${L.redactions} [$__range]))`, 'Secrets and personal data redacted before export (sum of oi_audit.redaction.count).', 'purple'), 6, 4);
  g.add(stat('Audit loss events', countOver(events(s, AUDIT_EVENTS.auditLoss), '$__range'), 'Declared gaps: events lost because the spool was full or the sink was down.', 'red'), 6, 4);
  g.add(timeseries('High-risk executions', [
    loki(countOver(events(s, AUDIT_EVENTS.commandExecuted, `| ${L.risk}=~"high|critical"`), '$__auto', [L.risk]), 'range', `{{${L.risk}}}`),
  ], 'Executed code blocks rated high or critical, by level.'), 12, 8);
  g.add(timeseries('Approval decisions', [
    loki(countOver(events(s, AUDIT_EVENTS.approvalDecision), '$__auto', [L.decision]), 'range', `{{${L.decision}}}`),
  ], 'Approved and refused code blocks over time.'), 12, 8);
  g.add(logs('High and critical code blocks', events(s, AUDIT_EVENTS.codeGenerated, `| ${L.risk}=~"high|critical"`), 'Proposed code blocks rated high or critical, with their rule ids (see docs/playbooks.md).'), 24, 10);
  g.add(logs('Refusals', events(s, AUDIT_EVENTS.approvalDecision, `| ${L.decision}="refused"`), 'Refused code blocks with the decider, the reason and the rules that drove the decision.'), 12, 8);

  // Prompt-injection indicators: taint / PI rule ids on code blocks, and the rules' own LogQL line filters
  // over captured command output and user input (only visible when content is captured, not in hash mode).
  const piTargets: LokiTarget[] = [
    loki(events(s, [AUDIT_EVENTS.codeGenerated, AUDIT_EVENTS.commandOutput, AUDIT_EVENTS.userInput], bodyNamesRule('OIA-(?:PI|TAINT)-', false)), 'range', undefined, 'A'),
  ];
  let ref = 66; // 'B'
  for (const r of rules.rules) {
    if (!r.logql) continue;
    const event = r.target.includes('input') ? AUDIT_EVENTS.userInput : AUDIT_EVENTS.commandOutput;
    piTargets.push(loki(events(s, event, lineRegex(r.logql)), 'range', undefined, String.fromCharCode(ref++)));
  }
  g.add({
    type: 'logs',
    title: 'Prompt-injection indicators',
    description: 'Query A: events whose recorded rule ids include a prompt-injection or taint rule (OIA-PI-*, OIA-TAINT-*) — code blocks, the final part of command output, user input — in any capture mode. Queries B…: the output/input rules\' own indicator filters over captured text (full or redacted capture only), for hunting in data recorded before a rule existed.',
    datasource: LOKI,
    targets: piTargets,
    options: { showTime: true, wrapLogMessage: true, enableLogDetails: true, sortOrder: 'Descending', dedupStrategy: 'none' },
  }, 12, 8);
  g.add(timeseries('Redaction counts', [
    loki(`sum by (${L.event}) (sum_over_time(${s} | ${L.redactions} > 0 | unwrap ${L.redactions} [$__auto]))`, 'range', `{{${L.event}}}`),
  ], 'Items redacted per event type (user input, LLM messages, code, output).'), 12, 8);
  g.add(table('Missing integrity checkpoints', [loki(uncoveredEvents(s, '1h'), 'instant')], 'Sessions whose latest events (last hour) are not yet covered by a signed checkpoint: events minus the last checkpoint\'s to_seq. A short lag (under a minute) is normal; a lasting one means the stream was cut or the checkpoint was deleted — run `oi-audit verify`.', {
    transformations: [{ id: 'labelsToFields', options: { mode: 'columns' } }],
    fieldConfig: {
      defaults: {},
      overrides: [{ matcher: { id: 'byName', options: L.session }, properties: [{ id: 'links', value: [{ title: 'Open session', url: SESSION_LINK }] }] }],
    },
  }), 12, 8);
  g.add(table('Risky spans (Tempo)', [tempo(TRACEQL.riskySpans, 'spans')], 'Execution spans rated high or critical, with their session and rules.'), 12, 8);
  g.add(logs('Audit loss and refused settings', events(s, [AUDIT_EVENTS.auditLoss, AUDIT_EVENTS.settingsRefused]), 'Declared evidence gaps, and attempts to change settings that would weaken the audit.'), 24, 8);
  pipelineRow(g);
  return dashboard(DASHBOARD_UIDS.security, 'oi-audit / Security', 'Detections, refusals, prompt-injection indicators, redactions and integrity of the oi-audit trail.', g.panels, [serviceVariable()], 'now-7d');
}
