// The network driver against vcsim: a Neutron network becomes a distributed port group with the
// segment's VLAN on the configured switch of every vCenter, the cluster's hosts join that switch
// first, and every call can be repeated. What the driver did is checked with govc, not with the
// driver's own answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkSegment } from '../../core/virt.ts';
import { VSphereSession } from './session.ts';
import { startVcsim, vcsimTestOptions, type Vcsim } from './testing.ts';
import { VSphereNetworkDriver, portGroupName } from './network.ts';
import type { VCenterConfig } from './config.ts';

// ---- vcsim over TLS, trusted through the test CA (./testing.ts) ------------------------------
const vcsimOptions = vcsimTestOptions();
type Sim = Vcsim;
const startSim = (flags: string[] = []): Promise<Sim> => startVcsim({ args: flags });

function session(sim: Sim, extra: Partial<VCenterConfig> = {}): VSphereSession {
  return new VSphereSession({
    name: `vc-${sim.port}`, url: sim.url, username: sim.username, password: sim.password, caFile: sim.caFile, insecure: false,
    folder: 'vistack', imageCacheFolder: 'vistack_image_cache', connections: 8, taskTimeoutMs: 60_000, ...extra,
  } as VCenterConfig);
}

const seg = (networkId: string, networkType: NetworkSegment['networkType'], segmentationId: number | null = null): NetworkSegment =>
  ({ networkId, name: networkId, networkType, physicalNetwork: networkType === 'vlan' || networkType === 'flat' ? 'physnet1' : null, segmentationId, mtu: 1500 });

/** The port group as govc sees it: VLAN, switch, port count. */
async function pgState(sim: Sim, name: string) {
  const cfg = await sim.collect(`/DC0/network/${name}`, 'config');
  return { vlanId: cfg.DefaultPortConfig?.Vlan?.VlanId as number, dvs: cfg.DistributedVirtualSwitch?.Value as string, numPorts: cfg.NumPorts as number, name: cfg.Name as string, type: cfg.Type as string, autoExpand: cfg.AutoExpand as boolean };
}

async function pgNames(sim: Sim): Promise<string[]> {
  return (await sim.govc('find', '/DC0/network', '-type', 'DistributedVirtualPortgroup')).trim().split('\n').map((l) => l.slice(l.lastIndexOf('/') + 1));
}

const memberHosts = async (sim: Sim, dvs: string) => ((await sim.collect(`/DC0/network/${dvs}`, 'summary.hostMember'))?.ManagedObjectReference ?? []).map((r: { Value: string }) => r.Value).sort();
const clusterHosts = async (sim: Sim) => ((await sim.collect('/DC0/host/DC0_C0', 'host'))?.ManagedObjectReference ?? []).map((r: { Value: string }) => r.Value).sort();

