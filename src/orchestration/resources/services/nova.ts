// Nova resources: OS::Nova::Server, ::KeyPair, ::Flavor and ::ServerGroup, over the compute API.
// Server create waits for ACTIVE (ERROR fails with the instance fault), updates name, metadata,
// flavor (resize, then confirm), image (rebuild), networks (interface attach/detach), security
// groups and the admin password in place; delete waits until Nova no longer shows the server.
import { heatError, validationFailed, type ResourceContext, type ResourcePlugin, type UpdateChange } from '../../types.ts';
import {
  attr, bool, call, compact, escapeRegex, findFlavor, findImage, findNetwork, findPort, findSecurityGroup, findSubnet, findVolume, findSnapshot,
  ignoreNotFound, int, isNotFound, listOf, listOfStr, map, num, oldAndNewNames, resolve, str, UUID,
} from './common.ts';

const MV = '2.79';

const networkItem = {
  uuid: str('Old name of network.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property network.' }, constraint: 'neutron.network', replaced_by: 'network' }),
  network: str('Name or ID of the network to connect the server to.', { constraint: 'neutron.network' }),
  allocate_network: str("Instead of a network: auto lets Nova choose (or make) a network for the project, none gives the server no network. Not combined with the entry's other keys.", { allowed: ['none', 'auto'] }),
  fixed_ip: str('A particular address for the server on that network.', { constraint: 'ip_addr' }),
  port: str('Name or ID of an existing port to plug the server into.', { constraint: 'neutron.port' }),
  port_extra_properties: map('Extra fields for the port made for this entry, sent to Neutron as given (ignored when the entry gives port).'),
  subnet: str("Name or ID of a subnet: a port is made on it for the server (network may then be left out: the subnet's network is used).", { constraint: 'neutron.subnet' }),
  floating_ip: str("ID of a floating IP to map to the server's port on this network once the server is ACTIVE."),
  tag: str('A tag for the interface. Accepted but not sent to Nova here.'),
};

const bdmItem = {
  device_name: str('Device name the volume appears as in the server, e.g. vda; vda (or sda, hda) is the boot disk.', { required: true }),
  volume_id: str('Name or ID of a volume to attach; give exactly one of volume_id and snapshot_id.', { constraint: 'cinder.volume' }),
  snapshot_id: str('Name or ID of a volume snapshot to make the volume from.', { constraint: 'cinder.snapshot' }),
  volume_size: int('Size of the volume in GB; Nova works it out when omitted.'),
  delete_on_termination: bool('Whether the volume is deleted with the server (default false).'),
};

const bdmV2Item = {
  device_name: str('Device name the disk appears as in the server, e.g. vdb.'),
  volume_id: str('Name or ID of a volume to attach (it may be the boot disk).', { constraint: 'cinder.volume' }),
  image: str('Name or ID of an image to make a new volume from.', { constraint: 'glance.image' }),
  snapshot_id: str('Name or ID of a volume snapshot to make a new volume from.', { constraint: 'cinder.snapshot' }),
  swap_size: int('Size in MB of a local swap disk (rounded up to whole GB).'),
  ephemeral_size: int('Size in GB of a local ephemeral disk.', { constraints: [{ range: { min: 1 } }] }),
  ephemeral_format: str("File system for the ephemeral disk; Nova's configured default when omitted.", { allowed: ['ext2', 'ext3', 'ext4', 'xfs', 'ntfs'] }),
  device_type: str('Whether the device is a disk or a cdrom.', { allowed: ['cdrom', 'disk'] }),
  disk_bus: str('Bus the device is attached by; the hypervisor chooses when omitted.', { allowed: ['ide', 'lame_bus', 'scsi', 'usb', 'virtio'] }),
  boot_index: int('Position in the boot order. Omitted: 0 for a volume, snapshot or image, -1 (not bootable) for swap and ephemeral disks.'),
  volume_size: int('Size of the device in GB; worked out by Nova when omitted.'),
  delete_on_termination: bool('Whether the device is deleted with the server. Omitted: false for a volume, snapshot or image, true for swap and ephemeral disks.'),
  tag: str('A tag for the device, passed to Nova.'),
};

