import { createHmac, randomBytes } from 'node:crypto';

/** A keyed-hash key for user pseudonyms; kept apart from integrity keys. */
export interface PseudonymKey {
  id: string;
  secret: Buffer;
}

/**
 * Keyed HMAC-SHA256 pseudonyms: `<key id>:<first 32 hex of HMAC(user id)>`. The key id prefix lets keys
 * rotate without old pseudonyms becoming ambiguous; without the key, a pseudonym cannot be reversed
 * by guessing user ids.
 */
export class Pseudonymizer {
  constructor(private readonly key: PseudonymKey) {}

  static ephemeral(): Pseudonymizer {
    return new Pseudonymizer({ id: 'ephemeral', secret: randomBytes(32) });
  }

  get keyId(): string {
    return this.key.id;
  }

  pseudonymize(userId: string): string {
    const mac = createHmac('sha256', this.key.secret).update(userId, 'utf8').digest('hex');
    return `${this.key.id}:${mac.slice(0, 32)}`;
  }
}
