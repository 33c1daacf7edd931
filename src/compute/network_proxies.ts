// Nova's deprecated network proxies over Neutron (nova/api/openstack/compute/{networks,
// security_groups,floating_ips}.py): os-networks, os-security-groups, os-security-group-rules and
// os-floating-ips, in Nova's views, through ctx.services.network. They answer 404 from 2.36 on,
// as Nova's do. GET /servers/{id}/os-security-groups (not deprecated) is here too.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import { badRequest, notFound } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import type { FloatingIpInfo, NetworkApi, SecurityGroupInfo, SecurityGroupRuleInfo } from '../network/api.ts';
import type { ComputePart } from './index.ts';
import { mv } from './microversion.ts';
import { isAdmin } from './common.ts';
import { findServer } from './servers/common.ts';
import { validateBody, type Schema } from './servers/validate.ts';

const gone = () => notFound('The resource could not be found.');

function proxy(req: FastifyRequest, ctx: Context): NetworkApi {
  if (mv(req).atLeast('2.36')) throw gone();
  const api = ctx.services.network;
  if (!api) throw gone();
  return api;
}

function need<T>(fn: T | undefined): T {
  if (!fn) throw gone();
  return fn;
}

const scope = (req: FastifyRequest) => ({ project_id: req.auth!.projectId });
const projectOf = (req: FastifyRequest) => req.auth!.projectId ?? '';

// ---- views ----------------------------------------------------------------------------------

function ruleView(r: SecurityGroupRuleInfo, groups: Map<string, SecurityGroupInfo>) {
  const out: Record<string, unknown> = {
    id: r.id, parent_group_id: r.securityGroupId, ip_protocol: r.protocol,
    from_port: r.portRangeMin ?? (r.protocol === 'icmp' ? -1 : null), to_port: r.portRangeMax ?? (r.protocol === 'icmp' ? -1 : null),
    group: {}, ip_range: {},
  };
  if (r.remoteGroupId) {
    const g = groups.get(r.remoteGroupId);
    out.group = { name: g?.name ?? null, tenant_id: g?.projectId ?? null };
  } else {
    out.ip_range = { cidr: r.remoteIpPrefix ?? (r.ethertype === 'IPv6' ? '::/0' : '0.0.0.0/0') };
  }
  return out;
}

/** Nova shows only the ingress rules of a group. */
function groupView(g: SecurityGroupInfo, groups: Map<string, SecurityGroupInfo>) {
  return {
    id: g.id, name: g.name, description: g.description, tenant_id: g.projectId,
    rules: g.rules.filter((r) => r.direction === 'ingress').map((r) => ruleView(r, groups)),
  };
}

function floatingView(f: FloatingIpInfo) {
  return { id: f.id, ip: f.address, fixed_ip: f.fixedAddress, instance_id: f.instanceId, pool: f.pool };
}

const NETWORK_ADMIN_FIELDS = ['bridge', 'bridge_interface', 'broadcast', 'cidr', 'cidr_v6', 'created_at', 'deleted', 'deleted_at',
  'dhcp_server', 'dhcp_start', 'dns1', 'dns2', 'enable_dhcp', 'gateway', 'gateway_v6', 'host', 'injected', 'mtu', 'multi_host',
  'netmask', 'netmask_v6', 'priority', 'project_id', 'rxtx_base', 'share_address', 'updated_at', 'vlan', 'vpn_private_address',
  'vpn_public_address', 'vpn_public_port'];
const NETWORK_USER_FIELDS = ['cidr', 'netmask', 'gateway', 'broadcast', 'dns1', 'dns2', 'cidr_v6', 'gateway_v6', 'netmask_v6'];

/** Nova's network_dict over a Neutron network: only id and label are known, the nova-network fields are null. */
function networkView(n: { id: string; name: string }, admin: boolean) {
  const out: Record<string, unknown> = { id: n.id, label: n.name };
  for (const f of admin ? NETWORK_ADMIN_FIELDS : NETWORK_USER_FIELDS) out[f] = f === 'deleted' ? false : null;
  return out;
}

// ---- schemas ---------------------------------------------------------------------------------

const groupSchema = (key: string): Schema => ({
  type: 'object',
  properties: {
    [key]: {
      type: 'object',
      properties: { name: { type: 'string', minLength: 1, maxLength: 255 }, description: { type: 'string', maxLength: 255 } },
      required: ['name', 'description'],
    },
  },
  required: [key],
});

const ruleSchema: Schema = {
  type: 'object',
  properties: {
    security_group_rule: {
      type: 'object',
      properties: {
        parent_group_id: { type: 'string' }, ip_protocol: { type: ['string', 'null'] },
        from_port: { type: ['integer', 'string', 'null'] }, to_port: { type: ['integer', 'string', 'null'] },
        cidr: { type: ['string', 'null'] }, group_id: { type: ['string', 'null'] },
      },
      required: ['parent_group_id'],
    },
  },
  required: ['security_group_rule'],
};

