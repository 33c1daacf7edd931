// The simulator as Nova's virt driver: every ComputeDriver method, the idempotency Nova's tasks
// rely on, capacity accounting, the datastore image cache, snapshots, failure injection and
// persistence across a restart. Each test gets its own data directory (its own "vCenter").
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { InstanceNotFound, PowerState, VirtDriverError, type FlavorSpec, type ImageSpec, type InstanceSpec } from '../../core/virt.ts';
import { SimulatorDriver } from './index.ts';
import { vmdkCapacity } from './vmdk.ts';
import { GiB } from './vcenter.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function tmp() {
  const d = mkdtempSync(join(tmpdir(), 'vistack-sim-'));
  dirs.push(d);
  return d;
}

async function driver(dataDir = tmp(), latencyMs = 0) {
  const d = new SimulatorDriver({ dataDir, latencyMs });
  await d.init();
  return d;
}

const tiny: FlavorSpec = { id: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 512, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} };
const small: FlavorSpec = { id: '2', name: 'm1.small', vcpus: 2, memoryMb: 2048, rootGb: 20, ephemeralGb: 0, swapMb: 0, extraSpecs: {} };

/** An image whose bytes are generated as they are read; counts how often it is opened. */
function image(id: string, size = 3 * 1024 * 1024 + 17) {
  const img = {
    id, name: `img-${id}`, diskFormat: 'qcow2', containerFormat: 'bare', size, properties: {}, opened: 0,
    bytes: () => Buffer.alloc(size, id.charCodeAt(0)),
    async open() {
      img.opened++;
      let left = size;
      return Readable.from((function* () {
        while (left > 0) { const n = Math.min(left, 65536); left -= n; yield Buffer.alloc(n, id.charCodeAt(0)); }
      })());
    },
  };
  return img satisfies ImageSpec;
}

