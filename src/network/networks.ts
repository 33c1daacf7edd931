// Networks: CRUD with the provider (segment), external-net, port-security, net-mtu and
// availability-zone attributes, and their backing on the vSphere side: a port group per network
// (ctx.networkDriver), realised by a durable task so that a crash between the row and the port
// group is finished at restart, and removed the same way after delete.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { badRequest } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import type { NetworkSegment } from '../core/virt.ts';
import type { NetworkPart } from './index.ts';
import { coreMigrations, neutronTime } from './db.ts';
import {
  authorize, boolAttr, checkRevision, collectionUrl, immutable, intAttr, isAdmin, neutronError, onlyAttributes,
  ownerOf, resourceBody, str, tagsOf, TAG_FILTERS,
} from './common.ts';
import { listResponse, queryOf, showFields } from './query.ts';
import { enforceQuota } from './quotas.ts';

/** Tenant networks are VLANs on the distributed switch (VIO's DVS plugin), from this range. */
export const TENANT_NETWORK_TYPE = 'vlan';
export const DEFAULT_PHYSNET = 'dvs';
const RANGES: Record<string, [number, number]> = { vlan: [100, 3999], vxlan: [1, 16_777_215], geneve: [1, 16_777_215] };
const TYPES = ['flat', 'vlan', 'vxlan', 'geneve', 'local'];

const ATTRS = ['name', 'description', 'admin_state_up', 'shared', 'router:external', 'mtu', 'port_security_enabled',
  'provider:network_type', 'provider:physical_network', 'provider:segmentation_id', 'availability_zone_hints',
  'tenant_id', 'project_id', 'tags', 'dns_domain', 'is_default', 'qos_policy_id'];

/** Run in a network delete's transaction before the in-use check (routers.ts: floating IPs). */
export const networkDeleteHooks: ((t: Tx, networkId: string) => Promise<void>)[] = [];

export const notFoundNetwork = (id: string) => neutronError(404, 'NetworkNotFound', `Network ${id} could not be found.`);

/**
 * RBAC policies (rbac.ts) grant networks to single projects and are what `shared` and
 * `router:external` mean; the columns mirror the '*' policies, so queries read the columns and
 * add the project grants through this hook.
 */
export const networkRbacHook: {
  /** SQL condition with one `?` (a project): a policy (of that action, if given) grants it network `<alias>.id`. */
  grantSql?: (alias: string, action?: 'access_as_shared') => string;
  /** Per network: shared with that project or '*', external for anyone (the views' `shared`, `router:external`). */
  flags?: (q: Queryable, ids: string[], projectId: string) => Promise<Map<string, { shared: boolean; external: boolean }>>;
  /** After a create or an update of shared / router:external: the '*' policies follow (409 when others depend on them). */
  sync?: (t: Tx, net: { id: string; project_id: string }, change: { shared?: boolean; external?: boolean }) => Promise<void>;
  /** A network is deleted: its policies go with it. */
  deleted?: (t: Tx, id: string) => Promise<void>;
} = {};

/** ` OR <grant>` for a visibility condition and its parameters, or nothing without RBAC. */
export function rbacGrant(alias: string, projectId: string, action?: 'access_as_shared'): { sql: string; params: string[] } {
  return networkRbacHook.grantSql ? { sql: ` OR ${networkRbacHook.grantSql(alias, action)}`, params: [projectId] } : { sql: '', params: [] };
}

/** SQL condition for the networks a caller sees: own, shared, external or granted by RBAC (admins: all). */
export function visibleNetworks(req: FastifyRequest, alias = 'n'): { sql: string; params: string[] } {
  const auth = req.auth!;
  if (isAdmin(auth)) return { sql: '1=1', params: [] };
  return visibleToProject(auth.projectId ?? '', alias);
}

/** The same condition for a project (not an admin). */
export function visibleToProject(projectId: string, alias = 'n'): { sql: string; params: string[] } {
  const grant = rbacGrant(alias, projectId);
  return { sql: `(${alias}.project_id = ? OR ${alias}.shared = 1 OR ${alias}.router_external = 1${grant.sql})`, params: [projectId, ...grant.params] };
}

