/**
 * Commands that run code or turn data into code: interpreters (`sh -c`, `python -c`, `perl -e`, a
 * script the block staged, a pipe into `bash`), `eval`/`source`, and the decoders a payload passes
 * through on its way there (`base64 -d`, `xxd -r`, `rev`, rot13 `tr`, `gunzip`). Decoders are run for
 * real on literal input, so the payload itself is analysed as nested code.
 */
import { basename, type BlockState, DECODED, type Output, type Redirect } from './command-model.js';
import { judgeRead } from './path-effects.js';
import type { Collector, NestedCode } from './effects.js';
import { normalizePath, UNKNOWN } from './paths.js';

export type Interp = NestedCode['language'] | 'eval' | 'source';

const SHELLS = /^(?:ba|z|da|k|mk|a|pdk|r?)sh$|^busybox$/;

export function interpreterOf(name: string): Interp | undefined {
  if (SHELLS.test(name)) return 'shell';
  if (/^python[0-9.]{0,5}$|^pypy[0-9.]{0,3}$|^ipython3?$/.test(name)) return 'python';
  if (/^perl[0-9.]{0,5}$/.test(name)) return 'perl';
  if (/^(?:node|nodejs|deno|bun)$/.test(name)) return 'node';
  if (/^(?:ruby|irb)[0-9.]{0,5}$/.test(name)) return 'ruby';
  if (/^php[0-9.]{0,5}$/.test(name)) return 'php';
  if (name === 'eval') return 'eval';
  if (name === 'source' || name === '.') return 'source';
  return undefined;
}

/** The option that takes inline code, per interpreter. */
const INLINE: Record<string, RegExp> = {
  shell: /^-[a-zA-Z]{0,6}c$/,
  python: /^-[a-zA-Z]{0,6}c$/,
  perl: /^-[a-zA-Z]{0,6}[eE]$/,
  node: /^(?:-e|-p|--eval|--print|-pe)$/,
  ruby: /^-[a-zA-Z]{0,6}e$/,
  php: /^-r$/,
};

function has(word: string, marker: string): boolean {
  return word.includes(marker);
}

/** Language of a staged file: its shebang, else the interpreter that runs it, else its extension. */
function stagedLanguage(path: string, content: string | undefined, runner: NestedCode['language'] | undefined): NestedCode['language'] {
  const shebang = /^#!\s{0,4}(\S{1,100})(?:\s{1,4}(\S{1,40}))?/.exec(content ?? '');
  const prog = shebang ? basename(shebang[1]!) === 'env' ? (shebang[2] ?? '') : basename(shebang[1]!) : '';
  const fromShebang = prog ? interpreterOf(prog) : undefined;
  if (fromShebang && fromShebang !== 'eval' && fromShebang !== 'source') return fromShebang;
  if (runner) return runner;
  if (/\.py$/.test(path)) return 'python';
  if (/\.(?:js|mjs|cjs)$/.test(path)) return 'node';
  if (/\.pl$/.test(path)) return 'perl';
  if (/\.rb$/.test(path)) return 'ruby';
  return 'shell';
}

/** Run a file the block itself wrote: its content is analysed; unknown or decoded content is itself a finding. */
export function runStaged(path: string, state: BlockState, out: Collector, runner: NestedCode['language'] | undefined): boolean {
  const p = normalizePath(path, state.home);
  const staged = state.written.get(p) ?? state.written.get(normalizePath(`./${path}`));
  if (!staged) return false;
  if (staged.decoded) out.add('exec.decoded', `staged script ${p} holds decoded data`);
  if (staged.content !== undefined) out.nest(stagedLanguage(p, staged.content, runner), staged.content);
  else if (!staged.decoded) out.add('exec.generated', `staged script ${p} with content the analysis cannot see`);
  return true;
}

/** Judge code handed to an interpreter inline, as a script, or on stdin. */
export function judgeInterpreter(interp: Interp, argv: string[], stdin: Output | undefined, redirects: Redirect[], state: BlockState, out: Collector, result: Output): Output {
  const args = argv.slice(1);
  if (interp === 'eval') {
    feedCode('shell', args.join(' '), out, 'eval');
    return result;
  }
  if (interp === 'source') {
    const f = args[0] ?? '';
    if (has(f, DECODED)) out.add('exec.decoded', 'source of decoded or downloaded data');
    else if (!runStaged(f, state, out, 'shell')) result.secret = judgeRead(f, state, out, false);
    return result;
  }
  if (argv[0] === 'busybox' && !SHELLS.test(args[0] ?? '')) return result;
  const inline = INLINE[interp];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (inline?.test(a)) {
      feedCode(interp, args[i + 1] ?? '', out, `${basename(argv[0]!)} ${a}`);
      return result;
    }
    if (interp === 'python' && a === '-m') return result; // a module: nothing the block wrote
    if (a.startsWith('-') && a !== '-') continue;
    if (a === '-') break;
    // The script operand.
    if (has(a, DECODED)) out.add('exec.decoded', `${basename(argv[0]!)} runs decoded or downloaded data`);
    else runStaged(a, state, out, interp);
    return result;
  }
  // No script and no inline code: the program comes from stdin.
  const here = redirects.find((r) => r.op === '<<' || r.op === '<<<');
  if (here?.data !== undefined) {
    feedCode(interp, here.data, out, 'heredoc');
    return result;
  }
  const input = redirects.find((r) => r.op === '<');
  if (input) {
    runStaged(input.target, state, out, interp);
    return result;
  }
  if (!stdin) return result;
  if (stdin.decoded) out.add('exec.decoded', `decoded data piped into ${basename(argv[0]!)}`);
  if (stdin.text !== undefined) out.nest(interp, stdin.text);
  else if (!stdin.decoded) out.add('exec.generated', `generated data piped into ${basename(argv[0]!)}`);
  return result;
}

