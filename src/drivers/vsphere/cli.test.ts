// `vsphere-inventory` against vcsim and a cloud's database: Vistack's VMs (made here as the
// compute driver makes them: named by uuid, tagged, in Vistack's folder), port groups and volume
// VMDKs on the vCenter side; servers, networks and volumes in the database; every kind of
// difference between the two present once. What the report says of the vCenter is compared
// with govc's view of it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { openDatabase, type Database } from '../../core/db/index.ts';
import { startTestCloud, type TestCloud } from '../../testing.ts';
import { xsdString } from './vim/xml.ts';
import type { MoRef } from './vim/types.ts';
import { VSphereSession } from './session.ts';
import { Datastores } from './ds_util.ts';
import { VSphereNetworkDriver } from './network.ts';
import { VSPHERE_COMMANDS, formatReport, inventoryReport, type Difference, type InventoryReport } from './cli.ts';
import type { VCenterConfig } from './config.ts';

// ---- vcsim, one per test file (to be replaced by ./testing.ts once it exists) --------------
const BIN = fileURLToPath(new URL('../../../.vcsim-bin/', import.meta.url));
const haveVcsim = existsSync(BIN + 'vcsim') && existsSync(BIN + 'govc');
const vcsimOptions = { skip: !haveVcsim && !process.env.CI ? 'vcsim is not built (bash ../shared/tools/vcsim/build.sh .vcsim-bin)' : false };

interface Sim { url: string; port: number; govc(...args: string[]): Promise<string>; collect(path: string, prop: string): Promise<any>; stop(): Promise<void> }

async function startSim(flags: string[] = []): Promise<Sim> {
  const p = spawn(BIN + 'vcsim', ['-l', '127.0.0.1:0', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stderr.resume();
  const lines = createInterface({ input: p.stdout });
  const [line] = (await Promise.race([once(lines, 'line'), once(p, 'exit').then(() => { throw new Error('vcsim exited'); })])) as [string];
  lines.close();
  p.stdout.resume();
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]);
  const env = { ...process.env, GOVC_URL: `https://user:pass@127.0.0.1:${port}/sdk`, GOVC_INSECURE: '1' };
  const govc = async (...args: string[]) => (await promisify(execFile)(BIN + 'govc', args, { env })).stdout;
  return {
    url: `https://127.0.0.1:${port}/sdk`, port, govc,
    async collect(path, prop) {
      const out = JSON.parse(await govc('object.collect', '-json', path, prop)) as Array<{ Name: string; Val: unknown }>;
      return out.find((x) => x.Name === prop)?.Val;
    },
    async stop() { if (p.exitCode === null) { p.kill('SIGTERM'); await once(p, 'exit'); } },
  };
}

const vcConfig = (sim: Sim, name = 'vc1'): VCenterConfig => ({
  name, url: sim.url, username: 'user', password: 'pass', insecure: true,
  folder: 'vistack', imageCacheFolder: 'vistack_image_cache', connections: 8, taskTimeoutMs: 60_000,
} as VCenterConfig);

// ---- the cloud's side: rows as the services write them -----------------------------------------
async function insertServer(db: Database, uuid: string, o: { vmState?: string; powerState?: number; node: string | null; name?: string }) {
  const now = new Date().toISOString();
  const id = Number((await db.get('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM instances'))!.n);
  await db.run(`INSERT INTO instances (uuid, id, project_id, user_id, display_name, vcpus, memory_mb, root_gb, ephemeral_gb, flavor_id, flavor,
      host, node, vm_state, power_state, reservation_id, created_at, updated_at, deleted) VALUES (?, ?, 'p', 'u', ?, 1, 128, 1, 0, '1', '{}', ?, ?, ?, ?, ?, ?, ?, 0)`,
  [uuid, id, o.name ?? 'srv', o.node ? 'dc0-c0' : null, o.node, o.vmState ?? 'active', o.powerState ?? 1, `r-${id}`, now, now]);
}
async function insertNetwork(db: Database, id: string, vlan: number, portGroup: string | null) {
  const now = new Date().toISOString();
  await db.run(`INSERT INTO neutron_networks (id, project_id, name, network_type, physical_network, segmentation_id, port_group, created_at, updated_at)
    VALUES (?, 'p', ?, 'vlan', 'physnet1', ?, ?, ?, ?)`, [id, `net-${vlan}`, vlan, portGroup, now, now]);
}
async function insertVolume(db: Database, id: string, status: string, path: string) {
  const now = new Date().toISOString();
  await db.run(`INSERT INTO cinder_volumes (id, project_id, user_id, size, status, availability_zone, volume_type_id, location, created_at, updated_at)
    VALUES (?, 'p', 'u', 1, ?, 'nova', 't', ?, ?, ?)`, [id, status, JSON.stringify({ datastore: 'LocalDS_0', path }), now, now]);
}

