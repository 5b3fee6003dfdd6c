/**
 * Alert rules, generated from the detection rule table, in two forms that say the same thing:
 * Grafana-managed alerting provisioning, and Loki ruler rules (Prometheus format, LogQL in `expr`).
 */
import type { DetectionRule, RuleFile } from '../../src/detect/engine.js';
import { AUDIT_EVENTS, type AuditEventName } from '../../src/semconv/events.js';
import { bodyNamesRule, countOver, events, FOLDER_TITLE, L, LOKI_UID, SEL, uncoveredEvents } from './queries.js';

export interface AlertSpec {
  /** Grafana rule uid and Loki alert name stem (lower-case, ≤ 40 characters). */
  uid: string;
  /** Loki alert name (CamelCase). */
  name: string;
  title: string;
  /** The metric query, without the comparison. */
  query: string;
  /** Fires when the query is > threshold. */
  threshold: number;
  /** Evaluation window (for Grafana's relative time range), seconds. */
  windowSeconds: number;
  for: string;
  severity: 'critical' | 'high' | 'warning';
  summary: string;
  description: string;
  labels: Record<string, string>;
  playbook?: string;
}

/** docs/playbooks.md heading anchor of a rule. */
export function playbookAnchor(ruleId: string): string {
  return `docs/playbooks.md#${ruleId.toLowerCase()}`;
}

/** Rules that get an alert of their own: every critical rule, and high output/input/taint rules. */
export function alertedRules(rules: RuleFile): DetectionRule[] {
  return rules.rules.filter(
    (r) => r.severity === 'critical' || (r.severity === 'high' && (r.target.includes('output') || r.target.includes('input') || r.match.taint !== undefined)),
  );
}

function camel(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1).toLowerCase())
    .join('');
}

/** The audit event that carries a rule's id in its body `rules` array, by the rule's target. */
export function eventsCarryingRule(rule: DetectionRule): AuditEventName[] {
  const out: AuditEventName[] = [];
  if (rule.target.includes('code')) out.push(AUDIT_EVENTS.codeGenerated);
  if (rule.target.includes('output')) out.push(AUDIT_EVENTS.commandOutput);
  if (rule.target.includes('input')) out.push(AUDIT_EVENTS.userInput);
  return out;
}

function ruleAlert(rule: DetectionRule): AlertSpec {
  // The rule id recorded in the body (`data.rules`): present whatever the capture mode, unlike the text.
  const carriers = eventsCarryingRule(rule);
  const query = countOver(events(SEL.alert, carriers.length === 1 ? carriers[0]! : carriers, bodyNamesRule(rule.id)), '5m', [L.session]);
  const uid = `oia-rule-${rule.id.toLowerCase()}`;
  return {
    uid,
    name: `OiAuditRule${camel(rule.id)}`,
    title: `${rule.id} ${rule.title}`,
    query,
    threshold: 0,
    windowSeconds: 600,
    for: '0s',
    severity: rule.severity === 'critical' ? 'critical' : 'high',
    summary: `${rule.id} (${rule.title}) in session {{ $labels.session_id }}`,
    description: `${rule.description} ${rule.attack.framework} ${rule.attack.technique} (${rule.attack.name}, ${rule.attack.version}).${rule.target.includes('code') ? ' Proposed code is flagged whether or not it ran: check the approval decision.' : ''}`,
    labels: { rule_id: rule.id, technique: rule.attack.technique },
    playbook: playbookAnchor(rule.id),
  };
}

