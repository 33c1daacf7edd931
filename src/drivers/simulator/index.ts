// The embedded vSphere simulator as a Nova virt driver. Each method is the sequence of vim25
// calls Nova's vmwareapi driver makes (CreateVM_Task, PowerOnVM_Task, ReconfigVM_Task ...), run
// as asynchronous tasks on the simulated vCenter (vcenter.ts), so a real vCenter driver can
// mirror it. Methods are idempotent the way Nova's tasks need after a crash: each step checks
// the VM's current state and does only what is still missing.
import {
  clusterCpuInfo, InstanceNotFound, PowerState, VirtDriverError,
  type ComputeDriver, type ComputeNodeInfo, type DiskSpec, type FlavorSpec, type ImageSpec, type InstanceInfo,
  type InstanceSpec, type PowerStateCode, type SnapshotResult, type VifSpec,
} from '../../core/virt.ts';
import { SimVCenter, fault, GiB, BOOT_WRITE_BYTES } from './vcenter.ts';
import { renderConsole } from './console.ts';
import { sparseVmdkStream } from './vmdk.ts';
import type { Allocation, Datastore, FaultRule, PowerStateName, TaskInfo, VirtualDisk, VirtualMachine } from './model.ts';

export { SimVCenter } from './vcenter.ts';
export type { FaultRule, TaskInfo } from './model.ts';

/** vSphere power states as Nova's codes; 'paused' is a simulator extension (vSphere has none). */
const POWER: Record<PowerStateName, PowerStateCode> = {
  poweredOn: PowerState.RUNNING, poweredOff: PowerState.SHUTDOWN, suspended: PowerState.SUSPENDED, paused: PowerState.PAUSED,
};

export const OWNER_KEY = 'vistack.owner';
export const OWNER = 'vistack';
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const kb = (bytes: number) => Math.ceil(bytes / 1024);

export interface SimulatorOptions { dataDir: string; latencyMs?: number }

export class SimulatorDriver implements ComputeDriver {
  readonly name = 'simulator';
  private opts: SimulatorOptions;
  private vc: SimVCenter | null = null;
  private locks = new Map<string, Promise<unknown>>();

  constructor(opts: SimulatorOptions) { this.opts = opts; }

  async init() { if (!this.vc) this.vc = new SimVCenter({ dataDir: this.opts.dataDir, latencyMs: this.opts.latencyMs ?? 0 }); }
  async close() { this.vc?.close(); this.vc = null; }

  /** The simulated vCenter, for the admin API and tests. */
  get vcenter(): SimVCenter {
    if (!this.vc) throw new VirtDriverError('NotAuthenticated', 'The simulator driver is not initialised (call init())');
    return this.vc;
  }

  // ---- failure injection, in-process (the admin API and CLI reach the same rules) ----------

  /** Adds a rule, e.g. {method: 'CreateVM_Task', count: 2, fault: 'InsufficientResourcesFault'}. */
  injectFault(rule: { method?: string; vmName?: string; action?: 'fail' | 'hang' | 'latency'; fault?: string; message?: string; latencyMs?: number; count?: number | null }): FaultRule {
    return this.vcenter.addFault(rule);
  }
  listFaults(): FaultRule[] { return this.vcenter.listFaults(); }
  removeFault(id: string): boolean { return this.vcenter.deleteFault(id); }
  clearFaults() { this.vcenter.clearFaults(); }
  /** Default latency of every task, in ms. */
  setLatency(ms: number) { this.vcenter.latencyMs = ms; }
  recentTasks(): TaskInfo[] { return this.vcenter.recentTasks(); }

  // ---- inventory ---------------------------------------------------------------------------

  async listNodes(): Promise<ComputeNodeInfo[]> {
    const vc = this.vcenter;
    return vc.objs.clusters.map((c) => {
      const hosts = vc.hostsOf(c.moref);
      const dss = vc.datastoresOf(c.moref);
      const capacity = dss.reduce((a, d) => a + d.capacityBytes, 0);
      const free = dss.reduce((a, d) => a + vc.freeBytes(d), 0);
      return {
        nodename: vc.nodename(c),
        host: c.computeHost,
        clusterName: c.name,
        hypervisorType: 'VMware vCenter Server',
        hypervisorVersion: versionNumber(vc.version),
        hostIp: '127.0.0.1',
        vcpus: hosts.reduce((a, h) => a + h.cores, 0),
        memoryMb: hosts.reduce((a, h) => a + h.memoryMb, 0),
        localGb: Math.floor(capacity / GiB),
        localGbUsed: Math.floor((capacity - free) / GiB),
        cpuInfo: clusterCpuInfo(hosts),
      };
    });
  }

