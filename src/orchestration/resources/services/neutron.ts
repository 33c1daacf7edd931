// Neutron resources: OS::Neutron::Net, ::Subnet, ::Port, ::Router, ::RouterInterface,
// ::FloatingIP, ::FloatingIPAssociation, ::SecurityGroup and ::SecurityGroupRule. Named objects
// default to the resource's physical name, so an interrupted create is found by name, not leaked.
import { heatError, validationFailed, type PropertySchema, type ResourceContext, type ResourcePlugin, type UpdateChange } from '../../types.ts';
import {
  attr, bool, call, compact, findNetwork, findPort, findQosPolicy, findRouter, findSecurityGroup, findSubnet, findSubnetPool, findProject,
  ignoreNotFound, int, isNotFound, list, listOf, listOfStr, map, oldAndNewNames, resolve, str,
} from './common.ts';

interface NeutronKind {
  collection: string;
  key: string;
}

async function shown(r: ResourceContext, k: NeutronKind): Promise<any | null> {
  if (!r.physicalId) return null;
  return (await r.client.find('network', `/${k.collection}/${r.physicalId}`))?.[k.key] ?? null;
}

/** The object this resource's interrupted create made, by its (default) physical name. */
async function byPhysicalName(r: ResourceContext, k: NeutronKind): Promise<string | null> {
  if (r.properties.name) return null;
  const res = await r.client.request('network', 'GET', `/${k.collection}?name=${encodeURIComponent(r.physicalName())}`);
  return (res.body[k.collection.replace(/-/g, '_')] as any[])[0]?.id ?? null;
}

async function deleteOf(r: ResourceContext, k: NeutronKind) {
  if (r.physicalId) await ignoreNotFound(r.client.request('network', 'DELETE', `/${k.collection}/${r.physicalId}`));
}

/** Attributes are the object's fields of the same name; 'show' is the whole object. */
function fieldAttrs(k: NeutronKind, rename: Record<string, (o: any, r: ResourceContext) => unknown> = {}) {
  return async (r: ResourceContext, name: string) => {
    const o = await shown(r, k);
    if (!o) return null;
    if (name === 'show') return o;
    if (rename[name]) return rename[name](o, r);
    return o[name] ?? null;
  };
}

const nameProp = (what: string) => str(`Name of the ${what} (names need not be unique). Without one the ${what} gets the resource's physical name.`, { update_allowed: true });
const valueSpecs = (what: string) => map(`Extra ${what} fields sent to Neutron as given, at create and on update (for attributes of extensions this schema does not know).`, { default: {}, update_allowed: true });
const tags = listOfStr('Tags for the object; on update the list replaces all of its tags.', { update_allowed: true });
const tenantId = str("ID of the project to own the object, when not the caller's own; normally only an admin may set it.");

/** Sets the tags of an object (PUT replaces them all). */
async function putTags(r: ResourceContext, collection: string, id: string, t: string[] | null | undefined) {
  if (t === undefined || t === null) return;
  await call(r, 'network', 'PUT', `/${collection}/${id}/tags`, { tags: t });
}

/** The plain (non-list, non-reference) fields changed, for a PUT. */
function changedFields(change: UpdateChange, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (change.changed.includes(f)) out[f] = change.newProperties[f];
  return out;
}

/** A generic named Neutron object: create with default name, find by name, PUT changes, delete. */
function plugin(def: {
  type: string; description: string; kind: NeutronKind;
  properties: Record<string, PropertySchema>; attributes: Record<string, { description: string; type?: any }>;
  body(r: ResourceContext, p: Record<string, any>): Promise<Record<string, unknown>>;
  updateBody?(r: ResourceContext, change: UpdateChange): Promise<Record<string, unknown>>;
  afterCreate?(r: ResourceContext, obj: any): Promise<void>;
  afterUpdate?(r: ResourceContext, change: UpdateChange): Promise<void>;
  validate?: ResourcePlugin['validate'];
  rename?: Record<string, (o: any, r: ResourceContext) => unknown>;
  checkCreateComplete?: ResourcePlugin['checkCreateComplete'];
  named?: boolean;
  /** Body fields whose null is sent as null at create (it means something to Neutron), not dropped. */
  keepNull?: string[];
}): ResourcePlugin {
  const k = def.kind;
  const named = def.named ?? true;
  const p: ResourcePlugin = {
    type: def.type, description: def.description, properties: def.properties, attributes: def.attributes,
    validate: def.validate,
    async handleCreate(r) {
      const found = named ? await byPhysicalName(r, k) : null;
      if (found) { await r.setPhysicalId(found); return; }
      const props = r.properties;
      const body: Record<string, unknown> = { ...(named ? { name: props.name ?? r.physicalName() } : {}), ...(await def.body(r, props)), ...(props.value_specs ?? {}) };
      const sent: Record<string, unknown> = compact(body);
      for (const f of def.keepNull ?? []) if (body[f] === null) sent[f] = null;
      const o = (await call(r, 'network', 'POST', `/${k.collection}`, { [k.key]: sent }))[k.key];
      await r.setPhysicalId(o.id);
      if (props.tags?.length) await putTags(r, k.collection, o.id, props.tags);
      await def.afterCreate?.(r, o);
    },
    checkCreateComplete: def.checkCreateComplete,
    findInterrupted: named ? (r) => byPhysicalName(r, k) : undefined,
    async handleUpdate(r, change) {
      const n = change.newProperties;
      const body: Record<string, unknown> = def.updateBody ? await def.updateBody(r, change) : {};
      if (named && change.changed.includes('name')) body.name = n.name ?? r.physicalName();
      if (change.changed.includes('value_specs')) Object.assign(body, n.value_specs ?? {});
      if (Object.keys(body).length) await call(r, 'network', 'PUT', `/${k.collection}/${r.physicalId}`, { [k.key]: body });
      if (change.changed.includes('tags')) await putTags(r, k.collection, r.physicalId!, n.tags ?? []);
      await def.afterUpdate?.(r, change);
    },
    async handleDelete(r) { await deleteOf(r, k); },
    async checkDeleteComplete(r) { return !(await shown(r, k)); },
    resolveAttribute: fieldAttrs(k, def.rename),
    async show(r) { return shown(r, k); },
  };
  if (!def.validate) delete p.validate;
  if (!def.checkCreateComplete) delete p.checkCreateComplete;
  if (!named) delete p.findInterrupted;
  return p;
}

