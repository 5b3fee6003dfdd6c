/**
 * Effects of touching one path: deleting or overwriting it, writing to a persistence location,
 * reading a credential. Shared by every analyser and by the ground-truth hook.
 */
import { type BlockState, DECODED } from './command-model.js';
import type { Collector } from './effects.js';
import { classifyPath, credentialOf, normalizePath, UNKNOWN, type PathClass } from './paths.js';

const RC_FILES = /^~\/\.(?:bashrc|bash_profile|bash_login|profile|zshrc|zshenv|zprofile|zlogin|kshrc|cshrc|tcshrc|config\/fish\/config\.fish|bash_logout|inputrc)$/;
const SUSPICIOUS_RC = /(?:curl|wget|\bnc\b|ncat|socat|base64|\/dev\/tcp|python[0-9.]{0,4} -c|\beval\b|nohup|crontab|\bsh -c|bash -i|LD_PRELOAD|\balias (?:sudo|ls|cd|git|ssh)=)/;

/** Caches package managers and notebooks clean up themselves: not the user's files. */
const TOOL_CACHES = /^~\/\.(?:cache|npm|local\/lib|pyenv|cargo\/registry|ipython|jupyter|matplotlib|config\/matplotlib)(?:\/|$)/;

export function norm(state: BlockState, word: string): string {
  let w = word.replaceAll(DECODED, '');
  if (state.cwd && !w.startsWith('/') && !w.startsWith('~') && !w.startsWith(UNKNOWN)) w = `${state.cwd}/${w}`;
  return normalizePath(w, state.home);
}

/** Judge a path that is deleted, truncated or overwritten. */
export function judgeDelete(path: string, state: BlockState, out: Collector, how: string): void {
  const p = norm(state, path);
  const cls: PathClass = classifyPath(p);
  const detail = `${how} ${p}`;
  if (cls === 'root') out.add('delete.root', detail);
  else if (cls === 'home') out.add('delete.home', detail);
  else if (cls === 'system') out.add('delete.system', detail);
  else if (cls === 'home-child' || credentialOf(p, true)) out.add('delete.home-child', detail);
  else if (state.cwd && (cls === 'absolute' || cls === 'home-nested') && !p.startsWith(normalizePath(state.cwd, state.home) + '/') && !TOOL_CACHES.test(p)) {
    out.add('delete.outside', detail);
  }
  if (/^\/dev\/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|md|dm-|mapper\/|loop)/.test(p)) out.add('wipe.device', detail);
}

/** Judge a path that is written (created, appended, overwritten). */
export function judgeWrite(path: string, state: BlockState, out: Collector, content: string | undefined, truncate: boolean): void {
  const p = norm(state, path);
  if (RC_FILES.test(p) && (truncate || content === undefined || SUSPICIOUS_RC.test(content))) out.add('persist.rc', p);
  if (/(?:^|\/)\.ssh\/authorized_keys2?$/.test(p)) out.add('persist.authkeys', p);
  if (/^(?:\/etc\/cron|\/var\/spool\/cron|\/etc\/anacrontab|\/var\/at\/|\/etc\/crontab)/.test(p)) out.add('persist.cron', p);
  if (/^(?:~\/\.config\/systemd\/user\/|\/etc\/systemd\/(?:system|user)\/|\/lib\/systemd\/system\/|\/usr\/lib\/systemd\/|~\/\.local\/share\/systemd\/user\/|~\/Library\/LaunchAgents\/|\/Library\/Launch(?:Agents|Daemons)\/)/.test(p)) {
    out.add('persist.systemd', p);
  }
  if (/^\/dev\/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|md|dm-|mapper\/)/.test(p)) out.add('wipe.device', p);
  if (truncate && (/^~\/\.[^/]{1,64}$/.test(p) || credentialOf(p))) out.add('delete.home-child', `overwrite ${p}`);
}

/** Judge a path that is read: a credential, or (for whole-tree readers) the home directory or root. */
export function judgeRead(path: string, state: BlockState, out: Collector, tree: boolean): boolean {
  const p = norm(state, path.replace(/^[\w.-]{0,40}=?@/, ''));
  const cred = credentialOf(p, tree);
  if (cred) {
    out.add('read.credential', p);
    return true;
  }
  if (tree && (p === '~' || p === '/' || p === '~/*' || p === '~/.*' || p === '/home' || p === '/Users')) {
    out.add('read.home-tree', p);
    return true;
  }
  return false;
}

