import { hasDigit, shannonEntropy } from './validators.js';

/**
 * What a matched value is not: placeholders, code, prose, shell directories, labelled hashes. The
 * rule table's validators combine these so a key name alone does not redact a non-secret.
 */

/** Values that are obviously not secrets: placeholders, literals, template variables. */
export const PLACEHOLDER =
  /^(?:null|none|nil|true|false|undefined|empty|required|optional|string|changeme_?later|\*{1,64}|x{3,64}|\.{3}|<[^<>]{0,64}>|\$\{?[A-Za-z_][A-Za-z0-9_]{0,64}\}?|%\(?[A-Za-z_]{0,64}\)?s?|\{\{[^{}]{0,64}\}\}|\[REDACTED:[a-z0-9-]{1,40}\])$/i;

/** Words after `password ` in prose, not a .netrc value. */
export const NETRC_STOPWORD = /^(?:is|was|for|of|and|or|the|to|will|must|should|required|prompt|reset|manager|field|here|again|:)$/i;
/** A .netrc entry before the password: a `machine`/`default` or `login` token. */
export const NETRC_CONTEXT = /(?:^|\s)(?:machine|default|login)\s/;

/** `PWD=/home/…`, `OLDPWD=/tmp`: the shell's working directories (in `env` output), not MySQL's password. */
export function shellWorkingDirectory(secret: string, text: string, start: number): boolean {
  return secret.startsWith('/') && /(?:^|[^A-Za-z0-9_])(?:OLD)?PWD=["']?$/.test(text.slice(Math.max(0, start - 8), start));
}

/** Unquoted values that are code (a lookup, a call), not a literal secret. */
const CODE_PREFIX =
  /^(?:os\.environ|os\.getenv|process\.env|getpass|self\.|this\.|config\.|settings\.|env\.|args\.|opts\.|options\.|request\.|req\.|params\.|input$|System\.getenv|ENV\[|getenv)/i;

function quoted(text: string, start: number): boolean {
  const c = text[start - 1];
  return c === '"' || c === "'";
}

export function isCode(secret: string, text: string, start: number, end: number): boolean {
  if (quoted(text, start)) return false;
  const next = text[end];
  if (next === '(' || next === '[') return true;
  return CODE_PREFIX.test(secret);
}

/**
 * Whether an assignment's value is a literal secret. Quoted values are (the key says what they are);
 * unquoted ones must not be code (`os.environ[…]`, a call) and must be long and varied enough.
 */
export function assignmentValue(minUnquoted: number, minEntropy: number, requireLetter: boolean) {
  return (secret: string, text: string, start: number, end: number): boolean => {
    if (PLACEHOLDER.test(secret)) return false;
    if (quoted(text, start)) return secret.length > 0;
    if (secret.length < minUnquoted || isCode(secret, text, start, end)) return false;
    if (requireLetter && !/[A-Za-z]/.test(secret)) return false;
    return shannonEntropy(secret) >= minEntropy;
  };
}

/** Random-looking: the length-adjusted entropy gate plus at least a digit and a letter. */
export function randomToken(minEntropy = 3): (secret: string) => boolean {
  return (secret) => hasDigit(secret) && /[A-Za-z]/.test(secret) && shannonEntropy(secret) >= minEntropy;
}

/**
 * A hash labelled as such (`sha256:…`, `commit …`, `checksum = …`, `/commit/…`) is an identifier, not a
 * secret. An unlabelled hex token is redacted: a session token and a digest have the same shape.
 */
export const HASH_LABEL =
  /(?:sha(?:1|224|256|384|512)?(?:sum)?[:= -]|md5(?:sum)?[:= -]|(?:commit|tree|parent|object|revision|rev|hash|checksum|digest|etag|integrity|oid)["']?[ \t]{0,2}[:=]?[ \t]{0,2}["']?|@sha256:|\/(?:commit|commits|blob|tree)\/)$/i;

/** `sha256sum`/`md5sum` output: the digest, two spaces (or ` *`), a file name. */
export const CHECKSUM_LINE_TAIL = /^(?: [ *][^\s]|\t[^\s])/;