const idOf = async (find: typeof findNetwork, r: ResourceContext, v: string | null | undefined) => (v ? (await resolve(find, r.client, v)).id : undefined);

// ------------------------------------------------------------------ OS::Neutron::Net

export const net = plugin({
  type: 'OS::Neutron::Net',
  description: 'A Neutron network: an isolated layer-2 segment, private to its project unless it is shared.',
  kind: { collection: 'networks', key: 'network' },
  properties: {
    name: nameProp('network'),
    value_specs: valueSpecs('network'),
    admin_state_up: bool('Whether the network is administratively up.', { default: true, update_allowed: true }),
    tenant_id: tenantId,
    shared: bool('Whether every project may use the network. Neutron lets only admins set it by default.', { default: false, update_allowed: true }),
    dhcp_agent_ids: listOfStr('DHCP agents to host the network (an admin setting). Accepted for compatibility; the plugin does not schedule agents, so the value is not used.', { update_allowed: true }),
    port_security_enabled: bool('Whether port security (security groups and address checks) is on; ports made on the network take this as their default.', { update_allowed: true }),
    qos_policy: str('Name or ID of a QoS policy for the network; removing it on update detaches the policy.', { update_allowed: true, constraint: 'neutron.qos_policy' }),
    dns_domain: str('DNS domain for names on the network.', { update_allowed: true }),
    availability_zone_hints: listOfStr('Availability zones the network may be placed in (sent only when the list is not empty).'),
    tags,
  },
  attributes: {
    status: attr('Current status of the network, e.g. ACTIVE.', 'string'),
    name: attr('Network name.', 'string'),
    subnets: attr('IDs of the subnets on the network.', 'list'),
    admin_state_up: attr('Whether the network is administratively up.', 'string'),
    tenant_id: attr('ID of the project that owns the network.', 'string'),
    port_security_enabled: attr('Whether port security is on for the network.', 'boolean'),
    mtu: attr('Largest packet, in bytes, the network carries (MTU).', 'integer'),
    qos_policy_id: attr('ID of the QoS policy on the network, or null.', 'string'),
    l2_adjacency: attr('True when all ports of the network reach each other at layer 2.', 'boolean'),
    segments: attr('Segments of the network (empty when it has none).', 'list'),
    show: attr('The whole object, as the service shows it.', 'map'),
  },
  async body(r, p) {
    return {
      admin_state_up: p.admin_state_up, tenant_id: p.tenant_id, shared: p.shared ? true : undefined, port_security_enabled: p.port_security_enabled,
      qos_policy_id: await idOf(findQosPolicy, r, p.qos_policy), dns_domain: p.dns_domain,
      availability_zone_hints: p.availability_zone_hints?.length ? p.availability_zone_hints : undefined,
    };
  },
  async updateBody(r, c) {
    const b = changedFields(c, ['admin_state_up', 'shared', 'port_security_enabled', 'dns_domain']);
    if (c.changed.includes('qos_policy')) b.qos_policy_id = (await idOf(findQosPolicy, r, c.newProperties.qos_policy)) ?? null;
    return b;
  },
  rename: { segments: (o) => o.segments ?? [] },
});

// ------------------------------------------------------------------ OS::Neutron::Subnet

// '' asks for no gateway (null to Neutron); absent lets Neutron pick one.
const gateway = (v: unknown) => (v === '' ? null : v ?? undefined);

