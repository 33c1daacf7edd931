// The virtualization driver seam, in the spirit of Nova's ComputeDriver. Nova's compute tasks
// call only this; the embedded vSphere simulator (src/drivers/simulator) implements it today, a
// real vCenter driver over the vim25 SOAP API (src/drivers/vsphere) comes later. Every call is
// idempotent where Nova needs it to be: spawn of an existing VM with the same uuid succeeds,
// destroy of a missing VM succeeds, power actions that are already in effect succeed.
import type { Readable } from 'node:stream';

/** Nova's power_state codes. */
export const PowerState = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, CRASHED: 6, SUSPENDED: 7 } as const;
export type PowerStateCode = (typeof PowerState)[keyof typeof PowerState];

/** A compute node: in VIO each vCenter cluster is one Nova compute node. */
export interface ComputeNodeInfo {
  /** hypervisor_hostname, stable across restarts, e.g. "domain-c8.<vcenter-uuid>" */
  nodename: string;
  /** Nova's service host for this node (we run one "compute service" per cluster). */
  host: string;
  clusterName: string;
  hypervisorType: string; // 'VMware vCenter Server'
  hypervisorVersion: number; // e.g. 8000002 for 8.0.2
  hostIp: string;
  vcpus: number;
  memoryMb: number;
  localGb: number; // free+used capacity of the datastores usable for instances
  localGbUsed: number;
  cpuInfo: Record<string, unknown>;
  availabilityZone?: string;
}

/** A cluster's cpu_info as Nova's vmwareapi driver reports it: vendors, models and the hosts' summed topology. */
export function clusterCpuInfo(hosts: Array<{ cpuModel: string; sockets: number; cores: number; threads: number }>): Record<string, unknown> {
  const sum = (k: 'sockets' | 'cores' | 'threads') => hosts.reduce((a, h) => a + h[k], 0);
  return {
    vendor: [...new Set(hosts.map((h) => (h.cpuModel.includes('AMD') ? 'AMD' : 'Intel')))],
    model: [...new Set(hosts.map((h) => h.cpuModel))],
    topology: { sockets: sum('sockets'), cores: sum('cores'), threads: sum('threads') },
    features: [],
  };
}

export interface FlavorSpec {
  id: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  ephemeralGb: number;
  swapMb: number;
  extraSpecs: Record<string, string>;
}

export interface ImageSpec {
  id: string;
  name: string;
  diskFormat: string;
  containerFormat: string;
  size: number;
  checksum?: string;
  properties: Record<string, string>;
  /** Opens the image bytes (streamed from Glance's store); called only when the datastore cache lacks it. */
  open(): Promise<Readable>;
}

export interface InstanceSpec {
  uuid: string;
  name: string; // display name
  hostname: string;
  projectId: string;
  userId: string;
  nodename: string; // the cluster chosen by the scheduler
  flavor: FlavorSpec;
  userData?: string; // base64 as given to Nova
  keyData?: string;
  metadata: Record<string, string>;
  /** NICs to plug at spawn (Neutron ports already bound to the instance). */
  vifs?: VifSpec[];
  /** Volumes to attach at spawn; with boot from volume the first is the boot disk. */
  disks?: DiskSpec[];
}

export interface InstanceInfo {
  uuid: string;
  powerState: PowerStateCode;
  nodename: string;
  host: string; // the ESXi host DRS placed the VM on
  vcpus: number;
  memoryMb: number;
}

/** A persistent disk (a Cinder volume's VMDK) to attach. */
export interface DiskSpec {
  volumeId: string;
  datastore: string;
  path: string; // "[datastore] volumes/volume-<id>.vmdk"
  sizeGb: number;
}

/** A NIC for a Neutron port. */
export interface VifSpec {
  portId: string;
  macAddress: string;
  networkId: string;
  portGroup: string;
}

export interface SnapshotResult {
  diskFormat: string; // 'vmdk'
  containerFormat: string; // 'bare'
  stream: Readable;
}

