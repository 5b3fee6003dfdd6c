/**
 * Expression evaluation over the tree-sitter-python tree: literals (f-strings, concatenation, bytes),
 * names bound earlier, imports and their aliases, `__import__`/`getattr` with computed names, the home
 * directory by any spelling, path building, and the decoders obfuscated code goes through (base64, hex,
 * rot13, `chr` maps, reversed slices), which are run for real on literal input. Calls are handed to the
 * sinks (python-sinks.ts) first, so a value can be judged where it is used.
 */
import { rot13, tryBase64, tryHex } from './interpreters.js';
import type { SyntaxNode } from './parsers.js';
import { UNKNOWN } from './paths.js';
import { concat, type Val, UNK, str, text, isDec, isSecret, items, join, MAX_ITEMS, pyEscapes, known } from './python-values.js';

export interface PyCtx {
  env: Map<string, Val>;
  work: number;
  truncated: boolean;
  depth: number;
  /** Judge a call before it is evaluated as a pure function (python-sinks.ts). */
  sink: (ctx: PyCtx, fn: Val, args: Val[], kw: Map<string, Val>) => Val | undefined;
}

export const MAX_WORK = 50_000;
const MAX_DEPTH = 80;

export function named(n: SyntaxNode): SyntaxNode[] {
  return n.namedChildren.filter((c): c is SyntaxNode => c !== null && c.type !== 'comment');
}

/** The canonical name of a module member reached through an alias (`sp.run` → `subprocess.run`). */
function attr(recv: Val, name: string): Val {
  if (recv.t === 'ref') return { t: 'ref', name: `${recv.name}.${name}` };
  return { t: 'method', recv, name };
}

/** Attribute access that is a value, not a method: `.pw_dir`, `.parent`, `.name`, a response's `.text`. */
function property(recv: Val, name: string): Val {
  if (recv.t === 'ref' && recv.name === 'pwd.entry' && name === 'pw_dir') return str('~');
  if (recv.t === 'obj' && recv.kind === 'response' && /^(?:text|content|body|data)$/.test(name)) return { t: 'unk', dec: true };
  if (recv.t === 'str' && name === 'parent') return str(recv.s.replace(/\/[^/]*$/, '') || '/', { dec: recv.dec });
  if (recv.t === 'str' && (name === 'name' || name === 'stem')) return str(recv.s.slice(recv.s.lastIndexOf('/') + 1), { dec: recv.dec });
  if (recv.t === 'str' && name === 'path') return recv;
  return attr(recv, name);
}