const serverProperties = {
  name: str("Server name; without one the server gets the resource's physical name.", { update_allowed: true }),
  image: str('Name or ID of the image to boot from; needed unless a block device mapping gives a bootable volume. A change on update follows image_update_policy.', { update_allowed: true, constraint: 'glance.image' }),
  block_device_mapping: listOf('Volumes to attach at boot (the older form; not together with block_device_mapping_v2).', bdmItem),
  block_device_mapping_v2: listOf('Disks for the server at boot: volumes, new volumes from images or snapshots, swap and ephemeral disks.', bdmV2Item),
  flavor: str('Name or ID of the flavor (size) of the server. A change on update follows flavor_update_policy.', { required: true, update_allowed: true, constraint: 'nova.flavor' }),
  flavor_update_policy: str('What a new flavor on update does: RESIZE resizes the server (and confirms it), REPLACE makes a new server.', { default: 'RESIZE', update_allowed: true, allowed: ['RESIZE', 'REPLACE'] }),
  image_update_policy: str('What a new image on update does: REBUILD rebuilds the server, REBUILD_PRESERVE_EPHEMERAL rebuilds it keeping the ephemeral disk, REPLACE makes a new server.', { default: 'REBUILD', update_allowed: true, allowed: ['REBUILD', 'REPLACE', 'REBUILD_PRESERVE_EPHEMERAL'] }),
  key_name: str('Name of the key pair whose public key the server gets.', { constraint: 'nova.keypair' }),
  admin_user: str('No longer used.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'The administrative user is the one of the image.' } }),
  availability_zone: str('Availability zone to place the server in.'),
  security_groups: listOfStr('Names or IDs of security groups for the server and the ports made for it; for ports given in networks, set the groups on those ports instead. On update, groups are added to or removed from the running server.', { default: [], update_allowed: true }),
  networks: listOf("The server's network interfaces, in order; each entry gives a network, subnet, port or allocate_network. On update, interfaces that still match an entry are kept, the others detached, and new ones attached.", networkItem, { update_allowed: true }),
  scheduler_hints: map("Hints for Nova's scheduler about where to place the server."),
  metadata: map('Key/value metadata of the server (each at most 255 characters); values that are not strings are sent as JSON. On update the map replaces all of it.', { update_allowed: true }),
  user_data_format: str('How user_data is handed to the server: RAW and HEAT_CFNTOOLS pass it as given; with SOFTWARE_CONFIG, user_data may also be the ID of a software config, whose config is passed.', { default: 'HEAT_CFNTOOLS', allowed: ['HEAT_CFNTOOLS', 'RAW', 'SOFTWARE_CONFIG'] }),
  software_config_transport: str('How the server would fetch the metadata of its software deployments; accepted, not used by this plugin.', { default: 'POLL_SERVER_CFN', update_allowed: true, allowed: ['POLL_SERVER_CFN', 'POLL_SERVER_HEAT', 'POLL_TEMP_URL', 'ZAQAR_MESSAGE'] }),
  user_data_update_policy: str('What new user_data on update does: REPLACE makes a new server, IGNORE leaves the server as it is.', { default: 'REPLACE', update_allowed: true, allowed: ['REPLACE', 'IGNORE'] }),
  user_data: str('Data for the server at boot, usually a cloud-init script. A change on update follows user_data_update_policy.', { default: '', update_allowed: true }),
  reservation_id: str('No longer used.', { support_status: { status: 'HIDDEN', version: '5.0.0' } }),
  config_drive: bool('Whether the server gets a config drive (a disk with its metadata).'),
  diskConfig: str('How the root disk is partitioned: AUTO grows it to the flavor size, MANUAL keeps the image layout.', { allowed: ['AUTO', 'MANUAL'] }),
  personality: map('Files to write into the server at boot: path to contents.', { default: {} }),
  admin_pass: str("Password for the server's administrator; a new one on update is set on the running server.", { update_allowed: true }),
  deployment_swift_data: map('Swift container and object for deployment data (for POLL_TEMP_URL); accepted, not used by this plugin.', { default: {} }),
  tags: listOfStr('Tags for the server; on update the list replaces all of them.', { update_allowed: true }),
};

const serverAttributes = {
  show: attr('The whole object, as the service shows it.', 'map'),
  addresses: attr("The server's addresses by network name, as Nova shows them, each with the ID of its port added.", 'map'),
  networks: attr('The addresses of the server on each network, as lists keyed both by network name and by network ID.', 'map'),
  first_address: attr("The first address of the server's first network, or '' while it has none; with several networks, which comes first is not defined.", 'string'),
  instance_name: attr("The hypervisor's name for the instance (admins see it), or null.", 'string'),
  accessIPv4: attr("The server's access IPv4 address, or ''.", 'string'),
  accessIPv6: attr("The server's access IPv6 address, or ''.", 'string'),
  console_urls: attr('Console URLs by console type; always empty here, as no console is requested.', 'map'),
  name: attr('Server name.', 'string'),
  os_collect_config: attr('Settings for an os-collect-config agent on the server (empty here).', 'map'),
  tags: attr("The server's tags.", 'list'),
};

const serverName = (r: ResourceContext, props = r.properties) => (props.name as string | null) || r.physicalName();

async function getServer(r: ResourceContext): Promise<any | null> {
  if (!r.physicalId) return null;
  const s = await r.client.request('compute', 'GET', `/servers/${r.physicalId}`, undefined, { microversion: MV }).catch((e) => {
    if (isNotFound(e)) return null;
    throw e;
  });
  return s ? s.body.server : null;
}

/** Nova's metadata values are strings: Heat serialises the others as JSON. */
const metaStrings = (m: Record<string, unknown> | null) =>
  Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));

/** The user data as given to Nova (base64). SOFTWARE_CONFIG may name a software config by id. */
async function userData(r: ResourceContext, props: Record<string, any>): Promise<string | undefined> {
  let ud: string = props.user_data ?? '';
  if (props.user_data_format === 'SOFTWARE_CONFIG' && UUID.test(ud)) {
    const sc = await r.client.find('orchestration', `/software_configs/${ud}`).catch(() => null);
    if (sc?.software_config) ud = sc.software_config.config ?? '';
  }
  if (!ud) return undefined;
  return Buffer.from(ud, 'utf8').toString('base64');
}

