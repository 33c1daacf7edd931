// Routers (external gateway with SNAT flag and fixed IPs, interfaces by subnet or port, extra
// routes) and floating IPs (an address of an external network, associated with a port that a
// router connects to that network). On vSphere these are realised by the edge (NSX later); here
// they are Neutron's model and its checks, which is what clients and Nova see.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../core/errors.ts';
import type { AuthContext } from '../core/auth.ts';
import type { FloatingIpInfo, NetworkApi } from './api.ts';
import { uuid, nowIso } from '../core/ids.ts';
import type { NetworkPart } from './index.ts';
import { neutronTime } from './db.ts';
import {
  authorize, boolAttr, checkRevision, collectionUrl, isAdmin, neutronError, onlyAttributes, ownerOf, resourceBody, str,
  tagsOf, TAG_FILTERS,
} from './common.ts';
import { getNetworkRow, networkDeleteHooks, notFoundNetwork } from './networks.ts';
import { createPortTx, deletePortTx, findPort, portHooks } from './ports.ts';
import { parseFixedIps } from './ipam.ts';
import { listResponse, queryOf, showFields } from './query.ts';
import { enforceQuota, registerQuotaResource } from './quotas.ts';
import { novaHooks } from './nova.ts';
import { cidrContains, cidrsOverlap, parseCidr, parseIp } from './ip.ts';
import { TAGGABLE } from './tags.ts';

registerQuotaResource('router', 10, 'SELECT COUNT(*) AS n FROM neutron_routers WHERE project_id = ?');
registerQuotaResource('floatingip', 50, 'SELECT COUNT(*) AS n FROM neutron_floatingips WHERE project_id = ?');

const ROUTER_ATTRS = ['name', 'description', 'admin_state_up', 'external_gateway_info', 'routes', 'tenant_id', 'project_id',
  'distributed', 'ha', 'availability_zone_hints', 'flavor_id', 'tags', 'enable_ndp_proxy'];
const FIP_ATTRS = ['floating_network_id', 'floating_ip_address', 'subnet_id', 'port_id', 'fixed_ip_address', 'description',
  'tenant_id', 'project_id', 'dns_name', 'dns_domain', 'qos_policy_id', 'tags'];

const routerNotFound = (id: string) => neutronError(404, 'RouterNotFound', `Router ${id} could not be found`);
const fipNotFound = (id: string) => neutronError(404, 'FloatingIPNotFound', `Floating IP ${id} could not be found`);

async function routerViews(q: Queryable, rows: any[]) {
  const ids = rows.map((r) => r.id);
  const gwIps = new Map<string, { subnet_id: string; ip_address: string }[]>();
  for (const r of rows) {
    if (!r.gw_port_id) continue;
    gwIps.set(r.id, (await q.all('SELECT subnet_id, ip_address FROM neutron_ipallocations WHERE port_id = ? ORDER BY ip_address', [r.gw_port_id])).map((a) => ({ subnet_id: a.subnet_id, ip_address: a.ip_address })));
  }
  const tags = await tagsOf(q, 'routers', ids);
  return rows.map((r) => ({
    id: r.id, name: r.name, description: r.description, tenant_id: r.project_id, project_id: r.project_id,
    admin_state_up: bool(r.admin_state_up), status: 'ACTIVE',
    external_gateway_info: r.gw_network_id ? { network_id: r.gw_network_id, enable_snat: bool(r.enable_snat), external_fixed_ips: gwIps.get(r.id) ?? [] } : null,
    routes: fromJson(r.routes, []), availability_zone_hints: [], availability_zones: ['nova'], distributed: false, ha: false,
    flavor_id: null, tags: tags.get(r.id) ?? [], created_at: neutronTime(r.created_at), updated_at: neutronTime(r.updated_at),
    revision_number: Number(r.revision_number),
  }));
}

async function findRouter(ctx: Context, req: FastifyRequest, id: string, q: Queryable = ctx.db) {
  const r = await q.get('SELECT * FROM neutron_routers WHERE id = ?', [id]);
  if (!r || !(isAdmin(req.auth!) || r.project_id === req.auth!.projectId)) throw routerNotFound(id);
  return r;
}

