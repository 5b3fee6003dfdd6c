import { describe, expect, it } from 'vitest';
import type { AgentSessionOptions } from '../../src/agents/session/options.js';
import { refuseSettings, weakensAudit } from '../../src/agents/session/settings.js';
import { openAgentSession, recordFailedStart, StartAborted, throwIfAborted } from '../../src/agents/session/start.js';
import { approveAll } from '../../src/approval/policy.js';
import type { LlmProxy } from '../../src/llm-proxy/proxy.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

/** What both agents' start() and requestSettings() share (src/agents/session/start.ts, settings.ts). */
function harness() {
  const memory = inMemoryRecorder();
  const options: AgentSessionOptions = {
    recorder: memory.recorder,
    proxy: {} as LlmProxy, // not reached: the shared steps never talk to the proxy
    userId: 'alice',
    model: 'gpt-test',
    approve: approveAll,
    policyName: 'policy',
    clientAddress: '127.0.0.1',
  };
  const of = (event: string) => memory.bodies().filter((b) => b.event === event);
  return { ...memory, options, of };
}

describe('agent session start', () => {
  it('opens every agent session without auto-run, with the policy, model and what the agent adds', () => {
    const h = harness();
    const session = openAgentSession(h.options, { containment: { sandbox: 'bwrap', network: 'none', groundTruth: 'off' } });
    session.end('complete');
    const start = h.of(AUDIT_EVENTS.sessionStart)[0]!.data;
    expect(start).toMatchObject({ auto_run: false, policy: 'policy', model: 'gpt-test' });
    expect(JSON.stringify(start)).toContain('bwrap');
  });

  it('stops at the next step once the signal is aborted, and records the start as aborted by the client', () => {
    const h = harness();
    const session = openAgentSession(h.options, {});
    const controller = new AbortController();
    expect(() => throwIfAborted(controller.signal)).not.toThrow();
    expect(() => throwIfAborted(undefined)).not.toThrow();
    controller.abort('client gone');
    let thrown: unknown;
    try {
      throwIfAborted(controller.signal);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StartAborted);
    expect(recordFailedStart(session, thrown, controller.signal)).toBe('session start abandoned: client gone');
    expect(h.of(AUDIT_EVENTS.error)[0]!.data).toMatchObject({ source: 'client', type: 'client_disconnected' });
    expect(h.of(AUDIT_EVENTS.sessionEnd)[0]!.data).toMatchObject({ outcome: 'aborted' });
  });

  it('a step failing on its own ends the session as error with the detail; one failing after an abort counts as aborted', () => {
    const failed = harness();
    recordFailedStart(openAgentSession(failed.options, {}), new Error('no venv'), undefined, 'last stderr line');
    expect(failed.of(AUDIT_EVENTS.error)[0]!.data).toMatchObject({ source: 'process', type: 'start_failed', message: { text: 'no venv\nlast stderr line' } });
    expect(failed.of(AUDIT_EVENTS.sessionEnd)[0]!.data).toMatchObject({ outcome: 'error' });

    const abandoned = harness();
    const controller = new AbortController();
    controller.abort();
    recordFailedStart(openAgentSession(abandoned.options, {}), new Error('socket closed'), controller.signal);
    expect(abandoned.of(AUDIT_EVENTS.sessionEnd)[0]!.data).toMatchObject({ outcome: 'aborted' });
  });
});

describe('settings a client asks for', () => {
  it('refuses and records every key; the audit-weakening ones by name, also inside an object', () => {
    const h = harness();
    const session = openAgentSession(h.options, {});
    const refused = refuseSettings(session, { auto_run: true, llm: { api_base: 'http://evil' }, computer: { import_computer_api: true }, temperature: 0.2, llm_extra: { x: 1 } });
    session.end('complete');
    expect(refused).toEqual(['auto_run', 'llm', 'computer', 'temperature', 'llm_extra']);
    const reasons = Object.fromEntries(h.of(AUDIT_EVENTS.settingsRefused).map((b) => [b.data.setting, b.data.reason]));
    expect(reasons).toEqual({
      auto_run: 'would weaken the audit',
      llm: 'would weaken the audit',
      computer: 'would weaken the audit',
      temperature: 'settings are not passed through',
      llm_extra: 'settings are not passed through',
    });
  });

  it('does not take a weakening key for a harmless one that merely shares a prefix', () => {
    expect(weakensAudit('llm', { temperature: 1 })).toBe(false);
    expect(weakensAudit('llm', ['api_base'])).toBe(false);
    expect(weakensAudit('llm', null)).toBe(false);
    expect(weakensAudit('llm', { model: 'other' })).toBe(true);
  });
});
