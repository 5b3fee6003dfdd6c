/**
 * Which opened paths count as a read of something sensitive: credentials, keys, other processes' environments.
 * Deliberately broad (an attempt that fails inside the sandbox is still worth recording); the list is closed
 * and each match names its class, so an alert can say what was reached for.
 */
import { basename, resolve } from 'node:path';
import { isInside } from './bwrap.js';

export type SensitiveClass =
  | 'system_credentials'
  | 'ssh'
  | 'cloud_credentials'
  | 'process_environment'
  | 'process_memory'
  | 'key_file'
  | 'oi_audit_secret';

const RULES: Array<{ cls: SensitiveClass; test: (path: string) => boolean }> = [
  { cls: 'system_credentials', test: (p) => /^\/etc\/(shadow|gshadow|sudoers)(-|$|\/)/.test(p) || /^\/etc\/ssh\/ssh_host_/.test(p) },
  { cls: 'process_environment', test: (p) => /^\/proc\/(\d+|self|thread-self)(\/task\/\d+)?\/environ$/.test(p) },
  { cls: 'process_memory', test: (p) => /^\/proc\/(\d+|self)(\/task\/\d+)?\/(mem|maps|root\/.*)$/.test(p) && !/\/maps$/.test(p) },
  { cls: 'ssh', test: (p) => /\/\.ssh(\/|$)/.test(p) },
  {
    cls: 'cloud_credentials',
    test: (p) => /\/\.(aws|azure|kube|docker|gnupg|config\/gcloud)(\/|$)/.test(p) || /\/\.(netrc|git-credentials|pgpass|npmrc|pypirc)$/.test(p),
  },
  {
    cls: 'key_file',
    test: (p) => {
      // Libraries and CA bundles are read by every TLS client and every import: not keys.
      if (/^\/(usr|etc\/ssl\/certs|etc\/ca-certificates)\//.test(p) || /\/(site|dist)-packages\//.test(p)) return false;
      const b = basename(p);
      if (/\.(py|pyc|pyi|so|js|ts|h|c|md|html|css|mo)$/i.test(b)) return false;
      return /^id_(rsa|dsa|ecdsa|ed25519)(\.pub)?$/.test(b) || /\.(pem|key|p12|pfx|jks|keystore)$/i.test(b) || /^\.env(\..*)?$/.test(b) || /(^|[-_.])(secret|credential|token|mac-seed|pseudonym-key|signing-key)s?([-_.]|$)/i.test(b);
    },
  },
];

export class SensitivePaths {
  /** Absolute host paths of oi-audit's own secrets and records (key files, spool, sink). */
  private readonly own: string[];

  constructor(ownSecrets: Iterable<string> = []) {
    this.own = [...new Set([...ownSecrets].filter((p) => p.startsWith('/')))];
  }

  classify(path: string): SensitiveClass | undefined {
    if (!path.startsWith('/')) return undefined;
    if (this.own.some((root) => isInside(path, root))) return 'oi_audit_secret';
    for (const rule of RULES) if (rule.test(path)) return rule.cls;
    return undefined;
  }
}

/** The secrets and records of this oi-audit process, from its environment and configuration. */
export function ownSecretPaths(env: NodeJS.ProcessEnv, extra: Array<string | undefined> = []): string[] {
  const names = ['OI_AUDIT_MAC_SEED_FILE', 'OI_AUDIT_SIGNING_KEY_FILE', 'OI_AUDIT_PSEUDONYM_KEY_FILE', 'OI_AUDIT_SPOOL_DIR', 'OI_AUDIT_SINK_DIR'];
  const paths: string[] = [];
  for (const name of names) {
    const v = env[name];
    if (!v) continue;
    paths.push(resolve(v));
  }
  for (const p of extra) if (p) paths.push(resolve(p));
  return paths;
}
