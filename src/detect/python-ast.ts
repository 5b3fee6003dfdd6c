/**
 * Python analysis over the tree-sitter-python tree: statements are walked in order with one
 * environment (imports and aliases, assignments, loop variables bound to what they iterate), so a value
 * built in one statement is judged where another uses it (`h = Path.home(); shutil.rmtree(h)`).
 * Function and class bodies are walked where they are defined, with unknown parameters: a block's
 * helpers are judged even if the call that runs them is hidden.
 */
import type { BlockState } from './commands.js';
import type { Collector } from './effects.js';
import type { SyntaxNode } from './parsers.js';
import { bind, evalExpr, MAX_WORK, named, type PyCtx } from './python-eval.js';
import { makeSink } from './python-sinks.js';
import { type Val, UNK, items, str } from './python-values.js';

const MAX_LOOP = 8;

/** Members `from X import *` brings in that the sinks and folds know by name. */
const STAR: Record<string, readonly string[]> = {
  os: ['system', 'popen', 'remove', 'unlink', 'rmdir', 'removedirs', 'environ', 'getenv', 'listdir', 'walk', 'scandir', 'execv', 'execve', 'execvp', 'execl', 'execlp', 'spawnv', 'spawnl', 'rename', 'replace', 'truncate'],
  'os.path': ['join', 'expanduser', 'expandvars', 'abspath', 'realpath', 'normpath', 'dirname'],
  shutil: ['rmtree', 'copy', 'copy2', 'copyfile', 'copytree', 'move', 'make_archive'],
  subprocess: ['run', 'call', 'check_call', 'check_output', 'Popen', 'getoutput', 'getstatusoutput'],
  pathlib: ['Path', 'PosixPath', 'PurePath'],
  base64: ['b64decode', 'standard_b64decode', 'urlsafe_b64decode', 'b32decode', 'b85decode', 'decodebytes'],
  codecs: ['decode', 'encode', 'open'],
  binascii: ['unhexlify', 'a2b_hex', 'a2b_base64'],
  glob: ['glob', 'iglob'],
  pty: ['spawn'],
  ctypes: ['CDLL', 'cdll', 'PyDLL'],
  zlib: ['decompress'],
  marshal: ['loads'],
  requests: ['get', 'post', 'put', 'patch'],
};

function dotted(n: SyntaxNode): string {
  return n.text.replace(/\s+/g, '');
}

function imports(ctx: PyCtx, n: SyntaxNode): void {
  if (n.type === 'import_statement') {
    for (const c of named(n)) {
      if (c.type === 'aliased_import') {
        const name = c.childForFieldName('name');
        const alias = c.childForFieldName('alias');
        if (name && alias) ctx.env.set(alias.text, { t: 'ref', name: dotted(name) });
      } else if (c.type === 'dotted_name') {
        const head = dotted(c).split('.')[0]!;
        ctx.env.set(head, { t: 'ref', name: head });
      }
    }
    return;
  }
  const mod = n.childForFieldName('module_name');
  const modName = mod ? dotted(mod) : '';
  for (const c of named(n)) {
    if (c === mod || c.id === mod?.id) continue;
    if (c.type === 'wildcard_import') {
      for (const m of STAR[modName] ?? []) if (!ctx.env.has(m)) ctx.env.set(m, { t: 'ref', name: `${modName}.${m}` });
    } else if (c.type === 'aliased_import') {
      const name = c.childForFieldName('name');
      const alias = c.childForFieldName('alias');
      if (name && alias) ctx.env.set(alias.text, { t: 'ref', name: `${modName}.${dotted(name)}` });
    } else if (c.type === 'dotted_name') {
      ctx.env.set(dotted(c), { t: 'ref', name: `${modName}.${dotted(c)}` });
    }
  }
}

/** Canonical names for `__import__('os')`, `importlib.import_module(x)`, `getattr(obj, name)`. */
function dynamicImports(ctx: PyCtx): void {
  const prev = ctx.sink;
  ctx.sink = (c, fn, args, kw) => {
    if (fn.t === 'ref' && (fn.name === '__import__' || fn.name === 'importlib.import_module' || fn.name === 'builtins.__import__')) {
      const a0 = args[0];
      if (a0?.t === 'str') return { t: 'ref', name: a0.s };
    }
    if (fn.t === 'ref' && (fn.name === 'getattr' || fn.name === 'builtins.getattr') && args[1]?.t === 'str') {
      const obj = args[0] ?? UNK;
      if (obj.t === 'ref') return { t: 'ref', name: `${obj.name}.${args[1].s}` };
      return { t: 'method', recv: obj, name: args[1].s };
    }
    return prev(c, fn, args, kw);
  };
}

