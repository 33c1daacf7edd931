// Subnets: IPv4 and IPv6 ranges of a network with their gateway, allocation pools, DNS servers,
// host routes, DHCP flag and IPv6 modes, validated as Neutron validates them.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { badRequest } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import type { NetworkPart } from './index.ts';
import { neutronTime } from './db.ts';
import {
  authorize, boolAttr, checkRevision, collectionUrl, intAttr, isAdmin, neutronError, onlyAttributes, ownerOf, resourceBody,
  str, tagsOf, TAG_FILTERS,
} from './common.ts';
import { findNetwork, grantedTo, rbacGrant } from './networks.ts';
import { listResponse, queryOf, showFields } from './query.ts';
import { enforceQuota } from './quotas.ts';
import { allocateFromPool, checkPoolAffinity, poolForSubnet } from './subnetpools.ts';
import { cidrContains, cidrsOverlap, formatCidr, formatIp, lastIp, normalizeIp, parseCidr, parseIp, type Cidr, type IpVersion } from './ip.ts';

const ATTRS = ['name', 'description', 'network_id', 'ip_version', 'cidr', 'gateway_ip', 'enable_dhcp', 'allocation_pools',
  'dns_nameservers', 'host_routes', 'ipv6_ra_mode', 'ipv6_address_mode', 'subnetpool_id', 'prefixlen', 'tenant_id',
  'project_id', 'segment_id', 'service_types', 'use_default_subnetpool', 'dns_publish_fixed_ip'];
const IPV6_MODES = ['slaac', 'dhcpv6-stateful', 'dhcpv6-stateless'];
const MAX_DNS = 5;
const MAX_ROUTES = 20;

export const notFoundSubnet = (id: string) => neutronError(404, 'SubnetNotFound', `Subnet ${id} could not be found.`);

export interface Pool { start: string; end: string }

export interface SubnetRow {
  id: string; project_id: string; network_id: string; ip_version: number; cidr: string; gateway_ip: string | null;
  allocation_pools: string; ipv6_address_mode: string | null; ipv6_ra_mode: string | null; enable_dhcp: unknown;
  [k: string]: unknown;
}

/** Pool ranges as numbers, for IPAM. */
export function poolRanges(s: SubnetRow): { start: bigint; end: bigint }[] {
  return fromJson<Pool[]>(s.allocation_pools, []).map((p) => ({ start: parseIp(p.start)!.value, end: parseIp(p.end)!.value }));
}

/** SLAAC and DHCPv6-stateless subnets address ports from their MAC (EUI-64), not from pools. */
export const isAutoAddress = (s: { ip_version: number; ipv6_address_mode: string | null }) =>
  Number(s.ip_version) === 6 && (s.ipv6_address_mode === 'slaac' || s.ipv6_address_mode === 'dhcpv6-stateless');

export async function subnetView(q: Queryable, rows: any[]) {
  const tags = await tagsOf(q, 'subnets', rows.map((r) => r.id));
  return rows.map((r) => ({
    id: r.id, name: r.name, tenant_id: r.project_id, project_id: r.project_id, network_id: r.network_id,
    ip_version: Number(r.ip_version), subnetpool_id: r.subnetpool_id ?? null, enable_dhcp: bool(r.enable_dhcp),
    ipv6_ra_mode: r.ipv6_ra_mode ?? null, ipv6_address_mode: r.ipv6_address_mode ?? null, gateway_ip: r.gateway_ip ?? null,
    cidr: r.cidr, allocation_pools: fromJson(r.allocation_pools, []), host_routes: fromJson(r.host_routes, []),
    dns_nameservers: fromJson(r.dns_nameservers, []), description: r.description, service_types: [], segment_id: null,
    tags: tags.get(r.id) ?? [], created_at: neutronTime(r.created_at), updated_at: neutronTime(r.updated_at),
    revision_number: Number(r.revision_number),
  }));
}

