/**
 * The supervisor side of `strace -f` around one Open Interpreter server: a FIFO in a directory only this process
 * can reach (0700, outside the sandbox, never mounted into it), read without blocking.
 *
 * Why strace outside the sandbox: it sees every process of the tree from the first exec, reports host pids, and
 * its output never passes through anything the traced code can touch (strace opens its -o file close-on-exec, so
 * no tracee inherits it). Why a FIFO read with non-blocking reads: `drain()` can be called synchronously at the
 * moment a block ends, so everything strace had written by then lands in that block's span; the pipe's capacity
 * bounds memory (a tracee waits while strace waits for us).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsc, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StraceParser, straceOptions, type TraceFact } from './strace-parser.js';

export const STRACE_BIN_CANDIDATES = ['/usr/bin/strace', '/bin/strace'];
/** Longest line kept; longer ones (a huge argv) are dropped and counted. */
const MAX_LINE_BYTES = 256 * 1024;
const READ_CHUNK = 64 * 1024;
const POLL_MS = 25;

export class StraceReader {
  readonly fifo: string;
  private readonly dir: string;
  private fd: number | undefined;
  private readonly parser = new StraceParser();
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private skipping = false;
  private timer: NodeJS.Timeout | undefined;
  /** Lines dropped for length. */
  longLines = 0;
  /** Bytes read in all. */
  bytes = 0;

  constructor(private readonly onFact: (fact: TraceFact) => void) {
    this.dir = mkdtempSync(join(tmpdir(), 'oi-audit-trace-'));
    this.fifo = join(this.dir, 'strace.fifo');
    execFileSync('mkfifo', ['-m', '0600', this.fifo]);
    // Non-blocking read end first: strace's open for writing then succeeds at once.
    this.fd = openSync(this.fifo, fsc.O_RDONLY | fsc.O_NONBLOCK);
    this.timer = setInterval(() => this.drain(), POLL_MS);
    this.timer.unref();
  }

  get unparsed(): number {
    return this.parser.unparsed;
  }

  /** strace's argv: options, output to our FIFO, then `--` (append the command). */
  straceArgs(): string[] {
    return [...straceOptions(), '-o', this.fifo, '--'];
  }

  /** Reads and handles everything available now. Synchronous on purpose (see the module comment). */
  drain(): void {
    if (this.fd === undefined) return;
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return;
        throw err;
      }
      if (n === 0) return; // no writer right now (before strace opened it, or after it exited)
      this.bytes += n;
      this.take(buf.subarray(0, n));
    }
  }

  private take(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (this.skipping) {
        this.skipping = false;
      } else {
        const line = this.partialBytes ? Buffer.concat([...this.partial, piece]).toString('latin1') : piece.toString('latin1');
        this.handle(line);
      }
      this.partial = [];
      this.partialBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length && !this.skipping) {
      const rest = Buffer.from(chunk.subarray(start));
      this.partial.push(rest);
      this.partialBytes += rest.length;
      if (this.partialBytes > MAX_LINE_BYTES) {
        this.partial = [];
        this.partialBytes = 0;
        this.skipping = true;
        this.longLines++;
      }
    }
  }

  private handle(line: string): void {
    // -xx output is pure ASCII, so latin1 decoding is exact.
    const fact = this.parser.parse(line);
    if (fact) this.onFact(fact);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.drain();
    } catch {
      // closing anyway
    }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function findStrace(): string | undefined {
  for (const candidate of STRACE_BIN_CANDIDATES) {
    try {
      execFileSync(candidate, ['-V'], { stdio: 'ignore', timeout: 5_000 });
      return candidate;
    } catch {
      // try the next
    }
  }
  return undefined;
}
