// POST /v3/auth/tokens: authenticates with every requested method (password, token,
// application_credential; all must name the same user), resolves the scope (explicit, the user's
// default project, or none), computes the effective roles and builds the token payload.
import { ApiError } from '../core/errors.ts';
import type { Queryable } from '../core/db/index.ts';
import { type Keystone, unauthorized, DEFAULT_DOMAIN_ID } from './keystone.ts';
import { check, type Schema } from './validate.ts';
import { getDomain, getDomainByName, type Domain } from './domains.ts';
import { getProject, getProjectByName, ancestors, type Project } from './projects.ts';
import { getUser, getUserByName, type User } from './users.ts';
import { effectiveRoleIds } from './assignments.ts';
import { roleRefs, expandImplied, listImplications } from './roles.ts';
import { getAppCred, getAppCredByName, expiresAtMs, type AppCred } from './appcreds.ts';
import { newAuditId, TokenError, type TokenPayload, type RoleRef } from './tokens.ts';

const idName: Schema = { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } };

/** Keystone's token_issue schema (keystone/auth/schema.py). */
const AUTH_SCHEMA: Schema = {
  type: 'object',
  required: ['identity'],
  properties: {
    identity: {
      type: 'object',
      required: ['methods'],
      properties: {
        methods: { type: 'array', items: { type: 'string' } },
        password: {
          type: 'object',
          properties: {
            user: {
              type: 'object',
              properties: { id: { type: 'string' }, name: { type: 'string' }, password: { type: 'string' }, domain: idName },
            },
          },
        },
        token: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
        application_credential: {
          type: 'object',
          properties: {
            id: { type: 'string' }, name: { type: 'string' }, secret: { type: 'string' },
            user: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, domain: idName } },
          },
        },
      },
    },
    scope: {
      type: ['object', 'string'],
      properties: {
        project: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, domain: idName } },
        domain: idName,
        'OS-TRUST:trust': { type: 'object', properties: { id: { type: 'string' } } },
        system: { type: 'object', properties: { all: { type: 'boolean' } } },
      },
    },
  },
};

function requireIdOrName(v: any, where: string) {
  if (v !== undefined && v !== null && !('id' in v) && !('name' in v)) {
    throw new ApiError(400, `Invalid input for field ${where}: id or name must be present.`);
  }
}

/** What one method proved. */
interface MethodResult {
  userId: string;
  /** token method: the original expiry, audit chain root and methods are kept */
  expiresAt?: number;
  parentAuditId?: string;
  methods?: string[];
  appCred?: AppCred;
  /** token method from a token that was made with an application credential */
  fromAppCredToken?: TokenPayload;
}

async function lookupDomain(q: Queryable, ref: { id?: string; name?: string }): Promise<Domain> {
  const d = ref.name !== undefined ? await getDomainByName(q, ref.name) : await getDomain(q, ref.id ?? '');
  if (!d) throw unauthorized(`Could not find domain: ${ref.name ?? ref.id}.`);
  if (!d.enabled) throw unauthorized();
  return d;
}

