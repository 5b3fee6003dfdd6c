import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../../src/llm-proxy/sse.js';
import { prng } from '../helpers/prng.js';

/**
 * The LLM proxy parses every upstream stream as it passes through: the events it assembles must not
 * depend on where the network cut the stream, nor on which line ends the server used.
 */


/** WHATWG event-stream interpretation of a whole text at once: the reference. */
function reference(text: string): SseEvent[] {
  const lines = text.split(/\r\n|\r|\n/);
  const rest = lines.pop()!;
  const out: SseEvent[] = [];
  let data: string[] = [];
  let event: string | undefined;
  let id: string | undefined;
  const dispatch = () => {
    if (data.length > 0) out.push({ data: data.join('\n'), ...(event !== undefined ? { event } : {}), ...(id !== undefined ? { id } : {}) });
    data = [];
    event = undefined;
  };
  const line = (l: string) => {
    if (l === '') return dispatch();
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon === -1 ? l : l.slice(0, colon);
    let value = colon === -1 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') id = value;
  };
  for (const l of lines) line(l);
  if (rest !== '') line(rest);
  dispatch();
  return out;
}

function randomStream(rnd: () => number): string {
  const ends = ['\n', '\r\n', '\r'];
  const end = () => ends[Math.floor(rnd() * ends.length)]!;
  let s = '';
  for (let e = Math.floor(rnd() * 30); e > 0; e--) {
    if (rnd() < 0.1) s += `: keep-alive${end()}`;
    if (rnd() < 0.2) s += `event: ${rnd() < 0.5 ? 'message' : 'delta'}${end()}`;
    if (rnd() < 0.1) s += `id: ${Math.floor(rnd() * 100)}${end()}`;
    for (let d = 1 + Math.floor(rnd() * 3); d > 0; d--) {
      s += `data:${rnd() < 0.8 ? ' ' : ''}${JSON.stringify({ choices: [{ delta: { content: 'é'.repeat(Math.floor(rnd() * 3)) + 'x\r'.slice(0, Math.floor(rnd() * 2)) } }] })}${end()}`;
    }
    s += end();
  }
  if (rnd() < 0.3) s += 'data: unterminated';
  return s;
}

describe('SseParser', () => {
  it('gives the reference events for any split of any stream (LF, CRLF, CR; comments, fields, multi-line data)', () => {
    const rnd = prng(5);
    let events = 0;
    for (let n = 0; n < 400; n++) {
      const text = randomStream(rnd);
      const expected = reference(text);
      events += expected.length;
      for (let split = 0; split < 5; split++) {
        const parser = new SseParser();
        const got: SseEvent[] = [];
        let i = 0;
        while (i < text.length) {
          // Pieces of 1–40 characters, so CR|LF pairs and fields are cut everywhere.
          const j = Math.min(text.length, i + 1 + Math.floor(rnd() * 40));
          got.push(...parser.feed(text.slice(i, j)));
          i = j;
        }
        got.push(...parser.end());
        expect(got, JSON.stringify(text)).toEqual(expected);
      }
    }
    expect(events).toBeGreaterThan(2000);
  });

  it('a 4 MB stream in one piece and in 100k pieces parses the same, in linear time', () => {
    const one = `data: ${'a'.repeat(40)}\n\n`.repeat(100_000);
    const whole = new SseParser().feed(one);
    expect(whole).toHaveLength(100_000);
    const p = new SseParser();
    let n = 0;
    for (let i = 0; i < one.length; i += 40) n += p.feed(one.slice(i, i + 40)).length;
    expect(n).toBe(100_000);
    // No line end for megabytes (one endless line): held, not rescanned quadratically.
    const q = new SseParser();
    for (let i = 0; i < 1000; i++) q.feed('b'.repeat(4000));
    expect(q.feed('\n\n')).toEqual([]);
  });
});
