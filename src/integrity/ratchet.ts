import { createHmac } from 'node:crypto';

/** HMAC message of the forward step: k[i+1] = HMAC-SHA256(k[i], "oi-audit ratchet"). */
export const RATCHET_LABEL = 'oi-audit ratchet';

/** One forward step of the key chain (a one-way function of the key). */
export function nextMacKey(key: Buffer): Buffer {
  return createHmac('sha256', key).update(RATCHET_LABEL).digest();
}

/** The key for event `index`, from k0 (what a verifier holding the seed does). */
export function macKeyAt(k0: Buffer, index: number): Buffer {
  let k: Buffer = Buffer.from(k0);
  for (let i = 0; i < index; i++) {
    const n = nextMacKey(k);
    k.fill(0);
    k = n;
  }
  return k;
}

/** mac = hex HMAC-SHA256(key, message). */
export function macHex(key: Buffer, message: string | Uint8Array): string {
  return typeof message === 'string' ? createHmac('sha256', key).update(message, 'utf8').digest('hex') : createHmac('sha256', key).update(message).digest('hex');
}

/**
 * Forward-secure MAC key (Bellare–Yee): event i is MACed under k[i], then the key steps forward and
 * k[i] is overwritten with zeros. Whoever takes the process after event n holds k[n+1] and can MAC
 * new events, but cannot recompute k[0..n] (HMAC is one-way), so earlier MACs cannot be forged.
 *
 * Caveat (JavaScript): we zero the Buffer we hold; copies OpenSSL or the GC made while computing an
 * HMAC are outside our reach. The guarantee is against reading this process's key state later, not
 * against a memory forensic of freed pages.
 */
export class MacRatchet {
  private key: Buffer;
  private idx: number;
  private destroyed = false;

  /** Takes a copy of k0 (the caller should erase its own). */
  constructor(k0: Buffer, index = 0) {
    this.key = Buffer.from(k0);
    this.idx = index;
  }

  /** Index of the key that the next mac() uses (= the seq of the event it will MAC). */
  get index(): number {
    return this.idx;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** MAC under the current key (of the body text in scheme 2, of the 32-byte D in scheme 3); does not step. */
  mac(message: string | Uint8Array): string {
    if (this.destroyed) throw new Error('MAC key destroyed (session closed)');
    return macHex(this.key, message);
  }

  /** k[i+1] = HMAC(k[i], "oi-audit ratchet"); k[i] is overwritten. */
  advance(): void {
    if (this.destroyed) throw new Error('MAC key destroyed (session closed)');
    const next = nextMacKey(this.key);
    this.key.fill(0);
    this.key = next;
    this.idx++;
  }

  /**
   * A copy of the current state: what an attacker who takes the process now would hold.
   * For tests and for demonstrating forward security; never logged.
   */
  snapshot(): { index: number; key: Buffer } {
    return { index: this.idx, key: Buffer.from(this.key) };
  }

  /** Erase the key (end of session). */
  destroy(): void {
    this.key.fill(0);
    this.destroyed = true;
  }
}