interface InternalPort { id: string; index: number }
const internalPorts = (r: ResourceContext): InternalPort[] => JSON.parse(r.data.internal_ports ?? '[]');

/**
 * The nics for Nova. An entry with a port passes it; one with a subnet gets a port Heat makes
 * (named after the server, kept in the resource data, deleted with the server); the others pass
 * the network (and fixed IP) and let Nova make the port.
 */
async function buildNics(r: ResourceContext, nets: any[], offset = 0): Promise<any[]> {
  const nics: any[] = [];
  const groups: string[] = [];
  for (const g of r.properties.security_groups ?? []) groups.push((await resolve(findSecurityGroup, r.client, g)).id);
  for (const [i, n] of nets.entries()) {
    if (n.allocate_network) { nics.push(n.allocate_network); continue; }
    if (n.port) { nics.push({ port: (await resolve(findPort, r.client, n.port)).id }); continue; }
    const netRef = n.network ?? n.uuid;
    if (n.subnet || n.port_extra_properties) {
      const subnet = n.subnet ? await resolve(findSubnet, r.client, n.subnet) : null;
      const networkId = netRef ? (await resolve(findNetwork, r.client, netRef)).id : subnet.network_id;
      const index = offset + i;
      const name = `${r.physicalName()}-port-${index}`;
      let port = (await call(r, 'network', 'GET', `/ports?name=${encodeURIComponent(name)}`)).ports[0];
      if (!port) {
        const fixed = subnet || n.fixed_ip ? [compact({ subnet_id: subnet?.id, ip_address: n.fixed_ip })] : undefined;
        port = (await call(r, 'network', 'POST', '/ports', { port: compact({ ...(n.port_extra_properties ?? {}), name, network_id: networkId, fixed_ips: fixed,
          security_groups: groups.length ? groups : undefined }) })).port;
      }
      const known = internalPorts(r).filter((p) => p.id !== port.id);
      await r.setData('internal_ports', JSON.stringify([...known, { id: port.id, index }]));
      nics.push({ port: port.id });
      continue;
    }
    if (!netRef) throw validationFailed('One of the properties "network", "port", "allocate_network" or "subnet" should be set for the specified network of server.', 'StackValidationFailed');
    const network = await resolve(findNetwork, r.client, netRef);
    nics.push(compact({ uuid: network.id, fixed_ip: n.fixed_ip }));
  }
  return nics;
}

async function buildBdm(r: ResourceContext, props: Record<string, any>): Promise<any[] | undefined> {
  const out: any[] = [];
  for (const b of props.block_device_mapping ?? []) {
    const source = b.volume_id ? 'volume' : 'snapshot';
    const id = b.volume_id ? (await resolve(findVolume, r.client, b.volume_id)).id : (await resolve(findSnapshot, r.client, b.snapshot_id)).id;
    out.push(compact({
      device_name: b.device_name, source_type: source, destination_type: 'volume', uuid: id, volume_size: b.volume_size,
      delete_on_termination: b.delete_on_termination ?? false, boot_index: /^(\/dev\/)?[vsh]da$/.test(b.device_name) ? 0 : -1,
    }));
  }
  for (const b of props.block_device_mapping_v2 ?? []) {
    let e: Record<string, unknown>;
    if (b.volume_id) e = { source_type: 'volume', destination_type: 'volume', uuid: (await resolve(findVolume, r.client, b.volume_id)).id };
    else if (b.snapshot_id) e = { source_type: 'snapshot', destination_type: 'volume', uuid: (await resolve(findSnapshot, r.client, b.snapshot_id)).id };
    else if (b.image) e = { source_type: 'image', destination_type: 'volume', uuid: (await resolve(findImage, r.client, b.image)).id };
    else if (b.swap_size) e = { source_type: 'blank', destination_type: 'local', guest_format: 'swap', volume_size: Math.ceil(b.swap_size / 1024) };
    else if (b.ephemeral_size) e = { source_type: 'blank', destination_type: 'local', guest_format: b.ephemeral_format, volume_size: b.ephemeral_size };
    else throw validationFailed('Either volume_id, snapshot_id, image, swap_size or ephemeral_size must be specified in block_device_mapping_v2.');
    const bootable = ['volume', 'snapshot', 'image'].includes(e.source_type as string);
    out.push(compact({
      ...e, device_name: b.device_name, device_type: b.device_type, disk_bus: b.disk_bus, tag: b.tag,
      volume_size: b.volume_size ?? e.volume_size,
      boot_index: b.boot_index ?? (bootable ? 0 : -1),
      delete_on_termination: b.delete_on_termination ?? !bootable,
    }));
  }
  return out.length ? out : undefined;
}

async function associateFloatingIps(r: ResourceContext, server: any) {
  const nets: any[] = r.properties.networks ?? [];
  if (!nets.some((n) => n.floating_ip)) return;
  const ifaces = (await call(r, 'compute', 'GET', `/servers/${server.id}/os-interface`)).interfaceAttachments as any[];
  for (const n of nets) {
    if (!n.floating_ip) continue;
    let portId: string | undefined = n.port ? (await resolve(findPort, r.client, n.port)).id : undefined;
    if (!portId) {
      const netRef = n.network ?? n.uuid;
      const netId = netRef ? (await resolve(findNetwork, r.client, netRef)).id : (await resolve(findSubnet, r.client, n.subnet)).network_id;
      portId = ifaces.find((i) => i.net_id === netId)?.port_id;
    }
    if (portId) await call(r, 'network', 'PUT', `/floatingips/${n.floating_ip}`, { floatingip: { port_id: portId } });
  }
}

