/**
 * The Python calls whose effects matter, judged on the evaluated values of their arguments: deletes
 * (shutil.rmtree, os.remove, Path.unlink …), writes, reads of credentials by any API (open, pathlib,
 * shutil copies, tar/zip archives), commands (os.system, subprocess, pty.spawn, os.exec*, ctypes
 * `system`), code execution (exec/eval/compile of decoded or downloaded data) and network sends.
 */
import { type BlockState, DECODED, judgeArgv } from './commands.js';
import type { Collector } from './effects.js';
import { judgeDelete, judgeRead, judgeWrite } from './path-effects.js';
import { UNKNOWN } from './paths.js';
import type { PyCtx } from './python-eval.js';
import { type Val, UNK, isDec, isSecret, known, pathText, text } from './python-values.js';

const DELETES = /^(?:shutil\.rmtree|os\.(?:remove|unlink|rmdir|removedirs|truncate)|send2trash\.send2trash|shutil\.move|os\.rename|os\.replace)$/;
const SHELL_STRING = /^(?:os\.(?:system|popen|popen2|popen3)|commands\.getoutput|subprocess\.(?:getoutput|getstatusoutput)|asyncio\.create_subprocess_shell|IPython\.get_ipython\.system)$/;
const SUBPROCESS = /^(?:subprocess\.(?:run|call|check_call|check_output|Popen)|pty\.spawn|asyncio\.create_subprocess_exec|sh\.Command|plumbum\.local)$/;
const EXEC_PATH_ARGV = /^os\.(?:execv|execve|execvp|execvpe|execl|execle|execlp|execlpe|posix_spawn|posix_spawnp)$/;
const SPAWN = /^os\.spawn[lv]p?e?$/;
const NETWORK = /^(?:requests\.(?:post|put|patch|request|Session\.post)|httpx\.(?:post|put|patch)|urllib\.request\.(?:urlopen|Request)|http\.client\.\w{1,30}\.request|smtplib\.\w{1,20}\.sendmail|ftplib\.\w{1,20}|socket\.\w{0,30}\.(?:send|sendall|sendto|connect)|paramiko\.\w{1,40})$/;
const DOWNLOADS = /^(?:requests\.get|httpx\.get|urllib\.request\.urlopen|urllib\.request\.urlretrieve)$/;
const READ_METHODS = new Set(['read_text', 'read_bytes', 'open']);
const WRITE_METHODS = new Set(['write_text', 'write_bytes']);
const CLIB = /^(?:ctypes\.(?:CDLL|cdll\.LoadLibrary|PyDLL|cdll\.\w{1,20})|ctypes\.util\.find_library)$/;

function openMode(args: Val[], kw: Map<string, Val>, at = 1): string {
  const m = kw.get('mode') ?? args[at];
  return m && m.t === 'str' ? m.s : 'r';
}

function shellFrom(v: Val, state: BlockState, out: Collector): void {
  if (v.t === 'list') {
    const argv = v.items.map((x) => text(x));
    if (v.items.some(isDec)) out.add('exec.decoded', 'command built from decoded data');
    judgeArgv(argv, [], state, out);
    out.nest('shell', argv.join(' ').replaceAll(UNKNOWN, ' ').replaceAll(DECODED, ''));
    return;
  }
  const s = text(v);
  if (isDec(v) || s.includes(DECODED)) out.add('exec.decoded', 'shell command built from decoded or downloaded data');
  const visible = s.replaceAll(DECODED, '').replaceAll(UNKNOWN, ' ');
  if (visible.trim()) out.nest('shell', visible);
}

function execCode(v: Val, out: Collector, how: string): void {
  if (isDec(v)) out.add('exec.decoded', `${how} of decoded, decompressed or downloaded code`);
  if (v.t === 'str' && !v.s.includes(UNKNOWN)) out.nest('python', v.s);
  else if (v.t === 'str' && v.s.replace(UNKNOWN, '').trim()) out.nest('python', v.s.replaceAll(UNKNOWN, ' '));
}

