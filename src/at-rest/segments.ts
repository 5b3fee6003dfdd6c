import { gunzipSync } from 'node:zlib';
import type { Sodium } from './sodium.js';
import { recipientId, type AtRestIdentity } from './keys.js';

/**
 * Encrypted segment format (text, one line per entry, appendable and crash-tolerant):
 *
 *   {"oi_audit_at_rest":1,"alg":"…","recipient":"<id>","key":"<b64>","header":"<b64>"}   header line
 *   <b64 secretstream message>                                                             one per record line
 *   <b64 secretstream message with TAG_FINAL>                                              when the segment is closed
 *
 * A fresh 256-bit segment key per segment, sealed to the recipient with `crypto_box_seal` (ephemeral
 * X25519 + XSalsa20-Poly1305); the lines are `crypto_secretstream_xchacha20poly1305` messages
 * (authenticated, ordered: a reordered, dropped or altered line fails to decrypt), and the writer
 * re-keys the stream after every message, so a process taken over later holds no key that opens the
 * lines it already wrote. A segment without its final message was cut short (a crash, or truncation).
 */
export const SEGMENT_MARKER = '{"oi_audit_at_rest":1,';
export const SEGMENT_ALG = 'x25519-sealedbox+xchacha20poly1305-secretstream-rekeyed';

export interface SegmentHeader {
  oi_audit_at_rest: 1;
  alg: string;
  recipient: string;
  key: string;
  header: string;
}

export class SegmentEncryptor {
  private state: unknown;
  readonly headerLine: string;
  /**
   * The segment key, kept only when asked for (`keepKey`): the spool must read back in memory what it
   * wrote, to replay it; the sink never keeps it.
   */
  readonly key: Uint8Array | undefined;
  private closed = false;

  constructor(
    private readonly sodium: Sodium,
    recipient: Uint8Array,
    options: { keepKey?: boolean } = {},
  ) {
    const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
    const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
    this.state = state;
    const h: SegmentHeader = {
      oi_audit_at_rest: 1,
      alg: SEGMENT_ALG,
      recipient: recipientId(recipient),
      key: Buffer.from(sodium.crypto_box_seal(key, recipient)).toString('base64'),
      header: Buffer.from(header).toString('base64'),
    };
    if (options.keepKey) this.key = key;
    else key.fill(0);
    // Keys in the order SEGMENT_MARKER expects.
    this.headerLine = `{"oi_audit_at_rest":1,"alg":${JSON.stringify(h.alg)},"recipient":"${h.recipient}","key":"${h.key}","header":"${h.header}"}`;
  }

  /** One record line, encrypted (base64, no newline). */
  line(plaintext: Uint8Array): string {
    return this.push(plaintext, this.sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  }

  /** The final message: after it the segment accepts nothing more. */
  finalLine(): string {
    const out = this.push(new Uint8Array(0), this.sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL);
    this.closed = true;
    return out;
  }

  private push(plaintext: Uint8Array, tag: number): string {
    if (this.closed) throw new Error('encrypted segment is closed');
    const s = this.sodium;
    const c = s.crypto_secretstream_xchacha20poly1305_push(this.state as never, plaintext, null, tag);
    s.crypto_secretstream_xchacha20poly1305_rekey(this.state as never);
    return Buffer.from(c).toString('base64');
  }
}

export interface DecryptedSegment {
  lines: string[];
  /** The final message was present. */
  closed: boolean;
  /** Line number (1-based, in the file) of each decrypted line. */
  lineNumbers: number[];
}

export class SegmentError extends Error {
  override name = 'SegmentError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

export function isEncryptedText(text: string): boolean {
  return text.startsWith(SEGMENT_MARKER);
}

function parseHeader(row: string, lineNo: number): SegmentHeader {
  let h: SegmentHeader;
  try {
    h = JSON.parse(row) as SegmentHeader;
  } catch {
    throw new SegmentError('segment header is not JSON', lineNo);
  }
  if (h.alg !== SEGMENT_ALG) throw new SegmentError(`unknown at-rest algorithm ${JSON.stringify(h.alg).slice(0, 80)}`, lineNo);
  if (typeof h.key !== 'string' || typeof h.header !== 'string') throw new SegmentError('segment header lacks its key or stream header', lineNo);
  return h;
}

/** Open a segment header's sealed key with the identity (its recipient id checked first, for a clear message). */
export function openSegmentKey(row: string, lineNo: number, identity: AtRestIdentity, sodium: Sodium): Uint8Array {
  const h = parseHeader(row, lineNo);
  const wantId = recipientId(identity.publicKey);
  if (h.recipient !== wantId) throw new SegmentError(`segment is encrypted to recipient ${JSON.stringify(h.recipient).slice(0, 18)}, not to this identity (${wantId})`, lineNo);
  try {
    return sodium.crypto_box_seal_open(Buffer.from(h.key, 'base64'), identity.publicKey, identity.secretKey);
  } catch {
    throw new SegmentError('segment key does not open with this identity (altered header or wrong key)', lineNo);
  }
}

/**
 * Reads one segment line by line, given its header line and its key (opened with the identity, or kept
 * in memory by the process that wrote it). `next` returns the plaintext of a record line, or undefined
 * for the final message; anything that does not authenticate is a SegmentError.
 */
export class SegmentReader {
  private readonly state: unknown;
  closed = false;

