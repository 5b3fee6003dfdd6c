/**
 * Paths as detection sees them: normalised (home as `~`, `.`/`..`/`//` folded, trailing `/` dropped)
 * and classified by what deleting or reading them would do. Globs stay globs: `~/.ss?/id_*` is matched
 * against the credential locations it could expand to, not against its spelling.
 */

/** Where a path points, for the delete/overwrite judgement. */
export type PathClass = 'root' | 'home' | 'system' | 'home-child' | 'home-nested' | 'absolute' | 'temp' | 'relative' | 'unknown';

/** Top-level system directories: deleting one (or all of its contents) breaks the machine. */
const SYSTEM_DIRS = new Set([
  'bin', 'boot', 'dev', 'etc', 'home', 'lib', 'lib32', 'lib64', 'libx32', 'opt', 'proc', 'root', 'sbin', 'srv', 'sys',
  'usr', 'var', 'Users', 'System', 'Library', 'Applications', 'private', 'snap', 'mnt', 'media',
]);
const TEMP_PREFIXES = ['/tmp', '/var/tmp', '/dev/shm', '/private/tmp', '/private/var/folders', '/var/folders'];
/** Unknown text (a value the analysis could not compute) is spelled as this character inside a path. */
export const UNKNOWN = '\u0000';

/** Credential locations, home-relative unless absolute. A glob or directory that can reach one reads it. */
export const CREDENTIAL_PATHS: readonly string[] = [
  '~/.ssh/id_rsa', '~/.ssh/id_ed25519', '~/.ssh/id_ecdsa', '~/.ssh/id_dsa', '~/.ssh/identity', '~/.ssh/id_ed25519_sk',
  '~/.aws/credentials', '~/.aws/sso/cache/token.json', '~/.config/gcloud/credentials.db',
  '~/.config/gcloud/application_default_credentials.json', '~/.config/gcloud/access_tokens.db',
  '~/.azure/accessTokens.json', '~/.azure/msal_token_cache.json', '~/.kube/config', '~/.docker/config.json',
  '~/.netrc', '~/.pgpass', '~/.git-credentials', '~/.npmrc', '~/.pypirc', '~/.my.cnf', '~/.vault-token',
  '~/.gnupg/private-keys-v1.d/key.key', '~/.gnupg/secring.gpg', '~/.password-store/entry.gpg',
  '~/.config/gh/hosts.yml', '~/.config/hub', '~/.terraform.d/credentials.tfrc.json', '~/.cargo/credentials.toml',
  '~/.cargo/credentials', '~/.bash_history', '~/.zsh_history', '~/.local/share/keyrings/login.keyring',
  '~/.mozilla/firefox/profile/logins.json', '~/.mozilla/firefox/profile/key4.db', '~/.mozilla/firefox/profile/cookies.sqlite',
  '~/.config/google-chrome/Default/Login Data', '~/.config/google-chrome/Default/Cookies',
  '~/.config/chromium/Default/Login Data', '~/Library/Keychains/login.keychain-db',
  '~/Library/Application Support/Google/Chrome/Default/Login Data',
  '/etc/shadow', '/etc/gshadow', '/etc/master.passwd', '/etc/security/opasswd',
  '/proc/self/environ', '/proc/1/environ', '/var/run/secrets/kubernetes.io/serviceaccount/token',
  '/run/secrets/kubernetes.io/serviceaccount/token',
];

/** Files whose names sit in credential directories but are not secret (public keys, host lists). */
const NOT_SECRET = /(?:\.pub|\/known_hosts(?:\.old)?|\/authorized_keys|\/config)$/;

/** Home-directory spellings a block may use: `~`, `~user`, /root, /home/NAME, /Users/NAME. */
const HOME_PREFIX = /^(?:~[A-Za-z0-9_.-]{0,32}|\/root|\/home\/[A-Za-z0-9_.-]{1,32}|\/Users\/[A-Za-z0-9_.-]{1,32})(?=\/|$)/;

/**
 * Normalise a path: home spellings → `~`, `//` → `/`, `.` segments dropped, `..` folded lexically,
 * trailing `/` dropped (`~/.` → `~`, `/.` → `/`). `home` maps a real home directory (ground truth) to `~`.
 */
export function normalizePath(path: string, home?: string): string {
  let p = path.trim();
  if (home && home !== '/' && (p === home || p.startsWith(home + '/'))) p = '~' + p.slice(home.length);
  const m = HOME_PREFIX.exec(p);
  if (m) p = '~' + p.slice(m[0].length);
  const absolute = p.startsWith('/');
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..' && parts[parts.length - 1] !== '~') parts.pop();
      else if (!absolute && parts[0] !== '~') parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  const joined = parts.join('/');
  if (absolute) return '/' + joined;
  return joined === '' ? '.' : joined;
}

const GLOB_CHARS = /[*?[]/;

/** Is this path segment a glob that matches everything (`*`, `.*`, `{,.}*`, `..?*` …)? */
function matchesAll(seg: string): boolean {
  return /^(?:\*|\.\*|\.?\[[^\]]{0,8}\]\*|\*\*|\.\?\*|\.\[!.\]\*|\{[^}]{0,10}\}\*?)$/.test(seg) || seg === UNKNOWN;
}