export interface ComputeDriver {
  readonly name: string; // 'simulator' | 'vsphere'
  /** Connects and discovers inventory. */
  init(): Promise<void>;
  close(): Promise<void>;
  listNodes(): Promise<ComputeNodeInfo[]>;
  /** Uuids of every VM this cloud owns on the backend (tagged as ours), for reconciliation. */
  listInstances(): Promise<string[]>;
  getInfo(uuid: string): Promise<InstanceInfo | null>;
  /** Every owned VM's InstanceInfo in one backend read (the power-state sync of many servers). */
  listInstanceInfo(): Promise<InstanceInfo[]>;

  spawn(instance: InstanceSpec, image: ImageSpec | null): Promise<InstanceInfo>;
  destroy(uuid: string): Promise<void>;
  reboot(uuid: string, type: 'SOFT' | 'HARD'): Promise<void>;
  powerOff(uuid: string): Promise<void>;
  powerOn(uuid: string): Promise<void>;
  pause(uuid: string): Promise<void>;
  unpause(uuid: string): Promise<void>;
  suspend(uuid: string): Promise<void>;
  resume(uuid: string): Promise<void>;
  rescue(uuid: string, image: ImageSpec | null): Promise<void>;
  unrescue(uuid: string): Promise<void>;
  snapshot(uuid: string): Promise<SnapshotResult>;
  /** Resize: reconfigure CPU/memory and grow the root disk; the VM ends powered as before. */
  resize(uuid: string, flavor: FlavorSpec): Promise<void>;
  /** Undo a resize not yet confirmed. */
  revertResize(uuid: string, oldFlavor: FlavorSpec): Promise<void>;
  confirmResize(uuid: string): Promise<void>;
  rebuild(instance: InstanceSpec, image: ImageSpec | null): Promise<void>;
  /** Shelve offload keeps nothing on the cluster; unshelve spawns again from the snapshot. */
  attachDisk(uuid: string, disk: DiskSpec): Promise<void>;
  detachDisk(uuid: string, volumeId: string): Promise<void>;
  attachInterface(uuid: string, vif: VifSpec): Promise<void>;
  detachInterface(uuid: string, portId: string): Promise<void>;
  getConsoleOutput(uuid: string): Promise<string>;
}

/** Raised by a driver when the VM of an instance does not exist on the backend (Nova's InstanceNotFound). */
export class InstanceNotFound extends Error {
  readonly uuid: string;
  constructor(uuid: string) {
    super(`Instance ${uuid} could not be found.`);
    this.name = 'InstanceNotFound';
    this.uuid = uuid;
  }
}

/**
 * Any other backend failure, carrying the vSphere fault name (e.g. 'InvalidPowerState',
 * 'InsufficientResourcesFault', 'NoDiskSpace') so callers can decide what to do. 'HostCommunication'
 * means the backend could not be reached (the operation may be repeated later); the others are final.
 */
export class VirtDriverError extends Error {
  readonly fault: string;
  constructor(fault: string, message: string) {
    super(message);
    this.name = 'VirtDriverError';
    this.fault = fault;
  }
}

// ---- Neutron's backend seam ---------------------------------------------------------------
// In VIO a Neutron network is a distributed port group (VLAN from the network's segment) and a
// port bound to an instance is a NIC on its VM connected to that port group (the compute driver
// plugs it: ComputeDriver.attachInterface). An NSX-T backend would implement the same seam.

export interface NetworkSegment {
  networkId: string;
  name: string;
  networkType: 'flat' | 'vlan' | 'vxlan' | 'geneve' | 'local';
  physicalNetwork: string | null;
  segmentationId: number | null;
  mtu: number;
}

export interface NetworkBacking {
  networkId: string;
  /** The port group name NICs connect to (VifSpec.portGroup). */
  portGroup: string;
  /** The backend's reference, e.g. a dvportgroup moref. */
  key: string;
  vlanId: number;
}

