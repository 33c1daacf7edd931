// What one vCenter offers this cloud, discovered at start and refreshed on demand: the
// datacenter, the clusters that are Nova compute nodes (with their resource pool, hosts and
// datastores), the datastores usable for instances, volumes and images, the distributed switch
// for networks, and Vistack's VM folder (created when missing). Morefs are kept as the server
// gave them (vcsim's datastore ids are paths, its switch type is DistributedVirtualSwitch).
import type { VCenterConfig } from './config.ts';
import { VimFault, isFault, type VimClient } from './vim/client.ts';
import { get, listObjects } from './vim/props.ts';
import type { ComputeResourceSummary, DatastoreHostMount, DatastoreSummary, HostListSummary, MoRef } from './vim/types.ts';
import { sameRef } from './vim/types.ts';
import { asArray } from './vim/xml.ts';

export interface DatacenterInfo {
  ref: MoRef; name: string; vmFolder: MoRef; hostFolder: MoRef; datastoreFolder: MoRef; networkFolder: MoRef;
}

export interface HostInfo {
  ref: MoRef; name: string; cluster: MoRef | null; cores: number; threads: number; sockets: number; mhz: number;
  memoryBytes: number; cpuModel: string; connected: boolean; maintenance: boolean;
}

export interface ClusterInfo {
  ref: MoRef; name: string;
  /** Nova's service host for this cluster (configured, or derived from the name). */
  computeHost: string;
  /** hypervisor_hostname: "<cluster moref>.<vCenter instance uuid>", stable across restarts. */
  nodename: string;
  resourcePool: MoRef;
  hosts: MoRef[];
  /** The cluster's datastores that match the configured regex. */
  datastores: MoRef[];
}

export interface DatastoreInfo {
  ref: MoRef; name: string; url: string; type: string; capacity: number; freeSpace: number;
  uncommitted: number; accessible: boolean; hosts: MoRef[];
}

export interface PortgroupInfo { ref: MoRef; name: string; key: string; switchUuid: string }

export interface SwitchInfo { ref: MoRef; name: string; uuid: string; hosts: MoRef[] }

type DcProps = { name: string; vmFolder: MoRef; hostFolder: MoRef; datastoreFolder: MoRef; networkFolder: MoRef };
type ClusterProps = { name: string; resourcePool: MoRef; host: MoRef[]; datastore: MoRef[]; summary: ComputeResourceSummary };
type HostProps = { name: string; parent: MoRef; summary: HostListSummary };
type DsProps = { summary: DatastoreSummary; host: DatastoreHostMount[] };
type PgProps = { name: string; key: string; 'config.distributedVirtualSwitch': MoRef };
type DvsProps = { name: string; uuid: string; summary: { hostMember?: MoRef[] } };

/** "Cluster 1" → "cluster-1": a Nova service host name. */
export function computeHostName(clusterName: string): string {
  return clusterName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'cluster';
}

export class Inventory {
  readonly client: VimClient;
  readonly config: VCenterConfig;
  datacenter!: DatacenterInfo;
  /** Vistack's VM folder. */
  folder!: MoRef;
  clusters: ClusterInfo[] = [];
  hosts: HostInfo[] = [];
  datastores: DatastoreInfo[] = [];
  dvs: SwitchInfo | null = null;
  private readonly dsRegex: RegExp | null;

  constructor(client: VimClient, config: VCenterConfig) {
    this.client = client;
    this.config = config;
    this.dsRegex = config.datastoreRegex ? new RegExp(config.datastoreRegex) : null;
  }

