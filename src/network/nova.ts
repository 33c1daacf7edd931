// The NetworkApi Nova calls (src/network/api.ts), in the spirit of nova/network/neutron.py:
// validate a server's requested networks, create or bind its ports (binding host, device owner
// compute:<az>), describe its VIFs, and release them. Ports Nova creates get ids derived from
// (instance, index) so a build task rerun after a crash finds the ports it made instead of
// making more.
import { createHash } from 'node:crypto';
import type { Context } from '../core/service.ts';
import type { AuthContext } from '../core/auth.ts';
import type { Queryable } from '../core/db/index.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { ApiError, badRequest, conflict, notFound } from '../core/errors.ts';
import { nowIso } from '../core/ids.ts';
import type { AllocateRequest, InstanceVif, NetworkApi, RequestedNetwork, SecurityGroupRef } from './api.ts';
import type { NetworkPart } from './index.ts';
import { grantedTo, portGroupOf, rbacGrant, visibleToProject } from './networks.ts';
import { createPortTx, deletePortTx, securityGroupHook } from './ports.ts';
import { parseCidr, parseIp, cidrContains } from './ip.ts';

/** What other parts (security groups, floating IPs) add to Nova's view of a port. */
export const novaHooks: {
  floatingIpsForPorts?: (q: Queryable, portIds: string[]) => Promise<Map<string, string[]>>;
  groupsOf?: (q: Queryable, ids: string[]) => Promise<Map<string, SecurityGroupRef>>;
  /** Nova's deprecated proxies, from the security-group and router parts. */
  securityGroupProxy?: Partial<NetworkApi>;
  floatingIpProxy?: Partial<NetworkApi>;
} = {};

const admin = (a: AuthContext) => a.roles.includes('admin');