export function alertSpecs(rules: RuleFile): AlertSpec[] {
  const sel = SEL.alert;
  const specs: AlertSpec[] = [
    {
      uid: 'oia-high-risk-execution',
      name: 'OiAuditHighRiskExecution',
      title: 'High or critical risk code executed',
      query: countOver(events(sel, AUDIT_EVENTS.commandExecuted, `| ${L.risk}=~"high|critical"`), '5m', [L.session, L.risk]),
      threshold: 0,
      windowSeconds: 600,
      for: '0s',
      severity: 'critical',
      summary: 'A {{ $labels.oi_audit_risk_level }} risk code block ran in session {{ $labels.session_id }}',
      description: 'A code block the detection rules rated high or critical was approved and executed. Open the Session dashboard, read the rule ids on the code event and the approval decision (who approved it).',
      labels: {},
      playbook: 'docs/playbooks.md#triage-of-any-oi-audit-alert',
    },
    ...alertedRules(rules).map(ruleAlert),
    {
      uid: 'oia-policy-refusal-burst',
      name: 'OiAuditPolicyRefusalBurst',
      title: 'Burst of refused code blocks',
      query: countOver(events(sel, AUDIT_EVENTS.approvalDecision, `| ${L.decision}="refused"`), '10m', [L.session]),
      threshold: 2,
      windowSeconds: 900,
      for: '0s',
      severity: 'warning',
      summary: '{{ $value }} code blocks refused in 10 minutes in session {{ $labels.session_id }}',
      description: 'The model keeps proposing code the policy refuses: a prompt injection or a user trying to get around the policy.',
      labels: {},
      playbook: 'docs/playbooks.md#policy-refusal-burst',
    },
    {
      uid: 'oia-error-burst',
      name: 'OiAuditErrorBurst',
      title: 'Burst of audit error events',
      query: countOver(events(sel, AUDIT_EVENTS.error), '5m', [L.service]),
      threshold: 10,
      windowSeconds: 600,
      for: '0s',
      severity: 'warning',
      summary: '{{ $value }} error events in 5 minutes from {{ $labels.service_name }}',
      description: 'Execution, LLM, server or process errors are piling up: an outage upstream, a crashing interpreter, or a session probing for failures.',
      labels: {},
      playbook: 'docs/playbooks.md#error-burst',
    },
    {
      uid: 'oia-missing-checkpoint',
      name: 'OiAuditMissingCheckpoint',
      title: 'Audit events not covered by an integrity checkpoint',
      query: uncoveredEvents(sel, '1h'),
      threshold: 0,
      windowSeconds: 3600,
      for: '5m',
      severity: 'critical',
      summary: 'Session {{ $labels.session_id }}: {{ $value }} events without a signed checkpoint for 5 minutes',
      description: 'Checkpoints normally follow events within a minute (every N events, every T seconds, when idle, at session end). A lasting gap means the stream was cut (process killed, sink lost) or checkpoint records were removed.',
      labels: {},
      playbook: 'docs/playbooks.md#missing-integrity-checkpoints',
    },
    {
      uid: 'oia-audit-loss',
      name: 'OiAuditLoss',
      title: 'Audit events lost',
      query: countOver(events(sel, AUDIT_EVENTS.auditLoss), '5m', [L.session]),
      threshold: 0,
      windowSeconds: 600,
      for: '0s',
      severity: 'critical',
      summary: 'Session {{ $labels.session_id }} declared lost audit events',
      description: 'The pipeline recorded a loss (spool full, sink down): the trail for this session has a declared gap.',
      labels: {},
      playbook: 'docs/playbooks.md#audit-loss',
    },
    {
      uid: 'oia-settings-refused',
      name: 'OiAuditSettingsRefused',
      title: 'Attempt to weaken the audit refused',
      query: countOver(events(sel, AUDIT_EVENTS.settingsRefused), '5m', [L.session]),
      threshold: 0,
      windowSeconds: 600,
      for: '0s',
      severity: 'warning',
      summary: 'Session {{ $labels.session_id }} tried to change a protected setting',
      description: 'A client asked for auto_run, a system message, an api_base or another setting that would weaken the audit; the supervisor refused it.',
      labels: {},
      playbook: 'docs/playbooks.md#triage-of-any-oi-audit-alert',
    },
  ];
  for (const s of specs) if (s.uid.length > 40 || !/^[a-z0-9-]+$/.test(s.uid)) throw new Error(`bad alert uid ${s.uid}`);
  return specs;
}

function annotations(s: AlertSpec): Record<string, string> {
  const a: Record<string, string> = { summary: s.summary, description: s.description };
  if (s.playbook) a.playbook = s.playbook;
  return a;
}

/** Grafana file provisioning for alert rules (apiVersion 1). */
export function grafanaAlerting(rules: RuleFile): Record<string, unknown> {
  const specs = alertSpecs(rules);
  return {
    apiVersion: 1,
    groups: [
      {
        orgId: 1,
        name: 'oi-audit',
        folder: FOLDER_TITLE,
        interval: '1m',
        rules: specs.map((s) => ({
          uid: s.uid,
          title: s.title,
          condition: 'C',
          data: [
            {
              refId: 'A',
              queryType: 'instant',
              relativeTimeRange: { from: s.windowSeconds, to: 0 },
              datasourceUid: LOKI_UID,
              model: { refId: 'A', datasource: { type: 'loki', uid: LOKI_UID }, editorMode: 'code', queryType: 'instant', expr: s.query, intervalMs: 1000, maxDataPoints: 43200 },
            },
            {
              refId: 'B',
              relativeTimeRange: { from: 0, to: 0 },
              datasourceUid: '__expr__',
              model: { refId: 'B', datasource: { type: '__expr__', uid: '__expr__' }, type: 'reduce', expression: 'A', reducer: 'last', settings: { mode: 'dropNN' } },
            },
            {
              refId: 'C',
              relativeTimeRange: { from: 0, to: 0 },
              datasourceUid: '__expr__',
              model: {
                refId: 'C',
                datasource: { type: '__expr__', uid: '__expr__' },
                type: 'threshold',
                expression: 'B',
                conditions: [{ evaluator: { type: 'gt', params: [s.threshold] } }],
              },
            },
          ],
          noDataState: 'OK',
          execErrState: 'Error',
          for: s.for,
          annotations: annotations(s),
          labels: { severity: s.severity, source: 'oi-audit', ...s.labels },
          isPaused: false,
        })),
      },
    ],
  };
}

/** Loki ruler rule file (Prometheus rule-group format). */
export function lokiRules(rules: RuleFile): Record<string, unknown> {
  const specs = alertSpecs(rules);
  return {
    groups: [
      {
        name: 'oi-audit',
        interval: '1m',
        rules: specs.map((s) => {
          const rule: Record<string, unknown> = { alert: s.name, expr: `(${s.query}) > ${s.threshold}` };
          if (s.for !== '0s') rule.for = s.for;
          rule.labels = { severity: s.severity, source: 'oi-audit', ...s.labels };
          rule.annotations = annotations(s);
          return rule;
        }),
      },
    ],
  };
}
