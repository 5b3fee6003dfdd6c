import { createHash } from 'node:crypto';
import type { RedactionRegion, RedactionResult, RedactionRule, Redactor, Span } from './redactor.js';
import { viewsOf } from './views.js';
import { createPrescanner, maxDigitsInNumberRun, type Prescan } from './prescan.js';
import { scanMysqlPasswords, scanYamlBlockSecrets } from './scanners.js';
import {
  BASE64_TOKEN_PATTERN,
  decodeBase64Text,
  decodeHexText,
  HEX_TOKEN_PATTERN,
  scanBase64Runs,
  scanBase64Tokens,
  scanHexRuns,
  scanHexTokens,
} from './token-runs.js';
import { base64EntropyThreshold, hasDigit, hasLower, hasUpper, luhnValid, shannonEntropy } from './validators.js';

/**
 * The versioned redaction rule table. Bump the version whenever a rule is added, removed or changes
 * what it matches: every audit record names the table that redacted it (`redaction_rules`).
 *
 * Token shapes (prefixes, lengths) follow gitleaks' default configuration (github.com/gitleaks/gitleaks,
 * config/gitleaks.toml, MIT licence, Copyright (c) 2019 Zachary Rice), re-written for JavaScript's
 * backtracking engine; entropy gates follow gitleaks' `shannonEntropy` and detect-secrets' limits.
 *
 * Linear time: every pattern uses bounded quantifiers only, no quantified group containing a
 * quantifier, and a negative lookbehind on its own character class so a long run is tried from its
 * first character only. test/unit/redact-adversarial.test.ts checks each rule on hostile input.
 */
export const REDACTION_RULES_VERSION = '2.0.0';

// ---------------------------------------------------------------------------------------------------
// Validators shared by several rules
// ---------------------------------------------------------------------------------------------------

/** Values that are obviously not secrets: placeholders, literals, template variables. */
const PLACEHOLDER =
  /^(?:null|none|nil|true|false|undefined|empty|required|optional|string|changeme_?later|\*{1,64}|x{3,64}|\.{3}|<[^<>]{0,64}>|\$\{?[A-Za-z_][A-Za-z0-9_]{0,64}\}?|%\(?[A-Za-z_]{0,64}\)?s?|\{\{[^{}]{0,64}\}\}|\[REDACTED:[a-z0-9-]{1,40}\])$/i;

/** Words after `password ` in prose, not a .netrc value. */
const NETRC_STOPWORD = /^(?:is|was|for|of|and|or|the|to|will|must|should|required|prompt|reset|manager|field|here|again|:)$/i;
/** A .netrc entry before the password: a `machine`/`default` or `login` token. */
const NETRC_CONTEXT = /(?:^|\s)(?:machine|default|login)\s/;

