// Ports: a MAC and fixed IPs on a network, bound to a device (a server's NIC, a router interface,
// a floating IP ...), with binding, port-security, allowed-address-pairs and extra-DHCP-options
// attributes. createPortTx/deletePortTx are also what Nova (through nova.ts), routers and
// floating IPs use in-process.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { badRequest } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import type { NetworkPart } from './index.ts';
import { neutronTime } from './db.ts';
import {
  authorize, boolAttr, checkRevision, collectionUrl, isAdmin, neutronError, onlyAttributes, ownerOf, resourceBody, str,
  tagsOf, TAG_FILTERS,
} from './common.ts';
import { findNetwork, getNetworkRow, notFoundNetwork } from './networks.ts';
import { allocate, parseFixedIps, storeAllocations, type FixedIp, type FixedIpRequest } from './ipam.ts';
import { listResponse, queryOf, showFields } from './query.ts';
import { enforceQuota } from './quotas.ts';
import { parseCidr, parseIp } from './ip.ts';

const ATTRS = ['name', 'description', 'network_id', 'admin_state_up', 'mac_address', 'fixed_ips', 'device_id', 'device_owner',
  'tenant_id', 'project_id', 'security_groups', 'allowed_address_pairs', 'extra_dhcp_opts', 'binding:host_id',
  'binding:vnic_type', 'binding:profile', 'port_security_enabled', 'tags', 'dns_name', 'qos_policy_id',
  'propagate_uplink_status', 'numa_affinity_policy'];
const VNIC_TYPES = ['normal', 'direct', 'macvtap', 'baremetal', 'direct-physical', 'virtio-forwarder', 'smart-nic', 'vdpa', 'remote-managed', 'accelerator-direct', 'accelerator-direct-physical'];
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

export const notFoundPort = (id: string) => neutronError(404, 'PortNotFound', `Port ${id} could not be found.`);

/**
 * Security groups, provided by the security-group part: resolves a port's requested groups
 * (undefined = the project's default group) into ids, 404 for unknown ones.
 */
export const securityGroupHook: { resolve?: (t: Tx, projectId: string, requested: string[] | undefined) => Promise<string[]> } = {};

export interface PortInput {
  projectId: string;
  networkId: string;
  name?: string;
  description?: string;
  adminStateUp?: boolean;
  macAddress?: string;
  fixedIps?: FixedIpRequest[];
  deviceId?: string;
  deviceOwner?: string;
  bindingHostId?: string;
  vnicType?: string;
  bindingProfile?: Record<string, unknown>;
  /** undefined: the project's default group (when port security is on) */
  securityGroups?: string[];
  portSecurityEnabled?: boolean;
  allowedAddressPairs?: { ip_address: string; mac_address?: string }[];
  extraDhcpOpts?: { opt_name: string; opt_value: string; ip_version?: number }[];
  /** Nova created it (deleted with the server) rather than the user (only unbound). */
  novaOwned?: boolean;
  novaTag?: string | null;
}

