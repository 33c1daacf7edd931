// Nova server groups (/os-server-groups): affinity, anti-affinity and their soft variants, one
// "policies" list before 2.64 and "policy" + "rules" (max_server_per_host) from 2.64. Members are
// added by server create (addServerGroupMember, in the create transaction) and shown only while
// their instance lives. Quotas: server_groups per project, server_group_members per group.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ComputePart } from './index.ts';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { fromJson, toJson } from '../core/db/index.ts';
import { badRequest, forbidden, notFound } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import { mv } from './microversion.ts';
import { bodyObject, checkKeys, checkName, checkQueryKeys, isAdmin, isObject, queryAll, queryOne, show, MAX_LIMIT } from './common.ts';
import { enforceCountQuota, getQuotaLimits } from './quotas.ts';

export interface ServerGroup {
  id: string;
  name: string;
  projectId: string;
  userId: string;
  policy: string;
  rules: Record<string, unknown>;
  /** Live members (instance uuids). */
  members: string[];
}

const migrations = [{
  id: 'compute-030-server-groups',
  sql: `
CREATE TABLE server_groups (
  uuid TEXT PRIMARY KEY,
  name TEXT,
  project_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  policy TEXT NOT NULL,
  rules TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX server_groups_project ON server_groups (project_id);
CREATE TABLE server_group_members (
  group_uuid TEXT NOT NULL,
  instance_uuid TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (group_uuid, instance_uuid)
);
CREATE INDEX server_group_members_instance ON server_group_members (instance_uuid)`,
}];

/** Members whose instance still lives (a member row may outlive its instance until cleanup). */
async function liveMembers(q: Queryable, groupIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const g of groupIds) out.set(g, []);
  for (let i = 0; i < groupIds.length; i += 500) {
    const chunk = groupIds.slice(i, i + 500);
    const rows = await q.all(`SELECT m.group_uuid, m.instance_uuid FROM server_group_members m
      JOIN instances i ON i.uuid = m.instance_uuid AND i.deleted = 0
      WHERE m.group_uuid IN (${chunk.map(() => '?').join(',')}) ORDER BY m.created_at, m.instance_uuid`, chunk);
    for (const r of rows) out.get(r.group_uuid)!.push(r.instance_uuid);
  }
  return out;
}

function fromRow(r: any, members: string[]): ServerGroup {
  return { id: r.uuid, name: r.name, projectId: r.project_id, userId: r.user_id, policy: r.policy, rules: fromJson(r.rules, {}), members };
}

export async function getServerGroup(q: Queryable, id: string): Promise<ServerGroup | null> {
  const r = await q.get('SELECT * FROM server_groups WHERE uuid = ? AND deleted = 0', [id]);
  if (!r) return null;
  return fromRow(r, (await liveMembers(q, [r.uuid])).get(r.uuid)!);
}

/**
 * Adds an instance to a group inside the server create transaction (insert the instance row
 * first). Enforces server_group_members (members of this group owned by the instance's user);
 * idempotent for an instance already in the group.
 */
export async function addServerGroupMember(t: Tx, groupId: string, instanceUuid: string): Promise<void> {
  await t.lock(`server_group:${groupId}`);
  const g = await t.get('SELECT * FROM server_groups WHERE uuid = ? AND deleted = 0', [groupId]);
  if (!g) throw notFound(`Instance group ${groupId} could not be found.`);
  if (await t.get('SELECT 1 AS x FROM server_group_members WHERE group_uuid = ? AND instance_uuid = ?', [groupId, instanceUuid])) return;
  const inst = await t.get('SELECT user_id FROM instances WHERE uuid = ?', [instanceUuid]);
  const userId: string = inst?.user_id ?? g.user_id;
  const used = Number((await t.get(`SELECT COUNT(*) AS n FROM server_group_members m
    JOIN instances i ON i.uuid = m.instance_uuid AND i.deleted = 0 AND i.user_id = ?
    WHERE m.group_uuid = ?`, [userId, groupId]))?.n ?? 0);
  await enforceCountQuota(t, g.project_id, userId, 'server_group_members', used, 'Quota exceeded, too many servers in group');
  await t.run('INSERT INTO server_group_members (group_uuid, instance_uuid, created_at) VALUES (?, ?, ?)', [groupId, instanceUuid, nowIso()]);
}