  /** Reads everything again (cheap: five property reads). */
  async refresh(): Promise<void> {
    const c = this.client;
    const dcs = await listObjects<DcProps>(c, c.content.rootFolder, 'Datacenter', ['name', 'vmFolder', 'hostFolder', 'datastoreFolder', 'networkFolder']);
    const dc = this.config.datacenter ? dcs.find((d) => d.props.name === this.config.datacenter) : dcs[0];
    if (!dc) throw new VimFault('NotFound', this.config.datacenter ? `vCenter ${this.config.name} has no datacenter "${this.config.datacenter}"` : `vCenter ${this.config.name} has no datacenter`);
    const p = dc.props as DcProps;
    this.datacenter = { ref: dc.ref, name: p.name, vmFolder: p.vmFolder, hostFolder: p.hostFolder, datastoreFolder: p.datastoreFolder, networkFolder: p.networkFolder };

    const [clusters, hosts, dss, switches] = await Promise.all([
      listObjects<ClusterProps>(c, dc.ref, 'ClusterComputeResource', ['name', 'resourcePool', 'host', 'datastore', 'summary']),
      listObjects<HostProps>(c, dc.ref, 'HostSystem', ['name', 'parent', 'summary']),
      listObjects<DsProps>(c, dc.ref, 'Datastore', ['summary', 'host']),
      listObjects<DvsProps>(c, dc.ref, 'DistributedVirtualSwitch', ['name', 'uuid', 'summary']),
    ]);

    this.datastores = dss.filter((d) => d.props.summary && (!this.dsRegex || this.dsRegex.test(d.props.summary.name))).map((d) => {
      const s = d.props.summary!;
      return {
        ref: d.ref, name: s.name, url: s.url, type: s.type, capacity: Number(s.capacity), freeSpace: Number(s.freeSpace),
        uncommitted: Number(s.uncommitted ?? 0), accessible: s.accessible !== false,
        hosts: asArray(d.props.host).map((m) => m.key),
      };
    });

    this.hosts = hosts.map((h) => {
      const s = h.props.summary ?? {};
      const hw = s.hardware;
      return {
        ref: h.ref, name: String(h.props.name), cluster: h.props.parent?.type === 'ClusterComputeResource' ? h.props.parent : null,
        cores: Number(hw?.numCpuCores ?? 0), threads: Number(hw?.numCpuThreads ?? 0), sockets: Number(hw?.numCpuPkgs ?? 0),
        mhz: Number(hw?.cpuMhz ?? 0), memoryBytes: Number(hw?.memorySize ?? 0), cpuModel: String(hw?.cpuModel ?? ''),
        connected: (s.runtime?.connectionState ?? 'connected') === 'connected', maintenance: s.runtime?.inMaintenanceMode === true,
      };
    });

    const wanted = this.config.clusters;
    const found = clusters.filter((cl) => !wanted || wanted.some((w) => w.name === cl.props.name));
    if (wanted) {
      const missing = wanted.filter((w) => !clusters.some((cl) => cl.props.name === w.name)).map((w) => w.name);
      if (missing.length) throw new VimFault('NotFound', `vCenter ${this.config.name}: no cluster named ${missing.join(', ')} in datacenter ${p.name}`);
    }
    this.clusters = found.map((cl) => {
      const name = String(cl.props.name);
      const dsRefs = asArray(cl.props.datastore).filter((r) => this.datastores.some((d) => sameRef(d.ref, r)));
      return {
        ref: cl.ref, name,
        computeHost: wanted?.find((w) => w.name === name)?.computeHost ?? computeHostName(name),
        nodename: `${cl.ref.value}.${this.client.instanceUuid}`,
        resourcePool: cl.props.resourcePool!,
        hosts: asArray(cl.props.host),
        datastores: dsRefs,
      };
    });

    const sw = this.config.switch ? switches.find((s) => s.props.name === this.config.switch) : switches[0];
    if (this.config.switch && !sw) throw new VimFault('NotFound', `vCenter ${this.config.name}: no distributed switch named "${this.config.switch}"`);
    this.dvs = sw ? { ref: sw.ref, name: String(sw.props.name), uuid: String(sw.props.uuid), hosts: asArray(sw.props.summary?.hostMember) } : null;

    this.folder = await this.ensureFolder();
  }