function randomMac() {
  const b = randomBytes(3);
  return `fa:16:3e:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

const statusFor = (deviceOwner: string, host: string, adminUp: boolean) =>
  !adminUp ? 'DOWN' : deviceOwner.startsWith('network:') || (deviceOwner.startsWith('compute:') && host) ? 'ACTIVE' : 'DOWN';

/** Creates a port in the caller's transaction (quota, IPAM, MAC, security groups). Returns its id. */
export async function createPortTx(t: Tx, p: PortInput, id = uuid()): Promise<string> {
  const net = await getNetworkRow(t, p.networkId);
  if (!net) throw notFoundNetwork(p.networkId);
  await enforceQuota(t, p.projectId, 'port', 1);
  let mac = p.macAddress?.toLowerCase();
  if (mac) {
    if (await t.get('SELECT 1 FROM neutron_ports WHERE mac_address = ?', [mac])) throw neutronError(409, 'MacAddressInUse', `Unable to complete operation for network ${p.networkId}. The mac address ${mac} is in use.`);
  } else {
    do mac = randomMac(); while (await t.get('SELECT 1 FROM neutron_ports WHERE mac_address = ?', [mac]));
  }
  const portSecurity = p.portSecurityEnabled ?? bool(net.port_security_enabled);
  let groups: string[] = [];
  const owner = p.deviceOwner ?? '';
  if (p.securityGroups !== undefined && p.securityGroups.length && !portSecurity) {
    throw neutronError(400, 'PortSecurityAndIPRequiredForSecurityGroups', 'Port security must be enabled and port must have an IP address in order to use security groups.');
  }
  if (p.allowedAddressPairs?.length && !portSecurity) {
    throw neutronError(409, 'AddressPairAndPortSecurityRequired', 'Port Security must be enabled in order to have allowed address pairs on a port.');
  }
  // Network-owned ports (router interfaces, DHCP, floating IPs) carry no security groups.
  if (portSecurity && !owner.startsWith('network:')) {
    if (securityGroupHook.resolve) groups = await securityGroupHook.resolve(t, p.projectId, p.securityGroups);
    else if (p.securityGroups?.length) throw neutronError(404, 'SecurityGroupNotFound', `Security group ${p.securityGroups[0]} does not exist`);
  }
  const ips = await allocate(t, p.networkId, mac, p.fixedIps, id);
  const now = nowIso();
  const host = p.bindingHostId ?? '';
  const adminUp = p.adminStateUp ?? true;
  await t.run(`INSERT INTO neutron_ports (id, project_id, network_id, name, description, mac_address, admin_state_up, status, device_id,
      device_owner, binding_host_id, binding_vnic_type, binding_profile, port_security_enabled, security_groups, allowed_address_pairs,
      extra_dhcp_opts, nova_owned, nova_tag, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    id, p.projectId, p.networkId, p.name ?? '', p.description ?? '', mac, adminUp ? 1 : 0, statusFor(owner, host, adminUp),
    p.deviceId ?? '', owner, host, p.vnicType ?? 'normal', toJson(p.bindingProfile ?? {}), portSecurity ? 1 : 0, toJson(groups),
    toJson(withMac(p.allowedAddressPairs ?? [], mac)), toJson(p.extraDhcpOpts ?? []), p.novaOwned ? 1 : 0, p.novaTag ?? null, now, now,
  ]);
  await storeAllocations(t, id, p.networkId, ips);
  return id;
}

/** Address pairs without a MAC are for the port's own MAC (Neutron fills it in). */
const withMac = (pairs: { ip_address: string; mac_address?: string }[], mac: string) => pairs.map((a) => ({ ip_address: a.ip_address, mac_address: a.mac_address ?? mac }));

/** What other parts do when a port goes (floating IPs let go of it). */
export const portHooks: { beforeDelete: ((t: Tx, portId: string) => Promise<void>)[] } = { beforeDelete: [] };

/** Deletes a port and frees its addresses. Idempotent. */
export async function deletePortTx(t: Tx, id: string) {
  for (const h of portHooks.beforeDelete) await h(t, id);
  await t.run('DELETE FROM neutron_ipallocations WHERE port_id = ?', [id]);
  await t.run("DELETE FROM neutron_tags WHERE resource_type = 'ports' AND resource_id = ?", [id]);
  await t.run('DELETE FROM neutron_ports WHERE id = ?', [id]);
}

