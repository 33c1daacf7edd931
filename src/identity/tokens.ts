// Fernet tokens whose payload carries everything a service needs to authorise a request: the
// user, scope, methods, audit ids, issue and expiry instants and the effective roles (implied
// ones included). Validation therefore never reads the database: it decrypts (or finds the
// token in a bounded cache of decrypted tokens), checks expiry and asks the in-memory
// revocation list. Changes that would alter a token's roles revoke it instead.
import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { AuthContext } from '../core/auth.ts';
import type { FernetKeys } from './fernet.ts';
import type { RevocationList, TokenValues } from './revoke.ts';

export interface RoleRef { id: string; name: string }

export interface TokenPayload {
  userId: string;
  userName: string;
  userDomainId: string;
  userDomainName: string;
  methods: string[];
  /** [own audit id] or [own audit id, audit id of the token it was rescoped from (chain root)] */
  auditIds: string[];
  issuedAt: number; // ms
  expiresAt: number; // ms
  project?: { id: string; name: string; domainId: string; domainName: string };
  domain?: { id: string; name: string };
  system?: string;
  roles: RoleRef[];
  isAdminProject: boolean;
  appCred?: { id: string; name: string; restricted: boolean };
}

export type TokenProblem = 'invalid' | 'expired' | 'revoked';

export class TokenError extends Error {
  readonly problem: TokenProblem;
  constructor(problem: TokenProblem) {
    super(`token ${problem}`);
    this.problem = problem;
  }
}

/** Keystone's audit ids: 16 random bytes, urlsafe base64 without padding. */
export const newAuditId = (): string => randomBytes(16).toString('base64url').slice(0, 22);

const PAYLOAD_VERSION = 1;
/** How long after expiry a token may still be validated with allow_expired (Keystone's default: 48 h). */
export const ALLOW_EXPIRED_WINDOW_MS = 48 * 3600_000;

function encode(p: TokenPayload): Buffer {
  const scope = p.project ? ['p', p.project.id, p.project.name, p.project.domainId, p.project.domainName]
    : p.domain ? ['d', p.domain.id, p.domain.name]
      : p.system ? ['s', p.system] : null;
  // Deflated: a token travels in every request header, and ids and role names repeat.
  return deflateRawSync(JSON.stringify([
    PAYLOAD_VERSION, p.userId, p.userName, p.userDomainId, p.userDomainName, p.methods, p.auditIds,
    p.issuedAt, p.expiresAt, scope, p.roles.flatMap((r) => [r.id, r.name]), p.isAdminProject ? 1 : 0,
    p.appCred ? [p.appCred.id, p.appCred.name, p.appCred.restricted ? 1 : 0] : 0,
  ]));
}

function decode(buf: Buffer): TokenPayload {
  const a = JSON.parse(inflateRawSync(buf, { maxOutputLength: 1 << 16 }).toString('utf8'));
  if (!Array.isArray(a) || a[0] !== PAYLOAD_VERSION || a.length !== 13) throw new TokenError('invalid');
  const [, userId, userName, userDomainId, userDomainName, methods, auditIds, issuedAt, expiresAt, scope, flatRoles, adm, ac] = a;
  const roles: RoleRef[] = [];
  for (let i = 0; i < flatRoles.length; i += 2) roles.push({ id: flatRoles[i], name: flatRoles[i + 1] });
  const p: TokenPayload = { userId, userName, userDomainId, userDomainName, methods, auditIds, issuedAt, expiresAt, roles, isAdminProject: adm === 1 };
  if (scope?.[0] === 'p') p.project = { id: scope[1], name: scope[2], domainId: scope[3], domainName: scope[4] };
  else if (scope?.[0] === 'd') p.domain = { id: scope[1], name: scope[2] };
  else if (scope?.[0] === 's') p.system = scope[1];
  if (Array.isArray(ac)) p.appCred = { id: ac[0], name: ac[1], restricted: ac[2] === 1 };
  return p;
}

export function revocationValues(p: TokenPayload): TokenValues {
  return {
    userId: p.userId,
    identityDomainId: p.userDomainId,
    projectId: p.project?.id,
    assignmentDomainId: p.project?.domainId ?? p.domain?.id,
    roleIds: p.roles.map((r) => r.id),
    auditId: p.auditIds[0],
    auditChainId: p.auditIds[p.auditIds.length - 1],
    applicationCredentialId: p.appCred?.id,
    scopeId: p.project?.id ?? p.domain?.id ?? (p.system ? 'system' : undefined),
    issuedAt: p.issuedAt,
  };
}

export function authContext(token: string, p: TokenPayload): AuthContext {
  return {
    token,
    userId: p.userId, userName: p.userName, userDomainId: p.userDomainId, userDomainName: p.userDomainName,
    projectId: p.project?.id, projectName: p.project?.name,
    projectDomainId: p.project?.domainId, projectDomainName: p.project?.domainName,
    domainId: p.domain?.id, domainName: p.domain?.name,
    system: p.system,
    roles: p.roles.map((r) => r.name),
    roleIds: p.roles.map((r) => r.id),
    methods: p.methods,
    issuedAt: isotime(p.issuedAt),
    expiresAt: isotime(p.expiresAt),
    auditIds: p.auditIds,
    isAdminProject: p.isAdminProject,
    applicationCredentialId: p.appCred?.id,
  };
}

/** Keystone's timestamps: ISO-8601 with microseconds and a Z. */
export function isotime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

interface Cached { payload: TokenPayload; auth: AuthContext }

export class TokenProvider {
  private keys: FernetKeys;
  private revocations: RevocationList;
  private cache = new Map<string, Cached>();
  private readonly cacheMax: number;
  private lastKeyReload = 0;

  constructor(keys: FernetKeys, revocations: RevocationList, opts: { cacheMax?: number } = {}) {
    this.keys = keys;
    this.revocations = revocations;
    this.cacheMax = opts.cacheMax ?? 10_000;
  }

  issue(p: TokenPayload): string {
    return this.keys.encrypt(encode(p), Math.floor(p.issuedAt / 1000));
  }

  private decrypt(token: string): Cached {
    const hit = this.cache.get(token);
    if (hit) {
      // Refresh its place in the LRU order.
      this.cache.delete(token);
      this.cache.set(token, hit);
      return hit;
    }
    let d = this.keys.decrypt(token);
    if (!d && Date.now() - this.lastKeyReload > 1000) {
      // Another process (or the rotate command) may have rotated the keys.
      this.lastKeyReload = Date.now();
      if (this.keys.load()) d = this.keys.decrypt(token);
    }
    if (!d) throw new TokenError('invalid');
    let payload: TokenPayload;
    try { payload = decode(d.plain); } catch { throw new TokenError('invalid'); }
    const entry = { payload, auth: authContext(token, payload) };
    this.cache.set(token, entry);
    if (this.cache.size > this.cacheMax) this.cache.delete(this.cache.keys().next().value!);
    return entry;
  }

  /** The token's payload and auth context; throws TokenError when invalid, expired or revoked. */
  check(token: string, opts: { allowExpired?: boolean } = {}): Cached {
    const c = this.decrypt(token);
    const now = Date.now();
    if (c.payload.expiresAt <= now && !(opts.allowExpired && c.payload.expiresAt + ALLOW_EXPIRED_WINDOW_MS > now)) {
      throw new TokenError('expired');
    }
    if (this.revocations.isRevoked(revocationValues(c.payload))) throw new TokenError('revoked');
    return c;
  }
}