export const subnet = plugin({
  type: 'OS::Neutron::Subnet',
  description: 'A Neutron subnet: a block of IP addresses on a network, from which its ports get addresses.',
  kind: { collection: 'subnets', key: 'subnet' },
  properties: {
    network_id: str('Old name of network.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property network.' }, constraint: 'neutron.network', replaced_by: 'network' }),
    network: str('Name or ID of the network the subnet is on.', { required: true, constraint: 'neutron.network' }),
    subnetpool: str('Name or ID of a subnet pool to take the address block from; give either this or cidr.', { constraint: 'neutron.subnetpool' }),
    prefixlen: int('Prefix length of the block taken from subnetpool (only with subnetpool).', { constraints: [{ range: { min: 0 } }] }),
    cidr: str('The address block in CIDR notation, e.g. 10.0.0.0/24; give either this or subnetpool.', { constraint: 'net_cidr' }),
    value_specs: valueSpecs('subnet'),
    name: nameProp('subnet'),
    ip_version: int('IP version of the subnet: 4 or 6. The IPv6 modes need 6.', { default: 4, allowed: [4, 6] }),
    dns_nameservers: listOfStr('DNS servers handed to hosts on the subnet.', { default: [], update_allowed: true }),
    gateway_ip: str('Address of the gateway. Omitted (or null) at create, Neutron picks the first address of the block; an empty string makes the subnet without a gateway. On update, an empty string, null or removing the property leaves the subnet without a gateway.', { update_allowed: true }),
    enable_dhcp: bool('Whether DHCP hands out addresses on the subnet.', { default: true, update_allowed: true }),
    allocation_pools: listOf('Address ranges that ports get their addresses from. Removing them on update leaves the subnet with no ranges.', {
      start: str('First address of the range.', { required: true, constraint: 'ip_addr' }),
      end: str('Last address of the range.', { required: true, constraint: 'ip_addr' }),
    }, { update_allowed: true }),
    tenant_id: tenantId,
    host_routes: listOf('Static routes handed to hosts on the subnet; removing them on update clears them.', {
      destination: str('Destination block of the route, in CIDR notation.', { required: true, constraint: 'net_cidr' }),
      nexthop: str('Address of the router that traffic for the destination goes to.', { required: true, constraint: 'ip_addr' }),
    }, { update_allowed: true }),
    ipv6_ra_mode: str('How router advertisements are sent on the subnet (IPv6 only).', { allowed: ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac'] }),
    ipv6_address_mode: str('How hosts on the subnet get their addresses (IPv6 only).', { allowed: ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac'] }),
    segment: str('ID of the network segment the subnet belongs to; can be changed or removed on update.', { update_allowed: true }),
    tags,
  },
  attributes: {
    name: attr('Subnet name.', 'string'),
    network_id: attr('ID of the network the subnet is on.', 'string'),
    tenant_id: attr('ID of the project that owns the subnet.', 'string'),
    allocation_pools: attr('Address ranges ports get their addresses from.', 'list'),
    gateway_ip: attr('Address of the gateway, or null when there is none.', 'string'),
    host_routes: attr('Static routes handed to hosts.', 'list'),
    ip_version: attr('IP version: 4 or 6.', 'string'),
    cidr: attr('Address block of the subnet, in CIDR notation.', 'string'),
    dns_nameservers: attr('DNS servers handed to hosts.', 'list'),
    enable_dhcp: attr('Whether DHCP is on for the subnet.', 'boolean'),
    show: attr('The whole object, as the service shows it.', 'map'),
  },
  async validate(p) {
    oldAndNewNames(p, [['network', 'network_id']]);
    if (!p.cidr && !p.subnetpool) throw validationFailed('At least one of the following properties must be specified: cidr, subnetpool.', 'PropertyUnspecifiedError');
    if (p.cidr && p.subnetpool) throw validationFailed('Cannot define the following properties at the same time: subnetpool, cidr.', 'ResourcePropertyConflict');
    if (p.prefixlen != null && !p.subnetpool) throw validationFailed('Property prefixlen requires subnetpool.', 'StackValidationFailed');
    if (p.ip_version !== 6 && (p.ipv6_ra_mode || p.ipv6_address_mode)) {
      throw validationFailed('ipv6_ra_mode and ipv6_address_mode are not supported for ipv4.', 'StackValidationFailed');
    }
  },
  async body(r, p) {
    return {
      network_id: await idOf(findNetwork, r, p.network),
      subnetpool_id: await idOf(findSubnetPool, r, p.subnetpool), prefixlen: p.prefixlen ?? undefined,
      cidr: p.cidr, ip_version: p.ip_version, dns_nameservers: p.dns_nameservers?.length ? p.dns_nameservers : undefined,
      gateway_ip: gateway(p.gateway_ip), enable_dhcp: p.enable_dhcp, allocation_pools: p.allocation_pools ?? undefined,
      tenant_id: p.tenant_id, host_routes: p.host_routes ?? undefined, ipv6_ra_mode: p.ipv6_ra_mode, ipv6_address_mode: p.ipv6_address_mode,
      segment_id: p.segment ?? undefined,
    };
  },
  keepNull: ['gateway_ip'],
  async updateBody(_r, c) {
    const b = changedFields(c, ['dns_nameservers', 'enable_dhcp', 'allocation_pools', 'host_routes']);
    if (c.changed.includes('gateway_ip')) b.gateway_ip = c.newProperties.gateway_ip === '' || c.newProperties.gateway_ip == null ? null : c.newProperties.gateway_ip;
    // Pools removed from the template: none left, as Heat sends it.
    if (c.changed.includes('allocation_pools')) b.allocation_pools = c.newProperties.allocation_pools ?? [];
    if (c.changed.includes('host_routes')) b.host_routes = c.newProperties.host_routes ?? [];
    if (c.changed.includes('segment')) b.segment_id = c.newProperties.segment ?? null;
    return b;
  },
});

// ------------------------------------------------------------------ OS::Neutron::Port

const fixedIps = async (r: ResourceContext, ips: any[] | null) => {
  if (!ips) return undefined;
  const out: any[] = [];
  for (const ip of ips) out.push(compact({ subnet_id: await idOf(findSubnet, r, ip.subnet ?? ip.subnet_id), ip_address: ip.ip_address }));
  return out;
};
const sgIds = async (r: ResourceContext, sgs: string[] | null) => {
  if (!sgs) return undefined;
  const out: string[] = [];
  for (const g of sgs) out.push((await resolve(findSecurityGroup, r.client, g)).id);
  return out;
};

export const port = plugin({
  type: 'OS::Neutron::Port',
  description: 'A Neutron port: a point of attachment to a network, with a MAC address and fixed IPs, that a server or router plugs into.',
  kind: { collection: 'ports', key: 'port' },
  properties: {
    network_id: str('Old name of network.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property network.' }, constraint: 'neutron.network', replaced_by: 'network' }),
    network: str('Name or ID of the network to make the port on; a different network on update replaces the port.', { required: true, constraint: 'neutron.network' }),
    name: nameProp('port'),
    value_specs: valueSpecs('port'),
    admin_state_up: bool('Whether the port is administratively up.', { default: true, update_allowed: true }),
    fixed_ips: listOf('Addresses for the port, each by subnet, address or both; omitted, Neutron picks them. On update the list replaces the addresses; removing it keeps the current ones.', {
      subnet_id: str('Old name of subnet.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property subnet.' }, constraint: 'neutron.subnet', replaced_by: 'subnet' }),
      subnet: str('Name or ID of the subnet to take the address from.', { constraint: 'neutron.subnet' }),
      ip_address: str('The address wanted; Neutron picks one when omitted.', { constraint: 'ip_addr' }),
    }, { update_allowed: true }),
    mac_address: str('MAC address for the port; Neutron makes one up when omitted. Changing it is for admins only by default.', { constraint: 'mac_addr', update_allowed: true }),
    device_id: str('ID of the device (e.g. a server) that uses the port.', { update_allowed: true }),
    device_owner: str('Kind of device that uses the port, such as compute:nova or network:router_interface.', { update_allowed: true }),
    security_groups: listOfStr("Names or IDs of the port's security groups; omitted at create, the project's default group applies. On update the list replaces the groups (removing it leaves none).", { update_allowed: true }),
    allowed_address_pairs: listOf("MAC/IP pairs the port may also send from besides its own (e.g. a shared virtual IP).", {
      mac_address: str("MAC address of the pair; the port's own when omitted.", { constraint: 'mac_addr' }),
      ip_address: str('Address block of the pair, in CIDR notation.', { required: true, constraint: 'net_cidr' }),
    }, { update_allowed: true }),
    'binding:vnic_type': str('Kind of NIC the port is bound as on the host: normal is a virtual NIC; direct, macvtap and the others are for SR-IOV and hardware offload.', { default: 'normal', update_allowed: true, allowed: ['normal', 'direct', 'macvtap', 'direct-physical', 'baremetal', 'virtio-forwarder', 'smart-nic'] }),
    port_security_enabled: bool("Whether port security is on; when off, neither security groups nor address checks filter the port's traffic. Omitted, the network's setting applies.", { update_allowed: true }),
    qos_policy: str('Name or ID of a QoS policy for the port; removing it on update detaches the policy.', { update_allowed: true, constraint: 'neutron.qos_policy' }),
    dns_name: str('Host name of the port in DNS.', { update_allowed: true }),
    no_fixed_ips: bool('When true the port gets no fixed IPs at all; not together with fixed_ips.', { default: false, update_allowed: true }),
    tags,
  },
  attributes: {
    admin_state_up: attr('Whether the port is administratively up.', 'string'),
    device_id: attr('ID of the device that uses the port.', 'string'),
    device_owner: attr('Kind of device that uses the port.', 'string'),
    fixed_ips: attr('Fixed IPs of the port: subnet ID and address of each.', 'list'),
    mac_address: attr("The port's MAC address.", 'string'),
    name: attr('Port name.', 'string'),
    network_id: attr("ID of the port's network.", 'string'),
    security_groups: attr("IDs of the port's security groups.", 'list'),
    status: attr('Current status of the port, e.g. ACTIVE or DOWN.', 'string'),
    tenant_id: attr('ID of the project that owns the port.', 'string'),
    allowed_address_pairs: attr('MAC/IP pairs the port may also send from.', 'list'),
    subnets: attr("The subnets of the port's fixed IPs, each as Neutron shows it.", 'list'),
    port_security_enabled: attr('Whether port security is on for the port.', 'boolean'),
    qos_policy_id: attr('ID of the QoS policy on the port, or null.', 'string'),
    dns_assignment: attr('Host names and addresses DNS gives the port.', 'map'),
    network: attr("The port's network as Neutron shows it (the same fields as OS::Neutron::Net's show).", 'map'),
    show: attr('The whole object, as the service shows it.', 'map'),
  },
  async validate(p) {
    oldAndNewNames(p, [['network', 'network_id']]);
    for (const ip of p.fixed_ips ?? []) oldAndNewNames(ip ?? {}, [['subnet', 'subnet_id']], 'fixed_ips.');
    if (p.no_fixed_ips && p.fixed_ips?.length) throw validationFailed('Cannot define the following properties at the same time: fixed_ips, no_fixed_ips.', 'ResourcePropertyConflict');
  },
  async body(r, p) {
    return {
      network_id: await idOf(findNetwork, r, p.network),
      admin_state_up: p.admin_state_up, fixed_ips: p.no_fixed_ips ? [] : await fixedIps(r, p.fixed_ips),
      mac_address: p.mac_address, device_id: p.device_id, device_owner: p.device_owner,
      security_groups: await sgIds(r, p.security_groups),
      allowed_address_pairs: p.allowed_address_pairs?.map((x: any) => compact(x)),
      'binding:vnic_type': p['binding:vnic_type'] === 'normal' ? undefined : p['binding:vnic_type'],
      port_security_enabled: p.port_security_enabled, qos_policy_id: await idOf(findQosPolicy, r, p.qos_policy), dns_name: p.dns_name,
    };
  },
  async updateBody(r, c) {
    const n = c.newProperties;
    const b = changedFields(c, ['admin_state_up', 'mac_address', 'device_id', 'device_owner', 'binding:vnic_type', 'port_security_enabled', 'dns_name']);
    if (c.changed.includes('fixed_ips') || c.changed.includes('no_fixed_ips')) {
      if (n.no_fixed_ips) b.fixed_ips = [];
      else if (n.fixed_ips) b.fixed_ips = await fixedIps(r, n.fixed_ips);
    }
    if (c.changed.includes('security_groups')) b.security_groups = (await sgIds(r, n.security_groups)) ?? [];
    if (c.changed.includes('allowed_address_pairs')) b.allowed_address_pairs = (n.allowed_address_pairs ?? []).map((x: any) => compact(x));
    if (c.changed.includes('qos_policy')) b.qos_policy_id = (await idOf(findQosPolicy, r, n.qos_policy)) ?? null;
    return b;
  },
  rename: {
    subnets: async (o: any, r: ResourceContext) => {
      const out = [];
      for (const f of o.fixed_ips ?? []) { const s = await r.client.find('network', `/subnets/${f.subnet_id}`); if (s) out.push(s.subnet); }
      return out;
    },
    network: async (o: any, r: ResourceContext) => (await r.client.find('network', `/networks/${o.network_id}`))?.network ?? null,
  },
});
// A port moved to another network is another port (properties stored before the old name was
// translated may still carry network_id).
port.needsReplace = (c) => c.changed.includes('network') || c.changed.includes('network_id');