export async function networkView(q: Queryable, rows: any[], admin: boolean, projectId?: string) {
  const ids = rows.map((r) => r.id);
  const granted = networkRbacHook.flags ? await networkRbacHook.flags(q, ids, projectId ?? '') : new Map<string, { shared: boolean; external: boolean }>();
  const subnets = new Map<string, string[]>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    if (!chunk.length) break;
    for (const s of await q.all(`SELECT id, network_id FROM neutron_subnets WHERE network_id IN (${chunk.map(() => '?').join(',')}) ORDER BY created_at, id`, chunk)) {
      subnets.set(s.network_id, [...(subnets.get(s.network_id) ?? []), s.id]);
    }
  }
  const tags = await tagsOf(q, 'networks', ids);
  return rows.map((r) => {
    const v: Record<string, any> = {
      id: r.id, name: r.name, tenant_id: r.project_id, project_id: r.project_id, admin_state_up: bool(r.admin_state_up),
      mtu: Number(r.mtu), status: r.status, subnets: subnets.get(r.id) ?? [], shared: bool(r.shared) || !!granted.get(r.id)?.shared,
      availability_zone_hints: fromJson(r.availability_zone_hints, []), availability_zones: ['nova'],
      ipv4_address_scope: null, ipv6_address_scope: null, 'router:external': bool(r.router_external) || !!granted.get(r.id)?.external,
      description: r.description, port_security_enabled: bool(r.port_security_enabled), l2_adjacency: true,
      tags: tags.get(r.id) ?? [], created_at: neutronTime(r.created_at), updated_at: neutronTime(r.updated_at),
      revision_number: Number(r.revision_number),
    };
    if (admin) {
      v['provider:network_type'] = r.network_type;
      v['provider:physical_network'] = r.physical_network ?? null;
      v['provider:segmentation_id'] = r.segmentation_id === null ? null : Number(r.segmentation_id);
    }
    return v;
  });
}

export async function getNetworkRow(q: Queryable, id: string) {
  return q.get('SELECT * FROM neutron_networks WHERE id = ?', [id]);
}

/** The network if the caller may see it, else 404 (Neutron hides what you may not see). */
export async function findNetwork(ctx: Context, req: FastifyRequest, id: string, q: Queryable = ctx.db) {
  const r = await getNetworkRow(q, id);
  if (!r || !(canSee(req, r) || await grantedTo(q, id, req.auth!.projectId ?? ''))) throw notFoundNetwork(id);
  return r;
}

/** Whether an RBAC policy (of that action, if given) grants the project the network. */
export async function grantedTo(q: Queryable, id: string, projectId: string, action?: 'access_as_shared') {
  if (!networkRbacHook.grantSql) return false;
  return !!(await q.get(`SELECT 1 FROM neutron_networks n WHERE n.id = ? AND ${networkRbacHook.grantSql('n', action)}`, [id, projectId]));
}

export function canSee(req: FastifyRequest, r: Record<string, any>) {
  const a = req.auth!;
  return isAdmin(a) || r.project_id === a.projectId || bool(r.shared) || bool(r.router_external);
}

/** Validates the provider attributes and picks a free segment (under a lock, in the transaction). */
async function segmentFor(t: Tx, r: Record<string, any>): Promise<{ type: string; physnet: string | null; segId: number | null }> {
  const given = r['provider:network_type'] !== undefined;
  const type = given ? r['provider:network_type'] : TENANT_NETWORK_TYPE;
  if (typeof type !== 'string' || !TYPES.includes(type)) throw badRequest(`Invalid input for operation: network_type value '${type}' not supported.`);
  let physnet: string | null = r['provider:physical_network'] ?? null;
  let segId = intAttr(r, 'provider:segmentation_id') ?? null;
  if (physnet !== null && typeof physnet !== 'string') throw badRequest('Invalid input for provider:physical_network');
  await t.lock('network:segments');
  if (type === 'flat') {
    if (segId !== null) throw badRequest('Invalid input for operation: segmentation_id specified for flat network.');
    physnet ??= 'public';
    if (await t.get("SELECT 1 FROM neutron_networks WHERE network_type = 'flat' AND physical_network = ?", [physnet])) {
      throw neutronError(409, 'FlatNetworkInUse', `Unable to create the flat network. Physical network ${physnet} is in use.`);
    }
    return { type, physnet, segId: null };
  }
  if (type === 'local') return { type, physnet: null, segId: null };
  if (type === 'vlan') physnet ??= DEFAULT_PHYSNET;
  else if (physnet !== null) throw badRequest(`Invalid input for operation: physical_network specified for ${type} network.`);
  const [lo, hi] = RANGES[type];
  const max = type === 'vlan' ? 4094 : 16_777_215;
  if (segId !== null) {
    if (segId < 1 || segId > max) throw badRequest(`Invalid input for operation: segmentation_id out of range (1 through ${max}).`);
    const clash = await t.get('SELECT 1 FROM neutron_networks WHERE network_type = ? AND COALESCE(physical_network, \'\') = ? AND segmentation_id = ?', [type, physnet ?? '', segId]);
    if (clash) throw neutronError(409, type === 'vlan' ? 'VlanIdInUse' : 'TunnelIdInUse', `Unable to create the network. The ${type === 'vlan' ? 'VLAN' : 'tunnel ID'} ${segId} ${type === 'vlan' ? `on physical network ${physnet} ` : ''}is in use.`);
    return { type, physnet, segId };
  }
  const used = new Set((await t.all('SELECT segmentation_id FROM neutron_networks WHERE network_type = ? AND COALESCE(physical_network, \'\') = ?', [type, physnet ?? ''])).map((x) => Number(x.segmentation_id)));
  for (let id = lo; id <= hi; id++) if (!used.has(id)) return { type, physnet, segId: id };
  throw neutronError(503, 'NoNetworkAvailable', 'Unable to create the network. No tenant network is available for allocation.');
}

