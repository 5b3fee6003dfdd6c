import type { RedactionRule } from './redactor.js';
import { scanCards, scanMysqlPasswords, scanPrivateKeys, scanYamlBlockSecrets } from './scanners.js';
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
import { base64EntropyThreshold, hasDigit, hasLower, hasUpper, shannonEntropy } from './validators.js';
import {
  assignmentValue,
  CHECKSUM_LINE_TAIL,
  HASH_LABEL,
  isCode,
  NETRC_CONTEXT,
  NETRC_STOPWORD,
  PLACEHOLDER,
  randomToken,
  shellWorkingDirectory,
} from './value-checks.js';

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
      "Other providers' tokens with a fixed shape: Google OAuth client secret (GOCSPX-), SendGrid (SG.), Databricks (dapi), DigitalOcean (dop_v1_), Shopify (shpat_), HashiCorp Vault (hvs.), age secret keys, Grafana (glsa_, glc_), Postman (PMAK-), Linear (lin_api_), Doppler (dp.pt.), Brevo (xkeysib-), Twilio (SK…), Atlassian (ATATT)",
    keywords: [
      'gocspx-',
      'sg.',
      'dapi',
      '_v1_',
      'shp',
      'hvs.',
      'hvb.',
      'hvr.',
      'age-secret-key-',
      'glsa_',
      'glc_',
      'pmak-',
      'lin_api_',
      'dp.pt.',
      'xkeysib-',
      'sk',
      'atatt3',
    ],
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
      !PLACEHOLDER.test(secret) && !NETRC_STOPWORD.test(secret) && NETRC_CONTEXT.test(text.slice(Math.max(0, start - 512), start)),
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
    pattern: new RegExp(
      String.raw`${KEY_PRE}(?:password|passwd|passphrase|pwd|(?<![A-Za-z0-9])pass(?![A-Za-z]))${KEY_POST}${SEP}${VALUE}`,
      'dgi',
    ),
    group: [1, 2, 3],
    // Every alternative starts with a keyword, at most 64 (KEY_PRE) key characters into the key name.
    anchor: { run: KEY_CHARS, maxBack: 64 },
    validate: (secret, text, start, end) =>
      !shellWorkingDirectory(secret, text, start) && assignmentValue(3, 0, false)(secret, text, start, end),
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
    description:
      'Environment-style assignment NAME_PASS=, _PASSWD=, _PWD=, _PW=, _SECRET=, _TOKEN=, _API_KEY=, _AUTH=… (upper-case name, no spaces)',
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
