// The compute driver's pure parts, without a vCenter: flavor extra specs and Nova's CPU topology
// for cores per socket, allocation and config-spec objects in vim25 schema order, extraConfig as
// vCenter and vcsim return it, SCSI slots, disk roles, NIC specs and the snapshot VMDK writer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { VirtDriverError, type FlavorSpec, type InstanceSpec } from '../../core/virt.ts';
import {
  ScsiSlots, allocationInfo, annotation, annotationImageId, cpuTopology, createSpec, diskRole, extraConfigMap, flavorHardware,
  growDiskSpec, optionValue, powerStateCode, versionNumber, volumeIdOf, baseFileName,
} from './vm_util.ts';
import { detachVif, freeIfaceIndexes, ifaceIds, validateVif, vifDeviceSpec } from './vif.ts';
import { imageDiskType, sparseCapacityKb, streamOptimizedVmdk } from './images.ts';
import type { VirtualDevice, VirtualDisk } from './vim/types.ts';
import { detectFormat } from '../../image/inspect.ts';

const flavor = (over: Partial<FlavorSpec> = {}): FlavorSpec => ({
  id: 'f1', name: 'm1.small', vcpus: 2, memoryMb: 2048, rootGb: 20, ephemeralGb: 0, swapMb: 0, extraSpecs: {}, ...over,
});
const invalid = (re: RegExp) => (e: unknown) => e instanceof VirtDriverError && e.fault === 'InvalidArgument' && re.test(e.message);

describe('versions and power states', () => {
  it("turns vCenter's version into Nova's integer", () => {
    assert.equal(versionNumber('6.5.0'), 6005000);
    assert.equal(versionNumber('8.0.2'), 8000002);
    assert.equal(versionNumber('7.0'), 7000000);
  });
  it('maps vSphere power states to Nova codes', () => {
    assert.deepEqual(['poweredOn', 'poweredOff', 'suspended', undefined].map(powerStateCode), [1, 4, 7, 0]);
  });
});

describe("CPU topology (Nova's get_best_cpu_topology without threads)", () => {
  it('prefers sockets: 8 vCPUs are 8 sockets of 1 core', () => {
    assert.deepEqual(cpuTopology(8), { sockets: 8, cores: 1, threads: 1 });
  });
  it('honours hw:cpu_sockets and hw:cpu_cores', () => {
    assert.equal(cpuTopology(8, { 'hw:cpu_sockets': '2' }).cores, 4);
    assert.equal(cpuTopology(8, { 'hw:cpu_cores': '4' }).sockets, 2);
  });
  it('honours limits: at most 2 sockets gives 2 × 4', () => {
    assert.deepEqual(cpuTopology(8, { 'hw:cpu_max_sockets': '2' }), { sockets: 2, cores: 4, threads: 1 });
  });
  it('a preference that cannot be met falls back to the most sockets', () => {
    assert.deepEqual(cpuTopology(6, { 'hw:cpu_sockets': '4' }), { sockets: 6, cores: 1, threads: 1 });
    // Threads are not offered to vSphere guests (allow_threads=False).
    assert.equal(cpuTopology(4, { 'hw:cpu_threads': '2' }).threads, 1);
  });
  it("the image's preference replaces the flavor's; its limits may not exceed the flavor's", () => {
    assert.equal(cpuTopology(8, { 'hw:cpu_sockets': '8' }, { hw_cpu_sockets: '2' }).cores, 4);
    assert.throws(() => cpuTopology(8, { 'hw:cpu_max_sockets': '2' }, { hw_cpu_max_sockets: '4' }), invalid(/exceed/));
  });
  it('rejects impossible and malformed values', () => {
    assert.throws(() => cpuTopology(6, { 'hw:cpu_max_sockets': '1', 'hw:cpu_max_cores': '4' }), invalid(/Cannot fit 6/));
    assert.throws(() => cpuTopology(2, { 'hw:cpu_sockets': 'two' }), invalid(/hw:cpu_sockets/));
  });
});