/** Sets, changes or clears a router's gateway (in the caller's transaction). */
async function setGateway(ctx: Context, req: FastifyRequest, t: Tx, router: any, info: unknown) {
  if (info === null || (typeof info === 'object' && info && Object.keys(info).length === 0)) {
    if (!router.gw_network_id) return;
    const used = await t.get('SELECT id FROM neutron_floatingips WHERE router_id = ?', [router.id]);
    if (used) throw neutronError(409, 'RouterExternalGatewayInUseByFloatingIp', `Gateway cannot be updated for router ${router.id}, since a gateway to external network ${router.gw_network_id} is required by one or more floating IPs.`);
    if (router.gw_port_id) await deletePortTx(t, router.gw_port_id);
    await t.run('UPDATE neutron_routers SET gw_network_id = NULL, gw_port_id = NULL, enable_snat = 1 WHERE id = ?', [router.id]);
    return;
  }
  if (!info || typeof info !== 'object' || Array.isArray(info)) throw badRequest(`Invalid input for external_gateway_info. Reason: '${JSON.stringify(info)}' is not a dictionary.`);
  const g = info as Record<string, any>;
  onlyAttributes(g, ['network_id', 'enable_snat', 'external_fixed_ips', 'qos_policy_id']);
  if (typeof g.network_id !== 'string') throw badRequest('Invalid input for external_gateway_info. Reason: network_id is required.');
  const snat = boolAttr(g, 'enable_snat');
  if (snat !== undefined || g.external_fixed_ips !== undefined) authorize(ctx, req, 'update_router:external_gateway_info:enable_snat', { project_id: router.project_id });
  const net = await getNetworkRow(t, g.network_id);
  if (!net || !(isAdmin(req.auth!) || net.project_id === req.auth!.projectId || bool(net.shared) || bool(net.router_external))) throw notFoundNetwork(g.network_id);
  if (!bool(net.router_external)) throw badRequest(`Bad router request: Network ${g.network_id} is not an external network.`);
  const fixed = g.external_fixed_ips === undefined ? undefined : parseFixedIps(g.external_fixed_ips);
  if (router.gw_network_id === g.network_id && fixed === undefined) {
    if (snat !== undefined) await t.run('UPDATE neutron_routers SET enable_snat = ? WHERE id = ?', [snat ? 1 : 0, router.id]);
    return;
  }
  if (router.gw_network_id && router.gw_network_id !== g.network_id && await t.get('SELECT id FROM neutron_floatingips WHERE router_id = ?', [router.id])) {
    throw neutronError(409, 'RouterExternalGatewayInUseByFloatingIp', `Gateway cannot be updated for router ${router.id}, since a gateway to external network ${router.gw_network_id} is required by one or more floating IPs.`);
  }
  if (router.gw_port_id) await deletePortTx(t, router.gw_port_id);
  if (!(await t.get('SELECT 1 FROM neutron_subnets WHERE network_id = ?', [g.network_id]))) {
    throw badRequest(`Bad router request: No subnets on external network ${g.network_id}.`);
  }
  // The gateway port belongs to no project (as in Neutron): it counts against nobody's quota.
  const portId = await createPortTx(t, { projectId: '', networkId: g.network_id, deviceId: router.id, deviceOwner: 'network:router_gateway', fixedIps: fixed });
  await t.run('UPDATE neutron_routers SET gw_network_id = ?, gw_port_id = ?, enable_snat = ? WHERE id = ?', [g.network_id, portId, snat === false ? 0 : 1, router.id]);
}

/** Subnets a router is connected to through its interfaces. */
async function interfaceSubnets(q: Queryable, routerId: string) {
  return q.all(`SELECT s.id, s.cidr, a.port_id FROM neutron_ports p JOIN neutron_ipallocations a ON a.port_id = p.id JOIN neutron_subnets s ON s.id = a.subnet_id
    WHERE p.device_id = ? AND p.device_owner = 'network:router_interface'`, [routerId]);
}

async function validateRoutes(q: Queryable, routerId: string, raw: unknown) {
  if (!Array.isArray(raw)) throw badRequest(`Invalid input for routes. Reason: '${JSON.stringify(raw)}' is not a list.`);
  const subnets = await interfaceSubnets(q, routerId);
  const seen = new Set<string>();
  return raw.map((r: any) => {
    if (!r || typeof r !== 'object' || Object.keys(r).some((k) => k !== 'destination' && k !== 'nexthop')) throw badRequest(`Invalid input for routes. Reason: '${JSON.stringify(r)}' is not a valid route.`);
    const dest = typeof r.destination === 'string' ? parseCidr(r.destination) : null;
    const hop = typeof r.nexthop === 'string' ? parseIp(r.nexthop) : null;
    if (!dest || !hop) throw badRequest(`Invalid input for routes. Reason: '${JSON.stringify(r)}' is not a valid route.`);
    if (!subnets.some((s) => { const c = parseCidr(s.cidr)!; return c.version === hop.version && cidrContains(c, hop.value); })) {
      throw neutronError(400, 'InvalidRoutes', `Invalid format for routes: ${JSON.stringify([r])}, the nexthop is not connected with router`);
    }
    const key = `${r.destination}|${r.nexthop}`;
    if (seen.has(key)) throw neutronError(400, 'InvalidRoutes', `Invalid format for routes: duplicate route ${key}`);
    seen.add(key);
    return { destination: r.destination, nexthop: r.nexthop };
  });
}

async function fipViews(q: Queryable, rows: any[]) {
  const tags = await tagsOf(q, 'floatingips', rows.map((r) => r.id));
  return rows.map((r) => ({
    id: r.id, tenant_id: r.project_id, project_id: r.project_id, floating_ip_address: r.floating_ip_address,
    floating_network_id: r.floating_network_id, router_id: r.router_id, port_id: r.port_id, fixed_ip_address: r.fixed_ip_address,
    status: r.port_id ? 'ACTIVE' : 'DOWN', description: r.description, qos_policy_id: null, port_forwardings: [],
    tags: tags.get(r.id) ?? [], created_at: neutronTime(r.created_at), updated_at: neutronTime(r.updated_at), revision_number: Number(r.revision_number),
  }));
}