/** Port views; binding details only for admins (Neutron's policy on binding:*). */
export async function portViews(q: Queryable, rows: any[], admin: boolean, portGroups?: Map<string, string | null>) {
  const ids = rows.map((r) => r.id);
  const ips = new Map<string, FixedIp[]>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    if (!chunk.length) break;
    for (const a of await q.all(`SELECT port_id, subnet_id, ip_address FROM neutron_ipallocations WHERE port_id IN (${chunk.map(() => '?').join(',')})`, chunk)) {
      const l = ips.get(a.port_id) ?? [];
      l.push({ subnet_id: a.subnet_id, ip_address: a.ip_address });
      ips.set(a.port_id, l);
    }
  }
  const tags = await tagsOf(q, 'ports', ids);
  return rows.map((r) => {
    const v: Record<string, any> = {
      id: r.id, name: r.name, network_id: r.network_id, tenant_id: r.project_id, project_id: r.project_id,
      mac_address: r.mac_address, admin_state_up: bool(r.admin_state_up), status: r.status, device_id: r.device_id,
      device_owner: r.device_owner, fixed_ips: sortIps(ips.get(r.id) ?? []), allowed_address_pairs: fromJson(r.allowed_address_pairs, []),
      extra_dhcp_opts: fromJson(r.extra_dhcp_opts, []), security_groups: fromJson(r.security_groups, []), description: r.description,
      'binding:vnic_type': r.binding_vnic_type, port_security_enabled: bool(r.port_security_enabled),
      tags: tags.get(r.id) ?? [], created_at: neutronTime(r.created_at), updated_at: neutronTime(r.updated_at),
      revision_number: Number(r.revision_number),
    };
    if (admin) {
      const bound = !!r.binding_host_id;
      v['binding:host_id'] = r.binding_host_id;
      v['binding:profile'] = fromJson(r.binding_profile, {});
      v['binding:vif_type'] = bound ? 'dvs' : 'unbound';
      v['binding:vif_details'] = bound ? { dvs_port_group_name: portGroups?.get(r.network_id) ?? null, port_filter: true } : {};
    }
    return v;
  });
}

const sortIps = (l: FixedIp[]) => [...l].sort((a, b) => (a.subnet_id === b.subnet_id ? (a.ip_address < b.ip_address ? -1 : 1) : a.subnet_id < b.subnet_id ? -1 : 1));

async function portGroupsFor(q: Queryable, rows: any[]) {
  const nets = [...new Set(rows.map((r) => r.network_id))];
  const out = new Map<string, string | null>();
  for (const n of nets) out.set(n, (await q.get('SELECT port_group FROM neutron_networks WHERE id = ?', [n]))?.port_group ?? null);
  return out;
}

export async function findPort(ctx: Context, req: FastifyRequest, id: string, q: Queryable = ctx.db) {
  const r = await q.get('SELECT * FROM neutron_ports WHERE id = ?', [id]);
  const a = req.auth!;
  if (!r) throw notFoundPort(id);
  if (isAdmin(a) || r.project_id === a.projectId) return r;
  // The owner of a network sees the ports others made on it.
  const net = await getNetworkRow(q, r.network_id);
  if (net && net.project_id === a.projectId) return r;
  throw notFoundPort(id);
}

function parsePairs(raw: unknown) {
  if (!Array.isArray(raw)) throw badRequest(`Invalid input for allowed_address_pairs. Reason: '${JSON.stringify(raw)}' is not a list.`);
  const seen = new Set<string>();
  return raw.map((p: any) => {
    if (!p || typeof p !== 'object' || typeof p.ip_address !== 'string' || Object.keys(p).some((k) => k !== 'ip_address' && k !== 'mac_address')) {
      throw badRequest(`Invalid input for allowed_address_pairs. Reason: '${JSON.stringify(p)}' is not a valid address pair.`);
    }
    if (!parseIp(p.ip_address) && !parseCidr(p.ip_address)) throw badRequest(`Invalid input for allowed_address_pairs. Reason: '${p.ip_address}' is not a valid IP address.`);
    if (p.mac_address !== undefined && (typeof p.mac_address !== 'string' || !MAC.test(p.mac_address))) throw badRequest(`Invalid input for allowed_address_pairs. Reason: '${p.mac_address}' is not a valid MAC address.`);
    const key = `${p.ip_address}|${p.mac_address ?? ''}`;
    if (seen.has(key)) throw neutronError(400, 'DuplicateAddressPairInRequest', `Request contains duplicate address pair: mac_address ${p.mac_address ?? 'None'} ip_address ${p.ip_address}.`);
    seen.add(key);
    return p.mac_address ? { ip_address: p.ip_address, mac_address: p.mac_address.toLowerCase() } : { ip_address: p.ip_address };
  });
}