describe('flavor extra specs', () => {
  it('builds allocations, the hardware version and cores per socket', () => {
    const hw = flavorHardware(flavor({
      vcpus: 4,
      extraSpecs: {
        'quota:cpu_limit': '2000', 'quota:cpu_reservation': '500', 'quota:cpu_shares_level': 'custom', 'quota:cpu_shares_share': '4000',
        'quota:memory_shares_level': 'high', 'vmware:hw_version': 'vmx-17', 'hw:cpu_sockets': '2',
      },
    }));
    assert.deepEqual(hw.cpuAllocation, { limit: 2000, reservation: 500, shares: { level: 'custom', shares: 4000 } });
    assert.deepEqual(hw.memoryAllocation, { limit: -1, reservation: 0, shares: { level: 'high' } });
    assert.equal(hw.hwVersion, 'vmx-17');
    assert.equal(hw.coresPerSocket, 2);
    assert.equal(flavorHardware(flavor()).cpuAllocation, undefined);
  });
  it('rejects what the simulator rejects', () => {
    assert.throws(() => flavorHardware(flavor({ extraSpecs: { 'quota:cpu_limit': 'lots' } })), invalid(/quota:cpu_limit/));
    assert.throws(() => flavorHardware(flavor({ extraSpecs: { 'quota:memory_shares_level': 'huge' } })), invalid(/shares_level/));
    assert.throws(() => flavorHardware(flavor({ extraSpecs: { 'quota:cpu_shares_level': 'custom' } })), invalid(/needs quota:cpu_shares_share/));
    assert.throws(() => flavorHardware(flavor({ extraSpecs: { 'vmware:hw_version': '17' } })), invalid(/vmx-19/));
  });
  it('writes ResourceAllocationInfo in schema order with Nova’s defaults', () => {
    assert.deepEqual(Object.keys(allocationInfo(undefined)), ['reservation', 'limit', 'shares']);
    assert.deepEqual(allocationInfo(undefined), { reservation: 0, limit: -1, shares: { shares: 0, level: 'normal' } });
    assert.deepEqual(allocationInfo({ limit: 5, reservation: 1, shares: { level: 'custom', shares: 7 } }).shares, { shares: 7, level: 'custom' });
  });
});

describe('config specs', () => {
  const inst: InstanceSpec = {
    uuid: 'u-1', name: 'web 1', hostname: 'web-1', projectId: 'p1', userId: 'usr', nodename: 'n', metadata: {},
    flavor: flavor({ extraSpecs: { 'vmware:hw_version': 'vmx-15' } }),
  };
  it('orders the VirtualMachineConfigSpec as the schema does', () => {
    const spec = createSpec({ instance: inst, image: null, datastore: 'ds1', hardware: flavorHardware(inst.flavor), deviceChange: [], extraConfig: [optionValue('a', 'b')] });
    const keys = Object.keys(spec).filter((k) => k !== '_type');
    assert.deepEqual(keys, ['name', 'version', 'instanceUuid', 'guestId', 'annotation', 'files', 'numCPUs', 'numCoresPerSocket', 'memoryMB', 'deviceChange', 'extraConfig']);
    assert.equal(spec.files!.vmPathName, '[ds1] u-1/u-1.vmx');
    assert.equal(spec.guestId, 'otherGuest64');
  });
  it("carries Nova's annotation lines", () => {
    const text = annotation(inst, { id: 'img-9' } as never);
    assert.match(text, /^name:web 1$/m);
    assert.match(text, /^flavor:root_gb:20$/m);
    assert.equal(annotationImageId(text), 'img-9');
    assert.equal(annotationImageId(annotation(inst, null)), null);
  });
  it('reads extraConfig as vCenter means it: the last value wins, an empty one deletes', () => {
    const ec = extraConfigMap([
      { key: 'a', value: '1' }, { key: 'b', value: 'x' }, { key: 'a', value: '2' }, { key: 'b', value: '' }, { key: 'c', value: optionValue('c', 'z').value },
    ]);
    assert.deepEqual(ec, { a: '2', c: 'z' });
  });
  it('grows a disk by sending the device as read back, capacity fields in place', () => {
    const disk = {
      _type: 'VirtualDisk', key: 203, deviceInfo: { _type: 'Description', label: 'disk', summary: '4 KB' },
      backing: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: '[ds] u/u.vmdk', diskMode: 'persistent' },
      controllerKey: 202, unitNumber: 0, capacityInKB: 4, capacityInBytes: 4096, shares: { shares: 1000, level: 'normal' },
    } as unknown as VirtualDisk;
    const spec = growDiskSpec(disk, 1024);
    assert.equal(spec.operation, 'edit');
    assert.equal(spec.fileOperation, undefined);
    assert.deepEqual(Object.keys(spec.device), ['_type', 'key', 'deviceInfo', 'backing', 'controllerKey', 'unitNumber', 'capacityInKB', 'capacityInBytes', 'shares']);
    assert.equal((spec.device as VirtualDisk).capacityInBytes, 1024 * 1024);
  });
});

