// Nova's compute driver on real vCenters over vim25, mirroring the embedded simulator (names,
// idempotency, faults) the way Nova's vmwareapi vmops does it: each cluster is a compute node, an
// instance is a VM named by its uuid in the cluster's resource pool and Vistack's folder, its root
// disk copied from the datastore image cache. Every method checks the VM's current state and does
// only what is missing, so it can run again after a crash at any point. One or more vCenters:
// nodes are merged, spawn goes to the vCenter of the node, other calls find the VM by uuid.
import { Readable } from 'node:stream';
import {
  InstanceNotFound, VirtDriverError, clusterCpuInfo,
  type ComputeDriver, type ComputeNodeInfo, type DiskSpec, type FlavorSpec, type ImageSpec, type InstanceInfo,
  type InstanceSpec, type SnapshotResult, type VifSpec,
} from '../../core/virt.ts';
import type { ClusterInfo, DatastoreInfo, PortgroupInfo } from './inventory.ts';
import type { VSphereSession } from './session.ts';
import { Datastores, dsPath, parseDsPath } from './ds_util.ts';
import { VimFault, isFault } from './vim/client.ts';
import { get, listObjects } from './vim/props.ts';
import type { MoRef, OptionValue, ResourceAllocationInfo, VirtualDevice, VirtualDeviceConfigSpec, VirtualDisk } from './vim/types.ts';
import { asArray } from './vim/xml.ts';
import {
  FLAVOR_KEY, GiB, OWNER, OWNER_KEY, RESIZE_FROM_KEY, RESIZE_POWER_KEY, RESIZE_TO_KEY, SPAWNED_KEY, ScsiSlots,
  adapterOf, annotation, annotationImageId, baseFileName, bootOrderSpec, createSpec, diskCapacityKb, diskRole,
  existingDiskSpec, extraConfigMap, extraConfigSpec, flavorHardware, growDiskSpec, instanceExtraConfig, isDisk,
  newDiskSpec, optionValue, xmlText, powerStateCode, removeDeviceSpec, resizeSpec, versionNumber, volumeIdOf,
  type DiskSlot, type FlavorHardware,
} from './vm_util.ts';
import { detachVif, findNic, freeIfaceIndexes, ifaceOption, validateVif, vifDeviceSpec } from './vif.ts';
import { VSpherePerf, type VmStats } from './perf.ts';
import { ensureImageCached, forgetCachedImage, lookupCachedImage, streamOptimizedVmdk, type CachedImage } from './images.ts';

/** The pre-resize root disk's size, for a revert (the copy itself is "[ds] <uuid>/original.vmdk", as Nova's). */
const RESIZE_ROOT_KEY = 'vistack.resize-root-kb';
const SNAPSHOT_PREFIX = 'vistack-snapshot-';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

type VmProps = {
  name: string;
  'config.instanceUuid': string;
  'config.annotation': string;
  'config.extraConfig': OptionValue[];
  'config.hardware.device': VirtualDevice[];
  'config.hardware.numCPU': number;
  'config.hardware.memoryMB': number;
  'config.files.vmPathName': string;
  'config.bootOptions': { bootOrder?: Array<{ deviceKey?: number }> | { deviceKey?: number } };
  'config.cpuAllocation': ResourceAllocationInfo;
  'runtime.powerState': string;
  'runtime.host': MoRef;
  snapshot: { rootSnapshotList?: SnapshotTree[] };
};
type SnapshotTree = { snapshot: MoRef; name: string; childSnapshotList?: SnapshotTree[] };

const VM_PATHS: (keyof VmProps)[] = [
  'name', 'config.instanceUuid', 'config.annotation', 'config.extraConfig', 'config.hardware.device', 'config.hardware.numCPU',
  'config.hardware.memoryMB', 'config.files.vmPathName', 'config.bootOptions', 'runtime.powerState', 'runtime.host', 'snapshot',
];
const LIST_PATHS: (keyof VmProps)[] = [
  'name', 'config.instanceUuid', 'config.extraConfig', 'config.hardware.numCPU', 'config.hardware.memoryMB', 'runtime.powerState', 'runtime.host',
];

/** A VM as read at the start of an operation (re-read after each change that matters). */
interface Vm {
  uuid: string;
  session: VSphereSession;
  ref: MoRef;
  props: Partial<VmProps>;
  ec: Record<string, string>;
  devices: VirtualDevice[];
  power: string;
}

const disksOf = (vm: Vm) => vm.devices.filter(isDisk);
const diskOfRole = (vm: Vm, role: ReturnType<typeof diskRole>) => disksOf(vm).find((d) => diskRole(vm.uuid, d) === role);

export class VSphereComputeDriver implements ComputeDriver {
  readonly name = 'vsphere';
  readonly sessions: VSphereSession[];
  /** Where each VM was last found (vCenter and moref). */
  private readonly where = new Map<string, { session: VSphereSession; ref: MoRef }>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly perf = new WeakMap<VSphereSession, VSpherePerf>();

  constructor(sessions: VSphereSession[]) {
    if (!sessions.length) throw new Error('VSphereComputeDriver needs at least one vCenter session');
    this.sessions = sessions;
  }

  async init(): Promise<void> { await Promise.all(this.sessions.map((s) => s.open())); }
  async close(): Promise<void> { await Promise.all(this.sessions.map((s) => s.close())); }

  // ---- inventory ---------------------------------------------------------------------------

  async listNodes(): Promise<ComputeNodeInfo[]> {
    const out: ComputeNodeInfo[] = [];
    for (const s of this.sessions) {
      const inv = s.inventory;
      await inv.refresh(); // fresh capacity and free space, as Nova's periodic resource update reads them
      for (const c of inv.clusters) out.push(nodeInfo(s, c));
    }
    return out;
  }

  async listInstances(): Promise<string[]> {
    return (await this.ownedVms()).map((v) => v.uuid);
  }

  async listInstanceInfo(): Promise<InstanceInfo[]> {
    return (await this.ownedVms()).map((v) => this.info(v.session, v.uuid, v.props));
  }

