// VirtualMachineConfigSpec builders for the compute driver, as Nova's vmwareapi vm_util: a flavor
// and its extra specs become numCPUs / numCoresPerSocket / memoryMB, cpuAllocation and
// memoryAllocation (quota:*), the hardware version (vmware:hw_version); disks and SCSI
// controllers become device changes. Pure functions: everything here is tested without vCenter.
// Objects are written in vim25 schema order (vCenter checks the XSD sequence).
import { VirtDriverError, PowerState, type FlavorSpec, type ImageSpec, type InstanceSpec, type PowerStateCode } from '../../core/virt.ts';
import type { MoRef, OptionValue, ResourceAllocationInfo, VirtualDevice, VirtualDeviceConfigSpec, VirtualDisk, VirtualMachineConfigSpec } from './vim/types.ts';
import { xsdString } from './vim/xml.ts';

export const GiB = 1024 ** 3;
export const kb = (bytes: number) => Math.ceil(bytes / 1024);

export const OWNER_KEY = 'vistack.owner';
export const OWNER = 'vistack';
/** The flavor the VM has now (the simulator keeps it on the VM record). */
export const FLAVOR_KEY = 'vistack.flavor-id';
/** Set once the first power-on of a spawn happened: a spawn run again does not start a VM stopped since. */
export const SPAWNED_KEY = 'vistack.spawned';
/** The pending resize (kept until confirmResize / revertResize): target flavor, previous flavor and power state. */
export const RESIZE_TO_KEY = 'vistack.resize-to';
export const RESIZE_FROM_KEY = 'vistack.resize-from';
export const RESIZE_POWER_KEY = 'vistack.resize-power-state';

const invalid = (msg: string) => new VirtDriverError('InvalidArgument', msg);

/** '6.5.0' → 6005000, Nova's integer form of a version string. */
export function versionNumber(v: string): number {
  const [a = 0, b = 0, c = 0] = String(v).split('.').map((x) => Number.parseInt(x, 10) || 0);
  return a * 1_000_000 + b * 1000 + c;
}

/** vSphere power states as Nova's codes (vSphere has no paused state). */
export function powerStateCode(state: string | undefined): PowerStateCode {
  switch (state) {
    case 'poweredOn': return PowerState.RUNNING;
    case 'poweredOff': return PowerState.SHUTDOWN;
    case 'suspended': return PowerState.SUSPENDED;
    default: return PowerState.NOSTATE;
  }
}

// ---- flavor → hardware -------------------------------------------------------------------

export type SharesLevel = 'low' | 'normal' | 'high' | 'custom';
export interface Allocation { limit: number; reservation: number; shares: { level: SharesLevel; shares?: number } }
export interface CpuTopology { sockets: number; cores: number; threads: number }
export interface FlavorHardware {
  cpuAllocation?: Allocation;
  memoryAllocation?: Allocation;
  hwVersion?: string;
  /** Cores per socket of Nova's best CPU topology without threads (vmwareapi's cores_per_socket). */
  coresPerSocket: number;
}

function intSpec(specs: Record<string, string>, key: string, min: number): number | undefined {
  const v = specs[key];
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d+$/.test(String(v).trim()) || Number(v) < min) throw invalid(`Extra spec ${key}=${v} must be an integer >= ${min}`);
  return Number(v);
}

/**
 * Nova's hardware.get_best_cpu_topology(flavor, image, allow_threads=False), which the vmwareapi
 * driver uses for numCoresPerSocket: limits hw:cpu_max_{sockets,cores,threads} (flavor) and
 * hw_cpu_max_* (image, never above the flavor's), preferences hw:cpu_{sockets,cores,threads} or,
 * when the image sets any, the image's hw_cpu_*; among the topologies giving exactly `vcpus`
 * with one thread per core, the best match of the preference, most sockets first.
 */