  async listInstances(): Promise<string[]> {
    return this.vcenter.allVms().filter((vm) => vm.extraConfig[OWNER_KEY] === OWNER).map((vm) => vm.name);
  }

  async listInstanceInfo(): Promise<InstanceInfo[]> {
    return this.vcenter.allVms().filter((vm) => vm.extraConfig[OWNER_KEY] === OWNER).map((vm) => this.info(vm));
  }

  async getInfo(uuid: string): Promise<InstanceInfo | null> {
    const vm = this.vcenter.vm(uuid);
    return vm ? this.info(vm) : null;
  }

  private info(vm: VirtualMachine): InstanceInfo {
    const vc = this.vcenter;
    const c = vc.cluster(vm.cluster);
    return {
      uuid: vm.name, powerState: POWER[vm.powerState], nodename: c ? vc.nodename(c) : vm.cluster,
      host: vc.host(vm.host)?.name ?? vm.host, vcpus: vm.vcpus, memoryMb: vm.memoryMb,
    };
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** Serialises the operations on one VM; operations on different VMs run concurrently. */
  private locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uuid) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(uuid, tail);
    tail.then(() => { if (this.locks.get(uuid) === tail) this.locks.delete(uuid); });
    return run;
  }

  private need(uuid: string): VirtualMachine {
    const vm = this.vcenter.vm(uuid);
    if (!vm) throw new InstanceNotFound(uuid);
    return vm;
  }

  private ent(vm: VirtualMachine) {
    return { moref: vm.moref, name: vm.name, displayName: vm.extraConfig['vistack.display-name'] };
  }

  /** One power-state task: checks the state when the task runs, as vCenter does (InvalidPowerState). */
  private power(vm: VirtualMachine, task: string, from: PowerStateName[], to: PowerStateName, event: string, also?: (v: VirtualMachine) => void): Promise<VirtualMachine> {
    const vc = this.vcenter;
    return vc.task(task, this.ent(vm), () => vc.mutateVm(vm.name, (v) => {
      also?.(v);
      if (!from.includes(v.powerState)) {
        throw fault('InvalidPowerState', `The attempted operation cannot be performed in the current state (${v.powerState}).`);
      }
      if (to === 'poweredOn' && (v.powerState === 'poweredOff' || v.powerState === 'suspended')) admit(vc, v);
      v.powerState = to;
      // The console shows what booted: remember whether it was the rescue disk.
      vc.addEvent(v, (event === 'reboot' || event === 'reset') && v.rescued ? `${event}-rescue` : event);
      if (event === 'boot' || event === 'boot-rescue' || event === 'reboot' || event === 'reset') {
        // A booting guest writes to its thin boot disk: the datastore's free space shrinks.
        const d = v.disks.find((x) => x.key === v.bootDisk) ?? v.disks.find((x) => x.kind === 'root');
        if (d && d.kind !== 'volume') d.committed = Math.min(d.capacityKb * 1024, d.committed + BOOT_WRITE_BYTES);
      }
    }));
  }

  private powerOnTask(vm: VirtualMachine, also?: (v: VirtualMachine) => void) {
    return this.power(vm, 'PowerOnVM_Task', ['poweredOff', 'suspended'], 'poweredOn',
      vm.powerState === 'suspended' ? 'resume' : vm.rescued ? 'boot-rescue' : 'boot', also);
  }
  private powerOffTask(vm: VirtualMachine) {
    // Nova stops a running guest cleanly first: its console shows the shutdown.
    return this.power(vm, 'PowerOffVM_Task', ['poweredOn', 'suspended', 'paused'], 'poweredOff', vm.powerState === 'poweredOn' ? 'shutdown' : 'poweroff');
  }
  private async ensureOff(vm: VirtualMachine): Promise<VirtualMachine> {
    return vm.powerState === 'poweredOff' ? vm : this.powerOffTask(vm);
  }

  /** The root disk as a linked clone of the cached image, or a blank thin disk. */
  private rootDisk(uuid: string, ds: Datastore, flavor: FlavorSpec, cached: { path: string; capacityKb: number; props: Record<string, unknown> } | null, key: number): VirtualDisk | null {
    const imageBytes = cached ? Math.ceil((cached.capacityKb * 1024) / GiB) * GiB : 0;
    const bytes = Math.max(flavor.rootGb * GiB, imageBytes);
    if (!bytes) return null; // boot from volume: no root disk on the datastore
    return {
      key, kind: 'root', path: `[${ds.name}] ${uuid}/${uuid}.vmdk`, datastore: ds.moref, capacityKb: kb(bytes), committed: 0,
      ...(cached ? { parent: cached.path, imageId: String(cached.props.imageId) } : {}),
    };
  }

  private flavorDisks(uuid: string, ds: Datastore, flavor: FlavorSpec, used: Set<number>): VirtualDisk[] {
    const out: VirtualDisk[] = [];
    if (flavor.ephemeralGb > 0) {
      out.push({ key: nextKey(used, 2000), kind: 'ephemeral', path: `[${ds.name}] ${uuid}/ephemeral_0.vmdk`, datastore: ds.moref, capacityKb: flavor.ephemeralGb * 1024 * 1024, committed: 0 });
    }
    if (flavor.swapMb > 0) {
      out.push({ key: nextKey(used, 2000), kind: 'swap', path: `[${ds.name}] ${uuid}/swap.vmdk`, datastore: ds.moref, capacityKb: flavor.swapMb * 1024, committed: 0 });
    }
    return out;
  }

  private annotation(i: InstanceSpec, image: ImageSpec | null) {
    const f = i.flavor;
    return [
      `name:${i.name}`, `userid:${i.userId}`, `projectid:${i.projectId}`, `flavor:name:${f.name}`,
      `flavor:memory_mb:${f.memoryMb}`, `flavor:vcpus:${f.vcpus}`, `flavor:ephemeral_gb:${f.ephemeralGb}`,
      `flavor:root_gb:${f.rootGb}`, `flavor:swap:${f.swapMb}`, `imageid:${image?.id ?? ''}`, 'package:vistack',
    ].join('\n');
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async spawn(instance: InstanceSpec, image: ImageSpec | null): Promise<InstanceInfo> {
    const vc = this.vcenter;
    return this.locked(instance.uuid, async () => {
      let vm = vc.vm(instance.uuid);
      if (!vm) {
        const cluster = vc.clusterByNodename(instance.nodename);
        if (!cluster) throw fault('NotFound', `Compute node ${instance.nodename} is not a cluster of vCenter ${vc.uuid}`);
        const ds = vc.pickDatastore(cluster.moref, (image?.size ?? 0));
        const ent = { name: instance.uuid, displayName: instance.name };
        const hw = flavorHardware(instance.flavor.extraSpecs ?? {});
        const cached = image ? await vc.ensureImageCached(ds, image, ent) : null;
        vm = await vc.task('CreateVM_Task', ent, () => vc.createVm((moref) => {
          const host = vc.pickHost(cluster.moref);
          const used = new Set<number>();
          const root = this.rootDisk(instance.uuid, ds, instance.flavor, cached, nextKey(used, 2000));
          if (!root) used.clear();
          return {
            moref, name: instance.uuid, cluster: cluster.moref, host: host.moref, datastore: ds.moref,
            powerState: 'poweredOff', vcpus: instance.flavor.vcpus, memoryMb: instance.flavor.memoryMb,
            guestId: image?.properties?.vmware_ostype ?? 'otherGuest64', ...hw,
            annotation: this.annotation(instance, image),
            extraConfig: {
              [OWNER_KEY]: OWNER, 'vistack.display-name': instance.name, 'vistack.project-id': instance.projectId,
              'nvp.vm-uuid': instance.uuid,
            },
            disks: [...(root ? [root] : []), ...this.flavorDisks(instance.uuid, ds, instance.flavor, used)],
            nics: [], bootDisk: root?.key, spawned: false, hostname: instance.hostname || 'localhost',
            flavorId: instance.flavor.id, created: new Date().toISOString(), events: [],
          };
        }));
      }
      if (!vm.spawned) {
        // NICs and volumes go on before the first power-on, as Nova's vmwareapi driver builds the VM
        // spec with them; each plug is idempotent, so a spawn rerun after a crash adds what is missing.
        for (const vif of instance.vifs ?? []) await this.plugVif(instance.uuid, vif);
        for (const [i, disk] of (instance.disks ?? []).entries()) await this.plugDisk(instance.uuid, disk, i === 0 && !image);
        vm = vc.vm(instance.uuid)!;
        // The first power-on completes the spawn (one write); a VM found running only needs the mark.
        const done = (v: VirtualMachine) => { v.spawned = true; };
        vm = vm.powerState === 'poweredOn' ? vc.mutateVm(vm.name, done) : await this.powerOnTask(vm, done);
      }
      return this.info(vm);
    });
  }

  async destroy(uuid: string): Promise<void> {
    const vc = this.vcenter;
    await this.locked(uuid, async () => {
      let vm = vc.vm(uuid);
      if (!vm) return;
      vm = await this.ensureOff(vm);
      await vc.task('Destroy_Task', this.ent(vm), () => {
        const cur = vc.vm(uuid);
        if (cur) vc.commitVm(null, cur); // its volume VMDKs stay: they are datastore files of their own
      });
    });
  }

  async reboot(uuid: string, type: 'SOFT' | 'HARD'): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (type === 'SOFT') {
        await this.power(vm, 'RebootGuest', ['poweredOn'], 'poweredOn', 'reboot');
      } else if (vm.powerState === 'poweredOn' || vm.powerState === 'paused') {
        await this.power(vm, 'ResetVM_Task', ['poweredOn', 'paused'], 'poweredOn', 'reset');
      } else {
        await this.powerOnTask(vm); // a hard reboot of a stopped or suspended VM starts it
      }
    });
  }

  async powerOff(uuid: string): Promise<void> {
    await this.locked(uuid, async () => { await this.ensureOff(this.need(uuid)); });
  }

  async powerOn(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (vm.powerState === 'poweredOn') return;
      if (vm.powerState === 'paused') await this.power(vm, 'UnpauseVM_Task', ['paused'], 'poweredOn', 'unpause');
      else await this.powerOnTask(vm);
    });
  }

  async pause(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (vm.powerState !== 'paused') await this.power(vm, 'PauseVM_Task', ['poweredOn'], 'paused', 'pause');
    });
  }

  async unpause(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (vm.powerState !== 'poweredOn') await this.power(vm, 'UnpauseVM_Task', ['paused'], 'poweredOn', 'unpause');
    });
  }

  async suspend(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (vm.powerState !== 'suspended') await this.power(vm, 'SuspendVM_Task', ['poweredOn', 'paused'], 'suspended', 'suspend');
    });
  }

  async resume(uuid: string): Promise<void> {
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (vm.powerState !== 'poweredOn') await this.power(vm, 'PowerOnVM_Task', ['suspended'], 'poweredOn', 'resume');
    });
  }

  async rescue(uuid: string, image: ImageSpec | null): Promise<void> {
    const vc = this.vcenter;
    await this.locked(uuid, async () => {
      let vm = this.need(uuid);
      if (!vm.rescued) {
        const ds = vc.datastore(vm.datastore)!;
        let parent: { path: string; capacityKb: number; imageId?: string };
        if (image) {
          const f = await vc.ensureImageCached(ds, image, this.ent(vm));
          parent = { path: f.path, capacityKb: f.capacityKb, imageId: image.id };
        } else {
          const root = vm.disks.find((d) => d.kind === 'root' && d.parent);
          if (!root) throw fault('InstanceNotRescuable', `VM ${uuid} has no image to boot a rescue disk from`);
          parent = { path: root.parent!, capacityKb: vc.file(root.parent!)?.capacityKb ?? root.capacityKb, imageId: root.imageId };
        }
        vm = await this.ensureOff(vm);
        vm = await vc.task('ReconfigVM_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
          if (v.rescued) return;
          const key = nextKey(new Set(v.disks.map((d) => d.key)), 2000);
          v.disks.push({
            key, kind: 'rescue', path: `[${ds.name}] ${uuid}/${uuid}-rescue.vmdk`, datastore: ds.moref,
            capacityKb: Math.max(kb(GiB), parent.capacityKb), committed: 0, parent: parent.path,
            ...(parent.imageId ? { imageId: parent.imageId } : {}),
          });
          v.bootDisk = key;
          v.rescued = true;
        }));
      }
      if (vm.powerState !== 'poweredOn') {
        vm = await this.ensureOff(vm); // from suspended/paused: restart cleanly into the rescue disk
        await this.powerOnTask(vm);
      }
    });
  }

  async unrescue(uuid: string): Promise<void> {
    const vc = this.vcenter;
    await this.locked(uuid, async () => {
      let vm = this.need(uuid);
      if (!vm.rescued) return;
      vm = await this.ensureOff(vm);
      vm = await vc.task('ReconfigVM_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
        v.disks = v.disks.filter((d) => d.kind !== 'rescue');
        v.bootDisk = v.disks.find((d) => d.kind === 'root')?.key;
        v.rescued = false;
      }));
      await this.powerOnTask(vm);
    });
  }

  async snapshot(uuid: string): Promise<SnapshotResult> {
    const vc = this.vcenter;
    return this.locked(uuid, async () => {
      const vm = this.need(uuid);
      const root = vm.disks.find((d) => d.kind === 'root');
      if (!root) throw fault('InvalidState', `VM ${uuid} has no root disk on a datastore (volume-backed): snapshot its volume instead`);
      await vc.task('CreateSnapshot_Task', this.ent(vm), () => undefined);
      // Export the disk as of the snapshot: the cached image it was cloned from (a linked
      // clone's data is the parent's plus a delta we do not model), or an empty sparse VMDK.
      const cached = root.parent ? vc.file(root.parent) : undefined;
      const result: SnapshotResult = cached
        ? { diskFormat: String(cached.props.diskFormat ?? 'vmdk'), containerFormat: 'bare', stream: vc.openCachedImage(cached) }
        : { diskFormat: 'vmdk', containerFormat: 'bare', stream: sparseVmdkStream(root.capacityKb * 1024, `${uuid}.vmdk`) };
      await vc.task('RemoveSnapshot_Task', this.ent(vm), () => undefined);
      return result;
    });
  }

  async resize(uuid: string, flavor: FlavorSpec): Promise<void> {
    const vc = this.vcenter;
    await this.locked(uuid, async () => {
      let vm = this.need(uuid);
      if (vm.resizeBackup && vm.flavorId !== flavor.id) {
        throw fault('ResizeError', `VM ${uuid} has a resize to flavor ${vm.flavorId} waiting for confirmation`);
      }
      const root = vm.disks.find((d) => d.kind === 'root');
      const eph = vm.disks.find((d) => d.kind === 'ephemeral');
      if (root && flavor.rootGb > 0 && flavor.rootGb * GiB < root.capacityKb * 1024) throw fault('ResizeError', 'Unable to shrink disk.');
      if (eph && flavor.ephemeralGb * GiB < eph.capacityKb * 1024) throw fault('ResizeError', 'Unable to shrink ephemeral disk.');
      const hw = flavorHardware(flavor.extraSpecs ?? {});
      const wasState = vm.resizeBackup ? undefined : vm.powerState;
      if (!vm.resizeBackup) {
        vm = await this.ensureOff(vm);
        const prior = wasState!;
        vm = await vc.task('ReconfigVM_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
          if (v.resizeBackup) return;
          v.resizeBackup = {
            vcpus: v.vcpus, memoryMb: v.memoryMb, flavorId: v.flavorId, disks: structuredClone(v.disks), powerState: prior,
            ...(v.cpuAllocation ? { cpuAllocation: v.cpuAllocation } : {}), ...(v.memoryAllocation ? { memoryAllocation: v.memoryAllocation } : {}),
          };
          setAllocations(v, hw);
          v.vcpus = flavor.vcpus;
          v.memoryMb = flavor.memoryMb;
          v.flavorId = flavor.id;
          const ds = vc.datastore(v.datastore)!;
          const used = new Set(v.disks.map((d) => d.key));
          const e = v.disks.find((d) => d.kind === 'ephemeral');
          if (e) e.capacityKb = flavor.ephemeralGb * 1024 * 1024;
          else if (flavor.ephemeralGb > 0) v.disks.push(...this.flavorDisks(uuid, ds, { ...flavor, swapMb: 0 }, used));
          // Swap holds nothing worth keeping: it is recreated at the new size (or removed).
          v.disks = v.disks.filter((d) => d.kind !== 'swap');
          if (flavor.swapMb > 0) v.disks.push(...this.flavorDisks(uuid, ds, { ...flavor, ephemeralGb: 0 }, new Set(v.disks.map((d) => d.key))));
        }));
      }
      const r = vm.disks.find((d) => d.kind === 'root');
      if (r && flavor.rootGb * GiB > r.capacityKb * 1024) {
        vm = await vc.task('ExtendVirtualDisk_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
          const d = v.disks.find((x) => x.kind === 'root')!;
          d.capacityKb = Math.max(d.capacityKb, kb(flavor.rootGb * GiB));
        }));
      }
      const target = vm.resizeBackup?.powerState ?? 'poweredOn';
      if (target === 'poweredOn' && vm.powerState !== 'poweredOn') await this.powerOnTask(await this.ensureOff(vm));
    });
  }

  async revertResize(uuid: string, oldFlavor: FlavorSpec): Promise<void> {
    const vc = this.vcenter;
    await this.locked(uuid, async () => {
      let vm = this.need(uuid);
      const backup = vm.resizeBackup;
      if (!backup && vm.flavorId === oldFlavor.id) return; // already reverted
      vm = await this.ensureOff(vm);
      vm = await vc.task('ReconfigVM_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
        if (v.resizeBackup) {
          const b = v.resizeBackup;
          v.vcpus = b.vcpus; v.memoryMb = b.memoryMb; v.flavorId = b.flavorId;
          setAllocations(v, b);
          // The original disks come back; disks attached since (volumes, rescue) stay.
          const keep = v.disks.filter((d) => d.kind === 'volume');
          v.disks = [...b.disks.filter((d) => d.kind !== 'volume'), ...keep];
          delete v.resizeBackup;
        } else {
          v.vcpus = oldFlavor.vcpus; v.memoryMb = oldFlavor.memoryMb; v.flavorId = oldFlavor.id;
          setAllocations(v, flavorHardware(oldFlavor.extraSpecs ?? {}));
        }
      }));
      if ((backup?.powerState ?? 'poweredOn') === 'poweredOn') await this.powerOnTask(vm);
    });
  }

  async confirmResize(uuid: string): Promise<void> {
    const vc = this.vcenter;
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (!vm.resizeBackup) return;
      // The pre-resize disks are deleted from the datastore now.
      await vc.task('DeleteDatastoreFile_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => { delete v.resizeBackup; }));
    });
  }

  async rebuild(instance: InstanceSpec, image: ImageSpec | null): Promise<void> {
    const vc = this.vcenter;
    const uuid = instance.uuid;
    await this.locked(uuid, async () => {
      let vm = this.need(uuid);
      const ds = vc.datastore(vm.datastore)!;
      const ent = this.ent(vm);
      const cached = image ? await vc.ensureImageCached(ds, image, ent) : null;
      vm = await this.ensureOff(vm);
      vm = await vc.task('ReconfigVM_Task', ent, () => vc.mutateVm(uuid, (v) => {
        const old = v.disks.find((d) => d.kind === 'root');
        const key = old?.key ?? nextKey(new Set(v.disks.map((d) => d.key)), 2000);
        const root = this.rootDisk(uuid, ds, instance.flavor, cached, key);
        v.disks = v.disks.filter((d) => d.kind !== 'root' && d.kind !== 'rescue');
        if (root) v.disks.unshift(root);
        v.bootDisk = root?.key;
        v.rescued = false;
        v.annotation = this.annotation(instance, image);
        v.extraConfig['vistack.display-name'] = instance.name;
        v.hostname = instance.hostname || v.hostname;
        v.guestId = image?.properties?.vmware_ostype ?? v.guestId;
      }));
      await this.powerOnTask(vm);
    });
  }

  // ---- devices -------------------------------------------------------------------------------

  async attachDisk(uuid: string, disk: DiskSpec): Promise<void> {
    await this.locked(uuid, () => this.plugDisk(uuid, disk));
  }

  /** attachDisk without the per-VM lock (spawn holds it). */
  private async plugDisk(uuid: string, disk: DiskSpec, boot = false): Promise<void> {
    const vc = this.vcenter;
    {
      const vm = this.need(uuid);
      if (vm.disks.some((d) => d.volumeId === disk.volumeId)) return;
      const ds = vc.datastoreByName(disk.datastore);
      if (!ds) throw fault('NotFound', `Datastore ${disk.datastore} does not exist`);
      if (vc.parseDsPath(disk.path).ds !== ds) throw fault('InvalidDatastorePath', `Datastore path '${disk.path}' is not on datastore ${ds.name}`);
      if (!ds.clusters.includes(vm.cluster)) throw fault('InvalidDatastore', `Datastore ${ds.name} is not mounted on the hosts of VM ${uuid}`);
      if (!(disk.sizeGb > 0)) throw fault('InvalidArgument', `Invalid volume size ${disk.sizeGb}`);
      const other = vc.allVms().find((v) => v.name !== uuid && v.disks.some((d) => d.path === disk.path));
      if (other) throw fault('FileLocked', `Unable to access file ${disk.path} since it is locked (in use by ${other.name})`);
      const file = vc.file(disk.path);
      if (!file || file.capacityKb < disk.sizeGb * 1024 * 1024) {
        // The volume's VMDK is created on first attach (Cinder's VMDK driver creates backings lazily).
        await vc.task('CreateVirtualDisk_Task', { moref: ds.moref, name: disk.path }, () => vc.store.tx(() => vc.putFile({
          path: disk.path, datastore: ds.moref, kind: 'volume', capacityKb: disk.sizeGb * 1024 * 1024, committed: file?.committed ?? 0,
          props: { volumeId: disk.volumeId },
        })));
      }
      await vc.task('ReconfigVM_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
        if (v.disks.some((d) => d.volumeId === disk.volumeId)) return;
        v.disks.push({
          key: nextKey(new Set(v.disks.map((d) => d.key)), 2000), kind: 'volume', path: disk.path, datastore: ds.moref,
          capacityKb: disk.sizeGb * 1024 * 1024, committed: 0, volumeId: disk.volumeId,
        });
        // Boot from volume: the volume is the VM's boot disk (it has no root disk of its own).
        if (boot && v.bootDisk === undefined) v.bootDisk = v.disks.at(-1)!.key;
      }));
    }
  }

  async detachDisk(uuid: string, volumeId: string): Promise<void> {
    const vc = this.vcenter;
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (!vm.disks.some((d) => d.volumeId === volumeId)) return;
      // The VMDK stays on the datastore (the volume's data); only the device goes.
      await vc.task('ReconfigVM_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
        v.disks = v.disks.filter((d) => d.volumeId !== volumeId);
      }));
    });
  }

  async attachInterface(uuid: string, vif: VifSpec): Promise<void> {
    await this.locked(uuid, () => this.plugVif(uuid, vif));
  }

  /** attachInterface without the per-VM lock (spawn holds it). */
  private async plugVif(uuid: string, vif: VifSpec): Promise<void> {
    const vc = this.vcenter;
    {
      const vm = this.need(uuid);
      if (vm.nics.some((n) => n.portId === vif.portId)) return;
      if (!MAC.test(vif.macAddress)) throw fault('InvalidArgument', `Invalid MAC address ${vif.macAddress}`);
      if (!vif.portGroup) throw fault('InvalidArgument', 'A port group name is required');
      // Until the network driver manages port groups, one is created on demand by name.
      const pg = await vc.ensurePortgroup(vif.portGroup);
      await vc.task('ReconfigVM_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
        if (v.nics.some((n) => n.portId === vif.portId)) return;
        const mac = vif.macAddress.toLowerCase();
        const dup = vc.allVms().find((o) => o.nics.some((n) => n.mac === mac && o.name !== uuid));
        if (dup) throw fault('DuplicateMacAddress', `MAC address ${mac} is already in use by VM ${dup.name}`);
        const key = nextKey(new Set(v.nics.map((n) => n.key)), 4000);
        v.nics.push({ key, type: 'VirtualVmxnet3', portId: vif.portId, mac, networkId: vif.networkId, portgroup: pg.moref, connected: true });
        v.extraConfig[`nvp.iface-id.${key - 4000}`] = vif.portId;
      }));
    }
  }

  async detachInterface(uuid: string, portId: string): Promise<void> {
    const vc = this.vcenter;
    await this.locked(uuid, async () => {
      const vm = this.need(uuid);
      if (!vm.nics.some((n) => n.portId === portId)) return;
      await vc.task('ReconfigVM_Task', this.ent(vm), () => vc.mutateVm(uuid, (v) => {
        const nic = v.nics.find((n) => n.portId === portId);
        if (!nic) return;
        v.nics = v.nics.filter((n) => n !== nic);
        delete v.extraConfig[`nvp.iface-id.${nic.key - 4000}`];
      }));
    });
  }

  async getConsoleOutput(uuid: string): Promise<string> {
    return renderConsole(this.need(uuid));
  }
}

