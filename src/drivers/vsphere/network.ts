// Neutron's backend on real vCenters, as VIO's DVS plugin: one distributed port group per
// network, named "vistack-net-<network id>", carrying the VLAN id of the network's segment (0 for
// flat and overlay networks, which NSX-T would realise as opaque networks instead). With several
// vCenters the port group exists on every vCenter's configured switch (VIO: one DVS per vCenter),
// so an instance on any cluster can be plugged into any network. Before a port group is of use,
// every host of every configured cluster must be a member of the switch (vCenter refuses a NIC
// on a port group its host cannot reach): ensureNetwork adds the missing ones.
import type { NetworkBacking, NetworkDriver, NetworkSegment } from '../../core/virt.ts';
import { Mutex } from '../../core/mutex.ts';
import type { VSphereSession } from './session.ts';
import { VimFault, isFault } from './vim/client.ts';
import { get, getMany, listObjects } from './vim/props.ts';
import type { MoRef } from './vim/types.ts';
import { sameRef } from './vim/types.ts';
import { asArray, type Decoded } from './vim/xml.ts';

const PREFIX = 'vistack-net-';
export const PORTGROUP_PREFIX = PREFIX;
/** Ports made with a new port group; vCenter adds more as NICs connect (autoExpand). */
const INITIAL_PORTS = 8;

export function portGroupName(networkId: string) { return `${PREFIX}${networkId}`; }

/** VmwareDistributedVirtualSwitchVlanSpec and its subtypes, as read back. */
export interface VlanSpec { _type?: string; inherited?: boolean; vlanId?: number | unknown[]; pvlanId?: number }
export interface VMwareDVSPortSetting { _type?: string; vlan?: VlanSpec }

type PgProps = {
  name: string; key: string; vm: MoRef[];
  'config.distributedVirtualSwitch': MoRef; 'config.defaultPortConfig': VMwareDVSPortSetting;
};
type PgConfigProps = {
  name: string; 'config.configVersion': string; 'config.numPorts': number; 'config.type': string;
  'config.autoExpand': boolean; 'config.policy': Decoded;
};
type NsxPgProps = { name: string; key: string; 'config.backingType': string; 'config.logicalSwitchUuid': string; 'config.segmentId': string };
type OpaqueProps = { name: string; summary: { opaqueNetworkId?: string; opaqueNetworkType?: string } };

interface Portgroup { ref: MoRef; name: string; key: string; switch?: MoRef; vlanId: number | null; vms: MoRef[] }

/** An NSX logical switch (segment) a vCenter shows: an OpaqueNetwork or an NSX-backed port group. */
export interface OpaqueNetworkInfo {
  /** The NSX logical switch uuid (OpaqueNetwork summary.opaqueNetworkId, or the port group's logicalSwitchUuid). */
  id: string;
  name: string;
  /** summary.opaqueNetworkType, e.g. 'nsx.LogicalSwitch'; NSX port groups report 'nsx.LogicalSwitch' too. */
  type: string;
  backing: 'OpaqueNetwork' | 'DistributedVirtualPortgroup';
  /** The object's moref value. */
  key: string;
  /** The NSX-T segment path of an NSX port group, when vCenter has one. */
  segmentId?: string;
  /** The configured name of the vCenter it was found on. */
  vcenter: string;
}

const PG_PATHS: (keyof PgProps)[] = ['name', 'key', 'vm', 'config.distributedVirtualSwitch', 'config.defaultPortConfig'];

/** The VLAN id of a port group with a single VLAN (VlanIdSpec); null for trunk or private VLANs. */
export function vlanOf(setting: VMwareDVSPortSetting | undefined): number | null {
  const v = setting?.vlan;
  if (!v || v._type !== 'VmwareDistributedVirtualSwitchVlanIdSpec') return null;
  const n = Number(v.vlanId ?? 0);
  return Number.isInteger(n) ? n : null;
}

function toPortgroup(r: { ref: MoRef; props: Partial<PgProps> }): Portgroup {
  const p = r.props;
  return {
    ref: r.ref, name: String(p.name), key: String(p.key ?? r.ref.value), vlanId: vlanOf(p['config.defaultPortConfig']), vms: asArray(p.vm),
    ...(p['config.distributedVirtualSwitch'] ? { switch: p['config.distributedVirtualSwitch'] } : {}),
  };
}

