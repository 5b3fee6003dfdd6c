import { loadSodium, sodiumIfLoaded } from './sodium.js';
import { SegmentEncryptor } from './segments.js';

/**
 * Turns plaintext record lines into encrypted segment lines for an append-only file. Until the
 * WebAssembly module has loaded (a few ms after start-up) lines wait in memory, in order; from then on
 * each line is encrypted synchronously, so the sink still writes each record before the call returns.
 */
export class EncryptedLines {
  private encryptor: SegmentEncryptor | undefined;
  private readonly waiting: Uint8Array[] = [];
  private flushWaiting: ((lines: string[]) => void) | undefined;

  constructor(private readonly recipient: Uint8Array) {
    void loadSodium();
  }

  /** Whether lines can be encrypted now (the module is loaded). */
  get ready(): boolean {
    return sodiumIfLoaded() !== undefined;
  }

  /** Lines to append for one plaintext line: a segment header first when a segment starts. */
  encrypt(line: Uint8Array): string[] {
    const sodium = sodiumIfLoaded();
    if (!sodium) throw new Error('at-rest encryption is not loaded yet');
    const out: string[] = [];
    if (!this.encryptor) {
      this.encryptor = new SegmentEncryptor(sodium, this.recipient);
      out.push(this.encryptor.headerLine);
    }
    out.push(this.encryptor.line(line));
    return out;
  }

  /** The segment's final line (its key is then gone); the next line starts a new segment. */
  close(): string[] {
    if (!this.encryptor) return [];
    const last = this.encryptor.finalLine();
    this.encryptor = undefined;
    return [last];
  }

  /** Hold a line until the module loads; `write` receives the encrypted lines, in order. */
  defer(line: Uint8Array, write: (lines: string[]) => void): void {
    this.waiting.push(line);
    this.flushWaiting = write;
    if (this.waiting.length === 1) {
      void loadSodium().then(() => {
        const lines = this.waiting.splice(0).flatMap((l) => this.encrypt(l));
        this.flushWaiting?.(lines);
      });
    }
  }

  get pending(): number {
    return this.waiting.length;
  }
}
