import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Role that lets a client decide blocks held for a human (other users' blocks; its own only when allowed). */
export const APPROVER_ROLE = 'approver';

/** A bearer token and the user it stands for. */
export interface GatewayUser {
  userId: string;
  roles?: string[];
}

export function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

/** The user of a presented token, compared in constant time against every known token. */
export function findUser(users: Map<string, GatewayUser>, token: string | undefined): GatewayUser | undefined {
  if (!token) return undefined;
  const presented = Buffer.from(token);
  let found: GatewayUser | undefined;
  for (const [known, user] of users) {
    const candidate = Buffer.from(known);
    if (candidate.length === presented.length && timingSafeEqual(candidate, presented)) found = user;
  }
  return found;
}

export function isApprover(user: GatewayUser): boolean {
  return user.roles?.includes(APPROVER_ROLE) ?? false;
}

/**
 * Tokens file: {"<token>": {"user": "alice", "roles": ["approver"]}}. Throws Error with the reason when the
 * document is not of that shape.
 */
export function parseTokensDocument(doc: unknown, where: string): Map<string, GatewayUser> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${where}: expected {"<token>": {"user": "…", "roles": ["…"]}}`);
  const users = new Map<string, GatewayUser>();
  for (const [token, entry] of Object.entries(doc as Record<string, unknown>)) {
    const e = entry as { user?: unknown; roles?: unknown } | null;
    if (typeof e?.user !== 'string' || e.user.length === 0) throw new Error(`${where}: token entry without a "user" string`);
    if (e.roles !== undefined && (!Array.isArray(e.roles) || !e.roles.every((r) => typeof r === 'string'))) {
      throw new Error(`${where}: "roles" of user ${JSON.stringify(e.user)} must be an array of strings`);
    }
    users.set(token, { userId: e.user, ...(Array.isArray(e.roles) ? { roles: e.roles } : {}) });
  }
  return users;
}