export function cpuTopology(vcpus: number, extraSpecs: Record<string, string> = {}, imageProps: Record<string, string> = {}): CpuTopology {
  if (!Number.isInteger(vcpus) || vcpus < 1) throw invalid(`Invalid vCPU count ${vcpus}`);
  const dims = ['sockets', 'cores', 'threads'] as const;
  const fMax = dims.map((d) => intSpec(extraSpecs, `hw:cpu_max_${d}`, 0) ?? 0);
  const iMax = dims.map((d) => intSpec(imageProps, `hw_cpu_max_${d}`, 0) ?? 0);
  if (dims.some((_, i) => fMax[i]! && iMax[i]! > fMax[i]!)) {
    throw invalid(`Image CPU limits ${iMax.join(':')} exceed the flavor's ${fMax.join(':')}`);
  }
  const max = dims.map((_, i) => iMax[i] || fMax[i] || 65536);
  let fPref = dims.map((d) => intSpec(extraSpecs, `hw:cpu_${d}`, 0) ?? 0);
  const iPref = dims.map((d) => intSpec(imageProps, `hw_cpu_${d}`, 0) ?? 0);
  // Image limits below the flavor's preference discard that preference; the image's own must fit.
  if (fPref.some((v, i) => v > max[i]!)) fPref = [0, 0, 0];
  if (iPref.some((v, i) => v > max[i]!)) throw invalid(`Image CPU topology ${iPref.join(':')} exceeds the limits ${max.join(':')}`);
  const pref = iPref.some((v) => v > 0) ? iPref : fPref;

  const possible: CpuTopology[] = [];
  for (let s = Math.min(vcpus, max[0]!); s >= 1; s--) {
    const c = vcpus / s;
    if (Number.isInteger(c) && c <= max[1]!) possible.push({ sockets: s, cores: c, threads: 1 });
  }
  if (!possible.length) throw invalid(`Cannot fit ${vcpus} vCPUs in at most ${max[0]} sockets of ${max[1]} cores`);
  const score = (t: CpuTopology) => (pref[0] && t.sockets === pref[0] ? 1 : 0) + (pref[1] && t.cores === pref[1] ? 1 : 0) + (pref[2] && t.threads === pref[2] ? 1 : 0);
  // Stable sort: among equal scores the most sockets stays first.
  return possible.map((t, i) => ({ t, i, s: score(t) })).sort((a, b) => b.s - a.s || a.i - b.i)[0]!.t;
}

/**
 * The flavor's VMware extra specs, validated as the simulator does (invalid values fail before
 * anything is created): quota:{cpu,memory}_{limit,reservation,shares_level,shares_share},
 * vmware:hw_version, and the CPU topology (hw:cpu_* and the image's hw_cpu_*).
 */
export function flavorHardware(flavor: Pick<FlavorSpec, 'vcpus' | 'extraSpecs'>, imageProps: Record<string, string> = {}): FlavorHardware {
  const specs = flavor.extraSpecs ?? {};
  const out: FlavorHardware = { coresPerSocket: cpuTopology(flavor.vcpus, specs, imageProps).cores };
  for (const res of ['cpu', 'memory'] as const) {
    const limit = intSpec(specs, `quota:${res}_limit`, -1);
    const reservation = intSpec(specs, `quota:${res}_reservation`, 0);
    const level = specs[`quota:${res}_shares_level`];
    const share = intSpec(specs, `quota:${res}_shares_share`, 0);
    if (limit === undefined && reservation === undefined && level === undefined && share === undefined) continue;
    if (level !== undefined && !['low', 'normal', 'high', 'custom'].includes(level)) {
      throw invalid(`Extra spec quota:${res}_shares_level must be low, normal, high or custom`);
    }
    if (level === 'custom' && share === undefined) throw invalid(`quota:${res}_shares_level=custom needs quota:${res}_shares_share`);
    out[res === 'cpu' ? 'cpuAllocation' : 'memoryAllocation'] = {
      limit: limit ?? -1, reservation: reservation ?? 0,
      shares: level === 'custom' ? { level, shares: share } : { level: (level ?? 'normal') as SharesLevel },
    };
  }
  const hw = specs['vmware:hw_version'];
  if (hw !== undefined) {
    if (!/^vmx-\d{2}$/.test(hw)) throw invalid(`Extra spec vmware:hw_version=${hw} must look like vmx-19`);
    out.hwVersion = hw;
  }
  return out;
}

/** ResourceAllocationInfo in schema order; no allocation = vSphere's defaults (unlimited, none reserved, normal shares). */
export function allocationInfo(a: Allocation | undefined): ResourceAllocationInfo {
  const level = a?.shares.level ?? 'normal';
  return {
    reservation: a?.reservation ?? 0,
    limit: a?.limit ?? -1,
    // Nova sends shares 0 unless the level is custom (vCenter then derives them from the level).
    shares: { shares: level === 'custom' ? (a?.shares.shares ?? 0) : 0, level },
  };
}

// ---- extraConfig and annotation --------------------------------------------------------------

export const optionValue = (key: string, value: string): OptionValue => ({ _type: 'OptionValue', key, value: xsdString(value) });

/**
 * extraConfig as a record. The last entry of a key wins and an empty value means removed: vCenter
 * replaces (and deletes with "") keys, vcsim appends every change, both read the same here.
 */