/** `PWD=/home/…`, `OLDPWD=/tmp`: the shell's working directories (in `env` output), not MySQL's password. */
function shellWorkingDirectory(secret: string, text: string, start: number): boolean {
  return secret.startsWith('/') && /(?:^|[^A-Za-z0-9_])(?:OLD)?PWD=["']?$/.test(text.slice(Math.max(0, start - 8), start));
}

/** Unquoted values that are code (a lookup, a call), not a literal secret. */
const CODE_PREFIX =
  /^(?:os\.environ|os\.getenv|process\.env|getpass|self\.|this\.|config\.|settings\.|env\.|args\.|opts\.|options\.|request\.|req\.|params\.|input$|System\.getenv|ENV\[|getenv)/i;

function quoted(text: string, start: number): boolean {
  const c = text[start - 1];
  return c === '"' || c === "'";
}

function isCode(secret: string, text: string, start: number, end: number): boolean {
  if (quoted(text, start)) return false;
  const next = text[end];
  if (next === '(' || next === '[') return true;
  return CODE_PREFIX.test(secret);
}

/**
 * Whether an assignment's value is a literal secret. Quoted values are (the key says what they are);
 * unquoted ones must not be code (`os.environ[…]`, a call) and must be long and varied enough.
 */
function assignmentValue(minUnquoted: number, minEntropy: number, requireLetter: boolean) {
  return (secret: string, text: string, start: number, end: number): boolean => {
    if (PLACEHOLDER.test(secret)) return false;
    if (quoted(text, start)) return secret.length > 0;
    if (secret.length < minUnquoted || isCode(secret, text, start, end)) return false;
    if (requireLetter && !/[A-Za-z]/.test(secret)) return false;
    return shannonEntropy(secret) >= minEntropy;
  };
}

/** Random-looking: the length-adjusted entropy gate plus at least a digit and a letter. */
function randomToken(minEntropy = 3): (secret: string) => boolean {
  return (secret) => hasDigit(secret) && /[A-Za-z]/.test(secret) && shannonEntropy(secret) >= minEntropy;
}

// ---------------------------------------------------------------------------------------------------
// Scanners for what a single regex cannot do linearly
// ---------------------------------------------------------------------------------------------------

const PEM_HEADER = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END_LINE = /-----END [A-Z0-9 ]{0,40}-----/y;
/** What may follow a header when no END line does (a cut-off key is still a key). */
const PEM_BODY = /[A-Za-z0-9+/=\s\\:,-]{0,65536}/y;
const PEM_MAX_BLOCK = 65536;

/**
 * Private key blocks: header to END line inclusive; a header without an END (output cut short) is
 * redacted with the base64 body that follows it. The position of the next `-----END` is found once and
 * reused while headers are before it, so a flood of headers stays linear.
 */
function* scanPrivateKeys(text: string): Iterable<Span> {
  PEM_HEADER.lastIndex = 0;
  let nextEnd = -2; // -2: not searched yet; -1: none after this point
  let m: RegExpExecArray | null;
  while ((m = PEM_HEADER.exec(text)) !== null) {
    const start = m.index;
    const headerEnd = start + m[0].length;
    if (nextEnd !== -1 && nextEnd < headerEnd) nextEnd = text.indexOf('-----END ', headerEnd);
    let end = -1;
    if (nextEnd !== -1 && nextEnd - headerEnd <= PEM_MAX_BLOCK) {
      PEM_END_LINE.lastIndex = nextEnd;
      const e = PEM_END_LINE.exec(text);
      end = e ? nextEnd + e[0].length : nextEnd + '-----END '.length;
    }
    if (end === -1) {
      PEM_BODY.lastIndex = headerEnd;
      const b = PEM_BODY.exec(text);
      end = headerEnd + (b ? b[0].length : 0);
    }
    yield [start, end];
    PEM_HEADER.lastIndex = Math.max(end, headerEnd);
  }
}

const CARD_MIN_DIGITS = 13;

/** Card number candidates: 13–19 digits, optionally grouped by single spaces or dashes. */
const CARD_CANDIDATE = /(?<![0-9])[2-6][0-9 -]{11,22}[0-9](?![0-9])/g;

/**
 * Payment card numbers: a candidate is split into its digit groups; the longest run of whole groups
 * with 13–19 digits, an issuer first digit (2–6) and a valid Luhn check digit is redacted.
 */
export function* scanCards(text: string): Iterable<Span> {
  // The redactor's prescan counted digits per run: with fewer than 13 in every run, no card can match.
  const digits = maxDigitsInNumberRun(text);
  if (digits !== undefined && digits < CARD_MIN_DIGITS) return;
  CARD_CANDIDATE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = CARD_CANDIDATE.exec(text)) !== null) {
    const cand = m[0];
    if (/[ -]{2}/.test(cand)) continue; // double separators: not a card layout
    const groups: Array<{ start: number; digits: string }> = [];
    const re = /[0-9]{1,19}/g;
    let g: RegExpExecArray | null;
    while ((g = re.exec(cand)) !== null) groups.push({ start: g.index, digits: g[0] });
    let best: Span | undefined;
    for (let i = 0; i < groups.length; i++) {
      let digits = '';
      for (let j = i; j < groups.length; j++) {
        digits += groups[j]!.digits;
        if (digits.length > 19) break;
        if (digits.length < 13 || !/^[2-6]/.test(digits) || !luhnValid(digits)) continue;
        const s = m.index + groups[i]!.start;
        const e = m.index + groups[j]!.start + groups[j]!.digits.length;
        if (!best || e - s > best[1] - best[0]) best = [s, e];
      }
    }
    if (best) yield best;
  }
}

/**
 * A hash labelled as such (`sha256:…`, `commit …`, `checksum = …`, `/commit/…`) is an identifier, not a
 * secret. An unlabelled hex token is redacted: a session token and a digest have the same shape.
 */
