// What every service knows about the caller once its token is validated. Tokens are issued and
// validated by the identity module (Fernet-style, no database lookup); the other services only
// see this shape through `ctx.tokens.validate`.
import type { FastifyRequest } from 'fastify';
import { unauthorized } from './errors.ts';

export interface AuthContext {
  token: string;
  userId: string;
  userName: string;
  userDomainId: string;
  userDomainName: string;
  /** Project scope */
  projectId?: string;
  projectName?: string;
  projectDomainId?: string;
  projectDomainName?: string;
  /** Domain scope */
  domainId?: string;
  domainName?: string;
  /** System scope ('all') */
  system?: string;
  /** Effective role names and ids, implied roles included. */
  roles: string[];
  roleIds: string[];
  methods: string[];
  issuedAt: string;
  expiresAt: string;
  auditIds: string[];
  isAdminProject: boolean;
  applicationCredentialId?: string;
}

export interface TokenValidator {
  /** Throws ApiError(401/404) when the token is malformed, expired or revoked. */
  validate(token: string): Promise<AuthContext>;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
}

/** The credentials dict that policy rules are checked against, as oslo.context builds it. */
export function policyCredentials(a: AuthContext): Record<string, unknown> {
  return {
    user_id: a.userId,
    user_domain_id: a.userDomainId,
    project_id: a.projectId ?? null,
    project_domain_id: a.projectDomainId ?? null,
    domain_id: a.domainId ?? null,
    system_scope: a.system ?? null,
    roles: a.roles,
    is_admin_project: a.isAdminProject,
    'token.is_admin_project': a.isAdminProject,
  };
}

/** Fastify preHandler factory: validates X-Auth-Token and sets request.auth. */
export function requireToken(tokens: TokenValidator) {
  return async (req: FastifyRequest) => {
    const tok = req.headers['x-auth-token'];
    if (typeof tok !== 'string' || !tok) throw unauthorized();
    req.auth = await tokens.validate(tok);
  };
}