export function extraConfigMap(options: OptionValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of options ?? []) {
    const raw = o.value as unknown;
    const v = xmlText(raw === undefined || raw === null ? '' : typeof raw === 'object' ? String((raw as { _value?: unknown })._value ?? '') : String(raw));
    if (v === '') delete out[o.key];
    else out[o.key] = v;
  }
  return out;
}

/** Nova's instance metadata lines (the simulator's annotation). */
export function annotation(i: InstanceSpec, image: ImageSpec | null, flavor: FlavorSpec = i.flavor): string {
  return [
    `name:${i.name}`, `userid:${i.userId}`, `projectid:${i.projectId}`, `flavor:name:${flavor.name}`,
    `flavor:memory_mb:${flavor.memoryMb}`, `flavor:vcpus:${flavor.vcpus}`, `flavor:ephemeral_gb:${flavor.ephemeralGb}`,
    `flavor:root_gb:${flavor.rootGb}`, `flavor:swap:${flavor.swapMb}`, `imageid:${image?.id ?? ''}`, 'package:vistack',
  ].join('\n');
}

/**
 * Text as vCenter meant it: vcsim writes newlines as "&#xA;", which the XML layer leaves as they
 * are (it decodes named entities only).
 */
export function xmlText(s: string | undefined): string {
  return String(s ?? '').replace(/&#(x[0-9a-f]+|\d+);/gi, (_, n: string) => String.fromCodePoint(n[0] === 'x' || n[0] === 'X' ? parseInt(n.slice(1), 16) : Number(n)));
}

/** The image id an annotation names (rescue without an image uses it). */
export function annotationImageId(text: string | undefined): string | null {
  const m = /^imageid:(.*)$/m.exec(xmlText(text));
  return m && m[1]!.trim() ? m[1]!.trim() : null;
}

/** The tags of a Vistack VM, as the simulator's (plus Nova's disk.EnableUUID and the flavor id). */
export function instanceExtraConfig(i: InstanceSpec): OptionValue[] {
  return [
    optionValue(OWNER_KEY, OWNER), optionValue('vistack.display-name', i.name), optionValue('vistack.project-id', i.projectId),
    optionValue('nvp.vm-uuid', i.uuid), optionValue(FLAVOR_KEY, i.flavor.id),
    // Nova sets it so that guests see stable disk ids (/dev/disk/by-id).
    optionValue('disk.EnableUUID', 'true'),
  ];
}

// ---- the VM --------------------------------------------------------------------------------

export interface CreateSpecInput {
  instance: InstanceSpec;
  image: ImageSpec | null;
  datastore: string;
  hardware: FlavorHardware;
  deviceChange: VirtualDeviceConfigSpec[];
  extraConfig: OptionValue[];
}

/** CreateVM_Task's config: the VM named by the instance uuid, its files in "[ds] <uuid>/". */
export function createSpec(c: CreateSpecInput): VirtualMachineConfigSpec & Record<string, unknown> {
  const f = c.instance.flavor;
  const spec: VirtualMachineConfigSpec & Record<string, unknown> = {
    _type: 'VirtualMachineConfigSpec',
    name: c.instance.uuid,
    ...(c.hardware.hwVersion ? { version: c.hardware.hwVersion } : {}),
    instanceUuid: c.instance.uuid,
    guestId: c.image?.properties?.vmware_ostype || 'otherGuest64',
    annotation: annotation(c.instance, c.image),
    // A full .vmx path: the folder already holds the root disk copied from the image cache.
    files: { vmPathName: `[${c.datastore}] ${c.instance.uuid}/${c.instance.uuid}.vmx` },
    numCPUs: f.vcpus,
    numCoresPerSocket: c.hardware.coresPerSocket,
    memoryMB: f.memoryMb,
    deviceChange: c.deviceChange,
    ...(c.hardware.cpuAllocation ? { cpuAllocation: allocationInfo(c.hardware.cpuAllocation) } : {}),
    ...(c.hardware.memoryAllocation ? { memoryAllocation: allocationInfo(c.hardware.memoryAllocation) } : {}),
    extraConfig: c.extraConfig,
  };
  return spec;
}

/** ReconfigVM_Task's spec for a (reverted) resize: CPU, memory, both allocations, annotation, tags. */
export function resizeSpec(flavor: FlavorSpec, hw: FlavorHardware, annotationText: string | undefined, extraConfig: OptionValue[]): VirtualMachineConfigSpec & Record<string, unknown> {
  return {
    _type: 'VirtualMachineConfigSpec',
    ...(annotationText !== undefined ? { annotation: annotationText } : {}),
    numCPUs: flavor.vcpus,
    numCoresPerSocket: hw.coresPerSocket,
    memoryMB: flavor.memoryMb,
    // Always both: a flavor without quota:* puts the defaults back.
    cpuAllocation: allocationInfo(hw.cpuAllocation),
    memoryAllocation: allocationInfo(hw.memoryAllocation),
    extraConfig,
  };
}

export function extraConfigSpec(options: OptionValue[]): VirtualMachineConfigSpec & Record<string, unknown> {
  return { _type: 'VirtualMachineConfigSpec', extraConfig: options };
}

/** bootOptions.bootOrder with one disk first (rescue), or empty (the BIOS default: the first disk). */
export function bootOrderSpec(deviceKey: number | null): Record<string, unknown> {
  return {
    _type: 'VirtualMachineConfigSpec',
    bootOptions: {
      _type: 'VirtualMachineBootOptions',
      bootOrder: deviceKey === null ? [] : [{ _type: 'VirtualMachineBootOptionsBootableDiskDevice', deviceKey }],
    },
  };
}

// ---- devices -------------------------------------------------------------------------------

export type AdapterType = 'lsiLogic' | 'busLogic' | 'lsiLogicsas' | 'paraVirtual';
const CONTROLLER_TYPES: Record<AdapterType, string> = {
  lsiLogic: 'VirtualLsiLogicController', busLogic: 'VirtualBusLogicController',
  lsiLogicsas: 'VirtualLsiLogicSASController', paraVirtual: 'ParaVirtualSCSIController',
};
const SCSI_TYPES = new Set(Object.values(CONTROLLER_TYPES));
/** SCSI units per controller (7 is the controller's own). */
const SCSI_UNITS = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15];
const MAX_SCSI_BUSES = 4;

