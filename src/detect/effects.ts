/**
 * Effects: what a block (or a process that really ran) does, as opposed to how it is spelled. The
 * analysers (shell-ast.ts, python-ast.ts, script-generic.ts, commands.ts) turn code into effects; the
 * rule table maps effect kinds to rules (`match.effect` in rules.json), so severity and ATT&CK ids stay data.
 */

export type EffectKind =
  | 'delete.root'
  | 'delete.home'
  | 'delete.system'
  | 'delete.home-child'
  | 'delete.outside'
  | 'wipe.device'
  | 'read.credential'
  | 'read.home-tree'
  | 'read.environ'
  | 'exfil.secret'
  | 'exec.decoded'
  | 'exec.generated'
  | 'persist.rc'
  | 'persist.cron'
  | 'persist.systemd'
  | 'persist.authkeys'
  | 'analysis.unavailable'
  | 'analysis.too-large';

export interface Effect {
  kind: EffectKind;
  /** What was seen (a path, a command): raw, redact before recording. */
  detail: string;
}

/** Code found inside code: `sh -c '…'`, `python -c`, decoded payloads, staged scripts. */
export interface NestedCode {
  language: 'shell' | 'python' | 'perl' | 'node' | 'ruby' | 'php' | 'other';
  code: string;
}

/** What the analysis of one block (or one process) found. */
export interface Analysis {
  effects: Effect[];
  nested: NestedCode[];
}

/** Bounds: a block cannot make the analysis collect without limit. */
export const MAX_EFFECTS = 64;
export const MAX_NESTED = 16;

/** A collector that keeps the bounds and drops duplicates. */
export class Collector implements Analysis {
  readonly effects: Effect[] = [];
  readonly nested: NestedCode[] = [];
  private readonly seen = new Set<string>();

  add(kind: EffectKind, detail: string): void {
    const key = `${kind}\u0000${detail}`;
    if (this.seen.has(key) || this.effects.length >= MAX_EFFECTS) return;
    this.seen.add(key);
    this.effects.push({ kind, detail: detail.slice(0, 300) });
  }

  nest(language: NestedCode['language'], code: string): void {
    if (this.nested.length >= MAX_NESTED || code.trim() === '') return;
    if (this.nested.some((n) => n.language === language && n.code === code)) return;
    this.nested.push({ language, code });
  }

  has(kind: EffectKind | ((k: EffectKind) => boolean)): boolean {
    return this.effects.some((e) => (typeof kind === 'function' ? kind(e.kind) : e.kind === kind));
  }
}