function stringLiteral(ctx: PyCtx, n: SyntaxNode): Val {
  let prefix = '';
  let out = '';
  let dec = false;
  let secret = false;
  for (const c of n.children) {
    if (!c) continue;
    if (c.type === 'string_start') prefix = c.text.replace(/['"]+$/, '').toLowerCase();
    else if (c.type === 'string_content') out += prefix.includes('r') ? c.text : pyEscapes(c.text);
    else if (c.type === 'interpolation') {
      const e = c.childForFieldName('expression');
      const v = e ? evalExpr(ctx, e) : UNK;
      dec ||= isDec(v);
      secret ||= isSecret(v);
      out += text(v);
    } else if (c.type === 'escape_interpolation') out += c.text.slice(0, 1);
  }
  return str(out, { dec, secret });
}

function binary(ctx: PyCtx, n: SyntaxNode): Val {
  const l = n.childForFieldName('left');
  const r = n.childForFieldName('right');
  const op = n.childForFieldName('operator')?.type ?? n.children.find((c) => c && !c.isNamed)?.type;
  const a = l ? evalExpr(ctx, l) : UNK;
  const b = r ? evalExpr(ctx, r) : UNK;
  if (op === '+') return concat(a, b);
  if (op === '/' && (a.t === 'str' || (a.t === 'list' && a.items.length === 1))) return join([a, b]);
  if (op === '%' && a.t === 'str') {
    const args = b.t === 'list' ? b.items : [b];
    let i = 0;
    return str(a.s.replace(/%[-#0 +]?[0-9]{0,3}(?:\.[0-9]{1,3})?[sdrif]/g, () => text(args[i++] ?? UNK)), { dec: isDec(a) || args.some(isDec) });
  }
  if (op === '*' && a.t === 'str' && b.t === 'num' && b.n >= 0 && b.n * a.s.length < MAX_ITEMS) return str(a.s.repeat(b.n), { dec: a.dec });
  if (op === '-' && a.t === 'num' && b.t === 'num') return { t: 'num', n: a.n - b.n };
  if (op === '^' && a.t === 'num' && b.t === 'num') return { t: 'num', n: a.n ^ b.n };
  return { t: 'unk', dec: isDec(a) || isDec(b), secret: isSecret(a) || isSecret(b) };
}

function subscript(ctx: PyCtx, n: SyntaxNode): Val {
  const base = n.childForFieldName('value');
  const sub = n.childForFieldName('subscript');
  const v = base ? evalExpr(ctx, base) : UNK;
  if (v.t === 'ref' && v.name === 'os.environ' && sub) {
    const key = evalExpr(ctx, sub);
    return key.t === 'str' && key.s === 'HOME' ? str('~') : UNK;
  }
  if (sub?.type === 'slice') {
    // s[::-1]: reversed, a classic way to hide a string.
    if (/^::\s{0,2}-1$/.test(sub.text) && (v.t === 'str' || v.t === 'list')) {
      return v.t === 'str' ? str(Array.from(v.s).reverse().join(''), { dec: true }) : { t: 'list', items: [...v.items].reverse(), dec: true };
    }
    return { t: 'unk', dec: isDec(v), secret: isSecret(v) };
  }
  const idx = sub ? evalExpr(ctx, sub) : UNK;
  if (v.t === 'list' && idx.t === 'num') return v.items[idx.n < 0 ? v.items.length + idx.n : idx.n] ?? UNK;
  return { t: 'unk', dec: isDec(v), secret: isSecret(v) };
}

/** A comprehension or generator: evaluated for real over a known iterable (bounded). */
function comprehension(ctx: PyCtx, n: SyntaxNode): Val {
  const body = n.childForFieldName('body');
  const clause = named(n).find((c) => c.type === 'for_in_clause');
  if (!body || !clause) return UNK;
  const left = clause.childForFieldName('left');
  const right = clause.childForFieldName('right');
  const iter = right ? evalExpr(ctx, right) : UNK;
  const results: Val[] = [];
  for (const item of items(iter)) {
    if (results.length >= MAX_ITEMS || ++ctx.work > MAX_WORK) break;
    if (left) bind(ctx, left, item);
    results.push(evalExpr(ctx, body));
  }
  return { t: 'list', items: results, dec: isDec(iter) };
}

/** Bind a value to an assignment target (names, tuples of names). */
export function bind(ctx: PyCtx, target: SyntaxNode, v: Val): void {
  if (target.type === 'identifier') {
    if (ctx.env.size < 1024 || ctx.env.has(target.text)) ctx.env.set(target.text, v);
  } else if (['pattern_list', 'tuple_pattern', 'list_pattern', 'expression_list', 'tuple', 'list'].includes(target.type)) {
    const parts = named(target);
    parts.forEach((p, i) => bind(ctx, p, v.t === 'list' ? (v.items[i] ?? UNK) : { t: 'unk', dec: isDec(v), secret: isSecret(v) }));
  } else if (target.type === 'as_pattern_target' || target.type === 'parenthesized_expression') {
    const inner = named(target)[0];
    if (inner) bind(ctx, inner, v);
  }
}

function callArgs(ctx: PyCtx, n: SyntaxNode | null): { args: Val[]; kw: Map<string, Val> } {
  const args: Val[] = [];
  const kw = new Map<string, Val>();
  if (!n) return { args, kw };
  if (n.type === 'generator_expression') return { args: [comprehension(ctx, n)], kw };
  for (const a of named(n)) {
    if (a.type === 'keyword_argument') {
      const name = a.childForFieldName('name')?.text ?? '';
      const value = a.childForFieldName('value');
      kw.set(name, value ? evalExpr(ctx, value) : UNK);
    } else if (a.type === 'list_splat' || a.type === 'dictionary_splat') {
      const inner = named(a)[0];
      const v = inner ? evalExpr(ctx, inner) : UNK;
      if (a.type === 'list_splat' && v.t === 'list') args.push(...v.items);
      else args.push(v);
    } else args.push(evalExpr(ctx, a));
  }
  return { args, kw };
}

export function evalExpr(ctx: PyCtx, n: SyntaxNode): Val {
  if (++ctx.work > MAX_WORK || ctx.depth > MAX_DEPTH) {
    ctx.truncated = true;
    return UNK;
  }
  ctx.depth++;
  try {
    return evalNode(ctx, n);
  } finally {
    ctx.depth--;
  }
}

function evalNode(ctx: PyCtx, n: SyntaxNode): Val {
  switch (n.type) {
    case 'string':
      return stringLiteral(ctx, n);
    case 'concatenated_string':
      return named(n).map((c) => evalExpr(ctx, c)).reduce(concat, str(''));
    case 'integer': {
      const v = Number(n.text.replace(/_/g, '').replace(/^0o/i, '0o'));
      return Number.isFinite(v) ? { t: 'num', n: v } : UNK;
    }
    case 'identifier':
      return ctx.env.get(n.text) ?? { t: 'ref', name: n.text };
    case 'attribute': {
      const o = n.childForFieldName('object');
      const a = n.childForFieldName('attribute')?.text ?? '';
      return property(o ? evalExpr(ctx, o) : UNK, a);
    }
    case 'list':
    case 'tuple':
    case 'set':
    case 'expression_list':
      return { t: 'list', items: named(n).slice(0, MAX_ITEMS).map((c) => evalExpr(ctx, c)) };
    case 'parenthesized_expression':
    case 'await':
    case 'expression_statement':
      return named(n)[0] ? evalExpr(ctx, named(n)[0]!) : UNK;
    case 'binary_operator':
      return binary(ctx, n);
    case 'subscript':
      return subscript(ctx, n);
    case 'list_comprehension':
    case 'generator_expression':
    case 'set_comprehension':
      return comprehension(ctx, n);
    case 'conditional_expression':
      return named(n)[0] ? evalExpr(ctx, named(n)[0]!) : UNK;
    case 'named_expression': {
      const name = n.childForFieldName('name');
      const value = n.childForFieldName('value');
      const v = value ? evalExpr(ctx, value) : UNK;
      if (name) bind(ctx, name, v);
      return v;
    }
    case 'call':
      return call(ctx, n);
    case 'assignment': {
      const right = n.childForFieldName('right');
      const left = n.childForFieldName('left');
      const v = right ? evalExpr(ctx, right) : UNK;
      if (left) bind(ctx, left, v);
      return v;
    }
    case 'augmented_assignment': {
      const left = n.childForFieldName('left');
      const right = n.childForFieldName('right');
      const v = concat(left ? evalExpr(ctx, left) : UNK, right ? evalExpr(ctx, right) : UNK);
      if (left) bind(ctx, left, v);
      return v;
    }
    default: {
      // Anything else (lambda, dict, boolean ops …): evaluate the parts for their calls, value unknown.
      let dec = false;
      let secret = false;
      for (const c of named(n)) {
        const v = evalExpr(ctx, c);
        dec ||= isDec(v);
        secret ||= isSecret(v);
      }
      return { t: 'unk', dec, secret };
    }
  }
}

function call(ctx: PyCtx, n: SyntaxNode): Val {
  const f = n.childForFieldName('function');
  const fn = f ? evalExpr(ctx, f) : UNK;
  const { args, kw } = callArgs(ctx, n.childForFieldName('arguments'));
  return ctx.sink(ctx, fn, args, kw) ?? pure(fn, args, kw);
}

const B64 = /^(?:base64\.(?:b64decode|standard_b64decode|urlsafe_b64decode|decodebytes|decodestring)|binascii\.a2b_base64)$/;
const HEX = /^(?:bytes\.fromhex|bytearray\.fromhex|binascii\.(?:unhexlify|a2b_hex)|base64\.b16decode)$/;
const OPAQUE_DECODERS = /^(?:base64\.(?:b32decode|b85decode|a85decode)|zlib\.decompress|gzip\.decompress|bz2\.decompress|lzma\.decompress|marshal\.loads|pickle\.loads|dill\.loads|cloudpickle\.loads)$/;
const PATH_IDENTITY = /^(?:os\.path\.(?:expanduser|abspath|realpath|normpath)|pathlib\.(?:Path|PosixPath|PurePath|PurePosixPath)|Path|PosixPath|str|os\.fspath|os\.fsdecode|os\.fsencode|bytes|repr)$/;

function charCodes(v: Val): Val | undefined {
  if (v.t !== 'list') return undefined;
  let s = '';
  for (const x of v.items) {
    if (x.t === 'num' && x.n >= 0 && x.n < 0x110000) s += String.fromCodePoint(x.n);
    else if (x.t === 'str' && x.s.length === 1) s += x.s;
    else return undefined;
  }
  return str(s, { dec: true });
}

function decodeWith(codec: string, v: Val): Val {
  const s = text(v);
  const c = codec.toLowerCase().replace(/[-_]/g, '');
  const plain = c === 'rot13' ? rot13(s) : c === 'hex' || c === 'hexcodec' ? tryHex(s) : c === 'base64' || c === 'base64codec' ? tryBase64(s) : undefined;
  return plain !== undefined && known(v) ? str(plain, { dec: true }) : { t: 'unk', dec: true };
}

/** Functions without effects: path building, home lookups, string methods, decoders. */
export function pure(fn: Val, args: Val[], kw: Map<string, Val>): Val {
  const a0 = args[0] ?? UNK;
  if (fn.t === 'method') return method(fn.recv, fn.name, args, kw);
  if (fn.t !== 'ref') return { t: 'unk', dec: isDec(fn) || args.some(isDec) };
  const name = fn.name.replace(/^pathlib\./, '');
  if (/^(?:Path|PosixPath)\.home$|^os\.path\.expanduser$/.test(name) && (name.endsWith('home') || !args.length)) return str('~');
  if (name === 'os.getenv' || name === 'os.environ.get') return a0.t === 'str' && a0.s === 'HOME' ? str('~') : (args[1] ?? UNK);
  if (name === 'os.path.expandvars') return str(text(a0).replace(/\$\{?HOME\}?/g, '~'), { dec: isDec(a0) });
  if (name === 'os.path.join' || name === 'posixpath.join' || ((name === 'Path' || name === 'PosixPath') && args.length > 1)) return join(args);
  if (PATH_IDENTITY.test(name)) return args.length ? (a0.t === 'list' && name !== 'bytes' ? a0 : a0.t === 'list' ? (charCodes(a0) ?? a0) : a0) : str('.');
  if (name === 'os.getcwd' || name === 'Path.cwd') return str('.');
  if (name === 'os.path.dirname') return str(text(a0).replace(/\/[^/]*$/, '') || '/', { dec: isDec(a0) });
  if (name === 'pwd.getpwuid' || name === 'pwd.getpwnam') return { t: 'ref', name: 'pwd.entry' };
  if (name === 'pwd.entry.pw_dir') return str('~');
  if (name === 'chr' && a0.t === 'num' && a0.n >= 0 && a0.n < 0x110000) return str(String.fromCodePoint(a0.n));
  if (name === 'map' && args[0]?.t === 'ref' && args[0].name === 'chr' && args[1]) return charCodes(args[1]) ?? { t: 'unk', dec: true };
  if (name === 'map' || name === 'list' || name === 'tuple' || name === 'sorted') return args[name === 'map' ? 1 : 0] ?? UNK;
  if (name === 'reversed') return a0.t === 'str' ? str(Array.from(a0.s).reverse().join(''), { dec: true }) : a0.t === 'list' ? { t: 'list', items: [...a0.items].reverse(), dec: true } : { t: 'unk', dec: true };
  if (name === 'bytearray') return charCodes(a0) ?? a0;
  if (B64.test(name)) return known(a0) ? (tryBase64(text(a0)) !== undefined ? str(tryBase64(text(a0))!, { dec: true }) : { t: 'unk', dec: true }) : { t: 'unk', dec: true };
  if (HEX.test(name)) return known(a0) ? (tryHex(text(a0)) !== undefined ? str(tryHex(text(a0))!, { dec: true }) : { t: 'unk', dec: true }) : { t: 'unk', dec: true };
  if (name === 'codecs.decode' || name === 'codecs.encode') return decodeWith(text(args[1] ?? kw.get('encoding') ?? str('utf8')), a0);
  if (OPAQUE_DECODERS.test(name)) return { t: 'unk', dec: true };
  if (name === 'glob.glob' || name === 'glob.iglob') return { t: 'list', items: [str(text(a0), { dec: isDec(a0) })] };
  if (name === 'os.listdir' || name === 'os.scandir') return { t: 'list', items: [str(`${text(a0)}/${UNKNOWN}`)] };
  if (name === 'os.walk') return { t: 'list', items: [{ t: 'list', items: [a0, { t: 'list', items: [str(UNKNOWN)] }, { t: 'list', items: [str(UNKNOWN)] }] }] };
  if (name === 'int' && a0.t === 'str' && /^-?[0-9]{1,9}$/.test(a0.s)) return { t: 'num', n: Number(a0.s) };
  if (name === 'int' || name === 'ord' || name === 'len') return a0.t === 'num' ? a0 : UNK;
  if (name === 'dict' || name === 'os.environ.copy') return a0.t === 'ref' && a0.name === 'os.environ' ? { t: 'unk', secret: true } : UNK;
  return { t: 'unk', dec: args.some(isDec), secret: args.some(isSecret) };
}

function method(recv: Val, name: string, args: Val[], kw: Map<string, Val>): Val {
  const a0 = args[0] ?? UNK;
  const flags = { dec: isDec(recv) || args.some(isDec), secret: isSecret(recv) || args.some(isSecret) };
  if (recv.t === 'ref' && recv.name === 'os.environ' && (name === 'items' || name === 'copy' || name === 'keys' || name === 'values')) return { t: 'unk', secret: true };
  switch (name) {
    case 'join':
      if (recv.t === 'str') return str(items(a0).map(text).join(recv.s), { dec: flags.dec || isDec(a0), secret: isSecret(a0) });
      break;
    case 'joinpath':
      return join([recv, ...args]);
    case 'expanduser': case 'resolve': case 'absolute': case 'strip': case 'rstrip': case 'lstrip': case 'lower':
    case 'encode': case 'decode': case 'as_posix': case 'expandvars':
      if (name === 'decode' && a0.t === 'str' && /rot.?13|hex|base64/.test(a0.s)) return decodeWith(a0.s, recv);
      return recv.t === 'str' ? str(name === 'lower' ? recv.s.toLowerCase() : name.includes('strip') ? recv.s.trim() : recv.s, flags) : { t: 'unk', ...flags };
    case 'replace':
      if (recv.t === 'str' && a0.t === 'str' && args[1]?.t === 'str') return str(recv.s.split(a0.s).join(args[1].s), flags);
      break;
    case 'format':
      if (recv.t === 'str') {
        let i = 0;
        return str(recv.s.replace(/\{([A-Za-z_0-9]{0,30})(?:![rsa])?(?::[^}]{0,20})?\}/g, (_, k: string) => text(k === '' ? (args[i++] ?? UNK) : /^[0-9]+$/.test(k) ? (args[Number(k)] ?? UNK) : (kw.get(k) ?? UNK))), flags);
      }
      break;
    case 'translate':
      // str.maketrans for rot13 is the usual partner; anything else stays unknown but decoded.
      return { t: 'unk', dec: true };
    case 'iterdir': case 'glob': case 'rglob':
      return { t: 'list', items: [str(`${text(recv)}/${name === 'iterdir' ? UNKNOWN : name === 'rglob' ? `**/${text(a0)}` : text(a0)}`)] };
    case 'home':
      return str('~');
  }
  if (name === 'parent' && recv.t === 'str') return str(recv.s.replace(/\/[^/]*$/, ''), flags);
  return { t: 'unk', ...flags };
}