export const segmentOf = (r: any): NetworkSegment => ({
  networkId: r.id, name: r.name, networkType: r.network_type, physicalNetwork: r.physical_network ?? null,
  segmentationId: r.segmentation_id === null ? null : Number(r.segmentation_id), mtu: Number(r.mtu),
});

/** The port group of a network, creating it if the realise task has not run yet (idempotent). */
export async function portGroupOf(ctx: Context, networkId: string): Promise<string> {
  const r = await getNetworkRow(ctx.db, networkId);
  if (!r) throw notFoundNetwork(networkId);
  if (r.port_group) return r.port_group;
  const b = await ctx.networkDriver.ensureNetwork(segmentOf(r));
  await ctx.db.run('UPDATE neutron_networks SET port_group = ? WHERE id = ?', [b.portGroup, networkId]);
  return b.portGroup;
}

function validateCommon(r: Record<string, any>) {
  str(r, 'name'); str(r, 'description');
  boolAttr(r, 'admin_state_up'); boolAttr(r, 'shared'); boolAttr(r, 'router:external'); boolAttr(r, 'port_security_enabled');
  const mtu = intAttr(r, 'mtu');
  if (mtu !== undefined && (mtu < 68 || mtu > 9000)) throw badRequest(`Invalid input for mtu. Reason: '${mtu}' is not in range 68 through 9000.`);
  if (r.availability_zone_hints !== undefined) {
    if (!Array.isArray(r.availability_zone_hints)) throw badRequest('Invalid input for availability_zone_hints.');
    for (const z of r.availability_zone_hints) if (z !== 'nova') throw neutronError(404, 'AvailabilityZoneNotFound', `AvailabilityZone ${z} could not be found.`);
  }
}

