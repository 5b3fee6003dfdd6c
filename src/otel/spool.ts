import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AtRestIdentity } from '../at-rest/keys.js';
import { loadSodium, sodiumIfLoaded, type Sodium } from '../at-rest/sodium.js';
import { isEncryptedText, openSegmentKey, SegmentEncryptor, SegmentError, SegmentReader, SEGMENT_MARKER } from '../at-rest/segments.js';

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
  /**
   * Encrypt what this process spools to the security team's recipient (README "At rest"). Each segment
   * gets a fresh key, sealed to the recipient in its header and kept in this process's memory only, so
   * the process replays its own segments; segments of an earlier process are set aside (`sealed/`) for
   * `oi-audit spool replay --identity`, since nothing on the host can open them.
   */
  recipient?: Uint8Array;
  /** The identity: open any encrypted segment (the operator's replay, never the app). */
  identity?: AtRestIdentity;
  /** A segment that is gone or does not authenticate (tampering, disk fault): told, then skipped. */
  onProblem?: (message: string) => void;
}

/** Where segments this process cannot open are moved, one directory per start (oldest first by name). */
export const SEALED_DIR = 'sealed';
/** Where a segment that did not authenticate is kept for inspection (never replayed, never deleted). */
export const CORRUPT_DIR = 'corrupt';
/** pid of the process that writes this spool directory, so `spool replay` leaves a live one alone. */
export const OWNER_FILE = 'owner.pid';

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
  private readonly recipient: Uint8Array | undefined;
  private readonly identity: AtRestIdentity | undefined;
  private readonly onProblem: (message: string) => void;
  /** Keys of the segments this process wrote and has not yet replayed: memory only, zeroed when done. */
  private readonly keys = new Map<number, Uint8Array>();
  private encryptor: SegmentEncryptor | undefined;
  private reader: { segment: number; reader: SegmentReader; nextOffset: number } | undefined;
  /** The line peek() returned last: ack() advances by its size on disk (ciphertext is longer). */
  private peeked: { segment: number; offset: number; rawLength: number; plain: Uint8Array } | undefined;

  constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.recipient = options.recipient;
    this.identity = options.identity;
    this.onProblem = options.onProblem ?? (() => {});
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
    if (!this.identity) {
      this.setAsideForeignSegments();
      // Best effort: `spool replay` uses it only to leave a live writer's directory alone.
      try {
        writeFileSync(join(this.dir, OWNER_FILE), `${process.pid}\n`, { mode: 0o600 });
      } catch {
        // a read-only spool still replays
      }
    }
    if (this.recipient || this.identity) void loadSodium();
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

  /** Whether the crypto module this spool needs (if any) has loaded; see whenReady(). */
  get ready(): boolean {
    return (!this.recipient && !this.identity) || sodiumIfLoaded() !== undefined;
  }

  async whenReady(): Promise<void> {
    if (!this.ready) await loadSodium();
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
    // Encrypted: base64 of the message plus its 17-byte tag, and a segment header when one starts.
    const estimate = this.recipient ? 4 * Math.ceil((request.length + 17) / 3) + 1 : request.length + 1;
    const startsSegment = this.writeFd === undefined || this.writeSize + estimate > this.segmentBytes || (this.recipient !== undefined && this.encryptor === undefined);
    const size = estimate + (this.recipient && startsSegment ? HEADER_BYTES : 0);
    const limit = this.maxBytes + (useReserve ? this.reserveBytes : 0);
    if (this.pendingBytes + size > limit) return false;
    if (startsSegment) this.rotate();
    const line = this.encryptLine(request);
    const written = writeSync(this.writeFd!, line);
    if (written < line.length) {
      // Disk full part-way through: cut the torn line off, or the next request would be appended to it
      // (one unparseable line that blocks the replay for good, and records "stored" that are not).
      try {
        ftruncateSync(this.writeFd!, this.writeSize);
      } catch {
        // nothing more to do: peek() treats an unterminated last line as not yet written
      }
      // The stream state has moved past a message that is not on disk: the next append starts a segment.
      this.encryptor = undefined;
      throw Object.assign(new Error(`spool: short write (${written} of ${line.length} bytes): no space left on device`), { code: 'ENOSPC' });
    }
    this.writeSize += line.length;
    this.totalBytes += line.length;
    this.dirty = true;
    if (this.fsyncPolicy === 'always') this.sync();
    else if (this.fsyncPolicy === 'batch' && Date.now() - this.lastSync > 200) this.sync();
    return true;
  }

  /** The line to write for one request: as is, or a segment header (when one starts) and the ciphertext. */
  private encryptLine(request: Uint8Array): Buffer {
    if (!this.recipient) return Buffer.concat([request, NEWLINE]);
    const sodium = sodiumIfLoaded();
    if (!sodium) throw new Error('spool: at-rest encryption is not loaded yet (await whenReady())');
    const parts: string[] = [];
    if (!this.encryptor) {
      this.encryptor = new SegmentEncryptor(sodium, this.recipient, { keepKey: true });
      this.keys.set(this.writeSegment, this.encryptor.key!);
      parts.push(this.encryptor.headerLine);
    }
    parts.push(this.encryptor.line(request));
    return Buffer.from(`${parts.join('\n')}\n`, 'latin1');
  }

  /** The oldest unsent request, without removing it. */
  peek(): Uint8Array | undefined {
    while (this.segments.length > 0) {
      const segment = this.segments[0]!;
      if (this.cursor.segment !== segment) this.cursor = { segment, offset: 0 };
      let data: Buffer;
      try {
        data = this.segmentData(segment);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // A segment this spool holds is gone (deleted by someone): say so, and go on with the next.
        this.onProblem(`spool segment ${segmentName(segment)} in ${this.dir} is missing: its requests are lost`);
        if (segment === this.writeSegment) this.retireWriteSegment();
        this.forgetSegment(segment);
        this.recount();
        continue;
      }
      if (this.cursor.offset < data.length) {
        const end = data.indexOf(0x0a, this.cursor.offset);
        if (end !== -1 && isEncryptedSegment(data)) {
          const plain = this.decryptAt(segment, data, end);
          if (plain === 'skip') continue;
          if (plain !== undefined) return plain;
          continue; // the final message was consumed
        }
        if (end !== -1) return data.subarray(this.cursor.offset, end);
        if (segment === this.writeSegment) return undefined; // being written: wait for more
        // The torn last line of a segment a previous run was writing when it died (power loss): it can
        // never be completed. Skip it, or the replay would stop here for good.
        this.totalBytes -= data.length - this.cursor.offset;
        this.cursor.offset = data.length;
      }
      // Everything written has been sent: retire the segment so a drained spool leaves no file behind.
      if (segment === this.writeSegment) this.retireWriteSegment();
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

  /**
   * The plaintext of the encrypted line at the cursor (ending at `end`); undefined when it was the
   * segment's header or final message (consumed); 'skip' when the segment could not be read (set aside).
   */
  private decryptAt(segment: number, data: Buffer, end: number): Uint8Array | 'skip' | undefined {
    const offset = this.cursor.offset;
    if (this.peeked && this.peeked.segment === segment && this.peeked.offset === offset) return this.peeked.plain;
    try {
      if (!this.reader || this.reader.segment !== segment) {
        const headerEnd = data.indexOf(0x0a);
        const reader = new SegmentReader(this.sodium(), data.subarray(0, headerEnd).toString('latin1'), this.segmentKey(segment, data.subarray(0, headerEnd).toString('latin1')));
        this.reader = { segment, reader, nextOffset: headerEnd + 1 };
      }
      const r = this.reader;
      if (offset === 0) {
        // The header: no request of its own.
        this.consume(r.nextOffset);
        return undefined;
      }
      // Resuming inside a segment (a cursor from before a restart): the stream is read from its start.
      while (r.nextOffset < offset) {
        const e = data.indexOf(0x0a, r.nextOffset);
        r.reader.next(data.subarray(r.nextOffset, e).toString('latin1'), 0);
        r.nextOffset = e + 1;
      }
      if (r.nextOffset !== offset) throw new SegmentError('spool cursor is not at a line boundary', 0);
      const message = r.reader.next(data.subarray(offset, end).toString('latin1'), 0);
      r.nextOffset = end + 1;
      if (message === undefined) {
        this.consume(end + 1 - offset);
        return undefined;
      }
      this.peeked = { segment, offset, rawLength: end + 1 - offset, plain: message };
      return message;
    } catch (err) {
      if (!(err instanceof SegmentError)) throw err;
      this.quarantine(segment, data.length - offset, err.message);
      return 'skip';
    }
  }

  private sodium(): Sodium {
    const s = sodiumIfLoaded();
    if (!s) throw new Error('spool: at-rest encryption is not loaded yet (await whenReady())');
    return s;
  }

  private segmentKey(segment: number, headerRow: string): Uint8Array {
    const kept = this.keys.get(segment);
    if (kept) return kept;
    if (this.identity) return openSegmentKey(headerRow, 1, this.identity, this.sodium());
    throw new SegmentError('no key for this encrypted segment in this process (replay it with `oi-audit spool replay --identity`)', 1);
  }

  /** Pending bytes from what is on disk (after a segment vanished, its size is unknown). */
  private recount(): void {
    let total = 0;
    for (const n of this.segments) {
      try {
        total += statSync(join(this.dir, segmentName(n))).size;
      } catch {
        // gone too: peek() reports it when it gets there
      }
    }
    this.totalBytes = total - this.cursor.offset;
  }

  /** Bytes at the cursor that carry no request (header, final message). */
  private consume(bytes: number): void {
    this.cursor.offset += bytes;
    this.totalBytes -= bytes;
  }

  /** A segment that does not authenticate: kept aside for inspection, never replayed, loudly reported. */
  private quarantine(segment: number, remaining: number, why: string): void {
    const name = segmentName(segment);
    this.onProblem(`spool segment ${name} in ${this.dir} does not authenticate (${why}): the rest of it is not replayed; kept in ${CORRUPT_DIR}/`);
    if (segment === this.writeSegment) this.retireWriteSegment();
    this.totalBytes -= remaining;
    try {
      mkdirSync(join(this.dir, CORRUPT_DIR), { recursive: true, mode: 0o700 });
      renameSync(join(this.dir, name), join(this.dir, CORRUPT_DIR, `${name}.${Date.now()}`));
    } catch {
      // already gone: nothing to keep
    }
    this.forgetSegment(segment);
  }

  /** Mark the request returned by peek() as sent. */
  ack(request: Uint8Array): void {
    const p = this.peeked;
    const size = p && p.segment === this.cursor.segment && p.offset === this.cursor.offset ? p.rawLength : request.length + 1;
    this.peeked = undefined;
    this.cursor.offset += size;
    this.totalBytes -= size;
    this.saveCursor();
  }

  sync(): void {
    if (this.writeFd !== undefined && this.dirty) fsyncSync(this.writeFd);
    this.dirty = false;
    this.lastSync = Date.now();
  }

  close(): void {
    if (this.writeFd !== undefined) {
      this.sealWriteSegment();
      this.sync();
      closeSync(this.writeFd);
      this.writeFd = undefined;
    }
    for (const key of this.keys.values()) key.fill(0);
    this.keys.clear();
  }

  /** The final message of the segment being written (a reader then knows it is complete). */
  private sealWriteSegment(): void {
    if (!this.encryptor || this.writeFd === undefined) return;
    const last = Buffer.from(`${this.encryptor.finalLine()}\n`, 'latin1');
    this.encryptor = undefined;
    try {
      if (writeSync(this.writeFd, last) === last.length) {
        this.writeSize += last.length;
        this.totalBytes += last.length;
        this.dirty = true;
      }
    } catch {
      // disk full: the segment just lacks its final message (read as cut short, nothing lost)
    }
  }

  private retireWriteSegment(): void {
    if (this.writeFd !== undefined) closeSync(this.writeFd);
    this.writeFd = undefined;
    this.writeSegment = -1;
    this.encryptor = undefined;
  }

  private rotate(): void {
    if (this.writeFd !== undefined) {
      this.sealWriteSegment();
      this.sync();
      closeSync(this.writeFd);
    }
    this.encryptor = undefined;
    this.writeSegment = (this.segments.at(-1) ?? 0) + 1;
    this.segments.push(this.writeSegment);
    this.writeFd = openSync(join(this.dir, segmentName(this.writeSegment)), 'a', 0o600);
    this.writeSize = 0;
  }

  private dropSegment(segment: number): void {
    unlinkSync(join(this.dir, segmentName(segment)));
    this.forgetSegment(segment);
  }

  private forgetSegment(segment: number): void {
    this.readCache = undefined;
    if (this.reader?.segment === segment) this.reader = undefined;
    this.peeked = undefined;
    this.keys.get(segment)?.fill(0);
    this.keys.delete(segment);
    this.segments = this.segments.filter((n) => n !== segment);
    this.cursor = { segment: this.segments[0] ?? -1, offset: 0 };
    this.saveCursor();
  }

  /**
   * Encrypted segments left by an earlier process: their keys died with it, so this one cannot replay
   * them. They move, with the cursor if it points into them, to `sealed/<time>-<pid>/`, a spool directory
   * of their own for `oi-audit spool replay --identity` (the security team's key never has to be on the host).
   */
  private setAsideForeignSegments(): void {
    const foreign = this.segments.filter((n) => startsEncrypted(join(this.dir, segmentName(n))));
    if (foreign.length === 0) return;
    const target = join(this.dir, SEALED_DIR, `${new Date().toISOString().replace(/[-:.]/g, '')}-${process.pid}`);
    mkdirSync(target, { recursive: true, mode: 0o700 });
    const cursorPath = join(this.dir, 'cursor.json');
    try {
      const c = JSON.parse(readFileSync(cursorPath, 'utf8')) as Cursor;
      if (foreign.includes(c.segment)) renameSync(cursorPath, join(target, 'cursor.json'));
    } catch {
      // no cursor, or a torn one: the set-aside segments replay from their start (duplicates, never gaps)
    }
    for (const n of foreign) renameSync(join(this.dir, segmentName(n)), join(target, segmentName(n)));
    this.segments = this.segments.filter((n) => !foreign.includes(n));
    this.onProblem(`${foreign.length} encrypted spool segment(s) of an earlier run cannot be replayed by this process: moved to ${target}; replay them with \`oi-audit spool replay --identity FILE\``);
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
/** Room counted for a segment header line (sealed key and stream header, base64: 279 bytes with its newline) and the final message. */
const HEADER_BYTES = 320;

function isEncryptedSegment(data: Buffer): boolean {
  return data.length >= SEGMENT_MARKER.length && isEncryptedText(data.subarray(0, SEGMENT_MARKER.length).toString('latin1'));
}

function startsEncrypted(file: string): boolean {
  try {
    return isEncryptedSegment(readFileSync(file).subarray(0, SEGMENT_MARKER.length));
  } catch {
    return false;
  }
}
