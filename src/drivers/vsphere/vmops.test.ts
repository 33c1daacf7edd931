// The compute driver against vcsim (its own, over TLS with the test CA): compute nodes, spawn from
// a Glance image through the datastore image cache, idempotent and crash-resumed spawns, power
// actions, resize with revert and confirm, volumes and NICs, snapshots, rescue, rebuild, destroy
// and faults. What the driver did is checked with a client of our own and govc, not with the
// driver's answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { inflateSync } from 'node:zlib';
import { InstanceNotFound, VirtDriverError, type FlavorSpec, type ImageSpec, type InstanceSpec, type VifSpec } from '../../core/virt.ts';
import { startVcsim, vcsimTestOptions, type Vcsim } from './testing.ts';
import { VSphereSession } from './session.ts';
import type { VCenterConfig } from './config.ts';
import { VSphereComputeDriver } from './vmops.ts';
import { VimClient, VimFault } from './vim/client.ts';
import { get, listObjects } from './vim/props.ts';
import type { MoRef, OptionValue, VirtualDevice } from './vim/types.ts';
import { asArray, xsdString } from './vim/xml.ts';

const GiB = 2 ** 30;
/** vcsim writes newlines as character references, which the XML layer keeps. */
const text = (s: unknown) => String(s ?? '').replace(/&#xA;/gi, '\n');
const KB_PER_GB = 1024 * 1024;

function flavor(over: Partial<FlavorSpec> = {}): FlavorSpec {
  return { id: 'f-small', name: 'm1.small', vcpus: 2, memoryMb: 256, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {}, ...over };
}

/** A fake Glance image: a few KiB of known bytes; counts how often it is downloaded. */
function fakeImage(id: string, bytes = 8192, props: Record<string, string> = {}) {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7 + id.length) % 251;
  const image: ImageSpec & { opens: number; data: Buffer } = {
    id, name: id, diskFormat: 'raw', containerFormat: 'bare', size: bytes, properties: props, opens: 0, data,
    async open() { image.opens++; return Readable.from([data.subarray(0, 3000), data.subarray(3000)]); },
  };
  return image;
}

let seq = 0;
const uuid = () => `0000${(++seq).toString(16).padStart(4, '0')}-aaaa-4bbb-8ccc-${Date.now().toString(16).padStart(12, '0').slice(-12)}`;