/** A stable port id for the index-th NIC Nova asked for on an instance. */
function portIdFor(instanceId: string, index: number): string {
  const h = createHash('sha1').update(`vistack-nova-port:${instanceId}:${index}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The networks a project may boot on without naming one: its own and shared ones, not external. */
async function usableNetworks(q: Queryable, projectId: string) {
  const grant = rbacGrant('n', projectId, 'access_as_shared');
  return q.all(`SELECT * FROM neutron_networks n WHERE (n.project_id = ? OR n.shared = 1${grant.sql}) AND n.router_external = 0 ORDER BY n.created_at, n.id`, [projectId, ...grant.params]);
}

/** Resolves [] / {} / 'auto' to the one usable network, as Nova does; null when there is none. */
async function singleNetwork(q: Queryable, projectId: string, auto: boolean): Promise<string | null> {
  const nets = await usableNetworks(q, projectId);
  if (nets.length > 1) throw new ApiError(409, 'Multiple possible networks found, use a Network ID to be more specific.');
  if (!nets.length) {
    if (auto) throw badRequest(`Unable to automatically allocate a network for project ${projectId}`);
    return null;
  }
  return nets[0].id;
}

export function createNetworkApi(ctx: Context): NetworkApi {
  const db = ctx.db;

  async function checkNetwork(auth: AuthContext, projectId: string, id: string) {
    const n = await db.get('SELECT * FROM neutron_networks WHERE id = ?', [id]);
    if (!n || !(admin(auth) || n.project_id === projectId || bool(n.shared) || await grantedTo(db, id, projectId, 'access_as_shared'))) throw badRequest(`Network ${id} could not be found.`);
    if (!(await db.get('SELECT 1 FROM neutron_subnets WHERE network_id = ?', [id]))) throw badRequest(`Network ${id} requires a subnet in order to boot instances on.`);
    return n;
  }

  async function vifs(q: Queryable, instanceIds: string[]): Promise<Map<string, InstanceVif[]>> {
    const out = new Map<string, InstanceVif[]>();
    if (!instanceIds.length) return out;
    const ports: any[] = [];
    for (let i = 0; i < instanceIds.length; i += 500) {
      const chunk = instanceIds.slice(i, i + 500);
      ports.push(...await q.all(`SELECT p.*, n.name AS network_name, n.port_group FROM neutron_ports p JOIN neutron_networks n ON n.id = p.network_id
        WHERE p.device_id IN (${chunk.map(() => '?').join(',')}) AND p.device_owner LIKE 'compute:%' ORDER BY COALESCE(p.nova_index, 1000000), p.created_at, p.id`, chunk));
    }
    const ids = ports.map((p) => p.id);
    const ips = new Map<string, { address: string; version: 4 | 6; subnetId: string }[]>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      for (const a of await q.all(`SELECT port_id, subnet_id, ip_address FROM neutron_ipallocations WHERE port_id IN (${chunk.map(() => '?').join(',')}) ORDER BY ip_address`, chunk)) {
        ips.set(a.port_id, [...(ips.get(a.port_id) ?? []), { address: a.ip_address, version: parseIp(a.ip_address)!.version, subnetId: a.subnet_id }]);
      }
    }
    const fips = novaHooks.floatingIpsForPorts ? await novaHooks.floatingIpsForPorts(q, ids) : new Map<string, string[]>();
    for (const p of ports) {
      const v: InstanceVif = {
        portId: p.id, networkId: p.network_id, networkLabel: p.network_name, macAddress: p.mac_address,
        portGroup: p.port_group ?? '', fixedIps: ips.get(p.id) ?? [], floatingIps: (fips.get(p.id) ?? []).map((address) => ({ address })),
        preserveOnDelete: !bool(p.nova_owned), tag: p.nova_tag ?? null, status: p.status,
      };
      out.set(p.device_id, [...(out.get(p.device_id) ?? []), v]);
    }
    return out;
  }

  /** Binds (or creates) the port of one requested NIC; idempotent. */
  async function plugOne(req: Omit<AllocateRequest, 'requested'>, r: RequestedNetwork, index: number | null): Promise<string> {
    const bind = {
      device_id: req.instanceId, device_owner: `compute:${req.availabilityZone || 'nova'}`, binding_host_id: req.host,
    };
    if (r.portId) {
      const portId = r.portId;
      await db.tx(async (t) => {
        const p = await t.get(`SELECT * FROM neutron_ports WHERE id = ?${t.forUpdate}`, [portId]);
        if (!p) throw new ApiError(404, `Port id ${portId} could not be found.`);
        if (p.device_id && p.device_id !== req.instanceId) throw conflict(`Port ${portId} is still in use.`);
        await t.run(`UPDATE neutron_ports SET device_id = ?, device_owner = ?, binding_host_id = ?, status = 'ACTIVE', nova_tag = ?, nova_index = ?,
          revision_number = revision_number + 1, updated_at = ? WHERE id = ?`, [bind.device_id, bind.device_owner, bind.binding_host_id, r.tag ?? null, index, nowIso(), portId]);
      });
      return portId;
    }
    const networkId = r.networkId!;
    const id = index === null ? undefined : portIdFor(req.instanceId, index);
    return db.tx(async (t) => {
      if (id && (await t.get('SELECT 1 FROM neutron_ports WHERE id = ?', [id]))) return id;
      // Without the security-group part there are no groups to put the port in (not even 'default').
      const groups = req.securityGroups.length && securityGroupHook.resolve ? req.securityGroups : undefined;
      const made = await createPortTx(t, {
        projectId: req.projectId, networkId, deviceId: bind.device_id, deviceOwner: bind.device_owner, bindingHostId: bind.binding_host_id,
        fixedIps: r.fixedIp ? [{ ip_address: r.fixedIp }] : undefined, securityGroups: groups, novaOwned: true, novaTag: r.tag ?? null,
      }, id);
      if (index !== null) await t.run('UPDATE neutron_ports SET nova_index = ? WHERE id = ?', [index, made]);
      return made;
    });
  }

  async function release(instanceId: string, only?: string) {
    await db.tx(async (t) => {
      const ports = await t.all(`SELECT * FROM neutron_ports WHERE device_id = ? AND device_owner LIKE 'compute:%'${only ? ' AND id = ?' : ''}`, only ? [instanceId, only] : [instanceId]);
      if (!ports.length) return;
      for (const p of ports) {
        if (bool(p.nova_owned)) await deletePortTx(t, p.id);
        else {
          await t.run(`UPDATE neutron_ports SET device_id = '', device_owner = '', binding_host_id = '', status = 'DOWN', nova_index = NULL, nova_tag = NULL,
            revision_number = revision_number + 1, updated_at = ? WHERE id = ?`, [nowIso(), p.id]);
        }
      }
    });
  }

  async function resolveRequested(projectId: string, requested: AllocateRequest['requested']): Promise<RequestedNetwork[]> {
    if (requested === 'none') return [];
    if (requested === 'auto' || requested.length === 0) {
      const id = await singleNetwork(db, projectId, requested === 'auto');
      return id ? [{ networkId: id }] : [];
    }
    return requested;
  }

  return {
    async validateNetworks(auth, requested, securityGroups, count) {
      const projectId = auth.projectId ?? '';
      if (requested === 'none') return;
      if (requested === 'auto' || requested.length === 0) { await singleNetwork(db, projectId, requested === 'auto'); }
      else {
        for (const r of requested) {
          if (r.portId) {
            const p = await db.get('SELECT * FROM neutron_ports WHERE id = ?', [r.portId]);
            if (!p || !(admin(auth) || p.project_id === projectId)) throw notFound(`Port id ${r.portId} could not be found.`);
            if (p.device_id) throw conflict(`Port ${r.portId} is still in use.`);
            if (!(await db.get('SELECT 1 FROM neutron_ipallocations WHERE port_id = ?', [r.portId]))) throw badRequest(`Port ${r.portId} requires a FixedIP in order to be used.`);
            if (count > 1) throw badRequest('Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.');
            continue;
          }
          if (!r.networkId) continue;
          await checkNetwork(auth, projectId, r.networkId);
          if (r.fixedIp) {
            const ip = parseIp(r.fixedIp);
            if (!ip) throw badRequest(`Invalid fixed IP address (${r.fixedIp})`);
            const subnets = await db.all('SELECT id, cidr FROM neutron_subnets WHERE network_id = ?', [r.networkId]);
            if (!subnets.some((s) => { const c = parseCidr(s.cidr)!; return c.version === ip.version && cidrContains(c, ip.value); })) {
              throw badRequest(`Fixed IP address ${r.fixedIp} is not a valid IP for network ${r.networkId}.`);
            }
            if (await db.get('SELECT 1 FROM neutron_ipallocations WHERE network_id = ? AND ip_address = ?', [r.networkId, r.fixedIp])) {
              throw badRequest(`Fixed IP address ${r.fixedIp} is already in use on instance.`);
            }
            if (count > 1) throw badRequest('max_count cannot be greater than 1 if an fixed_ip is specified.');
          }
        }
      }
      if (securityGroups.length && securityGroupHook.resolve) {
        const hook = securityGroupHook.resolve;
        try {
          await db.tx((t) => hook(t, projectId, securityGroups));
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) throw badRequest(`Security group ${securityGroups.join(', ')} not found.`);
          throw e;
        }
      }
    },

    async allocateForInstance(req) {
      const list = await resolveRequested(req.projectId, req.requested);
      for (const [i, r] of list.entries()) {
        if (r.networkId) await portGroupOf(ctx, r.networkId);
        await plugOne(req, r, i);
      }
      const got = (await vifs(db, [req.instanceId])).get(req.instanceId) ?? [];
      for (const v of got) if (!v.portGroup) v.portGroup = await portGroupOf(ctx, v.networkId);
      return got;
    },

    async deallocateForInstance(instanceId) { await release(instanceId); },

    async allocatePort(req) {
      let r = req.requested;
      if (!r.portId && !r.networkId) {
        const id = await singleNetwork(db, req.projectId, false);
        if (!id) throw notFound('No networks are available');
        r = { ...r, networkId: id };
      }
      if (r.networkId) await portGroupOf(ctx, r.networkId);
      // Neutron's errors reach Nova's caller in Nova's format; an exhausted subnet is Nova's NoMoreFixedIps (400).
      const portId = await plugOne(req, r, null).catch((e) => {
        throw e instanceof ApiError && e.extra.name ? new ApiError(e.extra.name === 'IpAddressGenerationFailure' ? 400 : e.status, e.message) : e;
      });
      const v = ((await vifs(db, [req.instanceId])).get(req.instanceId) ?? []).find((x) => x.portId === portId)!;
      if (!v.portGroup) v.portGroup = await portGroupOf(ctx, v.networkId);
      return v;
    },

    async deallocatePort(instanceId, portId) { await release(instanceId, portId); },

    vifsForInstances: (ids) => vifs(db, ids),

    async securityGroupsForInstances(instanceIds) {
      const out = new Map<string, SecurityGroupRef[]>();
      if (!instanceIds.length || !novaHooks.groupsOf) return out;
      const ports: any[] = [];
      for (let i = 0; i < instanceIds.length; i += 500) {
        const chunk = instanceIds.slice(i, i + 500);
        ports.push(...await db.all(`SELECT device_id, security_groups FROM neutron_ports WHERE device_id IN (${chunk.map(() => '?').join(',')}) AND device_owner LIKE 'compute:%'`, chunk));
      }
      const groupIds = [...new Set(ports.flatMap((p) => fromJson<string[]>(p.security_groups, [])))];
      const groups = await novaHooks.groupsOf(db, groupIds);
      for (const p of ports) {
        const l = out.get(p.device_id) ?? [];
        for (const g of fromJson<string[]>(p.security_groups, [])) {
          const ref = groups.get(g);
          if (ref && !l.some((x) => x.id === ref.id)) l.push(ref);
        }
        out.set(p.device_id, l);
      }
      return out;
    },

    async addSecurityGroup(auth, instanceId, projectId, group) {
      const hook = securityGroupHook.resolve;
      if (!hook) throw notFound(`Security group ${group} not found for project ${projectId}.`);
      await db.tx(async (t) => {
        const [id] = await hook(t, projectId, [group]).catch((e) => { throw e instanceof ApiError && e.status === 404 ? notFound(`Security group ${group} not found for project ${projectId}.`) : e; });
        const ports = await t.all("SELECT id, security_groups, port_security_enabled FROM neutron_ports WHERE device_id = ? AND device_owner LIKE 'compute:%'", [instanceId]);
        if (!ports.length) throw badRequest(`Instance ${instanceId} has no network ports: it cannot be in a security group.`);
        for (const p of ports) {
          if (!bool(p.port_security_enabled)) throw badRequest('Port security is disabled on a port of the instance: security groups cannot be added.');
          const cur = fromJson<string[]>(p.security_groups, []);
          if (cur.includes(id)) continue;
          await t.run('UPDATE neutron_ports SET security_groups = ?, revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [toJson([...cur, id]), nowIso(), p.id]);
        }
      });
      void auth;
    },

    async removeSecurityGroup(auth, instanceId, projectId, group) {
      const hook = securityGroupHook.resolve;
      if (!hook) throw notFound(`Security group ${group} not found for project ${projectId}.`);
      await db.tx(async (t) => {
        const [id] = await hook(t, projectId, [group]).catch((e) => { throw e instanceof ApiError && e.status === 404 ? notFound(`Security group ${group} not found for project ${projectId}.`) : e; });
        const ports = await t.all("SELECT id, security_groups FROM neutron_ports WHERE device_id = ? AND device_owner LIKE 'compute:%'", [instanceId]);
        if (!ports.some((p) => fromJson<string[]>(p.security_groups, []).includes(id))) throw badRequest(`Security group ${group} not associated with the instance ${instanceId}`);
        for (const p of ports) {
          const cur = fromJson<string[]>(p.security_groups, []);
          await t.run('UPDATE neutron_ports SET security_groups = ?, revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [toJson(cur.filter((g) => g !== id)), nowIso(), p.id]);
        }
      });
      void auth;
    },

    async listNetworksFor(auth) {
      const { sql, params } = admin(auth) ? { sql: '1=1', params: [] } : visibleToProject(auth.projectId ?? '');
      const rows = await db.all(`SELECT id, name FROM neutron_networks n WHERE ${sql} ORDER BY created_at, id`, params);
      return rows.map((r) => ({ id: r.id, name: r.name }));
    },

    // Looked up at call time: the parts that own groups and floating IPs register them in init.
    listSecurityGroupsFor: (...a) => proxied('securityGroupProxy', 'listSecurityGroupsFor')(...a),
    getSecurityGroup: (...a) => proxied('securityGroupProxy', 'getSecurityGroup')(...a),
    createSecurityGroup: (...a) => proxied('securityGroupProxy', 'createSecurityGroup')(...a),
    updateSecurityGroup: (...a) => proxied('securityGroupProxy', 'updateSecurityGroup')(...a),
    deleteSecurityGroup: (...a) => proxied('securityGroupProxy', 'deleteSecurityGroup')(...a),
    createSecurityGroupRule: (...a) => proxied('securityGroupProxy', 'createSecurityGroupRule')(...a),
    deleteSecurityGroupRule: (...a) => proxied('securityGroupProxy', 'deleteSecurityGroupRule')(...a),
    listFloatingIpsFor: (...a) => proxied('floatingIpProxy', 'listFloatingIpsFor')(...a),
    listFloatingIpPools: (...a) => proxied('floatingIpProxy', 'listFloatingIpPools')(...a),
    allocateFloatingIp: (...a) => proxied('floatingIpProxy', 'allocateFloatingIp')(...a),
    releaseFloatingIp: (...a) => proxied('floatingIpProxy', 'releaseFloatingIp')(...a),
    associateFloatingIp: (...a) => proxied('floatingIpProxy', 'associateFloatingIp')(...a),
    disassociateFloatingIp: (...a) => proxied('floatingIpProxy', 'disassociateFloatingIp')(...a),
  };
}

/** A proxy method a part registered in novaHooks (404 as Nova's when the part is absent). */
function proxied<K extends keyof NetworkApi>(hook: 'securityGroupProxy' | 'floatingIpProxy', name: K): (...a: any[]) => any {
  const fn = novaHooks[hook]?.[name] as ((...a: any[]) => any) | undefined;
  if (!fn) throw notFound('The resource could not be found.');
  return fn;
}

/** The part that registers the NetworkApi for Nova (ctx.services.network) and its column. */
export const novaNetwork: NetworkPart = {
  migrations: [{ id: 'network-002-nova-index', sql: 'ALTER TABLE neutron_ports ADD COLUMN nova_index INTEGER' }],
  extensions: [],
  async init(ctx) { ctx.services.network = createNetworkApi(ctx); },
  async routes() {},
};