// ---- the vCenter's side: VMs as the compute driver makes them -----------------------------------
async function createVm(s: VSphereSession, uuid: string, o: { on: boolean; cpus: number; memoryMb: number; diskGb: number; pg: { key: string; switchUuid: string }; volume?: string }) {
  const inv = s.inventory;
  const cluster = inv.clusters[0]!;
  const ds = inv.datastoresOf(cluster)[0]!;
  const vm = await s.client.runTask<MoRef>('CreateVM_Task', inv.folder, {
    config: {
      name: uuid, instanceUuid: uuid, guestId: 'otherGuest64', annotation: 'test VM',
      files: { vmPathName: `[${ds.name}]` }, numCPUs: o.cpus, memoryMB: o.memoryMb,
      deviceChange: [
        { operation: 'add', device: { _type: 'ParaVirtualSCSIController', key: -100, busNumber: 0, sharedBus: 'noSharing' } },
        {
          operation: 'add', fileOperation: 'create', device: {
            _type: 'VirtualDisk', key: -101,
            backing: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: '', diskMode: 'persistent', thinProvisioned: true },
            controllerKey: -100, unitNumber: 0, capacityInKB: o.diskGb * 1024 * 1024,
          },
        },
        {
          operation: 'add', device: {
            _type: 'VirtualVmxnet3', key: -102,
            backing: { _type: 'VirtualEthernetCardDistributedVirtualPortBackingInfo', port: { switchUuid: o.pg.switchUuid, portgroupKey: o.pg.key } },
            addressType: 'generated',
          },
        },
        ...(o.volume ? [{
          operation: 'add', device: {
            _type: 'VirtualDisk', key: -103,
            backing: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: o.volume, diskMode: 'independent_persistent', thinProvisioned: true },
            controllerKey: -100, unitNumber: 1, capacityInKB: 1024 * 1024,
          },
        }] : []),
      ],
      extraConfig: [
        { key: 'vistack.owner', value: xsdString('vistack') },
        { key: 'vistack.display-name', value: xsdString(`server-${uuid.slice(0, 4)}`) },
        { key: 'nvp.vm-uuid', value: xsdString(uuid) },
      ],
    },
    pool: cluster.resourcePool,
  });
  if (o.on) await s.client.runTask('PowerOnVM_Task', vm);
  return vm;
}

const kinds = (r: InventoryReport) => r.differences.map((d: Difference) => `${d.kind} ${d.id}`).sort();