function parseDhcpOpts(raw: unknown) {
  if (!Array.isArray(raw)) throw badRequest(`Invalid input for extra_dhcp_opts. Reason: '${JSON.stringify(raw)}' is not a list.`);
  return raw.map((o: any) => {
    if (!o || typeof o !== 'object' || typeof o.opt_name !== 'string' || !o.opt_name || Object.keys(o).some((k) => !['opt_name', 'opt_value', 'ip_version'].includes(k))) {
      throw badRequest(`Invalid input for extra_dhcp_opts. Reason: '${JSON.stringify(o)}' is not a valid DHCP option.`);
    }
    if (o.opt_value !== null && typeof o.opt_value !== 'string') throw badRequest(`Invalid input for extra_dhcp_opts. Reason: '${o.opt_value}' is not a valid option value.`);
    const ipv = o.ip_version === undefined ? 4 : Number(o.ip_version);
    if (ipv !== 4 && ipv !== 6) throw badRequest(`Invalid input for extra_dhcp_opts. Reason: '${o.ip_version}' is not a valid IP version.`);
    return { opt_name: o.opt_name, opt_value: o.opt_value, ip_version: ipv };
  });
}

function portInput(req: FastifyRequest, r: Record<string, any>, project: string): PortInput {
  str(r, 'name'); str(r, 'description'); str(r, 'device_id'); str(r, 'device_owner'); str(r, 'binding:host_id');
  if (r.mac_address !== undefined && (typeof r.mac_address !== 'string' || !MAC.test(r.mac_address))) {
    throw badRequest(`Invalid input for mac_address. Reason: '${r.mac_address}' is not a valid MAC address.`);
  }
  if (r['binding:vnic_type'] !== undefined && !VNIC_TYPES.includes(r['binding:vnic_type'])) {
    throw badRequest(`Invalid input for binding:vnic_type. Reason: '${r['binding:vnic_type']}' is not in ${JSON.stringify(VNIC_TYPES)}.`);
  }
  if (r['binding:profile'] !== undefined && (r['binding:profile'] === null || typeof r['binding:profile'] !== 'object' || Array.isArray(r['binding:profile']))) {
    throw badRequest(`Invalid input for binding:profile. Reason: '${JSON.stringify(r['binding:profile'])}' is not a dictionary.`);
  }
  if (r.security_groups !== undefined && (!Array.isArray(r.security_groups) || r.security_groups.some((g: unknown) => typeof g !== 'string'))) {
    throw badRequest(`Invalid input for security_groups. Reason: '${JSON.stringify(r.security_groups)}' is not a list of ids.`);
  }
  return {
    projectId: project, networkId: r.network_id, name: r.name, description: r.description, adminStateUp: boolAttr(r, 'admin_state_up'),
    macAddress: r.mac_address, fixedIps: r.fixed_ips === undefined ? undefined : parseFixedIps(r.fixed_ips), deviceId: r.device_id,
    deviceOwner: r.device_owner, bindingHostId: r['binding:host_id'], vnicType: r['binding:vnic_type'], bindingProfile: r['binding:profile'],
    securityGroups: r.security_groups === undefined ? undefined : [...new Set<string>(r.security_groups)],
    portSecurityEnabled: boolAttr(r, 'port_security_enabled'),
    allowedAddressPairs: r.allowed_address_pairs === undefined ? undefined : parsePairs(r.allowed_address_pairs),
    extraDhcpOpts: r.extra_dhcp_opts === undefined ? undefined : parseDhcpOpts(r.extra_dhcp_opts),
  };
}

