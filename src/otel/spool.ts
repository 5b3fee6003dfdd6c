import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export type FsyncPolicy = 'always' | 'batch' | 'never';

export interface SpoolOptions {
  dir: string;
  /** Largest total size of spooled data; what would exceed it is refused (and counted by the caller). */
  maxBytes: number;
  /** Extra room kept for loss events, so the record of a loss fits when the spool is full. */
  reserveBytes?: number;
  /** `always`: fsync every append; `batch` (default): at most every 200 ms and on close; `never`. */
  fsync?: FsyncPolicy;
  /** Segment file size before a new one is started. Default 4 MiB. */
  segmentBytes?: number;
}

interface Cursor {
  segment: number;
  offset: number;
}

const SEGMENT = /^seg-(\d{10})\.jsonl$/;
const segmentName = (n: number) => `seg-${String(n).padStart(10, '0')}.jsonl`;

/**
 * An append-only, on-disk FIFO of export requests (one JSON request per line), replayed in order.
 * Segments are deleted once fully sent; a cursor file records how far the oldest segment was sent, so a
 * restart resumes there (a crash between a send and the cursor write replays one request: at least once,
 * which `oi-audit verify` counts as a duplicate, never as a gap).
 */
export class Spool {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly reserveBytes: number;
  private readonly fsyncPolicy: FsyncPolicy;
  private readonly segmentBytes: number;
  private segments: number[] = [];
  private writeFd: number | undefined;
  private writeSegment = -1;
  private writeSize = 0;
  private cursor: Cursor = { segment: -1, offset: 0 };
  private totalBytes = 0;
  private lastSync = 0;
  private dirty = false;

  constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.reserveBytes = options.reserveBytes ?? 1024 * 1024;
    this.fsyncPolicy = options.fsync ?? 'batch';
    this.segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.segments = readdirSync(this.dir)
      .map((f) => SEGMENT.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    this.loadCursor();
    this.totalBytes = this.segments.reduce((sum, n) => sum + statSync(join(this.dir, segmentName(n))).size, 0) - this.cursor.offset;
  }

  /** Bytes waiting to be sent. */
  get pendingBytes(): number {
    return Math.max(0, this.totalBytes);
  }

  get isEmpty(): boolean {
    return this.pendingBytes === 0;
  }

  /** Room left before appends are refused (ignoring the loss-event reserve). */
  get freeBytes(): number {
    return Math.max(0, this.maxBytes - this.pendingBytes);
  }

  /**
   * Append one request. Returns false when it does not fit (the caller counts the loss);
   * throws only on I/O errors (disk full: the caller counts that as a loss too).
   */
  append(request: Uint8Array, useReserve = false): boolean {
    const size = request.length + 1;
    const limit = this.maxBytes + (useReserve ? this.reserveBytes : 0);
    if (this.pendingBytes + size > limit) return false;
    if (this.writeFd === undefined || this.writeSize + size > this.segmentBytes) this.rotate();
    const line = Buffer.concat([request, NEWLINE]);
    const written = writeSync(this.writeFd!, line);
    if (written < line.length) {
      // Disk full part-way through: cut the torn line off, or the next request would be appended to it
      // (one unparseable line that blocks the replay for good, and records "stored" that are not).
      try {
        ftruncateSync(this.writeFd!, this.writeSize);
      } catch {
        // nothing more to do: peek() treats an unterminated last line as not yet written
      }
      throw Object.assign(new Error(`spool: short write (${written} of ${line.length} bytes): no space left on device`), { code: 'ENOSPC' });
    }
    this.writeSize += size;
    this.totalBytes += size;
    this.dirty = true;
    if (this.fsyncPolicy === 'always') this.sync();
    else if (this.fsyncPolicy === 'batch' && Date.now() - this.lastSync > 200) this.sync();
    return true;
  }

