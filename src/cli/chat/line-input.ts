import type { Interface } from 'node:readline';

/**
 * Lines from readline, none lost: a line typed while nothing is asked (during a turn, or before the next
 * prompt is drawn) is kept for the next `> ` prompt, as a terminal's line discipline keeps it for `input()`.
 * An approval question never takes such a line: only an answer typed after the question was shown counts.
 */
export class LineInput {
  private readonly typedAhead: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private closed = false;

  constructor(private readonly rl: Interface) {
    rl.on('line', (line) => {
      const w = this.waiter;
      if (w) {
        this.waiter = undefined;
        w(line);
      } else this.typedAhead.push(line);
    });
    rl.on('close', () => {
      this.closed = true;
      this.cancel();
    });
  }

  /** True once input has ended (Ctrl-D, stdin closed). */
  get ended(): boolean {
    return this.closed;
  }

  /** True while a read waits for its line (a prompt is shown). */
  get waiting(): boolean {
    return this.waiter !== undefined;
  }

  /**
   * The next line: typed-ahead first when `typeAhead`, else (an approval) typed-ahead lines are dropped.
   * undefined when input ended or the read was cancelled.
   */
  read(prompt: string, options: { typeAhead: boolean; showPrompt: boolean }): Promise<string | undefined> {
    if (!options.typeAhead) this.typedAhead.length = 0;
    else if (this.typedAhead.length > 0) return Promise.resolve(this.typedAhead.shift());
    if (this.closed) return Promise.resolve(undefined);
    this.cancel();
    if (options.showPrompt) {
      this.rl.setPrompt(prompt);
      this.rl.prompt();
    }
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** End the waiting read with undefined (Ctrl-C at a prompt). */
  cancel(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined);
  }
}
