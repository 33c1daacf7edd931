// Operator commands for the vSphere driver. `vsphere-inventory` connects to every configured
// vCenter and shows what it has for this cloud (clusters with their hosts and datastores, the
// switches with their members and Vistack's port groups, Vistack's VMs with their disks and NICs,
// the volume VMDKs), then what the database believes (live servers) and where the two disagree:
// servers without a VM, Vistack VMs without a server, power states that differ, port groups
// without a network, VMDKs without a volume. It only reads (connecting makes Vistack's VM folder
// if it is missing, as the driver would), so it is safe on a running cloud.
import { existsSync } from 'node:fs';
import type { Command } from '../../cli-commands.ts';
import { loadConfig } from '../../core/config.ts';
import { openDatabase, type Database, type Row } from '../../core/db/index.ts';
import { PowerState, type PowerStateCode } from '../../core/virt.ts';
import type { VCenterConfig } from './config.ts';
import { dsPath } from './ds_util.ts';
import { PORTGROUP_PREFIX, vlanOf, type VMwareDVSPortSetting } from './network.ts';
import { VSphereSession } from './session.ts';
import { baseFileName, diskCapacityKb, diskRole, isDisk, volumeIdOf, type DiskRole } from './vm_util.ts';
import { isFault } from './vim/client.ts';
import { get, listObjects } from './vim/props.ts';
import type { FileInfo, HostDatastoreBrowserSearchResults, MoRef, OptionValue, VirtualDevice, VirtualDisk, VirtualMachinePowerState } from './vim/types.ts';
import { sameRef } from './vim/types.ts';
import { asArray } from './vim/xml.ts';

const GiB = 2 ** 30;

// ---- the report ------------------------------------------------------------------------------

export interface HostReport {
  name: string; moref: string; cores: number; threads: number; mhz: number; memoryMb: number; connected: boolean; maintenance: boolean;
}
export interface DatastoreReport { name: string; moref: string; type: string; capacityBytes: number; freeBytes: number; accessible: boolean }
export interface ClusterReport {
  name: string; moref: string; computeHost: string; nodename: string; hosts: HostReport[]; datastores: DatastoreReport[];
}
export interface PortgroupReport { name: string; moref: string; networkId: string; vlanId: number | null }
export interface SwitchReport { name: string; moref: string; uuid: string; configured: boolean; members: string[]; portgroups: PortgroupReport[] }
/** role and volumeId as the compute driver tells its disks apart (by file name, vm_util.diskRole). */
export interface DiskReport { key: number; file: string; capacityBytes: number; role: DiskRole; volumeId: string | null }
export interface NicReport { key: number; type: string; macAddress: string; portGroup: string }
export interface VmReport {
  name: string; uuid: string; moref: string; displayName: string; powerState: string; host: string; cluster: string;
  numCpu: number; memoryMb: number; disks: DiskReport[]; nics: NicReport[];
}
/**
 * capacityBytes: as the datastore browser reports it, else (vcsim reports none) the capacity of the
 * disk device when the file is attached to a VM; null when neither knows it.
 */
export interface VolumeFileReport { path: string; datastore: string; volumeId: string | null; capacityBytes: number | null; fileSize: number | null; attachedTo: string | null }
export interface VCenterReport {
  name: string; url: string;
  about?: { fullName: string; version: string; build: string; apiVersion: string; instanceUuid: string };
  datacenter?: { name: string; moref: string };
  clusters: ClusterReport[]; switches: SwitchReport[]; vms: VmReport[]; volumes: VolumeFileReport[];
  /** Why this vCenter could not be read. */
  error?: string;
}
export interface ServerRow { uuid: string; displayName: string; vmState: string; taskState: string | null; powerState: number; node: string | null; host: string | null }
export interface DatabaseReport {
  url: string;
  servers: ServerRow[] | null;
  networks: Array<{ id: string; name: string; networkType: string; segmentationId: number | null; portGroup: string | null }> | null;
  volumes: Array<{ id: string; status: string; size: number; location: { datastore?: string; path?: string } | null }> | null;
  error?: string;
}
export type DifferenceKind =
  | 'server-without-vm' | 'server-on-unknown-node' | 'vm-without-server' | 'power-state'
  | 'portgroup-without-network' | 'network-without-portgroup' | 'vmdk-without-volume' | 'volume-without-vmdk';