// ------------------------------------------------------------------ OS::Neutron::Router

async function gatewayInfo(r: ResourceContext, g: any | null): Promise<any> {
  if (!g) return undefined;
  const ips = g.external_fixed_ips ? await Promise.all(g.external_fixed_ips.map(async (x: any) =>
    compact({ ip_address: x.ip_address, subnet_id: await idOf(findSubnet, r, x.subnet) }))) : undefined;
  return compact({ network_id: await idOf(findNetwork, r, g.network), enable_snat: g.enable_snat ?? undefined, external_fixed_ips: ips });
}

export const router = plugin({
  type: 'OS::Neutron::Router',
  description: 'A Neutron router: forwards traffic between the subnets plugged into it and, through its gateway, to an external network.',
  kind: { collection: 'routers', key: 'router' },
  properties: {
    name: nameProp('router'),
    external_gateway_info: map('The gateway to an external network; removing it on update clears the gateway.', {
      update_allowed: true,
      schema: {
        network: str('Name or ID of the external network.', { required: true, update_allowed: true, constraint: 'neutron.network' }),
        enable_snat: bool('Whether traffic leaving through the gateway gets the gateway address as its source (SNAT). Admin only by default.', { update_allowed: true }),
        external_fixed_ips: listOf('Particular addresses for the gateway on the external network.', {
          ip_address: str('An address for the gateway.', { constraint: 'ip_addr' }),
          subnet: str('Name or ID of the external subnet to take the address from.', { constraint: 'neutron.subnet' }),
        }, { update_allowed: true }),
      },
    }),
    value_specs: valueSpecs('router'),
    admin_state_up: bool('Whether the router is administratively up.', { default: true, update_allowed: true }),
    l3_agent_ids: listOfStr('L3 agents to host the router (an admin setting). Accepted for compatibility; the plugin does not schedule agents, so the value is not used.', { update_allowed: true }),
    distributed: bool('Whether to make a distributed router. Admin only by default; not together with ha.'),
    ha: bool('Whether to make a highly available router. Admin only by default; not together with distributed.'),
    tags,
  },
  attributes: {
    status: attr('Current status of the router.', 'string'),
    external_gateway_info: attr("The router's gateway: external network, SNAT setting and addresses.", 'map'),
    name: attr('Router name.', 'string'),
    admin_state_up: attr('Whether the router is administratively up.', 'string'),
    tenant_id: attr('ID of the project that owns the router.', 'string'),
    show: attr('The whole object, as the service shows it.', 'map'),
  },
  async validate(p) {
    if (p.distributed && p.ha) throw validationFailed('Cannot define the following properties at the same time: distributed, ha.', 'ResourcePropertyConflict');
  },
  async body(r, p) {
    return { external_gateway_info: await gatewayInfo(r, p.external_gateway_info), admin_state_up: p.admin_state_up, distributed: p.distributed ?? undefined, ha: p.ha ?? undefined };
  },
  async updateBody(r, c) {
    const b = changedFields(c, ['admin_state_up']);
    if (c.changed.includes('external_gateway_info')) b.external_gateway_info = (await gatewayInfo(r, c.newProperties.external_gateway_info)) ?? {};
    return b;
  },
});
const routerDelete = router.handleDelete;
// Interfaces a template forgot (or an interrupted RouterInterface delete) would block the delete;
// Heat leaves those to the RouterInterface resources, so only the gateway is cleared here.
router.handleDelete = async (r) => {
  if (!r.physicalId) return;
  await ignoreNotFound(r.client.request('network', 'PUT', `/routers/${r.physicalId}`, { router: { external_gateway_info: {} } }));
  await routerDelete(r);
};