function vlanSpec(vlanId: number) {
  return { _type: 'VMwareDVSPortSetting', vlan: { _type: 'VmwareDistributedVirtualSwitchVlanIdSpec', inherited: false, vlanId } };
}

/** The VLAN a segment's port group carries: the segmentation id for VLAN networks, 0 otherwise. */
export function segmentVlan(segment: NetworkSegment): number {
  if (segment.networkType !== 'vlan') return 0;
  const id = segment.segmentationId ?? 0;
  if (!Number.isInteger(id) || id < 0 || id > 4094) {
    throw new VimFault('InvalidArgument', `Network ${segment.networkId}: VLAN id ${segment.segmentationId} is not in 0-4094`);
  }
  return id;
}

export class VSphereNetworkDriver implements NetworkDriver {
  readonly name = 'vsphere';
  private readonly sessions: VSphereSession[];
  /** Switch membership changes of one vCenter, one at a time (each needs the current configVersion). */
  private readonly memberLocks = new Map<VSphereSession, Mutex>();

  constructor(sessions: VSphereSession[]) {
    if (!sessions.length) throw new Error('VSphereNetworkDriver needs at least one vCenter session');
    this.sessions = sessions;
  }

  async ensureNetwork(segment: NetworkSegment): Promise<NetworkBacking> {
    if (!segment?.networkId || typeof segment.networkId !== 'string') throw new VimFault('InvalidArgument', 'ensureNetwork: the segment has no network id');
    const name = portGroupName(segment.networkId);
    const vlanId = segmentVlan(segment);
    const pgs = await Promise.all(this.sessions.map((s) => this.ensureOn(s, name, vlanId)));
    const first = pgs[0]!;
    return { networkId: segment.networkId, portGroup: name, key: first.ref.value, vlanId: first.vlanId ?? vlanId };
  }

  async deleteNetwork(networkId: string): Promise<void> {
    if (!networkId || typeof networkId !== 'string') throw new VimFault('InvalidArgument', 'deleteNetwork: no network id');
    const name = portGroupName(networkId);
    await Promise.all(this.sessions.map((s) => this.deleteOn(s, name)));
  }

  async listNetworks(): Promise<NetworkBacking[]> {
    const per = await Promise.all(this.sessions.map((s) => this.portgroups(s)));
    const out = new Map<string, NetworkBacking>();
    for (const pgs of per) {
      for (const pg of pgs) {
        if (!pg.name.startsWith(PREFIX)) continue;
        const networkId = pg.name.slice(PREFIX.length);
        // The first vCenter's port group stands for the network (as ensureNetwork returns it).
        if (!out.has(networkId)) out.set(networkId, { networkId, portGroup: pg.name, key: pg.ref.value, vlanId: pg.vlanId ?? 0 });
      }
    }
    return [...out.values()];
  }

  /**
   * The NSX logical switches every vCenter shows (OpaqueNetwork objects of NSX-T's N-VDS, and
   * NSX-backed distributed port groups of a VDS 7 with NSX), for an NSX-T backend later.
   */
  async listOpaqueNetworks(): Promise<OpaqueNetworkInfo[]> {
    const per = await Promise.all(this.sessions.map(async (s) => {
      await s.open();
      const dc = s.inventory.datacenter;
      const [opaque, pgs] = await Promise.all([
        listObjects<OpaqueProps>(s.client, dc.networkFolder, 'OpaqueNetwork', ['name', 'summary']),
        listObjects<NsxPgProps>(s.client, dc.networkFolder, 'DistributedVirtualPortgroup',
          ['name', 'key', 'config.backingType', 'config.logicalSwitchUuid', 'config.segmentId']),
      ]);
      const out: OpaqueNetworkInfo[] = [];
      for (const o of opaque) {
        const sum = o.props.summary ?? {};
        out.push({
          id: String(sum.opaqueNetworkId ?? ''), name: String(o.props.name), type: String(sum.opaqueNetworkType ?? ''),
          backing: 'OpaqueNetwork', key: o.ref.value, vcenter: s.config.name,
        });
      }
      for (const p of pgs) {
        const ls = p.props['config.logicalSwitchUuid'];
        if (p.props['config.backingType'] !== 'nsx' && !ls) continue;
        const seg = p.props['config.segmentId'];
        out.push({
          id: String(ls ?? ''), name: String(p.props.name), type: 'nsx.LogicalSwitch', backing: 'DistributedVirtualPortgroup',
          key: p.ref.value, vcenter: s.config.name, ...(seg ? { segmentId: String(seg) } : {}),
        });
      }
      return out;
    }));
    return per.flat();
  }

