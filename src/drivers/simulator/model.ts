// The simulated vCenter's object model: the managed objects a vSphere inventory holds, named by
// managed object references (morefs) as vCenter names them: datacenter-2, domain-c8, host-10,
// datastore-14, dvs-21, dvportgroup-22, vm-101, task-205. Kept small: one VM is a plain object
// with its virtual devices, serialised as one JSON row.

export type PowerStateName = 'poweredOn' | 'poweredOff' | 'suspended' | 'paused';

export interface Datacenter { moref: string; name: string }

export interface Cluster {
  moref: string; // domain-cNN
  name: string;
  datacenter: string;
  /** Stable name of the Nova compute service that manages this cluster (VIO: one per cluster). */
  computeHost: string;
}

export interface HostSystem {
  moref: string; // host-NN
  name: string; // esxi-01.vistack.local
  cluster: string;
  cpuModel: string;
  sockets: number;
  cores: number; // physical cores, all sockets
  threads: number;
  mhz: number; // per core
  memoryMb: number;
  ip: string;
  version: string; // '8.0.2'
  build: string;
}

export interface Datastore {
  moref: string; // datastore-NN
  name: string;
  type: 'VMFS' | 'NFS' | 'vsan';
  /** Clusters whose hosts mount it. */
  clusters: string[];
  capacityBytes: number;
}

export interface DistributedSwitch { moref: string; name: string; datacenter: string; uuid: string }

export interface Portgroup {
  moref: string; // dvportgroup-NN
  key: string;
  name: string;
  dvs: string;
  vlanId: number;
  uplink: boolean;
}

export type DiskKind = 'root' | 'ephemeral' | 'swap' | 'volume' | 'rescue';

export interface VirtualDisk {
  key: number; // 2000 + unit number, as vSphere numbers SCSI disks
  kind: DiskKind;
  /** Datastore path, "[ds] <uuid>/<uuid>.vmdk" */
  path: string;
  datastore: string; // moref
  capacityKb: number;
  /** Bytes written to the (thin) delta/flat file; the datastore's free space shrinks by this. */
  committed: number;
  /** Linked-clone parent in the image cache ("[ds] vistack_image_cache/<id>/<id>.vmdk"). */
  parent?: string;
  imageId?: string;
  volumeId?: string;
}

export interface VirtualNic {
  key: number; // 4000 + n
  type: 'VirtualVmxnet3';
  portId: string; // Neutron port id, also extraConfig nvp.iface-id.N
  mac: string;
  networkId: string;
  portgroup: string; // dvportgroup moref
  connected: boolean;
}

export interface VmEvent { t: number; e: string }

/** What resize() changed, so revertResize() can put it back (vSphere keeps the original VM). */
export interface ResizeBackup {
  vcpus: number; memoryMb: number; flavorId: string; disks: VirtualDisk[]; powerState: PowerStateName;
  cpuAllocation?: Allocation; memoryAllocation?: Allocation;
}

/** vSphere ResourceAllocationInfo, from Nova's quota:{cpu,memory}_{limit,reservation,shares_*} extra specs. */
export interface Allocation {
  limit: number; // MHz or MB, -1 = unlimited
  reservation: number;
  shares: { level: 'low' | 'normal' | 'high' | 'custom'; shares?: number };
}

export interface VirtualMachine {
  moref: string; // vm-NNN
  name: string; // the instance uuid, as Nova's vmwareapi driver names VMs
  cluster: string;
  host: string;
  /** Datastore holding the VM's folder (.vmx, root disk). */
  datastore: string;
  powerState: PowerStateName;
  vcpus: number;
  memoryMb: number;
  guestId: string;
  /** Virtual hardware version, e.g. 'vmx-19' (flavor extra spec vmware:hw_version). */
  hwVersion?: string;
  /** Present only when the flavor sets quota:* extra specs (keeps the common VM small). */
  cpuAllocation?: Allocation;
  memoryAllocation?: Allocation;
  annotation: string;
  extraConfig: Record<string, string>;
  disks: VirtualDisk[];
  nics: VirtualNic[];
  /** Device key of the disk the BIOS boots first (the rescue disk while rescued). */
  bootDisk?: number;
  rescued?: boolean;
  resizeBackup?: ResizeBackup;
  /** Nova's spawn completed (created and first power-on done): a repeated spawn changes nothing. */
  spawned: boolean;
  hostname: string;
  flavorId: string;
  created: string;
  /** Power events for the synthetic console (last few only). */
  events: VmEvent[];
}

export interface TaskInfo {
  moref: string; // task-NNN
  name: string; // descriptionId, e.g. 'CreateVM_Task'
  entity?: string; // moref of the object the task works on
  entityName?: string;
  state: 'queued' | 'running' | 'success' | 'error';
  queueTime: string;
  startTime?: string;
  completeTime?: string;
  error?: { fault: string; message: string };
}

/** A failure-injection rule, matched against each task as it starts running. */
export interface FaultRule {
  id: string;
  /** Task name ('CreateVM_Task', 'PowerOnVM_Task' ...) or '*' for every task. */
  method: string;
  /** Only tasks on this VM (its name, i.e. instance uuid, or its display name). */
  vmName?: string;
  action: 'fail' | 'hang' | 'latency';
  /** vSphere fault name for 'fail', e.g. 'InsufficientResourcesFault'. */
  fault?: string;
  message?: string;
  latencyMs?: number;
  /** Tasks left to affect; null: every matching task until deleted. */
  remaining: number | null;
  created: string;
}

export const TASK_NAMES = [
  'CreateVM_Task', 'Destroy_Task', 'PowerOnVM_Task', 'PowerOffVM_Task', 'ResetVM_Task', 'RebootGuest',
  'ShutdownGuest', 'SuspendVM_Task', 'PauseVM_Task', 'UnpauseVM_Task', 'ReconfigVM_Task',
  'CopyVirtualDisk_Task', 'ExtendVirtualDisk_Task', 'DeleteDatastoreFile_Task', 'CreateVirtualDisk_Task',
  'CreateSnapshot_Task', 'RemoveSnapshot_Task', 'ExportVm', 'AddDVPortgroup_Task',
] as const;