// ------------------------------------------------------------------ OS::Neutron::RouterInterface

/** 'router_id:subnet=<id>' or 'router_id:port=<id>', as Heat keys it. */
function parseInterfaceId(id: string): { router: string; subnet?: string; port?: string } {
  const [router, rest = ''] = id.split(':');
  const [kind, value] = rest.split('=');
  return kind === 'port' ? { router, port: value } : { router, subnet: value };
}

export const routerInterface: ResourcePlugin = {
  type: 'OS::Neutron::RouterInterface',
  description: 'Plugs a subnet or an existing port into a router. The resource ID is <router id>:subnet=<subnet id> or <router id>:port=<port id>.',
  properties: {
    router: str('Name or ID of the router.', { required: true, constraint: 'neutron.router' }),
    router_id: str('Old name of router.', { support_status: { status: 'HIDDEN', version: '6.0.0', message: 'Use property router.' }, constraint: 'neutron.router', replaced_by: 'router' }),
    subnet_id: str('Old name of subnet.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property subnet.' }, constraint: 'neutron.subnet', replaced_by: 'subnet' }),
    subnet: str('Name or ID of the subnet to plug into the router; give exactly one of subnet and port.', { constraint: 'neutron.subnet' }),
    port_id: str('Old name of port.', { support_status: { status: 'HIDDEN', version: '6.0.0', message: 'Use property port.' }, constraint: 'neutron.port', replaced_by: 'port' }),
    port: str('Name or ID of the port to plug into the router; give exactly one of subnet and port.', { constraint: 'neutron.port' }),
  },
  attributes: {},
  async validate(p) {
    oldAndNewNames(p, [['router', 'router_id'], ['subnet', 'subnet_id'], ['port', 'port_id']]);
    const subnet = p.subnet, portRef = p.port;
    if (subnet && portRef) throw validationFailed('Cannot define the following properties at the same time: subnet, port.', 'ResourcePropertyConflict');
    if (!subnet && !portRef) throw validationFailed('At least one of the following properties must be specified: subnet, port.', 'PropertyUnspecifiedError');
  },
  async handleCreate(r) {
    const p = r.properties;
    const routerId = (await resolve(findRouter, r.client, p.router)).id;
    const subnetRef = p.subnet, portRef = p.port;
    if (subnetRef) {
      const subnetId = (await resolve(findSubnet, r.client, subnetRef)).id;
      // Already plugged (a retry after the call went through): adopt.
      const ports = (await call(r, 'network', 'GET', `/ports?device_id=${routerId}`)).ports as any[];
      if (!ports.some((x) => (x.fixed_ips ?? []).some((f: any) => f.subnet_id === subnetId))) {
        await call(r, 'network', 'PUT', `/routers/${routerId}/add_router_interface`, { subnet_id: subnetId });
      }
      await r.setPhysicalId(`${routerId}:subnet=${subnetId}`);
    } else {
      const portObj = await resolve(findPort, r.client, portRef);
      if (portObj.device_id !== routerId) await call(r, 'network', 'PUT', `/routers/${routerId}/add_router_interface`, { port_id: portObj.id });
      await r.setPhysicalId(`${routerId}:port=${portObj.id}`);
    }
  },
  async handleDelete(r) {
    if (!r.physicalId) return;
    const { router: routerId, subnet: s, port: pt } = parseInterfaceId(r.physicalId);
    try {
      await r.client.request('network', 'PUT', `/routers/${routerId}/remove_router_interface`, s ? { subnet_id: s } : { port_id: pt });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  },
  async resolveAttribute() { return null; },
};