describe('SCSI slots', () => {
  const ctrl = (key: number, bus: number) => ({ _type: 'VirtualLsiLogicController', key, busNumber: bus }) as VirtualDevice;
  const disk = (key: number, controllerKey: number, unitNumber: number) => ({ _type: 'VirtualDisk', key, controllerKey, unitNumber }) as VirtualDevice;
  it('adds a controller when the VM has none, and skips unit 7', () => {
    const s = new ScsiSlots([]);
    const taken = Array.from({ length: 9 }, () => s.take());
    assert.equal(s.adds.length, 1);
    assert.equal((s.adds[0]!.device as unknown as { busNumber: number }).busNumber, 0);
    assert.deepEqual(taken.map((t) => t.unitNumber), [0, 1, 2, 3, 4, 5, 6, 8, 9]);
    assert.ok(taken.every((t) => t.controllerKey === s.adds[0]!.device.key));
  });
  it('uses free units of existing controllers, then a new one on the next bus', () => {
    const devices = [ctrl(1000, 0), ...[0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14].map((u, i) => disk(2000 + i, 1000, u))];
    const s = new ScsiSlots(devices, 'paraVirtual');
    assert.deepEqual(s.take(), { controllerKey: 1000, unitNumber: 15 });
    const next = s.take();
    assert.equal(next.unitNumber, 0);
    assert.equal(s.adds[0]!.device._type, 'ParaVirtualSCSIController');
    assert.equal((s.adds[0]!.device as unknown as { busNumber: number }).busNumber, 1);
  });
});

describe('disk roles', () => {
  const d = (fileName: string, parent?: string) => ({
    _type: 'VirtualDisk', key: 1, backing: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName, ...(parent ? { parent: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: parent } } : {}) },
  }) as unknown as VirtualDisk;
  const u = 'abc-1';
  it('names disks by their files', () => {
    assert.equal(diskRole(u, d(`[ds] ${u}/${u}.vmdk`)), 'root');
    assert.equal(diskRole(u, d(`[ds] ${u}/${u}-000001.vmdk`, `[ds] ${u}/${u}.vmdk`)), 'root');
    assert.equal(baseFileName(d(`[ds] ${u}/${u}-000001.vmdk`, `[ds] ${u}/${u}.vmdk`)), `[ds] ${u}/${u}.vmdk`);
    assert.equal(diskRole(u, d(`[ds] ${u}/ephemeral_0.vmdk`)), 'ephemeral');
    assert.equal(diskRole(u, d(`[ds] ${u}/swap.vmdk`)), 'swap');
    assert.equal(diskRole(u, d(`[ds] ${u}/${u}-rescue.vmdk`)), 'rescue');
    assert.equal(diskRole(u, d('[ds2] volumes/volume-v9.vmdk')), 'volume');
    assert.equal(volumeIdOf(d('[ds2] volumes/volume-v9.vmdk')), 'v9');
    assert.equal(diskRole(u, d('[ds] other/other.vmdk')), 'other');
  });
});

describe('NICs', () => {
  const pg = { ref: { type: 'DistributedVirtualPortgroup', value: 'dvportgroup-13' }, name: 'pg', key: 'dvportgroup-13', switchUuid: 'sw-1' };
  const vif = { portId: 'port-a', macAddress: 'FA:16:3E:00:00:0A', networkId: 'n1', portGroup: 'pg' };
  it('builds a vmxnet3 with a manual MAC on the DV port group, in schema order', () => {
    const spec = vifDeviceSpec(vif, pg, -47);
    const dev = spec.device as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(dev), ['_type', 'key', 'backing', 'connectable', 'addressType', 'macAddress', 'wakeOnLanEnabled', 'externalId']);
    assert.equal(dev._type, 'VirtualVmxnet3');
    assert.equal(dev.macAddress, 'fa:16:3e:00:00:0a');
    assert.deepEqual((dev.backing as { port: unknown }).port, { switchUuid: 'sw-1', portgroupKey: 'dvportgroup-13' });
  });
  it('validates ports', () => {
    assert.throws(() => validateVif({ ...vif, macAddress: 'nope' }), invalid(/MAC/));
    assert.throws(() => validateVif({ ...vif, portGroup: '' }), invalid(/port group/));
  });
  it('keeps nvp.iface-id indexes: the lowest free one is reused', () => {
    const ec = { 'nvp.iface-id.0': 'p0', 'nvp.iface-id.2': 'p2', 'nvp.iface-id.1': 'free' };
    assert.deepEqual([...ifaceIds(ec).keys()].sort(), [0, 2]);
    assert.deepEqual(freeIfaceIndexes(ec, 2), [1, 3]);
  });
  it('detaches by port id (externalId), clearing its iface-id', () => {
    const nic = { _type: 'VirtualVmxnet3', key: 4000, externalId: 'p2', macAddress: 'fa:16:3e:00:00:02' } as VirtualDevice;
    const r = detachVif([nic], { 'nvp.iface-id.2': 'p2' }, 'p2');
    assert.equal(r.deviceChange[0]!.operation, 'remove');
    assert.deepEqual(r.extraConfig.map((o) => [o.key, (o.value as { _value: string })._value]), [['nvp.iface-id.2', '']]);
    assert.deepEqual(detachVif([nic], {}, 'other'), { deviceChange: [], extraConfig: [] });
  });
});