/** Drops an instance from every group (server delete). */
export async function removeInstanceFromGroups(t: Tx, instanceUuid: string): Promise<void> {
  await t.run('DELETE FROM server_group_members WHERE instance_uuid = ?', [instanceUuid]);
}

/** Ids of the groups an instance belongs to ("server_groups" in the server body at 2.71). */
export async function getInstanceGroups(q: Queryable, instanceUuid: string): Promise<string[]> {
  const rows = await q.all(`SELECT m.group_uuid FROM server_group_members m JOIN server_groups g ON g.uuid = m.group_uuid AND g.deleted = 0
    WHERE m.instance_uuid = ? ORDER BY m.group_uuid`, [instanceUuid]);
  return rows.map((r) => r.group_uuid);
}

function view(req: FastifyRequest, g: ServerGroup) {
  const v = mv(req);
  const out: Record<string, unknown> = { id: g.id, name: g.name };
  if (v.atLeast('2.64')) {
    out.policy = g.policy;
    out.rules = g.rules;
  } else {
    out.policies = [g.policy];
    out.metadata = {};
  }
  out.members = g.members;
  if (v.atLeast('2.13')) {
    out.project_id = g.projectId;
    out.user_id = g.userId;
  }
  return out;
}

function nonNegative(req: FastifyRequest, name: string): number | undefined {
  const raw = queryOne(req, name);
  if (raw === undefined) return undefined;
  if (!/^[0-9]+$/.test(raw)) throw badRequest(`Invalid input for query parameters ${name}. Value: ${raw}. '${raw}' does not match '^[0-9]*$'`);
  return Number(raw);
}