export interface Difference { kind: DifferenceKind; vcenter?: string; id: string; message: string }
export interface InventoryReport { vcenters: VCenterReport[]; database: DatabaseReport | null; differences: Difference[] }

// ---- reading a vCenter ---------------------------------------------------------------------------

type VmProps = {
  name: string; parent: MoRef; 'config.instanceUuid': string; 'config.template': boolean; 'config.extraConfig': OptionValue[];
  'config.hardware.numCPU': number; 'config.hardware.memoryMB': number; 'config.hardware.device': VirtualDevice[];
  'runtime.powerState': VirtualMachinePowerState; 'runtime.host': MoRef;
};
type PgProps = { name: string; key: string; 'config.distributedVirtualSwitch': MoRef; 'config.defaultPortConfig': VMwareDVSPortSetting };
type SwitchProps = { name: string; uuid: string; 'summary.hostMember': MoRef[] };

const VM_PATHS: (keyof VmProps)[] = [
  'name', 'parent', 'config.instanceUuid', 'config.template', 'config.extraConfig', 'config.hardware.numCPU',
  'config.hardware.memoryMB', 'config.hardware.device', 'runtime.powerState', 'runtime.host',
];

/** Extents and side files of a disk, which the datastore browser may list beside the descriptor. */
const EXTENT = /-(flat|delta|ctk|sesparse|digest|rdm|rdmp|s\d{3})\.vmdk$/;

const redactUrl = (u: string) => {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  } catch { return u; }
};

function extra(options: OptionValue[] | undefined, key: string): string | undefined {
  const o = asArray(options).find((x) => x.key === key);
  if (!o || o.value === undefined || o.value === null) return undefined;
  return typeof o.value === 'object' ? String((o.value as { _value?: unknown })._value ?? '') : String(o.value);
}

function nicType(t: string) { return t.replace(/^Virtual/, '').toLowerCase(); }

