// The volume driver against vcsim: volumes as VMDKs under "[ds] volumes/", made empty, from an
// image, from a snapshot or another volume; extended while detached (through a shadow VM where
// vcsim lacks ExtendVirtualDisk_Task) and while attached (through the VM); exported as a
// stream-optimized VMDK; listed; every call repeatable. The datastore is checked with govc and
// our own client, not with the driver's answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { VirtDriverError, type ImageSpec, type VolumeSpec } from '../../core/virt.ts';
import { sparseVmdkToRaw } from '../../block_storage/image_convert.ts';
import { startVcsim, vcsimTestOptions, type Vcsim } from './testing.ts';
import { VSphereSession } from './session.ts';
import type { VCenterConfig } from './config.ts';
import { VSphereComputeDriver } from './vmops.ts';
import { VSphereVolumeDriver } from './volumeops.ts';
import { listObjects } from './vim/props.ts';
import type { VirtualDevice } from './vim/types.ts';
import { asArray } from './vim/xml.ts';

const KB_PER_GB = 1024 * 1024;

function image(id: string, bytes: number): ImageSpec & { data: Buffer } {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 13 + 7) % 251;
  return { id, name: id, diskFormat: 'raw', containerFormat: 'bare', size: bytes, properties: {}, data, async open() { return Readable.from([data]); } };
}

const spec = (volumeId: string, over: Partial<VolumeSpec> = {}): VolumeSpec => ({
  volumeId, name: volumeId, projectId: 'p1', sizeGb: 1, vmdkType: 'thin', adapterType: 'lsiLogic', storageProfile: null, availabilityZone: 'nova', ...over,
});

