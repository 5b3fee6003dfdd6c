/** The proxy's side of the client connection: bounded body reads, backpressured writes, error answers. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type WriteOutcome = 'ok' | 'closed' | 'stalled' | 'aborted';

/** A write to the client that is still waiting for the client to read (socket buffers full). */
export interface BlockedWrite {
  /** Give up on the client: the pending write resolves `stalled`. */
  kick(): void;
}

/**
 * Write to the client with backpressure. If the client stops reading (buffers full) the write waits
 * for `drain`, but no longer than `stallMs`, nor past an abort, nor past a `kick`. The outcome is
 * returned at once when the write did not have to wait (the usual case: no promise per chunk).
 */
export function writeToClient(
  res: ServerResponse,
  data: Uint8Array | string,
  signal: AbortSignal,
  stallMs: number,
  onBlocked: (blocked: BlockedWrite | undefined) => void,
): WriteOutcome | Promise<WriteOutcome> {
  if (res.destroyed || res.writableEnded) return 'closed';
  if (signal.aborted) return 'aborted';
  if (res.write(data)) return 'ok';
  return new Promise((resolve) => {
    const done = (outcome: WriteOutcome) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      onBlocked(undefined);
      resolve(outcome);
    };
    const onDrain = () => done('ok');
    const onClose = () => done('closed');
    const onAbort = () => done('aborted');
    const timer = setTimeout(() => done('stalled'), stallMs);
    res.on('drain', onDrain);
    res.on('close', onClose);
    signal.addEventListener('abort', onAbort);
    onBlocked({ kick: () => done('stalled') });
  });
}

export class BodyTooLarge extends Error {}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (b: Buffer) => {
      if (failed) return;
      size += b.length;
      if (size > limit) {
        failed = true;
        reject(new BodyTooLarge(`request body larger than ${limit} bytes`));
        return;
      }
      parts.push(b);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(parts));
    });
    req.on('aborted', () => {
      if (!failed) reject(new Error('client aborted the request'));
      failed = true;
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
      failed = true;
    });
  });
}

/** Answer with a JSON body, or drop the connection when a response is already under way. */
export function sendJsonError(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
