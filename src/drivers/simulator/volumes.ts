// Cinder's backend on the simulated vCenter, as Cinder's VMDK driver: a volume is a VMDK under
// "[datastore] volumes/" on the datastore with the most free space (a storage profile, when the
// volume type names one, must be among the datastore's); thick types commit their whole size at
// once; snapshots are VMDK copies; a volume not reachable from the cluster of the instance it is
// attached to is relocated there first, as the VMDK driver relocates its backing.
import type { Readable } from 'node:stream';
import {
  DEFAULT_STORAGE_PROFILE, VirtDriverError, type BackendDisk, type VolumeDriver, type VolumeLocation, type VolumePool, type VolumeSource, type VolumeSpec,
} from '../../core/virt.ts';
import type { SimVCenter } from './vcenter.ts';
import type { DatastoreFile } from './inventory.ts';
import type { Datastore } from './model.ts';
import { sparseVmdkStream } from './vmdk.ts';

const GiB = 1024 ** 3;
const KB_PER_GB = 1024 * 1024;
/** Every simulated datastore offers vSphere's default policy; a type naming another finds none. */
export { DEFAULT_STORAGE_PROFILE };

export const volumePath = (ds: string, volumeId: string) => `[${ds}] volumes/volume-${volumeId}.vmdk`;
export const snapshotPath = (ds: string, snapshotId: string) => `[${ds}] volumes/snapshot-${snapshotId}.vmdk`;

export class SimVolumeDriver implements VolumeDriver {
  readonly name = 'simulator';
  private vcenter: () => SimVCenter;

  constructor(vcenter: () => SimVCenter) { this.vcenter = vcenter; }

  private profiles(_ds: Datastore) { return [DEFAULT_STORAGE_PROFILE]; }

  async pools(): Promise<VolumePool[]> {
    const vc = this.vcenter();
    return vc.objs.datastores.map((d) => {
      const u = vc.usage(d.moref);
      return {
        name: d.name, totalCapacityGb: Math.floor(d.capacityBytes / GiB), freeCapacityGb: Math.floor(vc.freeBytes(d) / GiB),
        provisionedCapacityGb: Math.ceil(u.provisioned / GiB), storageProfiles: this.profiles(d),
      };
    });
  }

  private pick(sizeGb: number, profile: string | null): Datastore {
    const vc = this.vcenter();
    let best: Datastore | undefined;
    for (const d of vc.objs.datastores) {
      if (profile && !this.profiles(d).includes(profile)) continue;
      if (!best || vc.freeBytes(d) > vc.freeBytes(best)) best = d;
    }
    if (!best) throw new VirtDriverError('NoDatastore', `No datastore matches storage profile ${profile}`);
    if (vc.freeBytes(best) < sizeGb * GiB) throw new VirtDriverError('NoDiskSpace', `No datastore has ${sizeGb} GiB free`);
    return best;
  }

  /** The existing file of a volume (a rerun after a crash), wherever it is. */
  private find(name: string): DatastoreFile | undefined {
    return this.vcenter().allFiles().find((f) => f.path.endsWith(`] volumes/${name}.vmdk`));
  }

