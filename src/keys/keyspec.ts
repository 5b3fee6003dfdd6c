/** A configured secret: `<keyid>:<secret>` with the secret in hex or base64 (or `<keyid>:hex:…`, `<keyid>:base64:…`). */
export interface KeySpec {
  id: string;
  secret: Buffer;
}

/** Secrets shorter than this are refused: a guessable key makes keyed hashes and MACs worthless. */
export const MIN_SECRET_BYTES = 16;

const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;

/** Decode hex (preferred when the text is valid hex) or base64/base64url. */
export function decodeSecret(text: string, source: string): Buffer {
  let enc: 'hex' | 'base64' | undefined;
  let body = text.trim();
  const explicit = /^(hex|base64|b64):/.exec(body);
  if (explicit) {
    enc = explicit[1] === 'hex' ? 'hex' : 'base64';
    body = body.slice(explicit[0].length);
  }
  if (!enc) enc = /^(?:[0-9a-fA-F]{2})+$/.test(body) ? 'hex' : 'base64';
  if (enc === 'hex' && !/^(?:[0-9a-fA-F]{2})+$/.test(body)) throw new Error(`${source}: secret is not valid hex`);
  if (enc === 'base64' && !/^[A-Za-z0-9+/_-]+={0,2}$/.test(body)) throw new Error(`${source}: secret is neither hex nor base64`);
  const secret = Buffer.from(body, enc === 'hex' ? 'hex' : 'base64');
  if (secret.length < MIN_SECRET_BYTES) {
    throw new Error(`${source}: secret is ${secret.length} bytes; at least ${MIN_SECRET_BYTES} (32 recommended) are required`);
  }
  return secret;
}

/**
 * Parse `<keyid>:<secret>`; with `requireId: false`, a bare `<secret>` gets the id `default`.
 * Error messages name the source (variable or file), never the secret.
 */
export function parseKeySpec(text: string, source: string, opts: { requireId: boolean; defaultId?: string }): KeySpec {
  const t = text.trim();
  const colon = t.indexOf(':');
  const head = colon === -1 ? '' : t.slice(0, colon);
  if (colon === -1 || head === 'hex' || head === 'base64' || head === 'b64') {
    if (opts.requireId) throw new Error(`${source}: expected <keyid>:<secret> (hex or base64)`);
    return { id: opts.defaultId ?? 'default', secret: decodeSecret(t, source) };
  }
  if (!KEY_ID.test(head)) throw new Error(`${source}: key id must be 1–32 of [A-Za-z0-9._-]`);
  return { id: head, secret: decodeSecret(t.slice(colon + 1), source) };
}