  /** Every VM tagged as Vistack's in Vistack's folder of each vCenter: one property read per vCenter. */
  private async ownedVms(): Promise<Array<{ session: VSphereSession; uuid: string; ref: MoRef; props: Partial<VmProps> }>> {
    const all = await Promise.all(this.sessions.map(async (s) => {
      const vms = await listObjects<VmProps>(s.client, s.inventory.folder, 'VirtualMachine', LIST_PATHS);
      return vms.filter((v) => extraConfigMap(v.props['config.extraConfig'])[OWNER_KEY] === OWNER).map((v) => {
        const uuid = String(v.props['config.instanceUuid'] || v.props.name);
        this.where.set(uuid, { session: s, ref: v.ref });
        return { session: s, uuid, ref: v.ref, props: v.props };
      });
    }));
    return all.flat();
  }

  /**
   * The telemetry hook: the latest PerformanceManager sample (CPU, memory, disk, network) of the
   * given servers, or of every Vistack VM; one QueryPerf per vCenter.
   */
  async instanceStats(uuids?: string[]): Promise<VmStats[]> {
    const vms = await this.ownedVms();
    const wanted = uuids ? new Set(uuids) : null;
    const out: VmStats[] = [];
    for (const s of this.sessions) {
      const refs = vms.filter((v) => v.session === s && (!wanted || wanted.has(v.uuid))).map((v) => v.ref);
      if (!refs.length) continue;
      let perf = this.perf.get(s);
      if (!perf) { perf = new VSpherePerf(s); this.perf.set(s, perf); }
      out.push(...await perf.vmStats(refs));
    }
    return out;
  }

  async getInfo(uuid: string): Promise<InstanceInfo | null> {
    const vm = await this.load(uuid);
    return vm ? this.info(vm.session, uuid, vm.props) : null;
  }

  private info(s: VSphereSession, uuid: string, p: Partial<VmProps>): InstanceInfo {
    const inv = s.inventory;
    const hostRef = p['runtime.host'];
    const cluster = inv.clusterOfHost(hostRef);
    return {
      uuid, powerState: powerStateCode(p['runtime.powerState']), nodename: cluster?.nodename ?? '',
      host: inv.host(hostRef)?.name ?? hostRef?.value ?? '', vcpus: Number(p['config.hardware.numCPU'] ?? 0), memoryMb: Number(p['config.hardware.memoryMB'] ?? 0),
    };
  }

  // ---- finding VMs ---------------------------------------------------------------------------

  private async findByUuid(s: VSphereSession, uuid: string): Promise<MoRef | null> {
    const c = s.client;
    const ref = await c.call<MoRef | undefined>('FindByUuid', c.content.searchIndex!, {
      datacenter: s.inventory.datacenter.ref, uuid, vmSearch: true, instanceUuid: true,
    });
    return ref && typeof ref === 'object' && ref.value ? ref : null;
  }

  /** The VM of an instance on whichever vCenter has it, or null. */
  private async load(uuid: string): Promise<Vm | null> {
    const cached = this.where.get(uuid);
    if (cached) {
      const vm = await this.read(cached.session, uuid, cached.ref);
      if (vm) return vm;
      this.where.delete(uuid);
    }
    const refs = await Promise.all(this.sessions.map((s) => this.findByUuid(s, uuid)));
    for (const [i, ref] of refs.entries()) {
      if (!ref) continue;
      const vm = await this.read(this.sessions[i]!, uuid, ref);
      if (vm) { this.where.set(uuid, { session: vm.session, ref }); return vm; }
    }
    return null;
  }

  private async read(session: VSphereSession, uuid: string, ref: MoRef): Promise<Vm | null> {
    const props = await get<VmProps>(session.client, ref, VM_PATHS);
    if (!props) return null;
    // A moref is never reused by vCenter; the check guards against a stale cache entry anyway.
    if (props['config.instanceUuid'] && props['config.instanceUuid'] !== uuid && props.name !== uuid) return null;
    return {
      uuid, session, ref, props, ec: extraConfigMap(props['config.extraConfig']),
      devices: asArray(props['config.hardware.device']), power: String(props['runtime.powerState'] ?? 'poweredOff'),
    };
  }

  private async reload(vm: Vm): Promise<Vm> {
    const again = await this.read(vm.session, vm.uuid, vm.ref);
    if (!again) throw new InstanceNotFound(vm.uuid);
    return again;
  }

  private async need(uuid: string): Promise<Vm> {
    const vm = await this.load(uuid);
    if (!vm) throw new InstanceNotFound(uuid);
    return vm;
  }