  /** The oldest unsent request, without removing it. */
  peek(): Uint8Array | undefined {
    while (this.segments.length > 0) {
      const segment = this.segments[0]!;
      if (this.cursor.segment !== segment) this.cursor = { segment, offset: 0 };
      const data = this.segmentData(segment);
      if (this.cursor.offset < data.length) {
        const end = data.indexOf(0x0a, this.cursor.offset);
        if (end !== -1) return data.subarray(this.cursor.offset, end);
        if (segment === this.writeSegment) return undefined; // being written: wait for more
        // The torn last line of a segment a previous run was writing when it died (power loss): it can
        // never be completed. Skip it, or the replay would stop here for good.
        this.totalBytes -= data.length - this.cursor.offset;
        this.cursor.offset = data.length;
      }
      if (segment === this.writeSegment) {
        // Everything written has been sent: retire the segment so a drained spool leaves no file behind.
        if (this.writeFd !== undefined) closeSync(this.writeFd);
        this.writeFd = undefined;
        this.writeSegment = -1;
      }
      this.dropSegment(segment);
    }
    return undefined;
  }

  private readCache: { segment: number; data: Buffer } | undefined;

  /** Sealed segments never change: read once. The segment being written is re-read when the cursor passes its cached end. */
  private segmentData(segment: number): Buffer {
    const cached = this.readCache;
    if (cached && cached.segment === segment && (segment !== this.writeSegment || this.cursor.offset < cached.data.length)) return cached.data;
    const data = readFileSync(join(this.dir, segmentName(segment)));
    this.readCache = { segment, data };
    return data;
  }

  /** Mark the request returned by peek() as sent. */
  ack(request: Uint8Array): void {
    this.cursor.offset += request.length + 1;
    this.totalBytes -= request.length + 1;
    this.saveCursor();
  }

  sync(): void {
    if (this.writeFd !== undefined && this.dirty) fsyncSync(this.writeFd);
    this.dirty = false;
    this.lastSync = Date.now();
  }

  close(): void {
    if (this.writeFd !== undefined) {
      this.sync();
      closeSync(this.writeFd);
      this.writeFd = undefined;
    }
  }

  private rotate(): void {
    if (this.writeFd !== undefined) {
      this.sync();
      closeSync(this.writeFd);
    }
    this.writeSegment = (this.segments.at(-1) ?? 0) + 1;
    this.segments.push(this.writeSegment);
    this.writeFd = openSync(join(this.dir, segmentName(this.writeSegment)), 'a', 0o600);
    this.writeSize = 0;
  }

  private dropSegment(segment: number): void {
    this.readCache = undefined;
    unlinkSync(join(this.dir, segmentName(segment)));
    this.segments.shift();
    this.cursor = { segment: this.segments[0] ?? -1, offset: 0 };
    this.saveCursor();
  }

  private loadCursor(): void {
    const path = join(this.dir, 'cursor.json');
    if (!existsSync(path)) return;
    try {
      const c = JSON.parse(readFileSync(path, 'utf8')) as Cursor;
      if (this.segments.includes(c.segment)) {
        // Segments older than the cursor's were fully sent before a crash.
        while (this.segments.length && this.segments[0]! < c.segment) unlinkSync(join(this.dir, segmentName(this.segments.shift()!)));
        this.cursor = c;
      }
    } catch {
      // A torn cursor write: resend from the start of the oldest segment (duplicates, never gaps).
    }
  }

  /**
   * Best effort: with the disk full the write fails, and that must not break the replay (the request was
   * sent). A cursor that could not be saved is removed, so a restart resends from the start of the oldest
   * segment (duplicates, never gaps) rather than trusting an offset into a segment that may be reused.
   */
  private saveCursor(): void {
    const path = join(this.dir, 'cursor.json');
    try {
      writeFileSync(`${path}.tmp`, JSON.stringify(this.cursor), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    } catch {
      for (const p of [path, `${path}.tmp`]) {
        try {
          unlinkSync(p);
        } catch {
          // already gone
        }
      }
    }
  }
}

const NEWLINE = Buffer.from('\n');