async function lookupUser(q: Queryable, ref: { id?: string; name?: string; domain?: { id?: string; name?: string } }): Promise<User> {
  let u: User | null;
  if (ref.id !== undefined) u = await getUser(q, ref.id);
  else {
    if (!ref.domain) throw new ApiError(400, 'Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
    const d = await lookupDomain(q, ref.domain);
    u = await getUserByName(q, d.id, ref.name ?? '');
  }
  if (!u) throw unauthorized();
  const d = await getDomain(q, u.domainId);
  if (!d?.enabled) throw unauthorized();
  if (!u.enabled) throw unauthorized(`The account is disabled for user: ${u.id}.`);
  return u;
}

async function passwordMethod(ks: Keystone, data: any): Promise<MethodResult> {
  const ref = data?.user;
  if (!ref) throw new ApiError(400, "Expecting to find user in password. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.");
  const u = await lookupUser(ks.db, ref);
  if (typeof ref.password !== 'string' || !(await ks.hasher.verify(ref.password, u.passwordHash, u.id))) throw unauthorized();
  return { userId: u.id };
}

function tokenMethod(ks: Keystone, data: any, scope: unknown): MethodResult {
  let p: TokenPayload;
  try {
    p = ks.tokens.check(data.id).payload;
  } catch (e) {
    if (e instanceof TokenError) throw new ApiError(404, `Could not find token: ${data.id}.`);
    throw e;
  }
  const wantsScope = scope !== undefined && scope !== null && typeof scope === 'object';
  const s = (scope ?? {}) as Record<string, unknown>;
  if (p.system && ('project' in s || 'domain' in s)) {
    throw new ApiError(403, 'You are not authorized to perform the requested action: Using a system-scoped token to create a project-scoped or domain-scoped token is not allowed.');
  }
  if (p.appCred && wantsScope && Object.keys(s).length) {
    throw new ApiError(403, 'You are not authorized to perform the requested action: Using an application credential token to create a scoped token is not allowed.');
  }
  return {
    userId: p.userId, expiresAt: p.expiresAt, parentAuditId: p.auditIds[p.auditIds.length - 1], methods: p.methods,
    fromAppCredToken: p.appCred ? p : undefined,
  };
}

async function appCredMethod(ks: Keystone, data: any): Promise<MethodResult> {
  let cred: AppCred | null;
  if (data.id !== undefined) {
    cred = await getAppCred(ks.db, data.id);
    if (!cred) throw new ApiError(404, `Could not find Application Credential: ${data.id}.`);
  } else {
    if (data.name === undefined) throw new ApiError(400, 'Expecting to find name or ID in application credential. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
    if (!data.user) throw new ApiError(400, 'Expecting to find user in application credential. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
    const u = await lookupUser(ks.db, data.user);
    cred = await getAppCredByName(ks.db, u.id, data.name);
    if (!cred) throw unauthorized(`Could not find application credential: ${data.name}`);
  }
  const u = await getUser(ks.db, cred.userId);
  const d = u ? await getDomain(ks.db, u.domainId) : null;
  if (!u || !u.enabled || !d?.enabled) throw unauthorized();
  if (typeof data.secret !== 'string' || !(await ks.hasher.verify(data.secret, cred.secretHash, `appcred:${cred.id}`))) {
    throw unauthorized('Error when authenticating with application credential: Invalid application credential.');
  }
  const expires = expiresAtMs(cred);
  if (expires !== null && expires <= Date.now()) {
    throw unauthorized('Error when authenticating with application credential: Application credential has expired.');
  }
  return { userId: u.id, appCred: cred };
}

/** Resolves the project named in a scope; every failure is a 401, as in Keystone. */
async function lookupProject(q: Queryable, ref: { id?: string; name?: string; domain?: { id?: string; name?: string } }): Promise<Project> {
  let p: Project | null;
  if (ref.name !== undefined) {
    if (!ref.domain) throw new ApiError(400, 'Expecting to find domain in project. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
    const d = await lookupDomain(q, ref.domain);
    p = await getProjectByName(q, d.id, ref.name);
  } else {
    p = await getProject(q, ref.id ?? '');
    if (p) await lookupDomain(q, { id: p.domainId });
  }
  if (!p) throw unauthorized(`Could not find project: ${ref.name ?? ref.id}.`);
  if (!p.enabled || (await ancestors(q, p)).some((a) => !a.enabled)) throw unauthorized(`Project ${p.id} is disabled`);
  return p;
}

/** The admin project (Keystone's [resource] admin_project_name/admin_project_domain_name). */
export const ADMIN_PROJECT = { name: 'admin', domainId: DEFAULT_DOMAIN_ID };

export async function authenticate(ks: Keystone, body: unknown): Promise<TokenPayload> {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !('auth' in body)) {
    throw new ApiError(400, "Invalid input for field 'auth': 'auth' is a required property");
  }
  const auth = (body as any).auth;
  check(AUTH_SCHEMA, auth, 'auth');
  requireIdOrName(auth.identity.password?.user, 'identity/password/user');
  requireIdOrName(auth.identity.password?.user?.domain, 'identity/password/user/domain');
  const scope = auth.scope;
  if (scope && typeof scope === 'object') {
    requireIdOrName(scope.project, 'scope/project');
    requireIdOrName(scope.project?.domain, 'scope/project/domain');
    requireIdOrName(scope.domain, 'scope/domain');
  }
  const methods: string[] = auth.identity.methods;
  if (!methods.length) throw unauthorized();

  const results: MethodResult[] = [];
  for (const m of new Set(methods)) {
    const data = auth.identity[m];
    if (!['password', 'token', 'application_credential'].includes(m)) throw unauthorized('Attempted to authenticate with an unsupported method.');
    if (data === undefined) throw new ApiError(400, `Expecting to find ${m} in identity. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.`);
    if (m === 'password') results.push(await passwordMethod(ks, data));
    else if (m === 'token') results.push(tokenMethod(ks, data, scope));
    else results.push(await appCredMethod(ks, data));
  }
  const userId = results[0].userId;
  if (results.some((r) => r.userId !== userId)) throw unauthorized('User IDs do not match');
  const user = await getUser(ks.db, userId);
  if (!user || !user.enabled) throw unauthorized();
  const userDomain = await getDomain(ks.db, user.domainId);
  if (!userDomain?.enabled) throw unauthorized();

  const appCred = results.find((r) => r.appCred)?.appCred;
  const fromAppCredToken = results.find((r) => r.fromAppCredToken)?.fromAppCredToken;
  const viaToken = results.find((r) => r.expiresAt !== undefined);
  const now = Date.now();
  const payload: TokenPayload = {
    userId, userName: user.name, userDomainId: user.domainId, userDomainName: userDomain.name,
    methods: [...new Set([...methods, ...results.flatMap((r) => r.methods ?? [])])],
    auditIds: viaToken ? [newAuditId(), viaToken.parentAuditId!] : [newAuditId()],
    issuedAt: now,
    expiresAt: viaToken?.expiresAt ?? now + ks.ctx.config.tokenExpirationSec * 1000,
    roles: [], isAdminProject: false,
  };

  if (appCred || fromAppCredToken) {
    if (appCred && scope !== undefined) throw unauthorized('Error when authenticating with application credential: Application credentials cannot request a scope.');
    const cred = appCred ?? (await getAppCred(ks.db, fromAppCredToken!.appCred!.id));
    if (!cred) throw unauthorized();
    const credExpires = expiresAtMs(cred);
    // A token does not outlive the credential it was made with.
    if (credExpires !== null && credExpires <= now) throw unauthorized('Error when authenticating with application credential: Application credential has expired.');
    if (credExpires !== null) payload.expiresAt = Math.min(payload.expiresAt, credExpires);
    const p = await lookupProject(ks.db, { id: cred.projectId ?? '' });
    const held = await effectiveRoleIds(ks.db, userId, { projectId: p.id }, p);
    const delegated = cred.roles.filter((r) => held.has(r.id)).map((r) => r.id);
    if (!delegated.length) throw unauthorized(`User ${userId} has no access to project ${p.id}`);
    // Delegated roles bring the roles they imply (still only ones the user holds), so "member"
    // works where a rule asks for "reader", as in any other token.
    const implied = expandImplied(delegated, await listImplications(ks.db));
    await scopeToProject(ks, payload, p, await roleRefs(ks.db, [...implied].filter((id) => held.has(id))));
    payload.appCred = { id: cred.id, name: cred.name, restricted: !cred.unrestricted };
    return payload;
  }

  if (scope === undefined || scope === null) {
    // Keystone scopes to the user's default project when it is usable.
    if (user.defaultProjectId) {
      const p = await getProject(ks.db, user.defaultProjectId);
      const d = p ? await getDomain(ks.db, p.domainId) : null;
      if (p && p.enabled && d?.enabled) {
        const roles = await effectiveRoleIds(ks.db, userId, { projectId: p.id }, p);
        if (roles.size) await scopeToProject(ks, payload, p, await roleRefs(ks.db, roles));
      }
    }
    return payload;
  }
  if (typeof scope === 'string') {
    if (scope !== 'unscoped') throw new ApiError(400, "Invalid input for field 'scope': expecting 'unscoped'");
    return payload;
  }
  const kinds = ['project', 'domain', 'unscoped', 'system', 'OS-TRUST:trust'].filter((k) => k in scope);
  if (kinds.length !== 1) {
    throw new ApiError(400, 'Expecting to find system, project, domain, OS-TRUST:trust or unscoped in scope. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
  }
  const kind = kinds[0];
  if (kind === 'unscoped') return payload;
  if (kind === 'OS-TRUST:trust') throw new ApiError(403, 'You are not authorized to perform the requested action: trusts are not supported by this cloud.');
  if (kind === 'system') {
    if (scope.system.all !== true) throw new ApiError(400, "Invalid input for field 'system': only {\"all\": true} is a valid system scope");
    const roles = await effectiveRoleIds(ks.db, userId, { system: true });
    if (!roles.size) throw unauthorized(`User ${userId} has no access to the system`);
    payload.system = 'all';
    payload.roles = await roleRefs(ks.db, roles);
    return payload;
  }
  if (kind === 'domain') {
    const d = await lookupDomain(ks.db, scope.domain);
    const roles = await effectiveRoleIds(ks.db, userId, { domainId: d.id });
    if (!roles.size) throw unauthorized(`User ${userId} has no access to domain ${d.id}`);
    payload.domain = { id: d.id, name: d.name };
    payload.roles = await roleRefs(ks.db, roles);
    return payload;
  }
  const p = await lookupProject(ks.db, scope.project);
  const roles = await effectiveRoleIds(ks.db, userId, { projectId: p.id }, p);
  if (!roles.size) throw unauthorized(`User ${userId} has no access to project ${p.id}`);
  await scopeToProject(ks, payload, p, await roleRefs(ks.db, roles));
  return payload;
}

async function scopeToProject(ks: Keystone, payload: TokenPayload, p: Project, roles: RoleRef[]) {
  const d = await getDomain(ks.db, p.domainId);
  payload.project = { id: p.id, name: p.name, domainId: p.domainId, domainName: d?.name ?? p.domainId };
  payload.roles = roles;
  payload.isAdminProject = p.name === ADMIN_PROJECT.name && p.domainId === ADMIN_PROJECT.domainId;
}

/**
 * A project-scoped token for a user, issued in-process for a service acting on the user's
 * behalf later (Heat's engine running a stack operation after the request's token expired:
 * what Keystone trusts give Heat upstream). The user must still be enabled and hold a role on
 * the project; the token carries the roles the user holds now.
 */
export async function issueDelegatedToken(ks: Keystone, userId: string, projectId: string): Promise<{ token: string; expiresAt: number }> {
  const user = await getUser(ks.db, userId);
  if (!user || !user.enabled) throw unauthorized();
  const userDomain = await getDomain(ks.db, user.domainId);
  if (!userDomain?.enabled) throw unauthorized();
  const p = await lookupProject(ks.db, { id: projectId });
  const roles = await effectiveRoleIds(ks.db, userId, { projectId: p.id }, p);
  if (!roles.size) throw unauthorized(`User ${userId} has no access to project ${p.id}`);
  const now = Date.now();
  const payload: TokenPayload = {
    userId, userName: user.name, userDomainId: user.domainId, userDomainName: userDomain.name,
    methods: ['password'], auditIds: [newAuditId()], issuedAt: now,
    expiresAt: now + ks.ctx.config.tokenExpirationSec * 1000, roles: [], isAdminProject: false,
  };
  await scopeToProject(ks, payload, p, await roleRefs(ks.db, roles));
  return { token: ks.tokens.issue(payload), expiresAt: payload.expiresAt };
}
