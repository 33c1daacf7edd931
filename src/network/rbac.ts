// RBAC policies (rbac-policies) on networks: access_as_shared lets a project (or '*', everyone)
// see the network and make ports on it; access_as_external makes it external for a project (or
// '*'). The '*' policies are what a network's `shared` and `router:external` attributes are: the
// columns on neutron_networks stay in step with them both ways (networks.ts calls sync() on
// create/update, this part updates the columns when policies change), so every visibility query
// can keep reading the columns and asks here only about project-specific grants.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { badRequest } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import type { NetworkPart } from './index.ts';
import { authorize, collectionUrl, isAdmin, neutronError, onlyAttributes, ownerOf, resourceBody } from './common.ts';
import { findNetwork, networkRbacHook } from './networks.ts';
import { listResponse, queryOf, showFields } from './query.ts';
import { enforceQuota, registerQuotaResource } from './quotas.ts';

const ACTIONS = ['access_as_shared', 'access_as_external'];
const ATTRS = ['object_type', 'object_id', 'action', 'target_tenant', 'target_project', 'tenant_id', 'project_id'];
/** Ports that Neutron gives no project (router gateways, floating IPs, DHCP) need no grant. */
const OWNERLESS = "('network:dhcp', 'network:router_gateway', 'network:floatingip')";

registerQuotaResource('rbac_policy', 10, 'SELECT COUNT(*) AS n FROM neutron_rbac_policies WHERE project_id = ?');

const notFoundPolicy = (id: string) => neutronError(404, 'RbacPolicyNotFound', `RBAC policy of type network with ID ${id} not found`);
const inUse = (objectId: string, details: string) =>
  neutronError(409, 'RbacPolicyInUse', `RBAC policy on object ${objectId} cannot be removed because other objects depend on it.\nDetails: ${details}`);

interface PolicyRow { id: string; project_id: string; object_type: string; object_id: string; action: string; target_project: string; [k: string]: unknown }

const view = (r: PolicyRow) => ({
  id: r.id, project_id: r.project_id, tenant_id: r.project_id, object_type: r.object_type, object_id: r.object_id,
  action: r.action, target_tenant: r.target_project, target_project: r.target_project,
});

/** Keystone project ids are 32 hex digits (uuids with or without dashes); '*' is everyone. */
function target(v: unknown): string {
  if (v === '*') return v;
  if (typeof v !== 'string' || !/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v)) {
    throw badRequest(`Invalid input for target_tenant. Reason: '${v}' is not a valid target project ID; expected a UUID or '*'.`);
  }
  return v;
}

function targetOf(r: Record<string, unknown>): string | undefined {
  if (r.target_tenant !== undefined && r.target_project !== undefined && r.target_tenant !== r.target_project) {
    throw badRequest("Invalid input for operation: 'target_tenant' and 'target_project' do not match.");
  }
  const v = r.target_project !== undefined ? r.target_project : r.target_tenant;
  return v === undefined ? undefined : target(v);
}

/** Whether ports of other projects would lose their footing if `targetProject` lost `access_as_shared`. */
async function sharedDependent(t: Tx, net: { id: string; project_id: string }, targetProject: string, exceptPolicy: string | null): Promise<boolean> {
  if (targetProject === net.project_id) return false;
  const others = (await t.all("SELECT target_project FROM neutron_rbac_policies WHERE object_type = 'network' AND object_id = ? AND action = 'access_as_shared' AND id <> ?",
    [net.id, exceptPolicy ?? ''])).map((x) => x.target_project as string);
  if (targetProject === '*') {
    const allowed = [...others, net.project_id];
    return !!(await t.get(`SELECT 1 FROM neutron_ports WHERE network_id = ? AND device_owner NOT IN ${OWNERLESS} AND project_id NOT IN (${allowed.map(() => '?').join(',')})`,
      [net.id, ...allowed]));
  }
  if (others.includes('*') || others.includes(targetProject)) return false;
  return !!(await t.get(`SELECT 1 FROM neutron_ports WHERE network_id = ? AND project_id = ? AND device_owner NOT IN ${OWNERLESS}`, [net.id, targetProject]));
}

