// The identity service's state: database, Fernet keys, token provider, revocation list and
// password hasher, shared by the resource files and routes. One instance per running cloud.
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Database } from '../core/db/index.ts';
import { ApiError, forbidden } from '../core/errors.ts';
import { policyCredentials, type AuthContext } from '../core/auth.ts';
import { FernetKeys } from './fernet.ts';
import { RevocationList } from './revoke.ts';
import { TokenProvider, TokenError, ALLOW_EXPIRED_WINDOW_MS } from './tokens.ts';
import { PasswordHasher } from './passwords.ts';
import { CatalogCache } from './catalog.ts';

export const DEFAULT_DOMAIN_ID = 'default';
/** Keystone's stand-in for "no domain" in role rows (global roles), so UNIQUE(name, domain_id) works. */
export const NULL_DOMAIN_ID = '<<null>>';
/** Keystone's target id for system role assignments. */
export const SYSTEM_TARGET = 'system';

export class Keystone {
  readonly ctx: Context;
  readonly db: Database;
  readonly fernet: FernetKeys;
  readonly revocations: RevocationList;
  readonly tokens: TokenProvider;
  readonly hasher: PasswordHasher;
  readonly catalog: CatalogCache;

  constructor(ctx: Context) {
    this.ctx = ctx;
    this.db = ctx.db;
    this.fernet = new FernetKeys(join(ctx.config.dataDir, 'fernet-keys'));
    this.fernet.setup();
    const expiry = ctx.config.tokenExpirationSec * 1000;
    // Events must outlive every token they can match, allow_expired window included.
    this.revocations = new RevocationList(ctx.db, expiry + ALLOW_EXPIRED_WINDOW_MS + 60_000);
    this.tokens = new TokenProvider(this.fernet, this.revocations);
    this.hasher = new PasswordHasher();
    this.catalog = new CatalogCache(ctx.db);
  }

  /** Base URL of the v3 API for links, e.g. http://127.0.0.1:5000/identity/v3 */
  get v3(): string { return `${this.ctx.config.publicUrl}/identity/v3`; }

  /** Validates X-Auth-Token for the caller (401 on any problem) and sets req.auth. */
  authenticate = async (req: FastifyRequest): Promise<void> => {
    const tok = req.headers['x-auth-token'];
    if (typeof tok !== 'string' || !tok) throw unauthorized();
    try {
      req.auth = this.tokens.check(tok).auth;
    } catch (e) {
      if (e instanceof TokenError) throw unauthorized();
      throw e;
    }
  };

  /**
   * Checks an identity:* policy rule against the caller; throws 403. `target` holds the objects
   * concerned ({project: {...}, user: {...}}) and request values such as user_id.
   */
  enforce(req: FastifyRequest, rule: string, target: Record<string, unknown> = {}): void {
    const auth = req.auth!;
    if (!this.allowed(auth, rule, target)) {
      throw forbidden(`You are not authorized to perform the requested action: ${rule}.`);
    }
  }

  /** The same check as a boolean (to filter lists). */
  allowed(auth: AuthContext, rule: string, target: Record<string, unknown> = {}): boolean {
    // As Keystone's enforcer: the target is reachable as %(target.x)s, request values as %(x)s.
    return this.ctx.policy.check(rule, credentials(auth), { ...target, target });
  }

  private keyTimer: NodeJS.Timeout | undefined;

  /** Background refreshes: revocation events from other processes, rotated Fernet keys. */
  start() {
    this.revocations.start();
    this.keyTimer = setInterval(() => {
      try { this.fernet.load(); } catch (e) { this.ctx.log.error('reading the Fernet keys failed', e); }
    }, 10_000);
    this.keyTimer.unref();
  }

  async close() {
    this.revocations.stop();
    if (this.keyTimer) clearInterval(this.keyTimer);
    await this.hasher.close();
  }
}

/** oslo.context's credentials plus the token attributes Keystone's own rules look at. */
function credentials(a: AuthContext): Record<string, unknown> {
  return {
    ...policyCredentials(a),
    token: {
      user_id: a.userId,
      domain: { id: a.domainId ?? null },
      project: { id: a.projectId ?? null, domain: { id: a.projectDomainId ?? null } },
      system: a.system ?? null,
    },
  };
}

export function unauthorized(msg = 'The request you have made requires authentication.'): ApiError {
  return new ApiError(401, msg);
}

export function notFound(kind: string, id: string): ApiError {
  return new ApiError(404, `Could not find ${kind}: ${id}.`);
}

export function conflict(kind: string, detail: string): ApiError {
  return new ApiError(409, `Conflict occurred attempting to store ${kind} - ${detail}.`);
}

export function validationError(msg: string): ApiError {
  return new ApiError(400, msg);
}