function loop(ctx: PyCtx, n: SyntaxNode): void {
  const left = n.childForFieldName('left');
  const right = n.childForFieldName('right');
  const body = n.childForFieldName('body');
  const iter: Val = right ? evalExpr(ctx, right) : UNK;
  const seq = items(iter).slice(0, MAX_LOOP);
  for (const item of seq.length ? seq : [UNK]) {
    if (left) bind(ctx, left, item);
    if (body) block(ctx, body);
    if (ctx.work > MAX_WORK) break;
  }
  const alt = named(n).find((c) => c.type === 'else_clause');
  if (alt) block(ctx, alt);
}

function withStatement(ctx: PyCtx, n: SyntaxNode): void {
  const clause = named(n).find((c) => c.type === 'with_clause');
  for (const item of clause ? named(clause) : []) {
    const value = item.childForFieldName('value');
    if (!value) continue;
    if (value.type === 'as_pattern') {
      const expr = named(value)[0];
      const alias = value.childForFieldName('alias');
      const v = expr ? evalExpr(ctx, expr) : UNK;
      if (alias) bind(ctx, alias, v);
    } else evalExpr(ctx, value);
  }
  const body = n.childForFieldName('body');
  if (body) block(ctx, body);
}

function functionDef(ctx: PyCtx, n: SyntaxNode): void {
  const params = n.childForFieldName('parameters');
  for (const p of params ? named(params) : []) {
    const id = p.type === 'identifier' ? p : (p.childForFieldName('name') ?? named(p).find((c) => c.type === 'identifier'));
    const dflt = p.childForFieldName('value');
    if (id) ctx.env.set(id.text, dflt ? evalExpr(ctx, dflt) : UNK);
  }
  const body = n.childForFieldName('body');
  if (body) block(ctx, body);
  const name = n.childForFieldName('name');
  if (name) ctx.env.set(name.text, UNK);
}

function stmt(ctx: PyCtx, n: SyntaxNode): void {
  if (++ctx.work > MAX_WORK || ctx.depth > 80) {
    ctx.truncated = true;
    return;
  }
  ctx.depth++;
  try {
    switch (n.type) {
      case 'import_statement':
      case 'import_from_statement':
        return imports(ctx, n);
      case 'for_statement':
        return loop(ctx, n);
      case 'with_statement':
        return withStatement(ctx, n);
      case 'function_definition':
        return functionDef(ctx, n);
      case 'expression_statement':
      case 'return_statement':
        for (const c of named(n)) evalExpr(ctx, c);
        return;
      case 'comment':
      case 'pass_statement':
        return;
      default:
        // if/while/try/class/decorated/match: evaluate conditions and walk every body in order.
        for (const c of named(n)) {
          if (c.type === 'block' || /_clause$/.test(c.type) || /statement$|definition$/.test(c.type)) block(ctx, c);
          else evalExpr(ctx, c);
        }
    }
  } finally {
    ctx.depth--;
  }
}

function block(ctx: PyCtx, n: SyntaxNode): void {
  if (n.type === 'block' || n.type === 'module' || /_clause$/.test(n.type)) {
    for (const c of named(n)) {
      if (c.type === 'block' || /_clause$/.test(c.type) || /statement$|definition$|^decorated_definition$/.test(c.type)) (c.type === 'block' || /_clause$/.test(c.type) ? block : stmt)(ctx, c);
      else evalExpr(ctx, c);
    }
  } else stmt(ctx, n);
}

/** Judge a parsed Python program. */
export function analyzePythonTree(root: SyntaxNode, state: BlockState, out: Collector): { truncated: boolean } {
  const ctx: PyCtx = { env: new Map([['__file__', str('./script.py')]]), work: 0, truncated: false, depth: 0, sink: makeSink(state, out) };
  dynamicImports(ctx);
  block(ctx, root);
  return { truncated: ctx.truncated };
}