async function createPort(ctx: Context, req: FastifyRequest, r: Record<string, any>, t: Tx) {
  onlyAttributes(r, ATTRS);
  if (typeof r.network_id !== 'string') throw badRequest("Invalid input for operation: 'network_id' must be specified.");
  const project = ownerOf(req, r);
  const net = await findNetwork(ctx, req, r.network_id, t);
  authorize(ctx, req, 'create_port', { project_id: project, network_project_id: net.project_id });
  const input = portInput(req, r, project);
  const admin = isAdmin(req.auth!);
  // Binding, MAC and fixed IPs on someone else's network are the network owner's or admin's business.
  if (!admin) {
    for (const k of ['binding:host_id', 'binding:profile']) if (r[k] !== undefined) authorize(ctx, req, `create_port:${k}`, { project_id: project });
    if (net.project_id !== req.auth!.projectId && (r.fixed_ips !== undefined || r.mac_address !== undefined)) {
      authorize(ctx, req, 'create_port:fixed_ips', { project_id: project, network_project_id: net.project_id });
    }
  }
  const id = await createPortTx(t, input);
  if (Array.isArray(r.tags)) for (const tag of new Set<string>(r.tags)) await t.run('INSERT INTO neutron_tags (resource_type, resource_id, tag) VALUES (?, ?, ?)', ['ports', id, String(tag)]);
  return id;
}

