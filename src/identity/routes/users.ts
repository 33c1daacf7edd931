// /v3/users, a user's groups and projects, and the self-service password change. As Keystone,
// the policy check comes first with whatever target exists (a missing user gives an empty
// target, so only callers allowed anyway learn that it does not exist).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { type Keystone, notFound, unauthorized, DEFAULT_DOMAIN_ID } from '../keystone.ts';
import { member, name255, description, idOrNull, idString, type Schema } from '../validate.ts';
import { getUser, requireUser, listUsers, createUser, updateUser, deleteUser, userView, USER_OPTIONS, type User } from '../users.ts';
import { requireDomain } from '../domains.ts';
import { listGroups, groupView } from '../groups.ts';
import { listProjects, projectView } from '../projects.ts';
import { projectIdsForUser } from '../assignments.ts';
import { enabledFilter, query, collection } from './common.ts';

const options: Schema = {
  type: 'object', additionalProperties: false,
  properties: Object.fromEntries(Object.entries(USER_OPTIONS).map(([k, t]) => [k, { type: [t, 'null'] }])),
};
const USER_PROPS: Record<string, Schema> = {
  name: { ...name255, pattern: '\\S' }, description, domain_id: idString, default_project_id: idOrNull,
  enabled: { type: 'boolean' }, password: { type: ['string', 'null'], maxLength: 4096 }, options,
  federated: { type: 'array', maxItems: 0 },
};
const KNOWN = new Set([...Object.keys(USER_PROPS), 'id', 'links', 'password_expires_at']);
const extraOf = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !KNOWN.has(k) || k === 'description'));

export function userTarget(u: User | null) {
  return u ? { user: { id: u.id, domain_id: u.domainId, name: u.name } } : {};
}

/** Keystone refuses a domain as a user's default project. */
async function checkDefaultProject(ks: Keystone, id: string | null | undefined) {
  if (!id) return;
  if (await ks.db.get('SELECT id FROM identity_domains WHERE id = ?', [id])) {
    throw new ApiError(400, `Project ${id} is a domain and cannot be a user's default project.`);
  }
}

export async function userRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };
  const userOf = async (req: FastifyRequest, rule: string, extra: Record<string, unknown> = {}) => {
    const id = (req.params as { user_id: string }).user_id;
    const u = await getUser(ks.db, id);
    ks.enforce(req, rule, { ...userTarget(u), ...extra });
    if (!u) throw notFound('user', id);
    return u;
  };

  app.get('/users', authed, async (req) => {
    const q = query(req);
    const a = req.auth!;
    ks.enforce(req, 'identity:list_users', { domain_id: a.domainId ?? null });
    let us = await listUsers(ks.db, { domainId: q.domain_id ?? a.domainId, name: q.name, enabled: enabledFilter(q.enabled) });
    if (a.domainId) us = us.filter((u) => u.domainId === a.domainId);
    return collection(ks, req, 'users', us.map((u) => userView(ks, u)));
  });

  app.post('/users', authed, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, any>;
    const raw = body && typeof body.user === 'object' && body.user && !Array.isArray(body.user) ? body.user : {};
    const domainId: string = raw.domain_id ?? req.auth!.domainId ?? DEFAULT_DOMAIN_ID;
    ks.enforce(req, 'identity:create_user', { user: { ...raw, domain_id: domainId } });
    const f = member(req.body, 'user', { required: ['name'], properties: USER_PROPS });
    await requireDomain(ks.db, domainId);
    await checkDefaultProject(ks, f.default_project_id);
    // Hash outside the transaction: bcrypt takes a while.
    const passwordHash = typeof f.password === 'string' ? await ks.hasher.hash(f.password) : null;
    const u = await ks.db.tx(async (tx) => {
      await requireDomain(tx, domainId);
      return createUser(tx, {
        name: f.name, domainId, enabled: f.enabled, defaultProjectId: f.default_project_id, passwordHash,
        options: cleanNulls(f.options), extra: extraOf(f),
      });
    });
    reply.code(201);
    return { user: userView(ks, u) };
  });

  app.get('/users/:user_id', authed, async (req) => ({ user: userView(ks, await userOf(req, 'identity:get_user')) }));

  app.patch('/users/:user_id', authed, async (req) => {
    const u = await userOf(req, 'identity:update_user');
    const f = member(req.body, 'user', { properties: USER_PROPS });
    if ('id' in f && f.id !== u.id) throw new ApiError(400, 'Cannot change ID');
    if ('domain_id' in f && f.domain_id !== u.domainId) throw new ApiError(400, 'Cannot change Domain ID');
    await checkDefaultProject(ks, f.default_project_id);
    const passwordHash = 'password' in f ? (typeof f.password === 'string' ? await ks.hasher.hash(f.password) : null) : undefined;
    const next = await ks.db.tx((tx) => updateUser(ks, tx, u.id, {
      name: f.name, enabled: f.enabled, defaultProjectId: f.default_project_id, passwordHash,
      options: f.options, extra: extraOf(f),
    }));
    return { user: userView(ks, next) };
  });

  app.delete('/users/:user_id', authed, async (req, reply) => {
    const u = await userOf(req, 'identity:delete_user');
    await ks.db.tx((tx) => deleteUser(ks, tx, u.id));
    reply.code(204).send();
  });

  app.get('/users/:user_id/groups', authed, async (req) => {
    const u = await userOf(req, 'identity:list_groups_for_user', { user_id: (req.params as { user_id: string }).user_id });
    const q = query(req);
    const gs = await listGroups(ks.db, { userId: u.id, name: q.name, domainId: q.domain_id });
    return collection(ks, req, 'groups', gs.map((g) => groupView(ks, g)));
  });

  app.get('/users/:user_id/projects', authed, async (req) => {
    const u = await userOf(req, 'identity:list_user_projects');
    const q = query(req);
    const ids = await projectIdsForUser(ks.db, u.id);
    const ps = await listProjects(ks.db, { ids, name: q.name, domainId: q.domain_id, enabled: enabledFilter(q.enabled) });
    return collection(ks, req, 'projects', ps.map((p) => projectView(ks, p)));
  });

  // Self-service password change: no token needed (an expired password cannot get one); the
  // original password is the proof.
  app.post('/users/:user_id/password', async (req, reply) => {
    const id = (req.params as { user_id: string }).user_id;
    const f = member(req.body, 'user', {
      required: ['password', 'original_password'],
      properties: { password: { type: 'string', minLength: 1, maxLength: 4096 }, original_password: { type: 'string' } },
    });
    const u = await requireUser(ks.db, id);
    if (!u.enabled || !(await ks.hasher.verify(f.original_password, u.passwordHash, u.id))) {
      throw unauthorized('Error when changing user password: The request you have made requires authentication.');
    }
    const passwordHash = await ks.hasher.hash(f.password);
    await ks.db.tx((tx) => updateUser(ks, tx, u.id, { passwordHash }));
    reply.code(204).send();
  });
  app.get('/users/:user_id/password', async () => {
    throw new ApiError(405, 'The method is not allowed for the requested URL.');
  });
}

function cleanNulls(o: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== null));
}