describe('image disk types and the snapshot VMDK', () => {
  it('follows vmware_disktype, else the VMDK header', () => {
    const img = (props: Record<string, string>, diskFormat = 'vmdk') => ({ id: 'i', name: 'i', diskFormat, containerFormat: 'bare', size: 1, properties: props, open: async () => Readable.from([]) });
    assert.equal(imageDiskType(img({ vmware_disktype: 'streamOptimized' })), 'streamOptimized');
    assert.equal(imageDiskType(img({ vmware_disktype: 'preallocated' })), 'flat');
    assert.equal(imageDiskType(img({}, 'raw')), 'flat');
    const head = Buffer.alloc(64);
    head.writeUInt32LE(0x564d444b, 0);
    head.writeUInt32LE(0x10000, 8);
    head.writeBigUInt64LE(2048n, 12);
    assert.equal(imageDiskType(img({}), head), 'streamOptimized');
    assert.equal(sparseCapacityKb(head), 1024);
  });

  it('writes a stream-optimized VMDK whose grains hold the data and nothing for zeros', async () => {
    const data = Buffer.alloc(200 * 1024);
    data.fill(7, 0, 1000);
    data.fill(9, 150 * 1024, 151 * 1024); // grain 2; grain 1 stays zero
    const chunks: Buffer[] = [];
    for await (const c of streamOptimizedVmdk(Readable.from([data.subarray(0, 5000), data.subarray(5000)]), 1024 * 1024, 'x.vmdk')) chunks.push(c);
    const vmdk = Buffer.concat(chunks);
    assert.equal(vmdk.length % 512, 0);
    assert.equal(vmdk.readUInt32LE(0), 0x564d444b);
    assert.equal(Number(vmdk.readBigUInt64LE(12)), 2048); // 1 MiB in sectors
    assert.match(vmdk.toString('latin1', 512, 1024), /createType="streamOptimized"/);
    // Glance's inspector takes it as a safe vmdk of the disk's size.
    assert.deepEqual(detectFormat(vmdk, vmdk.length), { format: 'vmdk', virtualSize: 1024 * 1024, unsafe: undefined });
    // Grain markers from sector 128: (lba, compressed size, data); grains 0 and 2 only.
    const grains: Array<{ lba: number; bytes: Buffer }> = [];
    let off = 128 * 512;
    for (;;) {
      const lba = Number(vmdk.readBigUInt64LE(off));
      const size = vmdk.readUInt32LE(off + 8);
      if (size === 0) break; // a metadata marker (grain table) follows the grains
      grains.push({ lba, bytes: inflateSync(vmdk.subarray(off + 12, off + 12 + size)) });
      off += Math.ceil((12 + size) / 512) * 512;
    }
    assert.deepEqual(grains.map((g) => g.lba), [0, 256]);
    assert.deepEqual(grains[0]!.bytes.subarray(0, 1000), Buffer.alloc(1000, 7));
    assert.equal(grains[0]!.bytes[1000], 0);
    assert.deepEqual(grains[1]!.bytes, data.subarray(128 * 1024, 192 * 1024));
    // The footer (a copy of the header with the grain directory's offset) sits before the end marker.
    const footer = vmdk.subarray(vmdk.length - 1024, vmdk.length - 512);
    assert.equal(footer.readUInt32LE(0), 0x564d444b);
    assert.ok(Number(footer.readBigUInt64LE(56)) > 128);
  });
});