  /** Serialises the operations on one VM (as the simulator); a VM that vanished mid-way is InstanceNotFound. */
  private locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const guarded = async () => {
      try { return await fn(); } catch (e) {
        if (isFault(e, 'ManagedObjectNotFound') && !(await this.load(uuid).catch(() => null))) throw new InstanceNotFound(uuid);
        throw e;
      }
    };
    const prev = this.locks.get(uuid) ?? Promise.resolve();
    const run = prev.then(guarded, guarded);
    const tail = run.catch(() => undefined);
    this.locks.set(uuid, tail);
    tail.then(() => { if (this.locks.get(uuid) === tail) this.locks.delete(uuid); });
    return run;
  }

  // ---- small steps -----------------------------------------------------------------------------

  private reconfig(vm: Vm, spec: Record<string, unknown>): Promise<unknown> {
    return vm.session.client.runTask('ReconfigVM_Task', vm.ref, { spec: { _type: 'VirtualMachineConfigSpec', ...spec } });
  }

  /** A power task; InvalidPowerState when the VM already is in the target state (a race, a retry) is success. */
  private async power(vm: Vm, method: string, target: string): Promise<void> {
    try {
      await vm.session.client.runTask(method, vm.ref);
    } catch (e) {
      if (isFault(e, 'InvalidPowerState')) {
        const p = await get<{ 'runtime.powerState': string }>(vm.session.client, vm.ref, ['runtime.powerState']);
        if (p?.['runtime.powerState'] === target) { vm.power = target; return; }
      }
      throw e;
    }
    vm.power = target;
  }

  private async ensureOff(vm: Vm): Promise<void> {
    if (vm.power !== 'poweredOff') await this.power(vm, 'PowerOffVM_Task', 'poweredOff');
  }

  private async ensureOn(vm: Vm): Promise<void> {
    if (vm.power !== 'poweredOn') await this.power(vm, 'PowerOnVM_Task', 'poweredOn');
  }

  private invalidPowerState(vm: Vm, what: string): VimFault {
    return new VimFault('InvalidPowerState', `${what}: the attempted operation cannot be performed in the current state (${vm.power}) of VM ${vm.uuid}`);
  }

  private files(vm: Vm | VSphereSession): Datastores {
    return new Datastores('session' in vm ? vm.session.inventory : vm.inventory);
  }

  /** The datastore of the VM's files ("[ds] <uuid>/<uuid>.vmx"). */
  private vmDatastore(vm: Vm): DatastoreInfo {
    const inv = vm.session.inventory;
    const vmx = vm.props['config.files.vmPathName'];
    const byName = vmx ? inv.datastoreByName(parseDsPath(vmx).datastore) : undefined;
    const root = diskOfRole(vm, 'root');
    const ds = byName ?? inv.datastore((root?.backing as { datastore?: MoRef } | undefined)?.datastore);
    if (!ds) throw new VirtDriverError('NotFound', `The datastore of VM ${vm.uuid} is not one Vistack may use`);
    return ds;
  }

  private clusterOf(vm: Vm): ClusterInfo | undefined {
    return vm.session.inventory.clusterOfHost(vm.props['runtime.host']);
  }

  private rootPath(ds: string, uuid: string) { return dsPath(ds, `${uuid}/${uuid}.vmdk`); }

  /** Copies a disk; a destination left by an interrupted earlier copy is removed first. */
  private async copyFresh(files: Datastores, src: string, dst: string): Promise<void> {
    try {
      await files.copyDisk(src, dst);
    } catch (e) {
      if (!isFault(e, 'FileAlreadyExists')) throw e;
      await files.deleteDisk(dst);
      await files.deleteFile(dst);
      await files.deleteFile(dst.replace(/\.vmdk$/, '-flat.vmdk'));
      await files.copyDisk(src, dst);
    }
  }

  /**
   * Copies the cached image to `dst`. A cache entry deleted behind our back (FileNotFound) is
   * uploaded again once.
   */
  private async copyFromCache(session: VSphereSession, ds: DatastoreInfo, image: ImageSpec, dst: string, cluster?: ClusterInfo): Promise<CachedImage> {
    const files = this.files(session);
    let cached = await ensureImageCached(session, ds, image, cluster);
    try {
      await this.copyFresh(files, cached.path, dst);
    } catch (e) {
      if (!isFault(e, 'FileNotFound')) throw e;
      forgetCachedImage(session, ds.name, image.id);
      cached = await ensureImageCached(session, ds, image, cluster);
      await this.copyFresh(files, cached.path, dst);
    }
    return cached;
  }

  private sessionOfNode(nodename: string): { session: VSphereSession; cluster: ClusterInfo } | null {
    for (const s of this.sessions) {
      const c = s.inventory.clusterByNodename(nodename);
      if (c) return { session: s, cluster: c };
    }
    return null;
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async spawn(instance: InstanceSpec, image: ImageSpec | null): Promise<InstanceInfo> {
    validateInstance(instance);
    // Bad extra specs or NICs fail before anything is made.
    const hw = flavorHardware(instance.flavor, image?.properties ?? {});
    for (const v of instance.vifs ?? []) validateVif(v);
    return this.locked(instance.uuid, async () => {
      let vm = await this.load(instance.uuid);
      if (!vm) {
        let node = this.sessionOfNode(instance.nodename);
        if (!node) {
          // A cluster added since the last refresh.
          await Promise.all(this.sessions.map((s) => s.inventory.refresh()));
          node = this.sessionOfNode(instance.nodename);
        }
        if (!node) throw new VirtDriverError('NotFound', `Compute node ${instance.nodename} is not a cluster of any configured vCenter`);
        vm = await this.createVm(node.session, node.cluster, instance, image, hw);
      }
      if (vm.ec[SPAWNED_KEY] !== 'true') vm = await this.completeSpawn(vm, instance, image);
      return this.info(vm.session, vm.uuid, vm.props);
    });
  }

  /** The VM with its disks and NICs in one CreateVM_Task, after its root disk was copied from the cache. */
  private async createVm(session: VSphereSession, cluster: ClusterInfo, instance: InstanceSpec, image: ImageSpec | null, hw: FlavorHardware): Promise<Vm> {
    const inv = session.inventory;
    const uuid = instance.uuid;
    const f = instance.flavor;
    const files = this.files(session);
    const ds = inv.pickDatastore(cluster, image?.size ?? 0);
    const volumes = (instance.disks ?? []).map((d) => this.volumeDatastore(session, cluster, d));
    const pgs: PortgroupInfo[] = [];
    for (const vif of instance.vifs ?? []) {
      const pg = await inv.portgroup(vif.portGroup);
      if (!pg) throw new VirtDriverError('NotFound', `Port group ${vif.portGroup} does not exist on vCenter ${session.config.name}`);
      pgs.push(pg);
    }
    // No VM exists: whatever an earlier attempt left in the instance folder goes (the VM's files are remade).
    for (const d of inv.datastoresOf(cluster)) await files.deleteFile(dsPath(d.name, uuid));
    await files.mkdir(ds.name, uuid);
    const rootPath = this.rootPath(ds.name, uuid);
    const slots = new ScsiSlots([], adapterOf(image));
    const slot = (): DiskSlot => ({ ...slots.take(), key: slots.tempKey() });
    const disks: VirtualDeviceConfigSpec[] = [];
    if (image) {
      const cached = await this.copyFromCache(session, ds, image, rootPath, cluster);
      disks.push(existingDiskSpec(rootPath, ds.ref, cached.capacityKb, slot()));
    } else if (f.rootGb > 0) {
      disks.push(newDiskSpec(rootPath, ds.ref, (f.rootGb * GiB) / 1024, slot()));
    }
    if (f.ephemeralGb > 0) disks.push(newDiskSpec(dsPath(ds.name, `${uuid}/ephemeral_0.vmdk`), ds.ref, f.ephemeralGb * 1024 * 1024, slot()));
    if (f.swapMb > 0) disks.push(newDiskSpec(dsPath(ds.name, `${uuid}/swap.vmdk`), ds.ref, f.swapMb * 1024, slot()));
    for (const [i, d] of (instance.disks ?? []).entries()) {
      await this.ensureVolumeFile(files, d);
      disks.push(existingDiskSpec(d.path, volumes[i]!.ref, d.sizeGb * 1024 * 1024, slot()));
    }
    const vifs = instance.vifs ?? [];
    const nics = vifs.map((v, i) => vifDeviceSpec(v, pgs[i]!, -47 - i));
    const ifaces = freeIfaceIndexes({}, vifs.length).map((n, i) => ifaceOption(n, vifs[i]!.portId));
    const spec = createSpec({
      instance, image, datastore: ds.name, hardware: hw,
      deviceChange: [...slots.adds, ...disks, ...nics], extraConfig: [...instanceExtraConfig(instance), ...ifaces],
    });
    let ref: MoRef;
    try {
      ref = await session.client.runTask<MoRef>('CreateVM_Task', inv.folder, { config: spec, pool: cluster.resourcePool });
    } catch (e) {
      // Another attempt (or process) made it meanwhile: continue with that VM.
      if (isFault(e, 'DuplicateName', 'FileAlreadyExists')) {
        const vm = await this.load(uuid);
        if (vm) return vm;
      }
      await files.deleteFile(dsPath(ds.name, uuid)).catch(() => undefined);
      throw e;
    }
    this.where.set(uuid, { session, ref });
    const vm = await this.read(session, uuid, ref);
    if (!vm) throw new InstanceNotFound(uuid);
    await inv.refreshDatastore(ds).catch(() => undefined);
    return vm;
  }

  /** What a spawn still lacks on an existing VM (root disk size, NICs, volumes), then the first power-on. */
  private async completeSpawn(vm: Vm, instance: InstanceSpec, image: ImageSpec | null): Promise<Vm> {
    await this.growRoot(vm, instance.flavor.rootGb);
    for (const vif of instance.vifs ?? []) vm = await this.plugVif(vm, vif);
    for (const disk of instance.disks ?? []) vm = await this.plugDisk(vm, disk);
    void image;
    await this.ensureOn(vm);
    await this.reconfig(vm, extraConfigSpec([optionValue(SPAWNED_KEY, 'true')]));
    return this.reload(vm);
  }

  /** Grows the root disk to the flavor's size, never shrinks it (the full device is sent, as read back). */
  private async growRoot(vm: Vm, rootGb: number): Promise<boolean> {
    const root = diskOfRole(vm, 'root');
    const want = (rootGb * GiB) / 1024;
    if (!root || !(want > diskCapacityKb(root))) return false;
    await this.reconfig(vm, { deviceChange: [growDiskSpec(root, want)] });
    return true;
  }

  async destroy(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = await this.load(uuid);
      if (!vm) {
        // No VM (never made, or lost by the vCenter): files an interrupted spawn left still go.
        for (const s of this.sessions) for (const d of s.inventory.datastores) await this.files(s).deleteFile(dsPath(d.name, uuid));
        return;
      }
      const ds = (() => { try { return this.vmDatastore(vm); } catch { return null; } })();
      await this.ensureOff(vm);
      // Disks that are not the VM's own (volumes) come off first: Destroy_Task deletes every attached disk.
      const foreign = disksOf(vm).filter((d) => !this.ownsDisk(vm, d));
      if (foreign.length) await this.reconfig(vm, { deviceChange: foreign.map((d) => removeDeviceSpec(d)) });
      try {
        await vm.session.client.runTask('Destroy_Task', vm.ref);
      } catch (e) {
        if (!isFault(e, 'ManagedObjectNotFound')) throw e;
      }
      this.where.delete(uuid);
      // Files Destroy_Task does not know of (original.vmdk of a pending resize, a detached rescue disk).
      if (ds) await this.files(vm).deleteFile(dsPath(ds.name, uuid));
    });
  }

  /** A disk in the VM's own folder ("[ds] <uuid>/…"), deleted with it; anything else is someone's data. */
  private ownsDisk(vm: Vm, d: VirtualDisk): boolean {
    const p = baseFileName(d).replace(/^\[[^\]]*\]\s*/, '');
    return p.startsWith(`${vm.uuid}/`) && diskRole(vm.uuid, d) !== 'volume';
  }

  async reboot(uuid: string, type: 'SOFT' | 'HARD'): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = await this.need(uuid);
      const c = vm.session.client;
      if (type === 'SOFT') {
        if (vm.power !== 'poweredOn') throw this.invalidPowerState(vm, 'RebootGuest');
        try {
          await c.call('RebootGuest', vm.ref);
        } catch (e) {
          // Without VMware Tools (or on vcsim, which lacks RebootGuest) Nova resets the VM instead.
          if (!isFault(e, 'MethodNotFound', 'NotImplemented', 'NotSupported', 'ToolsUnavailable')) throw e;
          await c.runTask('ResetVM_Task', vm.ref);
        }
      } else if (vm.power === 'poweredOn') {
        await c.runTask('ResetVM_Task', vm.ref);
      } else {
        await this.ensureOn(vm); // a hard reboot of a stopped or suspended VM starts it
      }
    });
  }

  async powerOff(uuid: string): Promise<void> {
    await this.locked(uuid, async () => { await this.ensureOff(await this.need(uuid)); });
  }

  async powerOn(uuid: string): Promise<void> {
    await this.locked(uuid, async () => { await this.ensureOn(await this.need(uuid)); });
  }

  /** vSphere has no paused state: Nova's vmwareapi driver raises NotImplementedError for pause and unpause. */
  async pause(_uuid: string): Promise<void> {
    throw new VirtDriverError('NotSupported', 'pause not supported for vmwareapi');
  }

  async unpause(_uuid: string): Promise<void> {
    throw new VirtDriverError('NotSupported', 'unpause not supported for vmwareapi');
  }

  async suspend(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = await this.need(uuid);
      if (vm.power === 'suspended') return;
      if (vm.power !== 'poweredOn') throw this.invalidPowerState(vm, 'SuspendVM_Task');
      await this.power(vm, 'SuspendVM_Task', 'suspended');
    });
  }

  async resume(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = await this.need(uuid);
      if (vm.power === 'poweredOn') return;
      if (vm.power !== 'suspended') throw this.invalidPowerState(vm, 'PowerOnVM_Task');
      await this.power(vm, 'PowerOnVM_Task', 'poweredOn');
    });
  }

  // ---- rescue ---------------------------------------------------------------------------------

  async rescue(uuid: string, image: ImageSpec | null): Promise<void> {
    await this.locked(uuid, async () => {
      let vm = await this.need(uuid);
      let disk = diskOfRole(vm, 'rescue');
      if (!disk || bootFirst(vm) !== disk.key) {
        const ds = this.vmDatastore(vm);
        const files = this.files(vm);
        const path = dsPath(ds.name, `${uuid}/${uuid}-rescue.vmdk`);
        if (!disk) {
          let src: CachedImage | null = null;
          if (!image) {
            const id = annotationImageId(vm.props['config.annotation']);
            src = id ? await lookupCachedImage(vm.session, ds, id) : null;
            if (!src) throw new VirtDriverError('InstanceNotRescuable', `VM ${uuid} has no image to boot a rescue disk from`);
          }
          await this.ensureOff(vm);
          // Nova's rescue disk: a copy of the cached image in the VM's folder, booted first.
          if (image) src = await this.copyFromCache(vm.session, ds, image, path, this.clusterOf(vm));
          else await this.copyFresh(files, src!.path, path);
          const slots = new ScsiSlots(vm.devices, adapterOf(image));
          const slot: DiskSlot = { ...slots.take(), key: slots.tempKey() };
          await this.reconfig(vm, { deviceChange: [...slots.adds, existingDiskSpec(path, ds.ref, src!.capacityKb, slot)] });
          vm = await this.reload(vm);
          disk = diskOfRole(vm, 'rescue');
          if (!disk) throw new VimFault('InvalidDeviceSpec', `The rescue disk of VM ${uuid} was not added`);
        }
        await this.ensureOff(vm);
        await this.reconfig(vm, bootOrderSpec(disk.key));
      }
      if (vm.power === 'suspended') await this.ensureOff(vm); // restart cleanly into the rescue disk
      await this.ensureOn(vm);
    });
  }

  async unrescue(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = await this.need(uuid);
      const disk = diskOfRole(vm, 'rescue');
      if (!disk) return;
      await this.ensureOff(vm);
      const boot = diskOfRole(vm, 'root') ?? firstDisk(disksOf(vm).filter((d) => d !== disk));
      await this.reconfig(vm, {
        deviceChange: [removeDeviceSpec(disk, true)],
        ...(boot ? (bootOrderSpec(boot.key) as Record<string, unknown>) : {}),
      });
      await this.ensureOn(vm);
    });
  }

  // ---- snapshot -------------------------------------------------------------------------------

  async snapshot(uuid: string): Promise<SnapshotResult> {
    return this.locked(uuid, async () => {
      let vm = await this.need(uuid);
      const c = vm.session.client;
      if (!diskOfRole(vm, 'root')) throw new VirtDriverError('InvalidState', `VM ${uuid} has no root disk on a datastore (volume-backed): snapshot its volume instead`);
      // A snapshot an interrupted earlier call left behind goes first.
      for (const old of ourSnapshots(vm.props.snapshot?.rootSnapshotList)) {
        try { await c.runTask('RemoveSnapshot_Task', old, { removeChildren: false }); } catch (e) { if (!isFault(e, 'ManagedObjectNotFound')) throw e; }
      }
      const snap = await c.runTask<MoRef>('CreateSnapshot_Task', vm.ref, {
        name: `${SNAPSHOT_PREFIX}${Date.now()}`, description: 'Vistack image snapshot', memory: false, quiesce: false,
      });
      let removed: Promise<void> | null = null;
      const remove = () => {
        removed ??= this.locked(uuid, async () => {
          try { await c.runTask('RemoveSnapshot_Task', snap, { removeChildren: false }); } catch (e) {
            if (!isFault(e, 'ManagedObjectNotFound')) throw e;
          }
        }).catch(() => undefined); // a snapshot left over is removed by the next snapshot()
        return removed;
      };
      try {
        vm = await this.reload(vm);
        // With the snapshot taken the base disk no longer changes: its extent is read as it is.
        const root = diskOfRole(vm, 'root')!;
        const base = baseFileName(root);
        const files = this.files(vm);
        let dl;
        try { dl = await files.download(base.replace(/\.vmdk$/, '-flat.vmdk')); } catch (e) {
          if (!isFault(e, 'FileNotFound')) throw e;
          dl = await files.download(base); // a single-file disk (no -flat extent)
        }
        const capacity = diskCapacityKb(root) * 1024;
        const name = `${uuid}.vmdk`;
        const source = dl.stream;
        async function* vmdk() {
          try { yield* streamOptimizedVmdk(source, capacity, name); } finally {
            source.destroy();
            await remove();
          }
        }
        const stream = Readable.from(vmdk());
        // A stream destroyed before it was read still releases the snapshot.
        stream.once('close', () => { void remove(); });
        return { diskFormat: 'vmdk', containerFormat: 'bare', stream };
      } catch (e) {
        await c.runTask('RemoveSnapshot_Task', snap, { removeChildren: false }).catch(() => undefined);
        removed = Promise.resolve();
        throw e;
      }
    });
  }

  // ---- resize ---------------------------------------------------------------------------------

  async resize(uuid: string, flavor: FlavorSpec): Promise<void> {
    const hw = flavorHardware(flavor);
    await this.locked(uuid, async () => {
      let vm = await this.need(uuid);
      const pending = vm.ec[RESIZE_TO_KEY];
      if (pending && pending !== flavor.id) throw new VirtDriverError('ResizeError', `VM ${uuid} has a resize to flavor ${pending} waiting for confirmation`);
      if (!pending) {
        const root = diskOfRole(vm, 'root');
        const eph = diskOfRole(vm, 'ephemeral');
        if (root && flavor.rootGb > 0 && (flavor.rootGb * GiB) / 1024 < diskCapacityKb(root)) throw new VirtDriverError('ResizeError', 'Unable to shrink disk.');
        if (eph && (flavor.ephemeralGb * GiB) / 1024 < diskCapacityKb(eph)) throw new VirtDriverError('ResizeError', 'Unable to shrink ephemeral disk.');
        const prior = vm.power;
        await this.ensureOff(vm);
        // The note of the old flavor goes with the new CPU and memory, in one reconfiguration.
        await this.reconfig(vm, resizeSpec(flavor, hw, withFlavor(vm.props['config.annotation'], flavor), [
          optionValue(RESIZE_TO_KEY, flavor.id), optionValue(RESIZE_FROM_KEY, vm.ec[FLAVOR_KEY] ?? ''),
          optionValue(RESIZE_POWER_KEY, prior), optionValue(RESIZE_ROOT_KEY, String(root ? diskCapacityKb(root) : 0)),
          optionValue(FLAVOR_KEY, flavor.id),
        ]));
        vm = await this.reload(vm);
      }
      const root = diskOfRole(vm, 'root');
      if (root && (flavor.rootGb * GiB) / 1024 > diskCapacityKb(root)) {
        await this.ensureOff(vm);
        // Nova keeps the pre-resize disk as original.vmdk until the resize is confirmed.
        const ds = this.vmDatastore(vm);
        const files = this.files(vm);
        const original = dsPath(ds.name, `${uuid}/original.vmdk`);
        if (!(await files.exists(original))) await this.copyFresh(files, baseFileName(root), original);
        await this.growRoot(vm, flavor.rootGb);
        vm = await this.reload(vm);
      }
      vm = await this.flavorDisks(vm, flavor);
      if ((vm.ec[RESIZE_POWER_KEY] ?? 'poweredOn') === 'poweredOn') await this.ensureOn(vm);
    });
  }

  /**
   * Ephemeral and swap disks at the flavor's sizes: as Nova's vmwareapi resize, a disk of another
   * size is dropped and made anew (swap holds nothing to keep; ephemeral disks start empty).
   */
  private async flavorDisks(vm: Vm, flavor: FlavorSpec): Promise<Vm> {
    const ds = this.vmDatastore(vm);
    const change: VirtualDeviceConfigSpec[] = [];
    const keep = [...vm.devices];
    const wanted: Array<{ role: 'ephemeral' | 'swap'; kb: number; file: string }> = [
      { role: 'ephemeral', kb: flavor.ephemeralGb * 1024 * 1024, file: 'ephemeral_0.vmdk' },
      { role: 'swap', kb: flavor.swapMb * 1024, file: 'swap.vmdk' },
    ];
    const adds: Array<{ kb: number; file: string; slot?: { controllerKey: number; unitNumber: number } }> = [];
    for (const w of wanted) {
      const cur = diskOfRole(vm, w.role);
      if (cur && diskCapacityKb(cur) === w.kb) continue;
      if (!cur && !w.kb) continue;
      if (cur) {
        change.push(removeDeviceSpec(cur, true));
        keep.splice(keep.indexOf(cur), 1);
      }
      if (w.kb) adds.push({ kb: w.kb, file: w.file, ...(cur ? { slot: { controllerKey: Number(cur.controllerKey), unitNumber: Number(cur.unitNumber) } } : {}) });
    }
    if (!change.length && !adds.length) return vm;
    await this.ensureOff(vm);
    const slots = new ScsiSlots(keep);
    for (const a of adds) {
      const s = a.slot ?? slots.take();
      change.push(newDiskSpec(dsPath(ds.name, `${vm.uuid}/${a.file}`), ds.ref, a.kb, { ...s, key: slots.tempKey() }));
    }
    await this.reconfig(vm, { deviceChange: [...slots.adds, ...change] });
    return this.reload(vm);
  }

  async revertResize(uuid: string, oldFlavor: FlavorSpec): Promise<void> {
    const hw = flavorHardware(oldFlavor);
    await this.locked(uuid, async () => {
      let vm = await this.need(uuid);
      const pending = vm.ec[RESIZE_TO_KEY];
      if (!pending && vm.ec[FLAVOR_KEY] === oldFlavor.id) return; // already reverted
      const prior = vm.ec[RESIZE_POWER_KEY] ?? 'poweredOn';
      await this.ensureOff(vm);
      // The pre-resize root disk comes back (Nova's _revert_migration_update_disks).
      const ds = this.vmDatastore(vm);
      const files = this.files(vm);
      const rootPath = this.rootPath(ds.name, uuid);
      const original = dsPath(ds.name, `${uuid}/original.vmdk`);
      const root = diskOfRole(vm, 'root');
      let slot = root ? { controllerKey: Number(root.controllerKey), unitNumber: Number(root.unitNumber) } : undefined;
      if (await files.exists(original)) {
        if (root) await this.reconfig(vm, { deviceChange: [removeDeviceSpec(root)] });
        await files.deleteDisk(rootPath);
        await files.moveDisk(original, rootPath);
        vm = await this.reload(vm);
      }
      if (!diskOfRole(vm, 'root') && (await files.exists(rootPath))) {
        const slots = new ScsiSlots(vm.devices);
        const s = slot ?? slots.take();
        slot = undefined;
        const kb = Number(vm.ec[RESIZE_ROOT_KEY]) || (oldFlavor.rootGb * GiB) / 1024;
        await this.reconfig(vm, { deviceChange: [...slots.adds, existingDiskSpec(rootPath, ds.ref, kb, { ...s, key: slots.tempKey() })] });
        vm = await this.reload(vm);
      }
      vm = await this.flavorDisks(vm, oldFlavor);
      // The note goes last: a revert interrupted before this point runs again in full.
      await this.reconfig(vm, resizeSpec(oldFlavor, hw, withFlavor(vm.props['config.annotation'], oldFlavor), [
        optionValue(FLAVOR_KEY, oldFlavor.id), ...clearResizeNote(),
      ]));
      if (prior === 'poweredOn') await this.ensureOn(vm);
    });
  }

  async confirmResize(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = await this.need(uuid);
      if (!vm.ec[RESIZE_TO_KEY]) return;
      const ds = this.vmDatastore(vm);
      // The pre-resize disk is deleted now.
      await this.files(vm).deleteDisk(dsPath(ds.name, `${uuid}/original.vmdk`));
      await this.reconfig(vm, extraConfigSpec(clearResizeNote()));
    });
  }

  // ---- rebuild --------------------------------------------------------------------------------

  async rebuild(instance: InstanceSpec, image: ImageSpec | null): Promise<void> {
    validateInstance(instance);
    flavorHardware(instance.flavor, image?.properties ?? {});
    const uuid = instance.uuid;
    await this.locked(uuid, async () => {
      let vm = await this.need(uuid);
      const ds = this.vmDatastore(vm);
      const files = this.files(vm);
      if (image) await ensureImageCached(vm.session, ds, image, this.clusterOf(vm)); // before the old disk goes
      await this.ensureOff(vm);
      // The old root (and a rescue disk) go with their files; a new root disk comes from the image.
      const root = diskOfRole(vm, 'root');
      const rescue = diskOfRole(vm, 'rescue');
      const old = [root, rescue].filter((d): d is VirtualDisk => !!d);
      if (old.length) await this.reconfig(vm, { deviceChange: old.map((d) => removeDeviceSpec(d, true)) });
      const rootPath = this.rootPath(ds.name, uuid);
      await files.deleteDisk(rootPath); // left by an interrupted earlier rebuild
      vm = await this.reload(vm);
      const slots = new ScsiSlots(vm.devices, adapterOf(image));
      const s = root ? { controllerKey: Number(root.controllerKey), unitNumber: Number(root.unitNumber) } : slots.take();
      const slot: DiskSlot = { ...s, key: slots.tempKey() };
      const add: VirtualDeviceConfigSpec[] = [];
      if (image) {
        const cached = await this.copyFromCache(vm.session, ds, image, rootPath, this.clusterOf(vm));
        add.push(existingDiskSpec(rootPath, ds.ref, cached.capacityKb, slot));
      } else if (instance.flavor.rootGb > 0) {
        add.push(newDiskSpec(rootPath, ds.ref, (instance.flavor.rootGb * GiB) / 1024, slot));
      }
      await this.reconfig(vm, {
        guestId: image?.properties?.vmware_ostype || 'otherGuest64',
        annotation: annotation(instance, image),
        deviceChange: [...slots.adds, ...add],
        extraConfig: [optionValue('vistack.display-name', instance.name)],
      });
      vm = await this.reload(vm);
      await this.growRoot(vm, instance.flavor.rootGb);
      const newRoot = diskOfRole(vm, 'root');
      if (newRoot && bootOrderKeys(vm).length) await this.reconfig(vm, bootOrderSpec(newRoot.key));
      await this.ensureOn(vm);
    });
  }

  // ---- devices --------------------------------------------------------------------------------

  async attachDisk(uuid: string, disk: DiskSpec): Promise<void> {
    await this.locked(uuid, async () => { await this.plugDisk(await this.need(uuid), disk); });
  }

  /** The datastore of a volume, checked: it exists, the path is on it, the VM's cluster mounts it. */
  private volumeDatastore(session: VSphereSession, cluster: ClusterInfo | undefined, disk: DiskSpec): DatastoreInfo {
    if (!disk.volumeId) throw new VirtDriverError('InvalidArgument', 'A volume id is required');
    if (!(disk.sizeGb > 0)) throw new VirtDriverError('InvalidArgument', `Invalid volume size ${disk.sizeGb}`);
    let parsed;
    try { parsed = parseDsPath(disk.path); } catch { throw new VirtDriverError('InvalidDatastorePath', `Invalid datastore path '${disk.path}'`); }
    const ds = session.inventory.datastoreByName(disk.datastore);
    if (!ds) throw new VirtDriverError('NotFound', `Datastore ${disk.datastore} does not exist`);
    if (parsed.datastore !== ds.name) throw new VirtDriverError('InvalidDatastorePath', `Datastore path '${disk.path}' is not on datastore ${ds.name}`);
    if (cluster && !cluster.datastores.some((r) => r.value === ds.ref.value)) {
      throw new VirtDriverError('InvalidDatastore', `Datastore ${ds.name} is not mounted on the hosts of cluster ${cluster.name}`);
    }
    return ds;
  }

  /** A volume's VMDK is made on first attach when missing (Cinder's VMDK driver makes backings lazily), as the simulator does. */
  private async ensureVolumeFile(files: Datastores, disk: DiskSpec): Promise<void> {
    if (await files.exists(disk.path)) return;
    try {
      await files.createDisk(disk.path, disk.sizeGb * 1024 * 1024, 'thin', 'lsiLogic');
    } catch (e) {
      if (!isFault(e, 'FileAlreadyExists')) throw e;
    }
  }

  private async plugDisk(vm: Vm, disk: DiskSpec): Promise<Vm> {
    const ds = this.volumeDatastore(vm.session, this.clusterOf(vm), disk);
    if (disksOf(vm).some((d) => volumeIdOf(d) === disk.volumeId || baseFileName(d) === disk.path)) return vm;
    const files = this.files(vm);
    const spec = () => {
      const slots = new ScsiSlots(vm.devices);
      const slot: DiskSlot = { ...slots.take(), key: slots.tempKey() };
      // Attached as it is: no fileOperation, so detach and destroy never touch the file.
      return { deviceChange: [...slots.adds, existingDiskSpec(disk.path, ds.ref, disk.sizeGb * 1024 * 1024, slot)] };
    };
    try {
      await this.reconfig(vm, spec());
    } catch (e) {
      if (!isFault(e, 'FileNotFound')) throw e;
      await this.ensureVolumeFile(files, disk);
      await this.reconfig(vm, spec());
    }
    return this.reload(vm);
  }

  async detachDisk(uuid: string, volumeId: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = await this.need(uuid);
      const d = disksOf(vm).find((x) => volumeIdOf(x) === volumeId);
      if (!d) return;
      // The VMDK stays on the datastore (the volume's data): no fileOperation.
      await this.reconfig(vm, { deviceChange: [removeDeviceSpec(d)] });
    });
  }

  async attachInterface(uuid: string, vif: VifSpec): Promise<void> {
    validateVif(vif);
    await this.locked(uuid, async () => { await this.plugVif(await this.need(uuid), vif); });
  }

  private async plugVif(vm: Vm, vif: VifSpec): Promise<Vm> {
    validateVif(vif);
    if (findNic(vm.devices, vif.portId)) return vm;
    const pg = await vm.session.inventory.portgroup(vif.portGroup);
    if (!pg) throw new VirtDriverError('NotFound', `Port group ${vif.portGroup} does not exist on vCenter ${vm.session.config.name}`);
    const [index] = freeIfaceIndexes(vm.ec, 1);
    await this.reconfig(vm, { deviceChange: [vifDeviceSpec(vif, pg, -47)], extraConfig: [ifaceOption(index!, vif.portId)] });
    return this.reload(vm);
  }

  async detachInterface(uuid: string, portId: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = await this.need(uuid);
      const change = detachVif(vm.devices, vm.ec, portId);
      if (!change.deviceChange.length && !change.extraConfig.length) return;
      await this.reconfig(vm, {
        ...(change.deviceChange.length ? { deviceChange: change.deviceChange } : {}),
        ...(change.extraConfig.length ? { extraConfig: change.extraConfig } : {}),
      });
    });
  }

  /**
   * vim25 has no serial console log. Nova's vmwareapi driver reads one written by a Virtual Serial
   * Port Concentrator and, when there is none (the default), answers an empty log: so does this.
   */
  async getConsoleOutput(uuid: string): Promise<string> {
    await this.need(uuid);
    return '';
  }
}