export async function findSubnet(ctx: Context, req: FastifyRequest, id: string, q: Queryable = ctx.db) {
  const r = await q.get('SELECT s.*, n.shared AS net_shared, n.router_external AS net_external, n.project_id AS net_project FROM neutron_subnets s JOIN neutron_networks n ON n.id = s.network_id WHERE s.id = ?', [id]);
  const a = req.auth!;
  // Subnets of an external network stay hidden from other projects unless it is shared (Neutron).
  if (!r || !(isAdmin(a) || r.project_id === a.projectId || r.net_project === a.projectId || bool(r.net_shared)
    || await grantedTo(q, r.network_id, a.projectId ?? '', 'access_as_shared'))) throw notFoundSubnet(id);
  return r;
}

function ip(v: unknown, field: string, version: IpVersion): bigint {
  const p = typeof v === 'string' ? parseIp(v) : null;
  if (!p) throw badRequest(`Invalid input for ${field}. Reason: '${v}' is not a valid IP address.`);
  if (p.version !== version) throw badRequest(`Invalid input for operation: ${field} '${v}' does not match the ip_version '${version}'`);
  return p.value;
}

/** Default pools: the whole range minus the network address, the IPv4 broadcast and the gateway. */
function defaultPools(c: Cidr, gateway: bigint | null): { start: bigint; end: bigint }[] {
  const first = c.network + 1n;
  const last = c.version === 4 ? lastIp(c) - 1n : lastIp(c);
  if (c.size <= 2n && c.version === 4) return c.prefix === 32 ? [] : [{ start: c.network, end: lastIp(c) }];
  if (gateway === null || gateway < first || gateway > last) return [{ start: first, end: last }];
  return [{ start: first, end: gateway - 1n }, { start: gateway + 1n, end: last }].filter((p) => p.start <= p.end);
}

function validatePools(raw: unknown, c: Cidr, gateway: bigint | null): { start: bigint; end: bigint }[] {
  if (!Array.isArray(raw)) throw badRequest(`Invalid input for allocation_pools. Reason: '${JSON.stringify(raw)}' is not a list.`);
  const pools = raw.map((p: any) => {
    if (!p || typeof p !== 'object' || typeof p.start !== 'string' || typeof p.end !== 'string' || Object.keys(p).some((k) => k !== 'start' && k !== 'end')) {
      throw badRequest(`Invalid input for allocation_pools. Reason: '${JSON.stringify(p)}' is not a valid pool (start and end).`);
    }
    const start = ip(p.start, 'allocation_pools', c.version), end = ip(p.end, 'allocation_pools', c.version);
    if (!cidrContains(c, start) || !cidrContains(c, end)) throw badRequest(`The allocation pool ${p.start}-${p.end} spans beyond the subnet cidr ${formatCidr(c)}.`);
    if (start > end) throw badRequest(`The allocation pool ${p.start}-${p.end} is not valid.`);
    return { start, end };
  });
  const sorted = [...pools].sort((a, b) => (a.start < b.start ? -1 : 1));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].start <= sorted[i - 1].end) throw badRequest(`Found overlapping allocation pools: ${formatIp(c.version, sorted[i - 1].start)}-${formatIp(c.version, sorted[i - 1].end)} and ${formatIp(c.version, sorted[i].start)}-${formatIp(c.version, sorted[i].end)} for subnet ${formatCidr(c)}.`);
  }
  if (gateway !== null) {
    const hit = pools.find((p) => gateway >= p.start && gateway <= p.end);
    if (hit) throw neutronError(409, 'GatewayConflictWithAllocationPools', `Gateway ip ${formatIp(c.version, gateway)} conflicts with allocation pool ${formatIp(c.version, hit.start)}-${formatIp(c.version, hit.end)}.`);
  }
  return pools;
}