/** Works out what a floating IP association needs: the fixed address and the router that connects them. */
async function associationFor(ctx: Context, req: FastifyRequest, t: Tx, fip: Record<string, any>, portId: string, fixedIp: unknown) {
  const port = await findPort(ctx, req, portId, t);
  if (port.project_id !== fip.project_id && !isAdmin(req.auth!)) throw neutronError(404, 'PortNotFound', `Port ${portId} could not be found.`);
  const ips = await t.all('SELECT subnet_id, ip_address FROM neutron_ipallocations WHERE port_id = ?', [portId]);
  let chosen: any;
  if (fixedIp !== undefined && fixedIp !== null) {
    chosen = ips.find((a) => a.ip_address === fixedIp);
    if (!chosen) throw badRequest(`Bad floatingip request: Port ${portId} does not have fixed ip ${fixedIp}.`);
  } else {
    chosen = ips.find((a) => parseIp(a.ip_address)!.version === 4);
    if (!chosen) throw badRequest(`Bad floatingip request: Port ${portId} does not have any IPv4 address.`);
  }
  const taken = await t.get('SELECT id FROM neutron_floatingips WHERE port_id = ? AND fixed_ip_address = ? AND id <> ?', [portId, chosen.ip_address, fip.id]);
  if (taken) throw neutronError(409, 'FloatingIPPortAlreadyAssociated', `Cannot associate floating IP with port ${portId} using fixed IP ${chosen.ip_address}, as that fixed IP already has a floating IP on external network ${fip.floating_network_id}.`);
  const router = await t.get(`SELECT r.id FROM neutron_routers r JOIN neutron_ports p ON p.device_id = r.id AND p.device_owner = 'network:router_interface'
    JOIN neutron_ipallocations a ON a.port_id = p.id WHERE r.gw_network_id = ? AND a.subnet_id = ? LIMIT 1`, [fip.floating_network_id, chosen.subnet_id]);
  if (!router) {
    throw neutronError(404, 'ExternalGatewayForFloatingIPNotFound', `External network ${fip.floating_network_id} is not reachable from subnet ${chosen.subnet_id}. Therefore, cannot associate Port ${portId} with a Floating IP.`);
  }
  return { portId, fixed: chosen.ip_address as string, routerId: router.id as string };
}

async function findFip(ctx: Context, req: FastifyRequest, id: string, q: Queryable = ctx.db) {
  const r = await q.get('SELECT * FROM neutron_floatingips WHERE id = ?', [id]);
  if (!r || !(isAdmin(req.auth!) || r.project_id === req.auth!.projectId)) throw fipNotFound(id);
  return r;
}

type FloatingIpProxy = Required<Pick<NetworkApi, 'listFloatingIpsFor' | 'listFloatingIpPools' | 'allocateFloatingIp' | 'releaseFloatingIp' | 'associateFloatingIp' | 'disassociateFloatingIp'>>;

/**
 * What Nova's deprecated os-floating-ips proxy and the addFloatingIp/removeFloatingIp actions
 * need, as nova/network/neutron.py does it: pools are external networks (by name or id), the
 * caller's project's floating IPs, errors in Nova's terms.
 */
