// The vim25 types this driver uses, written once from the vSphere Web Services API reference
// (only the fields read or sent here). Field order in the request types follows the schema's
// sequence: vCenter rejects elements out of order. `_type` is the xsi:type on the wire.

/** ManagedObjectReference: opaque; always echo back the type the server returned. */
export interface MoRef { type: string; value: string }

export const moref = (type: string, value: string): MoRef => ({ type, value });
export const sameRef = (a: MoRef | undefined, b: MoRef | undefined) => !!a && !!b && a.type === b.type && a.value === b.value;

export interface AboutInfo {
  name: string; fullName: string; vendor: string; version: string; build: string; apiType: string; apiVersion: string;
  instanceUuid?: string; productLineId?: string;
}

export interface ServiceContent {
  rootFolder: MoRef; propertyCollector: MoRef; viewManager?: MoRef; about: AboutInfo; sessionManager?: MoRef;
  searchIndex?: MoRef; fileManager?: MoRef; virtualDiskManager?: MoRef; perfManager?: MoRef; taskManager?: MoRef;
  customFieldsManager?: MoRef; eventManager?: MoRef; ovfManager?: MoRef; dvSwitchManager?: MoRef;
}

export interface UserSession { key: string; userName: string; fullName?: string; loginTime?: string; lastActiveTime?: string }

export interface LocalizedMethodFault { fault: { _type?: string; [k: string]: unknown }; localizedMessage?: string }

export type TaskInfoState = 'queued' | 'running' | 'success' | 'error';
export interface TaskInfo {
  key: string; task: MoRef; name?: string; descriptionId?: string; entity?: MoRef; entityName?: string;
  state: TaskInfoState; cancelled?: boolean; cancelable?: boolean; error?: LocalizedMethodFault; result?: unknown;
  progress?: number; queueTime?: string; startTime?: string; completeTime?: string;
}

// ---- PropertyCollector ---------------------------------------------------------------------

export interface SelectionSpec { _type?: 'SelectionSpec' | 'TraversalSpec'; name?: string }
export interface TraversalSpec extends SelectionSpec { _type: 'TraversalSpec'; type: string; path: string; skip?: boolean; selectSet?: SelectionSpec[] }
export interface ObjectSpec { obj: MoRef; skip?: boolean; selectSet?: SelectionSpec[] }
export interface PropertySpec { type: string; all?: boolean; pathSet?: string[] }
export interface PropertyFilterSpec { propSet: PropertySpec[]; objectSet: ObjectSpec[]; reportMissingObjectsInResults?: boolean }
export interface DynamicProperty { name: string; val: unknown }
export interface MissingProperty { path: string; fault: LocalizedMethodFault }
export interface ObjectContent { obj: MoRef; propSet?: DynamicProperty[]; missingSet?: MissingProperty[] }
export interface RetrieveResult { token?: string; objects: ObjectContent[] }
export interface PropertyChange { name: string; op: 'add' | 'remove' | 'assign' | 'indirectRemove'; val?: unknown }
export interface ObjectUpdate { kind: 'modify' | 'enter' | 'leave'; obj: MoRef; changeSet?: PropertyChange[] }
export interface PropertyFilterUpdate { filter: MoRef; objectSet?: ObjectUpdate[] }
export interface UpdateSet { version: string; filterSet?: PropertyFilterUpdate[]; truncated?: boolean }

// ---- inventory -----------------------------------------------------------------------------

export interface OptionValue { _type?: 'OptionValue'; key: string; value?: unknown }

export interface HostHardwareSummary {
  vendor?: string; model?: string; uuid?: string; memorySize: number; cpuModel: string; cpuMhz: number;
  numCpuPkgs: number; numCpuCores: number; numCpuThreads: number; numNics?: number; numHBAs?: number;
}
export interface HostListSummary {
  hardware?: HostHardwareSummary;
  runtime?: { connectionState: string; powerState?: string; inMaintenanceMode: boolean };
  quickStats?: { overallCpuUsage?: number; overallMemoryUsage?: number };
  config?: { name: string; port?: number; product?: AboutInfo };
  managementServerIp?: string;
}

export interface ComputeResourceSummary {
  totalCpu: number; totalMemory: number; numCpuCores: number; numCpuThreads: number; effectiveCpu: number;
  effectiveMemory: number; numHosts: number; numEffectiveHosts: number; overallStatus?: string;
}

export interface DatastoreSummary {
  datastore?: MoRef; name: string; url: string; capacity: number; freeSpace: number; uncommitted?: number;
  accessible: boolean; multipleHostAccess?: boolean; type: string; maintenanceMode?: string;
}
export interface DatastoreHostMount { key: MoRef; mountInfo: { path?: string; accessMode: string; mounted?: boolean; accessible?: boolean } }

