import { createHash } from 'node:crypto';
import { sha256 } from './hash.js';

/**
 * RFC 6962 §2.1 Merkle Tree Hash (as used by Certificate Transparency):
 *   MTH({})      = SHA-256()
 *   leaf hash    = SHA-256(0x00 || d)
 *   MTH(D[n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])),  k = largest power of two < n
 * In a checkpoint the leaf inputs d are the 32 raw bytes of each event's SHA-256 body hash.
 */

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** MTH({}): the root of a checkpoint over no events. */
const EMPTY_ROOT_HEX = sha256(new Uint8Array(0)).toString('hex');

export function leafHash(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

const leafScratch = Buffer.alloc(33);
const nodeScratch = Buffer.alloc(65);
nodeScratch[0] = 0x01;

/** Leaf hash of a 32-byte input, without per-call allocation of the prefixed input. */
function leafHash32(data: Uint8Array): Buffer {
  leafScratch.set(data, 1);
  return sha256(leafScratch);
}

function nodeHash32(left: Uint8Array, right: Uint8Array): Buffer {
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 33);
  return sha256(nodeScratch);
}

/** Largest power of two strictly less than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over leaf hashes (already leaf-hashed). */
export function merkleRootOfLeafHashes(leaves: readonly Uint8Array[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  const rec = (lo: number, hi: number): Buffer => {
    if (hi - lo === 1) return Buffer.from(leaves[lo]!);
    const k = splitPoint(hi - lo);
    return nodeHash(rec(lo, lo + k), rec(lo + k, hi));
  };
  return rec(0, leaves.length);
}

/** MTH over raw leaf inputs. */
export function merkleRoot(entries: readonly Uint8Array[]): Buffer {
  return merkleRootOfLeafHashes(entries.map(leafHash));
}

/**
 * The checkpoint root: leaves are the event body hashes (hex) as 32 raw bytes; result in hex.
 * Bottom-up with the odd last node promoted, which builds the same tree as RFC 6962's recursive
 * split (checked against the RFC 6962 reference roots in the tests), with no recursion or slicing.
 */
export function eventsMerkleRoot(eventHashesHex: readonly string[]): string {
  if (eventHashesHex.length === 0) return EMPTY_ROOT_HEX;
  let level: Buffer[] = eventHashesHex.map((h) => {
    if (!/^[0-9a-f]{64}$/.test(h)) throw new TypeError('event hash must be 64 lower-case hex digits');
    return leafHash32(Buffer.from(h, 'hex'));
  });
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash32(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!.toString('hex');
}

/**
 * The checkpoint root built as events are sealed: each append hashes its leaf and merges equal-size
 * subtrees (a compact range, as Certificate Transparency logs keep), so a checkpoint only folds the
 * few subtree roots left instead of hashing 2n nodes at once (that burst set the audit event's p99).
 * root() equals eventsMerkleRoot() over the same hashes (test/unit/integrity.test.ts).
 */
export class MerkleAccumulator {
  /** Roots of perfect subtrees, largest first, and their sizes (distinct powers of two). */
  private readonly roots: Buffer[] = [];
  private readonly sizes: number[] = [];
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Append one event: its 32-byte SHA-256 body hash. */
  append(eventHash: Uint8Array): void {
    if (eventHash.length !== 32) throw new TypeError('event hash must be 32 bytes');
    let node = leafHash32(eventHash);
    let size = 1;
    while (this.sizes.length > 0 && this.sizes[this.sizes.length - 1] === size) {
      node = nodeHash32(this.roots.pop()!, node);
      this.sizes.pop();
      size *= 2;
    }
    this.roots.push(node);
    this.sizes.push(size);
    this.n++;
  }

  /** RFC 6962 root over everything appended since the last reset, in hex. */
  rootHex(): string {
    if (this.roots.length === 0) return EMPTY_ROOT_HEX;
    let r = this.roots[this.roots.length - 1]!;
    for (let i = this.roots.length - 2; i >= 0; i--) r = nodeHash32(this.roots[i]!, r);
    return r.toString('hex');
  }

  reset(): void {
    this.roots.length = 0;
    this.sizes.length = 0;
    this.n = 0;
  }
}

/** RFC 6962 §2.1.1 audit path for leaf `index` (over leaf hashes). */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Buffer[] {
  if (index < 0 || index >= leaves.length) throw new RangeError('leaf index out of range');
  const path = (m: number, lo: number, hi: number): Buffer[] => {
    const n = hi - lo;
    if (n === 1) return [];
    const k = splitPoint(n);
    if (m < k) return [...path(m, lo, lo + k), merkleRootOfLeafHashes(leaves.slice(lo + k, hi))];
    return [...path(m - k, lo + k, hi), merkleRootOfLeafHashes(leaves.slice(lo, lo + k))];
  };
  return path(index, 0, leaves.length);
}

/** Verify an audit path (RFC 9162 §2.1.3.2 algorithm). */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (index < 0 || index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && Buffer.compare(r, Buffer.from(root)) === 0;
}