let seq = 0;
function spec(nodename: string, over: Partial<InstanceSpec> = {}): InstanceSpec {
  seq++;
  return {
    uuid: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`, name: `server-${seq}`, hostname: `server-${seq}`,
    projectId: 'p1', userId: 'u1', nodename, flavor: tiny, metadata: {}, ...over,
  };
}

async function rejectsFault(p: Promise<unknown>, fault: string) {
  await assert.rejects(p, (e: unknown) => e instanceof VirtDriverError && e.fault === fault);
}

test('a new simulator has the default inventory: two clusters as two compute nodes, room for 1,000 m1.tiny', async () => {
  const d = await driver();
  const nodes = await d.listNodes();
  assert.equal(nodes.length, 2);
  const uuid = d.vcenter.uuid;
  for (const n of nodes) {
    assert.match(n.nodename, new RegExp(`^domain-c\\d+\\.${uuid}$`));
    assert.equal(n.hypervisorType, 'VMware vCenter Server');
    assert.equal(n.hypervisorVersion, 8000002);
    assert.ok(n.host && n.clusterName);
    assert.equal(n.localGbUsed, 0);
  }
  assert.notEqual(nodes[0].host, nodes[1].host);
  // Nova's default allocation ratios: cpu 16, ram 1.5, disk 1.0.
  const vcpus = nodes.reduce((a, n) => a + n.vcpus * 16, 0);
  const ram = nodes.reduce((a, n) => a + n.memoryMb * 1.5, 0);
  const disk = nodes.reduce((a, n) => a + n.localGb, 0);
  assert.ok(vcpus >= 2000 && ram >= 2000 * 512 && disk >= 2000, 'twice 1,000 m1.tiny fit');
  const inv = d.vcenter.inventory();
  assert.equal(inv.datacenters.length, 1);
  assert.match(inv.datacenters[0].moref, /^datacenter-\d+$/);
  assert.equal(inv.datacenters[0].switches.length, 1);
  assert.ok(inv.datacenters[0].switches[0].portgroups.some((p) => p.uplink));
  await d.close();
});

test('spawn creates a tagged VM on the least loaded host with a linked-clone root disk and powers it on', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const img = image('a1');
  const s = spec(node.nodename, { flavor: { ...tiny, ephemeralGb: 1, swapMb: 256 } });
  const info = await d.spawn(s, img);
  assert.equal(info.uuid, s.uuid);
  assert.equal(info.powerState, PowerState.RUNNING);
  assert.equal(info.nodename, node.nodename);
  assert.equal(info.vcpus, 1);
  assert.equal(info.memoryMb, 512);
  assert.deepEqual(await d.getInfo(s.uuid), info);
  assert.deepEqual(await d.listInstances(), [s.uuid]);

  const vm = d.vcenter.describeVm(d.vcenter.vm(s.uuid)!);
  assert.match(vm.moref, /^vm-\d+$/);
  assert.equal(vm.displayName, s.name);
  assert.equal(vm.owner, 'vistack');
  assert.match(vm.annotation, new RegExp(`^name:${s.name}$`, 'm'));
  const kinds = vm.disks.map((x) => x.kind);
  assert.deepEqual(kinds, ['root', 'ephemeral', 'swap']);
  const root = vm.disks[0];
  assert.equal(root.fileName, `[${vm.datastore}] ${s.uuid}/${s.uuid}.vmdk`);
  assert.equal(root.parent, `[${vm.datastore}] vistack_image_cache/a1/a1.vmdk`);
  assert.equal(root.capacityKB, 1024 * 1024);
  assert.equal(vm.disks[2].capacityKB, 256 * 1024);

  // Eight more VMs spread over the four hosts of the cluster, two each (DRS-like placement).
  for (let i = 0; i < 7; i++) await d.spawn(spec(node.nodename), img);
  const hosts = d.vcenter.inventory().datacenters[0].clusters.find((c) => c.nodename === node.nodename)!.hosts;
  assert.deepEqual(hosts.map((h) => h.allocated.vms), [2, 2, 2, 2]);
  await d.close();
});

test('spawn is idempotent and completes what a failed attempt left undone', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const s = spec(node.nodename);
  d.injectFault({ method: 'PowerOnVM_Task', vmName: s.uuid, fault: 'HostConnectionLost' });
  await rejectsFault(d.spawn(s, null), 'HostConnectionLost');
  const half = await d.getInfo(s.uuid);
  assert.equal(half?.powerState, PowerState.SHUTDOWN, 'created but not powered on');
  const moref = d.vcenter.vm(s.uuid)!.moref;
  const info = await d.spawn(s, null);
  assert.equal(info.powerState, PowerState.RUNNING);
  assert.equal(d.vcenter.vm(s.uuid)!.moref, moref, 'the same VM, not a second one');
  // Once spawned, a repeated spawn changes nothing, even if the VM was stopped since.
  await d.powerOff(s.uuid);
  assert.equal((await d.spawn(s, null)).powerState, PowerState.SHUTDOWN);
  assert.equal((await d.listInstances()).length, 1);
  await rejectsFault(d.spawn(spec('domain-c999.nope'), null), 'NotFound');
  await d.close();
});

test('a missing VM: getInfo is null, destroy succeeds, everything else throws InstanceNotFound', async () => {
  const d = await driver();
  const id = 'ffffffff-0000-4000-8000-000000000000';
  assert.equal(await d.getInfo(id), null);
  await d.destroy(id);
  const calls: Array<() => Promise<unknown>> = [
    () => d.reboot(id, 'SOFT'), () => d.powerOff(id), () => d.powerOn(id), () => d.pause(id), () => d.unpause(id),
    () => d.suspend(id), () => d.resume(id), () => d.rescue(id, null), () => d.unrescue(id), () => d.snapshot(id),
    () => d.resize(id, small), () => d.revertResize(id, tiny), () => d.confirmResize(id),
    () => d.rebuild({ ...spec('x'), uuid: id }, null), () => d.attachDisk(id, { volumeId: 'v', datastore: 'x', path: '[x] v.vmdk', sizeGb: 1 }),
    () => d.detachDisk(id, 'v'), () => d.attachInterface(id, { portId: 'p', macAddress: 'fa:16:3e:00:00:01', networkId: 'n', portGroup: 'pg' }),
    () => d.detachInterface(id, 'p'), () => d.getConsoleOutput(id),
  ];
  for (const c of calls) await assert.rejects(c(), (e: unknown) => e instanceof InstanceNotFound && e.uuid === id);
  await d.close();
});

test('power actions: transitions, no-ops when already in effect, InvalidPowerState otherwise, console grows', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const s = spec(node.nodename, { hostname: 'web-01' });
  await d.spawn(s, image('b1'));
  const state = async () => (await d.getInfo(s.uuid))!.powerState;
  const log1 = await d.getConsoleOutput(s.uuid);
  assert.match(log1, /Linux version/);
  assert.match(log1, /Hostname set to <web-01>/);
  assert.match(log1, new RegExp(`instance ${s.uuid}`));
  assert.equal(await d.getConsoleOutput(s.uuid), log1, 'stable between reads');

  await d.powerOn(s.uuid); // already on
  await d.reboot(s.uuid, 'SOFT');
  const log2 = await d.getConsoleOutput(s.uuid);
  assert.ok(log2.startsWith(log1) && log2.length > log1.length);
  assert.match(log2, /reboot: Restarting system/);

  await d.pause(s.uuid);
  await d.pause(s.uuid);
  assert.equal(await state(), PowerState.PAUSED);
  await d.unpause(s.uuid);
  await d.unpause(s.uuid);
  assert.equal(await state(), PowerState.RUNNING);
  await d.suspend(s.uuid);
  await d.suspend(s.uuid);
  assert.equal(await state(), PowerState.SUSPENDED);
  await rejectsFault(d.pause(s.uuid), 'InvalidPowerState');
  await d.resume(s.uuid);
  await d.resume(s.uuid);
  assert.equal(await state(), PowerState.RUNNING);
  await d.powerOff(s.uuid);
  await d.powerOff(s.uuid);
  assert.equal(await state(), PowerState.SHUTDOWN);
  await rejectsFault(d.reboot(s.uuid, 'SOFT'), 'InvalidPowerState');
  await rejectsFault(d.suspend(s.uuid), 'InvalidPowerState');
  await rejectsFault(d.resume(s.uuid), 'InvalidPowerState');
  await d.reboot(s.uuid, 'HARD'); // starts a stopped VM
  assert.equal(await state(), PowerState.RUNNING);
  await d.reboot(s.uuid, 'HARD');
  assert.equal(await state(), PowerState.RUNNING);
  const names = d.recentTasks().filter((t) => t.entityName === s.uuid).map((t) => t.name);
  for (const n of ['CreateVM_Task', 'PowerOnVM_Task', 'RebootGuest', 'PauseVM_Task', 'SuspendVM_Task', 'PowerOffVM_Task', 'ResetVM_Task']) {
    assert.ok(names.includes(n), `${n} ran`);
  }
  await d.destroy(s.uuid); // powers off then destroys
  await d.destroy(s.uuid);
  assert.equal(await d.getInfo(s.uuid), null);
  await d.close();
});

test('datastore and host accounting follow VMs: thin disks commit on boot, destroy gives space back', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const vc = d.vcenter;
  const dsFree = () => vc.objs.datastores.filter((x) => x.clusters.includes(vc.clusterByNodename(node.nodename)!.moref))
    .reduce((a, x) => a + vc.freeBytes(x), 0);
  const provisioned = () => vc.objs.datastores.reduce((a, x) => a + vc.usage(x.moref).provisioned, 0);
  const free0 = dsFree();
  const img = image('c1', 1024 * 1024);
  const s = spec(node.nodename, { flavor: small });
  await d.spawn(s, img);
  const vm = vc.vm(s.uuid)!;
  const root = vm.disks[0];
  assert.ok(root.committed > 0 && root.committed < root.capacityKb * 1024, 'thin: committed is less than provisioned');
  assert.equal(provisioned(), 20 * GiB + img.size, 'root disk (20 GiB) plus the cached image');
  assert.equal(free0 - dsFree(), root.committed + img.size);
  assert.equal(vc.load(vm.host).memoryMb, 2048);
  assert.equal(vc.load(vm.host).vcpus, 2);
  await d.destroy(s.uuid);
  assert.equal(vc.load(vm.host).vms, 0);
  assert.equal(free0 - dsFree(), img.size, 'only the image cache stays');
  await d.close();
});

test('the image is copied once per datastore even when many spawns race for it', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const img = image('d1', 5 * 1024 * 1024 + 3);
  const specs = Array.from({ length: 24 }, () => spec(node.nodename));
  await Promise.all(specs.map((s) => d.spawn(s, img)));
  const vc = d.vcenter;
  const used = new Set(specs.map((s) => vc.vm(s.uuid)!.datastore));
  const cached = vc.allFiles().filter((f) => f.kind === 'image-cache');
  assert.equal(cached.length, used.size);
  assert.equal(img.opened, used.size, 'one copy per datastore');
  assert.equal(vc.recentTasks().filter((t) => t.name === 'CopyVirtualDisk_Task').length, used.size);
  for (const f of cached) {
    const ds = vc.datastore(f.datastore)!;
    assert.ok(readFileSync(vc.dsFile(ds, `vistack_image_cache/d1/d1.vmdk`)).equals(img.bytes()));
  }
  // Nova's choice of the datastore with the most free space may move later VMs to another
  // datastore: each datastore still gets the image once.
  const more = Array.from({ length: 6 }, () => spec(node.nodename));
  for (const s of more) await d.spawn(s, img);
  const usedAll = new Set([...specs, ...more].map((s) => vc.vm(s.uuid)!.datastore));
  assert.equal(img.opened, usedAll.size);
  assert.equal(vc.allFiles().filter((f) => f.kind === 'image-cache').length, usedAll.size);
  await d.close();
});

test('snapshot streams the image a disk was cloned from, or an empty sparse VMDK of the disk size', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const img = image('e1', 2 * 1024 * 1024 + 5);
  const a = spec(node.nodename);
  await d.spawn(a, img);
  const snapA = await d.snapshot(a.uuid);
  assert.equal(snapA.diskFormat, 'qcow2');
  assert.ok((await buffer(snapA.stream)).equals(img.bytes()));

  const b = spec(node.nodename, { flavor: small });
  await d.spawn(b, null);
  const snapB = await d.snapshot(b.uuid);
  assert.equal(snapB.diskFormat, 'vmdk');
  const bytes = await buffer(snapB.stream);
  assert.equal(vmdkCapacity(bytes), 20 * GiB);
  assert.ok(bytes.length < 1024 * 1024, 'sparse: no data grains');
  const names = d.recentTasks().filter((t) => t.entityName === b.uuid).map((t) => t.name);
  assert.ok(names.includes('CreateSnapshot_Task') && names.includes('RemoveSnapshot_Task'));

  const bfv = spec(node.nodename, { flavor: { ...tiny, rootGb: 0 } });
  await d.spawn(bfv, null);
  assert.equal(d.vcenter.vm(bfv.uuid)!.disks.length, 0, 'boot from volume: no root disk');
  await rejectsFault(d.snapshot(bfv.uuid), 'InvalidState');
  await d.close();
});

test('failure injection: fail the next N tasks, per VM, hang until released, extra latency', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const rule = d.injectFault({ method: 'CreateVM_Task', count: 2, fault: 'InsufficientResourcesFault', message: 'no room' });
  assert.equal(rule.remaining, 2);
  await assert.rejects(d.spawn(spec(node.nodename), null), (e: any) => e instanceof VirtDriverError && e.fault === 'InsufficientResourcesFault' && e.message === 'no room');
  await rejectsFault(d.spawn(spec(node.nodename), null), 'InsufficientResourcesFault');
  await d.spawn(spec(node.nodename), null); // the rule is used up
  assert.equal(d.listFaults()[0].remaining, 0);
  const failed = d.recentTasks().filter((t) => t.state === 'error');
  assert.equal(failed.length, 2);
  assert.deepEqual(failed[0].error, { fault: 'InsufficientResourcesFault', message: 'no room' });
  d.clearFaults();

  // Only the named VM (by uuid or display name) is affected.
  const target = spec(node.nodename, { name: 'doomed' });
  d.injectFault({ method: 'CreateVM_Task', vmName: 'doomed', count: null, fault: 'DuplicateName' });
  await d.spawn(spec(node.nodename), null);
  await rejectsFault(d.spawn(target, null), 'DuplicateName');
  await rejectsFault(d.spawn(target, null), 'DuplicateName');
  d.clearFaults();
  await d.spawn(target, null);

  // A hung task waits in 'running' until its rule is removed, then completes.
  const hang = d.injectFault({ method: 'PowerOffVM_Task', action: 'hang' });
  const stopping = d.powerOff(target.uuid);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  const t = d.recentTasks().filter((x) => x.name === 'PowerOffVM_Task').at(-1)!;
  assert.equal(t.state, 'running');
  assert.equal((await d.getInfo(target.uuid))!.powerState, PowerState.RUNNING);
  assert.ok(d.removeFault(hang.id));
  await stopping;
  assert.equal(t.state, 'success');
  assert.equal((await d.getInfo(target.uuid))!.powerState, PowerState.SHUTDOWN);

  // Latency for one method: the task stays running (the change not yet made) for that long.
  d.injectFault({ method: 'PowerOnVM_Task', action: 'latency', latencyMs: 150 });
  const starting = d.powerOn(target.uuid);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.equal(d.recentTasks().at(-1)!.state, 'running');
  assert.equal((await d.getInfo(target.uuid))!.powerState, PowerState.SHUTDOWN);
  await starting;
  assert.equal((await d.getInfo(target.uuid))!.powerState, PowerState.RUNNING);

  assert.throws(() => d.injectFault({ method: 'CreateVM_Task', action: 'explode' as any }), (e: any) => e.fault === 'InvalidArgument');
  assert.throws(() => d.injectFault({ method: 'CreateVM_Task', count: 0 }), (e: any) => e.fault === 'InvalidArgument');
  assert.throws(() => d.injectFault({ action: 'latency' }), (e: any) => e.fault === 'InvalidArgument');
  await d.close();
});

test('a task hung at close fails with RequestCanceled instead of hanging forever', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  d.injectFault({ method: 'CreateVM_Task', action: 'hang' });
  const p = d.spawn(spec(node.nodename), null);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  await d.close();
  await rejectsFault(p, 'RequestCanceled');
});

test('resize grows CPU, memory and disks, keeps the old config until confirmed, never shrinks', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const s = spec(node.nodename);
  await d.spawn(s, image('f1'));
  const vc = d.vcenter;
  await d.resize(s.uuid, { ...small, id: '2b', rootGb: 0 }); // root_gb 0: the disk is kept as it is
  assert.equal(vc.vm(s.uuid)!.disks[0].capacityKb, 1024 * 1024);
  await rejectsFault(d.resize(s.uuid, small), 'ResizeError'); // another resize while one awaits confirmation
  await d.revertResize(s.uuid, tiny);
  assert.equal(vc.vm(s.uuid)!.vcpus, 1);

  await d.resize(s.uuid, { ...small, ephemeralGb: 2, swapMb: 512 });
  await d.resize(s.uuid, { ...small, ephemeralGb: 2, swapMb: 512 }); // repeated: no-op
  let vm = vc.vm(s.uuid)!;
  assert.equal(vm.vcpus, 2);
  assert.equal(vm.memoryMb, 2048);
  assert.equal(vm.disks.find((x) => x.kind === 'root')!.capacityKb, 20 * 1024 * 1024);
  assert.ok(vm.disks.some((x) => x.kind === 'ephemeral') && vm.disks.some((x) => x.kind === 'swap'));
  assert.equal(vm.powerState, 'poweredOn');
  assert.ok(vm.resizeBackup);
  assert.equal((await d.getInfo(s.uuid))!.vcpus, 2);
  await d.revertResize(s.uuid, tiny);
  await d.revertResize(s.uuid, tiny);
  vm = vc.vm(s.uuid)!;
  assert.equal(vm.vcpus, 1);
  assert.equal(vm.disks.find((x) => x.kind === 'root')!.capacityKb, 1024 * 1024);
  assert.deepEqual(vm.disks.map((x) => x.kind), ['root']);
  assert.equal(vm.resizeBackup, undefined);

  // A stopped VM stays stopped through resize and confirm.
  await d.powerOff(s.uuid);
  await d.resize(s.uuid, small);
  assert.equal(vc.vm(s.uuid)!.powerState, 'poweredOff');
  const provisioned = () => vc.usage(vc.vm(s.uuid)!.datastore).provisioned;
  const before = provisioned();
  await d.confirmResize(s.uuid);
  await d.confirmResize(s.uuid);
  assert.equal(vc.vm(s.uuid)!.resizeBackup, undefined);
  assert.equal(before - provisioned(), 1 * GiB, 'the pre-resize disk is deleted at confirm');
  await rejectsFault(d.resize(s.uuid, { ...small, id: '3', rootGb: 10 }), 'ResizeError');
  assert.equal(vc.vm(s.uuid)!.flavorId, '2');
  await d.close();
});

test('rescue boots a rescue disk and unrescue removes it; rebuild replaces the root disk', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const s = spec(node.nodename);
  await d.spawn(s, image('g1'));
  const vc = d.vcenter;
  const rescueImg = image('r1');
  await d.rescue(s.uuid, rescueImg);
  await d.rescue(s.uuid, rescueImg);
  let vm = vc.vm(s.uuid)!;
  const rescueDisk = vm.disks.find((x) => x.kind === 'rescue')!;
  assert.ok(rescueDisk);
  assert.equal(vm.bootDisk, rescueDisk.key);
  assert.match(rescueDisk.parent!, /vistack_image_cache\/r1\/r1\.vmdk$/);
  assert.equal(vm.powerState, 'poweredOn');
  assert.match(await d.getConsoleOutput(s.uuid), /Hostname set to <rescue>/);
  await d.unrescue(s.uuid);
  await d.unrescue(s.uuid);
  vm = vc.vm(s.uuid)!;
  assert.deepEqual(vm.disks.map((x) => x.kind), ['root']);
  assert.equal(vm.bootDisk, vm.disks[0].key);
  assert.equal(vm.powerState, 'poweredOn');

  const img2 = image('h2');
  await d.rebuild({ ...s, name: 'renamed' }, img2);
  vm = vc.vm(s.uuid)!;
  assert.match(vm.disks[0].parent!, /vistack_image_cache\/h2\/h2\.vmdk$/);
  assert.equal(vm.disks[0].committed, 8 * 1024 * 1024, 'a fresh disk, one boot written');
  assert.equal(vm.extraConfig['vistack.display-name'], 'renamed');
  assert.equal(vm.powerState, 'poweredOn');
  await d.close();
});

test('volumes attach as VMDKs on a datastore of the cluster and stay when detached or the VM goes', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const vc = d.vcenter;
  const s = spec(node.nodename);
  await d.spawn(s, null);
  const ds = vc.datastoresOf(vc.vm(s.uuid)!.cluster)[0];
  const other = vc.objs.datastores.find((x) => !x.clusters.includes(vc.vm(s.uuid)!.cluster))!;
  const disk = { volumeId: 'vol-1', datastore: ds.name, path: `[${ds.name}] volumes/volume-vol-1.vmdk`, sizeGb: 2 };
  await d.attachDisk(s.uuid, disk);
  await d.attachDisk(s.uuid, disk);
  let vm = vc.vm(s.uuid)!;
  assert.equal(vm.disks.filter((x) => x.volumeId === 'vol-1').length, 1);
  assert.equal(vc.file(disk.path)?.capacityKb, 2 * 1024 * 1024);
  await rejectsFault(d.attachDisk(s.uuid, { ...disk, volumeId: 'vol-2', datastore: other.name, path: `[${other.name}] volumes/v2.vmdk` }), 'InvalidDatastore');
  await rejectsFault(d.attachDisk(s.uuid, { ...disk, volumeId: 'vol-3', datastore: 'nope', path: '[nope] v.vmdk' }), 'NotFound');
  const s2 = spec(node.nodename);
  await d.spawn(s2, null);
  await rejectsFault(d.attachDisk(s2.uuid, { ...disk, volumeId: 'vol-1b' }), 'FileLocked');

  await d.detachDisk(s.uuid, 'vol-1');
  await d.detachDisk(s.uuid, 'vol-1');
  vm = vc.vm(s.uuid)!;
  assert.ok(!vm.disks.some((x) => x.volumeId));
  assert.ok(vc.file(disk.path), 'the VMDK stays on the datastore');
  await d.attachDisk(s2.uuid, { ...disk, volumeId: 'vol-1' }); // now free for another VM
  await d.destroy(s2.uuid);
  assert.ok(vc.file(disk.path), 'destroying the VM keeps the volume');
  await d.close();
});

test('NICs: a vmxnet3 on a port group (created on demand), idempotent attach and detach', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const vc = d.vcenter;
  const s = spec(node.nodename);
  await d.spawn(s, null);
  const vif = { portId: 'port-1', macAddress: 'FA:16:3E:11:22:33', networkId: 'net-1', portGroup: 'vistack-net-1' };
  await d.attachInterface(s.uuid, vif);
  await d.attachInterface(s.uuid, vif);
  await d.attachInterface(s.uuid, { ...vif, portId: 'port-2', macAddress: 'fa:16:3e:11:22:34' });
  const vm = vc.describeVm(vc.vm(s.uuid)!);
  assert.equal(vm.nics.length, 2);
  assert.deepEqual(vm.nics[0], {
    key: 4000, type: 'VirtualVmxnet3', macAddress: 'fa:16:3e:11:22:33', portId: 'port-1', networkId: 'net-1',
    portgroup: vc.portgroupByName('vistack-net-1')!.moref, portgroupName: 'vistack-net-1', connected: true,
  });
  assert.equal(vm.extraConfig['nvp.iface-id.0'], 'port-1');
  assert.equal(vc.objs.portgroups.filter((p) => p.name === 'vistack-net-1').length, 1);
  const s2 = spec(node.nodename);
  await d.spawn(s2, null);
  await rejectsFault(d.attachInterface(s2.uuid, { ...vif, portId: 'port-9' }), 'DuplicateMacAddress');
  await rejectsFault(d.attachInterface(s2.uuid, { ...vif, portId: 'port-9', macAddress: 'zz' }), 'InvalidArgument');
  await d.reboot(s.uuid, 'SOFT');
  assert.match(await d.getConsoleOutput(s.uuid), /fa:16:3e:11:22:33/);
  await d.detachInterface(s.uuid, 'port-1');
  await d.detachInterface(s.uuid, 'port-1');
  const after = vc.vm(s.uuid)!;
  assert.deepEqual(after.nics.map((n) => n.portId), ['port-2']);
  assert.equal(after.extraConfig['nvp.iface-id.0'], undefined);
  await d.close();
});

test('spawn plugs the NICs and volumes it is given before the first power-on; a volume boots a VM without an image', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const vc = d.vcenter;
  const ds = vc.datastoresOf(vc.clusterByNodename(node.nodename)!.moref)[0];
  const boot = { volumeId: 'boot-1', datastore: ds.name, path: `[${ds.name}] volumes/volume-boot-1.vmdk`, sizeGb: 3 };
  const data = { volumeId: 'data-1', datastore: ds.name, path: `[${ds.name}] volumes/volume-data-1.vmdk`, sizeGb: 1 };
  const vif = { portId: 'port-b1', macAddress: 'fa:16:3e:00:00:b1', networkId: 'net-b', portGroup: 'vistack-net-b' };
  const s = spec(node.nodename, { flavor: { ...tiny, rootGb: 0 }, vifs: [vif], disks: [boot, data] });
  await d.spawn(s, null);
  await d.spawn(s, null); // a rerun after a crash changes nothing
  const vm = vc.vm(s.uuid)!;
  assert.equal(vm.powerState, 'poweredOn');
  assert.deepEqual(vm.nics.map((n) => n.portId), ['port-b1']);
  assert.deepEqual(vm.disks.map((x) => [x.kind, x.volumeId]), [['volume', 'boot-1'], ['volume', 'data-1']]);
  assert.equal(vm.bootDisk, vm.disks[0].key, 'the first volume is the boot disk');

  // With an image the root disk stays the boot disk and volumes are data disks.
  const s2 = spec(node.nodename, { disks: [{ ...data, volumeId: 'data-2', path: `[${ds.name}] volumes/volume-data-2.vmdk` }] });
  await d.spawn(s2, image('i'));
  const vm2 = vc.vm(s2.uuid)!;
  assert.equal(vm2.disks.find((x) => x.key === vm2.bootDisk)?.kind, 'root');
  await d.close();
});

test('the network driver keeps one port group per network with the VLAN of its segment', async () => {
  const d = await driver();
  const { SimNetworkDriver } = await import('./network.ts');
  const net = new SimNetworkDriver(() => d.vcenter);
  const seg = { networkId: 'n1', name: 'private', networkType: 'vlan' as const, physicalNetwork: 'dvs', segmentationId: 101, mtu: 1500 };
  const b = await net.ensureNetwork(seg);
  assert.equal(b.portGroup, 'vistack-net-n1');
  assert.equal(b.vlanId, 101);
  assert.deepEqual(await net.ensureNetwork(seg), b, 'idempotent');
  assert.equal((await net.ensureNetwork({ ...seg, segmentationId: 102 })).vlanId, 102, 'a changed segment reconfigures the port group');
  assert.equal((await net.ensureNetwork({ ...seg, networkId: 'n2', networkType: 'vxlan', segmentationId: 5000 })).vlanId, 0);
  assert.deepEqual((await net.listNetworks()).map((x) => x.networkId).sort(), ['n1', 'n2']);
  await net.deleteNetwork('n1');
  await net.deleteNetwork('n1');
  assert.deepEqual((await net.listNetworks()).map((x) => x.networkId), ['n2']);
  await d.close();
});

test('listInstances returns only VMs tagged as ours', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const s = spec(node.nodename);
  await d.spawn(s, null);
  const vc = d.vcenter;
  const cl = vc.clusterByNodename(node.nodename)!;
  // A VM someone created in vCenter by hand: same inventory, no vistack tag.
  vc.createVm((moref) => ({
    moref, name: 'manual-vm', cluster: cl.moref, host: vc.hostsOf(cl.moref)[0].moref, datastore: vc.datastoresOf(cl.moref)[0].moref,
    powerState: 'poweredOn', vcpus: 1, memoryMb: 128, guestId: 'otherGuest64', annotation: '', extraConfig: {}, disks: [], nics: [],
    spawned: true, hostname: 'manual', flavorId: '', created: new Date().toISOString(), events: [],
  }));
  assert.deepEqual(await d.listInstances(), [s.uuid]);
  assert.equal(vc.allVms().length, 2);
  await d.close();
});

test('the simulator persists like an external vCenter: a restart finds the same inventory, VMs and rules', async () => {
  const dir = tmp();
  const d1 = await driver(dir);
  const [node] = await d1.listNodes();
  const s = spec(node.nodename);
  await d1.spawn(s, image('p1'));
  await d1.suspend(s.uuid);
  await d1.attachInterface(s.uuid, { portId: 'port-x', macAddress: 'fa:16:3e:00:00:99', networkId: 'n', portGroup: 'pg-x' });
  d1.injectFault({ method: 'Destroy_Task', count: 1, fault: 'TaskInProgress' });
  const vm1 = d1.vcenter.describeVm(d1.vcenter.vm(s.uuid)!);
  const nodes1 = await d1.listNodes();
  const log1 = await d1.getConsoleOutput(s.uuid);
  await d1.close();

  const d2 = await driver(dir);
  assert.deepEqual(await d2.listNodes(), nodes1);
  assert.deepEqual(d2.vcenter.describeVm(d2.vcenter.vm(s.uuid)!), vm1);
  assert.equal(await d2.getConsoleOutput(s.uuid), log1);
  assert.equal((await d2.getInfo(s.uuid))!.powerState, PowerState.SUSPENDED);
  await rejectsFault(d2.destroy(s.uuid), 'TaskInProgress');
  const s2 = spec(node.nodename);
  await d2.spawn(s2, image('p1'));
  const n = (m: string) => Number(m.split('-')[1]);
  assert.ok(n(d2.vcenter.vm(s2.uuid)!.moref) > n(vm1.moref), 'morefs are never reused');
  await d2.destroy(s.uuid);
  assert.deepEqual(await d2.listInstances(), [s2.uuid]);
  await d2.close();
});

test('the inventory layout comes from <dataDir>/vsphere-sim/inventory.yaml when present', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'vsphere-sim'), { recursive: true });
  writeFileSync(join(dir, 'vsphere-sim', 'inventory.yaml'), [
    'datacenter: DC-Test',
    'clusters:',
    '  - name: edge',
    '    computeHost: compute-edge',
    '    hosts:',
    '      - { name: esx-a, cores: 8, memoryMb: 65536 }',
    '    datastores:',
    '      - { name: edge-ds, capacityGb: 100 }',
    'switch: { name: edge-dvs, uplinkPortgroup: edge-uplinks }',
  ].join('\n'));
  const d = await driver(dir);
  const nodes = await d.listNodes();
  assert.equal(nodes.length, 1);
  assert.equal(nodes[0].host, 'compute-edge');
  assert.equal(nodes[0].clusterName, 'edge');
  assert.equal(nodes[0].vcpus, 8);
  assert.equal(nodes[0].memoryMb, 65536);
  assert.equal(nodes[0].localGb, 100);
  assert.equal(d.vcenter.objs.datacenters[0].name, 'DC-Test');
  assert.equal(d.vcenter.objs.switches[0].name, 'edge-dvs');
  await d.close();

  const bad = tmp();
  mkdirSync(join(bad, 'vsphere-sim'), { recursive: true });
  writeFileSync(join(bad, 'vsphere-sim', 'inventory.json'), '{"clusters": [{"name": "x", "hosts": []}]}');
  await assert.rejects(driver(bad), /hosts must be a non-empty list/);
});

test('datastore files and port groups for the volume and network drivers', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const vc = d.vcenter;
  const s = spec(node.nodename);
  await d.spawn(s, null);
  const ds = vc.datastore(vc.vm(s.uuid)!.datastore)!;
  const path = `[${ds.name}] volumes/volume-v9.vmdk`;
  const provisioned = () => vc.usage(ds.moref).provisioned;
  const p0 = provisioned();
  await vc.createVirtualDisk(path, 3, { volumeId: 'v9' });
  assert.equal(provisioned() - p0, 3 * GiB);
  await rejectsFault(vc.createVirtualDisk(path, 3), 'FileAlreadyExists');
  await rejectsFault(vc.createVirtualDisk(`[${ds.name}] ../escape.vmdk`, 1), 'InvalidDatastorePath');
  await d.attachDisk(s.uuid, { volumeId: 'v9', datastore: ds.name, path, sizeGb: 3 });
  await vc.extendVirtualDisk(path, 5);
  assert.equal(vc.vm(s.uuid)!.disks.find((x) => x.volumeId === 'v9')!.capacityKb, 5 * 1024 * 1024, 'the attached device sees the new size');
  await rejectsFault(vc.extendVirtualDisk(path, 4), 'InvalidArgument');
  await rejectsFault(vc.deleteDatastoreFile(path), 'FileLocked');
  await d.detachDisk(s.uuid, 'v9');
  await vc.deleteDatastoreFile(path);
  assert.equal(provisioned(), p0);
  await rejectsFault(vc.deleteDatastoreFile(path), 'FileNotFound');

  await d.attachInterface(s.uuid, { portId: 'p', macAddress: 'fa:16:3e:aa:bb:cc', networkId: 'n', portGroup: 'pg-a' });
  await rejectsFault(vc.destroyPortgroup('pg-a'), 'ResourceInUse');
  await d.detachInterface(s.uuid, 'p');
  assert.equal(await vc.destroyPortgroup('pg-a'), true);
  assert.equal(await vc.destroyPortgroup('pg-a'), false);
  await rejectsFault(vc.destroyPortgroup(vc.objs.portgroups.find((p) => p.uplink)!.name), 'InvalidArgument');
  await d.close();
});

test('flavor extra specs set resource allocation; reservations are admitted at power-on like vSphere', async () => {
  const d = await driver();
  const [node] = await d.listNodes();
  const vc = d.vcenter;
  const big: FlavorSpec = {
    ...tiny, id: 'big', memoryMb: 200 * 1024,
    extraSpecs: { 'quota:memory_reservation': String(200 * 1024), 'quota:cpu_limit': '2000', 'quota:cpu_shares_level': 'custom', 'quota:cpu_shares_share': '1500', 'vmware:hw_version': 'vmx-17' },
  };
  const specs = Array.from({ length: 5 }, () => spec(node.nodename, { flavor: big }));
  for (const s of specs.slice(0, 4)) await d.spawn(s, null);
  const vm = vc.describeVm(vc.vm(specs[0].uuid)!);
  assert.deepEqual(vm.cpuAllocation, { limit: 2000, reservation: 0, shares: { level: 'custom', shares: 1500 } });
  assert.deepEqual(vm.memoryAllocation, { limit: -1, reservation: 200 * 1024, shares: { level: 'normal' } });
  assert.equal(vm.hwVersion, 'vmx-17');
  // Each host (256 GiB) holds one such reservation: the fifth VM cannot start.
  await rejectsFault(d.spawn(specs[4], null), 'InsufficientResourcesFault');
  const fifth = vc.vm(specs[4].uuid)!;
  assert.equal(fifth.powerState, 'poweredOff');
  const neighbour = specs.slice(0, 4).find((s) => vc.vm(s.uuid)!.host === fifth.host)!;
  await d.powerOff(neighbour.uuid);
  assert.equal((await d.spawn(specs[4], null)).powerState, PowerState.RUNNING);
  await rejectsFault(d.powerOn(neighbour.uuid), 'InsufficientResourcesFault');

  await rejectsFault(d.spawn(spec(node.nodename, { flavor: { ...tiny, extraSpecs: { 'quota:cpu_limit': 'lots' } } }), null), 'InvalidArgument');
  await rejectsFault(d.spawn(spec(node.nodename, { flavor: { ...tiny, extraSpecs: { 'quota:cpu_shares_level': 'custom' } } }), null), 'InvalidArgument');
  assert.equal(vc.allVms().length, 5, 'invalid extra specs create nothing');

  // Resize applies the new flavor's allocation; revert restores the old one.
  const s = spec(node.nodename);
  await d.spawn(s, null);
  await d.resize(s.uuid, { ...small, extraSpecs: { 'quota:cpu_reservation': '1000' } });
  assert.equal(vc.vm(s.uuid)!.cpuAllocation?.reservation, 1000);
  await d.revertResize(s.uuid, tiny);
  assert.equal(vc.vm(s.uuid)!.cpuAllocation, undefined);
  await d.close();
});