/** Everything `vsphere-inventory` shows of one vCenter. */
export async function readVcenter(s: VSphereSession): Promise<VCenterReport> {
  const report: VCenterReport = { name: s.config.name, url: redactUrl(s.config.url), clusters: [], switches: [], vms: [], volumes: [] };
  try {
    await s.open();
  } catch (e) {
    report.error = (e as Error).message;
    return report;
  }
  const c = s.client;
  const inv = s.inventory;
  const about = c.content.about;
  report.about = { fullName: String(about.fullName ?? ''), version: String(about.version ?? ''), build: String(about.build ?? ''), apiVersion: String(about.apiVersion ?? ''), instanceUuid: c.instanceUuid };
  report.datacenter = { name: inv.datacenter.name, moref: inv.datacenter.ref.value };

  const [switches, pgs, vms] = await Promise.all([
    listObjects<SwitchProps>(c, inv.datacenter.ref, 'DistributedVirtualSwitch', ['name', 'uuid', 'summary.hostMember']),
    listObjects<PgProps>(c, inv.datacenter.networkFolder, 'DistributedVirtualPortgroup', ['name', 'key', 'config.distributedVirtualSwitch', 'config.defaultPortConfig']),
    listObjects<VmProps>(c, inv.datacenter.ref, 'VirtualMachine', VM_PATHS),
  ]);
  const hostName = (ref: MoRef | undefined) => inv.host(ref)?.name ?? ref?.value ?? '';

  for (const cl of inv.clusters) {
    report.clusters.push({
      name: cl.name, moref: cl.ref.value, computeHost: cl.computeHost, nodename: cl.nodename,
      hosts: cl.hosts.map((h) => inv.host(h)).filter((h) => !!h).map((h) => ({
        name: h.name, moref: h.ref.value, cores: h.cores, threads: h.threads, mhz: h.mhz, memoryMb: Math.round(h.memoryBytes / 2 ** 20),
        connected: h.connected, maintenance: h.maintenance,
      })),
      datastores: cl.datastores.map((r) => inv.datastore(r)).filter((d) => !!d).map((d) => ({
        name: d.name, moref: d.ref.value, type: d.type, capacityBytes: d.capacity, freeBytes: d.freeSpace, accessible: d.accessible,
      })),
    });
  }

  // NIC backings name a port group by its key (distributed) or its name (standard).
  const pgByKey = new Map<string, string>();
  for (const p of pgs) pgByKey.set(String(p.props.key ?? p.ref.value), String(p.props.name));
  for (const sw of switches) {
    report.switches.push({
      name: String(sw.props.name), moref: sw.ref.value, uuid: String(sw.props.uuid ?? ''),
      configured: !!inv.dvs && sameRef(inv.dvs.ref, sw.ref),
      members: asArray(sw.props['summary.hostMember']).map(hostName),
      portgroups: pgs.filter((p) => String(p.props.name).startsWith(PORTGROUP_PREFIX) && sameRef(p.props['config.distributedVirtualSwitch'], sw.ref))
        .map((p) => ({ name: String(p.props.name), moref: p.ref.value, networkId: String(p.props.name).slice(PORTGROUP_PREFIX.length), vlanId: vlanOf(p.props['config.defaultPortConfig']) })),
    });
  }

  for (const vm of vms) {
    const p = vm.props;
    if (p['config.template'] === true || String(p['config.template']) === 'true') continue;
    const ours = extra(p['config.extraConfig'], 'vistack.owner') === 'vistack' || sameRef(p.parent, inv.folder);
    if (!ours) continue;
    const devices = asArray(p['config.hardware.device']);
    report.vms.push({
      name: String(p.name), uuid: String(p['config.instanceUuid'] ?? p.name), moref: vm.ref.value,
      displayName: extra(p['config.extraConfig'], 'vistack.display-name') ?? '',
      powerState: String(p['runtime.powerState'] ?? ''), host: hostName(p['runtime.host']),
      cluster: inv.clusterOfHost(p['runtime.host'])?.name ?? '',
      numCpu: Number(p['config.hardware.numCPU'] ?? 0), memoryMb: Number(p['config.hardware.memoryMB'] ?? 0),
      disks: devices.filter(isDisk).map((d) => ({
        key: Number(d.key), file: String((d.backing as { fileName?: string } | undefined)?.fileName ?? ''),
        capacityBytes: d.capacityInBytes !== undefined ? Number(d.capacityInBytes) : Number(d.capacityInKB ?? 0) * 1024,
        role: diskRole(String(p['config.instanceUuid'] ?? p.name), d), volumeId: volumeIdOf(d),
      })),
      nics: devices.filter((d) => d.macAddress !== undefined || /Ethernet|E1000|Vmxnet|Pcnet|Sriov/i.test(d._type)).map((d) => {
        const b = d.backing as { _type?: string; port?: { portgroupKey?: string }; deviceName?: string; opaqueNetworkId?: string } | undefined;
        const portGroup = b?.port?.portgroupKey ? pgByKey.get(String(b.port.portgroupKey)) ?? String(b.port.portgroupKey)
          : b?.deviceName ? String(b.deviceName) : b?.opaqueNetworkId ? `opaque:${b.opaqueNetworkId}` : '';
        return { key: Number(d.key), type: nicType(d._type), macAddress: String(d.macAddress ?? ''), portGroup };
      }),
    });
  }

  report.volumes = await volumeFiles(s, vms.map((v) => ({ name: String(v.props.name), disks: asArray(v.props['config.hardware.device']).filter(isDisk) })));
  return report;
}