export const ports: NetworkPart = {
  migrations: [],
  extensions: [
    { alias: 'binding', name: 'Port Binding', description: 'Expose port bindings of a virtual port to external application', updated: '2014-02-03T10:00:00-00:00' },
    { alias: 'allowed-address-pairs', name: 'Allowed Address Pairs', description: 'Provides allowed address pairs', updated: '2013-07-23T10:00:00-00:00' },
    { alias: 'extra_dhcp_opt', name: 'Neutron Extra DHCP options', description: 'Extra options configuration for DHCP.', updated: '2013-03-17T12:00:00-00:00' },
    { alias: 'project-id', name: 'project_id field enabled', description: 'Extension that indicates that project_id field is enabled.', updated: '2016-09-09T09:09:09-09:09' },
    { alias: 'standard-attr-timestamp', name: 'Resource timestamps', description: 'Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.', updated: '2016-09-12T10:00:00-00:00' },
    { alias: 'standard-attr-revisions', name: 'Resource revision numbers', description: 'This extension will display the revision number of neutron resources.', updated: '2016-04-11T10:00:00-00:00' },
    { alias: 'standard-attr-description', name: 'standard-attr-description', description: 'Extension to add descriptions to standard attributes', updated: '2016-02-10T10:00:00-00:00' },
    { alias: 'revision-if-match', name: 'If-Match constraints based on revision_number', description: 'Extension indicating that If-Match based on revision_number is supported.', updated: '2016-12-11T00:00:00-00:00' },
    { alias: 'pagination', name: 'Pagination support', description: 'Extension that indicates that pagination is enabled.', updated: '2016-06-12T00:00:00-00:00' },
    { alias: 'ip-substring-filtering', name: 'IP address substring filtering', description: 'Provides IP address substring filtering when listing ports', updated: '2017-11-28T09:00:00-00:00' },
    { alias: 'sorting', name: 'Sorting support', description: 'Extension that indicates that sorting is enabled.', updated: '2016-06-12T00:00:00-00:00' },
  ],
  async routes(app: FastifyInstance, ctx: Context) {
    const viewOne = async (id: string, admin: boolean) => {
      const rows = [await ctx.db.get('SELECT * FROM neutron_ports WHERE id = ?', [id])];
      return (await portViews(ctx.db, rows, admin, await portGroupsFor(ctx.db, rows)))[0];
    };
    app.post('/ports', async (req, reply) => {
      const body = req.body as any;
      const admin = isAdmin(req.auth!);
      reply.code(201);
      if (body && Array.isArray(body.ports)) {
        // Bulk create is all or nothing, as Neutron's.
        const ids = await ctx.db.tx(async (t) => {
          const out: string[] = [];
          for (const p of body.ports) out.push(await createPort(ctx, req, resourceBody({ port: p }, 'port'), t));
          return out;
        });
        const rows = await ctx.db.all(`SELECT * FROM neutron_ports WHERE id IN (${ids.map(() => '?').join(',')})`, ids);
        const byId = new Map((await portViews(ctx.db, rows, admin, await portGroupsFor(ctx.db, rows))).map((v) => [v.id, v]));
        return { ports: ids.map((i) => byId.get(i)) };
      }
      const id = await ctx.db.tx((t) => createPort(ctx, req, resourceBody(body, 'port'), t));
      return { port: await viewOne(id, admin) };
    });

    app.get('/ports', async (req) => {
      const q = queryOf(req);
      const auth = req.auth!;
      const where: string[] = [];
      const params: string[] = [];
      // Narrow in SQL by the filters that have an index; the rest is applied to the views.
      for (const [col, key] of [['network_id', 'network_id'], ['device_id', 'device_id']] as const) {
        const vals = q.get(key);
        if (vals?.length) { where.push(`p.${col} IN (${vals.map(() => '?').join(',')})`); params.push(...vals); }
      }
      if (!isAdmin(auth)) {
        where.push('(p.project_id = ? OR n.project_id = ?)');
        params.push(auth.projectId ?? '', auth.projectId ?? '');
      }
      const rows = await ctx.db.all(`SELECT p.* FROM neutron_ports p JOIN neutron_networks n ON n.id = p.network_id${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`, params);
      const views = await portViews(ctx.db, rows, isAdmin(auth), await portGroupsFor(ctx.db, rows));
      return listResponse('ports', views, q, collectionUrl(ctx, 'ports'), {
        custom: {
          ...TAG_FILTERS,
          fixed_ips: (v, vals) => vals.every((f) => {
            const [k, val] = f.split('=', 2);
            if (k === 'ip_address_substr') return v.fixed_ips.some((x: FixedIp) => x.ip_address.includes(val));
            return v.fixed_ips.some((x: FixedIp) => (x as any)[k] === (k === 'ip_address' ? normalize(val) : val));
          }),
          security_groups: (v, vals) => vals.some((g) => v.security_groups.includes(g)),
        },
      });
    });

    app.get<{ Params: { id: string } }>('/ports/:id', async (req) => {
      const r = await findPort(ctx, req, req.params.id);
      authorize(ctx, req, 'get_port', r);
      const [v] = await portViews(ctx.db, [r], isAdmin(req.auth!), await portGroupsFor(ctx.db, [r]));
      return { port: showFields(v, queryOf(req)) };
    });

    app.put<{ Params: { id: string } }>('/ports/:id', async (req) => {
      const r = resourceBody(req.body, 'port');
      onlyAttributes(r, ATTRS);
      for (const k of ['network_id', 'tenant_id', 'project_id']) if (k in r) throw badRequest(`Cannot update read-only attribute ${k}`);
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findPort(ctx, req, id, t);
        authorize(ctx, req, 'update_port', cur);
        checkRevision(req, Number(cur.revision_number));
        await t.lock(`port:${id}`);
        const input = portInput(req, { ...r, network_id: cur.network_id }, cur.project_id);
        const set: Record<string, unknown> = {};
        if (input.name !== undefined) set.name = input.name;
        if (input.description !== undefined) set.description = input.description;
        if (input.adminStateUp !== undefined) set.admin_state_up = input.adminStateUp ? 1 : 0;
        if (input.deviceId !== undefined) set.device_id = input.deviceId;
        if (input.deviceOwner !== undefined) set.device_owner = input.deviceOwner;
        if (input.bindingHostId !== undefined) set.binding_host_id = input.bindingHostId;
        if (input.vnicType !== undefined) set.binding_vnic_type = input.vnicType;
        if (input.bindingProfile !== undefined) set.binding_profile = toJson(input.bindingProfile);
        if (input.macAddress !== undefined && input.macAddress.toLowerCase() !== cur.mac_address) {
          if (cur.binding_host_id && cur.device_owner.startsWith('compute:')) throw neutronError(409, 'PortBound', `Unable to complete operation on port ${id}, port is already bound.`);
          if (await t.get('SELECT 1 FROM neutron_ports WHERE mac_address = ?', [input.macAddress.toLowerCase()])) throw neutronError(409, 'MacAddressInUse', `Unable to complete operation for network ${cur.network_id}. The mac address ${input.macAddress} is in use.`);
          set.mac_address = input.macAddress.toLowerCase();
        }
        const portSecurity = input.portSecurityEnabled ?? bool(cur.port_security_enabled);
        if (input.portSecurityEnabled !== undefined) set.port_security_enabled = portSecurity ? 1 : 0;
        const pairs = input.allowedAddressPairs ?? fromJson(cur.allowed_address_pairs, []);
        if (pairs.length && !portSecurity) throw neutronError(409, 'AddressPairAndPortSecurityRequired', 'Port Security must be enabled in order to have allowed address pairs on a port.');
        if (input.allowedAddressPairs !== undefined) set.allowed_address_pairs = toJson(withMac(input.allowedAddressPairs, (set.mac_address as string | undefined) ?? cur.mac_address));
        if (input.extraDhcpOpts !== undefined) set.extra_dhcp_opts = toJson(mergeDhcpOpts(fromJson(cur.extra_dhcp_opts, []), input.extraDhcpOpts));
        if (input.securityGroups !== undefined) {
          if (input.securityGroups.length && !portSecurity) throw neutronError(400, 'PortSecurityAndIPRequiredForSecurityGroups', 'Port security must be enabled and port must have an IP address in order to use security groups.');
          const ids = input.securityGroups.length ? (securityGroupHook.resolve ? await securityGroupHook.resolve(t, cur.project_id, input.securityGroups) : (() => { throw neutronError(404, 'SecurityGroupNotFound', `Security group ${input.securityGroups![0]} does not exist`); })()) : [];
          set.security_groups = toJson(ids);
        } else if (input.portSecurityEnabled === false && fromJson<string[]>(cur.security_groups, []).length) {
          throw neutronError(409, 'PortSecurityPortHasSecurityGroup', 'Port has security group associated. Cannot disable port security or ip address until security group is removed');
        }
        if (input.fixedIps !== undefined) {
          const keep = (await t.all('SELECT subnet_id, ip_address FROM neutron_ipallocations WHERE port_id = ?', [id])) as FixedIp[];
          const ips = await allocate(t, cur.network_id, set.mac_address as string ?? cur.mac_address, input.fixedIps, id, keep);
          await storeAllocations(t, id, cur.network_id, ips);
        }
        const owner = (set.device_owner as string | undefined) ?? cur.device_owner;
        const host = (set.binding_host_id as string | undefined) ?? cur.binding_host_id;
        const up = set.admin_state_up === undefined ? bool(cur.admin_state_up) : set.admin_state_up === 1;
        set.status = statusFor(owner, host, up);
        const keys = Object.keys(set);
        await t.run(`UPDATE neutron_ports SET ${keys.map((k) => `${k} = ?`).join(', ')}, revision_number = revision_number + 1, updated_at = ? WHERE id = ?`,
          [...keys.map((k) => set[k] as any), nowIso(), id]);
      });
      return { port: await viewOne(id, isAdmin(req.auth!)) };
    });

    app.delete<{ Params: { id: string } }>('/ports/:id', async (req, reply) => {
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findPort(ctx, req, id, t);
        authorize(ctx, req, 'delete_port', cur);
        checkRevision(req, Number(cur.revision_number));
        if (cur.device_owner === 'network:router_interface' || cur.device_owner === 'network:router_gateway' || cur.device_owner === 'network:floatingip') {
          throw neutronError(409, 'ServicePortInUse', `Port ${id} cannot be deleted directly via the port API: has device owner ${cur.device_owner}.`);
        }
        await deletePortTx(t, id);
      });
      reply.code(204);
    });
  },
};

const normalize = (ip: string) => { const p = parseIp(ip); return p ? (p.version === 4 ? ip : ip.toLowerCase()) : ip; };

/** Updates of extra_dhcp_opts replace options by name; a null value removes one. */
function mergeDhcpOpts(cur: any[], next: any[]) {
  const out = [...cur];
  for (const o of next) {
    const i = out.findIndex((x) => x.opt_name === o.opt_name && (x.ip_version ?? 4) === o.ip_version);
    if (o.opt_value === null) { if (i >= 0) out.splice(i, 1); } else if (i >= 0) out[i] = o; else out.push(o);
  }
  return out;
}