describe('VSphereVolumeDriver on vcsim', vcsimTestOptions(), () => {
  let sim: Vcsim;
  let session: VSphereSession;
  let volumes: VSphereVolumeDriver;
  let compute: VSphereComputeDriver;
  let ds: string;

  before(async () => {
    sim = await startVcsim();
    const config: VCenterConfig = {
      name: 'vc1', url: sim.url, username: sim.username, password: sim.password, caFile: sim.caFile, insecure: false,
      folder: 'vistack', imageCacheFolder: 'vistack_image_cache', connections: 8, taskTimeoutMs: 60_000,
    } as VCenterConfig;
    session = new VSphereSession(config);
    compute = new VSphereComputeDriver([session]);
    volumes = new VSphereVolumeDriver([session]);
    await compute.init();
    ds = session.inventory.datastores[0]!.name;
  });
  after(async () => { await compute?.close(); await sim?.stop(); });

  /** The files of "[ds] volumes/" as govc lists them. */
  async function volumeFiles(): Promise<string[]> {
    const out = await sim.govc('datastore.ls', '-ds', ds, 'volumes').catch(() => '');
    return out.split('\n').map((l) => l.trim()).filter(Boolean).sort();
  }
  async function vmNames(): Promise<string[]> {
    return (await listObjects<{ name: string }>(session.client, session.inventory.datacenter.ref, 'VirtualMachine', ['name'])).map((v) => String(v.props.name));
  }

  it('reports each datastore as a pool with the default storage profile', async () => {
    const pools = await volumes.pools();
    assert.deepEqual(pools.map((p) => p.name), session.inventory.datastores.map((d) => d.name));
    assert.ok(pools[0]!.totalCapacityGb > 0 && pools[0]!.freeCapacityGb <= pools[0]!.totalCapacityGb);
    assert.deepEqual(pools[0]!.storageProfiles, ['vSAN Default Storage Policy']);
  });

  it('creates an empty volume once: a second call finds the same VMDK; no temporary file stays', async () => {
    const a = await volumes.createVolume(spec('v-empty', { sizeGb: 2, vmdkType: 'eagerZeroedThick' }));
    assert.deepEqual(a, { datastore: ds, path: `[${ds}] volumes/volume-v-empty.vmdk` });
    assert.deepEqual(await volumes.createVolume(spec('v-empty', { sizeGb: 2 })), a);
    const files = await volumeFiles();
    assert.ok(files.includes('volume-v-empty.vmdk'), files.join(','));
    assert.ok(!files.some((f) => f.startsWith('tmp-')), files.join(','));
  });

  it('refuses a storage profile no datastore offers and a size no datastore has free', async () => {
    await assert.rejects(volumes.createVolume(spec('v-gold', { storageProfile: 'gold' })), (e: VirtDriverError) => e.fault === 'NoDatastore');
    await assert.rejects(volumes.createVolume(spec('v-huge', { sizeGb: 100_000 })), (e: VirtDriverError) => e.fault === 'NoDiskSpace');
    await assert.rejects(volumes.createVolume(spec('../x')), (e: VirtDriverError) => e.fault === 'InvalidArgument');
    assert.ok(!(await volumeFiles()).some((f) => f.includes('gold') || f.includes('huge')));
  });

  it('creates from an image through the image cache, grown to the volume size; exports its bytes', async () => {
    const img = image('img-vol-1', 200_000);
    const loc = await volumes.createVolume(spec('v-img', { sizeGb: 1 }), { image: img });
    assert.ok((await volumeFiles()).includes('volume-v-img.vmdk'));
    // The extend of the detached copy went through a shadow VM, which is gone.
    assert.ok(!(await vmNames()).some((n) => n.startsWith('vistack-volume-')), (await vmNames()).join(','));
    const exported = await volumes.openVolume(loc, 1);
    assert.equal(exported.diskFormat, 'vmdk');
    const raw = await sparseVmdkToRaw(exported.stream);
    assert.equal(raw.size, 1024 ** 3);
    const head: Buffer[] = [];
    let n = 0;
    for await (const c of raw.stream) { if (n < img.data.length) head.push(c as Buffer); n += (c as Buffer).length; }
    assert.equal(n, 1024 ** 3);
    assert.ok(Buffer.concat(head).subarray(0, img.data.length).equals(img.data), 'the image bytes lead the disk');
  });

  it('snapshots and clones; deleting a snapshot twice is fine', async () => {
    const src = await volumes.createVolume(spec('v-src'));
    const snap = await volumes.createSnapshot(src, 's-1');
    assert.equal(snap.path, `[${ds}] volumes/snapshot-s-1.vmdk`);
    assert.deepEqual(await volumes.createSnapshot(src, 's-1'), snap);
    const fromSnap = await volumes.createVolume(spec('v-from-snap', { sizeGb: 2 }), { snapshot: snap });
    const clone = await volumes.createVolume(spec('v-clone'), { volume: src });
    const files = await volumeFiles();
    for (const f of ['snapshot-s-1.vmdk', 'volume-v-from-snap.vmdk', 'volume-v-clone.vmdk']) assert.ok(files.includes(f), `${f} in ${files}`);
    const disks = await volumes.listDisks();
    const byName = new Map(disks.map((d) => [d.name, d]));
    assert.equal(byName.get('snapshot-s-1')?.snapshotOf, '');
    assert.equal(byName.get('volume-v-clone')?.snapshotOf, undefined);
    assert.equal(byName.get('volume-v-clone')?.inUse, false);
    await volumes.deleteSnapshot(snap);
    await volumes.deleteSnapshot(snap);
    await volumes.deleteVolume(fromSnap);
    await volumes.deleteVolume(clone);
    const left = await volumeFiles();
    assert.ok(!left.some((f) => f.startsWith('snapshot-s-1') || f.startsWith('volume-v-clone') || f.startsWith('volume-v-from-snap')), left.join(','));
  });

  it('extends an attached volume through its VM, refuses to delete it while attached, keeps the file on detach', async () => {
    const loc = await volumes.createVolume(spec('v-att', { sizeGb: 1 }));
    const node = (await compute.listNodes())[0]!.nodename;
    const uuid = '00000000-aaaa-4bbb-8ccc-000000000a77';
    await compute.spawn({
      uuid, name: 'vm', hostname: 'vm', projectId: 'p1', userId: 'u1', nodename: node, metadata: {},
      flavor: { id: 'f', name: 'f', vcpus: 1, memoryMb: 128, rootGb: 0, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
    }, null);
    await compute.attachDisk(uuid, { volumeId: 'v-att', datastore: loc.datastore, path: loc.path, sizeGb: 1 });
    await volumes.extendVolume(loc, 3);
    const vm = (await listObjects<{ 'config.instanceUuid': string; 'config.hardware.device': VirtualDevice[] }>(session.client, session.inventory.folder, 'VirtualMachine', ['config.instanceUuid', 'config.hardware.device']))
      .find((v) => v.props['config.instanceUuid'] === uuid)!;
    const disk = asArray(vm.props['config.hardware.device']).find((d) => d._type === 'VirtualDisk') as VirtualDevice & { capacityInKB: number };
    assert.equal(Number(disk.capacityInKB), 3 * KB_PER_GB);
    assert.equal((await volumes.listDisks()).find((d) => d.name === 'volume-v-att')?.inUse, true);
    assert.equal((await volumes.listDisks()).find((d) => d.name === 'volume-v-att')?.sizeGb, 3);
    await assert.rejects(volumes.deleteVolume(loc), (e: VirtDriverError) => e.fault === 'ResourceInUse');
    await compute.detachDisk(uuid, 'v-att');
    await compute.destroy(uuid);
    assert.ok((await volumeFiles()).includes('volume-v-att.vmdk'));
    await volumes.extendVolume(loc, 4); // detached: the shadow VM path
    assert.ok(!(await vmNames()).some((n) => n.startsWith('vistack-volume-')));
    await volumes.deleteVolume(loc);
    await volumes.deleteVolume(loc);
    assert.ok(!(await volumeFiles()).includes('volume-v-att.vmdk'));
  });

  it('finds a volume moved away from its recorded path by its name, and keeps a volume where the cluster reaches it', async () => {
    const loc = await volumes.createVolume(spec('v-moved'));
    await sim.govc('datastore.mkdir', '-ds', ds, '-p', 'elsewhere');
    await sim.govc('datastore.mv', '-ds', ds, 'volumes/volume-v-moved.vmdk', 'elsewhere/volume-v-moved.vmdk');
    await sim.govc('datastore.mv', '-ds', ds, 'elsewhere/volume-v-moved.vmdk', 'volumes/volume-v-moved.vmdk');
    const host = session.inventory.clusters[0]!.computeHost;
    assert.deepEqual(await volumes.ensureAccessible(loc, host), loc);
    // Cinder's record says another datastore: the file is found by its name.
    const stale = { datastore: 'OldDS', path: '[OldDS] volumes/volume-v-moved.vmdk' };
    assert.deepEqual(await volumes.ensureAccessible(stale, host), loc);
    await volumes.extendVolume(stale, 2);
    await volumes.deleteVolume(stale);
    assert.ok(!(await volumeFiles()).includes('volume-v-moved.vmdk'));
  });
});
