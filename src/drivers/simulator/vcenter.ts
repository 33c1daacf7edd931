// The simulated vCenter Server: inventory in memory (write-through to its own SQLite file),
// vSphere-style asynchronous tasks with configurable latency and failure injection, DRS-like
// placement, thin-provisioned datastore accounting and the datastore image cache. The driver in
// index.ts composes these operations the way Nova's vmwareapi driver composes vim25 calls, so a
// real vCenter driver can mirror it call for call.
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { VirtDriverError, type ImageSpec } from '../../core/virt.ts';
import {
  InventoryStore, ensureInventory, inventoryDir, inventoryFile, type DatastoreFile, type InventoryObjects,
} from './inventory.ts';
import type {
  Cluster, Datastore, FaultRule, HostSystem, Portgroup, PowerStateName, TaskInfo, VirtualMachine,
} from './model.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const RECENT_TASKS = 500;
const MAX_EVENTS = 24;
/** What a guest writes to its thin root disk per boot (logs, cloud-init, package cache). */
export const BOOT_WRITE_BYTES = 8 * MiB;

export const fault = (name: string, message: string) => new VirtDriverError(name, message);

interface Usage { committed: number; provisioned: number }
interface HostLoad { vms: number; vcpus: number; memoryMb: number }
interface Hung { ruleId: string; release(): void; cancel(e: Error): void }

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export class SimVCenter {
  readonly dir: string;
  readonly store: InventoryStore;
  latencyMs: number;
  uuid = '';
  version = '8.0.2';
  build = '';
  objs!: InventoryObjects;
  private vms = new Map<string, VirtualMachine>(); // by name (instance uuid)
  private files = new Map<string, DatastoreFile>(); // by datastore path
  private dsUse = new Map<string, Usage>();
  private hostLoad = new Map<string, HostLoad>();
  private recent: TaskInfo[] = [];
  private faults: FaultRule[] = [];
  private faultsVersion = -1;
  private hung = new Set<Hung>();
  private hungPoll: NodeJS.Timeout | null = null;
  private copies = new Map<string, Promise<DatastoreFile>>();
  private nextId = 100;
  private taskSeq = 0;
  private taskReserved = 0;
  private closed = false;

  /** readOnly: a view of another process's simulator (the CLI); it never writes. */
  constructor(opts: { dataDir: string; latencyMs?: number; readOnly?: boolean }) {
    this.dir = inventoryDir(opts.dataDir);
    this.latencyMs = opts.latencyMs ?? 0;
    const file = inventoryFile(opts.dataDir);
    if (opts.readOnly) {
      if (!existsSync(file)) throw new Error(`No simulator inventory at ${file}`);
      this.store = new InventoryStore(file, { readOnly: true });
      this.closed = false;
    } else {
      mkdirSync(this.dir, { recursive: true });
      this.store = new InventoryStore(file);
      ensureInventory(this.store, this.dir);
      removePartialCopies(join(this.dir, 'datastores'));
    }
    this.uuid = this.store.getMeta('instance_uuid') ?? '';
    this.version = this.store.getMeta('version') ?? '8.0.2';
    this.build = this.store.getMeta('build') ?? '';
    this.nextId = Number(this.store.getMeta('next_id') ?? 100);
    // Task ids are reserved in blocks so a task costs no write of its own, and never repeat.
    this.taskSeq = Number(this.store.getMeta('task_reserved') ?? this.nextId * 10);
    if (!opts.readOnly) this.reserveTasks();
    this.objs = this.store.loadObjects();
    for (const ds of this.objs.datastores) this.dsUse.set(ds.moref, { committed: 0, provisioned: 0 });
    for (const h of this.objs.hosts) this.hostLoad.set(h.moref, { vms: 0, vcpus: 0, memoryMb: 0 });
    for (const f of this.store.loadFiles()) { this.files.set(f.path, f); this.accountFile(f, 1); }
    for (const vm of this.store.loadVms()) { this.vms.set(vm.name, vm); this.account(vm, 1); }
    this.reloadFaults(true);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.hung) h.cancel(fault('RequestCanceled', 'The task was canceled: the vCenter connection closed'));
    this.hung.clear();
    if (this.hungPoll) clearInterval(this.hungPoll);
    this.store.close();
  }

  // ---- inventory lookups --------------------------------------------------------------------

  nodename(c: Cluster) { return `${c.moref}.${this.uuid}`; }
  clusterByNodename(nodename: string): Cluster | undefined {
    return this.objs.clusters.find((c) => this.nodename(c) === nodename || c.moref === nodename || c.name === nodename);
  }
  cluster(moref: string) { return this.objs.clusters.find((c) => c.moref === moref); }
  host(moref: string) { return this.objs.hosts.find((h) => h.moref === moref); }
  hostsOf(cluster: string) { return this.objs.hosts.filter((h) => h.cluster === cluster); }
  datastore(moref: string) { return this.objs.datastores.find((d) => d.moref === moref); }
  datastoreByName(name: string) { return this.objs.datastores.find((d) => d.name === name); }
  datastoresOf(cluster: string) { return this.objs.datastores.filter((d) => d.clusters.includes(cluster)); }
  portgroupByName(name: string) { return this.objs.portgroups.find((p) => p.name === name); }
  allPortgroups() { return [...this.objs.portgroups]; }
  portgroup(moref: string) { return this.objs.portgroups.find((p) => p.moref === moref); }
  usage(ds: string): Usage { return this.dsUse.get(ds) ?? { committed: 0, provisioned: 0 }; }
  freeBytes(ds: Datastore) { return Math.max(0, ds.capacityBytes - this.usage(ds.moref).committed); }
  load(host: string): HostLoad { return this.hostLoad.get(host) ?? { vms: 0, vcpus: 0, memoryMb: 0 }; }
  vm(name: string) { return this.vms.get(name); }
  allVms() { return [...this.vms.values()]; }
  allFiles() { return [...this.files.values()]; }
  file(path: string) { return this.files.get(path); }

  /** DRS-like initial placement: the host with the lowest memory commitment ratio. */
  pickHost(cluster: string): HostSystem {
    let best: HostSystem | undefined;
    let bestScore = Infinity;
    for (const h of this.hostsOf(cluster)) {
      const l = this.load(h.moref);
      const score = l.memoryMb / h.memoryMb + l.vcpus / (h.threads * 1000);
      if (score < bestScore) { best = h; bestScore = score; }
    }
    if (!best) throw fault('InsufficientResourcesFault', `Cluster ${cluster} has no hosts`);
    return best;
  }

  /** Nova's vmwareapi picks the matching datastore with the most free space. */
  pickDatastore(cluster: string, needBytes: number): Datastore {
    let best: Datastore | undefined;
    for (const d of this.datastoresOf(cluster)) if (!best || this.freeBytes(d) > this.freeBytes(best)) best = d;
    if (!best) throw fault('NoDiskSpace', `Cluster ${cluster} has no datastore`);
    if (this.freeBytes(best) < needBytes) {
      throw fault('NoDiskSpace', `There is not enough space on datastore ${best.name} (${needBytes} bytes needed, ${this.freeBytes(best)} free)`);
    }
    return best;
  }

  // ---- accounting ---------------------------------------------------------------------------

  private account(vm: VirtualMachine, sign: 1 | -1) {
    for (const d of [...vm.disks, ...(vm.resizeBackup?.disks ?? [])]) {
      if (d.kind === 'volume') continue; // volume VMDKs are datastore files of their own
      const u = this.dsUse.get(d.datastore);
      if (u) { u.committed += sign * d.committed; u.provisioned += sign * d.capacityKb * 1024; }
    }
    const l = this.hostLoad.get(vm.host);
    if (l) { l.vms += sign; l.vcpus += sign * vm.vcpus; l.memoryMb += sign * vm.memoryMb; }
  }
  private accountFile(f: DatastoreFile, sign: 1 | -1) {
    const u = this.dsUse.get(f.datastore);
    if (u) { u.committed += sign * f.committed; u.provisioned += sign * f.capacityKb * 1024; }
  }

  allocId(prefix: string): string {
    const id = `${prefix}${this.nextId++}`;
    this.store.setMeta('next_id', String(this.nextId));
    return id;
  }

  /** Writes a VM's new state (or its removal) in one transaction and updates the counters. */
  commitVm(next: VirtualMachine | null, prev: VirtualMachine | undefined, extra?: () => void) {
    this.store.tx(() => {
      if (next) this.store.putVm(next); else if (prev) this.store.deleteVm(prev.moref);
      extra?.();
    });
    if (prev) { this.account(prev, -1); this.vms.delete(prev.name); }
    if (next) { this.account(next, 1); this.vms.set(next.name, next); }
  }

  /** Registers a new VM (CreateVM_Task's effect): its moref is allocated in the same transaction. */
  createVm(build: (moref: string) => VirtualMachine): VirtualMachine {
    let vm!: VirtualMachine;
    this.store.tx(() => {
      vm = build(this.allocId('vm-'));
      if (this.vms.has(vm.name)) throw fault('DuplicateName', `The name '${vm.name}' already exists.`);
      this.store.putVm(vm);
    });
    this.account(vm, 1);
    this.vms.set(vm.name, vm);
    return vm;
  }

  /** Applies fn to a copy of the VM and commits it: in-memory state changes only if the write succeeds. */
  mutateVm(name: string, fn: (vm: VirtualMachine) => void): VirtualMachine {
    const prev = this.vms.get(name);
    if (!prev) throw fault('ManagedObjectNotFound', `The object 'vim.VirtualMachine:${name}' has already been deleted or has not been completely created`);
    const next = structuredClone(prev);
    fn(next);
    this.commitVm(next, prev);
    return next;
  }

  putFile(f: DatastoreFile) {
    const prev = this.files.get(f.path);
    this.store.putFile(f);
    if (prev) this.accountFile(prev, -1);
    this.files.set(f.path, f);
    this.accountFile(f, 1);
  }
  deleteFile(path: string) {
    const prev = this.files.get(path);
    if (!prev) return;
    this.store.deleteFile(path);
    this.files.delete(path);
    this.accountFile(prev, -1);
  }

  addEvent(vm: VirtualMachine, e: string) {
    vm.events.push({ t: Date.now(), e });
    if (vm.events.length > MAX_EVENTS) vm.events.splice(0, vm.events.length - MAX_EVENTS);
  }

  // ---- tasks ---------------------------------------------------------------------------------

  private reserveTasks() {
    this.taskReserved = this.taskSeq + 10_000;
    this.store.setMeta('task_reserved', String(this.taskReserved));
  }

  recentTasks(): TaskInfo[] { return [...this.recent]; }

  /**
   * Runs one vSphere task: queued, then running once the event loop turns, then — after the
   * configured latency and any injected fault — fn applies the change and the task succeeds.
   * fn runs inside the task, so its preconditions are checked when the task runs, as in vCenter.
   */
  async task<T>(name: string, entity: { moref?: string; name?: string; displayName?: string }, fn: () => T | Promise<T>): Promise<T> {
    if (this.closed) throw fault('NotAuthenticated', 'The vCenter session is closed');
    if (this.taskSeq >= this.taskReserved) this.reserveTasks();
    const t: TaskInfo = { moref: `task-${this.taskSeq++}`, name, entity: entity.moref, entityName: entity.name, state: 'queued', queueTime: new Date().toISOString() };
    this.recent.push(t);
    if (this.recent.length > RECENT_TASKS) this.recent.splice(0, this.recent.length - RECENT_TASKS);
    try {
      await new Promise<void>((r) => setImmediate(r));
      t.state = 'running';
      t.startTime = new Date().toISOString();
      let latency = this.latencyMs;
      for (const rule of this.matchFaults(name, entity)) {
        if (rule.action === 'latency') latency = rule.latencyMs ?? latency;
        else if (rule.action === 'hang') await this.hang(rule);
        else throw fault(rule.fault ?? 'SystemError', rule.message ?? `Injected fault ${rule.fault ?? 'SystemError'} in ${name}`);
      }
      if (latency > 0) await new Promise((r) => setTimeout(r, latency));
      if (this.closed) throw fault('RequestCanceled', 'The task was canceled: the vCenter connection closed');
      const result = await fn();
      t.state = 'success';
      return result;
    } catch (e) {
      t.state = 'error';
      const err = e instanceof VirtDriverError ? e : fault('SystemError', e instanceof Error ? e.message : String(e));
      t.error = { fault: err.fault, message: err.message };
      throw err;
    } finally {
      t.completeTime = new Date().toISOString();
    }
  }

  // ---- failure injection --------------------------------------------------------------------

  private reloadFaults(force = false) {
    if (this.closed) return;
    const v = this.store.dataVersion();
    if (!force && v === this.faultsVersion) return;
    this.faultsVersion = v;
    this.faults = this.store.loadFaults();
    const live = new Set(this.faults.map((f) => f.id));
    for (const h of this.hung) if (!live.has(h.ruleId)) { this.hung.delete(h); h.release(); }
  }

  /** Rules matching this task, consuming one use of each counted rule. */
  private matchFaults(name: string, entity: { name?: string; displayName?: string }): FaultRule[] {
    this.reloadFaults();
    const out: FaultRule[] = [];
    for (const r of this.faults) {
      if (r.method !== '*' && r.method !== name) continue;
      if (r.vmName && r.vmName !== entity.name && r.vmName !== entity.displayName) continue;
      if (r.remaining !== null && r.remaining <= 0) continue;
      if (r.remaining !== null) { r.remaining--; this.store.putFault(r); }
      out.push(r);
    }
    return out;
  }

  private hang(rule: FaultRule): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.hung.add({ ruleId: rule.id, release: resolve, cancel: reject });
      // A rule deleted by another process (the CLI) is noticed by polling the file's version.
      if (!this.hungPoll) {
        this.hungPoll = setInterval(() => {
          this.reloadFaults();
          if (!this.hung.size && this.hungPoll) { clearInterval(this.hungPoll); this.hungPoll = null; }
        }, 100);
        this.hungPoll.unref();
      }
    });
  }

  listFaults(): FaultRule[] { this.reloadFaults(); return this.faults.map((f) => ({ ...f })); }

  addFault(input: unknown): FaultRule {
    const rule = validateFault(input);
    this.store.putFault(rule);
    this.faults.push(rule);
    return { ...rule };
  }

  deleteFault(id: string): boolean {
    const ok = this.store.deleteFault(id);
    this.reloadFaults(true);
    return ok;
  }

  clearFaults() { this.store.clearFaults(); this.reloadFaults(true); }

  // ---- image cache ---------------------------------------------------------------------------

  /** Where a datastore's files live on this machine (only files that need bytes exist there). */
  dsFile(ds: Datastore, rel: string) { return join(this.dir, 'datastores', ds.name, rel); }

  imageCachePath(ds: Datastore, imageId: string) { return `[${ds.name}] vistack_image_cache/${imageId}/${imageId}.vmdk`; }

  /**
   * Copies an image into a datastore's cache once (CopyVirtualDisk_Task), streamed to a temporary
   * file then renamed, so a crash never leaves a half image in the cache. Concurrent callers for
   * the same datastore and image share one copy.
   */
  ensureImageCached(ds: Datastore, image: ImageSpec, forVm: { name: string; displayName?: string }): Promise<DatastoreFile> {
    if (!SAFE_NAME.test(image.id)) return Promise.reject(fault('InvalidArgument', `Invalid image id ${JSON.stringify(image.id)}`));
    const path = this.imageCachePath(ds, image.id);
    const rel = `vistack_image_cache/${image.id}/${image.id}.vmdk`;
    const have = this.files.get(path);
    if (have && existsSync(this.dsFile(ds, rel))) return Promise.resolve(have);
    const inflight = this.copies.get(path);
    if (inflight) return inflight;
    const p = this.task('CopyVirtualDisk_Task', { moref: ds.moref, name: forVm.name, displayName: forVm.displayName }, async () => {
      if (this.freeBytes(ds) < image.size) throw fault('NoDiskSpace', `There is not enough space on datastore ${ds.name} to cache image ${image.id}`);
      const target = this.dsFile(ds, rel);
      mkdirSync(join(target, '..'), { recursive: true });
      const tmp = `${target}.part-${randomUUID()}`;
      try {
        const src = await image.open();
        await pipeline(src, createWriteStream(tmp));
        renameSync(tmp, target);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw fault('FileFault', `Copying image ${image.id} to ${path} failed: ${e instanceof Error ? e.message : e}`);
      }
      const size = statSync(target).size;
      const f: DatastoreFile = {
        path, datastore: ds.moref, kind: 'image-cache', capacityKb: Math.ceil(size / 1024), committed: size,
        props: { imageId: image.id, imageName: image.name, diskFormat: image.diskFormat, containerFormat: image.containerFormat, size, cachedAt: new Date().toISOString() },
      };
      this.store.tx(() => this.putFile(f));
      return f;
    }).finally(() => this.copies.delete(path));
    this.copies.set(path, p);
    return p;
  }

  /** Streams a cached image's bytes (for snapshots of image-backed disks); constant memory. */
  openCachedImage(f: DatastoreFile): Readable {
    const ds = this.datastore(f.datastore)!;
    const rel = f.path.slice(f.path.indexOf('] ') + 2);
    return createReadStream(this.dsFile(ds, rel), { highWaterMark: 256 * 1024 });
  }

  // ---- networking ----------------------------------------------------------------------------

  /** AddDVPortgroup_Task on the (single) distributed switch; returns the existing one by name. */
  async ensurePortgroup(name: string, vlanId = 0): Promise<Portgroup> {
    const have = this.portgroupByName(name);
    if (have) return have;
    const dvs = this.objs.switches[0];
    if (!dvs) throw fault('NotFound', 'No distributed switch in the inventory');
    return this.task('AddDVPortgroup_Task', { moref: dvs.moref, name: dvs.name }, () => {
      const again = this.portgroupByName(name);
      if (again) return again;
      let pg!: Portgroup;
      this.store.tx(() => {
        const moref = this.allocId('dvportgroup-');
        pg = { moref, key: moref, name, dvs: dvs.moref, vlanId, uplink: false };
        this.store.putObject('DistributedVirtualPortgroup', pg);
      });
      this.objs.portgroups.push(pg);
      return pg;
    });
  }

  /** ReconfigureDVPortgroup_Task: the port group's VLAN id (a network's segment changed). */
  async reconfigurePortgroup(name: string, vlanId: number): Promise<Portgroup> {
    const pg = this.portgroupByName(name);
    if (!pg) throw fault('NotFound', `Port group ${name} does not exist`);
    if (pg.vlanId === vlanId) return pg;
    return this.task('ReconfigureDVPortgroup_Task', { moref: pg.moref, name: pg.name }, () => {
      const next = { ...pg, vlanId };
      this.store.tx(() => this.store.putObject('DistributedVirtualPortgroup', next));
      this.objs.portgroups = this.objs.portgroups.map((p) => (p === pg ? next : p));
      return next;
    });
  }

  /** Destroy_Task on a port group; refused while NICs are connected to it (ResourceInUse). */
  async destroyPortgroup(name: string): Promise<boolean> {
    const pg = this.portgroupByName(name);
    if (!pg) return false;
    return this.task('Destroy_Task', { moref: pg.moref, name: pg.name }, () => {
      if (pg.uplink) throw fault('InvalidArgument', `Port group ${name} is the switch's uplink port group`);
      const user = this.allVms().find((vm) => vm.nics.some((n) => n.portgroup === pg.moref));
      if (user) throw fault('ResourceInUse', `Port group ${name} is in use by VM ${user.name}`);
      this.store.tx(() => this.store.db.prepare('DELETE FROM objects WHERE moref = ?').run(pg.moref));
      this.objs.portgroups = this.objs.portgroups.filter((p) => p !== pg);
      return true;
    });
  }

  // ---- datastore files (volume VMDKs) ------------------------------------------------------

  /** Parses "[ds] folder/file.vmdk" into its datastore and relative path. */
  parseDsPath(path: string): { ds: Datastore; rel: string } {
    const m = /^\[([^\]]+)\] (\S.*)$/.exec(path);
    if (!m) throw fault('InvalidDatastorePath', `Invalid datastore path '${path}'`);
    const ds = this.datastoreByName(m[1]);
    if (!ds) throw fault('NotFound', `Datastore ${m[1]} does not exist`);
    if (m[2].split('/').some((x) => x === '..' || x === '.')) throw fault('InvalidDatastorePath', `Invalid datastore path '${path}'`);
    return { ds, rel: m[2] };
  }

  /** CreateVirtualDisk_Task: a thin VMDK of sizeGb (a Cinder volume's backing). */
  async createVirtualDisk(path: string, sizeGb: number, props: Record<string, unknown> = {}): Promise<DatastoreFile> {
    const { ds } = this.parseDsPath(path);
    if (!Number.isInteger(sizeGb) || sizeGb < 1) throw fault('InvalidArgument', `Invalid disk size ${sizeGb}`);
    return this.task('CreateVirtualDisk_Task', { moref: ds.moref, name: path }, () => {
      if (this.files.has(path) || this.vmUsingPath(path)) throw fault('FileAlreadyExists', `File ${path} already exists`);
      const f: DatastoreFile = { path, datastore: ds.moref, kind: 'volume', capacityKb: sizeGb * 1024 * 1024, committed: 0, props };
      this.store.tx(() => this.putFile(f));
      return f;
    });
  }

  /** ExtendVirtualDisk_Task on a volume VMDK (and the devices that reference it); never shrinks. */
  extendVirtualDisk(path: string, sizeGb: number): Promise<DatastoreFile> {
    const f = this.files.get(path);
    if (!f) return Promise.reject(fault('FileNotFound', `File ${path} was not found`));
    return this.task('ExtendVirtualDisk_Task', { moref: f.datastore, name: path }, () => {
      const cur = this.files.get(path);
      if (!cur) throw fault('FileNotFound', `File ${path} was not found`);
      const kbNew = sizeGb * 1024 * 1024;
      if (kbNew < cur.capacityKb) throw fault('InvalidArgument', `Cannot shrink ${path}`);
      const next = { ...cur, capacityKb: kbNew };
      const users = this.allVms().filter((vm) => vm.disks.some((d) => d.path === path));
      const updated = users.map((vm) => {
        const v = structuredClone(vm);
        for (const d of v.disks) if (d.path === path) d.capacityKb = kbNew;
        return [vm, v] as const;
      });
      this.store.tx(() => { this.putFile(next); for (const [, v] of updated) this.store.putVm(v); });
      for (const [prev, v] of updated) { this.account(prev, -1); this.account(v, 1); this.vms.set(v.name, v); }
      return next;
    });
  }

  /** DeleteDatastoreFile_Task on a volume VMDK; refused while a VM uses it (FileLocked). */
  deleteDatastoreFile(path: string): Promise<void> {
    const f = this.files.get(path);
    if (!f) return Promise.reject(fault('FileNotFound', `File ${path} was not found`));
    return this.task('DeleteDatastoreFile_Task', { moref: f.datastore, name: path }, () => {
      const user = this.vmUsingPath(path);
      if (user) throw fault('FileLocked', `Unable to access file ${path} since it is locked (in use by ${user.name})`);
      this.store.tx(() => this.deleteFile(path));
    });
  }

  vmUsingPath(path: string): VirtualMachine | undefined {
    for (const vm of this.vms.values()) if (vm.disks.some((d) => d.path === path)) return vm;
    return undefined;
  }

  // ---- reporting -----------------------------------------------------------------------------

  describeVm(vm: VirtualMachine) {
    const ds = (m: string) => this.datastore(m)?.name ?? m;
    return {
      moref: vm.moref,
      name: vm.name,
      displayName: vm.extraConfig['vistack.display-name'] ?? null,
      owner: vm.extraConfig['vistack.owner'] ?? null,
      powerState: vm.powerState,
      cluster: vm.cluster,
      host: vm.host,
      hostName: this.host(vm.host)?.name ?? null,
      datastore: ds(vm.datastore),
      numCpu: vm.vcpus,
      memoryMB: vm.memoryMb,
      guestId: vm.guestId,
      hwVersion: vm.hwVersion ?? 'vmx-19',
      cpuAllocation: vm.cpuAllocation ?? { limit: -1, reservation: 0, shares: { level: 'normal' } },
      memoryAllocation: vm.memoryAllocation ?? { limit: -1, reservation: 0, shares: { level: 'normal' } },
      hostname: vm.hostname,
      flavorId: vm.flavorId,
      rescued: !!vm.rescued,
      resizePending: !!vm.resizeBackup,
      bootDisk: vm.bootDisk ?? null,
      annotation: vm.annotation,
      extraConfig: vm.extraConfig,
      disks: vm.disks.map((d) => ({
        key: d.key, kind: d.kind, fileName: d.path, datastore: ds(d.datastore), capacityKB: d.capacityKb,
        committed: d.committed, thinProvisioned: true, parent: d.parent ?? null, volumeId: d.volumeId ?? null,
      })),
      nics: vm.nics.map((n) => ({
        key: n.key, type: n.type, macAddress: n.mac, portId: n.portId, networkId: n.networkId,
        portgroup: n.portgroup, portgroupName: this.portgroup(n.portgroup)?.name ?? null, connected: n.connected,
      })),
      created: vm.created,
    };
  }

  inventory() {
    return {
      about: { name: 'VMware vCenter Server (Vistack simulator)', instanceUuid: this.uuid, version: this.version, build: this.build, apiType: 'VirtualCenter' },
      datacenters: this.objs.datacenters.map((dc) => ({
        ...dc,
        clusters: this.objs.clusters.filter((c) => c.datacenter === dc.moref).map((c) => ({
          ...c,
          nodename: this.nodename(c),
          hosts: this.hostsOf(c.moref).map((h) => ({ ...h, allocated: this.load(h.moref) })),
          datastores: this.datastoresOf(c.moref).map((d) => d.moref),
        })),
        datastores: this.objs.datastores.map((d) => this.describeDatastore(d)),
        switches: this.objs.switches.filter((s) => s.datacenter === dc.moref).map((s) => ({
          ...s, portgroups: this.objs.portgroups.filter((p) => p.dvs === s.moref),
        })),
      })),
      vms: this.allVms().map((vm) => this.describeVm(vm)),
      files: this.allFiles(),
    };
  }

  describeDatastore(d: Datastore) {
    const u = this.usage(d.moref);
    return {
      ...d, freeSpace: this.freeBytes(d), committed: u.committed,
      uncommitted: Math.max(0, u.provisioned - u.committed), provisioned: u.provisioned,
      url: `ds:///vmfs/volumes/${d.moref}/`,
    };
  }
}