/** Whether taking `access_as_external` from `targetProject` strands a router gateway of that project. */
async function externalDependent(t: Tx, net: { id: string; project_id: string }, targetProject: string, exceptPolicy: string | null): Promise<boolean> {
  const others = (await t.all("SELECT target_project FROM neutron_rbac_policies WHERE object_type = 'network' AND object_id = ? AND action = 'access_as_external' AND id <> ?",
    [net.id, exceptPolicy ?? ''])).map((x) => x.target_project as string);
  if (targetProject === '*') {
    const allowed = [...others.filter((p) => p !== '*'), net.project_id];
    return !!(await t.get(`SELECT 1 FROM neutron_routers WHERE gw_network_id = ? AND project_id NOT IN (${allowed.map(() => '?').join(',')})`, [net.id, ...allowed]));
  }
  if (others.includes('*') || others.includes(targetProject) || targetProject === net.project_id) return false;
  return !!(await t.get('SELECT 1 FROM neutron_routers WHERE gw_network_id = ? AND project_id = ?', [net.id, targetProject]));
}

const dependent = (t: Tx, net: { id: string; project_id: string }, action: string, targetProject: string, except: string | null) =>
  action === 'access_as_shared' ? sharedDependent(t, net, targetProject, except) : externalDependent(t, net, targetProject, except);

/** The network's `shared` / `router_external` columns: whether a '*' policy of that action exists. */
async function syncColumns(t: Tx, networkId: string) {
  const wild = async (action: string) => (await t.get("SELECT 1 FROM neutron_rbac_policies WHERE object_type = 'network' AND object_id = ? AND action = ? AND target_project = '*'", [networkId, action])) ? 1 : 0;
  await t.run('UPDATE neutron_networks SET shared = ?, router_external = ?, revision_number = revision_number + 1, updated_at = ? WHERE id = ?',
    [await wild('access_as_shared'), await wild('access_as_external'), nowIso(), networkId]);
}

async function findPolicy(req: FastifyRequest, q: Queryable, id: string): Promise<PolicyRow> {
  const r = (await q.get('SELECT * FROM neutron_rbac_policies WHERE id = ?', [id])) as PolicyRow | undefined;
  // A policy is its owner's business: the project it targets does not see it.
  if (!r || !(isAdmin(req.auth!) || r.project_id === req.auth!.projectId)) throw notFoundPolicy(id);
  return r;
}

/** The network a policy is about, which only its owner or an admin may grant. */
async function grantable(ctx: Context, req: FastifyRequest, t: Tx, objectId: string) {
  const net = await findNetwork(ctx, req, objectId, t);
  if (!isAdmin(req.auth!) && net.project_id !== req.auth!.projectId) {
    throw badRequest('Invalid input for operation: Only admins can manipulate policies on networks they do not own.');
  }
  return net as { id: string; project_id: string };
}

async function insertPolicy(t: Tx, p: { project_id: string; object_type: string; object_id: string; action: string; target_project: string }, id = uuid()) {
  const dup = await t.get('SELECT 1 FROM neutron_rbac_policies WHERE object_type = ? AND object_id = ? AND action = ? AND target_project = ?',
    [p.object_type, p.object_id, p.action, p.target_project]);
  if (dup) throw neutronError(409, 'DuplicateRbacPolicy', 'An RBAC policy already exists with those values.');
  await t.run('INSERT INTO neutron_rbac_policies (id, project_id, object_type, object_id, action, target_project) VALUES (?, ?, ?, ?, ?, ?)',
    [id, p.project_id, p.object_type, p.object_id, p.action, p.target_project]);
  return id;
}