/** The VMDKs under every usable datastore's volumes/ folder, with the VM each is attached to. */
async function volumeFiles(s: VSphereSession, vms: Array<{ name: string; disks: VirtualDisk[] }>): Promise<VolumeFileReport[]> {
  const c = s.client;
  // By the base of each disk's backing chain: a VM snapshot puts a delta file in front of it.
  const attached = new Map<string, { vm: string; capacityBytes: number }>();
  for (const vm of vms) for (const d of vm.disks) attached.set(baseFileName(d), { vm: vm.name, capacityBytes: diskCapacityKb(d) * 1024 });
  const out: VolumeFileReport[] = [];
  for (const ds of s.inventory.datastores) {
    if (!ds.accessible) continue;
    const browser = (await get<{ browser: MoRef }>(c, ds.ref, ['browser']))?.browser;
    if (!browser) continue;
    let res: HostDatastoreBrowserSearchResults | undefined;
    try {
      res = await c.runTask<HostDatastoreBrowserSearchResults>('SearchDatastore_Task', browser, {
        datastorePath: dsPath(ds.name, 'volumes'),
        searchSpec: {
          // The disk query makes vCenter report each disk's capacity (vcsim does not).
          query: [{ _type: 'VmDiskFileQuery', details: { diskType: true, capacityKb: true, hardwareVersion: false } }],
          details: { fileType: true, fileSize: true, modification: false, fileOwner: false },
          matchPattern: ['*.vmdk'],
        },
      });
    } catch (e) {
      if (isFault(e, 'FileNotFound')) continue;
      throw e;
    }
    for (const f of asArray<FileInfo>(res?.file)) {
      if (EXTENT.test(f.path) || f._type === 'FolderFileInfo') continue;
      const path = dsPath(ds.name, `volumes/${f.path}`);
      const m = /^volume-(.+)\.vmdk$/.exec(f.path);
      out.push({
        path, datastore: ds.name, volumeId: m ? m[1]! : null,
        capacityBytes: f.capacityKb !== undefined ? Number(f.capacityKb) * 1024 : attached.get(path)?.capacityBytes ?? null,
        fileSize: f.fileSize !== undefined ? Number(f.fileSize) : null,
        attachedTo: attached.get(path)?.vm ?? null,
      });
    }
  }
  return out;
}

// ---- reading the database ------------------------------------------------------------------------

function missingTable(e: unknown) {
  return /no such table|does not exist/i.test((e as Error)?.message ?? '');
}

async function optional<T>(fn: () => Promise<T>): Promise<T | null> {
  try { return await fn(); } catch (e) {
    if (missingTable(e)) return null;
    throw e;
  }
}

/** Live servers, networks and volumes as the database has them; a table that does not exist gives null. */
export async function readDatabase(url: string): Promise<DatabaseReport> {
  const report: DatabaseReport = { url: redactUrl(url), servers: null, networks: null, volumes: null };
  if (!/^postgres(ql)?:\/\//.test(url)) {
    const file = url.replace(/^sqlite:/, '');
    // Opening a missing SQLite file would create an empty database.
    if (!existsSync(file)) { report.error = `no database at ${file}`; return report; }
  }
  let db: Database;
  try { db = await openDatabase(url); } catch (e) {
    report.error = `cannot open the database: ${(e as Error).message}`;
    return report;
  }
  try {
    report.servers = await optional(async () => (await db.all<Row>(
      'SELECT uuid, display_name, vm_state, task_state, power_state, node, host FROM instances WHERE deleted = 0 ORDER BY created_at, uuid')).map((r) => ({
      uuid: String(r.uuid), displayName: String(r.display_name ?? ''), vmState: String(r.vm_state), taskState: r.task_state ?? null,
      powerState: Number(r.power_state), node: r.node ?? null, host: r.host ?? null,
    })));
    report.networks = await optional(async () => (await db.all<Row>(
      'SELECT id, name, network_type, segmentation_id, port_group FROM neutron_networks ORDER BY id')).map((r) => ({
      id: String(r.id), name: String(r.name ?? ''), networkType: String(r.network_type), segmentationId: r.segmentation_id === null ? null : Number(r.segmentation_id),
      portGroup: r.port_group ?? null,
    })));
    report.volumes = await optional(async () => (await db.all<Row>('SELECT id, status, size, location FROM cinder_volumes ORDER BY id')).map((r) => {
      let location: { datastore?: string; path?: string } | null = null;
      try { location = r.location ? JSON.parse(String(r.location)) : null; } catch { location = null; }
      return { id: String(r.id), status: String(r.status), size: Number(r.size), location };
    }));
  } catch (e) {
    report.error = `cannot read the database: ${(e as Error).message}`;
  } finally {
    await db.close();
  }
  return report;
}

// ---- comparing -------------------------------------------------------------------------------------