function validateDns(raw: unknown, version: IpVersion): string[] {
  if (!Array.isArray(raw)) throw badRequest(`Invalid input for dns_nameservers. Reason: '${JSON.stringify(raw)}' is not a list.`);
  if (raw.length > MAX_DNS) throw neutronError(400, 'DNSNameServersExhausted', `Unable to complete operation for the subnet. The number of DNS nameservers exceeds the limit ${MAX_DNS}.`);
  const out: string[] = [];
  for (const d of raw) {
    const p = typeof d === 'string' ? parseIp(d) : null;
    if (!p) throw badRequest(`Invalid input for dns_nameservers. Reason: '${d}' is not a valid nameserver.`);
    if (p.version !== version) throw badRequest(`Invalid input for operation: dns_nameserver '${d}' does not match the ip_version '${version}'`);
    if (out.includes(d)) throw badRequest(`Invalid input for dns_nameservers. Reason: Duplicate nameserver '${d}'.`);
    out.push(d);
  }
  return out;
}

function validateRoutes(raw: unknown, version: IpVersion): { destination: string; nexthop: string }[] {
  if (!Array.isArray(raw)) throw badRequest(`Invalid input for host_routes. Reason: '${JSON.stringify(raw)}' is not a list.`);
  if (raw.length > MAX_ROUTES) throw neutronError(400, 'HostRoutesExhausted', `Unable to complete operation for the subnet. The number of host routes exceeds the limit ${MAX_ROUTES}.`);
  const seen = new Set<string>();
  return raw.map((h: any) => {
    if (!h || typeof h !== 'object' || Object.keys(h).some((k) => k !== 'destination' && k !== 'nexthop')) throw badRequest(`Invalid input for host_routes. Reason: '${JSON.stringify(h)}' is not a valid host route.`);
    const dest = typeof h.destination === 'string' ? parseCidr(h.destination) : null;
    if (!dest) throw badRequest(`Invalid input for host_routes. Reason: '${h.destination}' is not a valid IP subnet.`);
    if (dest.version !== version) throw badRequest(`Invalid input for operation: host_route destination '${h.destination}' does not match the ip_version '${version}'`);
    ip(h.nexthop, 'host_routes', version);
    const key = `${formatCidr(dest)} ${h.nexthop}`;
    if (seen.has(key)) throw badRequest(`Invalid input for host_routes. Reason: Duplicate hostroute '${key}'.`);
    seen.add(key);
    return { destination: formatCidr(dest), nexthop: normalizeIp(h.nexthop)! };
  });
}

function validateModes(r: Record<string, any>, version: IpVersion) {
  for (const k of ['ipv6_ra_mode', 'ipv6_address_mode']) {
    const v = r[k];
    if (v === undefined || v === null) continue;
    if (!IPV6_MODES.includes(v)) throw badRequest(`Invalid input for ${k}. Reason: '${v}' is not in ${JSON.stringify(IPV6_MODES)}.`);
    if (version !== 6) throw badRequest(`Invalid input for operation: ${k} is not valid for an IPv${version} subnet.`);
  }
  if (r.ipv6_ra_mode && r.ipv6_address_mode && r.ipv6_ra_mode !== r.ipv6_address_mode) {
    throw badRequest(`Invalid input for operation: ipv6_ra_mode set to '${r.ipv6_ra_mode}' with ipv6_address_mode set to '${r.ipv6_address_mode}' is not valid. If both attributes are set, they must be the same value.`);
  }
}

const pretty = (version: IpVersion, pools: { start: bigint; end: bigint }[]): Pool[] =>
  pools.map((p) => ({ start: formatIp(version, p.start), end: formatIp(version, p.end) }));

