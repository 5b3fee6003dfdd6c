/**
 * Values of the Python evaluator (python-eval.ts): what an expression is known to be. Strings may hold
 * UNKNOWN for parts the analysis could not compute; `dec` marks values computed from decoded,
 * decompressed or downloaded data; `secret` marks credential or environment data.
 */
import { DECODED } from './commands.js';
import { joinPath, UNKNOWN } from './paths.js';

export type Val =
  | { t: 'str'; s: string; dec?: boolean; secret?: boolean }
  | { t: 'num'; n: number }
  | { t: 'list'; items: Val[]; dec?: boolean; secret?: boolean }
  /** A module, class or function by canonical dotted name (`os.path.join`, `pathlib.Path`). */
  | { t: 'ref'; name: string }
  /** A bound method: `'sep'.join`, `Path('~').read_text`, `f.write`. */
  | { t: 'method'; recv: Val; name: string }
  /** An object the sinks care about: an open file, a loaded C library, an archive being written. */
  | { t: 'obj'; kind: 'file' | 'clib' | 'archive' | 'response'; path?: string; mode?: string }
  | { t: 'unk'; dec?: boolean; secret?: boolean };

export const UNK: Val = { t: 'unk' };
export const MAX_STR = 100_000;
export const MAX_ITEMS = 4096;

export function str(s: string, flags: { dec?: boolean; secret?: boolean } = {}): Val {
  return { t: 'str', s: s.slice(0, MAX_STR), ...(flags.dec ? { dec: true } : {}), ...(flags.secret ? { secret: true } : {}) };
}

export function isDec(v: Val): boolean {
  return (v.t === 'str' || v.t === 'list' || v.t === 'unk') && !!v.dec;
}

export function isSecret(v: Val): boolean {
  if (v.t === 'list') return !!v.secret || v.items.some(isSecret);
  return (v.t === 'str' || v.t === 'unk') && !!v.secret;
}

/** The value as text: unknown parts become UNKNOWN, decoded unknowns DECODED+UNKNOWN. */
export function text(v: Val): string {
  switch (v.t) {
    case 'str':
      return v.s;
    case 'num':
      return String(v.n);
    case 'list':
      return v.items.map(text).join(' ');
    case 'unk':
      return v.dec ? DECODED + UNKNOWN : UNKNOWN;
    case 'obj':
      return v.path ?? UNKNOWN;
    default:
      return UNKNOWN;
  }
}

/** The value as a path (a `Path` object is its string). */
export function pathText(v: Val): string {
  return v.t === 'list' && v.items.length === 1 ? text(v.items[0]!) : text(v);
}

export function known(v: Val): boolean {
  return v.t === 'str' && !v.s.includes(UNKNOWN);
}

export function join(parts: Val[]): Val {
  const dec = parts.some(isDec);
  const secret = parts.some(isSecret);
  return str(parts.map(pathText).reduce(joinPath), { dec, secret });
}

export function concat(a: Val, b: Val): Val {
  if (a.t === 'list' && b.t === 'list') return { t: 'list', items: [...a.items, ...b.items].slice(0, MAX_ITEMS) };
  if (a.t === 'num' && b.t === 'num') return { t: 'num', n: a.n + b.n };
  if (a.t === 'unk' && b.t === 'unk') return { t: 'unk', dec: isDec(a) || isDec(b), secret: isSecret(a) || isSecret(b) };
  return str(text(a) + text(b), { dec: isDec(a) || isDec(b), secret: isSecret(a) || isSecret(b) });
}

/** The items a `for` loop or a comprehension sees. */
export function items(v: Val): Val[] {
  if (v.t === 'list') return v.items.slice(0, MAX_ITEMS);
  if (v.t === 'str' && v.s.length <= MAX_ITEMS) return Array.from(v.s, (c) => str(c, { dec: v.dec }));
  return [{ t: 'unk', dec: isDec(v), secret: isSecret(v) }];
}

/** Python escape sequences in a non-raw literal. */
export function pyEscapes(body: string): string {
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|N\{[^}]{1,40}\}|[\s\S])/g, (whole, e: string) => {
    if (e[0] === 'x' || e[0] === 'u' || e[0] === 'U') {
      const cp = parseInt(e.slice(1), 16);
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : whole;
    }
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '\n': '', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
    return simple[e] ?? whole;
  });
}
