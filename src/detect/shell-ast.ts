/**
 * Shell analysis over the tree-sitter-bash syntax tree: statements are walked in order, variables are
 * tracked (`X=~; rm -rf "$X"`, `$HOME`, `${X:-default}`, `for f in ~/.ssh/*`), words are resolved the
 * way the shell would (quotes, escapes, `$'…'`, command substitution with a known output), and every
 * command, pipeline stage and redirection is judged for its effect by commands.ts.
 */
import { type BlockState, type Cmd, DECODED, judgeArgv, type Output, type Redirect } from './commands.js';
import { Collector } from './effects.js';
import { printfEscapes } from './interpreters.js';
import type { SyntaxNode } from './parsers.js';
import { UNKNOWN } from './paths.js';

const MAX_DEPTH = 100;
const MAX_LOOP_VALUES = 8;
const MAX_WORK = 20_000;

interface Walk {
  vars: Map<string, string>;
  state: BlockState;
  out: Collector;
  depth: number;
  /** Nodes visited: the walk stops (and says so) past MAX_WORK, whatever the input. */
  work: number;
  truncated: boolean;
}

const EMPTY: Output = { decoded: false, secret: false, paths: [] };

function kids(n: SyntaxNode): SyntaxNode[] {
  return n.namedChildren.filter((c): c is SyntaxNode => c !== null && c.type !== 'comment');
}

function unescapeWord(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      if (text[i + 1] !== '\n') out += text[i + 1]!;
      i++;
    } else out += c;
  }
  return out;
}

function expandVar(w: Walk, name: string): string {
  if (name === 'HOME') return '~';
  if (name === 'IFS') return ' ';
  if (name === 'PWD') return '.';
  return w.vars.get(name) ?? UNKNOWN;
}

function expansion(w: Walk, n: SyntaxNode): string {
  const inner = n.text.slice(2, -1);
  const m = /^([A-Za-z_][A-Za-z0-9_]{0,63})(?:(:?[-=?+])([\s\S]{0,400}))?$/.exec(inner);
  if (!m) return UNKNOWN;
  const value = expandVar(w, m[1]!);
  if (value === UNKNOWN && m[2] && /[-=]/.test(m[2])) return wordOfText(w, m[3] ?? '');
  return value;
}

/** Resolve text that appears inside a default value (`${X:-~/x}`): tilde and simple variables. */
function wordOfText(w: Walk, text: string): string {
  return text.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]{0,63})\}?/g, (_, v: string) => expandVar(w, v));
}

