/**
 * Moves an upstream response body to the client chunk by chunk, feeding the wire format's assembler as
 * it goes: bytes first, parsing after (except where the proxy hides events it caused), backpressure and
 * the idle timer through the exchange (exchange.ts).
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { isObject, type Json, type ResponseAssembler } from './assembly.js';
import { writeToClient, type BlockedWrite, type WriteOutcome } from './client-io.js';
import type { UpstreamBody } from './format.js';
import { NdjsonParser } from './ndjson.js';
import { SseParser, type SseEvent } from './sse.js';

export type Framing = 'sse' | 'ndjson' | 'whole';

/** Re-encode one parsed SSE event (used only when some events are hidden from the client). */
function encodeEvent(ev: SseEvent): string {
  const head = ev.event !== undefined ? `event: ${ev.event}\n` : '';
  return `${head}${ev.data.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`;
}

/** What the pump may see and do of its exchange. */
export interface PumpDeps {
  res: ServerResponse;
  signal: AbortSignal;
  /** The session's streams currently waiting for the client to read. */
  blocked: Set<BlockedWrite>;
  asm: ResponseAssembler;
  idleTimeoutMs: number;
  clientStallTimeoutMs: number;
  maxAssembledChars: number;
  firstChunk(): void;
  /** Start or refresh the upstream-silence timer. */
  armIdle(): void;
  disarm(): void;
  aborted(): boolean;
  clientLeft(): void;
  clientGone(): boolean;
}

export interface PumpOutcome {
  streamErr?: unknown;
  stalled: boolean;
}

/** Moves the upstream body to the client chunk by chunk, feeding the assembler as it goes. */
export class StreamPump {
  private readonly parser: SseParser | NdjsonParser | undefined;
  private readonly decoder = new TextDecoder();
  private readonly whole: Buffer[] = [];
  private wholeBytes = 0;
  private wholeOverflow = false;
  private firstSeen = false;
  private blockedNow: BlockedWrite | undefined;
  constructor(
    private readonly d: PumpDeps,
    private readonly framing: Framing,
    private readonly hide: UpstreamBody['hideEvent'],
  ) {
    const max = Math.max(1024 * 1024, d.maxAssembledChars);
    this.parser = framing === 'sse' ? new SseParser({ maxEventBytes: max }) : framing === 'ndjson' ? new NdjsonParser({ maxLineBytes: max }) : undefined;
  }

  get overflowed(): boolean {
    return this.parser?.overflowed ?? false;
  }

  get sawBody(): boolean {
    return this.whole.length > 0;
  }

  private onBlocked = (b: BlockedWrite | undefined): void => {
    if (this.blockedNow) this.d.blocked.delete(this.blockedNow);
    this.blockedNow = b;
    if (b) this.d.blocked.add(b);
  };

  /** Feed events to the assembler. */
  private onEvents(events: SseEvent[]): void {
    for (const ev of events) {
      const outcome = this.d.asm.acceptEvent(ev);
      if (outcome === 'chunk' && !this.firstSeen) {
        this.firstSeen = true;
        this.d.firstChunk();
      }
    }
  }

  /** What the client gets of these events when some are hidden, re-encoded. */
  private visible(events: SseEvent[]): string {
    let visible = '';
    const hide = this.hide!;
    for (const ev of events) {
      let parsed: Json | undefined;
      try {
        const v: unknown = JSON.parse(ev.data);
        parsed = isObject(v) ? v : undefined;
      } catch {
        parsed = undefined;
      }
      if (!hide(ev, parsed)) visible += encodeEvent(ev);
    }
    return visible;
  }

  async run(body: Readable): Promise<PumpOutcome> {
    const d = this.d;
    const out: PumpOutcome = { stalled: false };
    try {
      d.armIdle();
      for await (const value of body as AsyncIterable<Buffer>) {
        if (this.framing === 'whole' && !this.firstSeen) {
          this.firstSeen = true;
          d.firstChunk();
        }
        let outcome = this.pass(value);
        if (typeof outcome !== 'string') {
          d.disarm(); // waiting on the client is not the upstream's silence
          outcome = await outcome;
        }
        if (outcome === 'aborted') break;
        if (outcome !== 'ok') {
          out.stalled = outcome === 'stalled';
          d.clientLeft();
          break;
        }
        d.armIdle(); // a refresh of the same timer, not a new one per chunk
      }
    } catch (err) {
      out.streamErr = err;
    } finally {
      d.disarm();
      this.onBlocked(undefined);
      if (d.clientGone() || out.streamErr || d.aborted()) body.destroy();
    }
    return out;
  }

  private pass(value: Buffer): WriteOutcome | Promise<WriteOutcome> {
    const d = this.d;
    const write = (data: Uint8Array | string) => writeToClient(d.res, data, d.signal, d.clientStallTimeoutMs, this.onBlocked);
    if (this.hide && this.parser) {
      // Some events are the proxy's own doing (usage it asked for): pass on the others, event by event,
      // then assemble them all.
      const events = this.parser.feed(this.decoder.decode(value, { stream: true }));
      const visible = this.visible(events);
      const writing = visible ? write(visible) : 'ok';
      this.onEvents(events);
      return writing;
    }
    // Pass it on first, then assemble what was passed on while it travels: parsing a large read never
    // delays the bytes, and the assembly stays in memory until the call is recorded either way.
    const writing = write(value);
    if (this.parser) {
      this.onEvents(this.parser.feed(this.decoder.decode(value, { stream: true })));
    } else if (!this.wholeOverflow) {
      this.wholeBytes += value.length;
      if (this.wholeBytes > d.maxAssembledChars * 4) this.wholeOverflow = true;
      else this.whole.push(value);
    }
    return writing;
  }

  /** The body is over: assemble what is left; returns what the client still has to get (hidden mode). */
  finish(): string {
    if (this.parser) {
      const events = [...this.parser.feed(this.decoder.decode()), ...this.parser.end()];
      const tail = this.hide ? this.visible(events) : '';
      this.onEvents(events);
      return tail;
    }
    if (!this.wholeOverflow && this.whole.length > 0) {
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(this.whole).toString('utf8'));
        if (isObject(parsed)) this.d.asm.acceptWhole(parsed);
      } catch {
        // recorded as an incomplete response
      }
    }
    return '';
  }
}