  /** Vistack's VM folder under the datacenter's vmFolder, created once. */
  private async ensureFolder(): Promise<MoRef> {
    const c = this.client;
    const existing = await c.call<MoRef | undefined>('FindChild', c.content.searchIndex!, { entity: this.datacenter.vmFolder, name: this.config.folder });
    if (existing) return existing;
    try {
      return await c.call<MoRef>('CreateFolder', this.datacenter.vmFolder, { name: this.config.folder });
    } catch (e) {
      if (!isFault(e, 'DuplicateName')) throw e;
      const again = await c.call<MoRef | undefined>('FindChild', c.content.searchIndex!, { entity: this.datacenter.vmFolder, name: this.config.folder });
      if (!again) throw e;
      return again;
    }
  }

  // ---- lookups ---------------------------------------------------------------------------

  clusterByNodename(nodename: string): ClusterInfo | undefined { return this.clusters.find((c) => c.nodename === nodename); }
  clusterByRef(ref: MoRef | undefined): ClusterInfo | undefined { return ref ? this.clusters.find((c) => sameRef(c.ref, ref)) : undefined; }
  clusterOfHost(host: MoRef | undefined): ClusterInfo | undefined { return host ? this.clusters.find((c) => c.hosts.some((h) => sameRef(h, host))) : undefined; }
  host(ref: MoRef | undefined): HostInfo | undefined { return ref ? this.hosts.find((h) => sameRef(h.ref, ref)) : undefined; }
  datastore(ref: MoRef | undefined): DatastoreInfo | undefined { return ref ? this.datastores.find((d) => sameRef(d.ref, ref)) : undefined; }
  datastoreByName(name: string): DatastoreInfo | undefined { return this.datastores.find((d) => d.name === name); }

  /** The datastores of a cluster, most free space first (Nova's and Cinder's choice). */
  datastoresOf(cluster: ClusterInfo): DatastoreInfo[] {
    return cluster.datastores.map((r) => this.datastore(r)).filter((d): d is DatastoreInfo => !!d && d.accessible).sort((a, b) => b.freeSpace - a.freeSpace);
  }

  /** The cluster's datastore with the most free space that can take `bytes`; NoDiskSpace otherwise. */
  pickDatastore(cluster: ClusterInfo, bytes: number): DatastoreInfo {
    const ds = this.datastoresOf(cluster).find((d) => d.freeSpace >= bytes);
    if (!ds) throw new VimFault('NoDiskSpace', `No datastore of cluster ${cluster.name} has ${Math.ceil(bytes / 2 ** 30)} GiB free`);
    return ds;
  }

  /** Fresh free space of one datastore (after large writes). */
  async refreshDatastore(ds: DatastoreInfo): Promise<DatastoreInfo> {
    const p = await get<{ summary: DatastoreSummary }>(this.client, ds.ref, ['summary']);
    if (p?.summary) { ds.capacity = Number(p.summary.capacity); ds.freeSpace = Number(p.summary.freeSpace); ds.uncommitted = Number(p.summary.uncommitted ?? 0); }
    return ds;
  }

  /** A distributed port group by name: what a NIC's DV port backing needs. */
  async portgroup(name: string): Promise<PortgroupInfo | null> {
    const pgs = await listObjects<PgProps>(this.client, this.datacenter.networkFolder, 'DistributedVirtualPortgroup', ['name', 'key', 'config.distributedVirtualSwitch']);
    const pg = pgs.find((x) => x.props.name === name);
    if (!pg) return null;
    const sw = pg.props['config.distributedVirtualSwitch'];
    const uuid = sw && this.dvs && sameRef(sw, this.dvs.ref) ? this.dvs.uuid : sw ? String((await get<{ uuid: string }>(this.client, sw, ['uuid']))?.uuid ?? '') : '';
    return { ref: pg.ref, name, key: String(pg.props.key), switchUuid: uuid };
  }
}