/** Nova's rule checks before Neutron sees the rule (_rule_args_to_dict / validate_port_range). */
function parseRule(b: any): Omit<SecurityGroupRuleInfo, 'id'> {
  if (!isUuid(String(b.parent_group_id))) throw badRequest(`Security group id should be uuid`);
  const proto = b.ip_protocol === undefined || b.ip_protocol === null ? null : String(b.ip_protocol).toLowerCase();
  if (b.cidr && b.group_id) throw badRequest('Not enough parameters to build a valid rule.');
  const port = (v: unknown, name: string): number | null => {
    if (v === undefined || v === null || v === '') return null;
    const n = Number(v);
    if (!Number.isInteger(n)) throw badRequest(`Invalid port range ${String(b.from_port)}:${String(b.to_port)}. ${name} must be an integer.`);
    return n;
  };
  let from = port(b.from_port, 'from_port'), to = port(b.to_port, 'to_port');
  if (proto !== null && !['tcp', 'udp', 'icmp'].includes(proto) && !/^\d+$/.test(proto)) {
    throw badRequest(`Invalid IP protocol ${b.ip_protocol}.`);
  }
  if (proto === 'tcp' || proto === 'udp') {
    if (from === null || to === null) throw badRequest('Not enough parameters to build a valid rule.');
    if (from < 1 || to > 65535 || from > to) throw badRequest(`Invalid port range ${from}:${to}. Valid TCP ports should be between 1-65535`);
  } else if (proto === 'icmp') {
    if (from === null || to === null) throw badRequest('Not enough parameters to build a valid rule.');
    if (from < -1 || from > 255 || to < -1 || to > 255) throw badRequest(`Invalid port range ${from}:${to}. For ICMP, the type:code must be valid`);
    if (from === -1) from = null;
    if (to === -1) to = null;
  }
  if (b.group_id && !isUuid(String(b.group_id))) throw badRequest('Security group id should be uuid');
  const cidr = b.group_id ? null : (b.cidr ?? '0.0.0.0/0');
  return {
    securityGroupId: String(b.parent_group_id), direction: 'ingress', ethertype: cidr && cidr.includes(':') ? 'IPv6' : 'IPv4',
    protocol: proto, portRangeMin: from, portRangeMax: to, remoteIpPrefix: cidr, remoteGroupId: b.group_id ?? null,
  };
}

async function groupsById(api: NetworkApi, req: FastifyRequest): Promise<Map<string, SecurityGroupInfo>> {
  const all = api.listSecurityGroupsFor ? await api.listSecurityGroupsFor(req.auth!, projectOf(req)) : [];
  return new Map(all.map((g) => [g.id, g]));
}