describe('VSphereNetworkDriver on vcsim', vcsimOptions, () => {
  let sim: Sim;
  let s: VSphereSession;
  let net: VSphereNetworkDriver;

  before(async () => {
    sim = await startSim();
    // A switch of our own with no members: vcsim's DVS0 already has every host.
    await sim.govc('dvs.create', 'vistack-dvs');
    assert.deepEqual(await memberHosts(sim, 'vistack-dvs'), []);
    s = session(sim, { switch: 'vistack-dvs' });
    net = new VSphereNetworkDriver([s]);
  });
  after(async () => { await s?.close(); await sim?.stop(); });

  it('creates a VLAN port group on the configured switch after joining the cluster hosts to it', async () => {
    const b = await net.ensureNetwork(seg('n1', 'vlan', 101));
    assert.equal(b.networkId, 'n1');
    assert.equal(b.portGroup, 'vistack-net-n1');
    assert.equal(b.vlanId, 101);
    assert.match(b.key, /^dvportgroup-/);
    const st = await pgState(sim, 'vistack-net-n1');
    assert.equal(st.vlanId, 101);
    assert.equal(st.type, 'earlyBinding');
    assert.equal(st.autoExpand, true);
    const dvsRef = (await sim.govc('find', '-i', '/DC0/network', '-name', 'vistack-dvs')).trim();
    assert.equal(`DistributedVirtualSwitch:${st.dvs}`, dvsRef);
    const members = await memberHosts(sim, 'vistack-dvs');
    for (const h of await clusterHosts(sim)) assert.ok(members.includes(h), `cluster host ${h} is a member of the switch`);
  });

  it('is idempotent: a second call finds the same port group', async () => {
    const a = await net.ensureNetwork(seg('n1', 'vlan', 101));
    const b = await net.ensureNetwork(seg('n1', 'vlan', 101));
    assert.equal(a.key, b.key);
    assert.equal((await pgNames(sim)).filter((n) => n === 'vistack-net-n1').length, 1);
  });

  it('concurrent calls for one network make one port group', async () => {
    const rs = await Promise.all([1, 2, 3].map(() => net.ensureNetwork(seg('n-race', 'vlan', 7))));
    assert.equal(new Set(rs.map((r) => r.key)).size, 1);
    assert.equal((await pgNames(sim)).filter((n) => n === 'vistack-net-n-race').length, 1);
  });

  it('flat and overlay networks get VLAN 0', async () => {
    for (const [id, type] of [['flat1', 'flat'], ['vx1', 'vxlan'], ['gen1', 'geneve'], ['loc1', 'local']] as const) {
      const b = await net.ensureNetwork(seg(id, type, type === 'flat' ? null : 5001));
      assert.equal(b.vlanId, 0);
      assert.equal((await pgState(sim, portGroupName(id))).vlanId, 0);
    }
  });

  it('a changed segmentation id reconfigures the VLAN and keeps the rest of the port group', async () => {
    const before = await pgState(sim, 'vistack-net-n1');
    const b = await net.ensureNetwork(seg('n1', 'vlan', 202));
    assert.equal(b.vlanId, 202);
    const st = await pgState(sim, 'vistack-net-n1');
    assert.equal(st.vlanId, 202);
    assert.equal(st.name, 'vistack-net-n1');
    assert.equal(st.numPorts, before.numPorts);
    assert.equal(st.type, 'earlyBinding');
    assert.equal(st.autoExpand, true);
    // The policy (vcsim keeps exactly what the spec sends) is still there.
    assert.ok(await sim.collect('/DC0/network/vistack-net-n1', 'config.policy'));
  });

  it('rejects a VLAN id out of range and a segment without network id', async () => {
    await assert.rejects(net.ensureNetwork(seg('bad', 'vlan', 5000)), (e: any) => e.fault === 'InvalidArgument');
    await assert.rejects(net.ensureNetwork(seg('', 'flat')), (e: any) => e.fault === 'InvalidArgument');
    assert.ok(!(await pgNames(sim)).includes('vistack-net-bad'));
  });

  it('a NIC can use the port group: the hosts really are switch members', async () => {
    // Control: on a switch without members vcsim refuses the NIC, as vCenter does.
    await sim.govc('dvs.create', 'memberless-dvs');
    await sim.govc('dvs.portgroup.add', '-dvs', 'memberless-dvs', 'control-pg');
    await assert.rejects(sim.govc('vm.create', '-on=false', '-net', 'control-pg', '-pool', '/DC0/host/DC0_C0/Resources', 'control-vm'), /InvalidArgument/);
    await net.ensureNetwork(seg('n-nic', 'vlan', 33));
    await sim.govc('vm.create', '-on=false', '-c', '1', '-m', '64', '-net', 'vistack-net-n-nic', '-pool', '/DC0/host/DC0_C0/Resources', 'nic-user');
    const pg = (await sim.govc('find', '-i', '/DC0/network', '-name', 'vistack-net-n-nic')).trim();
    const nets = ((await sim.collect('/DC0/vm/nic-user', 'network'))?.ManagedObjectReference ?? []).map((r: { Type: string; Value: string }) => `${r.Type}:${r.Value}`);
    assert.deepEqual(nets, [pg]);
  });

  it('deleteNetwork refuses while a NIC uses the port group (ResourceInUse), then deletes, then succeeds again', async () => {
    await assert.rejects(net.deleteNetwork('n-nic'), (e: any) => e.fault === 'ResourceInUse' && /nic-user/.test(e.message));
    assert.ok((await pgNames(sim)).includes('vistack-net-n-nic'));
    await sim.govc('vm.destroy', 'nic-user');
    await net.deleteNetwork('n-nic');
    assert.ok(!(await pgNames(sim)).includes('vistack-net-n-nic'));
    await net.deleteNetwork('n-nic');
    await net.deleteNetwork('never-existed');
  });

  it('listNetworks gives every vistack port group with its VLAN, nothing else', async () => {
    const list = await net.listNetworks();
    const byId = Object.fromEntries(list.map((b) => [b.networkId, b]));
    assert.deepEqual(Object.keys(byId).sort(), ['flat1', 'gen1', 'loc1', 'n-race', 'n1', 'vx1']);
    assert.equal(byId.n1!.vlanId, 202);
    assert.equal(byId['n-race']!.vlanId, 7);
    assert.equal(byId.n1!.portGroup, 'vistack-net-n1');
    // Same as govc sees them.
    const govcNames = (await pgNames(sim)).filter((n) => n.startsWith('vistack-net-')).sort();
    assert.deepEqual(list.map((b) => b.portGroup).sort(), govcNames);
  });

  it('a port group of that name on another switch is an error, not silently used', async () => {
    await sim.govc('dvs.portgroup.add', '-dvs', 'DVS0', '-vlan', '9', 'vistack-net-elsewhere');
    await assert.rejects(net.ensureNetwork(seg('elsewhere', 'vlan', 9)), (e: any) => e.fault === 'DuplicateName' && /DVS0|dvs-/.test(e.message));
  });

  it('joins hosts added to the cluster later', async () => {
    await sim.govc('cluster.add', '-cluster', '/DC0/host/DC0_C0', '-hostname', 'late-host.example', '-username', 'u', '-password', 'p', '-noverify');
    // No inventory refresh: ensureNetwork reads the cluster's hosts itself.
    await net.ensureNetwork(seg('n1', 'vlan', 202));
    const members = await memberHosts(sim, 'vistack-dvs');
    const hosts = await clusterHosts(sim);
    assert.equal(hosts.length, 4);
    for (const h of hosts) assert.ok(members.includes(h), `host ${h} joined`);
  });
});

