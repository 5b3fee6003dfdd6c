import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { readRequestDocuments } from '../read/otlp-files.js';
import { SegmentEncryptor, SegmentReader } from '../at-rest/segments.js';
import type { Sodium } from '../at-rest/sodium.js';

/**
 * A rotated (closed) file of the Collector's archive: lumberjack renames the file it was writing to
 * `<name>-<UTC time>.<ext>` (e.g. `audit-logs.otlp.json-2026-12-02T19-43-54.000.zst`) and never writes it
 * again. The file being written has no timestamp and is never sealed from a directory scan.
 */
const ROTATED_ARCHIVE = /-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.(zst|gz|json|jsonl)$/;
export const SEALED_SUFFIX = '.sealed.jsonl';

export interface SealedFile {
  source: string;
  sealed: string;
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

/** The closed archive files of a directory (oldest first), not yet sealed. */
export function closedArchiveFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => ROTATED_ARCHIVE.test(name))
    .sort()
    .map((name) => join(dir, name));
}

export function sealedName(file: string): string {
  return join(dirname(file), `${basename(file).replace(/\.(zst|gz|jsonl|json|ndjson)$/i, '')}${SEALED_SUFFIX}`);
}

const sha = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');

/**
 * Re-write one plaintext archive file as an encrypted segment to the recipient: each export request is
 * gzip-compressed, then one secretstream message (the reader gunzips it, src/at-rest/segments.ts). The
 * output is checked against the input before the input is deleted: decrypted with the segment key still
 * in memory, every request must come back identical; only then is the key dropped and the original removed.
 * The host that seals cannot read the result afterwards.
 */
export function sealArchiveFile(file: string, recipient: Uint8Array, sodium: Sodium, options: { keep?: boolean } = {}): SealedFile {
  const target = sealedName(file);
  if (existsSync(target)) throw new Error(`${target} already exists; refusing to overwrite`);
  const docs = readRequestDocuments(file);
  const tmp = `${target}.tmp`;
  const enc = new SegmentEncryptor(sodium, recipient, { keepKey: true });
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${enc.headerLine}\n`);
    for (const doc of docs) writeSync(fd, `${enc.line(gzipSync(Buffer.from(doc, 'utf8')))}\n`);
    writeSync(fd, `${enc.finalLine()}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    checkSealed(tmp, docs, enc.key!, sodium);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  } finally {
    enc.key!.fill(0);
  }
  renameSync(tmp, target);
  syncDir(dirname(target));
  const bytesIn = statSync(file).size;
  if (!options.keep) unlinkSync(file);
  return { source: file, sealed: target, requests: docs.length, bytesIn, bytesOut: statSync(target).size };
}

function checkSealed(file: string, docs: string[], key: Uint8Array, sodium: Sodium): void {
  const rows = readFileSync(file, 'latin1').split('\n').filter(Boolean);
  const reader = new SegmentReader(sodium, rows[0]!, key);
  let n = 0;
  for (let i = 1; i < rows.length; i++) {
    const message = reader.next(rows[i]!, i + 1);
    if (message === undefined) break;
    const text = gunzipSync(message).toString('utf8');
    if (n >= docs.length || sha(text) !== sha(docs[n]!)) throw new Error(`${file}: sealed request ${n + 1} does not match the original; original kept`);
    n++;
  }
  if (!reader.closed || n !== docs.length) throw new Error(`${file}: sealed file holds ${n} of ${docs.length} requests; original kept`);
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not every filesystem lets a directory be fsynced
  }
}