async function routes(app: FastifyInstance, ctx: Context) {
  // ---- os-networks ----
  app.get('/os-networks', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-networks:list', req.auth!, scope(req));
    const admin = isAdmin(ctx, req);
    return { networks: (await need(api.listNetworksFor).call(api, req.auth!)).map((n) => networkView(n, admin)) };
  });
  app.get<{ Params: { id: string } }>('/os-networks/:id', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-networks:show', req.auth!, scope(req));
    const n = (await need(api.listNetworksFor).call(api, req.auth!)).find((x) => x.id === req.params.id);
    if (!n) throw notFound(`Network ${req.params.id} could not be found.`);
    return { network: networkView(n, isAdmin(ctx, req)) };
  });

  // ---- os-security-groups ----
  app.get('/os-security-groups', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-security-groups:get', req.auth!, scope(req));
    const groups = await groupsById(api, req);
    need(api.listSecurityGroupsFor);
    return { security_groups: [...groups.values()].map((g) => groupView(g, groups)) };
  });
  const oneGroup = async (req: FastifyRequest, api: NetworkApi, id: string) => {
    const g = isUuid(id) ? await need(api.getSecurityGroup).call(api, req.auth!, id) : null;
    if (!g) throw notFound(`Security group ${id} not found.`);
    return g;
  };
  app.get<{ Params: { id: string } }>('/os-security-groups/:id', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-security-groups:show', req.auth!, scope(req));
    const g = await oneGroup(req, api, req.params.id);
    return { security_group: groupView(g, await groupsById(api, req)) };
  });
  app.post('/os-security-groups', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-security-groups:create', req.auth!, scope(req));
    validateBody(groupSchema('security_group'), req.body);
    const b = (req.body as any).security_group;
    const g = await need(api.createSecurityGroup).call(api, req.auth!, projectOf(req), b.name, b.description);
    return { security_group: groupView(g, await groupsById(api, req)) };
  });
  app.put<{ Params: { id: string } }>('/os-security-groups/:id', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-security-groups:update', req.auth!, scope(req));
    validateBody(groupSchema('security_group'), req.body);
    const b = (req.body as any).security_group;
    await oneGroup(req, api, req.params.id);
    const g = await need(api.updateSecurityGroup).call(api, req.auth!, req.params.id, b.name, b.description);
    return { security_group: groupView(g, await groupsById(api, req)) };
  });
  app.delete<{ Params: { id: string } }>('/os-security-groups/:id', async (req, reply: FastifyReply) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-security-groups:delete', req.auth!, scope(req));
    await oneGroup(req, api, req.params.id);
    await need(api.deleteSecurityGroup).call(api, req.auth!, req.params.id);
    return reply.code(202).send();
  });

  // ---- os-security-group-rules ----
  app.post('/os-security-group-rules', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-security-groups:rule:create', req.auth!, scope(req));
    validateBody(ruleSchema, req.body);
    const rule = parseRule((req.body as any).security_group_rule);
    await oneGroup(req, api, rule.securityGroupId);
    if (rule.remoteGroupId) await oneGroup(req, api, rule.remoteGroupId);
    const r = await need(api.createSecurityGroupRule).call(api, req.auth!, rule);
    return { security_group_rule: ruleView(r, await groupsById(api, req)) };
  });
  app.delete<{ Params: { id: string } }>('/os-security-group-rules/:id', async (req, reply: FastifyReply) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-security-groups:rule:delete', req.auth!, scope(req));
    if (!isUuid(req.params.id)) throw notFound(`Security group rule ${req.params.id} could not be found.`);
    await need(api.deleteSecurityGroupRule).call(api, req.auth!, req.params.id);
    return reply.code(202).send();
  });

  // ---- os-floating-ip-pools ----
  app.get('/os-floating-ip-pools', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-floating-ip-pools', req.auth!, scope(req));
    return { floating_ip_pools: (await need(api.listFloatingIpPools).call(api, req.auth!)).map((name) => ({ name })) };
  });

  // ---- os-floating-ips ----
  const floatingIps = async (req: FastifyRequest, api: NetworkApi) => need(api.listFloatingIpsFor).call(api, req.auth!, projectOf(req));
  app.get('/os-floating-ips', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-floating-ips:list', req.auth!, scope(req));
    return { floating_ips: (await floatingIps(req, api)).map(floatingView) };
  });
  app.get<{ Params: { id: string } }>('/os-floating-ips/:id', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-floating-ips:show', req.auth!, scope(req));
    const f = (await floatingIps(req, api)).find((x) => x.id === req.params.id);
    if (!f) throw notFound(`Floating IP not found for ID ${req.params.id}`);
    return { floating_ip: floatingView(f) };
  });
  app.post('/os-floating-ips', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-floating-ips:create', req.auth!, scope(req));
    const body = (req.body ?? {}) as any;
    const pool = body && typeof body === 'object' ? body.pool ?? null : null;
    if (pool !== null && typeof pool !== 'string') throw badRequest('Invalid input for field/attribute pool.');
    const f = await need(api.allocateFloatingIp).call(api, req.auth!, projectOf(req), pool);
    return { floating_ip: floatingView(f) };
  });
  app.delete<{ Params: { id: string } }>('/os-floating-ips/:id', async (req, reply: FastifyReply) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-floating-ips:delete', req.auth!, scope(req));
    const f = (await floatingIps(req, api)).find((x) => x.id === req.params.id);
    if (!f) throw notFound(`Floating IP not found for ID ${req.params.id}`);
    await need(api.releaseFloatingIp).call(api, req.auth!, f.id);
    return reply.code(202).send();
  });

  // ---- the server's security groups (not a proxy: every microversion) ----
  app.get<{ Params: { server_id: string } }>('/servers/:server_id/os-security-groups', async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-security-groups:list', req.auth!, { project_id: inst.projectId });
    const api = ctx.services.network;
    if (!api) return { security_groups: [] };
    const refs = (await api.securityGroupsForInstances([inst.uuid])).get(inst.uuid) ?? [];
    const groups = await groupsById(api, req);
    const out = [];
    for (const r of refs) {
      const g = groups.get(r.id) ?? (api.getSecurityGroup ? await api.getSecurityGroup(req.auth!, r.id) : null);
      out.push(g ? groupView(g, groups) : { id: r.id, name: r.name, description: '', tenant_id: inst.projectId, rules: [] });
    }
    return { security_groups: out };
  });
}

export const networkProxies: ComputePart = { migrations: [], routes };