const HASH_LABEL =
  /(?:sha(?:1|224|256|384|512)?(?:sum)?[:= -]|md5(?:sum)?[:= -]|(?:commit|tree|parent|object|revision|rev|hash|checksum|digest|etag|integrity|oid)["']?[ \t]{0,2}[:=]?[ \t]{0,2}["']?|@sha256:|\/(?:commit|commits|blob|tree)\/)$/i;

/** `sha256sum`/`md5sum` output: the digest, two spaces (or ` *`), a file name. */
const CHECKSUM_LINE_TAIL = /^(?: [ *][^\s]|\t[^\s])/;

// ---------------------------------------------------------------------------------------------------
// The table. Order is priority: when two matches overlap, the region is the union of both and is
// labelled with the earlier rule.
// ---------------------------------------------------------------------------------------------------

const SEP = String.raw`[\\]{0,3}["']?[ \t]{0,4}(?::=|=>|[:=])[ \t]{0,4}`;
const VALUE = String.raw`[\\]{0,3}(?:"([^"\r\n]{1,512})"|'([^'\r\n]{1,512})'|([^\s'"\x60;&,<>(){}\[\]=\\][^\s'"\x60;&,<>(){}\[\]]{0,511}))`;
const KEY_CHARS = 'A-Za-z0-9_.-';
const KEY_PRE = String.raw`(?<![${KEY_CHARS}])[${KEY_CHARS}]{0,64}`;
const KEY_POST = String.raw`[A-Za-z0-9_.-]{0,20}`;

export const DEFAULT_RULES: readonly RedactionRule[] = Object.freeze([
  {
    id: 'gcp-service-account-key',
    description: 'GCP service-account JSON "private_key" value',
    keywords: ['private_key'],
    pattern: /"private_key"[ \t]{0,4}:[ \t]{0,4}"([^"]{16,16384})"/dg,
    group: 1,
  },
  {
    id: 'private-key',
    description: 'PEM/OpenSSH/PGP private key blocks (also inside JSON with \\n escapes)',
    keywords: ['private key'],
    scan: scanPrivateKeys,
  },
  {
    id: 'aws-access-key',
    description: 'AWS access key id (AKIA, ASIA, ABIA, ACCA, A3T…)',
    keywords: ['akia', 'asia', 'abia', 'acca', 'a3t'],
    pattern: /(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  },
  {
    id: 'aws-secret-key',
    description: 'AWS secret access key in an assignment (env, config, CLI JSON output)',
    // Every match holds one of these (not just `secret`, which ordinary prose has).
    keywords: ['aws_secret', 'awssecret', 'secret_access', 'secretaccess'],
    pattern: new RegExp(
      String.raw`(?<![A-Za-z0-9])(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)${SEP}[\\]{0,3}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])`,
      'dgi',
    ),
    group: 1,
  },
  {
    id: 'aws-session-token',
    description: 'AWS STS session token in an assignment',
    keywords: ['session_token', 'sessiontoken', 'security_token', 'securitytoken'],
    pattern: new RegExp(
      String.raw`(?<![A-Za-z0-9])(?:aws_?session_?token|session_?token|aws_?security_?token|x-amz-security-token)${SEP}[\\]{0,3}["']?([A-Za-z0-9/+=%]{100,4096})`,
      'dgi',
    ),
    group: 1,
  },
  {
    id: 'gcp-api-key',
    description: 'Google Cloud / Google API key (AIza…)',
    keywords: ['aiza'],
    pattern: /(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/g,
  },
  {
    id: 'gcp-oauth-token',
    description: 'Google OAuth access token (ya29.…)',
    keywords: ['ya29.'],
    pattern: /(?<![A-Za-z0-9_-])ya29\.[A-Za-z0-9_-]{20,4096}/g,
  },
  {
    id: 'azure-storage-key',
    description: 'Azure storage account key (AccountKey=… in a connection string)',
    keywords: ['accountkey'],
    pattern: /AccountKey[ \t]{0,2}=[ \t]{0,2}([A-Za-z0-9+/]{40,100}={0,2})/dgi,
    group: 1,
  },
  {
    id: 'azure-connection-string',
    description: 'Azure Service Bus / Event Hubs / SignalR shared access key or signature in a connection string',
    keywords: ['sharedaccesskey', 'sharedaccesssignature'],
    pattern: /SharedAccess(?:Key|Signature)[ \t]{0,2}=[ \t]{0,2}([^;\s"'&]{8,1024})/dgi,
    group: 1,
  },
  {
    id: 'azure-sas-token',
    description: 'Azure SAS signature in a URL (sig=…)',
    keywords: ['sig='],
    pattern: /[?&]sig=([A-Za-z0-9%+/]{20,512}(?:%3D|=){0,2})/dgi,
    group: 1,
  },
  {
    id: 'github-fine-grained-pat',
    description: 'GitHub fine-grained personal access token (github_pat_…)',
    keywords: ['github_pat_'],
    pattern: /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])/g,
  },
  {
    id: 'github-pat',
    description: 'GitHub classic personal access token (ghp_…)',
    keywords: ['ghp_'],
    pattern: /(?<![A-Za-z0-9_])ghp_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])/g,
  },
  {
    id: 'github-oauth',
    description: 'GitHub OAuth access token (gho_…)',
    keywords: ['gho_'],
    pattern: /(?<![A-Za-z0-9_])gho_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])/g,
  },
  {
    id: 'github-app-token',
    description: 'GitHub App user-to-server / server-to-server token (ghu_…, ghs_…)',
    keywords: ['ghu_', 'ghs_'],
    pattern: /(?<![A-Za-z0-9_])gh[us]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])/g,
  },
  {
    id: 'github-refresh-token',
    description: 'GitHub refresh token (ghr_…)',
    keywords: ['ghr_'],
    pattern: /(?<![A-Za-z0-9_])ghr_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])/g,
  },
  {
    id: 'gitlab-pat',
    description: 'GitLab personal access token (glpat-…)',
    keywords: ['glpat-'],
    pattern: /(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_.-]{20,255}(?![A-Za-z0-9_.-])/g,
  },
  {
    id: 'gitlab-token',
    description: 'Other GitLab tokens (deploy, runner, pipeline trigger, feed, SCIM, …)',
    keywords: ['gldt-', 'glrt-', 'glptt-', 'glft-', 'glsoat-', 'glimt-', 'glcbt-', 'gloas-', 'glagent-'],
    pattern: /(?<![A-Za-z0-9_-])(?:gldt|glrt|glptt|glft|glsoat|glimt|glcbt|gloas|glagent)-[A-Za-z0-9_.-]{20,255}(?![A-Za-z0-9_.-])/g,
  },
  {
    id: 'slack-token',
    description: 'Slack bot/user/app/refresh tokens (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxo-, xapp-)',
    keywords: ['xox', 'xapp-'],
    pattern: /(?<![A-Za-z0-9_-])(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,255}(?![A-Za-z0-9_-])/g,
  },
  {
    id: 'slack-webhook',
    description: 'Slack incoming webhook / workflow URL',
    keywords: ['hooks.slack.com'],
    pattern: /(?<![A-Za-z0-9.-])hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9+/_-]{20,255}/g,
  },
  {
    id: 'stripe-key',
    description: 'Stripe secret/restricted keys (sk_live_, rk_live_, sk_test_, …) and webhook secrets (whsec_)',
    keywords: ['sk_', 'rk_', 'whsec_'],
    pattern: /(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:live|test|prod)|whsec)_[A-Za-z0-9]{10,255}(?![A-Za-z0-9_])/g,
  },
  {
    id: 'anthropic-api-key',
    description: 'Anthropic API/admin keys (sk-ant-…)',
    keywords: ['sk-ant-'],
    pattern: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,300}(?![A-Za-z0-9_-])/g,
  },
  {
    id: 'openai-api-key',
    description: 'OpenAI API keys (sk-…, sk-proj-…, sk-svcacct-…, sk-admin-…) and compatible sk- keys',
    keywords: ['sk-'],
    pattern: /(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,300}(?![A-Za-z0-9_-])/g,
    validate: randomToken(3),
  },
  {
    id: 'huggingface-token',
    description: 'Hugging Face access token (hf_…)',
    keywords: ['hf_'],
    pattern: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,40}(?![A-Za-z0-9_])/g,
  },
  {
    id: 'npm-token',
    description: 'npm access token (npm_…)',
    keywords: ['npm_'],
    pattern: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])/g,
  },
  {
    id: 'pypi-token',
    description: 'PyPI upload token (pypi-AgEIcHlwaS5vcmc…)',
    keywords: ['pypi-ageichlwas5vcmc'],
    pattern: /(?<![A-Za-z0-9_-])pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1000}(?![A-Za-z0-9_-])/g,
  },
  {
    id: 'provider-token',
    description:
      'Other providers\' tokens with a fixed shape: Google OAuth client secret (GOCSPX-), SendGrid (SG.), Databricks (dapi), DigitalOcean (dop_v1_), Shopify (shpat_), HashiCorp Vault (hvs.), age secret keys, Grafana (glsa_, glc_), Postman (PMAK-), Linear (lin_api_), Doppler (dp.pt.), Brevo (xkeysib-), Twilio (SK…), Atlassian (ATATT)',
    keywords: ['gocspx-', 'sg.', 'dapi', '_v1_', 'shp', 'hvs.', 'hvb.', 'hvr.', 'age-secret-key-', 'glsa_', 'glc_', 'pmak-', 'lin_api_', 'dp.pt.', 'xkeysib-', 'sk', 'atatt3'],
    // Every alternative starts its run (the lookbehind) with its keyword, `_v1_` three characters in (`dop_v1_`).
    anchor: { run: 'A-Za-z0-9_.-', maxBack: 3 },
    pattern:
      /(?<![A-Za-z0-9_.-])(?:GOCSPX-[A-Za-z0-9_-]{28}|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}|dapi[a-f0-9]{32}(?:-[0-9])?|do[opr]_v1_[a-f0-9]{64}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}|hv[sbr]\.[A-Za-z0-9_-]{24,255}|AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,2}|PMAK-[a-f0-9]{24}-[a-f0-9]{34}|lin_api_[A-Za-z0-9]{40}|dp\.pt\.[A-Za-z0-9]{43}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}|SK[0-9a-fA-F]{32}|ATATT3[A-Za-z0-9_=-]{100,300})(?![A-Za-z0-9_-])/g,
  },
  {
    id: 'azure-ad-client-secret',
    description: 'Microsoft Entra ID (Azure AD) application client secret (…8Q~…)',
    keywords: ['q~'],
    pattern: /(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])/g,
  },
  {
    id: 'telegram-bot-token',
    description: 'Telegram bot token (<bot id>:AA…)',
    keywords: [':aa'],
    pattern: /(?<![A-Za-z0-9_-])[0-9]{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])/g,
  },
  {
    id: 'jwt',
    description: 'JSON Web Token (eyJ….eyJ….signature)',
    keywords: ['eyj'],
    pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,8192}\.[A-Za-z0-9_-]{0,4096}/g,
  },
  {
    id: 'authorization-header',
    description: 'HTTP Authorization / Proxy-Authorization header value (scheme kept)',
    keywords: ['authorization'],
    pattern:
      /(?<![A-Za-z0-9_-])(?:proxy-)?authorization[\\]{0,3}["']?[ \t]{0,4}[:=][ \t]{0,4}[\\]{0,3}["']?(?:Bearer|Basic|Token|Digest|Bot|ApiKey|AWS4-HMAC-SHA256|Negotiate|NTLM|)[ \t]{0,4}([^\r\n"'\\]{4,4096})/dgi,
    group: 1,
    validate: (secret) => !PLACEHOLDER.test(secret),
  },
  {
    id: 'bearer-token',
    description: 'Bearer token outside an Authorization header',
    keywords: ['bearer'],
    pattern: /(?<![A-Za-z0-9_-])bearer[ \t]{1,4}([A-Za-z0-9._~+/-]{16,4096}={0,2})/dgi,
    group: 1,
    validate: randomToken(3),
  },
  {
    id: 'connection-string',
    description: 'Password in a database/broker connection string (postgres://, mysql://, mongodb+srv://, redis://, amqp://, jdbc:…)',
    // The schemes themselves (every match holds one), not `://`, which every web URL has.
    keywords: ['postgres', 'mysql', 'mariadb', 'mongodb', 'redis', 'amqp', 'mssql', 'sqlserver', 'clickhouse', 'cockroachdb', 'jdbc:'],
    pattern:
      /(?<![A-Za-z0-9+.-])(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse|cockroachdb|jdbc:[a-z]{2,20})(?:\+[a-z0-9]{1,20}|):\/\/[^\s:@/?#]{0,256}:([^\s/?#]{1,256})@/dgi,
    group: 1,
  },
  {
    id: 'url-password',
    description: 'Password in any URL (scheme://user:pass@host)',
    keywords: ['://'],
    pattern: /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}:\/\/[^\s:@/?#]{0,256}:([^\s/?#]{1,256})@/dg,
    group: 1,
    anchor: { run: 'A-Za-z0-9+.-', maxBack: 31 },
  },
  {
    id: 'cli-user-password',
    description: 'user:password given to a command-line tool (curl -u, --user)',
    keywords: ['-u', '--user'],
    pattern: /(?<![A-Za-z0-9_-])(?:-u|--user)[ \t=]{1,4}["']?[^\s:"']{1,128}:([^\s"']{1,256})/dg,
    group: 1,
    validate: (secret) => !PLACEHOLDER.test(secret) && !/^[0-9]{1,10}$/.test(secret),
  },
  {
    id: 'netrc-password',
    description: '.netrc / _netrc password (machine … login … password …, on one line or several)',
    keywords: ['password'],
    pattern: /(?<![A-Za-z0-9_-])password[ \t]{1,16}([^\s]{1,512})/dgi,
    group: 1,
    validate: (secret, text, start) =>
      !PLACEHOLDER.test(secret) &&
      !NETRC_STOPWORD.test(secret) &&
      NETRC_CONTEXT.test(text.slice(Math.max(0, start - 512), start)),
  },
  {
    id: 'pgpass-line',
    description: '.pgpass line (hostname:port:database:username:password)',
    // A port field (or `*`) follows a colon in every match.
    keywords: [':0', ':1', ':2', ':3', ':4', ':5', ':6', ':7', ':8', ':9', ':*'],
    // A match starts a run (after a space, quote, `=`, `>` or a line start) of host characters that
    // reaches the port's colon (`*`, `[`, `]` and `:` for `*` and bracketed IPv6 hosts), at most 253 in.
    anchor: { run: 'A-Za-z0-9_.*:[\\]-', maxBack: 253 },
    pattern:
      /(?<=^|[\s"'=>])(?:[A-Za-z0-9_.-]{1,253}|\*|\[[0-9a-fA-F:.]{2,45}\]):(?:[0-9]{1,5}|\*):[^:\s"']{1,256}:[^:\s"']{1,256}:((?:[^\s"'\\]|\\.){1,512})/dgm,
    group: 1,
    // Not an IPv6 address or a time of day (all fields short hex or digits).
    validate: (secret) => !PLACEHOLDER.test(secret) && !/^[0-9a-fA-F]{1,4}$/.test(secret),
  },
  {
    id: 'mysql-password',
    description: 'Password glued to -p on a MySQL/MariaDB client command line (mysql -uroot -pS3cret)',
    keywords: ['mysql', 'mariadb'],
    scan: scanMysqlPasswords,
    validate: (secret) => !PLACEHOLDER.test(secret),
  },
  {
    id: 'yaml-block-secret',
    description: 'YAML block scalar (key: |, key: >-) under a key naming a secret, password, token, key or certificate',
    keywords: ['pass', 'pwd', 'secret', 'token', 'key', 'credential', 'cert', 'auth'],
    scan: scanYamlBlockSecrets,
  },
  {
    id: 'password-assignment',
    description: 'password=, passwd:, pwd=, passphrase:, pass = … assignments (env files, INI, config, code, JSON, YAML)',
    keywords: ['pass', 'pwd'],
    pattern: new RegExp(String.raw`${KEY_PRE}(?:password|passwd|passphrase|pwd|(?<![A-Za-z0-9])pass(?![A-Za-z]))${KEY_POST}${SEP}${VALUE}`, 'dgi'),
    group: [1, 2, 3],
    // Every alternative starts with a keyword, at most 64 (KEY_PRE) key characters into the key name.
    anchor: { run: KEY_CHARS, maxBack: 64 },
    validate: (secret, text, start, end) => !shellWorkingDirectory(secret, text, start) && assignmentValue(3, 0, false)(secret, text, start, end),
  },
  {
    id: 'password-flag',
    description: 'secret given as a command-line flag (--password x, --token=x, -pass pass:x)',
    keywords: ['-pass', '-pwd', '-token', '-secret', '-api-key', '-apikey'],
    pattern: new RegExp(
      String.raw`(?<![A-Za-z0-9_-])--?(?:password|passwd|pass|pwd|token|secret|api-key|apikey|auth-token|access-token|client-secret)(?:[ \t]{1,4}|=)${VALUE}`,
      'dgi',
    ),
    group: [1, 2, 3],
    validate: (secret, text, start, end) => !secret.startsWith('-') && assignmentValue(3, 0, false)(secret, text, start, end),
  },
  {
    id: 'secret-assignment',
    description: 'secret=, token=, api_key=, client_secret:, access_key: … assignments',
    keywords: ['secret', 'token', 'key', 'credential'],
    pattern: new RegExp(
      String.raw`${KEY_PRE}(?:secret|token|api[_.-]?key|apikey|access[_.-]?key|auth[_.-]?key|private[_.-]?key|signing[_.-]?key|encryption[_.-]?key|session[_.-]?key|credentials?)${KEY_POST}${SEP}${VALUE}`,
      'dgi',
    ),
    group: [1, 2, 3],
    // A keyword sits at most 64 (KEY_PRE) + 11 (`encryption_` before `key`) characters into the key name.
    anchor: { run: KEY_CHARS, maxBack: 75 },
    validate: assignmentValue(8, 3, true),
  },
  {
    id: 'env-secret-assignment',
    description: 'Environment-style assignment NAME_PASS=, _PASSWD=, _PWD=, _PW=, _SECRET=, _TOKEN=, _API_KEY=, _AUTH=… (upper-case name, no spaces)',
    keywords: ['pass', 'pwd', 'pw', 'secret', 'token', 'key', 'credential', 'auth'],
    pattern: new RegExp(
      String.raw`(?<![A-Za-z0-9_])[A-Z0-9_]{0,64}(?<![A-Z0-9])(?:PASSWORD|PASSWD|PASSPHRASE|PASS|PWD|PW|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|MASTER_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY|CREDENTIALS?|AUTH)(?![A-Za-z0-9])[A-Z0-9_]{0,20}=${VALUE}`,
      'dg',
    ),
    group: [1, 2, 3],
    anchor: { run: 'A-Za-z0-9_', maxBack: 64 },
    validate: (secret, text, start, end) => {
      if (PLACEHOLDER.test(secret) || isCode(secret, text, start, end)) return false;
      if (shellWorkingDirectory(secret, text, start)) return false;
      return !/^[0-9]{1,4}$/.test(secret) && secret.length >= 3;
    },
  },
  {
    id: 'email',
    description: 'E-mail address',
    keywords: ['@'],
    pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}/g,
    anchor: { run: 'A-Za-z0-9._%+-', maxBack: 64 },
    // Not the `pass@host` tail of a URL's userinfo (the URL rules own that), not an ssh remote.
    // (The look-back regex can only match when a `:` is right before the address: checked first.)
    validate: (secret, text, start) =>
      !/^git@/i.test(secret) &&
      (text.charCodeAt(start - 1) !== 0x3a || !/:\/\/[^\s/@]{0,256}:$/.test(text.slice(Math.max(0, start - 300), start))),
  },
  {
    id: 'credit-card',
    description: 'Payment card number (13–19 digits, issuer prefix 2–6, Luhn-valid)',
    scan: scanCards,
  },
  {
    id: 'high-entropy-hex',
    description: 'High-entropy hex string (>= 32 hex digits, Shannon entropy >= 3.0 bits/char)',
    pattern: HEX_TOKEN_PATTERN,
    scan: scanHexTokens,
    validate: (secret, text, start) =>
      hasDigit(secret) &&
      /[a-fA-F]/.test(secret) &&
      shannonEntropy(secret) >= 3 &&
      !HASH_LABEL.test(text.slice(Math.max(0, start - 16), start)) &&
      !CHECKSUM_LINE_TAIL.test(text.slice(start + secret.length, start + secret.length + 3)),
  },
  {
    id: 'high-entropy-base64',
    description: 'High-entropy base64/base64url token (>= 20 chars, mixed case and digits, length-adjusted entropy gate)',
    pattern: BASE64_TOKEN_PATTERN,
    scan: scanBase64Tokens,
    validate: (secret) =>
      hasDigit(secret) && hasUpper(secret) && hasLower(secret) && shannonEntropy(secret) >= base64EntropyThreshold(secret.length),
  },
  {
    id: 'base64-encoded-secret',
    description: 'Base64/base64url run (line-wrapped blobs joined) that decodes to text holding a secret any rule finds',
    scan: scanBase64Runs,
    decode: decodeBase64Text,
  },
  {
    id: 'hex-encoded-secret',
    description: 'Hex run that decodes to text holding a secret any rule finds',
    scan: scanHexRuns,
    decode: decodeHexText,
  },
] satisfies RedactionRule[]);

// ---------------------------------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------------------------------

export interface RedactorOptions {
  /** More rules, after the built-in ones (lower priority). Patterns get the `g` (and `d`) flags added. */
  extraRules?: RedactionRule[];
  /**
   * Values never redacted: a string is compared with the matched secret exactly, a RegExp is tested
   * against it (e.g. a known test key, or `/^[0-9a-f]{40}$/` to keep git commit ids).
   */
  allow?: Array<RegExp | string>;
  /** Replace the built-in table instead of extending it (tests, special deployments). */
  rules?: readonly RedactionRule[];
}

interface CompiledRule extends RedactionRule {
  groups: readonly number[];
  /**
   * For an anchored rule: the keywords as one global regex (used when the prescan kept no positions),
   * the pattern as a sticky regex, and the run test.
   */
  anchored?: { find: RegExp; sticky: RegExp; isRun: (c: number) => boolean; maxBack: number };
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/g;

/** A test for one character of a class given as the inside of `[…]`; a table for ASCII. */
function charClassTest(inside: string): (c: number) => boolean {
  const re = new RegExp(`[${inside}]`);
  const ascii = new Uint8Array(128);
  for (let c = 0; c < 128; c++) ascii[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
  return (c) => (c < 128 ? ascii[c] === 1 : re.test(String.fromCharCode(c)));
}

function compile(rule: RedactionRule): CompiledRule {
  if (!rule.pattern && !rule.scan) throw new TypeError(`redaction rule ${rule.id}: needs a pattern or a scan function`);
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(rule.id)) throw new TypeError(`redaction rule id "${rule.id}": use 1–40 of [a-z0-9-]`);
  const groups = rule.group === undefined ? [] : typeof rule.group === 'number' ? [rule.group] : [...rule.group];
  let pattern = rule.pattern;
  if (pattern) {
    let flags = pattern.flags;
    if (!flags.includes('g')) flags += 'g';
    if (groups.length > 0 && !flags.includes('d')) flags += 'd';
    if (flags !== pattern.flags) pattern = new RegExp(pattern.source, flags);
  }
  const keywords = rule.keywords?.map((k) => k.toLowerCase());
  let anchored: CompiledRule['anchored'];
  if (rule.anchor) {
    if (!pattern || !keywords || keywords.length === 0) throw new TypeError(`redaction rule ${rule.id}: an anchor needs a pattern and keywords`);
    anchored = {
      find: new RegExp(keywords.map((k) => k.replace(REGEX_SPECIAL, '\\$&')).join('|'), 'gi'),
      sticky: new RegExp(pattern.source, `${pattern.flags.replace('g', '')}y`),
      isRun: charClassTest(rule.anchor.run),
      maxBack: rule.anchor.maxBack,
    };
  }
  return { ...rule, pattern, keywords, groups, anchored };
}

/**
 * The matches `rule.pattern` would find in `view` with a global search, found by trying it (sticky)
 * only at the starts of runs that reach a keyword (see RunAnchor): in increasing order, never before
 * the end of the previous match, as the global search does. `at` lists the keyword occurrences in
 * increasing order (from the prescan); without it the anchor regex finds them.
 */
function* anchoredMatches(view: string, a: NonNullable<CompiledRule['anchored']>, at: Iterable<number> | undefined): Iterable<RegExpExecArray> {
  const { sticky, isRun, maxBack } = a;
  let lastEnd = 0;
  let lastTried = -1;
  for (const pos of at ?? regexPositions(a.find, view)) {
    let s = pos;
    const floor = Math.max(0, pos - maxBack);
    while (s > floor && isRun(view.charCodeAt(s - 1))) s--;
    if (s > 0 && isRun(view.charCodeAt(s - 1))) continue; // the run starts too far back to match from
    if (s < lastEnd || s === lastTried) continue;
    lastTried = s;
    sticky.lastIndex = s;
    const m = sticky.exec(view);
    if (m === null) continue;
    lastEnd = s + Math.max(1, m[0].length);
    yield m;
  }
}

function* regexPositions(re: RegExp, text: string): Iterable<number> {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) yield m.index;
}

function tableVersion(rules: readonly CompiledRule[], allow: ReadonlyArray<RegExp | string>, custom: boolean): string {
  if (!custom) return REDACTION_RULES_VERSION;
  const h = createHash('sha256');
  for (const r of rules) h.update(`${r.id}\0${r.pattern?.source ?? 'scan'}\0${r.pattern?.flags ?? ''}\0${String(r.group ?? '')}\n`);
  for (const a of allow) h.update(`allow\0${typeof a === 'string' ? `s:${a}` : `r:${a.source}/${a.flags}`}\n`);
  return `${REDACTION_RULES_VERSION}+custom.${h.digest('hex').slice(0, 8)}`;
}

interface Hit {
  start: number;
  end: number;
  /** Where the match began (before `start` when a group holds the secret). */
  from: number;
  rule: number;
}

/** Encodings followed inside encodings this deep (base64 of a hex dump of a key…), no deeper. */
const MAX_DECODE_DEPTH = 2;

/**
 * Build a redactor from a rule table. Every rule scans the same text (not each other's output), and
 * overlapping hits merge into one redaction, so a marker can never be re-matched and a secret found by
 * two rules is never partly left behind. Hidden characters (ANSI CSI sequences, zero-width and bidi
 * controls, NUL…) are skipped while matching, so a secret cannot be smuggled past by splitting it.
 */
export function createRedactor(options: RedactorOptions = {}): Redactor {
  const base = options.rules ?? DEFAULT_RULES;
  const rules = [...base, ...(options.extraRules ?? [])].map(compile);
  const ids = new Set<string>();
  for (const r of rules) {
    if (ids.has(r.id)) throw new TypeError(`redaction rule id "${r.id}" is used twice`);
    ids.add(r.id);
  }
  const allowStrings = new Set<string>();
  const allowRegexps: RegExp[] = [];
  for (const a of options.allow ?? []) {
    if (typeof a === 'string') allowStrings.add(a);
    else allowRegexps.push(new RegExp(a.source, a.flags.replace(/[gy]/g, '')));
  }
  const custom = options.rules !== undefined || (options.extraRules?.length ?? 0) > 0 || (options.allow?.length ?? 0) > 0;
  const version = tableVersion(rules, options.allow ?? [], custom);

  const allowed = (secret: string): boolean => {
    if (allowStrings.has(secret)) return true;
    for (const re of allowRegexps) if (re.test(secret)) return true;
    return false;
  };

  const prescanner = createPrescanner(rules.flatMap((r) => r.keywords ?? []));
  /** Per rule, the indices of its keywords in the finder's result (undefined: the rule always runs). */
  const ruleKeywords = rules.map((r) => (r.keywords ? Int32Array.from(r.keywords, (k) => prescanner.index.get(k)!) : undefined));

  const accept = (hits: Hit[], view: string, r: number, start: number, end: number, from = start) => {
    if (end <= start) return;
    const rule = rules[r]!;
    const secret = view.slice(start, end);
    if (rule.validate && !rule.validate(secret, view, start, end)) return;
    if (allowed(secret)) return;
    hits.push({ start, end, from: Math.min(from, start), rule: r });
  };

  const acceptMatch = (hits: Hit[], view: string, r: number, m: RegExpExecArray) => {
    const groups = rules[r]!.groups;
    if (groups.length === 0) {
      accept(hits, view, r, m.index, m.index + m[0].length);
      return;
    }
    for (const g of groups) {
      const at = m.indices?.[g];
      if (at) {
        accept(hits, view, r, at[0], at[1], m.index);
        return;
      }
    }
  };

  /** The hits of every rule in one view (positions in the view). */
  const find = (view: string, prescan: Prescan, depth: number): Hit[] => {
    const hits: Hit[] = [];
    const encoded: Array<{ r: number; spans: Span[] }> = [];
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!;
      const kw = ruleKeywords[r];
      if (kw) {
        let any = false;
        for (let i = 0; i < kw.length && !any; i++) any = prescan.present[kw[i]!] === 1;
        if (!any) continue;
      }
      if (rule.decode) {
        // Decoded and searched after this loop: the search scans again, which reuses the prescan's buffers.
        if (depth < MAX_DECODE_DEPTH) encoded.push({ r, spans: [...rule.scan!(view)] });
      } else if (rule.scan) {
        for (const [s, e] of rule.scan(view)) accept(hits, view, r, s, e);
      } else if (rule.anchored) {
        for (const m of anchoredMatches(view, rule.anchored, prescan.startsOf(kw!))) if (m[0].length > 0) acceptMatch(hits, view, r, m);
      } else {
        const re = rule.pattern!;
        re.lastIndex = 0;
        let m: RegExpExecArray | null;
        while ((m = re.exec(view)) !== null) {
          if (m[0].length === 0) {
            re.lastIndex++;
            continue;
          }
          acceptMatch(hits, view, r, m);
        }
      }
    }
    if (encoded.length === 0) return hits;
    const byStart = [...hits].sort((a, b) => a.start - b.start);
    for (const { r, spans } of encoded) {
      // Spans come in increasing order: one pointer over the hits finds those starting before each.
      let j = 0;
      let reach = -1;
      for (const [s, e] of spans) {
        while (j < byStart.length && byStart[j]!.start <= s) reach = Math.max(reach, byStart[j++]!.end);
        // Already redacted as it stands: no need to look inside.
        if (reach >= e) continue;
        const decoded = rules[r]!.decode!(view.slice(s, e));
        if (decoded !== undefined && regionsOf(decoded, depth + 1).length > 0) accept(hits, view, r, s, e);
      }
    }
    return hits;
  };

  /** The merged regions of a text (positions in the text), over all of its views. */
  const regionsOf = (text: string, depth: number): Hit[] => {
    if (text.length === 0) return [];
    // The prescan of the text also says whether it has hidden characters (when it is ASCII): if
    // not, the text is its own first view and is not scanned again.
    const first = prescanner.scan(text);
    const views = viewsOf(text, first.hidden === false);
    const hits: Hit[] = [];
    for (let v = 0; v < views.length; v++) {
      const view = views[v]!;
      const prescan = v === 0 && view.text === text ? first : prescanner.scan(view.text);
      const found = find(view.text, prescan, depth);
      if (!view.starts) {
        for (const h of found) hits.push(h);
        continue;
      }
      // Back from the view to the text: the whole stored span the matched characters were read from.
      const starts = view.starts;
      const ends = view.ends!;
      for (const h of found) hits.push({ start: starts[h.start]!, end: ends[h.end - 1]!, from: starts[h.from]!, rule: h.rule });
    }
    if (hits.length === 0) return hits;
    hits.sort((a, b) => a.start - b.start || a.rule - b.rule);
    // Merge overlapping hits; the merged region takes the highest-priority (lowest index) rule.
    const merged: Hit[] = [];
    for (const h of hits) {
      const top = merged[merged.length - 1];
      if (top && h.start < top.end) {
        if (h.end > top.end) top.end = h.end;
        if (h.rule < top.rule) top.rule = h.rule;
        if (h.from < top.from) top.from = h.from;
      } else {
        merged.push({ ...h });
      }
    }
    return merged;
  };

  const regions = (text: string): RedactionRegion[] =>
    regionsOf(text, 0).map((h) => ({ start: h.start, end: h.end, from: h.from, rule: rules[h.rule]!.id }));
  return { version, regions, redact: (text: string): RedactionResult => applyRegions(text, regions(text)) };
}

/**
 * `text` with each region replaced by its `[REDACTED:<rule>]` marker, and the count per rule. Regions
 * must be disjoint and in order (as `Redactor.regions` returns them).
 */
export function applyRegions(text: string, regions: readonly RedactionRegion[], offset = 0): RedactionResult {
  const counts: Record<string, number> = {};
  if (regions.length === 0) return { text, counts };
  const parts: string[] = [];
  let last = 0;
  for (const h of regions) {
    const start = h.start - offset;
    const end = h.end - offset;
    if (start < last) continue; // cannot happen (regions are disjoint and ordered); defensive
    parts.push(text.slice(last, start), `[REDACTED:${h.rule}]`);
    counts[h.rule] = (counts[h.rule] ?? 0) + 1;
    last = end;
  }
  parts.push(text.slice(last));
  return { text: parts.join(''), counts };
}

let defaultRedactor: Redactor | undefined;

/** The built-in rule table, no allow-list. */
export function createDefaultRedactor(): Redactor {
  defaultRedactor ??= createRedactor();
  return defaultRedactor;
}
