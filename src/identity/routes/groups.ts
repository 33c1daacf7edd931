// /v3/groups and group membership.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { type Keystone, notFound, DEFAULT_DOMAIN_ID } from '../keystone.ts';
import { member, name64, description, idString, type Schema } from '../validate.ts';
import { getGroup, listGroups, createGroup, updateGroup, deleteGroup, groupView, addMember, removeMember, type Group } from '../groups.ts';
import { getUser, listUsers, userView } from '../users.ts';
import { requireDomain } from '../domains.ts';
import { enabledFilter, query, collection } from './common.ts';
import { userTarget } from './users.ts';

const GROUP_PROPS: Record<string, Schema> = { name: { ...name64, pattern: '\\S' }, description, domain_id: idString };
const KNOWN = new Set([...Object.keys(GROUP_PROPS), 'id', 'links']);
const extraOf = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !KNOWN.has(k)));

export const groupTarget = (g: Group | null) => (g ? { group: { id: g.id, domain_id: g.domainId, name: g.name } } : {});

export async function groupRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };
  const groupOf = async (req: FastifyRequest, rule: string) => {
    const id = (req.params as { group_id: string }).group_id;
    const g = await getGroup(ks.db, id);
    ks.enforce(req, rule, groupTarget(g));
    if (!g) throw notFound('group', id);
    return g;
  };

  app.get('/groups', authed, async (req) => {
    const q = query(req);
    const a = req.auth!;
    ks.enforce(req, 'identity:list_groups', { group: { domain_id: a.domainId ?? null } });
    let gs = await listGroups(ks.db, { domainId: q.domain_id, name: q.name });
    if (a.domainId) gs = gs.filter((g) => g.domainId === a.domainId);
    return collection(ks, req, 'groups', gs.map((g) => groupView(ks, g)));
  });

  app.post('/groups', authed, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, any>;
    const raw = body && typeof body.group === 'object' && body.group && !Array.isArray(body.group) ? body.group : {};
    const domainId: string = raw.domain_id ?? req.auth!.domainId ?? DEFAULT_DOMAIN_ID;
    ks.enforce(req, 'identity:create_group', { group: { ...raw, domain_id: domainId } });
    const f = member(req.body, 'group', { required: ['name'], properties: GROUP_PROPS });
    const g = await ks.db.tx(async (tx) => {
      await requireDomain(tx, domainId);
      return createGroup(tx, { name: f.name, domainId, description: f.description, extra: extraOf(f) });
    });
    reply.code(201);
    return { group: groupView(ks, g) };
  });

  app.get('/groups/:group_id', authed, async (req) => ({ group: groupView(ks, await groupOf(req, 'identity:get_group')) }));

  app.patch('/groups/:group_id', authed, async (req) => {
    const g = await groupOf(req, 'identity:update_group');
    const f = member(req.body, 'group', { minProperties: 1, properties: GROUP_PROPS });
    if ('domain_id' in f && f.domain_id !== g.domainId) throw new ApiError(400, 'Cannot change Domain ID');
    const next = await ks.db.tx((tx) => updateGroup(tx, g.id, { name: f.name, description: f.description, extra: extraOf(f) }));
    return { group: groupView(ks, next) };
  });

  app.delete('/groups/:group_id', authed, async (req, reply) => {
    const g = await groupOf(req, 'identity:delete_group');
    await ks.db.tx((tx) => deleteGroup(ks, tx, g.id));
    reply.code(204).send();
  });

  app.get('/groups/:group_id/users', authed, async (req) => {
    const g = await groupOf(req, 'identity:list_users_in_group');
    const q = query(req);
    const us = await listUsers(ks.db, { groupId: g.id, name: q.name, domainId: q.domain_id, enabled: enabledFilter(q.enabled) });
    return collection(ks, req, 'users', us.map((u) => userView(ks, u)));
  });

  const membership = async (req: FastifyRequest, rule: string) => {
    const { group_id, user_id } = req.params as { group_id: string; user_id: string };
    const [g, u] = await Promise.all([getGroup(ks.db, group_id), getUser(ks.db, user_id)]);
    ks.enforce(req, rule, { ...groupTarget(g), ...userTarget(u) });
    if (!g) throw notFound('group', group_id);
    if (!u) throw notFound('user', user_id);
    return { g, u };
  };

  app.put('/groups/:group_id/users/:user_id', authed, async (req, reply) => {
    const { g, u } = await membership(req, 'identity:add_user_to_group');
    await ks.db.tx((tx) => addMember(tx, g.id, u.id));
    reply.code(204).send();
  });

  const checkMember = async (req: FastifyRequest) => {
    const { g, u } = await membership(req, 'identity:check_user_in_group');
    const row = await ks.db.get('SELECT 1 AS x FROM identity_user_groups WHERE user_id = ? AND group_id = ?', [u.id, g.id]);
    if (!row) throw new ApiError(404, `User '${u.id}' not found in group '${g.id}'`);
  };
  app.get('/groups/:group_id/users/:user_id', { ...authed, exposeHeadRoute: false }, async (req, reply) => {
    await checkMember(req);
    reply.code(204).send();
  });
  app.head('/groups/:group_id/users/:user_id', authed, async (req, reply) => {
    await checkMember(req);
    reply.code(204).send();
  });

  app.delete('/groups/:group_id/users/:user_id', authed, async (req, reply) => {
    const { g, u } = await membership(req, 'identity:remove_user_from_group');
    const removed = await ks.db.tx((tx) => removeMember(ks, tx, g.id, u.id));
    if (!removed) throw new ApiError(404, `User '${u.id}' not found in group '${g.id}'`);
    reply.code(204).send();
  });
}
