/**
 * Perl, Node, Ruby and PHP code (`perl -e`, `node -e`, Open Interpreter's javascript blocks): no parser,
 * but the same effects. String expressions are evaluated from their literals (concatenation, path.join,
 * interpolation of variables assigned earlier, the home directory by any of its spellings, base64/hex
 * literals decoded), and the calls that delete, read, run commands or evaluate code are judged on them.
 * Every scan is one bounded regular-expression pass over the text.
 */
import { type BlockState, DECODED, judgeArgv } from './commands.js';
import type { Collector } from './effects.js';
import { rot13, tryBase64, tryHex } from './interpreters.js';
import { judgeDelete, judgeRead } from './path-effects.js';
import { joinPath, UNKNOWN } from './paths.js';

export type ScriptFlavor = 'perl' | 'node' | 'ruby' | 'php';

export function scriptFlavor(language: string): ScriptFlavor | undefined {
  if (['javascript', 'js', 'node', 'nodejs', 'typescript', 'ts'].includes(language)) return 'node';
  if (['perl', 'pl'].includes(language)) return 'perl';
  if (['ruby', 'rb'].includes(language)) return 'ruby';
  if (language === 'php') return 'php';
  return undefined;
}

const MAX_SCRIPT = 256 * 1024;
const HOME_SPELLINGS = /(?:require\(\s*['"](?:node:)?os['"]\s*\)|\bos)\.homedir\(\s*\)|\bos\.userInfo\(\s*\)\.homedir|process\.env(?:\.HOME\b|\[\s*['"]HOME['"]\s*\])|\$ENV\{\s*['"]?HOME['"]?\s*\}|\bENV\[\s*['"]HOME['"]\s*\]|\bDir\.home\b|\bFile\.expand_path\(\s*['"]~['"]\s*\)|\bgetenv\(\s*['"]HOME['"]\s*\)|\$_SERVER\[\s*['"]HOME['"]\s*\]|\bFile::HomeDir->my_home\b/g;
/** Stands for the home directory inside and outside string literals. */
const HOME_TOKEN = 'OIA_HOME_DIR';
const STRING = /'((?:[^'\\\n]|\\.){0,2000})'|"((?:[^"\\\n]|\\.){0,2000})"|`((?:[^`\\]|\\.){0,2000})`/g;
const ASSIGN = /(?:^|[;\n{(]|\b(?:const|let|var|my|our|local)\b)\s{0,8}(?:\(\s{0,4})?\$?([A-Za-z_][A-Za-z0-9_]{0,63})\s{0,4}\)?\s{0,4}=(?!=|>|~)\s{0,8}([^;\n]{1,600})/g;
const DECODERS = /(?:Buffer\.from\(|atob\(|decode_base64\(|base64_decode\(|Base64\.(?:decode64|strict_decode64)\(|str_rot13\(|unpack\(|pack\(\s*['"]H|hex2bin\(|gzinflate\(|gzuncompress\(|zlib\.(?:inflate|gunzip)Sync\(|\.unpack1?\(\s*['"]m)/;
const DELETE_CALLS = /(?:\.(?:rmSync|rmdirSync|unlinkSync)|\bfs(?:\.promises)?\.(?:rm|rmdir|unlink)|\bfse?\.(?:removeSync|remove|emptyDirSync)|rimraf(?:\.sync)?|unlink|rmtree|remove_tree|FileUtils\.(?:rm_rf|rm_r|rm|remove_dir|remove_entry|remove_entry_secure|rmtree)|File\.(?:delete|unlink)|Dir\.(?:rmdir|delete|unlink)|rmdir|Deno\.remove(?:Sync)?)\b\s{0,4}\(?/g;
const READ_CALLS = /\b(?:fs(?:\.promises)?\.(?:readFileSync|readFile|createReadStream|copyFileSync|cpSync)|File\.(?:read|open|readlines|binread|new)|IO\.(?:read|readlines|binread)|file_get_contents|fopen|file|readfile|Deno\.readTextFile(?:Sync)?|Bun\.file|open|glob|copy)\b\s{0,4}\(?/g;
const EXEC_CALLS = /\b(?:(?:child_process|cp)\.)?(?:execSync|exec|execFileSync|execFile|spawnSync|spawn|system|shell_exec|passthru|popen|proc_open|Open3\.\w{1,20}|IO\.popen|Kernel\.system|Deno\.run)\b\s{0,4}\(?/g;
const NET = /\b(?:https?\.(?:request|get)|fetch\(|net\.(?:connect|createConnection)|new\s+WebSocket|XMLHttpRequest|LWP::|HTTP::Tiny|IO::Socket|Net::HTTP|TCPSocket|curl_exec|fsockopen|stream_socket_client|axios\.|Socket\.tcp|socket\()/;

function unquote(m: RegExpExecArray): string {
  return (m[1] ?? m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
}

/** The argument text of a call starting at `from`: up to the matching `)` or the end of the statement. */
function argText(code: string, from: number): string {
  let depth = 0;
  let end = from;
  for (; end < code.length && end - from < 800; end++) {
    const c = code[end]!;
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) break;
      depth--;
    } else if ((c === ';' || c === '\n') && depth === 0) break;
  }
  return code.slice(from, end);
}

interface Env {
  vars: Map<string, string>;
}

/** Evaluate a string expression from its literals, known variables and decoders. */
function evalExpr(env: Env, expr: string, flavor: ScriptFlavor): string {
  const text = expr.replace(HOME_SPELLINGS, HOME_TOKEN);
  const decoded = DECODERS.test(text);
  const pieces: string[] = [];
  const pieceRe = new RegExp(`${STRING.source}|\\$?\\b([A-Za-z_][A-Za-z0-9_]{0,63})\\b`, 'g');
  for (const m of text.matchAll(pieceRe)) {
    if (m[4] !== undefined) {
      const v = m[4] === HOME_TOKEN ? '~' : env.vars.get(m[4]);
      if (v !== undefined) pieces.push(v);
      continue;
    }
    let s = (m[1] ?? m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
    // Interpolation: "${h}/x" (JS template, Ruby #{h}), "$h/x" (Perl, PHP).
    s = s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]{0,63})\}|#\{([A-Za-z_][A-Za-z0-9_]{0,63})\}|\$([A-Za-z_][A-Za-z0-9_]{0,63})/g, (whole, a?: string, b?: string, c?: string) => {
      const name = a ?? b ?? c ?? '';
      if (c !== undefined && flavor === 'node') return whole;
      return env.vars.get(name) ?? (name === 'HOME' ? '~' : UNKNOWN);
    });
    pieces.push(s.replaceAll(HOME_TOKEN, '~'));
  }
  if (pieces.length === 0) return decoded ? DECODED + UNKNOWN : UNKNOWN;
  let value = /\b(?:path\.(?:join|resolve)|File\.join|catfile|catdir)\s{0,2}\(/.test(text) ? pieces.reduce(joinPath) : pieces.join('');
  if (decoded) {
    const plain = /hex|H\*?['"]|hex2bin/.test(text) ? tryHex(value) : /rot13/.test(text) ? rot13(value) : tryBase64(value);
    value = DECODED + (plain ?? UNKNOWN);
  }
  return value;
}

function collectVars(env: Env, code: string, flavor: ScriptFlavor): void {
  for (const m of code.matchAll(ASSIGN)) {
    if (env.vars.size >= 256) break;
    const value = evalExpr(env, m[2]!, flavor);
    if (value !== UNKNOWN) env.vars.set(m[1]!, value);
  }
}

/** Analyse a Perl/Node/Ruby/PHP program. */
export function analyzeScript(flavor: ScriptFlavor, source: string, state: BlockState, out: Collector): void {
  const code = source.length > MAX_SCRIPT ? source.slice(0, MAX_SCRIPT) : source;
  if (source.length > MAX_SCRIPT) out.add('analysis.too-large', `script of ${source.length} characters is over the analysis cap`);
  const env: Env = { vars: new Map() };
  collectVars(env, code, flavor);
  for (const m of code.matchAll(DELETE_CALLS)) {
    const arg = argText(code, m.index + m[0].length);
    // Perl `unlink glob("~/x/*")`, Node `fs.rmSync(h, {recursive: true})`: the first argument is the path.
    const first = arg.split(/,(?![^(]*\))/)[0] ?? arg;
    judgeDelete(evalExpr(env, first, flavor), state, out, m[0].replace(/\W+$/, ''));
  }
  for (const m of code.matchAll(READ_CALLS)) {
    const arg = argText(code, m.index + m[0].length);
    const parts = arg.split(/,(?![^(]*\))/);
    // Perl's three-argument open: open(my $fh, '<', $path).
    const pathPart = /^open/.test(m[0]) && parts.length >= 3 ? parts[2]! : /^open/.test(m[0]) && flavor === 'perl' && parts.length === 2 ? parts[1]! : parts[0]!;
    if (judgeRead(evalExpr(env, pathPart, flavor).replace(/^[<>+|]{1,2}\s{0,2}/, ''), state, out, false)) state.secretRead = true;
  }
  for (const m of code.matchAll(EXEC_CALLS)) {
    const arg = argText(code, m.index + m[0].length);
    const list = /^\s{0,4}['"`][^'"`]{1,200}['"`]\s{0,4},\s{0,4}\[/.exec(arg);
    if (list) {
      // spawn('rm', ['-rf', h]): an argument vector.
      const argv = [...arg.matchAll(new RegExp(`${STRING.source}|\\$?\\b([A-Za-z_][A-Za-z0-9_]{0,63})\\b`, 'g'))]
        .map((x) => (x[4] !== undefined ? env.vars.get(x[4]) : unquote(x)))
        .filter((x): x is string => x !== undefined);
      judgeArgv(argv, [], state, out);
      continue;
    }
    const cmd = evalExpr(env, arg.split(/,(?![^(]*\))/)[0] ?? arg, flavor);
    if (cmd.includes(DECODED)) out.add('exec.decoded', `${m[0].trim()} of decoded data`);
    const known = cmd.replaceAll(DECODED, '').replaceAll(UNKNOWN, ' ');
    if (known.trim()) out.nest('shell', known);
  }
  // Backticks and %x()/qx(): shell commands in Perl, Ruby and PHP.
  if (flavor !== 'node') {
    for (const m of code.matchAll(/`([^`\n]{1,2000})`|\b(?:qx|%x)[({]([^)}\n]{1,2000})[)}]/g)) {
      out.nest('shell', (m[1] ?? m[2] ?? '').replace(/\$\{?([A-Za-z_][A-Za-z0-9_]{0,63})\}?/g, (w, n: string) => env.vars.get(n) ?? w));
    }
  }
  for (const m of code.matchAll(/\b(?:eval|new\s+Function|Function|instance_eval|class_eval|assert)\s{0,4}\(?/g)) {
    const arg = argText(code, m.index + m[0].length);
    const value = evalExpr(env, arg, flavor);
    if (value.includes(DECODED) || DECODERS.test(arg)) out.add('exec.decoded', `${m[0].trim()} of decoded data`);
    else if (value !== UNKNOWN && !value.includes(UNKNOWN)) out.nest(flavor, value);
  }
  if (NET.test(code)) state.networkSend = true;
}