// ------------------------------------------------------------------ OS::Neutron::FloatingIP

const fipKind = { collection: 'floatingips', key: 'floatingip' };

export const floatingIp: ResourcePlugin = {
  type: 'OS::Neutron::FloatingIP',
  description: "A Neutron floating IP: an address on an external network that can be mapped to a port's fixed IP.",
  properties: {
    floating_network_id: str('Old name of floating_network.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property floating_network.' }, constraint: 'neutron.network', replaced_by: 'floating_network' }),
    floating_network: str('Name or ID of the external network to take the address from.', { required: true, constraint: 'neutron.network' }),
    floating_subnet: str('Name or ID of a subnet of that network to take the address from.', { constraint: 'neutron.subnet' }),
    value_specs: map('Extra floating IP fields sent to Neutron as given in the create request.', { default: {} }),
    port_id: str('Name or ID of a port (with a fixed IP) to map the address to. On update the address moves to the new port, or is unmapped when removed.', { update_allowed: true, constraint: 'neutron.port' }),
    fixed_ip_address: str('Which fixed IP of the port to map to, when it has several.', { update_allowed: true, constraint: 'ip_addr' }),
    floating_ip_address: str('A particular address to take. Admin only by default.', { constraint: 'ip_addr' }),
    dns_name: str('Host name of the floating IP in DNS.'),
    dns_domain: str('DNS domain for the floating IP.'),
  },
  attributes: {
    router_id: attr('ID of the router that forwards the address, once it is mapped to a port.', 'string'),
    tenant_id: attr('ID of the project that owns the floating IP.', 'string'),
    floating_network_id: attr('ID of the external network the address is from.', 'string'),
    fixed_ip_address: attr('Fixed IP the address is mapped to, or null.', 'string'),
    floating_ip_address: attr('The address taken.', 'string'),
    port_id: attr('ID of the port the address is mapped to, or null.', 'string'),
    show: attr('The whole object, as the service shows it.', 'map'),
  },
  async validate(p) { oldAndNewNames(p, [['floating_network', 'floating_network_id']]); },
  async handleCreate(r) {
    const p = r.properties;
    const body = compact({
      floating_network_id: await idOf(findNetwork, r, p.floating_network),
      subnet_id: await idOf(findSubnet, r, p.floating_subnet), port_id: await idOf(findPort, r, p.port_id),
      fixed_ip_address: p.fixed_ip_address, floating_ip_address: p.floating_ip_address, dns_name: p.dns_name, dns_domain: p.dns_domain,
      ...(p.value_specs ?? {}),
    });
    const o = (await call(r, 'network', 'POST', '/floatingips', { floatingip: body })).floatingip;
    await r.setPhysicalId(o.id);
  },
  async handleUpdate(r, c) {
    const n = c.newProperties;
    await call(r, 'network', 'PUT', `/floatingips/${r.physicalId}`, {
      floatingip: { port_id: (await idOf(findPort, r, n.port_id)) ?? null, ...(n.port_id && n.fixed_ip_address ? { fixed_ip_address: n.fixed_ip_address } : {}) },
    });
  },
  async handleDelete(r) { await deleteOf(r, fipKind); },
  resolveAttribute: fieldAttrs(fipKind),
  async show(r) { return shown(r, fipKind); },
};

// ------------------------------------------------------------------ OS::Neutron::FloatingIPAssociation