const fault = (s: any) => {
  const f = s.fault ?? {};
  return `Went to status ERROR due to "Message: ${f.message ?? 'Unknown'}, Code: ${f.code ?? 'Unknown'}"`;
};

/** Polls the server: true once it has reached `want`; ERROR fails the resource. */
async function waitStatus(r: ResourceContext, want: string[]): Promise<any | false> {
  const s = await getServer(r);
  if (!s) throw heatError(400, 'ResourceUnknownStatus', `The server (${r.physicalId}) could not be found.`);
  if (s.status === 'ERROR') throw heatError(400, 'ResourceInError', fault(s));
  return want.includes(s.status) ? s : false;
}

async function addressesWithPorts(r: ResourceContext, server: any): Promise<Record<string, any[]>> {
  let ifaces: any[] = [];
  try { ifaces = (await r.client.request('compute', 'GET', `/servers/${server.id}/os-interface`)).body.interfaceAttachments; } catch { /* older or absent */ }
  const out: Record<string, any[]> = {};
  for (const [net, addrs] of Object.entries(server.addresses ?? {}) as [string, any[]][]) {
    out[net] = addrs.map((a) => {
      const i = ifaces.find((x) => (x.fixed_ips ?? []).some((f: any) => f.ip_address === a.addr) || x.mac_addr === a['OS-EXT-IPS-MAC:mac_addr']);
      return { ...a, port: i?.port_id ?? null };
    });
  }
  return out;
}

async function networksAttr(r: ResourceContext, server: any): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [net, addrs] of Object.entries(server.addresses ?? {}) as [string, any[]][]) {
    const ips = addrs.map((a) => a.addr);
    out[net] = ips;
    try {
      const found = (await r.client.request('network', 'GET', `/networks?name=${encodeURIComponent(net)}`)).body.networks as any[];
      if (found.length === 1) out[found[0].id] = ips;
    } catch { /* the name key is enough */ }
  }
  return out;
}

/**
 * Network update, reconciled with the server's interfaces: each new entry keeps an attached
 * interface it describes (same port; or same network, fixed IP and subnet where given), so
 * swapping `network: net` for `subnet: <its subnet>` or for the port already in use keeps the
 * port. Interfaces no entry keeps are detached; entries no interface matches are attached.
 * Re-running it after a crash converges on the same result.
 */
async function updateNetworks(r: ResourceContext, newNets: any[]) {
  const id = r.physicalId!;
  const ifaces = (await call(r, 'compute', 'GET', `/servers/${id}/os-interface`)).interfaceAttachments as any[];
  const free = new Set(ifaces.map((i) => i.port_id));
  const want: { n: any; netId?: string; subnetId?: string; portId?: string; rank: number }[] = [];
  for (const n of newNets) {
    if (n.allocate_network) continue;
    if (n.port) { want.push({ n, portId: (await resolve(findPort, r.client, n.port)).id, rank: 0 }); continue; }
    const sub = n.subnet ? await resolve(findSubnet, r.client, n.subnet) : null;
    const netRef = n.network ?? n.uuid;
    const netId = netRef ? (await resolve(findNetwork, r.client, netRef)).id : sub.network_id;
    want.push({ n, netId, subnetId: sub?.id, rank: n.fixed_ip ? 1 : sub ? 2 : 3 });
  }
  const unmatched: any[] = [];
  for (const w of [...want].sort((a, b) => a.rank - b.rank)) {
    const match = ifaces.find((i) => free.has(i.port_id) && (w.portId ? i.port_id === w.portId : i.net_id === w.netId &&
      (!w.n.fixed_ip || (i.fixed_ips ?? []).some((f: any) => f.ip_address === w.n.fixed_ip)) &&
      (!w.subnetId || (i.fixed_ips ?? []).some((f: any) => f.subnet_id === w.subnetId))));
    if (match) free.delete(match.port_id); else unmatched.push(w.n);
  }
  for (const portId of free) await ignoreNotFound(r.client.request('compute', 'DELETE', `/servers/${id}/os-interface/${portId}`));
  const nics = await buildNics(r, unmatched, Date.now() % 100000);
  for (const nic of nics) {
    const body = nic.port ? { port_id: nic.port } : compact({ net_id: nic.uuid, fixed_ips: nic.fixed_ip ? [{ ip_address: nic.fixed_ip }] : undefined });
    await call(r, 'compute', 'POST', `/servers/${id}/os-interface`, { interfaceAttachment: body });
  }
  // Ports Heat made for entries now gone are deleted once detached.
  const internal = internalPorts(r);
  for (const p of internal) if (free.has(p.id)) await ignoreNotFound(r.client.request('network', 'DELETE', `/ports/${p.id}`));
  await r.setData('internal_ports', JSON.stringify(internal.filter((p) => !free.has(p.id))));
}