async function createSubnet(ctx: Context, req: FastifyRequest, body: unknown, q: Queryable = ctx.db, pool?: Awaited<ReturnType<typeof poolForSubnet>>) {
  const r = resourceBody(body, 'subnet');
  onlyAttributes(r, ATTRS);
  str(r, 'name'); str(r, 'description');
  if (typeof r.network_id !== 'string') throw badRequest("Invalid input for operation: 'network_id' must be specified.");
  // A subnet pool (subnetpools.ts) picks the CIDR when none is given, or checks the given one.
  const subnetpool = pool !== undefined ? pool : await poolForSubnet(ctx, req, r);
  const version = (intAttr(r, 'ip_version') ?? (subnetpool ? Number(subnetpool.ip_version) : 4)) as IpVersion;
  if (version !== 4 && version !== 6) throw badRequest(`Invalid input for ip_version. Reason: '${r.ip_version}' is not in [4, 6].`);
  if (r.cidr === undefined && !subnetpool) throw badRequest('Bad subnets request: a subnetpool must be specified in the absence of a cidr.');
  let c = r.cidr === undefined ? null : typeof r.cidr === 'string' ? parseCidr(r.cidr, true) : null;
  if (r.cidr !== undefined && !c) throw badRequest(`Invalid input for cidr. Reason: '${r.cidr}' is not a valid IP subnet.`);
  if (c && c.version !== version) throw badRequest(`Invalid input for operation: cidr '${r.cidr}' does not match the ip_version '${version}'`);
  const prefixlen = intAttr(r, 'prefixlen');
  if (prefixlen !== undefined && prefixlen < 0) throw badRequest(`Invalid input for prefixlen. Reason: '${prefixlen}' should be non-negative.`);
  const dhcp = boolAttr(r, 'enable_dhcp') ?? true;
  validateModes(r, version);
  const shape = (c: Cidr) => {
    let gateway: bigint | null;
    if (r.gateway_ip === null) gateway = null;
    else if (r.gateway_ip === undefined) gateway = c.size > 2n ? c.network + 1n : null;
    else {
      gateway = ip(r.gateway_ip, 'gateway_ip', version);
      if (cidrContains(c, gateway) && (gateway === c.network || (version === 4 && gateway === lastIp(c) && c.prefix < 31))) {
        throw badRequest(`Invalid input for operation: Gateway is not valid on subnet.`);
      }
    }
    const pools = r.allocation_pools !== undefined ? validatePools(r.allocation_pools, c, gateway) : defaultPools(c, gateway);
    return { gateway, pools };
  };
  let shaped = c ? shape(c) : null;
  const dns = r.dns_nameservers !== undefined ? validateDns(r.dns_nameservers, version) : [];
  const routes = r.host_routes !== undefined ? validateRoutes(r.host_routes, version) : [];
  const project = ownerOf(req, r);
  const net = await findNetwork(ctx, req, r.network_id, q);
  // Only the network's owner (or an admin) adds subnets, shared networks included.
  authorize(ctx, req, 'create_subnet', { project_id: project, network_project_id: net.project_id });
  if (!isAdmin(req.auth!) && net.project_id !== req.auth!.projectId) {
    throw neutronError(403, 'PolicyNotAuthorized', "(rule:create_subnet) is disallowed by policy");
  }
  const id = uuid();
  const now = nowIso();
  await q.tx(async (t) => {
    await t.lock(`network:${net.id}`);
    await enforceQuota(t, project, 'subnet', 1);
    if (subnetpool) c = await allocateFromPool(t, subnetpool.id, project, net.id, c ? { cidr: c } : { prefixlen });
    else await checkPoolAffinity(t, net.id, version, null);
    if (!c) throw badRequest('Bad subnets request: a subnetpool must be specified in the absence of a cidr.');
    shaped ??= shape(c);
    const { gateway, pools } = shaped;
    for (const o of await t.all('SELECT id, cidr FROM neutron_subnets WHERE network_id = ?', [net.id])) {
      if (cidrsOverlap(parseCidr(o.cidr)!, c)) {
        throw badRequest(`Invalid input for operation: Requested subnet with cidr: ${formatCidr(c)} for network: ${net.id} overlaps with another subnet.`);
      }
    }
    await t.run(`INSERT INTO neutron_subnets (id, project_id, network_id, name, description, ip_version, cidr, gateway_ip, enable_dhcp,
        allocation_pools, dns_nameservers, host_routes, ipv6_ra_mode, ipv6_address_mode, subnetpool_id, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      id, project, net.id, r.name ?? '', r.description ?? '', version, formatCidr(c), gateway === null ? null : formatIp(version, gateway),
      dhcp ? 1 : 0, toJson(pretty(version, pools)), toJson(dns), toJson(routes), r.ipv6_ra_mode ?? null, r.ipv6_address_mode ?? null,
      subnetpool?.id ?? null, now, now,
    ]);
    await t.run('UPDATE neutron_networks SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [now, net.id]);
  });
  const [v] = await subnetView(q, [await q.get('SELECT * FROM neutron_subnets WHERE id = ?', [id])]);
  return v;
}

export const subnets: NetworkPart = {
  migrations: [],
  extensions: [
    { alias: 'subnet-service-types', name: 'Subnet service types', description: 'Provides ability to set the subnet service_types field', updated: '2016-03-03T00:00:00-00:00' },
  ],
  async routes(app: FastifyInstance, ctx: Context) {
    app.post('/subnets', async (req, reply) => {
      const body = req.body as any;
      reply.code(201);
      if (body && Array.isArray(body.subnets)) {
        // All or nothing, as Neutron's bulk create. The pools are looked up first (they are read
        // outside the transaction), then every subnet is made in one.
        const pools: Awaited<ReturnType<typeof poolForSubnet>>[] = [];
        for (const s of body.subnets) pools.push(await poolForSubnet(ctx, req, resourceBody({ subnet: s }, 'subnet')));
        const out = await ctx.db.tx(async (t) => {
          const made = [];
          for (const [i, s] of body.subnets.entries()) made.push(await createSubnet(ctx, req, { subnet: s }, t, pools[i]));
          return made;
        });
        return { subnets: out };
      }
      return { subnet: await createSubnet(ctx, req, body) };
    });

    app.get('/subnets', async (req) => {
      const a = req.auth!;
      const project = a.projectId ?? '';
      const grant = rbacGrant('n', project, 'access_as_shared');
      const rows = isAdmin(a)
        ? await ctx.db.all('SELECT s.* FROM neutron_subnets s')
        : await ctx.db.all(`SELECT s.* FROM neutron_subnets s JOIN neutron_networks n ON n.id = s.network_id WHERE s.project_id = ? OR n.project_id = ? OR n.shared = 1${grant.sql}`,
          [project, project, ...grant.params]);
      return listResponse('subnets', await subnetView(ctx.db, rows), queryOf(req), collectionUrl(ctx, 'subnets'), { custom: TAG_FILTERS });
    });

    app.get<{ Params: { id: string } }>('/subnets/:id', async (req) => {
      const r = await findSubnet(ctx, req, req.params.id);
      const [v] = await subnetView(ctx.db, [r]);
      return { subnet: showFields(v, queryOf(req)) };
    });

    app.put<{ Params: { id: string } }>('/subnets/:id', async (req) => {
      const r = resourceBody(req.body, 'subnet');
      onlyAttributes(r, ATTRS);
      for (const k of ['network_id', 'ip_version', 'cidr', 'tenant_id', 'project_id', 'subnetpool_id', 'ipv6_ra_mode', 'ipv6_address_mode', 'prefixlen']) {
        if (k in r) throw badRequest(`Cannot update read-only attribute ${k}`);
      }
      str(r, 'name'); str(r, 'description');
      const id = req.params.id;
      await ctx.db.tx(async (t: Tx) => {
        const cur = await findSubnet(ctx, req, id, t);
        authorize(ctx, req, 'update_subnet', cur);
        if (!isAdmin(req.auth!) && cur.project_id !== req.auth!.projectId) throw neutronError(403, 'PolicyNotAuthorized', '(rule:update_subnet) is disallowed by policy');
        checkRevision(req, Number(cur.revision_number));
        await t.lock(`network:${cur.network_id}`);
        const version = Number(cur.ip_version) as IpVersion;
        const c = parseCidr(cur.cidr)!;
        const set: Record<string, unknown> = {};
        let gateway: bigint | null = cur.gateway_ip ? parseIp(cur.gateway_ip)!.value : null;
        if ('gateway_ip' in r) {
          gateway = r.gateway_ip === null ? null : ip(r.gateway_ip, 'gateway_ip', version);
          if (gateway !== null && cidrContains(c, gateway) && (gateway === c.network || (version === 4 && gateway === lastIp(c) && c.prefix < 31))) {
            throw badRequest('Invalid input for operation: Gateway is not valid on subnet.');
          }
          set.gateway_ip = gateway === null ? null : formatIp(version, gateway);
        }
        if ('allocation_pools' in r) set.allocation_pools = toJson(pretty(version, validatePools(r.allocation_pools, c, gateway)));
        else if ('gateway_ip' in r && gateway !== null) {
          const hit = poolRanges(cur as SubnetRow).find((p) => gateway! >= p.start && gateway! <= p.end);
          if (hit) throw neutronError(409, 'GatewayConflictWithAllocationPools', `Gateway ip ${formatIp(version, gateway)} conflicts with allocation pool ${formatIp(version, hit.start)}-${formatIp(version, hit.end)}.`);
        }
        if ('gateway_ip' in r && gateway !== null) {
          const taken = await t.get("SELECT port_id FROM neutron_ipallocations a JOIN neutron_ports p ON p.id = a.port_id WHERE a.subnet_id = ? AND a.ip_address = ? AND p.device_owner NOT LIKE 'network:router_interface%'", [id, formatIp(version, gateway)]);
          if (taken) throw neutronError(409, 'GatewayIpInUse', `Gateway ip ${formatIp(version, gateway)} is in use by port ${taken.port_id}`);
        }
        if ('dns_nameservers' in r) set.dns_nameservers = toJson(validateDns(r.dns_nameservers, version));
        if ('host_routes' in r) set.host_routes = toJson(validateRoutes(r.host_routes, version));
        if ('enable_dhcp' in r) set.enable_dhcp = boolAttr(r, 'enable_dhcp') ? 1 : 0;
        if ('name' in r) set.name = r.name;
        if ('description' in r) set.description = r.description;
        const keys = Object.keys(set);
        await t.run(`UPDATE neutron_subnets SET ${keys.map((k) => `${k} = ?`).join(', ')}${keys.length ? ', ' : ''}revision_number = revision_number + 1, updated_at = ? WHERE id = ?`,
          [...keys.map((k) => set[k] as any), nowIso(), id]);
      });
      const [v] = await subnetView(ctx.db, [await ctx.db.get('SELECT * FROM neutron_subnets WHERE id = ?', [id])]);
      return { subnet: v };
    });

    app.delete<{ Params: { id: string } }>('/subnets/:id', async (req, reply) => {
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findSubnet(ctx, req, id, t);
        authorize(ctx, req, 'delete_subnet', cur);
        if (!isAdmin(req.auth!) && cur.project_id !== req.auth!.projectId) throw neutronError(403, 'PolicyNotAuthorized', '(rule:delete_subnet) is disallowed by policy');
        checkRevision(req, Number(cur.revision_number));
        await t.lock(`network:${cur.network_id}`);
        await t.lock(`ipam:${id}`);
        // Addresses of SLAAC and DHCPv6-stateless subnets are the ports' own (EUI-64): such a
        // subnet goes and its addresses leave the ports, as in Neutron. Others must be unused.
        const used = isAutoAddress(cur as SubnetRow) ? null
          : await t.get("SELECT a.port_id FROM neutron_ipallocations a JOIN neutron_ports p ON p.id = a.port_id WHERE a.subnet_id = ? AND p.device_owner <> 'network:dhcp'", [id]);
        if (used) throw neutronError(409, 'SubnetInUse', `Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`);
        await t.run('UPDATE neutron_ports SET revision_number = revision_number + 1, updated_at = ? WHERE id IN (SELECT port_id FROM neutron_ipallocations WHERE subnet_id = ?)', [nowIso(), id]);
        await t.run('DELETE FROM neutron_ipallocations WHERE subnet_id = ?', [id]);
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'subnets' AND resource_id = ?", [id]);
        await t.run('DELETE FROM neutron_subnets WHERE id = ?', [id]);
        await t.run('UPDATE neutron_networks SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [nowIso(), cur.network_id]);
      });
      reply.code(204);
    });
  },
};
