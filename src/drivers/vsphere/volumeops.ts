// Cinder's backend on real vCenters, as Cinder's VMDK driver: a volume is a VMDK under
// "[datastore] volumes/" on the usable datastore with the most free space (its storage profile
// among the datastore's), made thin, thick or eager-zeroed as its type says; snapshots and clones
// are CopyVirtualDisk_Task copies; images come through Nova's datastore image cache. Each new
// disk is built under a "tmp-" name and moved into place last, so a crash never leaves a
// half-made disk under a volume's name, and every call can run again. Extending an attached
// volume goes through ReconfigVM_Task on its VM; a detached one through ExtendVirtualDisk_Task,
// or, where the vCenter lacks it (vcsim), through a short-lived shadow VM, the way Cinder's
// driver keeps a backing VM per volume.
import { Readable } from 'node:stream';
import {
  DEFAULT_STORAGE_PROFILE, VirtDriverError,
  type BackendDisk, type VolumeDriver, type VolumeLocation, type VolumePool, type VolumeSource, type VolumeSpec, type VmdkType,
} from '../../core/virt.ts';
import type { ClusterInfo, DatastoreInfo } from './inventory.ts';
import type { VSphereSession } from './session.ts';
import { Datastores, dsPath, parseDsPath, type DiskType } from './ds_util.ts';
import { isFault } from './vim/client.ts';
import { get, listObjects } from './vim/props.ts';
import type { MoRef, VirtualDevice, VirtualDisk } from './vim/types.ts';
import { asArray } from './vim/xml.ts';
import { ensureImageCached, streamOptimizedVmdk } from './images.ts';
import { GiB, ScsiSlots, baseFileName, diskCapacityKb, existingDiskSpec, growDiskSpec, isDisk, removeDeviceSpec } from './vm_util.ts';

const KB_PER_GB = 1024 * 1024;
const FOLDER = 'volumes';
const SHADOW_PREFIX = 'vistack-volume-';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const volumeFile = (volumeId: string) => `volume-${volumeId}`;
export const snapshotFile = (snapshotId: string) => `snapshot-${snapshotId}`;

/** Cinder's vmdk_type → VirtualDiskType (Cinder's "thick" is lazy-zeroed: preallocated). */
const DISK_TYPES: Record<VmdkType, DiskType> = { thin: 'thin', thick: 'preallocated', eagerZeroedThick: 'eagerZeroedThick' };

/** VirtualDiskManager knows only these three adapters; the others are LSI Logic on disk, as in Cinder. */
const diskAdapter = (a: string) => (a === 'ide' || a === 'busLogic' ? a : 'lsiLogic');

interface Where { session: VSphereSession; ds: DatastoreInfo; path: string }
interface AttachedDisk { session: VSphereSession; vm: MoRef; vmName: string; device: VirtualDisk }

export class VSphereVolumeDriver implements VolumeDriver {
  readonly name = 'vsphere';
  private readonly sessions: VSphereSession[];

  constructor(sessions: VSphereSession[]) {
    if (!sessions.length) throw new Error('VSphereVolumeDriver needs at least one vCenter session');
    this.sessions = sessions;
  }

  private files(s: VSphereSession) { return new Datastores(s.inventory); }

  /** vSphere's storage policies are not read yet (SPBM is a separate endpoint): every datastore offers the default one. */
  private profiles(_ds: DatastoreInfo) { return [DEFAULT_STORAGE_PROFILE]; }

  private datastores(): Array<{ session: VSphereSession; ds: DatastoreInfo }> {
    return this.sessions.flatMap((session) => session.inventory.datastores.map((ds) => ({ session, ds })));
  }

  async pools(): Promise<VolumePool[]> {
    const out: VolumePool[] = [];
    for (const { session, ds } of this.datastores()) {
      const d = await session.inventory.refreshDatastore(ds).catch(() => ds);
      out.push({
        name: d.name, totalCapacityGb: Math.floor(d.capacity / GiB), freeCapacityGb: Math.floor(d.freeSpace / GiB),
        provisionedCapacityGb: Math.ceil((d.capacity - d.freeSpace) / GiB), storageProfiles: this.profiles(d),
      });
    }
    return out;
  }