export const server: ResourcePlugin = {
  type: 'OS::Nova::Server',
  description: 'A Nova server (virtual machine). The create waits until it is ACTIVE. Name, metadata, tags, networks, security groups and the admin password change in place; flavor, image and user_data as their update policies say.',
  properties: serverProperties,
  attributes: serverAttributes,
  pollMs: 100,

  async validate(p) {
    const bdm = [...(p.block_device_mapping ?? []), ...(p.block_device_mapping_v2 ?? [])];
    if (p.block_device_mapping?.length && p.block_device_mapping_v2?.length) {
      throw validationFailed('Cannot define the following properties at the same time: block_device_mapping, block_device_mapping_v2.', 'ResourcePropertyConflict');
    }
    if (!p.image && !bdm.some((b: any) => b.volume_id || b.snapshot_id || b.image)) {
      throw validationFailed('Neither image nor bootable volume is specified for instance ' + (p.name ?? '') + '', 'StackValidationFailed');
    }
    for (const b of p.block_device_mapping ?? []) {
      if (!!b.volume_id === !!b.snapshot_id) throw validationFailed('Either volume_id or snapshot_id must be specified for device mapping ' + b.device_name);
    }
    for (const n of p.networks ?? []) {
      oldAndNewNames(n, [['network', 'uuid']], 'networks.');
      if (n.port && (n.network || n.uuid) && n.fixed_ip) throw validationFailed('Cannot define the following properties at the same time: port, fixed_ip.', 'ResourcePropertyConflict');
      if (n.allocate_network && (n.network || n.uuid || n.port || n.fixed_ip || n.subnet)) {
        throw validationFailed('Property allocate_network cannot be combined with other network properties.', 'ResourcePropertyConflict');
      }
      if (!n.allocate_network && !n.network && !n.uuid && !n.port && !n.subnet) {
        throw validationFailed('One of the properties "network", "port", "allocate_network" or "subnet" should be set for the specified network of server "' + (p.name ?? '') + '".');
      }
    }
  },

  async handleCreate(r) {
    const p = r.properties;
    const flavor = await resolve(findFlavor, r.client, p.flavor);
    const image = p.image ? await resolve(findImage, r.client, p.image) : null;
    const nets: any[] | null = p.networks?.length ? p.networks : null;
    const nics = nets ? await buildNics(r, nets) : undefined;
    const body: Record<string, unknown> = compact({
      name: serverName(r), imageRef: image?.id ?? '', flavorRef: flavor.id,
      key_name: p.key_name, availability_zone: p.availability_zone,
      metadata: p.metadata ? metaStrings(p.metadata) : undefined,
      user_data: await userData(r, p),
      security_groups: p.security_groups?.length ? p.security_groups.map((name: string) => ({ name })) : undefined,
      networks: nics && nics.length === 1 && typeof nics[0] === 'string' ? nics[0] : nics,
      block_device_mapping_v2: await buildBdm(r, p),
      config_drive: p.config_drive ?? undefined,
      adminPass: p.admin_pass, 'OS-DCF:diskConfig': p.diskConfig,
      personality: Object.keys(p.personality ?? {}).length
        ? Object.entries(p.personality).map(([path, c]) => ({ path, contents: Buffer.from(String(c)).toString('base64') })) : undefined,
      tags: p.tags?.length ? p.tags : undefined,
    });
    const microversion = p.tags?.length ? '2.52' : typeof body.networks === 'string' ? '2.37' : '2.1';
    if (microversion === '2.1' && p.personality && Object.keys(p.personality).length === 0) delete body.personality;
    const res = await call(r, 'compute', 'POST', '/servers', compact({ server: body, 'os:scheduler_hints': p.scheduler_hints ?? undefined }), { microversion });
    await r.setPhysicalId(res.server.id);
  },

  async checkCreateComplete(r) {
    const s = await waitStatus(r, ['ACTIVE']);
    if (!s) return false;
    if (!r.data.floating_ips_done) {
      await associateFloatingIps(r, s);
      await r.setData('floating_ips_done', '1');
    }
    return true;
  },

  async findInterrupted(r) {
    if (r.properties.name) return null;
    const res = await r.client.request('compute', 'GET', `/servers/detail?name=${encodeURIComponent('^' + escapeRegex(r.physicalName()) + '$')}`);
    const m = (res.body.servers as any[]).filter((s) => s.name === r.physicalName());
    return m.length ? m[0].id : null;
  },

  needsReplace(change) {
    const n = change.newProperties;
    if (change.changed.includes('flavor') && n.flavor_update_policy === 'REPLACE') return true;
    if (change.changed.includes('image') && n.image_update_policy === 'REPLACE') return true;
    if (change.changed.includes('user_data') && n.user_data_update_policy !== 'IGNORE') return true;
    return false;
  },

  async handleUpdate(r, change) {
    const id = r.physicalId!;
    const n = change.newProperties, o = change.oldProperties;
    const c = new Set(change.changed);
    if (c.has('name')) await call(r, 'compute', 'PUT', `/servers/${id}`, { server: { name: serverName(r, n) } });
    if (c.has('metadata')) await call(r, 'compute', 'PUT', `/servers/${id}/metadata`, { metadata: metaStrings(n.metadata) });
    if (c.has('tags')) await call(r, 'compute', 'PUT', `/servers/${id}/tags`, { tags: n.tags ?? [] }, { microversion: '2.26' });
    if (c.has('admin_pass') && n.admin_pass) await call(r, 'compute', 'POST', `/servers/${id}/action`, { changePassword: { adminPass: n.admin_pass } });
    if (c.has('security_groups')) {
      const before: string[] = o.security_groups ?? [], after: string[] = n.security_groups ?? [];
      for (const g of after.filter((x) => !before.includes(x))) await call(r, 'compute', 'POST', `/servers/${id}/action`, { addSecurityGroup: { name: g } });
      for (const g of before.filter((x) => !after.includes(x))) await call(r, 'compute', 'POST', `/servers/${id}/action`, { removeSecurityGroup: { name: g } });
    }
    if (c.has('networks')) await updateNetworks(r, n.networks ?? []);
    // Long-running steps are queued in the resource data; checkUpdateComplete walks them.
    const steps: string[] = [];
    if (c.has('flavor')) {
      const flavor = await resolve(findFlavor, r.client, n.flavor);
      const old = await resolve(findFlavor, r.client, o.flavor).catch(() => null);
      if (!old || old.id !== flavor.id) steps.push(`resize:${flavor.id}`);
    }
    if (c.has('image') && n.image) {
      const image = await resolve(findImage, r.client, n.image);
      steps.push(`rebuild:${image.id}:${n.image_update_policy === 'REBUILD_PRESERVE_EPHEMERAL' ? 1 : 0}`);
    }
    await r.setData('update_steps', JSON.stringify(steps));
    await r.setData('update_started', '');
  },

  async checkUpdateComplete(r) {
    const steps: string[] = JSON.parse(r.data.update_steps ?? '[]');
    if (!steps.length) return true;
    const [kind, arg, extra] = steps[0].split(':');
    const id = r.physicalId!;
    if (!r.data.update_started) {
      const s = await waitStatus(r, ['ACTIVE', 'SHUTOFF']);
      if (!s) return false;
      if (kind === 'resize') await call(r, 'compute', 'POST', `/servers/${id}/action`, { resize: { flavorRef: arg } });
      else await call(r, 'compute', 'POST', `/servers/${id}/action`, { rebuild: { imageRef: arg, ...(extra === '1' ? { preserve_ephemeral: true } : {}) } });
      await r.setData('update_started', '1');
      return false;
    }
    const s = await getServer(r);
    if (!s) throw heatError(400, 'ResourceUnknownStatus', `The server (${id}) could not be found.`);
    if (s.status === 'ERROR') throw heatError(400, 'ResourceInError', fault(s));
    if (kind === 'resize') {
      if (s.status === 'VERIFY_RESIZE') { await call(r, 'compute', 'POST', `/servers/${id}/action`, { confirmResize: null }); return false; }
      if (s.status !== 'ACTIVE' && s.status !== 'SHUTOFF') return false;
      if (s.flavor?.id !== undefined && s.flavor.id !== arg) return false;
    } else if (s.status !== 'ACTIVE' && s.status !== 'SHUTOFF') return false;
    await r.setData('update_steps', JSON.stringify(steps.slice(1)));
    await r.setData('update_started', '');
    return steps.length === 1;
  },

  async handleDelete(r) {
    if (!r.physicalId) return deleteInternalPorts(r);
    await ignoreNotFound(r.client.request('compute', 'DELETE', `/servers/${r.physicalId}`));
  },

  async checkDeleteComplete(r) {
    const s = await getServer(r);
    if (s && s.status !== 'DELETED' && s.status !== 'SOFT_DELETED') {
      // Nova leaves an ERROR server in place when its delete failed; ask again.
      if (s.status === 'ERROR' && !s['OS-EXT-STS:task_state']) await ignoreNotFound(r.client.request('compute', 'DELETE', `/servers/${s.id}`));
      return false;
    }
    await deleteInternalPorts(r);
    return true;
  },

  async resolveAttribute(r, name) {
    const s = await getServer(r);
    if (!s) return name === 'console_urls' || name === 'addresses' || name === 'networks' || name === 'os_collect_config' ? {} : null;
    switch (name) {
      case 'show': return s;
      case 'name': return s.name;
      case 'addresses': return addressesWithPorts(r, s);
      case 'networks': return networksAttr(r, s);
      case 'first_address': {
        const first = Object.values(s.addresses ?? {})[0] as any[] | undefined;
        return first?.[0]?.addr ?? '';
      }
      case 'instance_name': return s['OS-EXT-SRV-ATTR:instance_name'] ?? null;
      case 'accessIPv4': return s.accessIPv4 ?? '';
      case 'accessIPv6': return s.accessIPv6 ?? '';
      case 'console_urls': return {};
      case 'os_collect_config': return {};
      case 'tags': return s.tags ?? [];
    }
    return null;
  },

  async show(r) { return getServer(r); },

  async handleSuspend(r) {
    if (r.physicalId) await call(r, 'compute', 'POST', `/servers/${r.physicalId}/action`, { suspend: null });
  },
  async handleResume(r) {
    if (r.physicalId) await call(r, 'compute', 'POST', `/servers/${r.physicalId}/action`, { resume: null });
  },
  async handleCheck(r) {
    const s = await getServer(r);
    if (!s) throw heatError(400, 'Error', `The server (${r.physicalId}) could not be found.`);
    if (s.status !== 'ACTIVE') throw heatError(400, 'Error', `Server is in status ${s.status}, expected ACTIVE`);
  },
};