// ---- helpers ------------------------------------------------------------------------------------

function validateInstance(i: InstanceSpec) {
  // The uuid names the VM and its datastore folder.
  if (!i.uuid || !NAME.test(i.uuid)) throw new VirtDriverError('InvalidArgument', `Invalid instance uuid ${i.uuid}`);
  const f = i.flavor;
  if (!f || !(f.vcpus >= 1) || !(f.memoryMb >= 1) || !(f.rootGb >= 0) || !(f.ephemeralGb >= 0) || !(f.swapMb >= 0)) {
    throw new VirtDriverError('InvalidArgument', `Invalid flavor for instance ${i.uuid}`);
  }
}

function nodeInfo(s: VSphereSession, c: ClusterInfo): ComputeNodeInfo {
  const inv = s.inventory;
  // As Nova's get_stats_from_cluster: connected hosts out of maintenance, vCPUs are their threads.
  const hosts = c.hosts.map((r) => inv.host(r)).filter((h) => !!h && h.connected && !h.maintenance) as NonNullable<ReturnType<typeof inv.host>>[];
  const dss = inv.datastoresOf(c);
  const capacity = dss.reduce((a, d) => a + d.capacity, 0);
  const free = dss.reduce((a, d) => a + d.freeSpace, 0);
  return {
    nodename: c.nodename,
    host: c.computeHost,
    clusterName: c.name,
    hypervisorType: 'VMware vCenter Server',
    hypervisorVersion: versionNumber(s.client.content.about.version),
    hostIp: s.client.url.hostname,
    vcpus: hosts.reduce((a, h) => a + h.threads, 0),
    memoryMb: hosts.reduce((a, h) => a + Math.floor(h.memoryBytes / 2 ** 20), 0),
    localGb: Math.floor(capacity / GiB),
    localGbUsed: Math.floor((capacity - free) / GiB),
    cpuInfo: clusterCpuInfo(hosts),
  };
}

