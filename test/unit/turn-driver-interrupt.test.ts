import { describe, expect, it } from 'vitest';
import { TurnDriver } from '../../src/agents/classic/lmc/turn-driver.js';
import type { LmcChunk } from '../../src/agents/session/lmc-chunk.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const complete: LmcChunk = { role: 'server', type: 'status', content: 'complete' };
const block: LmcChunk[] = [
  { role: 'assistant', type: 'code', format: 'python', start: true },
  { role: 'assistant', type: 'code', format: 'python', content: 'while True: print(1)' },
  { role: 'assistant', type: 'code', format: 'python', end: true },
  complete,
];

describe('TurnDriver.interrupt (Ctrl-C at the terminal, stop from a client)', () => {
  it('ends a running turn at once as stopped, the stop recorded on that turn, not counted as an error', async () => {
    const h = inMemoryRecorder();
    const session = h.recorder.openSession({ userId: 'u' });
    const sent: string[] = [];
    const driver: TurnDriver = new TurnDriver(
      session,
      {
        sendUserMessage: () => queueMicrotask(() => block.forEach((c) => driver.push(c))),
        sendCommand: (c) => {
          sent.push(c);
          // The code runs and streams; it never completes by itself.
          if (c === 'go') queueMicrotask(() => driver.push({ role: 'computer', type: 'console', format: 'output', content: 'tick\n' }));
        },
      },
      { approve: () => Promise.resolve({ decision: 'approved', decider: 'user' }) },
    );
    const turn = driver.runTurn('count forever');
    await new Promise((r) => setTimeout(r, 20));
    expect(driver.interrupt('the user stopped the turn')).toBe(true);
    const result = await turn;
    expect(result.outcome).toBe('stopped');
    expect(result.executed).toBe(1);
    expect(result.errors).toEqual([]);
    const stops = h.bodies().filter((b) => b.event === AUDIT_EVENTS.error && b.data.type === 'stopped_by_user');
    expect(stops.map((s) => [s.data.turn, s.data.source])).toEqual([[0, 'client']]);
    // No turn runs now: nothing to interrupt, and the next turn is not born stopped.
    expect(driver.interrupt('again')).toBe(false);
    session.end();
  });

  it('a stop while the approval is pending never sends go, even if the answer is yes', async () => {
    const h = inMemoryRecorder();
    const session = h.recorder.openSession({ userId: 'u' });
    const sent: string[] = [];
    let answer!: (v: 'yes') => void;
    const driver: TurnDriver = new TurnDriver(
      session,
      { sendUserMessage: () => queueMicrotask(() => block.forEach((c) => driver.push(c))), sendCommand: (c) => void sent.push(c) },
      {
        approve: async () => {
          await new Promise<'yes'>((r) => (answer = r));
          return { decision: 'approved', decider: 'user' };
        },
      },
    );
    const turn = driver.runTurn('count forever');
    await new Promise((r) => setTimeout(r, 20));
    driver.interrupt('the user stopped the turn');
    answer('yes');
    const result = await turn;
    expect(result.outcome).toBe('stopped');
    expect(result.executed).toBe(0);
    expect(sent).not.toContain('go');
    session.end();
  });
});