async function deleteInternalPorts(r: ResourceContext) {
  for (const p of internalPorts(r)) await ignoreNotFound(r.client.request('network', 'DELETE', `/ports/${p.id}`));
  if (r.data.internal_ports) await r.setData('internal_ports', null);
}

// ------------------------------------------------------------------ OS::Nova::KeyPair

export const keypair: ResourcePlugin = {
  type: 'OS::Nova::KeyPair',
  description: 'A Nova key pair: an SSH public key that servers can be given at boot.',
  properties: {
    name: str('Name of the key pair (unique for its user).', { required: true, constraints: [{ length: { min: 1, max: 255 } }] }),
    save_private_key: bool('Whether to keep the private key Nova generates, so the private_key attribute can give it.', { default: false }),
    type: str('Kind of key pair: ssh or x509.', { allowed: ['ssh', 'x509'] }),
    public_key: str('An existing public key to import; omitted, Nova generates a new key pair.'),
    user: str('ID of the user to own the key pair, when not the caller (admin only).', { constraint: 'keystone.user' }),
  },
  attributes: {
    show: attr('The whole object, as the service shows it.', 'map'),
    private_key: attr("The generated private key when save_private_key is true, else ''.", 'string'),
    public_key: attr("The key pair's public key.", 'string'),
  },
  async handleCreate(r) {
    const p = r.properties;
    const existing = await r.client.find('compute', `/os-keypairs/${encodeURIComponent(p.name)}`);
    // A keypair of this name made by an interrupted attempt of this resource is ours.
    if (existing && r.data.creating === p.name) { await r.setPhysicalId(p.name); return; }
    await r.setData('creating', p.name);
    const res = await call(r, 'compute', 'POST', '/os-keypairs', { keypair: compact({ name: p.name, public_key: p.public_key, type: p.type, user_id: p.user }) },
      { microversion: p.user ? '2.10' : p.type ? '2.2' : '2.1' }).catch(async (e) => {
      await r.setData('creating', null); // the name was someone else's: never adopt it
      throw e;
    });
    if (p.save_private_key && res.keypair.private_key) await r.setData('private_key', res.keypair.private_key);
    await r.setPhysicalId(res.keypair.name);
  },
  async handleDelete(r) {
    if (r.physicalId) await ignoreNotFound(r.client.request('compute', 'DELETE', `/os-keypairs/${encodeURIComponent(r.physicalId)}`));
  },
  async resolveAttribute(r, name) {
    if (name === 'private_key') return r.data.private_key ?? '';
    const k = r.physicalId ? await r.client.find('compute', `/os-keypairs/${encodeURIComponent(r.physicalId)}`) : null;
    if (name === 'public_key') return k?.keypair.public_key ?? null;
    return k?.keypair ?? null;
  },
  async show(r) { return r.physicalId ? (await r.client.find('compute', `/os-keypairs/${encodeURIComponent(r.physicalId)}`))?.keypair ?? null : null; },
};