/** The value of a word-like node. */
export function wordValue(w: Walk, n: SyntaxNode): string {
  if (++w.work > MAX_WORK) return UNKNOWN;
  switch (n.type) {
    case 'word':
    case 'number':
    case 'command_name':
      return n.type === 'command_name' ? kids(n).map((c) => wordValue(w, c)).join('') || unescapeWord(n.text) : unescapeWord(n.text);
    case 'raw_string':
      return n.text.slice(1, -1);
    case 'ansi_c_string':
      return printfEscapes(n.text.slice(2, -1));
    case 'string':
    case 'translated_string':
      return stringValue(w, n);
    case 'concatenation':
      return kids(n).map((c) => wordValue(w, c)).join('') || unescapeWord(n.text);
    case 'simple_expansion':
      return expandVar(w, n.text.slice(1));
    case 'expansion':
      return expansion(w, n);
    case 'command_substitution':
    case 'process_substitution':
      return substitution(w, n);
    case 'string_content':
      return n.text.replace(/\\([$`"\\\n])/g, (_, c: string) => (c === '\n' ? '' : c));
    case 'heredoc_body':
      return stringValue(w, n);
    default:
      return unescapeWord(n.text);
  }
}

/** A double-quoted string: literal text between the children is kept, children are resolved. */
function stringValue(w: Walk, n: SyntaxNode): string {
  const text = n.text;
  const base = n.startIndex;
  const quoted = n.type === 'string' || n.type === 'translated_string';
  let pos = quoted ? (n.type === 'translated_string' ? 2 : 1) : 0;
  let out = '';
  for (const c of kids(n)) {
    const start = c.startIndex - base;
    if (start > pos) out += text.slice(pos, start);
    out += c.type === 'heredoc_content' ? c.text : wordValue(w, c);
    pos = c.endIndex - base;
  }
  const end = quoted ? text.length - 1 : text.length;
  if (end > pos) out += text.slice(pos, end);
  return out;
}

/** `$(…)` / `<(…)`: judge the inner commands; the value is their output when known. */
function substitution(w: Walk, n: SyntaxNode): string {
  const output = statements(w, kids(n));
  if (output.text !== undefined && output.text.length < 4096) {
    const text = output.text.replace(/\n+$/, '');
    return output.decoded ? DECODED + text : text;
  }
  return output.decoded || /\b(?:curl|wget|base64|xxd|openssl)\b/.test(n.text) ? DECODED + UNKNOWN : UNKNOWN;
}

/** Words of an argument node: unquoted expansions are split on whitespace, as the shell does. */
function argWords(w: Walk, n: SyntaxNode): string[] {
  const v = wordValue(w, n);
  if (n.type === 'simple_expansion' || n.type === 'expansion' || n.type === 'command_substitution') {
    const marker = v.startsWith(DECODED) ? DECODED : '';
    const parts = v.replace(DECODED, '').split(/[ \t\n]+/).filter((p) => p !== '');
    return parts.length === 0 ? [] : parts.map((p, i) => (i === 0 ? marker + p : p));
  }
  return [v];
}

function redirectOf(w: Walk, r: SyntaxNode): Redirect | undefined {
  const op = r.children.find((c) => c !== null && !c.isNamed)?.type ?? '';
  if (r.type === 'heredoc_redirect') {
    const body = kids(r).find((c) => c.type === 'heredoc_body');
    const start = kids(r).find((c) => c.type === 'heredoc_start')?.text ?? '';
    const literal = /['"\\]/.test(start);
    return { op: '<<', target: '', data: body ? (literal ? body.text : stringValue(w, body)) : '' };
  }
  if (r.type === 'herestring_redirect') {
    const v = kids(r)[0];
    return { op: '<<<', target: '', data: v ? wordValue(w, v) : '' };
  }
  const dest = r.childForFieldName('destination') ?? kids(r).find((c) => c.type !== 'file_descriptor');
  if (!dest) return undefined;
  return { op, target: wordValue(w, dest) };
}

function simpleCommand(w: Walk, n: SyntaxNode, redirects: Redirect[], stdin: Output | undefined, next: Cmd | undefined): Output {
  const argv: string[] = [];
  const own: Redirect[] = [...redirects];
  const assigns: Array<[string, string]> = [];
  for (const c of kids(n)) {
    if (c.type === 'variable_assignment') {
      const name = c.childForFieldName('name')?.text ?? '';
      const value = c.childForFieldName('value');
      assigns.push([name, value ? wordValue(w, value) : '']);
    } else if (c.type.endsWith('_redirect')) {
      const r = redirectOf(w, c);
      if (r) own.push(r);
    } else argv.push(...argWords(w, c));
  }
  if (argv.length === 0) {
    for (const [k, v] of assigns) if (w.vars.size < 256 || w.vars.has(k)) w.vars.set(k, v);
  }
  const here = own.find((r) => r.op === '<<' || r.op === '<<<');
  const input: Output | undefined = here ? { text: here.data, decoded: false, secret: false, paths: [] } : stdin;
  if (argv.length === 0 && own.length === 0) return EMPTY;
  const result = judgeArgv(argv, own, w.state, w.out, input, next);
  // `cat` with no file passes its stdin through (`cat <<EOF | sh`).
  if (argv[0] === 'cat' && argv.length === 1 && input) return { ...input, secret: input.secret || result.secret };
  return result;
}

function commandOf(n: SyntaxNode): Cmd | undefined {
  const c = n.type === 'redirected_statement' ? n.childForFieldName('body') : n;
  if (!c || c.type !== 'command') return undefined;
  const name = c.childForFieldName('name');
  return name ? { argv: [name.text], redirects: [] } : undefined;
}

function pipeline(w: Walk, n: SyntaxNode, stdin: Output | undefined): Output {
  const stages = kids(n);
  let input = stdin;
  for (let i = 0; i < stages.length; i++) input = statement(w, stages[i]!, input, stages[i + 1] ? commandOf(stages[i + 1]!) : undefined);
  return input ?? EMPTY;
}

function redirected(w: Walk, n: SyntaxNode, stdin: Output | undefined, next: Cmd | undefined): Output {
  const body = n.childForFieldName('body');
  const reds: Redirect[] = [];
  const tails: SyntaxNode[] = [];
  for (const c of kids(n)) {
    if (body && c.id === body.id) continue;
    if (c.type.endsWith('_redirect')) {
      const r = redirectOf(w, c);
      if (r) reds.push(r);
      // `cat <<EOF | sh`: the rest of the pipeline sits inside the heredoc redirect.
      for (const k of kids(c)) if (k.type === 'pipeline' || k.type === 'command' || k.type === 'list') tails.push(k);
    }
  }
  if (!body) return EMPTY;
  let out: Output;
  if (body.type === 'command') out = simpleCommand(w, body, reds, stdin, tails[0] ? commandOf(tails[0]) : next);
  else {
    const input = reds.find((r) => r.op === '<');
    const data = reds.find((r) => r.op === '<<' || r.op === '<<<');
    out = statement(w, body, data ? { text: data.data, decoded: false, secret: false, paths: [] } : stdin, next);
    // Redirections of compound statements (`while read l; do …; done < ~/.ssh/id_rsa`).
    const r = judgeArgv([], reds.filter((x) => x !== data), w.state, w.out, out);
    if (input) w.state.secretRead ||= r.secret;
  }
  for (const t of tails) out = t.type === 'pipeline' ? pipeline(w, t, out) : statement(w, t, out, undefined);
  return out;
}

function forLoop(w: Walk, n: SyntaxNode): Output {
  const variable = n.childForFieldName('variable')?.text;
  const values = n.childrenForFieldName('value').filter((c): c is SyntaxNode => c !== null).flatMap((c) => argWords(w, c));
  const body = n.childForFieldName('body');
  if (!body) return EMPTY;
  const list = values.length ? values.slice(0, MAX_LOOP_VALUES) : [UNKNOWN];
  let out = EMPTY;
  for (const v of list) {
    if (variable) w.vars.set(variable, v);
    out = statement(w, body, undefined, undefined);
  }
  return out;
}

/** `PRODUCER | while read f; do …; done`: f is one of the producer's paths, or something under them. */
function whileLoop(w: Walk, n: SyntaxNode, stdin: Output | undefined): Output {
  const cond = n.childForFieldName('condition');
  const body = n.childForFieldName('body');
  const m = cond ? /^read(?:\s+-[a-zA-Z]{1,4})*\s+([A-Za-z_][A-Za-z0-9_]{0,63})/.exec(cond.text) : null;
  if (m && stdin) {
    const root = stdin.paths[0];
    w.vars.set(m[1]!, root !== undefined && !stdin.names ? `${root === '.' ? '' : root + '/'}${UNKNOWN}` : UNKNOWN);
  }
  if (cond) statement(w, cond, stdin, undefined);
  return body ? statement(w, body, stdin, undefined) : EMPTY;
}

export function statement(w: Walk, n: SyntaxNode, stdin: Output | undefined, next: Cmd | undefined): Output {
  if (++w.work > MAX_WORK || w.depth > MAX_DEPTH) {
    w.truncated = true;
    return EMPTY;
  }
  w.depth++;
  try {
    switch (n.type) {
      case 'command':
        return simpleCommand(w, n, [], stdin, next);
      case 'variable_assignment': {
        const name = n.childForFieldName('name')?.text ?? '';
        const value = n.childForFieldName('value');
        if (w.vars.size < 256 || w.vars.has(name)) w.vars.set(name, value ? wordValue(w, value) : '');
        return EMPTY;
      }
      case 'declaration_command':
        return simpleCommand(w, n, [], stdin, next);
      case 'pipeline':
        return pipeline(w, n, stdin);
      case 'redirected_statement':
        return redirected(w, n, stdin, next);
      case 'for_statement':
        return forLoop(w, n);
      case 'while_statement':
        return whileLoop(w, n, stdin);
      case 'function_definition': {
        const body = n.childForFieldName('body');
        return body ? statement(w, body, undefined, undefined) : EMPTY;
      }
      case 'comment':
        return EMPTY;
      default:
        return statements(w, kids(n), stdin);
    }
  } finally {
    w.depth--;
  }
}

function statements(w: Walk, nodes: SyntaxNode[], stdin?: Output): Output {
  let last: Output = EMPTY;
  for (const c of nodes) last = statement(w, c, stdin, undefined);
  return last;
}

/** Judge a parsed shell program. */
export function analyzeShellTree(root: SyntaxNode, state: BlockState, out: Collector = new Collector()): { out: Collector; truncated: boolean } {
  const w: Walk = { vars: new Map(), state, out, depth: 0, work: 0, truncated: false };
  statements(w, kids(root));
  return { out, truncated: w.truncated };
}