  // ---- one vCenter -------------------------------------------------------------------------

  private switchOf(s: VSphereSession): MoRef {
    const dvs = s.inventory.dvs;
    if (!dvs) throw new VimFault('NotFound', `vCenter ${s.config.name} has no distributed switch${s.config.switch ? ` named "${s.config.switch}"` : ''} for networks`);
    return dvs.ref;
  }

  private async ensureOn(s: VSphereSession, name: string, vlanId: number): Promise<Portgroup> {
    await s.open();
    const dvs = this.switchOf(s);
    await this.ensureMembers(s, dvs);
    let pg = await this.portgroup(s, name);
    if (!pg) {
      try {
        await s.client.runTask('AddDVPortgroup_Task', dvs, {
          spec: [{ name, numPorts: INITIAL_PORTS, defaultPortConfig: vlanSpec(vlanId), type: 'earlyBinding', autoExpand: true }],
        });
      } catch (e) {
        // Made meanwhile by another call (or by an earlier attempt whose answer was lost).
        if (!isFault(e, 'DuplicateName')) throw e;
      }
      pg = await this.portgroup(s, name);
      if (!pg) throw new VimFault('NotFound', `vCenter ${s.config.name}: port group ${name} was added but cannot be read back`);
    }
    if (pg.switch && !sameRef(pg.switch, dvs)) {
      throw new VimFault('DuplicateName', `vCenter ${s.config.name}: port group ${name} exists on switch ${pg.switch.value}, not on the configured switch ${s.inventory.dvs!.name}`);
    }
    if (pg.vlanId !== vlanId) pg = await this.reconfigure(s, pg, vlanId);
    return pg;
  }

  /** Adds every connected host of the configured clusters that is not yet a member of the switch. */
  private ensureMembers(s: VSphereSession, dvs: MoRef): Promise<void> {
    let lock = this.memberLocks.get(s);
    if (!lock) this.memberLocks.set(s, lock = new Mutex());
    return lock.run(async () => {
      const inv = s.inventory;
      // The clusters' hosts read now, not at discovery: a host added to a cluster since must
      // join too, or vCenter refuses NICs of that cluster on the switch's port groups.
      const fresh = await getMany<{ host: MoRef[] }>(s.client, inv.clusters.map((c) => c.ref), ['host']);
      const hosts = fresh.flatMap((c) => asArray(c.props.host));
      // A disconnected host cannot join (vCenter fails the whole reconfiguration); it joins at a
      // later call once it is back.
      const wanted = hosts.filter((h) => inv.host(h)?.connected !== false);
      for (let attempt = 0; ; attempt++) {
        const p = await get<{ 'summary.hostMember': MoRef[]; 'config.configVersion': string }>(s.client, dvs, ['summary.hostMember', 'config.configVersion']);
        if (!p) throw new VimFault('ManagedObjectNotFound', `vCenter ${s.config.name}: the distributed switch ${dvs.value} no longer exists`);
        const members = asArray(p['summary.hostMember']);
        if (inv.dvs) inv.dvs.hosts = members;
        const missing = wanted.filter((h) => !members.some((m) => sameRef(m, h)));
        if (!missing.length) return;
        const version = p['config.configVersion'] ? String(p['config.configVersion']) : undefined;
        try {
          await s.client.runTask('ReconfigureDvs_Task', dvs, {
            spec: {
              _type: 'DVSConfigSpec', configVersion: version,
              host: missing.map((host) => ({ operation: 'add', host, backing: { _type: 'DistributedVirtualSwitchHostMemberPnicBacking' } })),
            },
          });
        } catch (e) {
          // Someone else changed the switch meanwhile (its configVersion moved on, or the host
          // joined): read again and add what is still missing.
          if (attempt < 3 && isFault(e, 'AlreadyExists', 'ConcurrentAccess', 'InvalidRequest')) continue;
          throw e;
        }
      }
    });
  }