/** The image's vmware_adaptertype as a SCSI controller type (Nova's default: lsiLogic; IDE images get one too). */
export function adapterOf(image: ImageSpec | null): AdapterType {
  const a = image?.properties?.vmware_adaptertype;
  return a === 'busLogic' || a === 'lsiLogicsas' || a === 'paraVirtual' ? a : 'lsiLogic';
}

export function isScsiController(d: VirtualDevice): boolean { return SCSI_TYPES.has(d._type); }
export function isDisk(d: VirtualDevice): d is VirtualDisk { return d._type === 'VirtualDisk'; }

export function controllerSpec(key: number, adapter: AdapterType, busNumber: number): VirtualDeviceConfigSpec {
  return {
    _type: 'VirtualDeviceConfigSpec', operation: 'add',
    device: { _type: CONTROLLER_TYPES[adapter], key, busNumber, sharedBus: 'noSharing' } as VirtualDevice,
  };
}

/** Hands out SCSI slots (controller key, unit number) for new disks, adding a controller when none has room. */
export class ScsiSlots {
  private readonly used = new Map<number, Set<number>>();
  private readonly buses = new Set<number>();
  private readonly controllers: number[] = [];
  private nextTemp: number;
  readonly adds: VirtualDeviceConfigSpec[] = [];
  private readonly adapter: AdapterType;

  constructor(devices: VirtualDevice[], adapter: AdapterType = 'lsiLogic', firstTempKey = -100) {
    this.adapter = adapter;
    this.nextTemp = firstTempKey;
    for (const d of devices) {
      if (!isScsiController(d)) continue;
      this.controllers.push(d.key);
      this.buses.add(Number(d.busNumber ?? 0));
      this.used.set(d.key, new Set());
    }
    for (const d of devices) {
      if (d.controllerKey !== undefined && d.unitNumber !== undefined) this.used.get(Number(d.controllerKey))?.add(Number(d.unitNumber));
    }
  }

  /** A temporary (negative) device key for a device added in the same spec. */
  tempKey(): number { return this.nextTemp--; }

  take(): { controllerKey: number; unitNumber: number } {
    for (const key of this.controllers) {
      const units = this.used.get(key)!;
      const u = SCSI_UNITS.find((x) => !units.has(x));
      if (u !== undefined) { units.add(u); return { controllerKey: key, unitNumber: u }; }
    }
    let bus = 0;
    while (this.buses.has(bus)) bus++;
    if (bus >= MAX_SCSI_BUSES) throw new VirtDriverError('InvalidDeviceSpec', `All ${MAX_SCSI_BUSES} SCSI controllers are full`);
    const key = this.tempKey();
    this.adds.push(controllerSpec(key, this.adapter, bus));
    this.buses.add(bus);
    this.controllers.push(key);
    this.used.set(key, new Set([0]));
    return { controllerKey: key, unitNumber: 0 };
  }
}