describe('vsphere-inventory', vcsimOptions, () => {
  let sim: Sim;
  let cloud: TestCloud;
  let db: Database;
  let setup: VSphereSession;
  let nodename: string;
  const U = Array.from({ length: 6 }, () => randomUUID());
  const N1 = randomUUID(), N2 = randomUUID(), N3 = randomUUID();
  const VA = randomUUID(), VB = randomUUID(), VC = randomUUID();
  const volPath = (id: string) => `[LocalDS_0] volumes/volume-${id}.vmdk`;

  before(async () => {
    sim = await startSim();
    cloud = await startTestCloud({ seed: false });
    db = await openDatabase(cloud.config.databaseUrl);

    setup = new VSphereSession(vcConfig(sim, 'setup'));
    await setup.open();
    nodename = setup.inventory.clusters[0]!.nodename;
    const net = new VSphereNetworkDriver([setup]);
    const seg = (id: string, vlan: number) => ({ networkId: id, name: id, networkType: 'vlan' as const, physicalNetwork: 'physnet1', segmentationId: vlan, mtu: 1500 });
    await net.ensureNetwork(seg(N1, 101));
    await net.ensureNetwork(seg(N2, 102));
    const pg = (await setup.inventory.portgroup(`vistack-net-${N1}`))!;
    const files = new Datastores(setup.inventory);
    await files.mkdir('LocalDS_0', 'volumes');
    for (const v of [VA, VB]) await files.createDisk(volPath(v), 1024 * 1024, 'thin', 'lsiLogic');

    await createVm(setup, U[0]!, { on: true, cpus: 2, memoryMb: 256, diskGb: 1, pg, volume: volPath(VA) });
    await createVm(setup, U[1]!, { on: false, cpus: 1, memoryMb: 128, diskGb: 2, pg });
    await createVm(setup, U[2]!, { on: true, cpus: 1, memoryMb: 128, diskGb: 1, pg });

    await insertServer(db, U[0]!, { node: nodename, powerState: 1 });
    await insertServer(db, U[1]!, { node: nodename, powerState: 1 }); // the VM is off: a power-state difference
    await insertServer(db, U[3]!, { node: nodename, name: 'lost' }); // no VM
    await insertServer(db, U[4]!, { node: null, vmState: 'shelved_offloaded', powerState: 4 }); // no VM, by design
    await insertServer(db, U[5]!, { node: 'domain-c1.some-other-vcenter', name: 'elsewhere' });
    await insertNetwork(db, N1, 101, `vistack-net-${N1}`);
    await insertNetwork(db, N3, 103, `vistack-net-${N3}`); // its port group is missing
    await insertVolume(db, VA, 'in-use', volPath(VA));
    await insertVolume(db, VC, 'available', volPath(VC)); // its VMDK is missing
  });
  after(async () => {
    await setup?.close();
    await db?.close();
    await cloud?.close();
    await sim?.stop();
  });

  it('shows the vCenter as govc sees it', async () => {
    const r = await inventoryReport([vcConfig(sim)], null);
    assert.equal(r.database, null);
    assert.deepEqual(r.differences, []);
    const [v] = r.vcenters;
    assert.ok(v && !v.error, v?.error);
    assert.equal(v.about!.instanceUuid, (await sim.govc('about', '-json')).match(/"InstanceUuid":\s*"([^"]+)"/)![1]);
    assert.equal(v.datacenter!.name, 'DC0');

    // Clusters, hosts and datastores.
    assert.deepEqual(v.clusters.map((c) => c.name), ['DC0_C0']);
    const cl = v.clusters[0]!;
    assert.equal(cl.nodename, nodename);
    const hostRefs = ((await sim.collect('/DC0/host/DC0_C0', 'host')).ManagedObjectReference as Array<{ Value: string }>).map((x) => x.Value).sort();
    assert.deepEqual(cl.hosts.map((h) => h.moref).sort(), hostRefs);
    for (const h of cl.hosts) {
      const hw = await sim.collect(`/DC0/host/DC0_C0/${h.name}`, 'summary.hardware');
      assert.equal(h.cores, hw.NumCpuCores);
      assert.equal(h.memoryMb, Math.round(hw.MemorySize / 2 ** 20));
      assert.equal(h.connected, true);
    }
    const dsSummary = await sim.collect('/DC0/datastore/LocalDS_0', 'summary');
    assert.deepEqual(cl.datastores.map((d) => [d.name, d.capacityBytes]), [['LocalDS_0', dsSummary.Capacity]]);

    // The switch with its members and Vistack's port groups (not DC0_DVPG0).
    const sw = v.switches.find((x) => x.name === 'DVS0')!;
    assert.equal(sw.configured, true);
    assert.equal(sw.members.length, ((await sim.collect('/DC0/network/DVS0', 'summary.hostMember')).ManagedObjectReference as unknown[]).length);
    assert.deepEqual(sw.portgroups.map((p) => [p.name, p.vlanId]).sort(), [[`vistack-net-${N1}`, 101], [`vistack-net-${N2}`, 102]].sort());
    for (const p of sw.portgroups) assert.equal((await sim.collect(`/DC0/network/${p.name}`, 'config.defaultPortConfig')).Vlan.VlanId, p.vlanId);

    // Vistack's VMs only, with their power state, host, size, disks and NICs.
    assert.deepEqual(v.vms.map((x) => x.uuid).sort(), [U[0], U[1], U[2]].sort());
    for (const vm of v.vms) {
      const path = `/DC0/vm/vistack/${vm.name}`;
      assert.equal(vm.name, vm.uuid, 'named by the instance uuid');
      assert.equal(vm.powerState, await sim.collect(path, 'runtime.powerState'));
      const host = (await sim.collect(path, 'runtime.host')).Value;
      assert.equal(cl.hosts.find((h) => h.moref === host)?.name, vm.host);
      assert.equal(vm.numCpu, await sim.collect(path, 'config.hardware.numCPU'));
      assert.equal(vm.memoryMb, await sim.collect(path, 'config.hardware.memoryMB'));
      const devices = (await sim.collect(path, 'config.hardware.device')).VirtualDevice as Array<{ Key: number; CapacityInKB?: number; Backing?: { FileName?: string } }>;
      const disks = devices.filter((d) => d.CapacityInKB !== undefined);
      assert.deepEqual(vm.disks.map((d) => [d.file, d.capacityBytes]).sort(), disks.map((d) => [d.Backing!.FileName, d.CapacityInKB! * 1024]).sort());
      assert.deepEqual(vm.nics.map((n) => n.portGroup), [`vistack-net-${N1}`]);
      assert.match(vm.displayName, /^server-/);
    }
    const vm0 = v.vms.find((x) => x.uuid === U[0])!;
    assert.equal(vm0.numCpu, 2);
    assert.ok(vm0.disks.some((d) => d.file === volPath(VA)), 'the attached volume is one of its disks');
    // Each disk's role and volume as the compute driver tells them apart: the root disk is
    // "[ds] <uuid>/<uuid>.vmdk", a volume "[ds] volumes/volume-<id>.vmdk".
    assert.deepEqual(vm0.disks.map((d) => [d.role, d.volumeId, d.file]).sort(),
      [['root', null, `[LocalDS_0] ${U[0]}/${U[0]}.vmdk`], ['volume', VA, volPath(VA)]].sort());
    for (const vm of v.vms.filter((x) => x !== vm0)) assert.deepEqual(vm.disks.map((d) => [d.role, d.volumeId]), [['root', null]]);

    // The volume VMDKs, with the VM one is attached to.
    assert.deepEqual(v.volumes.map((f) => [f.path, f.volumeId, f.attachedTo]).sort(), [[volPath(VA), VA, U[0]], [volPath(VB), VB, null]].sort());
    // vcsim's datastore browser reports no disk capacity: an attached VMDK's comes from its disk
    // device (1 GiB here), a detached one's is unknown.
    assert.deepEqual(v.volumes.map((f) => [f.path, f.capacityBytes]).sort(), [[volPath(VA), 2 ** 30], [volPath(VB), null]].sort());
    const listed = await sim.govc('datastore.ls', '-ds', 'LocalDS_0', 'volumes');
    for (const f of v.volumes) assert.ok(listed.includes(f.path.replace('[LocalDS_0] volumes/', '')), `${f.path} is on the datastore`);
  });

  it('compares with the database: every kind of difference, once', async () => {
    const r = await inventoryReport([vcConfig(sim)], cloud.config.databaseUrl);
    assert.equal(r.database?.error, undefined);
    assert.deepEqual(r.database!.servers!.map((s) => s.uuid).sort(), [U[0], U[1], U[3], U[4], U[5]].sort());
    assert.deepEqual(kinds(r), [
      `network-without-portgroup ${N3}`,
      `portgroup-without-network vistack-net-${N2}`,
      `power-state ${U[1]}`,
      `server-on-unknown-node ${U[5]}`,
      `server-without-vm ${U[3]}`,
      `vm-without-server ${U[2]}`,
      `vmdk-without-volume ${volPath(VB)}`,
      `volume-without-vmdk ${VC}`,
    ].sort());
    const power = r.differences.find((d) => d.kind === 'power-state')!;
    assert.match(power.message, /power_state 1 \(RUNNING\), VM poweredOff/);

    const text = formatReport(r);
    assert.match(text, /^vCenter vc1 {2}https:\/\/127\.0\.0\.1:\d+\/sdk$/m);
    assert.match(text, /Cluster DC0_C0 \(\S+\) {2}compute host dc0-c0 {2}nodename /);
    assert.match(text, new RegExp(`Port group vistack-net-${N1} \\(dvportgroup-\\d+\\) {2}VLAN 101`));
    assert.match(text, new RegExp(`${U[1]} "server-\\S+" poweredOff`));
    assert.match(text, new RegExp(`nic \\d+ vmxnet3 \\S+ -> vistack-net-${N1}`));
    assert.match(text, /Differences: 8/);
    assert.match(text, new RegExp(`\\[server-without-vm\\] server ${U[3]} "lost"`));
    assert.doesNotMatch(text, /pass(word)?\b.*pass/, 'no credentials');
  });

  it('a vCenter that cannot be reached is reported, the others still are', async () => {
    const dead = { ...vcConfig(sim, 'dead'), url: 'https://127.0.0.1:1/sdk' };
    const r = await inventoryReport([dead, vcConfig(sim)], cloud.config.databaseUrl);
    assert.match(r.vcenters[0]!.error ?? '', /127\.0\.0\.1:1/);
    assert.equal(r.vcenters[1]!.vms.length, 3);
    // With a vCenter unknown, a server on a node nobody claims is not called lost.
    assert.ok(!kinds(r).some((k) => k.startsWith('server-on-unknown-node')));
    assert.match(formatReport(r), /vCenter dead .*\n {2}UNREACHABLE: /);
  });

  it('a database file that does not exist is reported and not created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vistack-vscli-'));
    try {
      const file = join(dir, 'nope.db');
      const r = await inventoryReport([vcConfig(sim)], `sqlite:${file}`);
      assert.match(r.database!.error!, /no database at/);
      assert.equal(existsSync(file), false);
      assert.deepEqual(r.differences, []);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('the command: options are checked; it reads the configured vCenters', async () => {
    const cmd = VSPHERE_COMMANDS['vsphere-inventory']!;
    await assert.rejects(cmd.run(['--bogus']), /unknown option --bogus/);
    await assert.rejects(cmd.run(['--database']), /needs a value/);
    await assert.rejects(cmd.run(['--json=1']), /takes no value/);
    await assert.rejects(cmd.run(['--database', 'x', '--no-database']), /exclude each other/);
    if (!existsSync(fileURLToPath(new URL('./config.ts', import.meta.url)))) return; // the configuration module is not there yet
    const saved = { ...process.env };
    process.env.VISTACK_DRIVER = 'vsphere';
    process.env.VISTACK_VSPHERE_URL = `https://user:pass@127.0.0.1:${sim.port}/sdk`;
    process.env.VISTACK_VSPHERE_INSECURE = '1';
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
    try {
      await cmd.run(['--json', '--database', cloud.config.databaseUrl]);
    } finally {
      console.log = log;
      process.env = saved;
    }
    const r = JSON.parse(lines.join('\n')) as InventoryReport;
    assert.equal(r.vcenters.length, 1);
    assert.equal(r.vcenters[0]!.vms.length, 3);
    assert.equal(r.differences.length, 8);
    assert.doesNotMatch(lines.join('\n'), /user:pass/);
  });
});
