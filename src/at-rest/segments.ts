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
  private closed = false;

  constructor(
    private readonly sodium: Sodium,
    recipient: Uint8Array,
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
    key.fill(0);
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

/**
 * Decrypt every segment in a file's text. Any line that does not authenticate is an error naming it:
 * an altered, inserted, dropped or reordered line cannot be told apart from a wrong key, and a reader of
 * evidence must not guess past it.
 */
export function decryptSegments(text: string, identity: AtRestIdentity, sodium: Sodium): DecryptedSegment[] {
  const out: DecryptedSegment[] = [];
  const rows = text.split('\n');
  let current: { state: unknown; seg: DecryptedSegment } | undefined;
  const wantId = recipientId(identity.publicKey);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const lineNo = i + 1;
    if (row === '') continue;
    if (row.startsWith(SEGMENT_MARKER)) {
      let h: SegmentHeader;
      try {
        h = JSON.parse(row) as SegmentHeader;
      } catch {
        throw new SegmentError('segment header is not JSON', lineNo);
      }
      if (h.alg !== SEGMENT_ALG) throw new SegmentError(`unknown at-rest algorithm ${JSON.stringify(h.alg).slice(0, 80)}`, lineNo);
      if (h.recipient !== wantId) throw new SegmentError(`segment is encrypted to recipient ${String(h.recipient).slice(0, 16)}, not to this identity (${wantId})`, lineNo);
      let key: Uint8Array;
      try {
        key = sodium.crypto_box_seal_open(Buffer.from(h.key, 'base64'), identity.publicKey, identity.secretKey);
      } catch {
        throw new SegmentError('segment key does not open with this identity (altered header or wrong key)', lineNo);
      }
      let state: unknown;
      try {
        state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(Buffer.from(h.header, 'base64'), key);
      } catch {
        throw new SegmentError('segment stream header is invalid', lineNo);
      }
      key.fill(0);
      current = { state, seg: { lines: [], closed: false, lineNumbers: [] } };
      out.push(current.seg);
      continue;
    }
    if (!current) throw new SegmentError('encrypted line before any segment header', lineNo);
    if (current.seg.closed) throw new SegmentError('line after the final message of its segment', lineNo);
    let r: { message: Uint8Array; tag: number } | false;
    try {
      r = sodium.crypto_secretstream_xchacha20poly1305_pull(current.state as never, Buffer.from(row, 'base64'), null) as { message: Uint8Array; tag: number } | false;
    } catch {
      r = false;
    }
    if (!r) throw new SegmentError('encrypted line does not authenticate (altered, dropped, inserted or reordered)', lineNo);
    sodium.crypto_secretstream_xchacha20poly1305_rekey(current.state as never);
    if (r.tag === sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
      current.seg.closed = true;
      continue;
    }
    current.seg.lines.push(Buffer.from(r.message).toString('utf8'));
    current.seg.lineNumbers.push(lineNo);
  }
  return out;
}