  constructor(
    private readonly sodium: Sodium,
    headerRow: string,
    key: Uint8Array,
    lineNo = 1,
  ) {
    const h = parseHeader(headerRow, lineNo);
    try {
      this.state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(Buffer.from(h.header, 'base64'), key);
    } catch {
      throw new SegmentError('segment stream header is invalid', lineNo);
    }
  }

  next(row: string, lineNo: number): Uint8Array | undefined {
    const sodium = this.sodium;
    if (this.closed) throw new SegmentError('line after the final message of its segment', lineNo);
    let r: { message: Uint8Array; tag: number } | false;
    try {
      r = sodium.crypto_secretstream_xchacha20poly1305_pull(this.state as never, Buffer.from(row, 'base64'), null);
    } catch {
      r = false;
    }
    if (!r) throw new SegmentError('encrypted line does not authenticate (altered, dropped, inserted or reordered)', lineNo);
    sodium.crypto_secretstream_xchacha20poly1305_rekey(this.state as never);
    if (r.tag === sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
      this.closed = true;
      return undefined;
    }
    return r.message;
  }
}

/** A decrypted message that starts with gzip's magic was compressed before encryption (sealed archives). */
function messageText(message: Uint8Array): string {
  if (message.length >= 2 && message[0] === 0x1f && message[1] === 0x8b) return gunzipMessage(message);
  return Buffer.from(message).toString('utf8');
}

/** Largest plaintext one compressed message may expand to: a bomb stops here. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

function gunzipMessage(message: Uint8Array): string {
  try {
    return gunzipSync(message, { maxOutputLength: MAX_MESSAGE_BYTES }).toString('utf8');
  } catch (err) {
    throw new Error(`compressed message does not decompress: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Decrypt every segment in a file's text. Any line that does not authenticate is an error naming it:
 * an altered, inserted, dropped or reordered line cannot be told apart from a wrong key, and a reader of
 * evidence must not guess past it.
 */
export function decryptSegments(text: string, identity: AtRestIdentity, sodium: Sodium): DecryptedSegment[] {
  const out: DecryptedSegment[] = [];
  const rows = text.split('\n');
  let current: { reader: SegmentReader; seg: DecryptedSegment } | undefined;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const lineNo = i + 1;
    if (row === '') continue;
    if (row.startsWith(SEGMENT_MARKER)) {
      const key = openSegmentKey(row, lineNo, identity, sodium);
      const reader = new SegmentReader(sodium, row, key, lineNo);
      key.fill(0);
      current = { reader, seg: { lines: [], closed: false, lineNumbers: [] } };
      out.push(current.seg);
      continue;
    }
    if (!current) throw new SegmentError('encrypted line before any segment header', lineNo);
    const message = current.reader.next(row, lineNo);
    if (message === undefined) {
      current.seg.closed = true;
      continue;
    }
    let textLine: string;
    try {
      textLine = messageText(message);
    } catch (err) {
      throw new SegmentError((err as Error).message, lineNo);
    }
    current.seg.lines.push(textLine);
    current.seg.lineNumbers.push(lineNo);
  }
  return out;
}