/** The sink callback for python-eval.ts: judge the call, and give its value when it has one. */
export function makeSink(state: BlockState, out: Collector): PyCtx['sink'] {
  return (_ctx, fn, args, kw) => {
    const a0 = args[0] ?? UNK;
    if (fn.t === 'method') return methodSink(fn.recv, fn.name, args, kw, state, out);
    if (fn.t !== 'ref') return undefined;
    const name = fn.name.replace(/^pathlib\./, '');
    if (DELETES.test(name)) {
      judgeDelete(pathText(a0), state, out, name);
      return UNK;
    }
    if (name === 'open' || name === 'io.open' || name === 'codecs.open' || name === 'os.open') {
      const mode = name === 'os.open' ? (/O_WRONLY|O_RDWR|O_TRUNC/.test(text(args[1] ?? UNK)) ? 'w' : 'r') : openMode(args, kw);
      const path = pathText(a0);
      if (/[wax+]/.test(mode)) return { t: 'obj', kind: 'file', path, mode };
      const secret = judgeRead(path, state, out, false);
      if (secret) state.secretRead = true;
      return { t: 'obj', kind: 'file', path, mode: secret ? 'secret' : mode };
    }
    if (/^shutil\.(?:copy|copy2|copyfile|copytree|copyfileobj)$/.test(name)) {
      if (judgeRead(pathText(a0), state, out, name === 'shutil.copytree')) state.secretRead = true;
      if (args[1]) judgeWrite(pathText(args[1]), state, out, undefined, true);
      return UNK;
    }
    if (name === 'shutil.make_archive') {
      const root = kw.get('root_dir') ?? args[2] ?? UNK;
      if (judgeRead(pathText(root), state, out, true)) state.secretRead = true;
      return UNK;
    }
    if (/^(?:tarfile\.open|zipfile\.ZipFile|tarfile\.TarFile)$/.test(name)) return { t: 'obj', kind: 'archive' };
    if (SHELL_STRING.test(name)) return shellFrom(a0, state, out), UNK;
    if (SUBPROCESS.test(name)) return shellFrom(a0, state, out), UNK;
    if (EXEC_PATH_ARGV.test(name)) return shellFrom(args[1] ?? a0, state, out), UNK;
    if (SPAWN.test(name)) return shellFrom(args.length > 2 ? { t: 'list', items: args.slice(2) } : (args[1] ?? UNK), state, out), UNK;
    if (name === 'exec' || name === 'eval' || name === 'compile' || name === 'builtins.exec' || name === 'builtins.eval') return execCode(a0, out, name), { t: 'unk', dec: isDec(a0) };
    if (name === 'types.FunctionType') return out.add('exec.decoded', 'function built from a code object'), UNK;
    if (CLIB.test(name)) return { t: 'obj', kind: 'clib' };
    if (name === 'json.dump' || name === 'pickle.dump' || name === 'yaml.dump') {
      if (isEnviron(a0) && args[1]?.t === 'obj') out.add('read.environ', `environment written by ${name}`);
      return UNK;
    }
    if (DOWNLOADS.test(name)) return { t: 'obj', kind: 'response' };
    if (NETWORK.test(name)) {
      state.networkSend = true;
      if ([...args, ...kw.values()].some(isEnviron)) out.add('exfil.secret', `${name} sends credential or environment data`);
      return { t: 'obj', kind: 'response' };
    }
    return undefined;
  };
}

function isEnviron(v: Val): boolean {
  return isSecret(v) || (v.t === 'ref' && v.name === 'os.environ');
}

function methodSink(recv: Val, name: string, args: Val[], kw: Map<string, Val>, state: BlockState, out: Collector): Val | undefined {
  const a0 = args[0] ?? UNK;
  if (recv.t === 'obj') {
    if (recv.kind === 'clib' && /^(?:system|popen|execve|execv|execl|execvp)$/.test(name)) return shellFrom(name.startsWith('exec') && args[1] ? args[1] : a0, state, out), UNK;
    if (recv.kind === 'file' && (name === 'write' || name === 'writelines') && recv.path !== undefined) {
      const content = known(a0) ? text(a0) : undefined;
      if (isEnviron(a0)) out.add('read.environ', `environment or credential data written to ${recv.path}`);
      judgeWrite(recv.path, state, out, content, /w/.test(recv.mode ?? ''));
      const prev = state.written.get(recv.path);
      if (state.written.size < 64) state.written.set(recv.path, { content: (prev?.content ?? '') + (content ?? ''), decoded: isDec(a0) || !!prev?.decoded || content === undefined && !prev });
      return UNK;
    }
    if (recv.kind === 'file' && /^read/.test(name)) return { t: 'unk', secret: recv.mode === 'secret' };
    if (recv.kind === 'archive' && /^(?:add|write|addfile)$/.test(name)) {
      if (judgeRead(pathText(a0), state, out, true)) state.secretRead = true;
      return UNK;
    }
    if (recv.kind === 'response' && /^(?:read|json|text|content|iter_content)$/.test(name)) return { t: 'unk', dec: true };
    return { t: 'unk' };
  }
  if (recv.t === 'str' || recv.t === 'list') {
    const path = pathText(recv);
    if (name === 'unlink' || name === 'rmdir') return judgeDelete(path, state, out, `Path.${name}`), UNK;
    if (name === 'rmtree') return judgeDelete(path, state, out, 'rmtree'), UNK;
    if (READ_METHODS.has(name)) {
      if (name === 'open' && /[wax+]/.test(openMode(args, kw, 0))) return { t: 'obj', kind: 'file', path, mode: openMode(args, kw, 0) };
      const secret = judgeRead(path, state, out, false);
      if (secret) state.secretRead = true;
      return name === 'open' ? { t: 'obj', kind: 'file', path, mode: secret ? 'secret' : 'r' } : { t: 'unk', secret };
    }
    if (WRITE_METHODS.has(name)) {
      judgeWrite(path, state, out, known(a0) ? text(a0) : undefined, true);
      if (state.written.size < 64) state.written.set(path, { content: known(a0) ? text(a0) : undefined, decoded: isDec(a0) });
      return UNK;
    }
    if (name === 'rename' || name === 'replace') return judgeDelete(path, state, out, `Path.${name}`), UNK;
  }
  if (recv.t === 'unk' && /^(?:read|json|text|content)$/.test(name) && recv.dec) return { t: 'unk', dec: true };
  return undefined;
}