export interface NetworkDriver {
  readonly name: string;
  /** Creates (or brings up to date) the backing of a network. Idempotent. */
  ensureNetwork(segment: NetworkSegment): Promise<NetworkBacking>;
  /** Removes the backing; succeeds when it is already gone. */
  deleteNetwork(networkId: string): Promise<void>;
  /** Every backing this cloud owns, for reconciliation. */
  listNetworks(): Promise<NetworkBacking[]>;
}

// ---- Cinder's backend seam ----------------------------------------------------------------
// As Cinder's VMDK driver: a volume is a VMDK file on a datastore, picked by free space and by
// the volume type's vmware:storage_profile; vmware:vmdk_type and vmware:adapter_type shape it.
// Attaching is the compute driver's business (ComputeDriver.attachDisk with the location).

/** vSphere's default storage policy, which every datastore offers until SPBM policies are read. */
export const DEFAULT_STORAGE_PROFILE = 'vSAN Default Storage Policy';

export type VmdkType = 'thin' | 'thick' | 'eagerZeroedThick';
export type AdapterType = 'lsiLogic' | 'busLogic' | 'lsiLogicsas' | 'paraVirtual' | 'ide';

export interface VolumeSpec {
  volumeId: string;
  name: string;
  projectId: string;
  sizeGb: number;
  vmdkType: VmdkType;
  adapterType: AdapterType;
  storageProfile: string | null;
  availabilityZone: string;
}

/** Where a volume (or a snapshot) lives: "[datastore] volumes/volume-<id>.vmdk". */
export interface VolumeLocation {
  datastore: string;
  path: string;
}

/** A datastore usable for volumes, as Cinder's get_pools reports it. */
export interface VolumePool {
  name: string;
  totalCapacityGb: number;
  freeCapacityGb: number;
  provisionedCapacityGb: number;
  storageProfiles: string[];
}

/** A VMDK under a datastore's volumes/ folder, as the backend lists them (Cinder's manageable volumes). */
export interface BackendDisk {
  location: VolumeLocation;
  /** The file's name without .vmdk: the reference Cinder's manage calls take ("source-name"). */
  name: string;
  sizeGb: number;
  /** A disk of some VM (attached), so not safe to take over. */
  inUse: boolean;
  /** For a snapshot copy: the path of the disk it was taken of. */
  snapshotOf?: string;
}

export interface VolumeSource {
  image?: ImageSpec;
  snapshot?: VolumeLocation;
  volume?: VolumeLocation;
}

export interface VolumeDriver {
  readonly name: string;
  pools(): Promise<VolumePool[]>;
  /** Creates the VMDK (empty, or from an image, snapshot or volume). Idempotent per volumeId. */
  createVolume(spec: VolumeSpec, source?: VolumeSource): Promise<VolumeLocation>;
  /** Deletes the VMDK; succeeds when it is already gone. */
  deleteVolume(location: VolumeLocation): Promise<void>;
  /** Grows the VMDK (also while attached, as ReconfigVM does). */
  extendVolume(location: VolumeLocation, newSizeGb: number): Promise<void>;
  /** Idempotent per snapshotId. */
  createSnapshot(location: VolumeLocation, snapshotId: string): Promise<VolumeLocation>;
  deleteSnapshot(location: VolumeLocation): Promise<void>;
  /** The volume's bytes as a disk image (for upload to Glance); sizeGb is Cinder's size, for backends that cannot tell. */
  openVolume(location: VolumeLocation, sizeGb?: number): Promise<{ diskFormat: string; stream: Readable }>;
  /**
   * Before an attach: moves the VMDK where the compute host's cluster can reach it, as Cinder's
   * VMDK driver relocates its backing at initialize_connection. Returns the (new) location.
   */
  ensureAccessible(location: VolumeLocation, computeHost: string): Promise<VolumeLocation>;
  /** Every VMDK in the datastores' volumes/ folders, Cinder's or not (manage existing). */
  listDisks(): Promise<BackendDisk[]>;
}