/** Lowest free device key from base (SCSI unit 7 is the controller's own, as in vSphere). */
function nextKey(used: Set<number>, base: number): number {
  let k = base;
  while (used.has(k) || (base === 2000 && k - base === 7)) k++;
  used.add(k);
  return k;
}

/** '8.0.2' → 8000002, Nova's integer form of a version string. */
function versionNumber(v: string): number {
  const [a = 0, b = 0, c = 0] = v.split('.').map((x) => Number(x) || 0);
  return a * 1_000_000 + b * 1000 + c;
}

/**
 * vSphere resource allocation from Nova's VMware extra specs (quota:cpu_limit, quota:cpu_reservation,
 * quota:cpu_shares_level, quota:cpu_shares_share and the memory_ ones), and vmware:hw_version.
 */
export function flavorHardware(extraSpecs: Record<string, string>): { cpuAllocation?: Allocation; memoryAllocation?: Allocation; hwVersion?: string } {
  const out: { cpuAllocation?: Allocation; memoryAllocation?: Allocation; hwVersion?: string } = {};
  const int = (k: string, min: number) => {
    const v = extraSpecs[k];
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v.trim()) || Number(v) < min) throw fault('InvalidArgument', `Extra spec ${k}=${v} must be an integer >= ${min}`);
    return Number(v);
  };
  for (const res of ['cpu', 'memory'] as const) {
    const limit = int(`quota:${res}_limit`, -1);
    const reservation = int(`quota:${res}_reservation`, 0);
    const level = extraSpecs[`quota:${res}_shares_level`];
    const share = int(`quota:${res}_shares_share`, 0);
    if (limit === undefined && reservation === undefined && level === undefined && share === undefined) continue;
    if (level !== undefined && !['low', 'normal', 'high', 'custom'].includes(level)) {
      throw fault('InvalidArgument', `Extra spec quota:${res}_shares_level must be low, normal, high or custom`);
    }
    if (level === 'custom' && share === undefined) throw fault('InvalidArgument', `quota:${res}_shares_level=custom needs quota:${res}_shares_share`);
    out[res === 'cpu' ? 'cpuAllocation' : 'memoryAllocation'] = {
      limit: limit ?? -1, reservation: reservation ?? 0,
      shares: level === 'custom' ? { level, shares: share } : { level: (level ?? 'normal') as Allocation['shares']['level'] },
    };
  }
  const hw = extraSpecs['vmware:hw_version'];
  if (hw !== undefined) {
    if (!/^vmx-\d{2}$/.test(hw)) throw fault('InvalidArgument', `Extra spec vmware:hw_version=${hw} must look like vmx-19`);
    out.hwVersion = hw;
  }
  return out;
}