export const networks: NetworkPart = {
  migrations: coreMigrations,
  extensions: [
    { alias: 'provider', name: 'Provider Network', description: 'Expose mapping of virtual networks to physical networks', updated: '2012-09-07T10:00:00-00:00' },
    { alias: 'external-net', name: 'Neutron external network', description: 'Adds external network attribute to network resource.', updated: '2013-01-14T10:00:00-00:00' },
    { alias: 'net-mtu', name: 'Network MTU', description: 'Provides MTU attribute for a network resource.', updated: '2015-03-25T10:00:00-00:00' },
    { alias: 'net-mtu-writable', name: 'Network MTU (writable)', description: 'Provides a writable MTU attribute for a network resource.', updated: '2017-07-12T00:00:00-00:00' },
    { alias: 'port-security', name: 'Port Security', description: 'Provides port security', updated: '2012-07-23T10:00:00-00:00' },
    { alias: 'network_availability_zone', name: 'Network Availability Zone', description: 'Availability zone support for network.', updated: '2015-01-01T10:00:00-00:00' },
    { alias: 'availability_zone', name: 'Availability Zone', description: 'The availability zone extension.', updated: '2015-01-01T10:00:00-00:00' },
  ],
  async init(ctx) {
    // Realise (create or update) and remove a network's port group. Both idempotent.
    ctx.tasks.register('network.realize', {
      async run(task) {
        const { networkId } = task.payload as { networkId: string };
        const r = await getNetworkRow(ctx.db, networkId);
        if (!r) return; // deleted meanwhile: network.unrealize follows in order
        const b = await ctx.networkDriver.ensureNetwork(segmentOf(r));
        await ctx.db.run('UPDATE neutron_networks SET port_group = ? WHERE id = ?', [b.portGroup, networkId]);
      },
    });
    ctx.tasks.register('network.unrealize', {
      async run(task) {
        const { networkId } = task.payload as { networkId: string };
        if (await getNetworkRow(ctx.db, networkId)) return;
        await ctx.networkDriver.deleteNetwork(networkId);
      },
    });
  },
  async routes(app: FastifyInstance, ctx: Context) {
    app.post('/networks', async (req, reply) => {
      const body = req.body as any;
      if (body && Array.isArray(body.networks)) {
        // All or nothing, as Neutron's bulk create.
        const out = await ctx.db.tx(async (t) => {
          const made = [];
          for (const n of body.networks) made.push(await createNetwork(ctx, req, { network: n }, t));
          return made;
        });
        reply.code(201);
        return { networks: out };
      }
      const v = await createNetwork(ctx, req, body);
      reply.code(201);
      return { network: v };
    });

    app.get('/networks', async (req) => {
      const q = queryOf(req);
      const vis = visibleNetworks(req);
      const rows = await ctx.db.all(`SELECT * FROM neutron_networks n WHERE ${vis.sql}`, vis.params);
      const views = await networkView(ctx.db, rows, isAdmin(req.auth!), req.auth!.projectId);
      return listResponse('networks', views, q, collectionUrl(ctx, 'networks'), {
        custom: {
          ...TAG_FILTERS,
          // Filters on the provider attributes are admin-only, like the attributes themselves.
          'provider:network_type': (v, vals) => vals.includes(v['provider:network_type']),
        },
      });
    });

    app.get<{ Params: { id: string } }>('/networks/:id', async (req) => {
      const r = await findNetwork(ctx, req, req.params.id);
      // Who may see it was decided above: shared, external and RBAC-granted networks are readable
      // by the projects that see them (Neutron's rule:shared / rule:external in get_network).
      authorize(ctx, req, 'get_network', { ...r, project_id: isAdmin(req.auth!) ? r.project_id : req.auth!.projectId });
      const [v] = await networkView(ctx.db, [r], isAdmin(req.auth!), req.auth!.projectId);
      return { network: showFields(v, queryOf(req)) };
    });

    app.put<{ Params: { id: string } }>('/networks/:id', async (req) => {
      const r = resourceBody(req.body, 'network');
      onlyAttributes(r, ATTRS);
      immutable(r, ['tenant_id', 'project_id', 'availability_zone_hints'], 'network');
      validateCommon(r);
      for (const k of ['provider:network_type', 'provider:physical_network', 'provider:segmentation_id']) {
        if (k in r) throw badRequest(`Invalid input for operation: Plugin does not support updating the following provider network attributes: ${k}.`);
      }
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findNetwork(ctx, req, id, t);
        authorize(ctx, req, 'update_network', cur);
        if ('shared' in r) authorize(ctx, req, 'update_network:shared', cur);
        if ('router:external' in r) authorize(ctx, req, 'update_network:router:external', cur);
        checkRevision(req, Number(cur.revision_number));
        const set: Record<string, unknown> = {};
        if (r.name !== undefined) set.name = r.name;
        if (r.description !== undefined) set.description = r.description;
        if (r.admin_state_up !== undefined) set.admin_state_up = boolAttr(r, 'admin_state_up') ? 1 : 0;
        if (r.port_security_enabled !== undefined) set.port_security_enabled = boolAttr(r, 'port_security_enabled') ? 1 : 0;
        if (r.mtu !== undefined) set.mtu = intAttr(r, 'mtu');
        if (r.shared !== undefined) {
          const shared = boolAttr(r, 'shared');
          if (!shared && bool(cur.shared) && !networkRbacHook.sync) {
            const foreign = await t.get("SELECT 1 FROM neutron_ports WHERE network_id = ? AND project_id <> ? AND device_owner NOT LIKE 'network:%'", [id, cur.project_id]);
            if (foreign) throw neutronError(409, 'InvalidSharedSetting', `Unable to reconfigure sharing settings for network ${id}. Multiple tenants are using it.`);
          }
          set.shared = shared ? 1 : 0;
        }
        if (r['router:external'] !== undefined) set.router_external = boolAttr(r, 'router:external') ? 1 : 0;
        const keys = Object.keys(set);
        await t.run(`UPDATE neutron_networks SET ${keys.map((k) => `${k} = ?`).join(', ')}${keys.length ? ', ' : ''}revision_number = revision_number + 1, updated_at = ? WHERE id = ?`,
          [...keys.map((k) => set[k] as any), nowIso(), id]);
        if ('shared' in set || 'router_external' in set) {
          await networkRbacHook.sync?.(t, { id, project_id: cur.project_id }, { shared: 'shared' in set ? set.shared === 1 : undefined, external: 'router_external' in set ? set.router_external === 1 : undefined });
        }
      });
      const [v] = await networkView(ctx.db, [await getNetworkRow(ctx.db, id)], isAdmin(req.auth!), req.auth!.projectId);
      return { network: v };
    });

    app.delete<{ Params: { id: string } }>('/networks/:id', async (req, reply) => {
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findNetwork(ctx, req, id, t);
        authorize(ctx, req, 'delete_network', cur);
        checkRevision(req, Number(cur.revision_number));
        await t.lock(`network:${id}`);
        // What other parts let go of with the network (unassociated floating IPs), or refuse.
        for (const h of networkDeleteHooks) await h(t, id);
        // Ports Neutron owns itself (DHCP) go with the network; any other port keeps it in use.
        const inUse = await t.get("SELECT id FROM neutron_ports WHERE network_id = ? AND device_owner <> 'network:dhcp'", [id]);
        if (inUse) throw neutronError(409, 'NetworkInUse', `Unable to complete operation on network ${id}. There are one or more ports still in use on the network.`);
        await t.run('DELETE FROM neutron_ipallocations WHERE network_id = ?', [id]);
        await t.run('DELETE FROM neutron_ports WHERE network_id = ?', [id]);
        for (const s of await t.all('SELECT id FROM neutron_subnets WHERE network_id = ?', [id])) await t.run("DELETE FROM neutron_tags WHERE resource_type = 'subnets' AND resource_id = ?", [s.id]);
        await t.run('DELETE FROM neutron_subnets WHERE network_id = ?', [id]);
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'networks' AND resource_id = ?", [id]);
        await networkRbacHook.deleted?.(t, id);
        await t.run('DELETE FROM neutron_networks WHERE id = ?', [id]);
        await ctx.tasks.enqueue(t, 'network.unrealize', { networkId: id }, { resourceId: `network:${id}` });
      });
      reply.code(204);
    });
  },
};

