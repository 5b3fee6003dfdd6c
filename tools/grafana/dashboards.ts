/**
 * The three dashboards, built as @grafana/schema `Dashboard` objects so tsc checks their shape
 * (type-only import: nothing from @grafana/schema is needed at run time).
 */
import type { Dashboard, DataSourceRef, FieldColorModeId, Panel, VariableModel } from '@grafana/schema';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import type { RuleFile } from '../../src/detect/engine.js';
import { bodyNamesRule, countOver, DASHBOARD_UIDS, events, L, lineRegex, LOKI_UID, SEL, TEMPO_UID, TRACEQL, uncoveredEvents } from './queries.js';

const LOKI: DataSourceRef = { type: 'loki', uid: LOKI_UID };
const TEMPO: DataSourceRef = { type: 'tempo', uid: TEMPO_UID };
const SCHEMA_VERSION = 39;

type LokiTarget = { refId: string; datasource: DataSourceRef; expr: string; queryType: 'range' | 'instant'; legendFormat?: string; editorMode: 'code' };
type TempoTarget = { refId: string; datasource: DataSourceRef; queryType: 'traceql'; query: string; limit: number; tableType: 'traces' | 'spans' };

function loki(expr: string, queryType: 'range' | 'instant' = 'range', legendFormat?: string, refId = 'A'): LokiTarget {
  const t: LokiTarget = { refId, datasource: LOKI, expr, queryType, editorMode: 'code' };
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
}

function stat(title: string, expr: string, description: string, color = 'blue'): Omit<Panel, 'id' | 'gridPos'> {
  return {
    type: 'stat',
    title,
    description,
    datasource: LOKI,
    targets: [loki(expr, 'instant')],
    fieldConfig: { defaults: { color: { mode: 'fixed' as FieldColorModeId.Fixed, fixedColor: color }, unit: 'short', noValue: '0' }, overrides: [] },
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

function serviceVariable(): VariableModel {
  return {
    name: 'service',
    label: 'Service',
    type: 'query',
    datasource: LOKI,
    query: { qryType: 1, label: L.service, stream: '', refId: 'LokiVariableQueryEditor-VariableQuery' },
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.+',
    current: { text: 'All', value: '$__all' },
    sort: 1,
  };
}

function sessionVariable(): VariableModel {
  return {
    name: 'session_id',
    label: 'Session',
    type: 'query',
    datasource: LOKI,
    query: { qryType: 1, label: L.session, stream: '{service_name=~"$service"}', refId: 'LokiVariableQueryEditor-VariableQuery' },
    refresh: 2,
    includeAll: false,
    multi: false,
    sort: 0,
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
    graphTooltip: 1,
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
  return dashboard(DASHBOARD_UIDS.sessions, 'oi-audit / Sessions', 'Open Interpreter sessions audited by oi-audit: activity, executions, errors and risk.', g.panels, [serviceVariable()]);
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
  return dashboard(DASHBOARD_UIDS.security, 'oi-audit / Security', 'Detections, refusals, prompt-injection indicators, redactions and integrity of the oi-audit trail.', g.panels, [serviceVariable()], 'now-7d');
}