export interface DiskSlot { key: number; controllerKey: number; unitNumber: number }

/** A new thin disk ("create"): ephemeral, swap, or a blank root disk. */
export function newDiskSpec(path: string, datastore: MoRef, capacityKb: number, slot: DiskSlot): VirtualDeviceConfigSpec {
  return {
    _type: 'VirtualDeviceConfigSpec', operation: 'add', fileOperation: 'create',
    device: {
      _type: 'VirtualDisk', key: slot.key,
      backing: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: path, datastore, diskMode: 'persistent', thinProvisioned: true },
      controllerKey: slot.controllerKey, unitNumber: slot.unitNumber,
      capacityInKB: capacityKb,
    } as VirtualDisk,
  };
}

/** An existing VMDK (a copied root disk, a volume) attached as it is: no fileOperation. */
export function existingDiskSpec(path: string, datastore: MoRef | undefined, capacityKb: number, slot: DiskSlot): VirtualDeviceConfigSpec {
  return {
    _type: 'VirtualDeviceConfigSpec', operation: 'add',
    device: {
      _type: 'VirtualDisk', key: slot.key,
      backing: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: path, ...(datastore ? { datastore } : {}), diskMode: 'persistent' },
      controllerKey: slot.controllerKey, unitNumber: slot.unitNumber,
      capacityInKB: capacityKb,
    } as VirtualDisk,
  };
}

/** Removes a device; for a disk the file stays unless `destroy` (volumes and kept disks: never). */
export function removeDeviceSpec(device: VirtualDevice, destroy = false): VirtualDeviceConfigSpec {
  return { _type: 'VirtualDeviceConfigSpec', operation: 'remove', ...(destroy ? { fileOperation: 'destroy' as const } : {}), device };
}

/**
 * An edit of a disk's capacity. The device is sent whole, as read back (vcsim drops a device
 * edited without its deviceInfo, then crashes), with capacityInKB and capacityInBytes replaced
 * in place so that the schema order holds.
 */
export function growDiskSpec(device: VirtualDisk, capacityKb: number): VirtualDeviceConfigSpec {
  const out: Record<string, unknown> = {};
  let bytesSet = false;
  for (const [k, v] of Object.entries(device)) {
    if (k === 'capacityInBytes') continue;
    if (k === 'capacityInKB') {
      out.capacityInKB = capacityKb;
      out.capacityInBytes = capacityKb * 1024;
      bytesSet = true;
      continue;
    }
    out[k] = v;
  }
  if (!bytesSet) { out.capacityInKB = capacityKb; out.capacityInBytes = capacityKb * 1024; }
  return { _type: 'VirtualDeviceConfigSpec', operation: 'edit', device: out as VirtualDisk };
}

export const diskCapacityKb = (d: VirtualDisk) => (d.capacityInBytes ? Math.ceil(Number(d.capacityInBytes) / 1024) : Number(d.capacityInKB ?? 0));

// ---- which disk is which ---------------------------------------------------------------------

export type DiskRole = 'root' | 'ephemeral' | 'swap' | 'rescue' | 'volume' | 'other';

/** The base file of a disk's backing chain (a snapshot puts a delta "-000001.vmdk" in front). */
export function baseFileName(d: VirtualDisk): string {
  let b = d.backing as { fileName?: string; parent?: unknown } | undefined;
  while (b?.parent && typeof b.parent === 'object') b = b.parent as typeof b;
  return String(b?.fileName ?? '');
}

/** Disk roles by file name, as the driver names them ("[ds] <uuid>/<uuid>.vmdk", "ephemeral_0.vmdk" …). */
export function diskRole(uuid: string, d: VirtualDisk): DiskRole {
  const name = baseFileName(d).replace(/^\[[^\]]*\]\s*/, '');
  const base = name.slice(name.lastIndexOf('/') + 1);
  if (/^volume-.+\.vmdk$/.test(base) && /(^|\/)volumes\//.test(name)) return 'volume';
  if (base === `${uuid}.vmdk` || new RegExp(`^${uuid}-\\d{6}\\.vmdk$`).test(base)) return 'root';
  if (base === `${uuid}-rescue.vmdk`) return 'rescue';
  if (/^ephemeral_\d+\.vmdk$/.test(base)) return 'ephemeral';
  if (base === 'swap.vmdk') return 'swap';
  return 'other';
}

/** The volume id of a volume disk ("volume-<id>.vmdk"). */
export function volumeIdOf(d: VirtualDisk): string | null {
  const m = /(?:^|\/)volume-(.+)\.vmdk$/.exec(baseFileName(d));
  return m ? m[1]! : null;
}