function bootOrderKeys(vm: Vm): number[] {
  return asArray(vm.props['config.bootOptions']?.bootOrder as { deviceKey?: number }[] | undefined)
    .map((b) => Number(b.deviceKey)).filter((k) => Number.isFinite(k));
}

function bootFirst(vm: Vm): number | undefined { return bootOrderKeys(vm)[0]; }

/** The disk the BIOS boots without a boot order: the lowest controller bus / unit. */
function firstDisk(disks: VirtualDisk[]): VirtualDisk | undefined {
  return [...disks].sort((a, b) => Number(a.controllerKey) - Number(b.controllerKey) || Number(a.unitNumber) - Number(b.unitNumber))[0];
}

function ourSnapshots(list: SnapshotTree[] | undefined): MoRef[] {
  const out: MoRef[] = [];
  for (const t of asArray(list)) {
    if (String(t.name ?? '').startsWith(SNAPSHOT_PREFIX)) out.push(t.snapshot);
    out.push(...ourSnapshots(t.childSnapshotList));
  }
  return out;
}

function clearResizeNote(): OptionValue[] {
  return [RESIZE_TO_KEY, RESIZE_FROM_KEY, RESIZE_POWER_KEY, RESIZE_ROOT_KEY].map((k) => optionValue(k, ''));
}

/** The annotation with the flavor lines of another flavor. */
function withFlavor(raw: string | undefined, f: FlavorSpec): string | undefined {
  const text = xmlText(raw);
  if (!text) return undefined;
  const lines: Record<string, string | number> = {
    'flavor:name': f.name, 'flavor:memory_mb': f.memoryMb, 'flavor:vcpus': f.vcpus, 'flavor:ephemeral_gb': f.ephemeralGb,
    'flavor:root_gb': f.rootGb, 'flavor:swap': f.swapMb,
  };
  return text.split('\n').map((l) => {
    const k = Object.keys(lines).find((x) => l.startsWith(`${x}:`) && !l.slice(x.length + 1).includes(':'));
    return k ? `${k}:${lines[k]}` : l;
  }).join('\n');
}
