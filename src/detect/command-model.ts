/**
 * The command model shared by the analysers: a command as its resolved argument vector plus
 * redirections, and what a block has done so far (files staged, secrets read, network used).
 */

/** Marks a word computed from decoded or downloaded data (`$(echo … | base64 -d)`). */
export const DECODED = '\u0001';

export interface Redirect {
  /** `>`, `>>`, `<`, `&>`, `>|`, `<<` (heredoc), `<<<` (here-string) … */
  op: string;
  target: string;
  /** Heredoc body or here-string text. */
  data?: string;
}

export interface Cmd {
  argv: string[];
  redirects: Redirect[];
  /** The previous pipeline stage: its stdout is this command's stdin. */
  stdin?: Cmd;
}

/** What a block has done so far: files it wrote (staged scripts), whether it read secrets or used the network. */
export interface BlockState {
  written: Map<string, { content?: string; decoded: boolean }>;
  secretRead: boolean;
  networkSend: boolean;
  /** The real home directory (ground truth), mapped to `~`. */
  home?: string;
  /** The working directory of a process that really ran (ground truth). */
  cwd?: string;
  depth: number;
}

export function newState(depth = 0): BlockState {
  return { written: new Map(), secretRead: false, networkSend: false, depth };
}

/** The output of a command as far as static analysis can know it. */
export interface Output {
  /** The exact text, when known (echo of a literal, decoded base64 of a literal). */
  text?: string;
  /** Computed from decoded or downloaded data. */
  decoded: boolean;
  /** Carries credential or environment data. */
  secret: boolean;
  /** Paths the command lists (find roots, ls arguments, echo words): what `xargs` would receive. */
  paths: string[];
  /** `paths` are directories whose entries are listed by name (`ls DIR`), not paths to walk (`find`). */
  names?: boolean;
}

export function basename(word: string): string {
  const w = word.replace(/\/+$/, '');
  return w.slice(w.lastIndexOf('/') + 1);
}