const POWER: Record<string, PowerStateCode> = { poweredOn: PowerState.RUNNING, poweredOff: PowerState.SHUTDOWN, suspended: PowerState.SUSPENDED };
const POWER_NAME: Record<number, string> = { 0: 'NOSTATE', 1: 'RUNNING', 3: 'PAUSED', 4: 'SHUTDOWN', 6: 'CRASHED', 7: 'SUSPENDED' };
/** Servers that have, by design, no VM: shelved and offloaded. */
const WITHOUT_VM = new Set(['shelved_offloaded']);
/** Volume states in which the VMDK may not (yet, or any more) exist. */
const VOLUME_WITHOUT_FILE = new Set(['creating', 'error', 'deleting', 'error_deleting', 'downloading']);

export function compare(vcenters: VCenterReport[], db: DatabaseReport | null): Difference[] {
  const out: Difference[] = [];
  if (!db || db.error) return out;
  const reachable = vcenters.filter((v) => !v.error);
  const allReachable = reachable.length === vcenters.length;
  const nodeOwner = new Map<string, VCenterReport>();
  for (const v of reachable) for (const cl of v.clusters) nodeOwner.set(cl.nodename, v);
  const vmByUuid = new Map<string, { vm: VmReport; vc: VCenterReport }>();
  for (const v of reachable) for (const vm of v.vms) vmByUuid.set(vm.uuid.toLowerCase(), { vm, vc: v });

  if (db.servers) {
    const live = new Set(db.servers.map((s) => s.uuid.toLowerCase()));
    for (const s of db.servers) {
      const found = vmByUuid.get(s.uuid.toLowerCase());
      if (found) {
        const expected = POWER[found.vm.powerState];
        if (expected !== undefined && expected !== s.powerState) {
          out.push({ kind: 'power-state', vcenter: found.vc.name, id: s.uuid,
            message: `server ${s.uuid} (${s.vmState}): database power_state ${s.powerState} (${POWER_NAME[s.powerState] ?? '?'}), VM ${found.vm.powerState} on ${found.vc.name}` });
        }
        continue;
      }
      if (WITHOUT_VM.has(s.vmState)) continue;
      const owner = s.node ? nodeOwner.get(s.node) : undefined;
      if (owner) {
        out.push({ kind: 'server-without-vm', vcenter: owner.name, id: s.uuid,
          message: `server ${s.uuid} "${s.displayName}" (${s.vmState}${s.taskState ? `/${s.taskState}` : ''}) on node ${s.node} has no VM on ${owner.name}` });
      } else if (s.node && allReachable) {
        out.push({ kind: 'server-on-unknown-node', id: s.uuid,
          message: `server ${s.uuid} "${s.displayName}" (${s.vmState}) is on node ${s.node}, which is no cluster of the configured vCenters` });
      }
    }
    for (const v of reachable) {
      for (const vm of v.vms) {
        if (!live.has(vm.uuid.toLowerCase())) {
          out.push({ kind: 'vm-without-server', vcenter: v.name, id: vm.uuid, message: `VM ${vm.name} (${vm.moref}, ${vm.powerState}) on ${v.name} has no server` });
        }
      }
    }
  }

  if (db.networks) {
    const ids = new Set(db.networks.map((n) => n.id));
    for (const v of reachable) {
      const names = new Set(v.switches.flatMap((sw) => sw.portgroups.map((p) => p.name)));
      for (const sw of v.switches) {
        for (const pg of sw.portgroups) {
          if (!ids.has(pg.networkId)) out.push({ kind: 'portgroup-without-network', vcenter: v.name, id: pg.name, message: `port group ${pg.name} (${pg.moref}) on ${sw.name} of ${v.name} has no network` });
        }
      }
      for (const n of db.networks) {
        if (n.portGroup && n.portGroup.startsWith(PORTGROUP_PREFIX) && !names.has(n.portGroup)) {
          out.push({ kind: 'network-without-portgroup', vcenter: v.name, id: n.id, message: `network ${n.id} "${n.name}" has no port group ${n.portGroup} on ${v.name}` });
        }
      }
    }
  }

  if (db.volumes) {
    const byId = new Map(db.volumes.map((x) => [x.id, x]));
    const files = new Set<string>();
    for (const v of reachable) {
      for (const f of v.volumes) {
        files.add(f.path);
        if (f.volumeId && !byId.has(f.volumeId)) out.push({ kind: 'vmdk-without-volume', vcenter: v.name, id: f.path, message: `${f.path} on ${v.name} has no volume${f.attachedTo ? ` (attached to VM ${f.attachedTo})` : ''}` });
      }
    }
    const datastores = new Map<string, VCenterReport>();
    for (const v of reachable) for (const cl of v.clusters) for (const d of cl.datastores) datastores.set(d.name, v);
    for (const vol of db.volumes) {
      const path = vol.location?.path;
      if (!path || VOLUME_WITHOUT_FILE.has(vol.status) || !/\] volumes\//.test(path)) continue;
      const owner = vol.location?.datastore ? datastores.get(vol.location.datastore) : undefined;
      if (owner && !files.has(path)) out.push({ kind: 'volume-without-vmdk', vcenter: owner.name, id: vol.id, message: `volume ${vol.id} (${vol.status}) has no VMDK ${path} on ${owner.name}` });
    }
  }
  return out;
}