describe('VSphereComputeDriver on vcsim', vcsimTestOptions(), () => {
  let sim: Vcsim;
  let session: VSphereSession;
  let driver: VSphereComputeDriver;
  let check: VimClient; // our own eyes on the vCenter
  let node: string;
  let ds: string;
  const image = fakeImage('img-flat-1');

  const config = (over: Partial<VCenterConfig> = {}): VCenterConfig => ({
    name: 'vc1', url: sim.url, username: sim.username, password: sim.password, caFile: sim.caFile, insecure: false,
    folder: 'vistack', imageCacheFolder: 'vistack_image_cache', connections: 8, taskTimeoutMs: 60_000, ...over,
  });
  const instance = (over: Partial<InstanceSpec> = {}): InstanceSpec => ({
    uuid: uuid(), name: 'server one', hostname: 'server-1', projectId: 'proj-1', userId: 'user-1', nodename: node, flavor: flavor(), metadata: {}, ...over,
  });
  const vif = (n: number): VifSpec => ({ portId: `port-${n}`, macAddress: `fa:16:3e:00:00:${n.toString(16).padStart(2, '0')}`, networkId: 'net-1', portGroup: 'DC0_DVPG0' });

  async function vmRef(id: string): Promise<MoRef | null> {
    const r = await check.call<MoRef | undefined>('FindByUuid', check.content.searchIndex!, { uuid: id, vmSearch: true, instanceUuid: true });
    return r && r.value ? r : null;
  }
  async function vm(id: string) {
    const ref = await vmRef(id);
    assert.ok(ref, `VM ${id} exists`);
    const p = (await get<Record<string, unknown>>(check, ref, ['name', 'parent', 'resourcePool', 'runtime.powerState', 'snapshot', 'config']))!;
    const cfg = p.config as Record<string, unknown> & { hardware: { numCPU: number; numCoresPerSocket: number; memoryMB: number; device: VirtualDevice[] } };
    const ec: Record<string, string> = {};
    for (const o of asArray(cfg.extraConfig as OptionValue[])) { if (o.value === '') delete ec[o.key]; else ec[o.key] = String(o.value); }
    const devices = asArray(cfg.hardware.device);
    const disks = devices.filter((d) => d._type === 'VirtualDisk').map((d) => ({ file: String((d.backing as unknown as { fileName: string }).fileName), kb: Number(d.capacityInKB), key: d.key }));
    const nics = devices.filter((d) => d._type === 'VirtualVmxnet3').map((d) => ({ mac: String(d.macAddress), port: String(d.externalId), pg: (d.backing as unknown as { port: { portgroupKey: string } }).port.portgroupKey }));
    return { ref, p, cfg, ec, disks, nics, power: String(p['runtime.powerState']) };
  }
  const ls = async (folder: string): Promise<string[]> => {
    try { return (await sim.govc('datastore.ls', '-ds', ds, folder)).split('\n').map((l) => l.trim()).filter(Boolean).sort(); } catch (e) {
      if (/was not found|not found/i.test(String((e as Error).message))) return [];
      throw e;
    }
  };
  const exists = async (folder: string, file: string) => (await ls(folder)).includes(file);
  const vmsNamed = async (name: string) => (await listObjects<{ name: string }>(check, check.content.rootFolder, 'VirtualMachine', ['name'])).filter((v) => v.props.name === name).length;
  const reconfig = (ref: MoRef, spec: Record<string, unknown>) => check.runTask('ReconfigVM_Task', ref, { spec: { _type: 'VirtualMachineConfigSpec', ...spec } });
  const fault = (name: string) => (e: unknown) => e instanceof VirtDriverError && e.fault === name;

  before(async () => {
    sim = await startVcsim();
    session = new VSphereSession(config());
    driver = new VSphereComputeDriver([session]);
    await driver.init();
    check = new VimClient({ url: sim.url, username: sim.username, password: sim.password, ca: readFileSync(sim.caFile), keepAliveMs: 0 });
    await check.connect();
    node = (await driver.listNodes())[0]!.nodename;
    ds = session.inventory.datastores[0]!.name;
  });
  after(async () => { await check?.close(); await driver?.close(); await sim?.stop(); });

  it('reports each cluster as a compute node with the capacity of its hosts and datastores', async () => {
    const nodes = await driver.listNodes();
    assert.equal(nodes.length, 1);
    const n = nodes[0]!;
    const [cluster] = await listObjects<{ name: string; host: MoRef[]; datastore: MoRef[] }>(check, check.content.rootFolder, 'ClusterComputeResource', ['name', 'host', 'datastore']);
    assert.equal(n.nodename, `${cluster!.ref.value}.${check.content.about.instanceUuid}`);
    assert.equal(n.clusterName, 'DC0_C0');
    assert.equal(n.host, 'dc0-c0');
    assert.equal(n.hypervisorType, 'VMware vCenter Server');
    assert.equal(n.hypervisorVersion, 6005000);
    const hosts = await Promise.all(asArray(cluster!.props.host).map((h) => get<{ 'summary.hardware': { numCpuThreads: number; memorySize: number } }>(check, h, ['summary.hardware'])));
    assert.equal(n.vcpus, hosts.reduce((a, h) => a + Number(h!['summary.hardware']!.numCpuThreads), 0));
    assert.equal(n.memoryMb, hosts.reduce((a, h) => a + Math.floor(Number(h!['summary.hardware']!.memorySize) / 2 ** 20), 0));
    const dss = await Promise.all(asArray(cluster!.props.datastore).map((d) => get<{ summary: { capacity: number; freeSpace: number } }>(check, d, ['summary'])));
    const cap = dss.reduce((a, d) => a + Number(d!.summary!.capacity), 0);
    const free = dss.reduce((a, d) => a + Number(d!.summary!.freeSpace), 0);
    assert.equal(n.localGb, Math.floor(cap / GiB));
    assert.equal(n.localGbUsed, Math.floor((cap - free) / GiB));
    assert.ok((n.cpuInfo.topology as { cores: number }).cores > 0);
  });

  let web: InstanceSpec;

  it('spawns from an image: a VM in the cluster pool and Vistack folder, sized by the flavor, tagged, powered on', async () => {
    web = instance({
      flavor: flavor({
        id: 'f-web', vcpus: 4, memoryMb: 512, rootGb: 1, ephemeralGb: 1, swapMb: 64,
        extraSpecs: { 'quota:cpu_limit': '2000', 'quota:memory_reservation': '128', 'vmware:hw_version': 'vmx-13', 'hw:cpu_sockets': '2' },
      }),
      vifs: [vif(1)],
    });
    const info = await driver.spawn(web, image);
    assert.equal(info.powerState, 1);
    assert.equal(info.nodename, node);
    assert.equal(info.vcpus, 4);
    const v = await vm(web.uuid);
    assert.equal(v.p.name, web.uuid);
    assert.equal(v.power, 'poweredOn');
    assert.equal((v.p.resourcePool as MoRef).value, session.inventory.clusters[0]!.resourcePool.value);
    assert.equal((v.p.parent as MoRef).value, session.inventory.folder.value);
    const folderName = (await get<{ name: string }>(check, v.p.parent as MoRef, ['name']))!.name;
    assert.equal(folderName, 'vistack');
    assert.equal(v.cfg.hardware.numCPU, 4);
    assert.equal(v.cfg.hardware.numCoresPerSocket, 2);
    assert.equal(v.cfg.hardware.memoryMB, 512);
    assert.equal(v.cfg.version, 'vmx-13');
    assert.equal(v.cfg.instanceUuid, web.uuid);
    assert.equal(Number((v.cfg.cpuAllocation as { limit: number }).limit), 2000);
    assert.equal(Number((v.cfg.memoryAllocation as { reservation: number }).reservation), 128);
    assert.match(text(v.cfg.annotation), /^imageid:img-flat-1$/m);
    assert.equal(v.ec['vistack.owner'], 'vistack');
    assert.equal(v.ec['vistack.display-name'], 'server one');
    assert.equal(v.ec['vistack.project-id'], 'proj-1');
    assert.equal(v.ec['nvp.vm-uuid'], web.uuid);
    assert.equal(v.ec['nvp.iface-id.0'], 'port-1');
    assert.deepEqual(v.nics, [{ mac: 'fa:16:3e:00:00:01', port: 'port-1', pg: 'dvportgroup-13' }]);
    const disk = (f: string) => v.disks.find((d) => d.file === `[${ds}] ${web.uuid}/${f}`);
    assert.equal(disk(`${web.uuid}.vmdk`)?.kb, KB_PER_GB);
    assert.equal(disk('ephemeral_0.vmdk')?.kb, KB_PER_GB);
    assert.equal(disk('swap.vmdk')?.kb, 64 * 1024);
    // The image was copied into the cache once and the root disk copied from it.
    assert.ok(await exists('vistack_image_cache/img-flat-1', 'img-flat-1.vmdk'));
    assert.equal(image.opens, 1);
    assert.deepEqual(await driver.getInfo(web.uuid), info);
    assert.ok((await driver.listInstances()).includes(web.uuid));
    assert.deepEqual((await driver.listInstanceInfo()).find((i) => i.uuid === web.uuid), info);
  });

  it('spawn again is idempotent: same VM, no second download', async () => {
    const again = await driver.spawn(web, image);
    assert.equal(again.powerState, 1);
    assert.equal(await vmsNamed(web.uuid), 1);
    assert.equal(image.opens, 1);
    assert.equal((await vm(web.uuid)).nics.length, 1);
  });

  it('concurrent spawns of a new image download it once', async () => {
    const img = fakeImage('img-flat-2');
    const a = instance();
    const b = instance();
    await Promise.all([driver.spawn(a, img), driver.spawn(b, img)]);
    assert.equal(img.opens, 1);
    assert.equal((await vm(a.uuid)).power, 'poweredOn');
    assert.equal((await vm(b.uuid)).power, 'poweredOn');
    await driver.destroy(a.uuid);
    await driver.destroy(b.uuid);
  });

  it('resumes a spawn that stopped after the VM was created (powered off, never started)', async () => {
    const i = instance({ vifs: [vif(2)] });
    await driver.spawn(i, image);
    const v = await vm(i.uuid);
    // As if the process died between CreateVM_Task and the first power-on.
    await check.runTask('PowerOffVM_Task', v.ref);
    await reconfig(v.ref, { extraConfig: [{ _type: 'OptionValue', key: 'vistack.spawned', value: xsdString('') }] });
    // A fresh driver (a restarted process) picks it up.
    const d2 = new VSphereComputeDriver([session]);
    const info = await d2.spawn(i, image);
    assert.equal(info.powerState, 1);
    assert.equal(await vmsNamed(i.uuid), 1);
    assert.equal((await vm(i.uuid)).nics.length, 1);
    await driver.destroy(i.uuid);
  });

  it('a spawned VM stopped since is not started by a repeated spawn', async () => {
    const i = instance();
    await driver.spawn(i, image);
    await driver.powerOff(i.uuid);
    assert.equal((await driver.spawn(i, image)).powerState, 4);
    await driver.destroy(i.uuid);
  });

  it('recovers from a half-uploaded image cache and leftovers of a spawn that made no VM', async () => {
    const img = fakeImage('img-flat-3');
    const i = instance();
    // An upload interrupted mid-way: a temporary folder with part of the extent, nothing at the final name.
    await sim.govc('datastore.mkdir', '-ds', ds, '-p', 'vistack_image_cache/img-flat-3/tmp-dead');
    await session.client.upload('DC0', ds, 'vistack_image_cache/img-flat-3/tmp-dead/img-flat-3-flat.vmdk', Buffer.alloc(100, 1), 100);
    // A crashed earlier attempt left a copied root disk and a .vmx in the instance folder.
    await session.client.upload('DC0', ds, `${i.uuid}/${i.uuid}.vmx`, Buffer.from('stale'), 5);
    await session.client.upload('DC0', ds, `${i.uuid}/${i.uuid}-flat.vmdk`, Buffer.alloc(10), 10);
    const info = await driver.spawn(i, img);
    assert.equal(info.powerState, 1);
    assert.equal(img.opens, 1);
    assert.deepEqual(await ls('vistack_image_cache/img-flat-3'), ['img-flat-3-flat.vmdk', 'img-flat-3.vmdk']);
    // The root disk is a copy of the whole image, not of the stale file.
    const dl = await session.client.download('DC0', ds, `${i.uuid}/${i.uuid}-flat.vmdk`);
    const chunks: Buffer[] = [];
    for await (const c of dl.stream) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), img.data);
    await driver.destroy(i.uuid);
  });

  it('spawns without an image (a blank root disk) and boot-from-volume (no root disk)', async () => {
    const blank = instance({ flavor: flavor({ rootGb: 2 }) });
    await driver.spawn(blank, null);
    assert.deepEqual((await vm(blank.uuid)).disks.map((d) => d.kb), [2 * KB_PER_GB]);
    await driver.destroy(blank.uuid);

    await sim.govc('datastore.mkdir', '-ds', ds, '-p', 'volumes');
    const bfv = instance({ flavor: flavor({ rootGb: 0 }), disks: [{ volumeId: 'boot-1', datastore: ds, path: `[${ds}] volumes/volume-boot-1.vmdk`, sizeGb: 3 }] });
    await driver.spawn(bfv, null);
    const v = await vm(bfv.uuid);
    assert.deepEqual(v.disks.map((d) => [d.file, d.kb]), [[`[${ds}] volumes/volume-boot-1.vmdk`, 3 * KB_PER_GB]]);
    await assert.rejects(driver.snapshot(bfv.uuid), fault('InvalidState'));
    await driver.destroy(bfv.uuid);
    // The volume's VMDK (made on first attach) outlives the VM.
    assert.ok(await exists('volumes', 'volume-boot-1.vmdk'));
  });

  it('power actions are idempotent and follow vSphere (no pause)', async () => {
    const id = web.uuid;
    await driver.powerOff(id);
    await driver.powerOff(id);
    assert.equal((await vm(id)).power, 'poweredOff');
    await assert.rejects(driver.reboot(id, 'SOFT'), fault('InvalidPowerState'));
    await assert.rejects(driver.suspend(id), fault('InvalidPowerState'));
    await driver.reboot(id, 'HARD'); // a stopped VM is started
    assert.equal((await vm(id)).power, 'poweredOn');
    await driver.powerOn(id);
    await driver.suspend(id);
    await driver.suspend(id);
    assert.equal((await vm(id)).power, 'suspended');
    assert.equal((await driver.getInfo(id))!.powerState, 7);
    await driver.resume(id);
    await driver.resume(id);
    assert.equal((await vm(id)).power, 'poweredOn');
    await driver.reboot(id, 'SOFT'); // vcsim has no RebootGuest: a reset, as Nova does without VMware Tools
    await driver.reboot(id, 'HARD');
    assert.equal((await vm(id)).power, 'poweredOn');
    await assert.rejects(driver.pause(id), fault('NotSupported'));
    await assert.rejects(driver.unpause(id), fault('NotSupported'));
    assert.equal(await driver.getConsoleOutput(id), '');
  });

  it('resizes, reverts and confirms, keeping the old flavor in a note until then', async () => {
    const i = instance({ flavor: flavor({ id: 'f-a', vcpus: 1, memoryMb: 256, rootGb: 1, extraSpecs: { 'quota:cpu_limit': '1000' } }) });
    await driver.spawn(i, image);
    const big = flavor({ id: 'f-b', name: 'm1.big', vcpus: 2, memoryMb: 1024, rootGb: 2, ephemeralGb: 1 });
    await driver.resize(i.uuid, big);
    let v = await vm(i.uuid);
    assert.equal(v.cfg.hardware.numCPU, 2);
    assert.equal(v.cfg.hardware.memoryMB, 1024);
    assert.equal(Number((v.cfg.cpuAllocation as { limit: number }).limit), -1);
    assert.equal(v.disks.find((d) => d.file.endsWith(`${i.uuid}.vmdk`))!.kb, 2 * KB_PER_GB);
    assert.equal(v.disks.find((d) => d.file.endsWith('ephemeral_0.vmdk'))!.kb, KB_PER_GB);
    assert.equal(v.ec['vistack.resize-to'], 'f-b');
    assert.equal(v.ec['vistack.resize-from'], 'f-a');
    assert.equal(v.power, 'poweredOn');
    assert.match(text(v.cfg.annotation), /^flavor:name:m1.big$/m);
    assert.ok(await exists(i.uuid, 'original.vmdk'));
    // Again with the same flavor: nothing more; with another one: refused while pending.
    await driver.resize(i.uuid, big);
    await assert.rejects(driver.resize(i.uuid, flavor({ id: 'f-c', vcpus: 8 })), fault('ResizeError'));

    await driver.revertResize(i.uuid, i.flavor);
    v = await vm(i.uuid);
    assert.equal(v.cfg.hardware.numCPU, 1);
    assert.equal(v.cfg.hardware.memoryMB, 256);
    assert.equal(Number((v.cfg.cpuAllocation as { limit: number }).limit), 1000);
    assert.equal(v.disks.find((d) => d.file.endsWith(`${i.uuid}.vmdk`))!.kb, KB_PER_GB);
    assert.equal(v.disks.some((d) => d.file.endsWith('ephemeral_0.vmdk')), false);
    assert.equal(v.ec['vistack.resize-to'], undefined);
    assert.equal(v.power, 'poweredOn');
    assert.equal(await exists(i.uuid, 'original.vmdk'), false);
    await driver.revertResize(i.uuid, i.flavor); // nothing pending: nothing to do

    // A stopped VM stays stopped through resize; confirm drops the old disk and the note.
    await driver.powerOff(i.uuid);
    await driver.resize(i.uuid, big);
    assert.equal((await vm(i.uuid)).power, 'poweredOff');
    await driver.confirmResize(i.uuid);
    await driver.confirmResize(i.uuid);
    v = await vm(i.uuid);
    assert.equal(v.ec['vistack.resize-to'], undefined);
    assert.equal(v.ec['vistack.flavor-id'], 'f-b');
    assert.equal(v.cfg.hardware.numCPU, 2);
    assert.equal(await exists(i.uuid, 'original.vmdk'), false);
    await assert.rejects(driver.resize(i.uuid, flavor({ id: 'f-tiny', rootGb: 1 })), fault('ResizeError')); // no shrinking
    await driver.destroy(i.uuid);
  });

  it('attaches and detaches a volume without touching its file', async () => {
    const id = web.uuid;
    const vol = { volumeId: 'v-1', datastore: ds, path: `[${ds}] volumes/volume-v-1.vmdk`, sizeGb: 2 };
    await sim.govc('datastore.mkdir', '-ds', ds, '-p', 'volumes');
    await driver.attachDisk(id, vol); // the VMDK is made on first attach when missing
    await driver.attachDisk(id, vol);
    let v = await vm(id);
    assert.deepEqual(v.disks.filter((d) => d.file === vol.path).map((d) => d.kb), [2 * KB_PER_GB]);
    await driver.detachDisk(id, 'v-1');
    await driver.detachDisk(id, 'v-1');
    v = await vm(id);
    assert.equal(v.disks.some((d) => d.file === vol.path), false);
    assert.ok(await exists('volumes', 'volume-v-1.vmdk'));
    await assert.rejects(driver.attachDisk(id, { ...vol, datastore: 'nope' }), fault('NotFound'));
    await assert.rejects(driver.attachDisk(id, { ...vol, path: '[other] volumes/volume-v-1.vmdk' }), fault('InvalidDatastorePath'));
    await assert.rejects(driver.attachDisk(id, { ...vol, sizeGb: 0 }), fault('InvalidArgument'));
  });

  it('attaches and detaches a NIC by port id', async () => {
    const id = web.uuid;
    await driver.attachInterface(id, vif(9));
    await driver.attachInterface(id, vif(9));
    let v = await vm(id);
    assert.deepEqual(v.nics.map((n) => n.port).sort(), ['port-1', 'port-9']);
    assert.equal(v.ec['nvp.iface-id.1'], 'port-9');
    await driver.detachInterface(id, 'port-9');
    await driver.detachInterface(id, 'port-9');
    v = await vm(id);
    assert.deepEqual(v.nics.map((n) => n.port), ['port-1']);
    assert.equal(v.ec['nvp.iface-id.1'], undefined);
    assert.equal(v.ec['nvp.iface-id.0'], 'port-1');
    await assert.rejects(driver.attachInterface(id, { ...vif(3), macAddress: 'zz' }), fault('InvalidArgument'));
    await assert.rejects(driver.attachInterface(id, { ...vif(3), portGroup: 'vistack-net-missing' }), fault('NotFound'));
  });

  it('snapshots the root disk as a stream-optimized VMDK of its bytes, then removes the snapshot', async () => {
    const snap = await driver.snapshot(web.uuid);
    assert.equal(snap.diskFormat, 'vmdk');
    assert.equal(snap.containerFormat, 'bare');
    const chunks: Buffer[] = [];
    for await (const c of snap.stream) chunks.push(c as Buffer);
    const vmdk = Buffer.concat(chunks);
    assert.equal(vmdk.toString('latin1', 0, 4), 'KDMV');
    assert.equal(Number(vmdk.readBigUInt64LE(12)) * 512, GiB); // the root disk's capacity
    const size = vmdk.readUInt32LE(128 * 512 + 8); // the first grain
    const grain = inflateSync(vmdk.subarray(128 * 512 + 12, 128 * 512 + 12 + size));
    assert.deepEqual(grain.subarray(0, image.data.length), image.data);
    assert.equal((await vm(web.uuid)).p.snapshot, undefined);
    // A snapshot stream dropped unread still releases its snapshot.
    const dropped = await driver.snapshot(web.uuid);
    dropped.stream.destroy();
    await driver.getConsoleOutput(web.uuid); // queued behind the release
    await driver.powerOn(web.uuid);
    assert.equal((await vm(web.uuid)).p.snapshot, undefined);
  });

  it('rescues from the image and unrescues', async () => {
    const id = web.uuid;
    await driver.rescue(id, image);
    await driver.rescue(id, image);
    let v = await vm(id);
    const rescue = v.disks.find((d) => d.file === `[${ds}] ${id}/${id}-rescue.vmdk`);
    assert.ok(rescue);
    const order = asArray((v.cfg.bootOptions as { bootOrder?: Array<{ deviceKey: number }> }).bootOrder);
    assert.equal(Number(order[0]?.deviceKey), rescue.key);
    assert.equal(v.power, 'poweredOn');
    await driver.unrescue(id);
    await driver.unrescue(id);
    v = await vm(id);
    assert.equal(v.disks.some((d) => d.file.endsWith('-rescue.vmdk')), false);
    assert.equal(await exists(id, `${id}-rescue.vmdk`), false);
    assert.equal(v.power, 'poweredOn');
    // Without an image: the one the VM was built from (still in the cache).
    await driver.rescue(id, null);
    await driver.unrescue(id);
  });

  it('rebuilds the root disk from another image in the same VM', async () => {
    const other = fakeImage('img-flat-rebuild', 4096);
    const before = (await vm(web.uuid)).ref.value;
    await driver.rebuild({ ...web, name: 'server one (rebuilt)' }, other);
    const v = await vm(web.uuid);
    assert.equal(v.ref.value, before);
    assert.equal(v.power, 'poweredOn');
    assert.match(text(v.cfg.annotation), /^imageid:img-flat-rebuild$/m);
    assert.equal(v.ec['vistack.display-name'], 'server one (rebuilt)');
    assert.equal(v.disks.find((d) => d.file.endsWith(`${web.uuid}.vmdk`))!.kb, KB_PER_GB);
    const dl = await session.client.download('DC0', ds, `${web.uuid}/${web.uuid}-flat.vmdk`);
    const chunks: Buffer[] = [];
    for await (const c of dl.stream) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), other.data);
  });

  it('maps a task that vCenter fails to a VimFault, and a spawn that fails leaves nothing behind', async () => {
    // A guest id vCenter does not know: ReconfigVM_Task ends in error.
    await assert.rejects(driver.rebuild(web, fakeImage('img-bad-os', 1024, { vmware_ostype: 'noSuchGuest' })),
      (e: unknown) => e instanceof VimFault && e.fault === 'InvalidArgument');
    // A NIC on a switch the cluster's hosts are not members of: CreateVM_Task fails.
    await sim.govc('dvs.create', 'lonely-dvs');
    await sim.govc('dvs.portgroup.add', '-dvs', 'lonely-dvs', 'lonely-pg');
    const i = instance({ vifs: [{ ...vif(5), portGroup: 'lonely-pg' }] });
    await assert.rejects(driver.spawn(i, image), (e: unknown) => e instanceof VimFault && e.fault === 'InvalidArgument');
    assert.equal(await vmRef(i.uuid), null);
    assert.deepEqual(await ls(i.uuid), []);
    await assert.rejects(driver.spawn(instance({ nodename: 'domain-c999.nowhere' }), image), fault('NotFound'));
    await assert.rejects(driver.spawn(instance({ flavor: flavor({ extraSpecs: { 'quota:cpu_limit': 'x' } }) }), image), fault('InvalidArgument'));
  });

  it('gives the PerformanceManager figures of its servers (the telemetry hook), none of VMs that are not ours', async () => {
    const all = await driver.instanceStats();
    const ours = await driver.listInstances();
    assert.ok(all.length > 0);
    assert.deepEqual(all.map((s) => s.uuid).sort(), [...ours].sort());
    const [one] = await driver.instanceStats([web.uuid]);
    assert.equal(one?.uuid, web.uuid);
    assert.ok(Number.isFinite(Date.parse(one!.timestamp)));
    assert.ok(Object.keys(one!).some((k) => k !== 'uuid' && k !== 'timestamp'), `figures: ${JSON.stringify(one)}`);
    assert.deepEqual(await driver.instanceStats(['DC0_H0_VM0']), []);
  });

  it('destroys: volumes detached first and kept, no VM and no instance files left; twice is fine', async () => {
    const id = web.uuid;
    const vol = { volumeId: 'v-2', datastore: ds, path: `[${ds}] volumes/volume-v-2.vmdk`, sizeGb: 1 };
    await driver.attachDisk(id, vol);
    await driver.destroy(id);
    await driver.destroy(id);
    assert.equal(await vmRef(id), null);
    assert.deepEqual(await ls(id), []);
    assert.ok(await exists('volumes', 'volume-v-2.vmdk'));
    assert.equal(await driver.getInfo(id), null);
    assert.equal((await driver.listInstances()).includes(id), false);
    await assert.rejects(driver.powerOn(id), InstanceNotFound);
    await assert.rejects(driver.snapshot(id), InstanceNotFound);
    await assert.rejects(driver.getConsoleOutput(id), InstanceNotFound);
  });
});
