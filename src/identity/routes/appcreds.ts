// /v3/users/{user_id}/application_credentials and /v3/users/{user_id}/access_rules.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { type Keystone, notFound } from '../keystone.ts';
import { member, name255, type Schema } from '../validate.ts';
import { getAppCred, listAppCreds, createAppCred, deleteAppCred, appCredView } from '../appcreds.ts';
import { getRole, getRoleByName } from '../roles.ts';
import type { RoleRef } from '../tokens.ts';
import { effectiveRoleIds } from '../assignments.ts';
import { query, collection } from './common.ts';

const APP_CRED_SCHEMA: Schema = {
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: name255,
    description: { type: ['string', 'null'], maxLength: 255 },
    secret: { type: ['string', 'null'], minLength: 1, maxLength: 4096 },
    expires_at: { type: ['string', 'null'] },
    roles: {
      type: 'array',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, name: { type: 'string' }, domain_id: { type: ['string', 'null'] } },
        minProperties: 1,
      },
    },
    unrestricted: { type: 'boolean' },
    access_rules: { type: 'array', items: { type: 'object' } },
  },
};

/**
 * Parses an ISO-8601 instant and renders it the way Keystone returns it: UTC, no zone suffix,
 * microseconds kept when given (Python's datetime.isoformat()).
 */
export function normalizeExpiry(s: string): { iso: string; ms: number } {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,6})\d*)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(s.trim());
  if (!m) throw new ApiError(400, `Invalid input for field 'expires_at': '${s}' is not a valid ISO 8601 date-time`);
  const frac = (m[3] ?? '').padEnd(6, '0');
  const zone = !m[4] || m[4].toUpperCase() === 'Z' ? 'Z' : m[4];
  const ms = Date.parse(`${m[1]}T${m[2].length === 5 ? m[2] + ':00' : m[2]}.${frac.slice(0, 3)}${zone}`);
  if (Number.isNaN(ms)) throw new ApiError(400, `Invalid input for field 'expires_at': '${s}' is not a valid ISO 8601 date-time`);
  const utc = new Date(ms).toISOString().slice(0, 19);
  return { iso: frac === '000000' ? utc : `${utc}.${frac}`, ms };
}

export async function appCredRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };
  const userId = (req: FastifyRequest) => (req.params as { user_id: string }).user_id;

  // A restricted application credential may not make or remove application credentials.
  const noRestrictedAppCred = (req: FastifyRequest) => {
    const a = req.auth!;
    if (a.applicationCredentialId && ks.tokens.check(a.token).payload.appCred?.restricted) {
      throw new ApiError(403, "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional application credentials.");
    }
  };

  app.get('/users/:user_id/application_credentials', authed, async (req) => {
    ks.enforce(req, 'identity:list_application_credentials', { user_id: userId(req) });
    const q = query(req);
    const creds = await listAppCreds(ks.db, userId(req), q.name);
    return collection(ks, req, 'application_credentials', creds.map((c) => appCredView(ks, c)));
  });

  app.post('/users/:user_id/application_credentials', authed, async (req, reply) => {
    ks.enforce(req, 'identity:create_application_credential', { user_id: userId(req) });
    const f = member(req.body, 'application_credential', APP_CRED_SCHEMA);
    noRestrictedAppCred(req);
    const a = req.auth!;
    if (a.userId !== userId(req)) throw new ApiError(403, 'You are not authorized to perform the requested action: Cannot create an application credential for another user.');
    if (!a.projectId) throw new ApiError(400, 'Application credentials can only be created with a project-scoped token.');
    if (f.access_rules?.length) throw new ApiError(400, 'Application credential access rules are not supported by this cloud.');
    let expiresAt: string | null = null;
    if (f.expires_at) {
      const e = normalizeExpiry(f.expires_at);
      if (e.ms <= Date.now()) throw new ApiError(400, "Invalid application credential: The 'expires_at' must not be before now.");
      expiresAt = e.iso;
    }
    // The roles delegated: those asked for (each one the user holds on the project now), or all
    // of the token's.
    let roles: RoleRef[];
    if (f.roles) {
      const held = await effectiveRoleIds(ks.db, a.userId, { projectId: a.projectId });
      roles = [];
      for (const r of f.roles as Array<{ id?: string; name?: string; domain_id?: string | null }>) {
        const role = r.id !== undefined ? await getRole(ks.db, r.id) : await getRoleByName(ks.db, r.name ?? '', r.domain_id ?? null);
        if (!role || !held.has(role.id)) {
          throw new ApiError(400, `Invalid application credential: Could not find role assignment with role: ${r.id ?? r.name}, user or group: ${a.userId}, project, domain, or system: ${a.projectId}.`);
        }
        if (!roles.some((x) => x.id === role.id)) roles.push({ id: role.id, name: role.name });
      }
    } else {
      roles = a.roleIds.map((id, i) => ({ id, name: a.roles[i] }));
    }
    // Keystone's generated secrets: 64 random bytes, urlsafe base64 without padding.
    const secret: string = f.secret ?? randomBytes(64).toString('base64url');
    const secretHash = await ks.hasher.hash(secret);
    const cred = await ks.db.tx((tx) => createAppCred(tx, {
      name: f.name, userId: a.userId, projectId: a.projectId!, secretHash, description: f.description ?? null,
      expiresAt, unrestricted: f.unrestricted ?? false, system: null, roles, accessRules: [],
    }));
    reply.code(201);
    return { application_credential: appCredView(ks, cred, secret) };
  });

  const credOf = async (req: FastifyRequest, rule: string) => {
    const { user_id, id } = req.params as { user_id: string; id: string };
    const c = await getAppCred(ks.db, id);
    // The owner is the credential's user (Keystone's _update_request_user_id_attribute).
    ks.enforce(req, rule, { user_id: c?.userId ?? user_id });
    if (!c || c.userId !== user_id) throw notFound('application credential', id);
    return c;
  };

  app.get('/users/:user_id/application_credentials/:id', authed, async (req) => ({
    application_credential: appCredView(ks, await credOf(req, 'identity:get_application_credential')),
  }));

  app.delete('/users/:user_id/application_credentials/:id', authed, async (req, reply) => {
    const c = await credOf(req, 'identity:delete_application_credential');
    noRestrictedAppCred(req);
    await ks.db.tx((tx) => deleteAppCred(ks, tx, c));
    reply.code(204).send();
  });

  // No application credential carries access rules here (creation with rules is refused).
  app.get('/users/:user_id/access_rules', authed, async (req) => {
    ks.enforce(req, 'identity:list_access_rules', { user: { id: userId(req) } });
    return collection(ks, req, 'access_rules', []);
  });
  app.get('/users/:user_id/access_rules/:id', authed, async (req) => {
    ks.enforce(req, 'identity:get_access_rule', { user: { id: userId(req) } });
    throw notFound('access rule', (req.params as { id: string }).id);
  });
  app.delete('/users/:user_id/access_rules/:id', authed, async (req) => {
    ks.enforce(req, 'identity:delete_access_rule', { user: { id: userId(req) } });
    throw notFound('access rule', (req.params as { id: string }).id);
  });
}
