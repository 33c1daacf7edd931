// Neutron resources: OS::Neutron::Net, ::Subnet, ::Port, ::Router, ::RouterInterface,
// ::FloatingIP, ::FloatingIPAssociation, ::SecurityGroup and ::SecurityGroupRule. Named objects
// default to the resource's physical name, so an interrupted create is found by name, not leaked.
import { heatError, validationFailed, type PropertySchema, type ResourceContext, type ResourcePlugin, type UpdateChange } from '../../types.ts';
import {
  attr, bool, call, compact, findNetwork, findPort, findQosPolicy, findRouter, findSecurityGroup, findSubnet, findSubnetPool, findProject,
  ignoreNotFound, int, isNotFound, list, listOf, listOfStr, map, resolve, str,
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

const nameProp = (what: string) => str(`A string specifying a symbolic name for the ${what}, which is not required to be unique.`, { update_allowed: true });
const valueSpecs = (what: string) => map(`Extra parameters to include in the request. Parameters are often specific to installed hardware or extensions.`, { default: {}, update_allowed: true, description: `Extra parameters to include in the ${what} request.` });
const tags = listOfStr('The tags to be added to the object.', { update_allowed: true });
const tenantId = str('The ID of the tenant which will own the object. Only administrative users can set the tenant identifier; this cannot be changed using authorization policies.');

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
      const body = { ...(named ? { name: props.name ?? r.physicalName() } : {}), ...(await def.body(r, props)), ...(props.value_specs ?? {}) };
      const o = (await call(r, 'network', 'POST', `/${k.collection}`, { [k.key]: compact(body) }))[k.key];
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
  description: 'A resource for managing Neutron net. A network is a virtual isolated layer-2 broadcast domain which is typically reserved to the tenant who created it, unless the network has been explicitly configured to be shared.',
  kind: { collection: 'networks', key: 'network' },
  properties: {
    name: nameProp('network'),
    value_specs: valueSpecs('network'),
    admin_state_up: bool('A boolean value specifying the administrative status of the network.', { default: true, update_allowed: true }),
    tenant_id: tenantId,
    shared: bool('Whether this network should be shared across all tenants. Note that the default policy setting restricts usage of this attribute to administrative users only.', { default: false, update_allowed: true }),
    dhcp_agent_ids: listOfStr('The IDs of the DHCP agent to schedule the network. Note that the default policy setting in Neutron restricts usage of this property to administrative users only.', { update_allowed: true }),
    port_security_enabled: bool('Flag to enable/disable port security on the network. It provides the default value for the attribute of the ports created on this network.', { update_allowed: true }),
    qos_policy: str('The name or ID of QoS policy to attach to this network.', { update_allowed: true, constraint: 'neutron.qos_policy' }),
    dns_domain: str('DNS domain associated with this network.', { update_allowed: true }),
    availability_zone_hints: listOfStr('Availability zone candidates for the network. It requires the availability_zone extension to be available.'),
    tags,
  },
  attributes: {
    status: attr('The status of the network.', 'string'),
    name: attr('The name of the network.', 'string'),
    subnets: attr('Subnets of this network.', 'list'),
    admin_state_up: attr('The administrative status of the network.', 'string'),
    tenant_id: attr('The tenant owning this network.', 'string'),
    port_security_enabled: attr('Port security enabled of the network.', 'boolean'),
    mtu: attr('The maximum transmission unit size(in bytes) for the network.', 'integer'),
    qos_policy_id: attr('The QoS policy ID attached to this network.', 'string'),
    l2_adjacency: attr('A boolean value for L2 adjacency, True means that you can expect L2 connectivity throughout the Network.', 'boolean'),
    segments: attr('The segments of this network.', 'list'),
    show: attr('Detailed information about resource.', 'map'),
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

const gateway = (v: unknown) => (v === '' ? null : v ?? undefined);

export const subnet = plugin({
  type: 'OS::Neutron::Subnet',
  description: 'A resource for managing Neutron subnets. A subnet represents an IP address block that can be used for assigning IP addresses to virtual instances.',
  kind: { collection: 'subnets', key: 'subnet' },
  properties: {
    network_id: str('ID of the network.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property network.' }, constraint: 'neutron.network' }),
    network: str('The ID of the attached network.', { required: true, constraint: 'neutron.network' }),
    subnetpool: str('The name or ID of the subnet pool.', { constraint: 'neutron.subnetpool' }),
    prefixlen: int('Prefix length for subnet allocation from subnet pool.', { constraints: [{ range: { min: 0 } }] }),
    cidr: str('The CIDR.', { constraint: 'net_cidr' }),
    value_specs: valueSpecs('subnet'),
    name: nameProp('subnet'),
    ip_version: int('The IP version, which is 4 or 6.', { default: 4, allowed: [4, 6] }),
    dns_nameservers: listOfStr('A specified set of DNS name servers to be used.', { default: [], update_allowed: true }),
    gateway_ip: str('The gateway IP address. Set to any of [ null | ~ | "" ] to create/update a subnet without a gateway. If omitted when creation, neutron will assign the first free IP address within the subnet to the gateway automatically. If remove this from template when update, the old gateway IP address will be detached.', { update_allowed: true }),
    enable_dhcp: bool('Set to true if DHCP is enabled and false if DHCP is disabled.', { default: true, update_allowed: true }),
    allocation_pools: listOf('The start and end addresses for the allocation pools.', {
      start: str('Start address for the allocation pool.', { required: true, constraint: 'ip_addr' }),
      end: str('End address for the allocation pool.', { required: true, constraint: 'ip_addr' }),
    }, { update_allowed: true }),
    tenant_id: tenantId,
    host_routes: listOf('A list of host route dictionaries for the subnet.', {
      destination: str('The destination for static route.', { required: true, constraint: 'net_cidr' }),
      nexthop: str('The next hop for the destination.', { required: true, constraint: 'ip_addr' }),
    }, { update_allowed: true }),
    ipv6_ra_mode: str('IPv6 RA (Router Advertisement) mode.', { allowed: ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac'] }),
    ipv6_address_mode: str('IPv6 address mode.', { allowed: ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac'] }),
    segment: str('The name/ID of the segment to associate.', { update_allowed: true }),
    tags,
  },
  attributes: {
    name: attr('Friendly name of the subnet.', 'string'),
    network_id: attr('Parent network of the subnet.', 'string'),
    tenant_id: attr('Tenant owning the subnet.', 'string'),
    allocation_pools: attr('Ip allocation pools and their ranges.', 'list'),
    gateway_ip: attr('Ip of the subnet\'s gateway.', 'string'),
    host_routes: attr('Additional routes for this subnet.', 'list'),
    ip_version: attr('Ip version for the subnet.', 'string'),
    cidr: attr('CIDR block notation for this subnet.', 'string'),
    dns_nameservers: attr('List of dns nameservers.', 'list'),
    enable_dhcp: attr('\'true\' if DHCP is enabled for this subnet; \'false\' otherwise.', 'boolean'),
    show: attr('Detailed information about resource.', 'map'),
  },
  async validate(p) {
    if (p.network && p.network_id) throw validationFailed('Cannot define the following properties at the same time: network, network_id.', 'ResourcePropertyConflict');
    if (!p.cidr && !p.subnetpool) throw validationFailed('At least one of the following properties must be specified: cidr, subnetpool.', 'PropertyUnspecifiedError');
    if (p.cidr && p.subnetpool) throw validationFailed('Cannot define the following properties at the same time: subnetpool, cidr.', 'ResourcePropertyConflict');
    if (p.prefixlen != null && !p.subnetpool) throw validationFailed('Property prefixlen requires subnetpool.', 'StackValidationFailed');
    if (p.ip_version !== 6 && (p.ipv6_ra_mode || p.ipv6_address_mode)) {
      throw validationFailed('ipv6_ra_mode and ipv6_address_mode are not supported for ipv4.', 'StackValidationFailed');
    }
  },
  async body(r, p) {
    return {
      network_id: await idOf(findNetwork, r, p.network ?? p.network_id),
      subnetpool_id: await idOf(findSubnetPool, r, p.subnetpool), prefixlen: p.prefixlen ?? undefined,
      cidr: p.cidr, ip_version: p.ip_version, dns_nameservers: p.dns_nameservers?.length ? p.dns_nameservers : undefined,
      gateway_ip: gateway(p.gateway_ip), enable_dhcp: p.enable_dhcp, allocation_pools: p.allocation_pools ?? undefined,
      tenant_id: p.tenant_id, host_routes: p.host_routes ?? undefined, ipv6_ra_mode: p.ipv6_ra_mode, ipv6_address_mode: p.ipv6_address_mode,
      segment_id: p.segment ?? undefined,
    };
  },
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
  description: 'A resource for managing Neutron ports. A port represents a virtual switch port on a logical network switch.',
  kind: { collection: 'ports', key: 'port' },
  properties: {
    network_id: str('ID of network to create a port on.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property network.' }, constraint: 'neutron.network' }),
    network: str('Network this port belongs to. If you plan to use current port to assign Floating IP, you should specify fixed_ips with subnet. Note if this changes to a different network update, the port will be replaced.', { required: true, constraint: 'neutron.network' }),
    name: nameProp('port'),
    value_specs: valueSpecs('port'),
    admin_state_up: bool('The administrative state of this port.', { default: true, update_allowed: true }),
    fixed_ips: listOf('Desired IPs for this port.', {
      subnet_id: str('Subnet in which to allocate the IP address for this port.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property subnet.' }, constraint: 'neutron.subnet' }),
      subnet: str('Subnet in which to allocate the IP address for this port.', { constraint: 'neutron.subnet' }),
      ip_address: str('IP address desired in the subnet for this port.', { constraint: 'ip_addr' }),
    }, { update_allowed: true }),
    mac_address: str('MAC address to give to this port. The default update policy of this property in neutron is that allow admin role only.', { constraint: 'mac_addr', update_allowed: true }),
    device_id: str('Device ID of this port.', { update_allowed: true }),
    device_owner: str('Name of the network owning the port. The value is typically network:floatingip or network:router_interface or network:dhcp.', { update_allowed: true }),
    security_groups: listOfStr('Security group IDs to associate with this port.', { update_allowed: true }),
    allowed_address_pairs: listOf('Additional MAC/IP address pairs allowed to pass through the port.', {
      mac_address: str('MAC address to allow through this port.', { constraint: 'mac_addr' }),
      ip_address: str('IP address to allow through this port.', { required: true, constraint: 'net_cidr' }),
    }, { update_allowed: true }),
    'binding:vnic_type': str('The vnic type to be bound on the neutron port. To support SR-IOV PCI passthrough networking, you can request that the neutron port to be realized as normal (virtual nic), direct (pci passthrough), or macvtap (virtual interface with a tap-like software interface). Note that this only works for Neutron deployments that support the bindings extension.', { default: 'normal', update_allowed: true, allowed: ['normal', 'direct', 'macvtap', 'direct-physical', 'baremetal', 'virtio-forwarder', 'smart-nic'] }),
    port_security_enabled: bool('Flag to enable/disable port security on the port. When disable this feature(set it to False), there will be no packages filtering, like security-group and address-pairs.', { update_allowed: true }),
    qos_policy: str('The name or ID of QoS policy to attach to this port.', { update_allowed: true, constraint: 'neutron.qos_policy' }),
    dns_name: str('DNS name associated with the port.', { update_allowed: true }),
    no_fixed_ips: bool('Flag to disable all fixed ips on the port.', { default: false, update_allowed: true }),
    tags,
  },
  attributes: {
    admin_state_up: attr('The administrative state of this port.', 'string'),
    device_id: attr('Unique identifier for the device.', 'string'),
    device_owner: attr('Name of the network owning the port.', 'string'),
    fixed_ips: attr('Fixed IP addresses.', 'list'),
    mac_address: attr('MAC address of the port.', 'string'),
    name: attr('Friendly name of the port.', 'string'),
    network_id: attr('Unique identifier for the network owning the port.', 'string'),
    security_groups: attr('A list of security groups for the port.', 'list'),
    status: attr('The status of the port.', 'string'),
    tenant_id: attr('Tenant owning the port.', 'string'),
    allowed_address_pairs: attr('Additional MAC/IP address pairs allowed to pass through a port.', 'list'),
    subnets: attr('Subnets of this network.', 'list'),
    port_security_enabled: attr('Port security enabled of the port.', 'boolean'),
    qos_policy_id: attr('The QoS policy ID attached to this port.', 'string'),
    dns_assignment: attr('The DNS assigned to this port.', 'map'),
    network: attr('The attributes of the network owning the port. (The full list of attributes can be found in OS::Neutron::Net.)', 'map'),
    show: attr('Detailed information about resource.', 'map'),
  },
  async validate(p) {
    if (p.no_fixed_ips && p.fixed_ips?.length) throw validationFailed('Cannot define the following properties at the same time: fixed_ips, no_fixed_ips.', 'ResourcePropertyConflict');
  },
  async body(r, p) {
    return {
      network_id: await idOf(findNetwork, r, p.network ?? p.network_id),
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
// A port moved to another network is another port.
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
  description: 'A resource that implements Neutron router. Router is a physical or virtual network device that passes network traffic between different networks.',
  kind: { collection: 'routers', key: 'router' },
  properties: {
    name: nameProp('router'),
    external_gateway_info: map('External network gateway configuration for a router.', {
      update_allowed: true,
      schema: {
        network: str('ID or name of the external network for the gateway.', { required: true, update_allowed: true, constraint: 'neutron.network' }),
        enable_snat: bool('Enables Source NAT on the router gateway. NOTE: The default policy setting in Neutron restricts usage of this property to administrative users only.', { update_allowed: true }),
        external_fixed_ips: listOf('External fixed IP addresses for the gateway.', {
          ip_address: str('External fixed IP address.', { constraint: 'ip_addr' }),
          subnet: str('Subnet of external fixed IP address.', { constraint: 'neutron.subnet' }),
        }, { update_allowed: true }),
      },
    }),
    value_specs: valueSpecs('router'),
    admin_state_up: bool('The administrative state of the router.', { default: true, update_allowed: true }),
    l3_agent_ids: listOfStr('ID list of the L3 agent. User can specify multi-agents for highly available router. NOTE: The default policy setting in Neutron restricts usage of this property to administrative users only.', { update_allowed: true }),
    distributed: bool('Indicates whether or not to create a distributed router. NOTE: The default policy setting in Neutron restricts usage of this property to administrative users only. This property can not be used in conjunction with the L3 agent ID.'),
    ha: bool('Indicates whether or not to create a highly available router. NOTE: The default policy setting in Neutron restricts usage of this property to administrative users only. And now neutron do not support distributed and ha at the same time.'),
    tags,
  },
  attributes: {
    status: attr('The status of the router.', 'string'),
    external_gateway_info: attr('Gateway network for the router.', 'map'),
    name: attr('Friendly name of the router.', 'string'),
    admin_state_up: attr('Administrative state of the router.', 'string'),
    tenant_id: attr('Tenant owning the router.', 'string'),
    show: attr('Detailed information about resource.', 'map'),
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
  description: 'A resource for managing Neutron router interfaces. Router interfaces associate routers with existing subnets or ports.',
  properties: {
    router: str('The router.', { required: true, constraint: 'neutron.router' }),
    router_id: str('ID of the router.', { support_status: { status: 'HIDDEN', version: '6.0.0', message: 'Use property router.' }, constraint: 'neutron.router' }),
    subnet_id: str('The subnet id, either subnet or port_id should be specified.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property subnet.' }, constraint: 'neutron.subnet' }),
    subnet: str('The subnet, either subnet or port should be specified.', { constraint: 'neutron.subnet' }),
    port_id: str('The port id, either subnet or port_id should be specified.', { support_status: { status: 'HIDDEN', version: '6.0.0', message: 'Use property port.' }, constraint: 'neutron.port' }),
    port: str('The port, either subnet or port should be specified.', { constraint: 'neutron.port' }),
  },
  attributes: {},
  async validate(p) {
    const subnet = p.subnet ?? p.subnet_id, portRef = p.port ?? p.port_id;
    if (subnet && portRef) throw validationFailed('Cannot define the following properties at the same time: subnet, port.', 'ResourcePropertyConflict');
    if (!subnet && !portRef) throw validationFailed('At least one of the following properties must be specified: subnet, port.', 'PropertyUnspecifiedError');
  },
  async handleCreate(r) {
    const p = r.properties;
    const routerId = (await resolve(findRouter, r.client, p.router ?? p.router_id)).id;
    const subnetRef = p.subnet ?? p.subnet_id, portRef = p.port ?? p.port_id;
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
  description: 'A resource for managing Neutron floating ips. Floating IP addresses can change their association between routers by action of the user.',
  properties: {
    floating_network_id: str('ID of network to allocate floating IP from.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property floating_network.' }, constraint: 'neutron.network' }),
    floating_network: str('Network to allocate floating IP from.', { required: true, constraint: 'neutron.network' }),
    floating_subnet: str('Subnet to allocate floating IP from.', { constraint: 'neutron.subnet' }),
    value_specs: map('Extra parameters to include in the "floatingip" object in the creation request. Parameters are often specific to installed hardware or extensions.', { default: {} }),
    port_id: str('ID of an existing port with at least one IP address to associate with this floating IP.', { update_allowed: true, constraint: 'neutron.port' }),
    fixed_ip_address: str('IP address to use if the port has multiple addresses.', { update_allowed: true, constraint: 'ip_addr' }),
    floating_ip_address: str('IP address of the floating IP. NOTE: The default policy setting in Neutron restricts usage of this property to administrative users only.', { constraint: 'ip_addr' }),
    dns_name: str('DNS name associated with floating ip.'),
    dns_domain: str('DNS domain associated with floating ip.'),
  },
  attributes: {
    router_id: attr('ID of the router used as gateway, set when associated with a port.', 'string'),
    tenant_id: attr('The tenant owning this floating IP.', 'string'),
    floating_network_id: attr('ID of the network in which this IP is allocated.', 'string'),
    fixed_ip_address: attr('IP address of the associated port, if specified.', 'string'),
    floating_ip_address: attr('The allocated address of this IP.', 'string'),
    port_id: attr('ID of the port associated with this IP.', 'string'),
    show: attr('Detailed information about resource.', 'map'),
  },
  async handleCreate(r) {
    const p = r.properties;
    const body = compact({
      floating_network_id: await idOf(findNetwork, r, p.floating_network ?? p.floating_network_id),
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
  description: 'A resource for associating floating ips and ports. This resource allows associating a floating IP to a port with at least one IP address to associate with this floating IP.',
  properties: {
    floatingip_id: str('ID of the floating IP to associate.', { required: true, update_allowed: true }),
    port_id: str('ID of an existing port with at least one IP address to associate with this floating IP.', { required: true, update_allowed: true, constraint: 'neutron.port' }),
    fixed_ip_address: str('IP address to use if the port has multiple addresses.', { update_allowed: true, constraint: 'ip_addr' }),
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

const ruleSchema = {
  direction: str('The direction in which the security group rule is applied. For a compute instance, an ingress security group rule matches traffic that is incoming (ingress) for that instance. An egress rule is applied to traffic leaving the instance.', { default: 'ingress', allowed: ['ingress', 'egress'] }),
  ethertype: str('Ethertype of the traffic.', { default: 'IPv4', allowed: ['IPv4', 'IPv6'] }),
  port_range_min: int('The minimum port number in the range that is matched by the security group rule. If the protocol is TCP or UDP, this value must be less than or equal to the value of the port_range_max attribute. If the protocol is ICMP, this value must be an ICMP type.', { constraints: [{ range: { min: 0, max: 65535 } }] }),
  port_range_max: int('The maximum port number in the range that is matched by the security group rule. The port_range_min attribute constrains the port_range_max attribute. If the protocol is ICMP, this value must be an ICMP code.', { constraints: [{ range: { min: 0, max: 65535 } }] }),
  protocol: str('The protocol that is matched by the security group rule. Allowed values are ah, dccp, egp, esp, gre, icmp, icmpv6, igmp, ipv6-encap, ipv6-frag, ipv6-icmp, ipv6-nonxt, ipv6-opts, ipv6-route, ospf, pgm, rsvp, sctp, tcp, udp, udplite, vrrp and integer representations [0-255].'),
  remote_mode: str('Whether to specify a remote group or a remote IP prefix.', { default: 'remote_ip_prefix', allowed: ['remote_ip_prefix', 'remote_group_id'] }),
  remote_group_id: str('The remote group ID to be associated with this security group rule. If no value is specified then this rule will use this security group for the remote_group_id. The remote mode parameter must be set to "remote_group_id".', { constraint: 'neutron.security_group' }),
  remote_ip_prefix: str('The remote IP prefix (CIDR) to be associated with this security group rule.', { constraint: 'net_cidr' }),
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
  description: 'A resource for managing Neutron security groups. Security groups are sets of IP filter rules that are applied to an instance\'s networking. They are project specific, and project members can edit the default rules for their group and add new rules sets. All projects have a "default" security group, which is applied to instances that have no other security group defined.',
  properties: {
    name: str('A string specifying a symbolic name for the security group, which is not required to be unique.', { update_allowed: true }),
    description: str('Description of the security group.', { update_allowed: true }),
    rules: listOf('List of security group rules.', ruleSchema, { default: [], update_allowed: true }),
  },
  attributes: { show: attr('Detailed information about resource.', 'map') },
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
  description: 'A resource for managing Neutron security group rules. Rules to use in security group resource.',
  properties: {
    security_group: str('Security group name or ID to add rule.', { required: true, constraint: 'neutron.security_group' }),
    description: str('Description of the security group rule.'),
    remote_group: str('The remote group name or ID to be associated with this security group rule.', { constraint: 'neutron.security_group' }),
    remote_ip_prefix: str('The remote IP prefix (CIDR) to be associated with this security group rule.', { constraint: 'net_cidr' }),
    direction: str('The direction in which the security group rule is applied. For a compute instance, an ingress security group rule matches traffic that is incoming (ingress) for that instance. An egress rule is applied to traffic leaving the instance.', { default: 'ingress', allowed: ['ingress', 'egress'] }),
    ethertype: str('Ethertype of the traffic.', { default: 'IPv4', allowed: ['IPv4', 'IPv6'] }),
    port_range_min: int('The minimum port number in the range that is matched by the security group rule. If the protocol is TCP or UDP, this value must be less than or equal to the value of the port_range_max attribute. If the protocol is ICMP, this value must be an ICMP type.', { constraints: [{ range: { min: 0, max: 65535 } }] }),
    port_range_max: int('The maximum port number in the range that is matched by the security group rule. The port_range_min attribute constrains the port_range_max attribute. If the protocol is ICMP, this value must be an ICMP code.', { constraints: [{ range: { min: 0, max: 65535 } }] }),
    protocol: str('The protocol that is matched by the security group rule. Allowed values are ah, dccp, egp, esp, gre, icmp, icmpv6, igmp, ipv6-encap, ipv6-frag, ipv6-icmp, ipv6-nonxt, ipv6-opts, ipv6-route, ospf, pgm, rsvp, sctp, tcp, udp, udplite, vrrp and integer representations [0-255].'),
  },
  attributes: { show: attr('Detailed information about resource.', 'map') },
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