// ---- text ------------------------------------------------------------------------------------------

const gib = (b: number) => `${(b / GiB).toFixed(b < 10 * GiB ? 2 : 0)} GiB`;

export function formatReport(r: InventoryReport): string {
  const out: string[] = [];
  for (const v of r.vcenters) {
    out.push(`vCenter ${v.name}  ${v.url}`);
    if (v.error) { out.push(`  UNREACHABLE: ${v.error}`); continue; }
    const a = v.about!;
    out.push(`  ${a.fullName || `vCenter ${a.version} build ${a.build}`}, API ${a.apiVersion}, instance uuid ${a.instanceUuid}`);
    out.push(`  Datacenter ${v.datacenter!.name} (${v.datacenter!.moref})`);
    for (const c of v.clusters) {
      out.push(`  Cluster ${c.name} (${c.moref})  compute host ${c.computeHost}  nodename ${c.nodename}`);
      for (const h of c.hosts) {
        out.push(`    Host ${h.name} (${h.moref})  ${h.cores} cores / ${h.threads} threads @ ${h.mhz} MHz, ${(h.memoryMb / 1024).toFixed(1)} GiB  ${h.connected ? 'connected' : 'NOT CONNECTED'}${h.maintenance ? ', in maintenance' : ''}`);
      }
      for (const d of c.datastores) {
        out.push(`    Datastore ${d.name} (${d.moref}, ${d.type})  capacity ${gib(d.capacityBytes)}, free ${gib(d.freeBytes)}${d.accessible ? '' : '  NOT ACCESSIBLE'}`);
      }
    }
    for (const s of v.switches) {
      out.push(`  Switch ${s.name} (${s.moref})${s.configured ? '  [configured for networks]' : ''}  members: ${s.members.length ? s.members.join(', ') : 'none'}`);
      for (const p of s.portgroups) out.push(`    Port group ${p.name} (${p.moref})  VLAN ${p.vlanId ?? 'trunk/other'}`);
    }
    out.push(`  Vistack VMs: ${v.vms.length}`);
    for (const vm of v.vms) {
      out.push(`    ${vm.name} "${vm.displayName}" ${vm.powerState}  host ${vm.host || '-'}  ${vm.numCpu} vCPU ${vm.memoryMb} MB  (${vm.moref})`);
      for (const d of vm.disks) out.push(`      disk ${d.key} ${d.file} ${gib(d.capacityBytes)}`);
      for (const n of vm.nics) out.push(`      nic ${n.key} ${n.type} ${n.macAddress} -> ${n.portGroup || '-'}`);
    }
    out.push(`  Volume VMDKs: ${v.volumes.length}`);
    for (const f of v.volumes) {
      const size = f.capacityBytes !== null ? gib(f.capacityBytes) : f.fileSize !== null ? `${f.fileSize} bytes on disk` : 'size not reported';
      out.push(`    ${f.path}  ${size}${f.attachedTo ? `  attached to ${f.attachedTo}` : ''}`);
    }
  }
  const db = r.database;
  if (db) {
    out.push(`Database ${db.url}`);
    if (db.error) out.push(`  ${db.error}`);
    if (db.servers) {
      out.push(`  Servers: ${db.servers.length}`);
      for (const s of db.servers) {
        out.push(`    ${s.uuid} "${s.displayName}" vm_state ${s.vmState}${s.taskState ? `/${s.taskState}` : ''} power_state ${s.powerState} (${POWER_NAME[s.powerState] ?? '?'})  node ${s.node ?? '-'}`);
      }
    } else if (!db.error) out.push('  no instances table');
    if (db.networks) out.push(`  Networks: ${db.networks.length}`);
    if (db.volumes) out.push(`  Volumes: ${db.volumes.length}`);
    out.push(`Differences: ${r.differences.length ? r.differences.length : 'none'}`);
    for (const d of r.differences) out.push(`  [${d.kind}] ${d.message}`);
  }
  return out.join('\n');
}