function setAllocations(v: VirtualMachine, a: { cpuAllocation?: Allocation; memoryAllocation?: Allocation }) {
  if (a.cpuAllocation) v.cpuAllocation = a.cpuAllocation; else delete v.cpuAllocation;
  if (a.memoryAllocation) v.memoryAllocation = a.memoryAllocation; else delete v.memoryAllocation;
}

/**
 * vSphere admission control at power-on: the reservations of the running VMs on a host may not
 * exceed its capacity (only VMs with reservations are checked; without, memory overcommits).
 */
function admit(vc: SimVCenter, vm: VirtualMachine) {
  const cpu = vm.cpuAllocation?.reservation ?? 0;
  const mem = vm.memoryAllocation?.reservation ?? 0;
  if (!cpu && !mem) return;
  const host = vc.host(vm.host)!;
  let cpuUsed = 0;
  let memUsed = 0;
  for (const o of vc.allVms()) {
    if (o.host !== vm.host || o.name === vm.name || (o.powerState !== 'poweredOn' && o.powerState !== 'paused')) continue;
    cpuUsed += o.cpuAllocation?.reservation ?? 0;
    memUsed += o.memoryAllocation?.reservation ?? 0;
  }
  if (mem && memUsed + mem > host.memoryMb) {
    throw fault('InsufficientResourcesFault', `Insufficient memory resources on host ${host.name}: ${mem} MB reserved needed, ${host.memoryMb - memUsed} MB unreserved`);
  }
  if (cpu && cpuUsed + cpu > host.cores * host.mhz) {
    throw fault('InsufficientResourcesFault', `Insufficient CPU resources on host ${host.name}: ${cpu} MHz reserved needed, ${host.cores * host.mhz - cpuUsed} MHz unreserved`);
  }
}