  private pick(sizeGb: number, profile: string | null, on?: VSphereSession): { session: VSphereSession; ds: DatastoreInfo } {
    let best: { session: VSphereSession; ds: DatastoreInfo } | undefined;
    for (const c of this.datastores()) {
      if (on && c.session !== on) continue;
      if (profile && !this.profiles(c.ds).includes(profile)) continue;
      if (!best || c.ds.freeSpace > best.ds.freeSpace) best = c;
    }
    if (!best) throw new VirtDriverError('NoDatastore', `No datastore matches storage profile ${profile}`);
    if (best.ds.freeSpace < sizeGb * GiB) throw new VirtDriverError('NoDiskSpace', `No datastore has ${sizeGb} GiB free`);
    return best;
  }

  /** The session and datastore of a location, checked. */
  private at(loc: VolumeLocation): Where | null {
    let parsed;
    try { parsed = parseDsPath(loc.path); } catch { throw new VirtDriverError('InvalidDatastorePath', `Invalid datastore path '${loc.path}'`); }
    for (const session of this.sessions) {
      const ds = session.inventory.datastoreByName(parsed.datastore);
      if (ds) return { session, ds, path: loc.path };
    }
    return null;
  }

  /** The disk named `name` ("volume-<id>") in any datastore's volumes/ folder. */
  private async find(name: string): Promise<Where | null> {
    for (const { session, ds } of this.datastores()) {
      const hit = await this.files(session).list(ds.name, FOLDER, `${name}.vmdk`);
      if (hit.some((f) => f.path === `${name}.vmdk`)) return { session, ds, path: dsPath(ds.name, `${FOLDER}/${name}.vmdk`) };
    }
    return null;
  }