// ------------------------------------------------------------------ OS::Nova::Flavor

export const flavor: ResourcePlugin = {
  type: 'OS::Nova::Flavor',
  description: 'A Nova flavor: the size of a server (memory, CPUs, disks). Only admins may make flavors by default.',
  properties: {
    name: str("Flavor name; without one it gets the resource's physical name."),
    flavorid: str('ID for the flavor; Nova makes up a UUID when omitted.'),
    ram: int('Memory, in MB.', { required: true }),
    vcpus: int('Number of virtual CPUs.', { required: true }),
    disk: int("Root disk size in GB; 0 means the root disk is as large as the image needs.", { default: 0 }),
    swap: int('Swap disk size in MB (0: none).', { default: 0 }),
    ephemeral: int('Size in GB of an extra ephemeral disk (0: none).', { default: 0 }),
    rxtx_factor: num('Network bandwidth factor relative to the network default.', { default: 1.0 }),
    extra_specs: map('Extra specs of the flavor (key/value hints for scheduling and the hypervisor); on update the map replaces them.', { update_allowed: true }),
    tenants: listOfStr('Projects given access to a private flavor (ignored when is_public is true).', { update_allowed: true, default: [], itemConstraint: 'keystone.project' }),
    is_public: bool('Whether every project may use the flavor; a private one is for the projects in tenants.', { default: true }),
    description: str('Free text about the flavor.', { update_allowed: true }),
  },
  attributes: {
    show: attr('The whole object, as the service shows it.', 'map'),
    extra_specs: attr('Extra specs of the flavor.', 'map'),
    is_public: attr('Whether every project may use the flavor.', 'boolean'),
  },
  async handleCreate(r) {
    const p = r.properties;
    const name = p.name ?? r.physicalName();
    const existing = (await call(r, 'compute', 'GET', '/flavors/detail?is_public=None')).flavors.find((f: any) => f.name === name && r.data.creating === name);
    if (!existing) await r.setData('creating', name);
    const f = existing ?? (await call(r, 'compute', 'POST', '/flavors', {
      flavor: compact({ name, id: p.flavorid, ram: p.ram, vcpus: p.vcpus, disk: p.disk, swap: p.swap, 'OS-FLV-EXT-DATA:ephemeral': p.ephemeral,
        rxtx_factor: p.rxtx_factor, 'os-flavor-access:is_public': p.is_public, description: p.description }),
    }, { microversion: p.description ? '2.55' : '2.1' }).catch(async (e) => {
      await r.setData('creating', null); // a name taken by another flavor is never adopted
      throw e;
    })).flavor;
    await r.setPhysicalId(f.id);
    if (p.extra_specs && Object.keys(p.extra_specs).length) await call(r, 'compute', 'POST', `/flavors/${f.id}/os-extra_specs`, { extra_specs: metaStrings(p.extra_specs) });
    if (!p.is_public) for (const t of p.tenants ?? []) await call(r, 'compute', 'POST', `/flavors/${f.id}/action`, { addTenantAccess: { tenant: t } }).catch(() => {});
  },
  async handleUpdate(r, change) {
    const id = r.physicalId!;
    const n = change.newProperties, o = change.oldProperties;
    if (change.changed.includes('extra_specs')) {
      for (const k of Object.keys(o.extra_specs ?? {})) if (!(k in (n.extra_specs ?? {}))) await ignoreNotFound(r.client.request('compute', 'DELETE', `/flavors/${id}/os-extra_specs/${encodeURIComponent(k)}`));
      if (n.extra_specs && Object.keys(n.extra_specs).length) await call(r, 'compute', 'POST', `/flavors/${id}/os-extra_specs`, { extra_specs: metaStrings(n.extra_specs) });
    }
    if (change.changed.includes('description')) await call(r, 'compute', 'PUT', `/flavors/${id}`, { flavor: { description: n.description ?? null } }, { microversion: '2.55' });
    if (change.changed.includes('tenants') && !n.is_public) {
      const before: string[] = o.tenants ?? [], after: string[] = n.tenants ?? [];
      for (const t of after.filter((x) => !before.includes(x))) await call(r, 'compute', 'POST', `/flavors/${id}/action`, { addTenantAccess: { tenant: t } });
      for (const t of before.filter((x) => !after.includes(x))) await call(r, 'compute', 'POST', `/flavors/${id}/action`, { removeTenantAccess: { tenant: t } }).catch(() => {});
    }
  },
  async handleDelete(r) {
    if (r.physicalId) await ignoreNotFound(r.client.request('compute', 'DELETE', `/flavors/${r.physicalId}`));
  },
  async resolveAttribute(r, name) {
    const f = r.physicalId ? (await r.client.find('compute', `/flavors/${r.physicalId}`))?.flavor : null;
    if (!f) return null;
    if (name === 'is_public') return f['os-flavor-access:is_public'];
    if (name === 'extra_specs') return (await r.client.find('compute', `/flavors/${r.physicalId}/os-extra_specs`))?.extra_specs ?? {};
    return f;
  },
  async show(r) { return r.physicalId ? (await r.client.find('compute', `/flavors/${r.physicalId}`))?.flavor ?? null : null; },
};

