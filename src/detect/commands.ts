/**
 * What one command does, judged from its resolved argument vector: the same code judges a command
 * parsed out of a shell block, a list handed to `subprocess.run`, and the argv of a process that really
 * ran (ground truth from containment). Words may hold UNKNOWN (a value the analysis could not compute)
 * or DECODED (a value computed from decoded or downloaded data).
 */
import { basename, type BlockState, type Cmd, DECODED, type Output, type Redirect } from './command-model.js';
import type { Collector } from './effects.js';
import { decodeStage, interpreterOf, judgeInterpreter, runStaged } from './interpreters.js';
import { judgeDelete, judgeRead, judgeWrite, norm } from './path-effects.js';
import { classifyPath, credentialOf } from './paths.js';

export { basename, DECODED, newState, type BlockState, type Cmd, type Output, type Redirect } from './command-model.js';

const WRAPPERS = new Set(['sudo', 'doas', 'nohup', 'time', 'nice', 'ionice', 'env', 'stdbuf', 'setsid', 'timeout', 'command', 'builtin', 'exec', 'chronic', 'unbuffer', 'caffeinate', 'busybox', 'then', 'do', 'else', '!']);
const CONTENT_READERS = new Set([
  'cat', 'tac', 'less', 'more', 'head', 'tail', 'nl', 'base64', 'base32', 'basenc', 'xxd', 'od', 'hexdump', 'strings', 'tar', 'zip', '7z',
  'gzip', 'bzip2', 'xz', 'zstd', 'cp', 'scp', 'rsync', 'grep', 'egrep', 'fgrep', 'rg', 'ag', 'awk', 'gawk', 'sed', 'sort', 'uniq', 'diff',
  'cmp', 'openssl', 'gpg', 'dd', 'curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'jq', 'yq', 'python', 'python3', 'perl', 'ruby', 'node',
  'cut', 'paste', 'tr', 'column', 'fold', 'iconv', 'split', 'md5sum', 'sha256sum', 'sha1sum', 'source', '.', 'bat', 'view', 'vi', 'vim',
  'nano', 'emacs', 'install', 'mail', 'sendmail', 'xclip', 'xsel', 'pbcopy', 'readarray', 'mapfile', 'uuencode', 'cpio', 'pax', 'ar',
]);
const TREE_READERS = new Set(['tar', 'zip', '7z', 'cp', 'scp', 'rsync', 'grep', 'egrep', 'fgrep', 'rg', 'ag', 'cpio', 'pax']);
const NET_SENDERS = new Set(['curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'telnet', 'ftp', 'sftp', 'scp', 'ssh', 'openssl', 'mail', 'sendmail']);
const DUMP_SAFE_FILTERS = new Set(['grep', 'egrep', 'fgrep', 'rg', 'sort', 'less', 'more', 'head', 'tail', 'wc', 'cut', 'awk', 'sed', 'column', 'uniq']);

/** Drop wrappers (`sudo -u x`, `env A=1`, `timeout 5`, `nice -n 5`) to reach the real command. */
export function unwrap(argv: string[]): string[] {
  const rest = unwrapFrom(argv);
  // `env` or `sudo env` alone is a command of its own (it prints the environment).
  if (rest === argv.length && argv.length > 0) {
    const last = argv.map(basename).lastIndexOf('env');
    return last >= 0 ? argv.slice(last) : [];
  }
  return argv.slice(rest);
}

function unwrapFrom(argv: string[]): number {
  let i = 0;
  for (let guard = 0; guard < 8 && i < argv.length; guard++) {
    const name = basename(argv[i]!);
    if (/^[A-Za-z_][A-Za-z0-9_]{0,63}=/.test(argv[i]!)) {
      i++;
      continue;
    }
    if (!WRAPPERS.has(name)) break;
    i++;
    if (name === 'busybox' || name === 'then' || name === 'do' || name === 'else' || name === '!') continue;
    // Options of the wrapper, and the arguments some of them take.
    while (i < argv.length && (argv[i]!.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]{0,63}=/.test(argv[i]!))) {
      const opt = argv[i]!;
      i++;
      if ((name === 'sudo' || name === 'doas') && /^-[ugCDhprT]$/.test(opt)) i++;
      if (name === 'nice' && opt === '-n') i++;
      if (name === 'ionice' && /^-[cnp]$/.test(opt)) i++;
      if (name === 'timeout' && /^-[sk]$/.test(opt)) i++;
    }
    if (name === 'timeout' && i < argv.length && /^[0-9.]+[smhd]?$/.test(argv[i]!)) i++;
  }
  return i;
}

function split(argv: string[]): { flags: string[]; operands: string[] } {
  const flags: string[] = [];
  const operands: string[] = [];
  let endOfOptions = false;
  for (const a of argv) {
    if (!endOfOptions && a === '--') endOfOptions = true;
    else if (!endOfOptions && a.startsWith('-') && a.length > 1) flags.push(a);
    else operands.push(a);
  }
  return { flags, operands };
}

function isRecursive(flags: string[]): boolean {
  return flags.some((f) => /^-[a-zA-Z]{0,8}[rRa]/.test(f) && !f.startsWith('--') || f === '--recursive' || f === '--archive');
}

/** `find ROOTS… EXPR`: roots are the operands before the first expression token. */
function judgeFind(args: string[], state: BlockState, out: Collector): Output {
  const roots: string[] = [];
  let i = 0;
  while (i < args.length && !/^[-(!]/.test(args[i]!)) roots.push(args[i++]!);
  if (roots.length === 0) roots.push('.');
  const expr = args.slice(i);
  const execCmds: string[][] = [];
  for (let j = 0; j < expr.length; j++) {
    if (/^-(?:exec|execdir|ok|okdir)$/.test(expr[j]!)) {
      const cmd: string[] = [];
      for (j++; j < expr.length && expr[j] !== ';' && expr[j] !== '+' && expr[j] !== '\\;'; j++) cmd.push(expr[j]!);
      execCmds.push(cmd);
    }
  }
  const deletes = expr.includes('-delete') || execCmds.some((c) => /^(?:rm|unlink|shred|srm|rmdir)$/.test(basename(unwrap(c)[0] ?? '')));
  let secret = false;
  for (const root of roots) {
    if (deletes) judgeDelete(root, state, out, 'find -delete');
    const reads = execCmds.some((c) => CONTENT_READERS.has(basename(unwrap(c)[0] ?? '')));
    if (reads) {
      // `find ~ -name id_rsa -exec cat {} ;`: the names searched for say which files are read.
      const names = expr.filter((_, k) => /^-i?(?:name|path|wholename|regex)$/.test(expr[k - 1] ?? ''));
      secret = judgeRead(root, state, out, true) || secret;
      for (const n of names) secret = judgeRead(`${root}/${n.replace(/^\*\//, '')}`, state, out, false) || judgeRead(`${root}/.ssh/${n}`, state, out, false) || secret;
    }
  }
  for (const c of execCmds) {
    const inner = unwrap(c);
    if (inner.length > 0 && !/^(?:rm|unlink|shred)$/.test(basename(inner[0]!))) {
      judgeArgv(inner.map((w) => (w === '{}' ? roots[0]! + '/*' : w)), [], state, out);
    }
  }
  return { decoded: false, secret, paths: roots };
}

/** `xargs [opts] CMD…`: the command's operands come from stdin (what the previous stage listed). */
function judgeXargs(args: string[], stdin: Output | undefined, state: BlockState, out: Collector): Output {
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-')) {
    if (/^-[IdELnPs]$/.test(args[i]!)) i++;
    i++;
  }
  const inner = args.slice(i);
  if (inner.length === 0) return { decoded: false, secret: false, paths: [] };
  const fed = stdin?.paths.length ? stdin.paths : stdin?.text ? stdin.text.split(/\s+/).filter(Boolean).slice(0, 32) : [];
  const replace = args.slice(0, i).some((a) => a === '-I');
  const argv = replace ? inner : [...inner, ...fed];
  return judgeArgv(argv, [], state, out, stdin);
}

function isEnvDump(name: string, operands: string[], flags: string[]): boolean {
  if ((name === 'env' || name === 'printenv') && operands.length === 0) return true;
  if (name === 'set' && operands.length === 0 && flags.length === 0) return true;
  if ((name === 'export' || name === 'declare' || name === 'typeset') && operands.length === 0 && flags.some((f) => /^-[pxg]{1,3}$/.test(f))) return true;
  return name === 'compgen' && flags.includes('-v');
}

const WRITE_OPS = new Set(['>', '>|', '&>', '>>', '&>>']);

/** Judge one command (argv + redirects); returns what its output carries for the next pipeline stage. */
export function judgeArgv(argv0: string[], redirects: Redirect[], state: BlockState, out: Collector, stdin?: Output, next?: Cmd): Output {
  const argv = unwrap(argv0);
  for (const r of redirects) if ((r.op === '<' || r.op === '<>') && judgeRead(r.target, state, out, false)) state.secretRead = true;
  const result = judgeCore(argv, redirects, state, out, stdin);
  for (const r of redirects) {
    if (r.op === '<' || r.op === '<>') result.secret ||= credentialOf(norm(state, r.target)) !== undefined;
    if (!WRITE_OPS.has(r.op)) continue;
    const truncate = !r.op.includes('>>');
    const content = result.text ?? (argv.length === 0 ? undefined : argv.join(' '));
    judgeWrite(r.target, state, out, content, truncate || argv.length === 0);
    const target = norm(state, r.target);
    if (state.written.size < 64 && !target.startsWith('/dev/')) state.written.set(target, { content: result.text, decoded: result.decoded });
    if (result.secret && isDumpCommand(argv)) out.add('read.environ', `environment written to ${target}`);
  }
  if (result.secret && isDumpCommand(argv) && next && !DUMP_SAFE_FILTERS.has(basename(unwrap(next.argv)[0] ?? ''))) {
    out.add('read.environ', `environment piped to ${basename(unwrap(next.argv)[0] ?? '')}`);
  }
  if (result.secret) state.secretRead = true;
  return result;
}

function isDumpCommand(argv: string[]): boolean {
  const { flags, operands } = split(argv.slice(1));
  return argv.length > 0 && isEnvDump(basename(argv[0]!), operands, flags);
}

function judgeCore(argv: string[], redirects: Redirect[], state: BlockState, out: Collector, stdin?: Output): Output {
  const result: Output = { decoded: false, secret: false, paths: [] };
  // No command: redirections of a compound statement or pipeline, whose output is what they write.
  if (argv.length === 0) return stdin ? { ...stdin } : result;
  const head = argv[0]!;
  if (head.includes(DECODED)) out.add('exec.decoded', 'command name computed from decoded data');
  const name = basename(head.replaceAll(DECODED, ''));
  if (head.includes('/') && runStaged(head, state, out, undefined)) return result;
  const args = argv.slice(1);
  const { flags, operands } = split(args);

  const interp = interpreterOf(name);
  if (interp) return judgeInterpreter(interp, argv, stdin, redirects, state, out, result);
  const dec = decodeStage(name, args, stdin);
  if (dec) return dec;

  switch (name) {
    case 'rm': case 'unlink': case 'shred': case 'srm': case 'wipe': case 'trash': case 'trash-put': case 'gio':
      for (const t of operands) if (name !== 'gio' || t !== 'trash') judgeDelete(t, state, out, name + (isRecursive(flags) ? ' -r' : ''));
      if (name === 'shred') for (const t of operands) if (/^\/dev\//.test(t)) out.add('wipe.device', t);
      return result;
    case 'rmdir':
      for (const t of operands) if (['root', 'home', 'system'].includes(classifyPath(norm(state, t)))) judgeDelete(t, state, out, 'rmdir');
      return result;
    case 'find':
      return judgeFind(args, state, out);
    case 'xargs':
      return judgeXargs(args, stdin, state, out);
    case 'rsync': {
      if (flags.some((f) => f.startsWith('--delete') || f === '--del')) judgeDelete(operands[operands.length - 1] ?? '', state, out, 'rsync --delete');
      if (flags.includes('--remove-source-files')) for (const s of operands.slice(0, -1)) judgeDelete(s, state, out, 'rsync --remove-source-files');
      break;
    }
    case 'mv':
      for (const s of operands.slice(0, -1)) judgeDelete(s, state, out, 'mv');
      if (operands.length > 1) judgeWrite(operands[operands.length - 1]!, state, out, undefined, true);
      return result;
    case 'truncate':
      for (const t of operands) judgeDelete(t, state, out, 'truncate');
      return result;
    case 'dd': {
      const of = args.find((a) => a.startsWith('of='))?.slice(3);
      const inf = args.find((a) => a.startsWith('if='))?.slice(3);
      if (of) judgeDelete(of, state, out, 'dd of=');
      if (inf) result.secret = judgeRead(inf, state, out, false);
      return result;
    }
    case 'wipefs': case 'mkswap': case 'blkdiscard': case 'sgdisk': case 'sfdisk':
      if (operands.some((o) => o.startsWith('/dev/'))) out.add('wipe.device', argv.join(' '));
      return result;
    case 'tee':
      for (const t of operands) judgeWrite(t, state, out, stdin?.text, !flags.some((f) => f === '-a' || f === '--append'));
      return { ...result, secret: stdin?.secret ?? false, text: stdin?.text, decoded: stdin?.decoded ?? false };
    case 'crontab':
      if (!flags.some((f) => /^-[lr]$/.test(f)) || operands.length > 0) out.add('persist.cron', argv.join(' '));
      return result;
    case 'ls': case 'echo': case 'printf':
      result.paths = operands.length ? operands : ['.'];
      result.names = name === 'ls';
      if (name !== 'ls') result.text = name === 'echo' ? operands.join(' ') : operands[0];
      return result;
    default:
      if (name.startsWith('mkfs') || name === 'mke2fs' || name === 'newfs') {
        out.add('wipe.device', argv.join(' '));
        return result;
      }
  }
  if (isEnvDump(name, operands, flags)) result.secret = true;
  if (name === 'cp' || name === 'install' || name === 'ln') {
    if (operands.length > 1) judgeWrite(operands[operands.length - 1]!, state, out, undefined, true);
  }
  if (CONTENT_READERS.has(name)) {
    const tree = TREE_READERS.has(name) && (name !== 'cp' || isRecursive(flags)) && (!/grep|rg|ag/.test(name) || isRecursive(flags) || name === 'rg' || name === 'ag');
    const sources = name === 'cp' || name === 'scp' || name === 'rsync' ? operands.slice(0, -1) : operands;
    // Option values hold paths too: `-d @~/.aws/credentials`, `--post-file=…`, `-F k=@…`, `-T …`, `if=…`.
    const words = [...sources, ...args.flatMap((a, k) => (a.includes('@') || a.includes('=') ? [a.slice(a.lastIndexOf('@') + 1), a.slice(a.indexOf('=') + 1)] : /^-[a-zA-Z]$/.test(args[k - 1] ?? '') ? [a] : []))];
    for (const w of words) if (w && !w.startsWith('-')) result.secret = judgeRead(w, state, out, tree) || result.secret;
  }
  if (NET_SENDERS.has(name) && isNetworkSend(name, args, stdin)) {
    state.networkSend = true;
    if (result.secret || stdin?.secret) out.add('exfil.secret', argv.join(' '));
  }
  if (stdin?.secret && !NET_SENDERS.has(name)) result.secret = true;
  if (stdin?.decoded) result.decoded = true;
  return result;
}

/** Does this network client send data (not only fetch)? */
function isNetworkSend(name: string, args: string[], stdin: Output | undefined): boolean {
  if (name === 'curl') return args.some((a) => /^-(?:d|F|T)$|^--(?:data|data-binary|data-raw|data-urlencode|form|upload-file|json)\b/.test(a)) || !!stdin?.secret;
  if (name === 'wget') return args.some((a) => /^--(?:post-data|post-file|body-data|body-file|method)/.test(a)) || !!stdin?.secret;
  return true;
}

/** After a whole block: secrets read and the network used in the same block is exfiltration. */
export function judgeBlock(state: BlockState, out: Collector): void {
  if (state.secretRead && state.networkSend && !out.has('exfil.secret')) out.add('exfil.secret', 'secret read and sent in one block');
}