  /**
   * The disk at a location, or where it went: a relocation (ensureAccessible) that a crash cut off
   * before Cinder recorded the new path leaves Cinder with the old one; the file keeps its name.
   */
  private async fileAt(loc: VolumeLocation): Promise<Where | null> {
    const here = this.at(loc);
    if (here && (await this.files(here.session).exists(loc.path))) return here;
    const name = /\] volumes\/([^/]+)\.vmdk$/.exec(loc.path)?.[1];
    return name ? this.find(name) : null;
  }

  private async need(loc: VolumeLocation): Promise<Where> {
    const w = await this.fileAt(loc);
    if (!w) throw new VirtDriverError('FileNotFound', `File ${loc.path} was not found`);
    return w;
  }

  // ---- create ----------------------------------------------------------------------------------

  async createVolume(spec: VolumeSpec, source?: VolumeSource): Promise<VolumeLocation> {
    if (!spec.volumeId || !NAME.test(spec.volumeId)) throw new VirtDriverError('InvalidArgument', `Invalid volume id ${spec.volumeId}`);
    if (!(spec.sizeGb > 0)) throw new VirtDriverError('InvalidArgument', `Invalid volume size ${spec.sizeGb}`);
    const name = volumeFile(spec.volumeId);
    const have = await this.find(name);
    if (have) return { datastore: have.ds.name, path: have.path };
    const from = source?.snapshot ?? source?.volume;
    const src = from ? await this.need(from) : null;
    // A copy stays on its source's vCenter.
    const { session, ds } = this.pick(spec.sizeGb, spec.storageProfile, src?.session);
    const files = this.files(session);
    const final = dsPath(ds.name, `${FOLDER}/${name}.vmdk`);
    const tmp = dsPath(ds.name, `${FOLDER}/tmp-${name}.vmdk`);
    await files.mkdir(ds.name, FOLDER);
    await files.deleteDisk(tmp); // an earlier attempt cut off
    const want = spec.sizeGb * KB_PER_GB;
    const type = DISK_TYPES[spec.vmdkType] ?? 'thin';
    if (source?.image) {
      const cached = await ensureImageCached(session, ds, source.image, this.clusterOf(session, ds));
      if (cached.capacityKb > want) throw new VirtDriverError('InvalidArgument', `Image ${source.image.id} is larger than ${spec.sizeGb} GiB`);
      await this.copy(session, cached.path, tmp, type, spec.adapterType);
      if (want > cached.capacityKb) await this.extendDetached(session, ds, tmp, want, spec.vmdkType === 'eagerZeroedThick');
    } else if (src) {
      const user = await this.attachedTo(src.session, src.path);
      const kb = await this.capacityKb(src, user);
      if (kb && kb > want) throw new VirtDriverError('InvalidArgument', `The source is larger than ${spec.sizeGb} GiB`);
      await this.copySource(src, user, tmp, type, spec.adapterType);
      if (!kb || want > kb) await this.extendDetached(session, ds, tmp, want, spec.vmdkType === 'eagerZeroedThick');
    } else {
      await files.createDisk(tmp, want, type, diskAdapter(spec.adapterType) as 'lsiLogic');
    }
    try {
      await files.moveDisk(tmp, final);
    } catch (e) {
      if (!isFault(e, 'FileAlreadyExists')) throw e;
      await files.deleteDisk(tmp); // another attempt finished first: its disk stands
    }
    await session.inventory.refreshDatastore(ds).catch(() => undefined);
    return { datastore: ds.name, path: final };
  }

  private clusterOf(session: VSphereSession, ds: DatastoreInfo): ClusterInfo | undefined {
    return session.inventory.clusters.find((c) => c.datastores.some((r) => r.value === ds.ref.value));
  }

  /** CopyVirtualDisk_Task into the volume's disk type; a vCenter that cannot convert (vcsim) copies as it is. */
  private async copy(session: VSphereSession, from: string, to: string, type: DiskType, adapter: string): Promise<void> {
    const c = session.client;
    const args = {
      sourceName: from, sourceDatacenter: session.inventory.datacenter.ref, destName: to, destDatacenter: session.inventory.datacenter.ref,
    };
    if (type !== 'thin') {
      try {
        await c.runTask('CopyVirtualDisk_Task', c.content.virtualDiskManager!, {
          ...args, destSpec: { _type: 'FileBackedVirtualDiskSpec', diskType: type, adapterType: diskAdapter(adapter) }, force: false,
        });
        return;
      } catch (e) {
        if (!isFault(e, 'NotImplemented', 'NotSupported')) throw e;
        await this.files(session).deleteDisk(to);
      }
    }
    await c.runTask('CopyVirtualDisk_Task', c.content.virtualDiskManager!, { ...args, force: false });
  }

  /** A copy of a volume or snapshot; an attached disk is copied from a VM snapshot's frozen base, as Cinder does. */
  private async copySource(src: Where, user: AttachedDisk | null, to: string, type: DiskType, adapter: string): Promise<void> {
    if (!user) return this.copy(src.session, src.path, to, type, adapter);
    const c = src.session.client;
    const snap = await c.runTask<MoRef>('CreateSnapshot_Task', user.vm, {
      name: `vistack-volume-copy-${Date.now()}`, description: 'Vistack volume copy', memory: false, quiesce: false,
    });
    try {
      await this.copy(src.session, src.path, to, type, adapter);
    } finally {
      await c.runTask('RemoveSnapshot_Task', snap, { removeChildren: false }).catch(() => undefined);
    }
  }

  // ---- delete ----------------------------------------------------------------------------------

  async deleteVolume(loc: VolumeLocation): Promise<void> {
    const w = await this.fileAt(loc);
    if (!w) return;
    const name = baseName(w.path);
    await this.dropShadow(w.session, name); // left by an extend that a crash cut off
    const user = await this.attachedTo(w.session, w.path);
    if (user) throw new VirtDriverError('ResourceInUse', `Disk ${w.path} is attached to VM ${user.vmName}`);
    await this.files(w.session).deleteDisk(w.path);
    await w.session.inventory.refreshDatastore(w.ds).catch(() => undefined);
  }

  // ---- extend ----------------------------------------------------------------------------------

  async extendVolume(loc: VolumeLocation, newSizeGb: number): Promise<void> {
    if (!(newSizeGb > 0)) throw new VirtDriverError('InvalidArgument', `Invalid volume size ${newSizeGb}`);
    const w = await this.need(loc);
    const want = newSizeGb * KB_PER_GB;
    const user = await this.attachedTo(w.session, w.path);
    if (user) {
      // Attached: the VM's disk grows (ReconfigVM_Task with the device as read back).
      if (diskCapacityKb(user.device) >= want) return;
      await w.session.client.runTask('ReconfigVM_Task', user.vm, {
        spec: { _type: 'VirtualMachineConfigSpec', deviceChange: [growDiskSpec(user.device, want)] },
      });
      return;
    }
    const kb = await this.capacityKb(w, null);
    if (kb && kb >= want) return;
    await this.extendDetached(w.session, w.ds, w.path, want, false);
  }

  private async extendDetached(session: VSphereSession, ds: DatastoreInfo, path: string, newKb: number, eagerZero: boolean): Promise<void> {
    const c = session.client;
    try {
      await c.runTask('ExtendVirtualDisk_Task', c.content.virtualDiskManager!, {
        name: path, datacenter: session.inventory.datacenter.ref, newCapacityKb: newKb, eagerZero,
      });
      return;
    } catch (e) {
      if (!isFault(e, 'MethodNotFound', 'NotImplemented', 'NotSupported')) throw e;
    }
    await this.extendThroughShadow(session, ds, path, newKb);
  }

  /**
   * A shadow VM (no power-on) gets the disk, grows it, gives it back and goes. A crash on the way
   * leaves the VM, named after the disk: the next call on that disk takes it over or removes it.
   */
  private async extendThroughShadow(session: VSphereSession, ds: DatastoreInfo, path: string, newKb: number): Promise<void> {
    const c = session.client;
    const name = baseName(path);
    const cluster = this.clusterOf(session, ds);
    if (!cluster) throw new VirtDriverError('InvalidDatastore', `Datastore ${ds.name} is mounted by no cluster Vistack uses`);
    let vm = await this.shadow(session, name);
    if (!vm) {
      const slots = new ScsiSlots([], 'lsiLogic');
      const slot = { ...slots.take(), key: slots.tempKey() };
      vm = await c.runTask<MoRef>('CreateVM_Task', session.inventory.folder, {
        config: {
          _type: 'VirtualMachineConfigSpec', name: `${SHADOW_PREFIX}${name}`, guestId: 'otherGuest64', numCPUs: 1, memoryMB: 4,
          files: { _type: 'VirtualMachineFileInfo', vmPathName: `[${ds.name}]` },
          deviceChange: [...slots.adds, existingDiskSpec(path, ds.ref, newKb, slot)],
        },
        pool: cluster.resourcePool,
      });
    }
    const disk = await this.shadowDisk(session, vm, path);
    if (disk && diskCapacityKb(disk) < newKb) {
      await c.runTask('ReconfigVM_Task', vm, { spec: { _type: 'VirtualMachineConfigSpec', deviceChange: [growDiskSpec(disk, newKb)] } });
    }
    await this.dropShadow(session, name);
  }

  private async shadow(session: VSphereSession, name: string): Promise<MoRef | null> {
    const vms = await listObjects<{ name: string }>(session.client, session.inventory.folder, 'VirtualMachine', ['name']);
    return vms.find((v) => v.props.name === `${SHADOW_PREFIX}${name}`)?.ref ?? null;
  }

  private async shadowDisk(session: VSphereSession, vm: MoRef, path: string): Promise<VirtualDisk | undefined> {
    const p = await get<{ 'config.hardware.device': VirtualDevice[] }>(session.client, vm, ['config.hardware.device']);
    return asArray(p?.['config.hardware.device']).filter(isDisk).find((d) => baseFileName(d) === path);
  }

  /** Takes the disks off a shadow VM (never deleting them) and destroys it with its own files. */
  private async dropShadow(session: VSphereSession, name: string): Promise<void> {
    const vm = await this.shadow(session, name);
    if (!vm) return;
    const c = session.client;
    const p = await get<{ 'config.hardware.device': VirtualDevice[]; 'config.files.vmPathName': string }>(c, vm, ['config.hardware.device', 'config.files.vmPathName']);
    const disks = asArray(p?.['config.hardware.device']).filter(isDisk);
    if (disks.length) await c.runTask('ReconfigVM_Task', vm, { spec: { _type: 'VirtualMachineConfigSpec', deviceChange: disks.map((d) => removeDeviceSpec(d)) } });
    try { await c.runTask('Destroy_Task', vm); } catch (e) { if (!isFault(e, 'ManagedObjectNotFound')) throw e; }
    const vmx = p?.['config.files.vmPathName'];
    if (vmx) {
      const { datastore, path } = parseDsPath(vmx);
      const folder = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      if (folder.startsWith(SHADOW_PREFIX)) await this.files(session).deleteFile(dsPath(datastore, folder));
    }
  }

  // ---- snapshots -------------------------------------------------------------------------------

  async createSnapshot(loc: VolumeLocation, snapshotId: string): Promise<VolumeLocation> {
    if (!snapshotId || !NAME.test(snapshotId)) throw new VirtDriverError('InvalidArgument', `Invalid snapshot id ${snapshotId}`);
    const name = snapshotFile(snapshotId);
    const have = await this.find(name);
    if (have) return { datastore: have.ds.name, path: have.path };
    const src = await this.need(loc);
    const files = this.files(src.session);
    const final = dsPath(src.ds.name, `${FOLDER}/${name}.vmdk`);
    const tmp = dsPath(src.ds.name, `${FOLDER}/tmp-${name}.vmdk`);
    await files.deleteDisk(tmp);
    await this.copySource(src, await this.attachedTo(src.session, src.path), tmp, 'thin', 'lsiLogic');
    try {
      await files.moveDisk(tmp, final);
    } catch (e) {
      if (!isFault(e, 'FileAlreadyExists')) throw e;
      await files.deleteDisk(tmp);
    }
    return { datastore: src.ds.name, path: final };
  }

  async deleteSnapshot(loc: VolumeLocation): Promise<void> { await this.deleteVolume(loc); }

  // ---- reading ---------------------------------------------------------------------------------

  async openVolume(loc: VolumeLocation, sizeGb?: number): Promise<{ diskFormat: string; stream: Readable }> {
    const w = await this.need(loc);
    const files = this.files(w.session);
    const capacityKb = (await this.capacityKb(w, await this.attachedTo(w.session, w.path))) || (sizeGb ?? 0) * KB_PER_GB;
    if (!capacityKb) throw new VirtDriverError('InvalidState', `The size of disk ${w.path} is not known`);
    let dl;
    try { dl = await files.download(w.path.replace(/\.vmdk$/, '-flat.vmdk')); } catch (e) {
      if (!isFault(e, 'FileNotFound')) throw e;
      dl = await files.download(w.path); // a single-file disk
    }
    const source = dl.stream;
    // A monolithic flat extent holds the bytes: they go out as one stream-optimized VMDK, as Glance expects of Cinder's uploads.
    async function* vmdk() {
      try { yield* streamOptimizedVmdk(source, capacityKb * 1024, `${baseName(w.path)}.vmdk`); } finally { source.destroy(); }
    }
    return { diskFormat: 'vmdk', stream: Readable.from(vmdk()) };
  }

  /** The disk's capacity: from the VM it is attached to (`user`), else the datastore browser (vcsim reports none), else 0 (unknown). */
  private async capacityKb(w: Where, user: AttachedDisk | null): Promise<number> {
    if (user) return diskCapacityKb(user.device);
    const { path } = parseDsPath(w.path);
    const folder = path.slice(0, path.lastIndexOf('/'));
    const file = path.slice(path.lastIndexOf('/') + 1);
    const browser = (await get<{ browser: MoRef }>(w.session.client, w.ds.ref, ['browser']))?.browser;
    if (!browser) return 0;
    try {
      const res = await w.session.client.runTask<{ file?: Array<{ path: string; capacityKb?: number }> }>('SearchDatastore_Task', browser, {
        datastorePath: dsPath(w.ds.name, folder),
        searchSpec: { query: [{ _type: 'VmDiskFileQuery', details: { diskType: true, capacityKb: true, hardwareVersion: false } }], matchPattern: [file] },
      });
      return Number(asArray(res?.file).find((f) => f.path === file)?.capacityKb) || 0;
    } catch (e) {
      if (isFault(e, 'FileNotFound')) return 0;
      throw e;
    }
  }

  /** Which VM (of any owner) has the disk attached: one property read of the datacenter's VMs. */
  private async attachedTo(session: VSphereSession, path: string): Promise<AttachedDisk | null> {
    return (await this.attachments(session)).get(path) ?? null;
  }

  private async attachments(session: VSphereSession): Promise<Map<string, AttachedDisk>> {
    const vms = await listObjects<{ name: string; 'config.hardware.device': VirtualDevice[] }>(
      session.client, session.inventory.datacenter.ref, 'VirtualMachine', ['name', 'config.hardware.device']);
    const out = new Map<string, AttachedDisk>();
    for (const v of vms) {
      for (const d of asArray(v.props['config.hardware.device']).filter(isDisk)) {
        out.set(baseFileName(d), { session, vm: v.ref, vmName: String(v.props.name ?? v.ref.value), device: d });
      }
    }
    return out;
  }

  async listDisks(): Promise<BackendDisk[]> {
    const out: BackendDisk[] = [];
    for (const session of this.sessions) {
      const attached = await this.attachments(session);
      for (const ds of session.inventory.datastores) {
        const listed = await this.files(session).list(ds.name, FOLDER, '*.vmdk');
        for (const f of listed) {
          if (!f.path.endsWith('.vmdk') || f.path.endsWith('-flat.vmdk') || f.path.startsWith('tmp-') || /-\d{6}\.vmdk$/.test(f.path)) continue;
          const path = dsPath(ds.name, `${FOLDER}/${f.path}`);
          const name = f.path.replace(/\.vmdk$/, '');
          const user = attached.get(path);
          const extent = listed.find((x) => x.path === `${name}-flat.vmdk`);
          const kb = user ? diskCapacityKb(user.device) : Number((f as { capacityKb?: number }).capacityKb) || Math.ceil(Number(extent?.fileSize ?? 0) / 1024);
          out.push({
            location: { datastore: ds.name, path }, name, sizeGb: Math.ceil(kb / KB_PER_GB), inUse: !!user,
            // vSphere keeps no link from a copy to its source: a snapshot is known by its name only.
            ...(name.startsWith('snapshot-') ? { snapshotOf: '' } : {}),
          });
        }
      }
    }
    return out;
  }

  // ---- placement -------------------------------------------------------------------------------

  async ensureAccessible(loc: VolumeLocation, computeHost: string): Promise<VolumeLocation> {
    const w = await this.fileAt(loc);
    if (!w) return loc;
    const here = { datastore: w.ds.name, path: w.path };
    const cluster = w.session.inventory.clusters.find((c) => c.computeHost === computeHost);
    if (!cluster) return here;
    if (cluster.datastores.some((r) => r.value === w.ds.ref.value)) return here;
    // MoveVirtualDisk_Task to the cluster's emptiest datastore (Cinder relocates the backing VM).
    const target = w.session.inventory.pickDatastore(cluster, 0);
    const files = this.files(w.session);
    const { path } = parseDsPath(w.path);
    const dest = dsPath(target.name, path);
    await files.mkdir(target.name, FOLDER);
    await files.moveDisk(w.path, dest);
    return { datastore: target.name, path: dest };
  }
}

/** "[ds] volumes/volume-x.vmdk" → "volume-x" */
function baseName(path: string): string {
  return path.replace(/^.*\//, '').replace(/\.vmdk$/, '');
}