export function validateFault(input: unknown): FaultRule {
  const b = input as Record<string, unknown>;
  const bad = (m: string): never => { throw fault('InvalidArgument', m); };
  if (!b || typeof b !== 'object' || Array.isArray(b)) bad('A fault rule must be an object');
  const allowed = new Set(['method', 'vmName', 'action', 'fault', 'message', 'latencyMs', 'count']);
  for (const k of Object.keys(b)) if (!allowed.has(k)) bad(`Unknown field '${k}' (allowed: ${[...allowed].join(', ')})`);
  const method = b.method ?? '*';
  if (typeof method !== 'string' || !/^(\*|[A-Za-z_]{1,64})$/.test(method)) bad("'method' must be a vSphere method name like 'CreateVM_Task' or '*'");
  const action = b.action ?? 'fail';
  if (action !== 'fail' && action !== 'hang' && action !== 'latency') bad("'action' must be 'fail', 'hang' or 'latency'");
  if (b.vmName !== undefined && (typeof b.vmName !== 'string' || !b.vmName || b.vmName.length > 255)) bad("'vmName' must be a non-empty string");
  if (b.fault !== undefined && (typeof b.fault !== 'string' || !/^[A-Za-z][A-Za-z0-9_.]{0,99}$/.test(b.fault))) bad("'fault' must be a vSphere fault name like 'InsufficientResourcesFault'");
  if (b.message !== undefined && (typeof b.message !== 'string' || b.message.length > 1000)) bad("'message' must be a string");
  if (action === 'latency' && (typeof b.latencyMs !== 'number' || !Number.isInteger(b.latencyMs) || b.latencyMs < 0 || b.latencyMs > 600_000)) {
    bad("'latencyMs' must be an integer between 0 and 600000 for action 'latency'");
  }
  if (action !== 'latency' && b.latencyMs !== undefined) bad("'latencyMs' only applies to action 'latency'");
  if (action !== 'fail' && (b.fault !== undefined || b.message !== undefined)) bad("'fault' and 'message' only apply to action 'fail'");
  let remaining: number | null = action === 'latency' ? null : 1;
  if (b.count !== undefined) {
    if (b.count === null) remaining = null;
    else if (typeof b.count !== 'number' || !Number.isInteger(b.count) || b.count < 1) bad("'count' must be a positive integer or null (every matching task)");
    else remaining = b.count;
  }
  return {
    id: randomUUID(), method: method as string, action: action as FaultRule['action'],
    ...(b.vmName !== undefined ? { vmName: b.vmName as string } : {}),
    ...(action === 'fail' ? { fault: (b.fault as string) ?? 'SystemError' } : {}),
    ...(b.message !== undefined ? { message: b.message as string } : {}),
    ...(action === 'latency' ? { latencyMs: b.latencyMs as number } : {}),
    remaining, created: new Date().toISOString(),
  };
}

export type { PowerStateName };
export { GiB, MiB };

/** Image copies cut short by a crash leave "*.part-<uuid>" files: remove them at start. */
function removePartialCopies(root: string) {
  if (!existsSync(root)) return;
  for (const ds of readdirSync(root)) {
    const cache = join(root, ds, 'vistack_image_cache');
    if (!existsSync(cache)) continue;
    for (const img of readdirSync(cache)) {
      for (const f of readdirSync(join(cache, img))) if (f.includes('.part-')) rmSync(join(cache, img, f), { force: true });
    }
  }
}