export const floatingIpAssociation: ResourcePlugin = {
  type: 'OS::Neutron::FloatingIPAssociation',
  description: 'Maps an existing floating IP to a port; deleting the resource unmaps it.',
  properties: {
    floatingip_id: str('ID of the floating IP; when it changes on update, the old one is unmapped first.', { required: true, update_allowed: true }),
    port_id: str('Name or ID of the port (with a fixed IP) to map it to.', { required: true, update_allowed: true, constraint: 'neutron.port' }),
    fixed_ip_address: str('Which fixed IP of the port to map to, when it has several.', { update_allowed: true, constraint: 'ip_addr' }),
  },
  attributes: {},
  async handleCreate(r) {
    const p = r.properties;
    const portId = (await resolve(findPort, r.client, p.port_id)).id;
    await call(r, 'network', 'PUT', `/floatingips/${p.floatingip_id}`, { floatingip: compact({ port_id: portId, fixed_ip_address: p.fixed_ip_address }) });
    await r.setPhysicalId(r.uuid);
  },
  async handleUpdate(r, c) {
    const o = c.oldProperties, n = c.newProperties;
    if (o.floatingip_id !== n.floatingip_id) {
      await ignoreNotFound(r.client.request('network', 'PUT', `/floatingips/${o.floatingip_id}`, { floatingip: { port_id: null } }));
    }
    const portId = (await resolve(findPort, r.client, n.port_id)).id;
    await call(r, 'network', 'PUT', `/floatingips/${n.floatingip_id}`, { floatingip: compact({ port_id: portId, fixed_ip_address: n.fixed_ip_address }) });
  },
  async handleDelete(r) {
    if (!r.physicalId) return;
    await ignoreNotFound(r.client.request('network', 'PUT', `/floatingips/${r.properties.floatingip_id}`, { floatingip: { port_id: null } }));
  },
  async resolveAttribute() { return null; },
};

// ------------------------------------------------------------------ OS::Neutron::SecurityGroup

// Rule fields shared by SecurityGroup's rules and SecurityGroupRule.
const DIRECTION = 'ingress matches traffic arriving at the ports of the group, egress traffic leaving them.';
const ETHERTYPE = 'IP version the rule matches.';
const PORT_MIN = 'Lowest port the rule matches (TCP, UDP and the like; no more than port_range_max); for ICMP, the ICMP type.';
const PORT_MAX = 'Highest port the rule matches; for ICMP, the ICMP code.';
const PROTOCOL = 'IP protocol the rule matches, by name (tcp, udp, icmp, ...) or by number 0-255; omitted, every protocol.';

const ruleSchema = {
  direction: str(DIRECTION, { default: 'ingress', allowed: ['ingress', 'egress'] }),
  ethertype: str(ETHERTYPE, { default: 'IPv4', allowed: ['IPv4', 'IPv6'] }),
  port_range_min: int(PORT_MIN, { constraints: [{ range: { min: 0, max: 65535 } }] }),
  port_range_max: int(PORT_MAX, { constraints: [{ range: { min: 0, max: 65535 } }] }),
  protocol: str(PROTOCOL),
  remote_mode: str('Whether the other end of the traffic is given by remote_ip_prefix or by remote_group_id.', { default: 'remote_ip_prefix', allowed: ['remote_ip_prefix', 'remote_group_id'] }),
  remote_group_id: str('With remote_mode remote_group_id: ID of the group whose members the rule matches; omitted, this group itself.', { constraint: 'neutron.security_group' }),
  remote_ip_prefix: str('With remote_mode remote_ip_prefix: the address block (CIDR) the rule matches; omitted, any address.', { constraint: 'net_cidr' }),
};

function ruleBody(sgId: string, rule: any): Record<string, unknown> {
  const remote = (rule.remote_mode ?? 'remote_ip_prefix') === 'remote_group_id'
    ? { remote_group_id: rule.remote_group_id ?? sgId } : { remote_ip_prefix: rule.remote_ip_prefix ?? undefined };
  return compact({
    security_group_id: sgId, direction: rule.direction ?? 'ingress', ethertype: rule.ethertype ?? 'IPv4',
    port_range_min: rule.port_range_min, port_range_max: rule.port_range_max, protocol: rule.protocol, ...remote,
  });
}

/** Makes the group's rules what the template says: Heat drops Neutron's default egress rules when it gives rules of its own. */
async function syncRules(r: ResourceContext, sgId: string, rules: any[]) {
  const sg = (await call(r, 'network', 'GET', `/security-groups/${sgId}`)).security_group;
  const want = rules.map((x) => ruleBody(sgId, x));
  const key = (x: any) => JSON.stringify([x.direction, x.ethertype, x.port_range_min ?? null, x.port_range_max ?? null, x.protocol ?? null,
    x.remote_group_id ?? null, x.remote_ip_prefix ?? null]);
  const wantKeys = want.map(key);
  const haveKeys = (sg.security_group_rules ?? []).map(key);
  for (const rule of sg.security_group_rules ?? []) {
    if (!wantKeys.includes(key(rule))) await ignoreNotFound(r.client.request('network', 'DELETE', `/security-group-rules/${rule.id}`));
  }
  for (const [i, w] of want.entries()) {
    if (haveKeys.includes(wantKeys[i])) continue;
    await call(r, 'network', 'POST', '/security-group-rules', { security_group_rule: w });
  }
}

const sgKind = { collection: 'security-groups', key: 'security_group' };