function feedCode(language: NestedCode['language'], code: string, out: Collector, how: string): void {
  if (has(code, DECODED)) out.add('exec.decoded', `${how} of decoded or downloaded data`);
  const known = code.replaceAll(DECODED, '').replaceAll(UNKNOWN, ' ');
  if (known.trim()) out.nest(language, known);
}

/** Decode base64 when the text is base64 and the result is text. */
export function tryBase64(text: string): string | undefined {
  const t = text.replace(/\s+/g, '');
  if (t.length < 4 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return undefined;
  const s = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
  return printable(s) ? s : undefined;
}

export function tryHex(text: string): string | undefined {
  const t = text.replace(/\s+|\\x|0x/g, '');
  if (t.length < 2 || t.length % 2 || !/^[0-9a-fA-F]+$/.test(t)) return undefined;
  const s = Buffer.from(t, 'hex').toString('utf8');
  return printable(s) ? s : undefined;
}

export function rot13(s: string): string {
  return s.replace(/[A-Za-z]/g, (c) => {
    const base = c <= 'Z' ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
  });
}

function printable(s: string): boolean {
  if (s.length === 0) return false;
  let bad = 0;
  for (const ch of s) if (/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(ch)) bad++;
  return bad / s.length < 0.05;
}

/** Backslash escapes as printf and `echo -e` read them. */
export function printfEscapes(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u[0-9a-fA-F]{4}|[ntr\\])/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (e[0] === 'u') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', '\\': '\\' } as Record<string, string>)[e] ?? e;
  });
}

/** Decoders and filters in a pipeline: their output, computed when their input is known. */
export function decodeStage(name: string, args: string[], stdin: Output | undefined): Output | undefined {
  const inText = stdin?.text;
  const out = (text: string | undefined, decoded: boolean): Output => ({ text, decoded: decoded || !!stdin?.decoded, secret: !!stdin?.secret, paths: [] });
  const decodeFlag = args.some((a) => /^-(?:[a-zA-Z]{0,3}d|D)$|^--decode$/.test(a));
  if ((name === 'base64' || name === 'base32' || name === 'basenc') && decodeFlag) {
    const literal = args.find((a) => !a.startsWith('-'));
    return out(name === 'base64' && inText !== undefined && literal === undefined ? tryBase64(inText) : undefined, true);
  }
  if (name === 'xxd' && args.some((a) => /^-[a-z]{0,3}r/.test(a))) return out(inText !== undefined ? tryHex(inText) : undefined, true);
  if (name === 'rev') return out(inText?.split('\n').map((l) => Array.from(l).reverse().join('')).join('\n'), true);
  if (name === 'tr' && args.length >= 2) {
    const ops = args.filter((a) => !a.startsWith('-'));
    const isRot = /^(?:A-Za-z|a-zA-Z)$/.test(ops[0] ?? '') && /N-ZA-Mn-za-m|n-za-mN-ZA-M/.test(ops[1] ?? '');
    return out(isRot && inText !== undefined ? rot13(inText) : undefined, isRot || !!stdin?.decoded);
  }
  if (/^(?:gunzip|zcat|bzcat|xzcat|zstdcat|uudecode|unxz|unzstd|lz4cat)$/.test(name)) return out(undefined, true);
  if (/^(?:gzip|bzip2|xz|zstd)$/.test(name) && decodeFlag) return out(undefined, true);
  if (name === 'openssl' && args.some((a) => a === '-d' || a === 'base64' && args.includes('-d'))) return out(undefined, true);
  if (name === 'printf' && args.length > 0) {
    const text = printfEscapes(args[0]!.replace(/%b|%s/g, () => args[1] ?? ''));
    return { text, decoded: text !== args[0] && /\\[x0-7u]/.test(args.join(' ')), secret: false, paths: args };
  }
  if (name === 'echo' && args.some((a) => a === '-e' || a === '-ne' || a === '-en')) {
    const words = args.filter((a) => !/^-[neE]{1,3}$/.test(a));
    const raw = words.join(' ');
    const text = printfEscapes(raw);
    return { text, decoded: text !== raw, secret: false, paths: words };
  }
  if (name === 'curl' || name === 'wget') {
    const toStdout = name === 'curl' ? !args.some((a) => /^-[a-zA-Z]{0,5}[oO]$|^--output|^--remote-name/.test(a)) : args.some((a) => /^-[a-zA-Z]{0,3}O$/.test(a)) && args.includes('-');
    if (toStdout) return undefined; // judged as a network client; its output is marked downloaded below
  }
  return undefined;
}