// ------------------------------------------------------------------ OS::Nova::ServerGroup

export const serverGroup: ResourcePlugin = {
  type: 'OS::Nova::ServerGroup',
  description: 'A Nova server group: servers booted into it are placed by its policy (together or apart).',
  properties: {
    name: str("Name of the group; without one it gets the resource's physical name."),
    policies: listOfStr('The placement policy, as a list of one: affinity (same host), anti-affinity (different hosts) or their soft forms.', {
      default: ['anti-affinity'], constraints: [{ length: { min: 1, max: 1 } }],
      schema: { '*': str('A placement policy.', { allowed: ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'] }) },
    }),
    rules: map('Policy rules (such as max_server_per_host for anti-affinity); accepted but not sent to Nova here.'),
  },
  attributes: { show: attr('The whole object, as the service shows it.', 'map') },
  async handleCreate(r) {
    const name = r.properties.name ?? r.physicalName();
    const interrupted = await serverGroup.findInterrupted!(r);
    if (interrupted) { await r.setPhysicalId(interrupted); return; }
    const policy: string = r.properties.policies?.[0] ?? 'anti-affinity';
    const soft = policy.startsWith('soft');
    const res = await call(r, 'compute', 'POST', '/os-server-groups', { server_group: { name, policies: [policy] } }, { microversion: soft ? '2.15' : '2.1' });
    await r.setPhysicalId(res.server_group.id);
  },
  async findInterrupted(r) {
    if (r.properties.name) return null;
    const res = await r.client.request('compute', 'GET', '/os-server-groups');
    return (res.body.server_groups as any[]).find((g) => g.name === r.physicalName())?.id ?? null;
  },
  async handleDelete(r) {
    if (r.physicalId) await ignoreNotFound(r.client.request('compute', 'DELETE', `/os-server-groups/${r.physicalId}`));
  },
  async resolveAttribute(r) { return serverGroup.show!(r); },
  async show(r) { return r.physicalId ? (await r.client.find('compute', `/os-server-groups/${r.physicalId}`))?.server_group ?? null : null; },
};

export const NOVA_PLUGINS: ResourcePlugin[] = [server, keypair, flavor, serverGroup];
export type { UpdateChange };
