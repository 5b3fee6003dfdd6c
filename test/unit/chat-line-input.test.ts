import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { LineInput } from '../../src/cli/chat/line-input.js';

function input() {
  const stdin = new PassThrough();
  const rl = createInterface({ input: stdin, terminal: false });
  return { stdin, rl, lines: new LineInput(rl) };
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe('chat LineInput', () => {
  it('keeps a line typed while nothing is asked for the next prompt (none lost)', async () => {
    const { stdin, lines } = input();
    stdin.write('typed during the turn\n');
    await tick();
    expect(await lines.read('> ', { typeAhead: true, showPrompt: false })).toBe('typed during the turn');
  });

  it('never answers an approval with a typed-ahead line: only what is typed after the question counts', async () => {
    const { stdin, lines } = input();
    stdin.write('y\n');
    await tick();
    const answer = lines.read('Run this shell block? [y/N] ', { typeAhead: false, showPrompt: false });
    await tick();
    stdin.write('n\n');
    expect(await answer).toBe('n');
    // The dropped "y" is not kept for the next prompt either.
    const next = lines.read('> ', { typeAhead: true, showPrompt: false });
    stdin.write('next\n');
    expect(await next).toBe('next');
  });

  it('cancel (Ctrl-C) and end of input (Ctrl-D) end the waiting read with undefined', async () => {
    const { stdin, lines } = input();
    const cancelled = lines.read('> ', { typeAhead: true, showPrompt: false });
    lines.cancel();
    expect(await cancelled).toBeUndefined();
    const ended = lines.read('> ', { typeAhead: true, showPrompt: false });
    stdin.end();
    expect(await ended).toBeUndefined();
    expect(lines.ended).toBe(true);
    expect(await lines.read('> ', { typeAhead: true, showPrompt: false })).toBeUndefined();
  });
});