async function routes(app: FastifyInstance, ctx: Context) {
  app.get('/os-server-groups', async (req) => {
    if (mv(req).atLeast('2.75')) checkQueryKeys(req, ['all_projects', 'limit', 'offset']);
    const projectId = req.auth!.projectId ?? '';
    ctx.policy.authorize('os_compute_api:os-server-groups:index', req.auth!, { project_id: projectId });
    const limit = Math.min(MAX_LIMIT, nonNegative(req, 'limit') || MAX_LIMIT);
    const offset = nonNegative(req, 'offset') ?? 0;
    let rows;
    if (queryAll(req, 'all_projects').length && isAdmin(ctx, req)) {
      ctx.policy.authorize('os_compute_api:os-server-groups:index:all_projects', req.auth!, { project_id: projectId });
      rows = await ctx.db.all('SELECT * FROM server_groups WHERE deleted = 0 ORDER BY created_at, uuid');
    } else {
      rows = await ctx.db.all('SELECT * FROM server_groups WHERE project_id = ? AND deleted = 0 ORDER BY created_at, uuid', [projectId]);
    }
    const page = rows.slice(offset, offset + limit);
    const members = await liveMembers(ctx.db, page.map((r) => r.uuid));
    return { server_groups: page.map((r) => view(req, fromRow(r, members.get(r.uuid)!))) };
  });

  app.get<{ Params: { id: string } }>('/os-server-groups/:id', async (req) => {
    const g = await getServerGroup(ctx.db, req.params.id);
    if (!g) throw notFound(`Instance group ${req.params.id} could not be found.`);
    ctx.policy.authorize('os_compute_api:os-server-groups:show', req.auth!, { project_id: g.projectId });
    return { server_group: view(req, g) };
  });

  app.delete<{ Params: { id: string } }>('/os-server-groups/:id', async (req, reply) => {
    const g = await getServerGroup(ctx.db, req.params.id);
    if (!g) throw notFound(`Instance group ${req.params.id} could not be found.`);
    ctx.policy.authorize('os_compute_api:os-server-groups:delete', req.auth!, { project_id: g.projectId });
    await ctx.db.tx(async (t) => {
      await t.lock(`server_group:${g.id}`);
      const r = await t.run('DELETE FROM server_groups WHERE uuid = ?', [g.id]);
      if (!r.changes) throw notFound(`Instance group ${g.id} could not be found.`);
      await t.run('DELETE FROM server_group_members WHERE group_uuid = ?', [g.id]);
    });
    return reply.code(204).send();
  });

  app.post('/os-server-groups', async (req) => {
    const v = mv(req);
    const body = bodyObject(req.body, 'server_group');
    const policies = ['anti-affinity', 'affinity', ...(v.atLeast('2.15') ? ['soft-anti-affinity', 'soft-affinity'] : [])];
    let policy: string;
    let rules: Record<string, unknown> = {};
    if (v.atLeast('2.64')) {
      checkKeys(body, ['name', 'policy', 'rules'], ['name', 'policy']);
      checkName(body.name, 'name');
      if (typeof body.policy !== 'string' || !policies.includes(body.policy)) {
        throw badRequest(`Invalid input for field/attribute policy. Value: ${show(body.policy)}. ${show(body.policy)} is not one of [${policies.map((p) => `'${p}'`).join(', ')}]`);
      }
      policy = body.policy;
      if ('rules' in body) {
        if (!isObject(body.rules)) throw badRequest(`Invalid input for field/attribute rules. Value: ${show(body.rules)}. ${show(body.rules)} is not of type 'object'`);
        checkKeys(body.rules, ['max_server_per_host']);
        if ('max_server_per_host' in body.rules) {
          const m = body.rules.max_server_per_host;
          const n = typeof m === 'number' && Number.isInteger(m) ? m : typeof m === 'string' && /^[0-9]+$/.test(m) ? Number(m) : NaN;
          if (!Number.isInteger(n) || n < 1) {
            throw badRequest(`Invalid input for field/attribute max_server_per_host. Value: ${show(m)}. ${show(m)} is not a positive integer`);
          }
          rules = { max_server_per_host: n };
        }
      }
      if (policy !== 'anti-affinity' && Object.keys(rules).length) throw badRequest('Only anti-affinity policy supports rules.');
    } else {
      checkKeys(body, ['name', 'policies'], ['name', 'policies']);
      checkName(body.name, 'name');
      const p = body.policies;
      if (!Array.isArray(p) || p.length !== 1 || typeof p[0] !== 'string' || !policies.includes(p[0])) {
        throw badRequest(`Invalid input for field/attribute policies. Value: ${show(p)}. ${show(p)} is not valid under any of the given schemas`);
      }
      policy = p[0];
    }
    const projectId = req.auth!.projectId ?? '';
    const userId = req.auth!.userId;
    ctx.policy.authorize('os_compute_api:os-server-groups:create', req.auth!, { project_id: projectId });
    const id = uuid();
    await ctx.db.tx(async (t) => {
      await t.lock(`quota:server_groups:${projectId}`);
      // Nova checks the project count against the project limit and, with own limits, the user's.
      const projectUsed = Number((await t.get('SELECT COUNT(*) AS n FROM server_groups WHERE project_id = ? AND deleted = 0', [projectId]))?.n ?? 0);
      const projectLimit = (await getQuotaLimits(t, projectId)).server_groups;
      if (projectLimit >= 0 && projectUsed + 1 > projectLimit) throw forbidden('Quota exceeded, too many server groups.');
      const userUsed = Number((await t.get('SELECT COUNT(*) AS n FROM server_groups WHERE project_id = ? AND user_id = ? AND deleted = 0', [projectId, userId]))?.n ?? 0);
      await enforceCountQuota(t, projectId, userId, 'server_groups', userUsed, 'Quota exceeded, too many server groups.');
      await t.run('INSERT INTO server_groups (uuid, name, project_id, user_id, policy, rules, created_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, 0)',
        [id, body.name, projectId, userId, policy, toJson(rules), nowIso()]);
    });
    return { server_group: view(req, (await getServerGroup(ctx.db, id))!) };
  });
}

export const serverGroups: ComputePart = { migrations, routes };