function floatingIpProxy(ctx: Context): FloatingIpProxy {
  const db = ctx.db;
  const asReq = (auth: AuthContext) => ({ auth }) as FastifyRequest;
  const infos = async (q: Queryable, rows: any[]): Promise<FloatingIpInfo[]> => {
    const out: FloatingIpInfo[] = [];
    for (const f of rows) {
      const net = await q.get('SELECT name FROM neutron_networks WHERE id = ?', [f.floating_network_id]);
      const port = f.port_id ? await q.get('SELECT device_id, device_owner FROM neutron_ports WHERE id = ?', [f.port_id]) : null;
      out.push({
        id: f.id, address: f.floating_ip_address, pool: net?.name ?? f.floating_network_id, fixedAddress: f.fixed_ip_address ?? null,
        instanceId: port && String(port.device_owner).startsWith('compute:') ? port.device_id : null,
      });
    }
    return out;
  };
  const byAddress = async (q: Queryable, auth: AuthContext, address: string) => {
    const f = await q.get('SELECT * FROM neutron_floatingips WHERE floating_ip_address = ?', [address]);
    if (!f || !(isAdmin(auth) || f.project_id === auth.projectId)) throw notFound(`Floating IP not found for address ${address}.`);
    return f;
  };
  return {
    async listFloatingIpsFor(auth, projectId) {
      return infos(db, await db.all('SELECT * FROM neutron_floatingips WHERE project_id = ? ORDER BY created_at, id', [projectId]));
    },
    async listFloatingIpPools() {
      return (await db.all('SELECT name FROM neutron_networks WHERE router_external = 1 ORDER BY created_at, id')).map((n) => n.name as string);
    },
    async allocateFloatingIp(auth, projectId, pool) {
      ctx.policy.authorize('create_floatingip', auth, { project_id: projectId, tenant_id: projectId });
      const id = uuid();
      await db.tx(async (t) => {
        const ext = await t.all('SELECT * FROM neutron_networks WHERE router_external = 1 ORDER BY created_at, id');
        // No pool named: Nova's default pool ("nova"), or the one external network there is.
        const net = pool === null
          ? ext.find((n) => n.name === 'nova') ?? (ext.length === 1 ? ext[0] : undefined)
          : ext.find((n) => n.id === pool) ?? ext.find((n) => n.name === pool);
        if (!net) throw notFound(pool === null ? 'No default floating IP pool is configured.' : `Floating IP pool not found.`);
        try {
          await enforceQuota(t, projectId, 'floatingip', 1);
        } catch (e) { throw e instanceof ApiError && e.status === 409 ? forbidden('Maximum number of floating IPs exceeded') : e; }
        let portId: string;
        try {
          portId = await createPortTx(t, { projectId: '', networkId: net.id, deviceId: id, deviceOwner: 'network:floatingip' });
        } catch (e) { throw e instanceof ApiError && e.status === 409 ? notFound(`No more floating IPs in pool ${net.name}.`) : e; }
        const addr = (await t.get('SELECT ip_address FROM neutron_ipallocations WHERE port_id = ? ORDER BY ip_address', [portId]))?.ip_address;
        if (!addr) throw notFound(`No more floating IPs in pool ${net.name}.`);
        const now = nowIso();
        await t.run(`INSERT INTO neutron_floatingips (id, project_id, floating_network_id, floating_ip_address, floating_port_id, description, created_at, updated_at)
          VALUES (?, ?, ?, ?, ?, '', ?, ?)`, [id, projectId, net.id, addr, portId, now, now]);
      });
      return (await infos(db, [await db.get('SELECT * FROM neutron_floatingips WHERE id = ?', [id])]))[0];
    },
    async releaseFloatingIp(auth, id) {
      await db.tx(async (t) => {
        const f = await t.get('SELECT * FROM neutron_floatingips WHERE id = ?', [id]);
        if (!f || !(isAdmin(auth) || f.project_id === auth.projectId)) throw notFound(`Floating IP not found for ID ${id}`);
        ctx.policy.authorize('delete_floatingip', auth, { project_id: f.project_id, tenant_id: f.project_id });
        await deletePortTx(t, f.floating_port_id);
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'floatingips' AND resource_id = ?", [f.id]);
        await t.run('DELETE FROM neutron_floatingips WHERE id = ?', [f.id]);
      });
    },
    async associateFloatingIp(auth, instanceId, address, fixedAddress) {
      await db.tx(async (t) => {
        const f = await byAddress(t, auth, address);
        ctx.policy.authorize('update_floatingip', auth, { project_id: f.project_id, tenant_id: f.project_id });
        const ips = await t.all(`SELECT a.port_id, a.ip_address FROM neutron_ports p JOIN neutron_ipallocations a ON a.port_id = p.id
          WHERE p.device_id = ? AND p.device_owner LIKE 'compute:%' ORDER BY COALESCE(p.nova_index, 1000000), p.created_at, a.ip_address`, [instanceId]);
        if (!ips.length) throw badRequest('No fixed IPs associated to instance');
        const chosen = fixedAddress !== null ? ips.find((a) => a.ip_address === fixedAddress) : ips.find((a) => parseIp(a.ip_address)?.version === 4);
        if (!chosen) throw badRequest(fixedAddress !== null ? 'Specified fixed address not assigned to instance' : 'Unable to associate floating IP: the instance has no IPv4 address.');
        let a: { portId: string; fixed: string; routerId: string };
        try {
          a = await associationFor(ctx, asReq(auth), t, f, chosen.port_id, chosen.ip_address);
        } catch (e) { throw e instanceof ApiError ? badRequest(`Unable to associate floating IP ${address} to fixed IP ${chosen.ip_address} for instance ${instanceId}. ${e.message}`) : e; }
        await t.run('UPDATE neutron_floatingips SET port_id = ?, fixed_ip_address = ?, router_id = ?, revision_number = revision_number + 1, updated_at = ? WHERE id = ?',
          [a.portId, a.fixed, a.routerId, nowIso(), f.id]);
      });
    },
    async disassociateFloatingIp(auth, instanceId, address) {
      await db.tx(async (t) => {
        const f = await byAddress(t, auth, address);
        const port = f.port_id ? await t.get('SELECT device_id FROM neutron_ports WHERE id = ?', [f.port_id]) : null;
        if (!port || port.device_id !== instanceId) throw conflict(`Floating IP ${address} is not associated with instance ${instanceId}.`);
        ctx.policy.authorize('update_floatingip', auth, { project_id: f.project_id, tenant_id: f.project_id });
        await t.run('UPDATE neutron_floatingips SET port_id = NULL, fixed_ip_address = NULL, router_id = NULL, revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [nowIso(), f.id]);
      });
    },
  };
}

export const routers: NetworkPart = {
  migrations: [{
    id: 'network-110-routers',
    sql: [
      `CREATE TABLE neutron_routers (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        admin_state_up INTEGER NOT NULL DEFAULT 1,
        gw_network_id TEXT,
        gw_port_id TEXT,
        enable_snat INTEGER NOT NULL DEFAULT 1,
        routes TEXT NOT NULL DEFAULT '[]',
        revision_number INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      `CREATE TABLE neutron_floatingips (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        floating_network_id TEXT NOT NULL,
        floating_ip_address TEXT NOT NULL,
        floating_port_id TEXT NOT NULL,
        port_id TEXT,
        fixed_ip_address TEXT,
        router_id TEXT,
        description TEXT NOT NULL DEFAULT '',
        revision_number INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      `CREATE INDEX neutron_floatingips_port ON neutron_floatingips (port_id)`,
    ].join(';\n'),
  }],
  extensions: [
    { alias: 'router', name: 'Neutron L3 Router', description: 'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.', updated: '2012-07-20T10:00:00-00:00' },
    { alias: 'ext-gw-mode', name: 'Neutron L3 Configurable external gateway mode', description: 'Extension of the router abstraction for specifying whether SNAT should occur on the external gateway', updated: '2013-03-28T10:00:00-00:00' },
    { alias: 'extraroute', name: 'Neutron Extra Route', description: 'Extra routes configuration for L3 router', updated: '2013-02-01T10:00:00-00:00' },
  ],
  async init(ctx) {
    TAGGABLE.set('routers', { find: findRouter, table: 'neutron_routers' });
    TAGGABLE.set('floatingips', { find: findFip, table: 'neutron_floatingips' });
    novaHooks.floatingIpProxy = floatingIpProxy(ctx);
    novaHooks.floatingIpsForPorts = async (q, portIds) => {
      const out = new Map<string, string[]>();
      for (let i = 0; i < portIds.length; i += 500) {
        const chunk = portIds.slice(i, i + 500);
        if (!chunk.length) break;
        for (const f of await q.all(`SELECT port_id, floating_ip_address FROM neutron_floatingips WHERE port_id IN (${chunk.map(() => '?').join(',')}) ORDER BY created_at`, chunk)) {
          out.set(f.port_id, [...(out.get(f.port_id) ?? []), f.floating_ip_address]);
        }
      }
      return out;
    };
    // An external network goes with its unassociated floating IPs; an associated one keeps it in use.
    networkDeleteHooks.push(async (t, networkId) => {
      const fips = await t.all('SELECT id, port_id, floating_port_id FROM neutron_floatingips WHERE floating_network_id = ?', [networkId]);
      if (fips.some((f) => f.port_id)) throw neutronError(409, 'NetworkInUse', `Unable to complete operation on network ${networkId}. There are one or more floating IPs associated on the network.`);
      for (const f of fips) {
        await deletePortTx(t, f.floating_port_id);
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'floatingips' AND resource_id = ?", [f.id]);
        await t.run('DELETE FROM neutron_floatingips WHERE id = ?', [f.id]);
      }
    });
    // A deleted port takes its floating IP associations with it (the floating IPs stay, DOWN).
    portHooks.beforeDelete.push(async (t, portId) => {
      await t.run('UPDATE neutron_floatingips SET port_id = NULL, fixed_ip_address = NULL, router_id = NULL, revision_number = revision_number + 1, updated_at = ? WHERE port_id = ?', [nowIso(), portId]);
    });
    void ctx;
  },
  async routes(app: FastifyInstance, ctx: Context) {
    const oneRouter = async (id: string) => (await routerViews(ctx.db, [await ctx.db.get('SELECT * FROM neutron_routers WHERE id = ?', [id])]))[0];
    const oneFip = async (id: string) => (await fipViews(ctx.db, [await ctx.db.get('SELECT * FROM neutron_floatingips WHERE id = ?', [id])]))[0];

    app.post('/routers', async (req, reply) => {
      const r = resourceBody(req.body, 'router');
      onlyAttributes(r, ROUTER_ATTRS);
      str(r, 'name'); str(r, 'description');
      const project = ownerOf(req, r);
      authorize(ctx, req, 'create_router', { project_id: project });
      if (r.routes !== undefined && (!Array.isArray(r.routes) || r.routes.length)) throw badRequest('Invalid input for operation: routes cannot be set when a router is created (it has no interfaces yet).');
      const id = uuid();
      const now = nowIso();
      await ctx.db.tx(async (t) => {
        await enforceQuota(t, project, 'router', 1);
        await t.run('INSERT INTO neutron_routers (id, project_id, name, description, admin_state_up, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
          [id, project, r.name ?? '', r.description ?? '', boolAttr(r, 'admin_state_up') === false ? 0 : 1, now, now]);
        if (r.external_gateway_info !== undefined && r.external_gateway_info !== null) {
          await setGateway(ctx, req, t, await t.get('SELECT * FROM neutron_routers WHERE id = ?', [id]), r.external_gateway_info);
        }
      });
      reply.code(201);
      return { router: await oneRouter(id) };
    });

    app.get('/routers', async (req) => {
      const a = req.auth!;
      const rows = isAdmin(a) ? await ctx.db.all('SELECT * FROM neutron_routers') : await ctx.db.all('SELECT * FROM neutron_routers WHERE project_id = ?', [a.projectId ?? '']);
      return listResponse('routers', await routerViews(ctx.db, rows), queryOf(req), collectionUrl(ctx, 'routers'), { custom: TAG_FILTERS, ignore: ['external_gateway_info'] });
    });

    app.get<{ Params: { id: string } }>('/routers/:id', async (req) => {
      const r = await findRouter(ctx, req, req.params.id);
      return { router: showFields((await routerViews(ctx.db, [r]))[0], queryOf(req)) };
    });

    app.put<{ Params: { id: string } }>('/routers/:id', async (req) => {
      const r = resourceBody(req.body, 'router');
      onlyAttributes(r, ROUTER_ATTRS);
      for (const k of ['tenant_id', 'project_id']) if (k in r) throw badRequest(`Cannot update read-only attribute ${k}`);
      str(r, 'name'); str(r, 'description');
      await ctx.db.tx(async (t) => {
        const cur = await findRouter(ctx, req, req.params.id, t);
        authorize(ctx, req, 'update_router', cur);
        checkRevision(req, Number(cur.revision_number));
        await t.lock(`router:${cur.id}`);
        if ('external_gateway_info' in r) await setGateway(ctx, req, t, cur, r.external_gateway_info);
        const set: Record<string, unknown> = {};
        if (r.name !== undefined) set.name = r.name;
        if (r.description !== undefined) set.description = r.description;
        if (r.admin_state_up !== undefined) set.admin_state_up = boolAttr(r, 'admin_state_up') ? 1 : 0;
        if (r.routes !== undefined) set.routes = toJson(await validateRoutes(t, cur.id, r.routes ?? []));
        const keys = Object.keys(set);
        await t.run(`UPDATE neutron_routers SET ${keys.map((k) => `${k} = ?`).join(', ')}${keys.length ? ', ' : ''}revision_number = revision_number + 1, updated_at = ? WHERE id = ?`,
          [...keys.map((k) => set[k] as any), nowIso(), cur.id]);
      });
      return { router: await oneRouter(req.params.id) };
    });

    app.delete<{ Params: { id: string } }>('/routers/:id', async (req, reply) => {
      await ctx.db.tx(async (t) => {
        const cur = await findRouter(ctx, req, req.params.id, t);
        authorize(ctx, req, 'delete_router', cur);
        checkRevision(req, Number(cur.revision_number));
        if (await t.get("SELECT 1 FROM neutron_ports WHERE device_id = ? AND device_owner = 'network:router_interface'", [cur.id])) {
          throw neutronError(409, 'RouterInUse', `Router ${cur.id} still has ports`);
        }
        if (await t.get('SELECT 1 FROM neutron_floatingips WHERE router_id = ?', [cur.id])) throw neutronError(409, 'RouterInUse', `Router ${cur.id} still has floating IPs`);
        if (cur.gw_port_id) await deletePortTx(t, cur.gw_port_id);
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'routers' AND resource_id = ?", [cur.id]);
        await t.run('DELETE FROM neutron_routers WHERE id = ?', [cur.id]);
      });
      reply.code(204);
    });

    app.put<{ Params: { id: string } }>('/routers/:id/add_router_interface', async (req) => {
      const b = (req.body ?? {}) as Record<string, any>;
      if (typeof b !== 'object' || Array.isArray(b)) throw badRequest('Bad router request: body must be an object.');
      onlyAttributes(b, ['subnet_id', 'port_id']);
      if (!b.subnet_id === !b.port_id) throw badRequest('Bad router request: Either subnet_id or port_id must be specified (and not both).');
      const out = await ctx.db.tx(async (t) => {
        const router = await findRouter(ctx, req, req.params.id, t);
        authorize(ctx, req, 'add_router_interface', router);
        await t.lock(`router:${router.id}`);
        const attached = await interfaceSubnets(t, router.id);
        const checkOverlap = async (subnetId: string) => {
          const s = (await t.get('SELECT id, cidr FROM neutron_subnets WHERE id = ?', [subnetId]))!;
          if (attached.some((a) => a.id === subnetId)) throw badRequest(`Bad router request: Router already has a port on subnet ${subnetId}.`);
          for (const a of attached) {
            if (cidrsOverlap(parseCidr(a.cidr)!, parseCidr(s.cidr)!)) throw badRequest(`Bad router request: Cidr ${s.cidr} of subnet ${subnetId} overlaps with cidr ${a.cidr} of subnet ${a.id}.`);
          }
        };
        let portId: string;
        let subnetId: string;
        if (b.port_id) {
          const port = await findPort(ctx, req, b.port_id, t);
          if (port.device_id) throw neutronError(409, 'PortInUse', `Unable to complete operation on port ${port.id} for network ${port.network_id}. Port already has an attached device ${port.device_id}.`);
          const ips = await t.all('SELECT subnet_id FROM neutron_ipallocations WHERE port_id = ?', [port.id]);
          if (!ips.length) throw badRequest(`Bad router request: Router port must have at least one fixed IP.`);
          for (const a of ips) await checkOverlap(a.subnet_id);
          await t.run("UPDATE neutron_ports SET device_id = ?, device_owner = 'network:router_interface', status = 'ACTIVE', security_groups = '[]', revision_number = revision_number + 1, updated_at = ? WHERE id = ?", [router.id, nowIso(), port.id]);
          portId = port.id;
          subnetId = ips[0].subnet_id;
        } else {
          const s = await t.get('SELECT s.*, n.shared, n.router_external FROM neutron_subnets s JOIN neutron_networks n ON n.id = s.network_id WHERE s.id = ?', [b.subnet_id]);
          if (!s || !(isAdmin(req.auth!) || s.project_id === req.auth!.projectId || bool(s.shared))) throw neutronError(404, 'SubnetNotFound', `Subnet ${b.subnet_id} could not be found.`);
          if (!s.gateway_ip) throw badRequest(`Bad router request: Subnet ${s.id} does not have a gateway IP.`);
          await checkOverlap(s.id);
          portId = await createPortTx(t, {
            projectId: router.project_id, networkId: s.network_id, deviceId: router.id, deviceOwner: 'network:router_interface',
            fixedIps: [{ subnet_id: s.id, ip_address: s.gateway_ip }],
          });
          subnetId = s.id;
        }
        await t.run('UPDATE neutron_routers SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [nowIso(), router.id]);
        const port = (await t.get('SELECT network_id FROM neutron_ports WHERE id = ?', [portId]))!;
        const subnetIds = (await t.all('SELECT subnet_id FROM neutron_ipallocations WHERE port_id = ?', [portId])).map((a) => a.subnet_id);
        return { id: router.id, tenant_id: router.project_id, project_id: router.project_id, port_id: portId, network_id: port.network_id, subnet_id: subnetId, subnet_ids: subnetIds };
      });
      return out;
    });

    app.put<{ Params: { id: string } }>('/routers/:id/remove_router_interface', async (req) => {
      const b = (req.body ?? {}) as Record<string, any>;
      if (typeof b !== 'object' || Array.isArray(b)) throw badRequest('Bad router request: body must be an object.');
      onlyAttributes(b, ['subnet_id', 'port_id']);
      if (!b.subnet_id && !b.port_id) throw badRequest('Bad router request: Either subnet_id or port_id must be specified.');
      return ctx.db.tx(async (t) => {
        const router = await findRouter(ctx, req, req.params.id, t);
        authorize(ctx, req, 'remove_router_interface', router);
        await t.lock(`router:${router.id}`);
        const attached = await interfaceSubnets(t, router.id);
        const hit = b.port_id ? attached.find((a) => a.port_id === b.port_id) : attached.find((a) => a.id === b.subnet_id);
        if (!hit) {
          if (b.port_id) throw neutronError(404, 'RouterInterfaceNotFound', `Router ${router.id} does not have an interface with id ${b.port_id}`);
          throw neutronError(404, 'RouterInterfaceNotFoundForSubnet', `Router ${router.id} has no interface on subnet ${b.subnet_id}`);
        }
        if (b.subnet_id && b.port_id && hit.id !== b.subnet_id) throw neutronError(409, 'SubnetMismatchForPort', `Subnet ${b.subnet_id} does not match port ${b.port_id}.`);
        // Extra routes whose nexthop only this interface reaches keep it.
        const remaining = attached.filter((a) => a.port_id !== hit.port_id).map((a) => parseCidr(a.cidr)!);
        const gone = parseCidr(hit.cidr)!;
        for (const route of fromJson<{ destination: string; nexthop: string }[]>(router.routes, [])) {
          const hop = parseIp(route.nexthop);
          if (hop && gone.version === hop.version && cidrContains(gone, hop.value) && !remaining.some((c) => c.version === hop.version && cidrContains(c, hop.value))) {
            throw neutronError(409, 'RouterInterfaceInUseByRoute', `Router interface for subnet ${hit.id} on router ${router.id} cannot be deleted, as it is required by one or more routes.`);
          }
        }
        const inUse = await t.get(`SELECT f.id FROM neutron_floatingips f JOIN neutron_ipallocations a ON a.port_id = f.port_id AND a.ip_address = f.fixed_ip_address
          WHERE f.router_id = ? AND a.subnet_id = ?`, [router.id, hit.id]);
        if (inUse) throw neutronError(409, 'RouterInterfaceInUseByFloatingIP', `Router interface for subnet ${hit.id} on router ${router.id} cannot be deleted, as it is required by one or more floating IPs.`);
        const port = (await t.get('SELECT network_id FROM neutron_ports WHERE id = ?', [hit.port_id]))!;
        await deletePortTx(t, hit.port_id);
        await t.run('UPDATE neutron_routers SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [nowIso(), router.id]);
        return { id: router.id, tenant_id: router.project_id, project_id: router.project_id, port_id: hit.port_id, network_id: port.network_id, subnet_id: hit.id, subnet_ids: [hit.id] };
      });
    });

    app.post('/floatingips', async (req, reply) => {
      const r = resourceBody(req.body, 'floatingip');
      onlyAttributes(r, FIP_ATTRS);
      str(r, 'description');
      if (typeof r.floating_network_id !== 'string') throw badRequest("Invalid input for operation: 'floating_network_id' must be specified.");
      const project = ownerOf(req, r);
      authorize(ctx, req, 'create_floatingip', { project_id: project });
      if (r.floating_ip_address !== undefined) authorize(ctx, req, 'create_floatingip:floating_ip_address', { project_id: project });
      const id = uuid();
      await ctx.db.tx(async (t) => {
        const net = await getNetworkRow(t, r.floating_network_id);
        if (!net) throw notFoundNetwork(r.floating_network_id);
        if (!bool(net.router_external)) throw badRequest(`Bad floatingip request: Network ${net.id} is not a valid external network.`);
        await enforceQuota(t, project, 'floatingip', 1);
        const fixedIps = r.floating_ip_address !== undefined || r.subnet_id !== undefined
          ? [{ ...(r.subnet_id ? { subnet_id: r.subnet_id } : {}), ...(r.floating_ip_address ? { ip_address: r.floating_ip_address } : {}) }] : undefined;
        const portId = await createPortTx(t, { projectId: '', networkId: net.id, deviceId: id, deviceOwner: 'network:floatingip', fixedIps });
        const addr = (await t.get('SELECT ip_address FROM neutron_ipallocations WHERE port_id = ? ORDER BY ip_address', [portId]))?.ip_address;
        if (!addr) throw neutronError(409, 'IpAddressGenerationFailure', `No more IP addresses available on network ${net.id}.`);
        let assoc: { portId: string | null; fixed: string | null; routerId: string | null } = { portId: null, fixed: null, routerId: null };
        if (r.port_id) assoc = await associationFor(ctx, req, t, { id, project_id: project, floating_network_id: net.id }, r.port_id, r.fixed_ip_address);
        const now = nowIso();
        await t.run(`INSERT INTO neutron_floatingips (id, project_id, floating_network_id, floating_ip_address, floating_port_id, port_id, fixed_ip_address,
            router_id, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, project, net.id, addr, portId, assoc.portId, assoc.fixed, assoc.routerId, r.description ?? '', now, now]);
      });
      reply.code(201);
      return { floatingip: await oneFip(id) };
    });

    app.get('/floatingips', async (req) => {
      const a = req.auth!;
      const rows = isAdmin(a) ? await ctx.db.all('SELECT * FROM neutron_floatingips') : await ctx.db.all('SELECT * FROM neutron_floatingips WHERE project_id = ?', [a.projectId ?? '']);
      return listResponse('floatingips', await fipViews(ctx.db, rows), queryOf(req), collectionUrl(ctx, 'floatingips'), { custom: TAG_FILTERS });
    });

    app.get<{ Params: { id: string } }>('/floatingips/:id', async (req) => {
      const f = await findFip(ctx, req, req.params.id);
      return { floatingip: showFields((await fipViews(ctx.db, [f]))[0], queryOf(req)) };
    });

    app.put<{ Params: { id: string } }>('/floatingips/:id', async (req) => {
      const r = resourceBody(req.body, 'floatingip');
      onlyAttributes(r, ['port_id', 'fixed_ip_address', 'description', 'qos_policy_id']);
      str(r, 'description');
      await ctx.db.tx(async (t) => {
        const f = await findFip(ctx, req, req.params.id, t);
        authorize(ctx, req, 'update_floatingip', f);
        checkRevision(req, Number(f.revision_number));
        const set: Record<string, unknown> = {};
        if ('port_id' in r) {
          if (r.port_id === null) Object.assign(set, { port_id: null, fixed_ip_address: null, router_id: null });
          else {
            const a = await associationFor(ctx, req, t, f, r.port_id, r.fixed_ip_address);
            Object.assign(set, { port_id: a.portId, fixed_ip_address: a.fixed, router_id: a.routerId });
          }
        }
        if (r.description !== undefined) set.description = r.description;
        const keys = Object.keys(set);
        await t.run(`UPDATE neutron_floatingips SET ${keys.map((k) => `${k} = ?`).join(', ')}${keys.length ? ', ' : ''}revision_number = revision_number + 1, updated_at = ? WHERE id = ?`,
          [...keys.map((k) => set[k] as any), nowIso(), f.id]);
      });
      return { floatingip: await oneFip(req.params.id) };
    });

    app.delete<{ Params: { id: string } }>('/floatingips/:id', async (req, reply) => {
      await ctx.db.tx(async (t) => {
        const f = await findFip(ctx, req, req.params.id, t);
        authorize(ctx, req, 'delete_floatingip', f);
        checkRevision(req, Number(f.revision_number));
        await deletePortTx(t, f.floating_port_id);
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'floatingips' AND resource_id = ?", [f.id]);
        await t.run('DELETE FROM neutron_floatingips WHERE id = ?', [f.id]);
      });
      reply.code(204);
    });
  },
};