export interface DistributedVirtualSwitchHostMember { config: { host?: MoRef } }

// ---- VM configuration --------------------------------------------------------------------

export interface SharesInfo { shares: number; level: 'low' | 'normal' | 'high' | 'custom' }
export interface ResourceAllocationInfo { reservation?: number; expandableReservation?: boolean; limit?: number; shares?: SharesInfo }

export interface Description { label: string; summary: string }

export interface VirtualDeviceConnectInfo { startConnected: boolean; allowGuestControl: boolean; connected: boolean; status?: string }

export interface VirtualDevice {
  _type: string; key: number; deviceInfo?: Description; backing?: VirtualDeviceBacking; connectable?: VirtualDeviceConnectInfo;
  controllerKey?: number; unitNumber?: number;
  [field: string]: unknown;
}
export interface VirtualDeviceBacking { _type: string; [field: string]: unknown }

export interface VirtualDiskFlatVer2BackingInfo extends VirtualDeviceBacking {
  _type: 'VirtualDiskFlatVer2BackingInfo'; fileName: string; datastore?: MoRef; diskMode: string; split?: boolean;
  writeThrough?: boolean; thinProvisioned?: boolean; eagerlyScrub?: boolean; uuid?: string; contentId?: string;
  parent?: VirtualDiskFlatVer2BackingInfo;
}
export interface VirtualDisk extends VirtualDevice {
  _type: 'VirtualDisk'; backing: VirtualDiskFlatVer2BackingInfo; capacityInKB: number; capacityInBytes?: number;
}

export interface DVPortConnection { switchUuid: string; portgroupKey?: string; portKey?: string; connectionCookie?: number }
export interface VirtualEthernetCard extends VirtualDevice {
  addressType?: string; macAddress?: string; wakeOnLanEnabled?: boolean; externalId?: string;
}

export type VirtualDeviceConfigSpecOperation = 'add' | 'remove' | 'edit';
export type VirtualDeviceConfigSpecFileOperation = 'create' | 'destroy' | 'replace';
export interface VirtualDeviceConfigSpec {
  _type?: 'VirtualDeviceConfigSpec';
  operation?: VirtualDeviceConfigSpecOperation;
  fileOperation?: VirtualDeviceConfigSpecFileOperation;
  device: VirtualDevice;
}

export interface VirtualMachineFileInfo { vmPathName?: string; snapshotDirectory?: string; suspendDirectory?: string; logDirectory?: string }

/** VirtualMachineConfigSpec, the fields used, in schema order. */
export interface VirtualMachineConfigSpec {
  changeVersion?: string; name?: string; version?: string; uuid?: string; instanceUuid?: string;
  locationId?: string; guestId?: string; alternateGuestName?: string; annotation?: string;
  files?: VirtualMachineFileInfo; numCPUs?: number; numCoresPerSocket?: number; memoryMB?: number;
  cpuAllocation?: ResourceAllocationInfo; memoryAllocation?: ResourceAllocationInfo;
  deviceChange?: VirtualDeviceConfigSpec[]; extraConfig?: OptionValue[];
}

export interface VirtualMachineConfigInfo {
  name: string; uuid: string; instanceUuid?: string; guestId: string; version: string; template: boolean;
  annotation?: string; files: VirtualMachineFileInfo; changeVersion?: string;
  hardware: { numCPU: number; numCoresPerSocket?: number; memoryMB: number; device?: VirtualDevice[] };
  cpuAllocation?: ResourceAllocationInfo; memoryAllocation?: ResourceAllocationInfo; extraConfig?: OptionValue[];
}

export type VirtualMachinePowerState = 'poweredOn' | 'poweredOff' | 'suspended';

export interface VirtualMachineRuntimeInfo { host?: MoRef; connectionState: string; powerState: VirtualMachinePowerState; bootTime?: string }

// ---- files and disks -----------------------------------------------------------------------

export interface FileInfo { _type?: string; path: string; friendlyName?: string; fileSize?: number; modification?: string; capacityKb?: number }
export interface HostDatastoreBrowserSearchResults { datastore?: MoRef; folderPath?: string; file?: FileInfo[] }

// ---- performance -------------------------------------------------------------------------------

export interface PerfCounterInfo {
  key: number; nameInfo: { key: string }; groupInfo: { key: string }; unitInfo: { key: string };
  rollupType: string; statsType: string; level?: number;
}
export interface PerfMetricId { counterId: number; instance: string }
export interface PerfSampleInfo { timestamp: string; interval: number }
export interface PerfMetricIntSeries { _type: 'PerfMetricIntSeries'; id: PerfMetricId; value?: number[] }
export interface PerfEntityMetric { _type: 'PerfEntityMetric'; entity: MoRef; sampleInfo?: PerfSampleInfo[]; value?: PerfMetricIntSeries[] }