// ---- the command -----------------------------------------------------------------------------------

/** Reads every vCenter (in parallel) and, unless databaseUrl is null, the database, and compares. */
export async function inventoryReport(configs: VCenterConfig[], databaseUrl: string | null): Promise<InventoryReport> {
  const sessions = configs.map((c) => new VSphereSession(c));
  try {
    const [vcenters, database] = await Promise.all([
      Promise.all(sessions.map((s) => readVcenter(s).catch((e: Error) => ({
        name: s.config.name, url: redactUrl(s.config.url), clusters: [], switches: [], vms: [], volumes: [], error: e.message,
      } as VCenterReport)))),
      databaseUrl === null ? Promise.resolve(null) : readDatabase(databaseUrl),
    ]);
    return { vcenters, database, differences: compare(vcenters, database) };
  } finally {
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  }
}

interface Parsed { flags: Record<string, string | true>; rest: string[] }

function parse(args: string[], valued: string[], allowed: string[]): Parsed {
  const flags: Record<string, string | true> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) { rest.push(a); continue; }
    const eq = a.indexOf('=');
    const k = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const v = eq < 0 ? undefined : a.slice(eq + 1);
    if (!allowed.includes(k)) throw new Error(`unknown option --${k}`);
    if (valued.includes(k)) {
      const val = v ?? args[++i];
      if (val === undefined || val === '') throw new Error(`--${k} needs a value`);
      flags[k] = val;
    } else {
      if (v !== undefined) throw new Error(`--${k} takes no value`);
      flags[k] = true;
    }
  }
  return { flags, rest };
}

/** The configured vCenters (VISTACK_VSPHERE_* or the config file, as the driver reads them). */
async function configuredVcenters(env: NodeJS.ProcessEnv): Promise<VCenterConfig[]> {
  const { loadVsphereConfig } = await import('./config.ts') as { loadVsphereConfig(env: NodeJS.ProcessEnv): unknown };
  const cfg = loadVsphereConfig(env) as VCenterConfig[] | { vcenters?: VCenterConfig[] } | null | undefined;
  const list = Array.isArray(cfg) ? cfg : cfg?.vcenters ?? [];
  if (!list.length) throw new Error('no vCenter is configured (set VISTACK_VSPHERE_URL or the vSphere configuration file)');
  return list;
}

export const VSPHERE_COMMANDS: Record<string, Command> = {
  'vsphere-inventory': {
    help: 'show what each configured vCenter has for this cloud and what the database believes, with the differences [--json] [--database URL | --no-database]',
    async run(args) {
      const p = parse(args, ['database'], ['json', 'database', 'no-database']);
      if (p.rest.length) throw new Error(`unexpected argument ${p.rest[0]}`);
      if (p.flags.database && p.flags['no-database']) throw new Error('--database and --no-database exclude each other');
      const databaseUrl = p.flags['no-database'] ? null : typeof p.flags.database === 'string' ? p.flags.database : loadConfig().databaseUrl;
      const report = await inventoryReport(await configuredVcenters(process.env), databaseUrl);
      console.log(p.flags.json ? JSON.stringify(report, null, 2) : formatReport(report));
      if (report.vcenters.some((v) => v.error)) process.exitCode = 1;
    },
  },
};