async function createNetwork(ctx: Context, req: FastifyRequest, body: unknown, q: Queryable = ctx.db) {
  const r = resourceBody(body, 'network');
  onlyAttributes(r, ATTRS);
  validateCommon(r);
  const project = ownerOf(req, r);
  const target = { project_id: project };
  authorize(ctx, req, 'create_network', target);
  // As Neutron, an attribute rule applies only to a value other than the attribute's default.
  if (r.shared !== undefined && r.shared !== false) authorize(ctx, req, 'create_network:shared', target);
  if (r['router:external'] !== undefined && r['router:external'] !== false) authorize(ctx, req, 'create_network:router:external', target);
  for (const k of ['provider:network_type', 'provider:physical_network', 'provider:segmentation_id']) {
    if (r[k] !== undefined) authorize(ctx, req, `create_network:${k}`, target);
  }
  const id = uuid();
  const now = nowIso();
  await q.tx(async (t) => {
    await enforceQuota(t, project, 'network', 1);
    const seg = await segmentFor(t, r);
    await t.run(`INSERT INTO neutron_networks (id, project_id, name, description, admin_state_up, status, shared, router_external, mtu,
        port_security_enabled, network_type, physical_network, segmentation_id, availability_zone_hints, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, 'ACTIVE', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      id, project, r.name ?? '', r.description ?? '', boolAttr(r, 'admin_state_up') === false ? 0 : 1,
      boolAttr(r, 'shared') ? 1 : 0, boolAttr(r, 'router:external') ? 1 : 0, intAttr(r, 'mtu') ?? 1500,
      boolAttr(r, 'port_security_enabled') === false ? 0 : 1, seg.type, seg.physnet, seg.segId,
      toJson(r.availability_zone_hints ?? []), now, now,
    ]);
    if (boolAttr(r, 'shared') || boolAttr(r, 'router:external')) {
      await networkRbacHook.sync?.(t, { id, project_id: project }, { shared: boolAttr(r, 'shared') || undefined, external: boolAttr(r, 'router:external') || undefined });
    }
    await ctx.tasks.enqueue(t, 'network.realize', { networkId: id }, { resourceId: `network:${id}` });
  });
  const [v] = await networkView(q, [await getNetworkRow(q, id)], isAdmin(req.auth!), req.auth!.projectId);
  return v;
}