  /**
   * The file at a location, or where it went: a relocation (ensureAccessible) that a crash cut
   * off before Cinder recorded the new path leaves Cinder with the old one; the file keeps its name.
   */
  private fileAt(loc: VolumeLocation): DatastoreFile | undefined {
    const name = /\] volumes\/([^/]+)\.vmdk$/.exec(loc.path)?.[1];
    return this.vcenter().file(loc.path) ?? (name ? this.find(name) : undefined);
  }

  async createVolume(spec: VolumeSpec, source?: VolumeSource): Promise<VolumeLocation> {
    const vc = this.vcenter();
    const have = this.find(`volume-${spec.volumeId}`);
    if (have) return location(vc, have);
    const ds = this.pick(spec.sizeGb, spec.storageProfile);
    const path = volumePath(ds.name, spec.volumeId);
    let committedBytes = 0;
    const props: Record<string, unknown> = { volumeId: spec.volumeId, vmdkType: spec.vmdkType, adapterType: spec.adapterType, projectId: spec.projectId };
    if (source?.image) {
      // The image is written into the disk: its bytes are committed, the rest stays thin.
      let n = 0;
      for await (const chunk of await source.image.open()) n += (chunk as Buffer).length;
      committedBytes = n;
      props.imageId = source.image.id;
    } else if (source?.snapshot || source?.volume) {
      const from = this.fileAt((source.snapshot ?? source.volume)!);
      if (!from) throw new VirtDriverError('FileNotFound', `File ${(source.snapshot ?? source.volume)!.path} was not found`);
      if (from.capacityKb > spec.sizeGb * KB_PER_GB) throw new VirtDriverError('InvalidArgument', `The source is larger than ${spec.sizeGb} GiB`);
      committedBytes = from.committed;
      if (from.props.imageId) props.imageId = from.props.imageId;
    }
    if (spec.vmdkType !== 'thin') committedBytes = spec.sizeGb * GiB;
    const f = await vc.createVirtualDisk(path, spec.sizeGb, props);
    if (committedBytes) vc.store.tx(() => vc.putFile({ ...f, committed: Math.min(committedBytes, spec.sizeGb * GiB) }));
    return { datastore: ds.name, path };
  }

  async deleteVolume(loc: VolumeLocation): Promise<void> {
    const f = this.fileAt(loc);
    if (f) await this.vcenter().deleteDatastoreFile(f.path);
  }

  async extendVolume(loc: VolumeLocation, newSizeGb: number): Promise<void> {
    const vc = this.vcenter();
    const f = this.fileAt(loc);
    if (!f) throw new VirtDriverError('FileNotFound', `File ${loc.path} was not found`);
    if (f.capacityKb >= newSizeGb * KB_PER_GB) return;
    await vc.extendVirtualDisk(f.path, newSizeGb);
    if (f.props.vmdkType && f.props.vmdkType !== 'thin') {
      const g = vc.file(f.path)!;
      vc.store.tx(() => vc.putFile({ ...g, committed: newSizeGb * GiB }));
    }
  }

  async createSnapshot(loc: VolumeLocation, snapshotId: string): Promise<VolumeLocation> {
    const vc = this.vcenter();
    const have = this.find(`snapshot-${snapshotId}`);
    if (have) return location(vc, have);
    const src = this.fileAt(loc);
    if (!src) throw new VirtDriverError('FileNotFound', `File ${loc.path} was not found`);
    const at = location(vc, src);
    const path = snapshotPath(at.datastore, snapshotId);
    const f = await vc.createVirtualDisk(path, Math.ceil(src.capacityKb / KB_PER_GB), { ...src.props, snapshotId, snapshotOf: src.path });
    if (src.committed) vc.store.tx(() => vc.putFile({ ...f, committed: src.committed }));
    return { datastore: at.datastore, path };
  }

  async deleteSnapshot(loc: VolumeLocation): Promise<void> { await this.deleteVolume(loc); }

  async openVolume(loc: VolumeLocation): Promise<{ diskFormat: string; stream: Readable }> {
    const f = this.fileAt(loc);
    if (!f) throw new VirtDriverError('FileNotFound', `File ${loc.path} was not found`);
    return { diskFormat: 'vmdk', stream: sparseVmdkStream(f.capacityKb * 1024, f.path.replace(/^.*\//, '')) };
  }

  async listDisks(): Promise<BackendDisk[]> {
    const vc = this.vcenter();
    const attached = new Set(vc.allVms().flatMap((vm) => vm.disks.map((d) => d.path)));
    return vc.allFiles().filter((f) => f.kind === 'volume' && /\] volumes\/[^/]+\.vmdk$/.test(f.path)).map((f) => ({
      location: location(vc, f), name: f.path.replace(/^.*\//, '').replace(/\.vmdk$/, ''),
      sizeGb: Math.ceil(f.capacityKb / KB_PER_GB), inUse: attached.has(f.path),
      ...(typeof f.props.snapshotOf === 'string' ? { snapshotOf: f.props.snapshotOf } : {}),
    }));
  }

  async ensureAccessible(loc: VolumeLocation, computeHost: string): Promise<VolumeLocation> {
    const vc = this.vcenter();
    const cluster = vc.objs.clusters.find((c) => c.computeHost === computeHost);
    const f = this.fileAt(loc);
    if (!cluster || !f) return loc;
    const here = location(vc, f);
    const ds = vc.datastoreByName(here.datastore);
    if (ds && ds.clusters.includes(cluster.moref)) return here;
    // RelocateVM_Task on the volume's backing: the VMDK moves to the cluster's emptiest datastore.
    const target = vc.pickDatastore(cluster.moref, f.committed);
    const path = f.path.replace(/^\[[^\]]+\]/, `[${target.name}]`);
    await vc.task('RelocateVM_Task', { name: path }, () => vc.store.tx(() => {
      vc.deleteFile(f.path);
      vc.putFile({ ...f, path, datastore: target.moref });
    }));
    return { datastore: target.name, path };
  }
}

function location(vc: SimVCenter, f: DatastoreFile): VolumeLocation {
  return { datastore: vc.datastore(f.datastore)?.name ?? vc.parseDsPath(f.path).ds.name, path: f.path };
}