export const rbac: NetworkPart = {
  migrations: [{
    id: 'network-130-rbac-policies',
    sql: [
      `CREATE TABLE neutron_rbac_policies (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        object_type TEXT NOT NULL,
        object_id TEXT NOT NULL,
        action TEXT NOT NULL,
        target_project TEXT NOT NULL
      )`,
      `CREATE UNIQUE INDEX neutron_rbac_policies_unique ON neutron_rbac_policies (object_type, object_id, action, target_project)`,
      `CREATE INDEX neutron_rbac_policies_target ON neutron_rbac_policies (target_project)`,
      // Networks that were shared or external before this part existed get their '*' policies.
      `INSERT INTO neutron_rbac_policies (id, project_id, object_type, object_id, action, target_project)
        SELECT 'shared-' || id, project_id, 'network', id, 'access_as_shared', '*' FROM neutron_networks WHERE shared = 1`,
      `INSERT INTO neutron_rbac_policies (id, project_id, object_type, object_id, action, target_project)
        SELECT 'external-' || id, project_id, 'network', id, 'access_as_external', '*' FROM neutron_networks WHERE router_external = 1`,
    ].join(';\n'),
  }],
  extensions: [
    { alias: 'rbac-policies', name: 'RBAC Policies', description: 'Allows creation and modification of policies that control tenant access to resources.', updated: '2015-06-17T12:15:12-00:00' },
  ],
  async init() {
    networkRbacHook.grantSql = (alias, action) =>
      `EXISTS (SELECT 1 FROM neutron_rbac_policies rp WHERE rp.object_type = 'network' AND rp.object_id = ${alias}.id AND rp.target_project = ?${action ? ` AND rp.action = '${action}'` : ''})`;
    networkRbacHook.flags = async (q, ids, projectId) => {
      const out = new Map<string, { shared: boolean; external: boolean }>();
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        if (!chunk.length) break;
        // Shared with the caller's project counts as shared (Neutron's view); external for anyone makes it external.
        for (const p of await q.all(`SELECT object_id, action, target_project FROM neutron_rbac_policies WHERE object_type = 'network' AND object_id IN (${chunk.map(() => '?').join(',')})`, chunk)) {
          const f = out.get(p.object_id) ?? { shared: false, external: false };
          if (p.action === 'access_as_shared' && (p.target_project === '*' || p.target_project === projectId)) f.shared = true;
          if (p.action === 'access_as_external') f.external = true;
          out.set(p.object_id, f);
        }
      }
      return out;
    };
    networkRbacHook.sync = async (t, net, change) => {
      for (const [key, action] of [['shared', 'access_as_shared'], ['external', 'access_as_external']] as const) {
        const want = change[key];
        if (want === undefined) continue;
        const wild = await t.get("SELECT id FROM neutron_rbac_policies WHERE object_type = 'network' AND object_id = ? AND action = ? AND target_project = '*'", [net.id, action]);
        if (want && !wild) await insertPolicy(t, { project_id: net.project_id, object_type: 'network', object_id: net.id, action, target_project: '*' });
        if (!want && key === 'shared' && wild) {
          if (await sharedDependent(t, net, '*', wild.id)) {
            throw neutronError(409, 'InvalidSharedSetting', `Unable to reconfigure sharing settings for network ${net.id}. Multiple tenants are using it.`);
          }
          await t.run('DELETE FROM neutron_rbac_policies WHERE id = ?', [wild.id]);
        }
        // router:external=False ends every external policy of the network, as in Neutron.
        if (!want && key === 'external') await t.run("DELETE FROM neutron_rbac_policies WHERE object_type = 'network' AND object_id = ? AND action = 'access_as_external'", [net.id]);
      }
    };
    networkRbacHook.deleted = async (t, id) => {
      await t.run("DELETE FROM neutron_rbac_policies WHERE object_type = 'network' AND object_id = ?", [id]);
    };
  },
  async routes(app: FastifyInstance, ctx: Context) {
    app.post('/rbac-policies', async (req, reply) => {
      const r = resourceBody(req.body, 'rbac_policy');
      onlyAttributes(r, ATTRS);
      for (const k of ['object_type', 'object_id', 'action']) {
        if (r[k] === undefined || r[k] === null) throw badRequest(`Failed to parse request. Required attribute '${k}' not specified`);
      }
      const objectType = typeof r.object_type === 'string' ? r.object_type.trim().toLowerCase() : r.object_type;
      if (objectType !== 'network') throw badRequest(`Invalid input for operation: '${r.object_type}' is not a valid RBAC object type.`);
      if (typeof r.object_id !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(r.object_id)) {
        throw badRequest(`Invalid input for object_id. Reason: '${r.object_id}' is not a valid UUID.`);
      }
      if (typeof r.action !== 'string' || !ACTIONS.includes(r.action)) {
        throw badRequest(`Invalid input for operation: Action '${r.action}' for object type network is not supported. Valid actions: ${ACTIONS.join(', ')}.`);
      }
      const targetProject = targetOf(r);
      if (targetProject === undefined) throw badRequest("Failed to parse request. Required attribute 'target_tenant' not specified");
      const project = ownerOf(req, r);
      authorize(ctx, req, 'create_rbac_policy', { project_id: project });
      if (targetProject === '*') authorize(ctx, req, 'create_rbac_policy:target_tenant', { project_id: project, target_tenant: '*' });
      const id = await ctx.db.tx(async (t) => {
        const net = await grantable(ctx, req, t, r.object_id);
        await t.lock(`network:${net.id}`);
        await enforceQuota(t, project, 'rbac_policy', 1);
        const made = await insertPolicy(t, { project_id: project, object_type: 'network', object_id: net.id, action: r.action, target_project: targetProject });
        await syncColumns(t, net.id);
        return made;
      });
      reply.code(201);
      return { rbac_policy: view((await ctx.db.get('SELECT * FROM neutron_rbac_policies WHERE id = ?', [id])) as PolicyRow) };
    });

    app.get('/rbac-policies', async (req) => {
      const a = req.auth!;
      const rows = isAdmin(a)
        ? await ctx.db.all('SELECT * FROM neutron_rbac_policies')
        : await ctx.db.all('SELECT * FROM neutron_rbac_policies WHERE project_id = ?', [a.projectId ?? '']);
      return listResponse('rbac_policies', (rows as PolicyRow[]).map(view), queryOf(req), collectionUrl(ctx, 'rbac-policies'));
    });

    app.get<{ Params: { id: string } }>('/rbac-policies/:id', async (req) => {
      const r = await findPolicy(req, ctx.db, req.params.id);
      authorize(ctx, req, 'get_rbac_policy', r);
      return { rbac_policy: showFields(view(r), queryOf(req)) };
    });

    app.put<{ Params: { id: string } }>('/rbac-policies/:id', async (req) => {
      const r = resourceBody(req.body, 'rbac_policy');
      onlyAttributes(r, ATTRS);
      for (const k of ['object_type', 'object_id', 'action', 'tenant_id', 'project_id']) if (k in r) throw badRequest(`Cannot update read-only attribute ${k}`);
      const next = targetOf(r);
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findPolicy(req, t, id);
        authorize(ctx, req, 'update_rbac_policy', cur);
        if (next === undefined || next === cur.target_project) return;
        if (next === '*') authorize(ctx, req, 'update_rbac_policy:target_tenant', { project_id: cur.project_id, target_tenant: '*' });
        const net = await grantable(ctx, req, t, cur.object_id);
        await t.lock(`network:${net.id}`);
        // The project that loses the grant must not depend on it; the new target must not have one already.
        if (await dependent(t, net, cur.action, cur.target_project, cur.id)) {
          throw inUse(cur.object_id, cur.action === 'access_as_shared'
            ? `Unable to reconfigure sharing settings for network ${net.id}. Multiple tenants are using it.`
            : 'There are routers attached to this network that depend on this policy for access.');
        }
        if (await t.get('SELECT 1 FROM neutron_rbac_policies WHERE object_type = ? AND object_id = ? AND action = ? AND target_project = ?', [cur.object_type, cur.object_id, cur.action, next])) {
          throw neutronError(409, 'DuplicateRbacPolicy', 'An RBAC policy already exists with those values.');
        }
        await t.run('UPDATE neutron_rbac_policies SET target_project = ? WHERE id = ?', [next, id]);
        await syncColumns(t, net.id);
      });
      return { rbac_policy: view((await ctx.db.get('SELECT * FROM neutron_rbac_policies WHERE id = ?', [id])) as PolicyRow) };
    });

    app.delete<{ Params: { id: string } }>('/rbac-policies/:id', async (req, reply) => {
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findPolicy(req, t, id);
        authorize(ctx, req, 'delete_rbac_policy', cur);
        const net = (await t.get('SELECT id, project_id FROM neutron_networks WHERE id = ?', [cur.object_id])) as unknown as { id: string; project_id: string } | undefined;
        if (net) {
          await t.lock(`network:${net.id}`);
          if (await dependent(t, net, cur.action, cur.target_project, cur.id)) {
            throw inUse(cur.object_id, cur.action === 'access_as_shared'
              ? `Unable to reconfigure sharing settings for network ${net.id}. Multiple tenants are using it.`
              : 'There are routers attached to this network that depend on this policy for access.');
          }
        }
        await t.run('DELETE FROM neutron_rbac_policies WHERE id = ?', [id]);
        if (net) await syncColumns(t, net.id);
      });
      reply.code(204);
    });
  },
};