describe('VSphereNetworkDriver with two vCenters', vcsimOptions, () => {
  let a: Sim, b: Sim;
  let sa: VSphereSession, sb: VSphereSession;
  let net: VSphereNetworkDriver;
  before(async () => {
    [a, b] = await Promise.all([startSim(), startSim()]);
    sa = session(a); sb = session(b);
    net = new VSphereNetworkDriver([sa, sb]);
  });
  after(async () => { await sa?.close(); await sb?.close(); await a?.stop(); await b?.stop(); });

  it('makes the port group on every vCenter and deletes it from all', async () => {
    const backing = await net.ensureNetwork(seg('shared', 'vlan', 44));
    for (const sim of [a, b]) assert.equal((await pgState(sim, 'vistack-net-shared')).vlanId, 44);
    const firstKey = (await a.govc('find', '-i', '/DC0/network', '-name', 'vistack-net-shared')).trim();
    assert.equal(`DistributedVirtualPortgroup:${backing.key}`, firstKey, 'the backing names the first vCenter\'s port group');
    assert.deepEqual((await net.listNetworks()).map((x) => x.networkId), ['shared']);
    await net.deleteNetwork('shared');
    for (const sim of [a, b]) assert.ok(!(await pgNames(sim)).includes('vistack-net-shared'));
  });

  it('a port group missing on one vCenter only is made there', async () => {
    await net.ensureNetwork(seg('half', 'flat'));
    await b.govc('object.destroy', '/DC0/network/vistack-net-half');
    assert.ok(!(await pgNames(b)).includes('vistack-net-half'));
    await net.ensureNetwork(seg('half', 'flat'));
    assert.ok((await pgNames(b)).includes('vistack-net-half'));
    assert.equal((await pgNames(a)).filter((n) => n === 'vistack-net-half').length, 1);
  });
});

describe('VSphereNetworkDriver.listOpaqueNetworks on vcsim with NSX objects', vcsimOptions, () => {
  let sim: Sim;
  let s: VSphereSession;
  before(async () => {
    sim = await startSim(['-nsx', '2', '-pg-nsx', '2']);
    s = session(sim);
  });
  after(async () => { await s?.close(); await sim?.stop(); });

  it('lists OpaqueNetwork objects and NSX-backed port groups with their logical switch ids', async () => {
    const net = new VSphereNetworkDriver([s]);
    const list = await net.listOpaqueNetworks();
    const opaque = list.filter((x) => x.backing === 'OpaqueNetwork').sort((x, y) => x.name.localeCompare(y.name));
    const pgs = list.filter((x) => x.backing === 'DistributedVirtualPortgroup').sort((x, y) => x.name.localeCompare(y.name));
    assert.deepEqual(opaque.map((x) => x.name), ['DC0_NSX0', 'DC0_NSX1']);
    assert.deepEqual(pgs.map((x) => x.name), ['DC0_NSXPG0', 'DC0_NSXPG1']);
    for (const o of opaque) {
      const sum = await sim.collect(`/DC0/network/${o.name}`, 'summary');
      assert.equal(o.id, sum.OpaqueNetworkId);
      assert.equal(o.type, sum.OpaqueNetworkType);
      assert.equal(o.type, 'nsx.LogicalSwitch');
    }
    for (const p of pgs) {
      assert.equal(p.id, await sim.collect(`/DC0/network/${p.name}`, 'config.logicalSwitchUuid'));
      assert.match(p.id, /^[0-9a-f-]{36}$/);
    }
    // Ordinary port groups are not NSX networks.
    assert.ok(!list.some((x) => x.name === 'DC0_DVPG0'));
  });

  it('is empty without NSX objects', async () => {
    const plain = await startSim();
    const ps = session(plain);
    try {
      assert.deepEqual(await new VSphereNetworkDriver([ps]).listOpaqueNetworks(), []);
    } finally { await ps.close(); await plain.stop(); }
  });
});