/** Classify a normalised path for a delete or overwrite. */
export function classifyPath(path: string): PathClass {
  if (path === '' || path.startsWith(UNKNOWN)) return 'unknown';
  const segs = path.split('/');
  if (path === '/' || (path.startsWith('/') && segs.length === 2 && matchesAll(segs[1]!))) return 'root';
  if (segs[0] === '~') {
    if (segs.length === 1 || (segs.length === 2 && matchesAll(segs[1]!))) return 'home';
    return segs.length === 2 ? 'home-child' : homeDepth(segs);
  }
  if (path.startsWith('/')) {
    if (TEMP_PREFIXES.some((t) => path === t || path.startsWith(t + '/'))) return 'temp';
    const top = segs[1]!;
    if (segs.length === 2 && (SYSTEM_DIRS.has(top) || GLOB_CHARS.test(top))) return 'system';
    if (segs.length === 3 && SYSTEM_DIRS.has(top) && matchesAll(segs[2]!)) return 'system';
    if (segs.length === 3 && (top === 'home' || top === 'Users') && matchesAll(segs[2]!)) return 'system';
    if (segs.length === 3 && top === 'usr' && ['bin', 'lib', 'sbin', 'share', 'local', 'include'].includes(segs[2]!)) return 'system';
    if (segs.length === 3 && top === 'var' && ['lib', 'log', 'spool', 'cache'].includes(segs[2]!)) return 'system';
    return 'absolute';
  }
  return 'relative';
}

/** `~/a/b…`: a home dot-directory's contents (`~/.config/*`) still count as the home's own files. */
function homeDepth(segs: string[]): PathClass {
  if (segs.length === 3 && segs[1]!.startsWith('.') && matchesAll(segs[2]!)) return 'home-child';
  return 'home-nested';
}

const braceCache = new Map<string, string[]>();

/** Expand `{a,b}` alternatives (bounded: at most 32 results). */
export function expandBraces(word: string): string[] {
  const cached = braceCache.get(word);
  if (cached) return cached;
  let out = [word];
  for (let round = 0; round < 4; round++) {
    const next: string[] = [];
    let changed = false;
    for (const w of out) {
      const m = /\{([^{}]{0,200},[^{}]{0,200})\}/.exec(w);
      if (!m) {
        next.push(w);
        continue;
      }
      changed = true;
      for (const alt of m[1]!.split(',')) if (next.length < 32) next.push(w.slice(0, m.index) + alt + w.slice(m.index + m[0].length));
    }
    out = next;
    if (!changed) break;
  }
  if (braceCache.size > 512) braceCache.clear();
  braceCache.set(word, out);
  return out;
}

function globRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    // A glob never matches a leading dot (`~/*` is not `~/.ssh`), as in the shell.
    if ((c === '*' || c === '?') && (i === 0 || glob[i - 1] === '/')) re += '(?!\\.)';
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === UNKNOWN) re += '.*';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, close);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Every directory on the way to each credential (`~/.ssh`, `~/.aws` …), for whole-tree reads. */
const CREDENTIAL_DIRS: readonly string[] = [...new Set(CREDENTIAL_PATHS.flatMap((p) => {
  const segs = p.split('/');
  const dirs: string[] = [];
  for (let i = 2; i < segs.length; i++) dirs.push(segs.slice(0, i).join('/'));
  return dirs.filter((d) => d !== '~' && d !== '' && !/^\/(?:etc|proc|var|run)$/.test(d) && d !== '/proc/self' && d !== '/proc/1');
}))];

/**
 * The credential a (normalised, possibly glob) path reads, if any. `tree` says the reader takes whole
 * directories (tar, cp -r, zip, grep -r): then a credential directory counts too.
 */
export function credentialOf(path: string, tree = false): string | undefined {
  if (path === '' || path === '.' || path.startsWith(UNKNOWN)) return undefined;
  if (/^\/proc\/(?:[0-9]{1,7}|self|\*|[^/]{0,8}[*?[][^/]{0,8}|thread-self|\x00)\/environ$/.test(path)) return path;
  for (const variant of expandBraces(path)) {
    if (!GLOB_CHARS.test(variant) && !variant.includes(UNKNOWN)) {
      if (CREDENTIAL_PATHS.includes(variant)) return variant;
      if (/^~\/\.ssh\/[^/]{1,64}$/.test(variant) && !NOT_SECRET.test(variant)) return variant;
      if (/^~\/\.(?:aws|gnupg|password-store)\/./.test(variant) && !/\/config$/.test(variant)) return variant;
      if (tree && CREDENTIAL_DIRS.includes(variant)) return variant;
      continue;
    }
    const re = globRegex(variant);
    const hit = CREDENTIAL_PATHS.find((c) => re.test(c)) ?? (tree ? CREDENTIAL_DIRS.find((d) => re.test(d)) : undefined);
    if (hit) return hit;
    // A glob over a credential directory's files (`~/.ssh/*`) or a directory glob (`~/.ss?`).
    if (CREDENTIAL_DIRS.some((d) => re.test(d)) && !tree && /^~\/\.[^/]{1,20}$/.test(variant)) continue;
  }
  return undefined;
}

/** Join path pieces the way os.path.join / path.join / Path `/` do. */
export function joinPath(a: string, b: string): string {
  if (b.startsWith('/') || b.startsWith('~')) return b;
  if (a === '' || a.endsWith('/')) return a + b;
  return `${a}/${b}`;
}

/** Does this argument look like a path at all (not an option, not a URL)? */
export function looksLikePath(word: string): boolean {
  return word.length > 0 && !word.startsWith('-') && !/^[a-z][a-z0-9+.-]{1,20}:\/\//i.test(word);
}