  private async portgroups(s: VSphereSession): Promise<Portgroup[]> {
    await s.open();
    const rs = await listObjects<PgProps>(s.client, s.inventory.datacenter.networkFolder, 'DistributedVirtualPortgroup', PG_PATHS);
    return rs.map(toPortgroup);
  }

  private async portgroup(s: VSphereSession, name: string): Promise<Portgroup | null> {
    return (await this.portgroups(s)).find((p) => p.name === name) ?? null;
  }

  /**
   * ReconfigureDVPortgroup_Task to the wanted VLAN. The spec repeats the settings it does not
   * change (vcsim replaces the whole configuration with the spec; vCenter merges it) and carries
   * the current configVersion (vCenter refuses a stale one with ConcurrentAccess).
   */
  private async reconfigure(s: VSphereSession, pg: Portgroup, vlanId: number): Promise<Portgroup> {
    for (let attempt = 0; ; attempt++) {
      const c = await get<PgConfigProps>(s.client, pg.ref, ['name', 'config.configVersion', 'config.numPorts', 'config.type', 'config.autoExpand', 'config.policy']);
      if (!c) throw new VimFault('NotFound', `vCenter ${s.config.name}: port group ${pg.name} disappeared while its VLAN was being changed`);
      const version = c['config.configVersion'] ? String(c['config.configVersion']) : undefined;
      const numPorts = Number(c['config.numPorts'] ?? 0);
      try {
        await s.client.runTask('ReconfigureDVPortgroup_Task', pg.ref, {
          spec: {
            configVersion: version, name: c.name ?? pg.name,
            numPorts: numPorts > 0 ? numPorts : INITIAL_PORTS,
            defaultPortConfig: vlanSpec(vlanId),
            type: c['config.type'] || 'earlyBinding',
            policy: c['config.policy'],
            autoExpand: c['config.autoExpand'] === undefined ? true : String(c['config.autoExpand']) === 'true',
          },
        });
      } catch (e) {
        if (attempt < 3 && isFault(e, 'ConcurrentAccess')) continue;
        throw e;
      }
      const again = await this.portgroup(s, pg.name);
      if (!again) throw new VimFault('NotFound', `vCenter ${s.config.name}: port group ${pg.name} disappeared while its VLAN was being changed`);
      if (again.vlanId !== vlanId) throw new VimFault('SystemError', `vCenter ${s.config.name}: port group ${pg.name} still has VLAN ${again.vlanId} after reconfiguring it to ${vlanId}`);
      return again;
    }
  }

  private async deleteOn(s: VSphereSession, name: string): Promise<void> {
    const pg = await this.portgroup(s, name);
    if (!pg) return;
    const users = await this.users(s, pg);
    if (users.length) {
      throw new VimFault('ResourceInUse', `vCenter ${s.config.name}: port group ${name} is in use by VM ${users.join(', ')}`);
    }
    try {
      await s.client.runTask('Destroy_Task', pg.ref);
    } catch (e) {
      if (!isFault(e, 'ManagedObjectNotFound', 'NotFound')) throw e;
    }
  }

  /**
   * Names of the VMs with a NIC on the port group. vCenter lists them in the port group's `vm`
   * (and refuses the Destroy_Task with ResourceInUse); vcsim does neither, but keeps each VM's
   * `network`, so both are read.
   */
  private async users(s: VSphereSession, pg: Portgroup): Promise<string[]> {
    const vms = await listObjects<{ name: string; network: MoRef[] }>(s.client, s.inventory.datacenter.ref, 'VirtualMachine', ['name', 'network']);
    const names = new Set<string>();
    for (const vm of vms) {
      if (pg.vms.some((r) => sameRef(r, vm.ref)) || asArray(vm.props.network).some((n) => sameRef(n, pg.ref))) names.add(String(vm.props.name));
    }
    return [...names];
  }
}