export const securityGroup: ResourcePlugin = {
  type: 'OS::Neutron::SecurityGroup',
  description: 'A Neutron security group: rules for the traffic allowed to and from the ports in the group.',
  properties: {
    name: str("Name of the group (names need not be unique, but 'default' is taken). Without one the group gets the resource's physical name.", { update_allowed: true }),
    description: str('Description of the group.', { update_allowed: true }),
    rules: listOf("The group's rules. Given rules are the only ones: Neutron's default egress rules are removed. With none, the default egress rules stay. On update the group's rules are made to match the list.", ruleSchema, { default: [], update_allowed: true }),
  },
  attributes: { show: attr('The whole object, as the service shows it.', 'map') },
  async validate(p) {
    if (p.name === 'default') throw validationFailed('Security groups cannot be assigned the name "default".', 'StackValidationFailed');
  },
  async handleCreate(r) {
    const p = r.properties;
    let id = await byPhysicalName(r, sgKind);
    if (!id) {
      id = (await call(r, 'network', 'POST', '/security-groups', { security_group: compact({ name: p.name ?? r.physicalName(), description: p.description ?? '' }) })).security_group.id as string;
    }
    await r.setPhysicalId(id);
    if (p.rules?.length) await syncRules(r, id, p.rules);
  },
  findInterrupted: (r) => byPhysicalName(r, sgKind),
  async handleUpdate(r, c) {
    const n = c.newProperties;
    const body = compact({ name: c.changed.includes('name') ? n.name ?? r.physicalName() : undefined, description: c.changed.includes('description') ? n.description ?? '' : undefined });
    if (Object.keys(body).length) await call(r, 'network', 'PUT', `/security-groups/${r.physicalId}`, { security_group: body });
    if (c.changed.includes('rules')) {
      // No rules given means Neutron's defaults (egress to anywhere), as at create.
      const rules = n.rules?.length ? n.rules : [{ direction: 'egress', ethertype: 'IPv4' }, { direction: 'egress', ethertype: 'IPv6' }];
      await syncRules(r, r.physicalId!, rules);
    }
  },
  async handleDelete(r) {
    if (!r.physicalId) return;
    try { await r.client.request('network', 'DELETE', `/security-groups/${r.physicalId}`); } catch (e) {
      if (isNotFound(e)) return;
      throw heatError(409, 'Conflict', `Security group ${r.physicalId} in use: ${(e as Error).message}`);
    }
  },
  resolveAttribute: fieldAttrs(sgKind),
  async show(r) { return shown(r, sgKind); },
};

// ------------------------------------------------------------------ OS::Neutron::SecurityGroupRule

const sgrKind = { collection: 'security-group-rules', key: 'security_group_rule' };

export const securityGroupRule: ResourcePlugin = {
  type: 'OS::Neutron::SecurityGroupRule',
  description: 'One rule added to an existing Neutron security group.',
  properties: {
    security_group: str('Name or ID of the group to add the rule to.', { required: true, constraint: 'neutron.security_group' }),
    description: str('Description of the rule.'),
    remote_group: str('Name or ID of a group whose members the rule matches; not together with remote_ip_prefix.', { constraint: 'neutron.security_group' }),
    remote_ip_prefix: str('The address block (CIDR) the rule matches; not together with remote_group. Omitted, any address.', { constraint: 'net_cidr' }),
    direction: str(DIRECTION, { default: 'ingress', allowed: ['ingress', 'egress'] }),
    ethertype: str(ETHERTYPE, { default: 'IPv4', allowed: ['IPv4', 'IPv6'] }),
    port_range_min: int(PORT_MIN, { constraints: [{ range: { min: 0, max: 65535 } }] }),
    port_range_max: int(PORT_MAX, { constraints: [{ range: { min: 0, max: 65535 } }] }),
    protocol: str(PROTOCOL),
  },
  attributes: { show: attr('The whole object, as the service shows it.', 'map') },
  async validate(p) {
    if (p.remote_group && p.remote_ip_prefix) throw validationFailed('Cannot define the following properties at the same time: remote_group, remote_ip_prefix.', 'ResourcePropertyConflict');
    if (p.port_range_min != null && p.port_range_max != null && p.port_range_min > p.port_range_max && ['tcp', 'udp', '6', '17'].includes(String(p.protocol))) {
      throw validationFailed('The minimum port range must be less than or equal to the maximum port range.', 'StackValidationFailed');
    }
  },
  async handleCreate(r) {
    const p = r.properties;
    const sg = (await resolve(findSecurityGroup, r.client, p.security_group)).id;
    const body = compact({
      security_group_id: sg, description: p.description, direction: p.direction, ethertype: p.ethertype,
      port_range_min: p.port_range_min, port_range_max: p.port_range_max, protocol: p.protocol,
      remote_group_id: p.remote_group ? (await resolve(findSecurityGroup, r.client, p.remote_group)).id : undefined, remote_ip_prefix: p.remote_ip_prefix,
    });
    try {
      await r.setPhysicalId((await r.client.request('network', 'POST', '/security-group-rules', { security_group_rule: body })).body.security_group_rule.id);
    } catch (e: any) {
      // The same rule exists (a retry after the first call went through): adopt it.
      const id = e?.status === 409 ? String(e.body?.NeutronError?.message ?? '').match(/[0-9a-f-]{36}/)?.[0] : undefined;
      if (id) { await r.setPhysicalId(id); return; }
      await call(r, 'network', 'POST', '/security-group-rules', { security_group_rule: body });
    }
  },
  async handleDelete(r) { await deleteOf(r, sgrKind); },
  resolveAttribute: fieldAttrs(sgrKind),
  async show(r) { return shown(r, sgrKind); },
};

export const NEUTRON_PLUGINS: ResourcePlugin[] = [net, subnet, port, router, routerInterface, floatingIp, floatingIpAssociation, securityGroup, securityGroupRule];

