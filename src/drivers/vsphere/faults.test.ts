// Fault tests of the vsphere driver with a whole cloud on vcsim: a boot storm while the vCenter
// dies and comes back from a saved inventory, vCenter sessions removed under a running cloud, and
// a vCenter task failing on a spec the vCenter refuses. What must hold, as Nova would have it:
// servers end ACTIVE or ERROR (never stuck in BUILD), a server whose VM the vCenter lost is
// reported, and no VM or VMDK folder is left that the API does not know of. The vCenter is
// inspected with a client of our own and govc, never through the driver's answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startVcsim, vcsimTestOptions, type Vcsim } from './testing.ts';
import { VimClient } from './vim/client.ts';
import { get, listObjects } from './vim/props.ts';
import type { MoRef, OptionValue } from './vim/types.ts';
import { asArray } from './vim/xml.ts';
import { login, startTestCloud, type Session, type TestCloud } from '../../testing.ts';
import { reconcilerOf } from '../../compute/servers/index.ts';
import type { Config } from '../../core/config.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MV = { 'OpenStack-API-Version': 'compute 2.79' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_ANY = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** A vcsim, a cloud driving it, an admin session and our own eyes on the vCenter. */
interface Rig {
  sim: Vcsim;
  cloud: TestCloud;
  admin: Session;
  check: VimClient;
  imageId: string;
}

async function rig(sim: Vcsim, over: Record<string, unknown> = {}): Promise<Rig> {
  // A long reconciler interval: the tests run its passes themselves. (Module settings are not in Config's type.)
  const cloud = await startTestCloud({ reconcileIntervalMs: 3_600_000, ...over } as Partial<Config>, { env: sim.env });
  const admin = await login(cloud);
  const project = admin.body.token.project.id;
  const q = await admin.json('PUT', `/compute/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 100, cores: 800, ram: 1_600_000 } });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const imgs = await admin.json('GET', '/image/v2/images?status=active');
  assert.ok(imgs.body.images?.length, 'the seed provides an image');
  const check = new VimClient({ url: sim.url, username: sim.username, password: sim.password, ca: readFileSync(sim.caFile), keepAliveMs: 0, retryDeadlineMs: 30_000 });
  await check.connect();
  return { sim, cloud, admin, check, imageId: imgs.body.images[0].id };
}

async function unrig(r: Rig | undefined) {
  await r?.cloud.close().catch(() => undefined);
  await r?.check.close().catch(() => undefined);
  await r?.sim.stop().catch(() => undefined);
}

interface SimVm { ref: MoRef; name: string; uuid: string; owned: boolean; inFolder: boolean; power: string }

/** Every VM of the vCenter, with whether it is Vistack's (its folder, or extraConfig vistack.owner=vistack). */
async function vms(c: VimClient): Promise<SimVm[]> {
  const [dc] = await listObjects<{ vmFolder: MoRef }>(c, c.content.rootFolder, 'Datacenter', ['vmFolder']);
  const folder = await c.call<MoRef | undefined>('FindChild', c.content.searchIndex!, { entity: dc!.props.vmFolder!, name: 'vistack' });
  const inFolder = new Set<string>();
  if (folder && typeof folder === 'object' && folder.value) {
    for (const v of await listObjects<{ name: string }>(c, folder, 'VirtualMachine', ['name'])) inFolder.add(v.ref.value);
  }
  type P = { name: string; 'config.instanceUuid': string; 'config.extraConfig': OptionValue[]; 'runtime.powerState': string };
  const all = await listObjects<P>(c, c.content.rootFolder, 'VirtualMachine', ['name', 'config.instanceUuid', 'config.extraConfig', 'runtime.powerState']);
  return all.map((v) => {
    const owner = asArray(v.props['config.extraConfig']).find((o) => o.key === 'vistack.owner')?.value;
    return {
      ref: v.ref, name: String(v.props.name), uuid: String(v.props['config.instanceUuid'] ?? ''),
      owned: owner === 'vistack' || inFolder.has(v.ref.value), inFolder: inFolder.has(v.ref.value), power: String(v.props['runtime.powerState']),
    };
  });
}

/** Top-level entries of every datastore, as govc lists them. */
async function dsEntries(r: Rig): Promise<Map<string, string[]>> {
  const dss = await listObjects<{ name: string }>(r.check, r.check.content.rootFolder, 'Datastore', ['name']);
  const out = new Map<string, string[]>();
  for (const d of dss) {
    const name = String(d.props.name);
    out.set(name, (await r.sim.govc('datastore.ls', '-ds', name)).split('\n').map((l) => l.trim()).filter(Boolean));
  }
  return out;
}

async function servers(r: Rig): Promise<any[]> {
  const res = await r.admin.json('GET', '/compute/v2.1/servers/detail?all_tenants=1', undefined, MV);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.servers;
}

async function show(r: Rig, id: string) {
  return r.admin.json('GET', `/compute/v2.1/servers/${id}`, undefined, MV);
}

function boot(r: Rig, name: string, networks: unknown = 'none') {
  return r.admin.json('POST', '/compute/v2.1/servers', { server: { name, imageRef: r.imageId, flavorRef: '1', networks } }, { 'OpenStack-API-Version': 'compute 2.37' });
}

/** The task engine's idle(), bounded: a hang fails the test instead of the whole run. */
async function settle(r: Rig, ms = 120_000) {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    r.cloud.ctx.tasks.idle(),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`tasks did not settle within ${ms / 1000} s`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 60_000, every = 100) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

const faultsOf = (r: Rig, id: string) => r.cloud.ctx.db.all('SELECT code, message FROM instance_faults WHERE instance_uuid = ? ORDER BY created_at', [id]);

/** No VM and no datastore folder that the API does not list. */
async function assertNothingUnknown(r: Rig, known: Set<string>) {
  const stray = (await vms(r.check)).filter((v) => v.owned && !known.has(v.uuid) && !known.has(v.name));
  assert.deepEqual(stray.map((v) => `${v.name} (${v.ref.value})`), [], 'every Vistack VM belongs to a server the API lists');
  for (const [ds, entries] of await dsEntries(r)) {
    const folders = entries.filter((e) => UUID.test(e) && !known.has(e));
    assert.deepEqual(folders, [], `no instance folder on [${ds}] without a server`);
  }
}

describe('vsphere faults: boot storm while the vCenter dies and comes back', vcsimTestOptions(), () => {
  let r: Rig;
  let dir: string;
  before(async () => {
    // Slow VM creation and power-on, so the storm is still going when the vCenter dies.
    // Three builds at a time: the storm comes in waves, so some servers are done and some are
    // not when the vCenter's state is saved, more finish between the save and the kill, and
    // the last ones are still building when it dies.
    r = await rig(await startVcsim({ methodDelay: { CreateVM_Task: 300, PowerOnVM_Task: 200 } }), { taskConcurrency: 3 });
    dir = mkdtempSync(join(tmpdir(), 'vcsim-save-'));
  });
  after(async () => {
    await unrig(r);
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends every server ACTIVE or ERROR, reports lost VMs, and leaves nothing unknown', async () => {
    const modelVms = (await vms(r.check)).filter((v) => !v.owned).map((v) => v.ref.value).sort();
    const baseline = await dsEntries(r);
    const N = 12;
    const created = await Promise.all(Array.from({ length: N }, (_, i) => boot(r, `storm-${i}`)));
    for (const c of created) assert.equal(c.status, 202, JSON.stringify(c.body));
    const ids = created.map((c) => c.body.server.id as string);
    const active = async () => (await servers(r)).filter((s) => ids.includes(s.id) && s.status === 'ACTIVE').map((s) => s.id as string);

    await waitFor('a few ACTIVE servers', async () => (await active()).length >= 3, 60_000);
    // Read before the save: these VMs were made and powered on before it, so they are in it.
    const activeAtSave = new Set(await active());
    const saved = join(dir, 'inventory'); // govc makes the folder itself
    await r.sim.save(saved);
    // VMs that did not exist even after the save was written are not in it: let one such server
    // become ACTIVE, so the vCenter comes back without the VM of an ACTIVE server.
    const afterSave = new Set((await vms(r.check)).filter((v) => v.owned).map((v) => v.uuid));
    let doomed = '';
    await waitFor('a server made after the save to become ACTIVE', async () => {
      doomed = (await active()).find((id) => !afterSave.has(id)) ?? '';
      return !!doomed;
    }, 30_000, 50);
    const building = (await servers(r)).filter((x) => ids.includes(x.id) && x.status === 'BUILD').length;
    assert.ok(building >= 1, 'the storm is still going when the vCenter dies');
    await r.sim.kill();
    await sleep(1_500);
    await r.sim.restart({ load: saved });

    await settle(r);
    await reconcilerOf(r.cloud.ctx).tick();
    await settle(r);

    const listed = (await servers(r)).filter((s) => ids.includes(s.id));
    assert.equal(listed.length, N);
    const byStatus: Record<string, number> = {};
    for (const s of listed) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
    const onSim = new Map((await vms(r.check)).filter((v) => v.owned).map((v) => [v.uuid, v]));
    let lost = 0;
    const errors: string[] = [];
    for (const s of listed) {
      const vm = onSim.get(s.id);
      assert.equal(s['OS-EXT-STS:task_state'], null, `server ${s.id} has no task left`);
      if (s.status === 'ERROR') {
        assert.ok(s.fault?.message, `ERROR server ${s.id} has a fault`);
        errors.push(s.fault.message);
        continue;
      }
      if (s.status === 'SHUTOFF') {
        // A VM the saved inventory holds powered off (saved between its creation and its power-on):
        // the power-state sync stops the server, as Nova's does.
        assert.equal(vm?.power, 'poweredOff', `SHUTOFF server ${s.id} has a VM that is off`);
        assert.equal(s['OS-EXT-STS:power_state'], 4);
        continue;
      }
      assert.equal(s.status, 'ACTIVE', `server ${s.id} ends ACTIVE, ERROR (or SHUTOFF with its VM off), not ${s.status}`);
      if (vm) {
        assert.equal(vm.power, 'poweredOn', `the VM of ACTIVE server ${s.id} runs`);
        assert.equal(s['OS-EXT-STS:power_state'], 1);
      } else {
        // Lost by the vCenter: reported, not shown running.
        lost++;
        assert.equal(s['OS-EXT-STS:power_state'], 0, `server ${s.id} whose VM is gone shows NOSTATE`);
        const faults = await faultsOf(r, s.id);
        assert.ok(faults.some((f: any) => /not found on the hypervisor/.test(f.message)), `server ${s.id}: a fault says its VM is gone`);
      }
    }
    for (const id of activeAtSave) assert.ok(onSim.has(id), `the VM of ${id}, ACTIVE before the save, survived the restart`);
    assert.ok(!onSim.has(doomed), `the VM of ${doomed}, made after the save, is gone`);
    assert.ok(lost >= 1, 'the ACTIVE server whose VM is gone is reported');
    const causes: string[] = [];
    for (const sv of listed.filter((x) => x.status === 'ERROR')) {
      const acts = await r.admin.json('GET', `/compute/v2.1/servers/${sv.id}/os-instance-actions`);
      const req = acts.body.instanceActions.find((a: any) => a.action === 'create').request_id;
      const ev = (await r.admin.json('GET', `/compute/v2.1/servers/${sv.id}/os-instance-actions/${req}`)).body.instanceAction.events;
      for (const e of ev) if (e.result === 'Error' && e.event.startsWith('compute_')) causes.push(String(e.traceback).split('\n')[0]!.replace(/127\.0\.0\.1:\d+/, 'vcsim'));
    }
    // What the in-flight builds died of (connection lost mid-call), for the record.
    console.log(`boot storm: build failures ${JSON.stringify([...new Set(causes)])}`);
    console.log(`boot storm: ${JSON.stringify(byStatus)}, ${activeAtSave.size} ACTIVE at the save, ${building} building at the kill, ${lost} VMs lost by the vCenter; faults: ${JSON.stringify([...new Set(errors.map((m) => m.replace(UUID_ANY, '<uuid>')))])}`);
    await assertNothingUnknown(r, new Set(ids));
    assert.deepEqual((await vms(r.check)).filter((v) => !v.owned).map((v) => v.ref.value).sort(), modelVms, 'VMs that are not Vistack\'s are left alone');

    // Everything goes: no VM in Vistack's folder, no instance folder on the datastore.
    for (const id of ids) {
      const d = await r.admin.request('DELETE', `/compute/v2.1/servers/${id}`);
      assert.equal(d.status, 204);
    }
    await settle(r);
    for (const id of ids) assert.equal((await show(r, id)).status, 404, `server ${id} is deleted`);
    const left = (await vms(r.check)).filter((v) => v.owned);
    assert.deepEqual(left.map((v) => v.name), [], 'no Vistack VM is left');
    await assertNothingUnknown(r, new Set());
    // The datastores hold what they held before, plus the image cache of images Glance knows.
    const images = new Set((await r.admin.json('GET', '/image/v2/images')).body.images.map((i: any) => i.id));
    for (const [ds, entries] of await dsEntries(r)) {
      assert.deepEqual(entries.filter((e) => e !== 'vistack_image_cache'), baseline.get(ds), `[${ds}] holds nothing new but the image cache`);
      if (!entries.includes('vistack_image_cache')) continue;
      const cached = (await r.sim.govc('datastore.ls', '-ds', ds, 'vistack_image_cache')).split('\n').map((l) => l.trim()).filter(Boolean);
      for (const c of cached) assert.ok(images.has(c), `cached image ${c} on [${ds}] is an image Glance knows`);
    }
  });
});

describe('vsphere faults: sessions and refused specs', vcsimTestOptions(), () => {
  let r: Rig;
  // No model VMs: their NICs on the switch would keep its hosts from leaving it. Three clusters,
  // three compute nodes: a failed build is tried on each (Nova's [scheduler]max_attempts = 3).
  before(async () => { r = await rig(await startVcsim({ args: ['-vm', '0', '-cluster', '3'] })); });
  after(async () => { await unrig(r); });

  /** The VM's power state as govc reads it (its own session, untouched by the test). */
  async function power(id: string): Promise<string> {
    assert.ok((await vms(r.check)).some((v) => v.uuid === id && v.inFolder), `VM ${id} is in Vistack's folder`);
    return (await r.sim.govc('object.collect', '-s', `/DC0/vm/vistack/${id}`, 'runtime.powerState')).trim();
  }

  async function act(id: string, body: unknown) {
    const a = await r.admin.json('POST', `/compute/v2.1/servers/${id}/action`, body);
    assert.equal(a.status, 202, JSON.stringify(a.body));
    await settle(r, 60_000);
  }

  it('carries on after its vCenter sessions are removed', async () => {
    const c = await boot(r, 'session');
    assert.equal(c.status, 202, JSON.stringify(c.body));
    const id = c.body.server.id;
    await settle(r);
    assert.equal((await show(r, id)).body.server.status, 'ACTIVE');
    assert.equal(await power(id), 'poweredOn');

    type S = { Key: string; UserAgent: string };
    const list = async () => (JSON.parse(await r.sim.govc('session.ls', '-json')) as { SessionList: S[]; CurrentSession: S });
    const l = await list();
    const theirs = l.SessionList.filter((s) => s.Key !== l.CurrentSession.Key && !s.UserAgent.startsWith('govc'));
    assert.ok(theirs.length >= 1, 'the cloud (and our checker) hold sessions');
    for (const s of theirs) await r.sim.govc('session.rm', s.Key);
    const gone = new Set(theirs.map((s) => s.Key));
    assert.ok(!(await list()).SessionList.some((s) => gone.has(s.Key)), 'the sessions are removed');

    await act(id, { 'os-stop': null });
    let s = (await show(r, id)).body.server;
    assert.equal(s.status, 'SHUTOFF', JSON.stringify(s.fault ?? null));
    assert.equal(await power(id), 'poweredOff');
    await act(id, { 'os-start': null });
    s = (await show(r, id)).body.server;
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault ?? null));
    assert.equal(await power(id), 'poweredOn');
    // The cloud logged in again: a new session, none of the removed ones.
    const now = (await list()).SessionList.filter((x) => !x.UserAgent.startsWith('govc'));
    assert.ok(now.some((x) => !gone.has(x.Key)), 'a new session exists');

    assert.equal((await r.admin.request('DELETE', `/compute/v2.1/servers/${id}`)).status, 204);
    await settle(r);
    assert.ok(!(await vms(r.check)).some((v) => v.uuid === id));
  });

  it('puts a server in ERROR when the vCenter refuses its NIC, and leaves no VM or folder', async () => {
    const net = await r.admin.json('POST', '/networking/v2.0/networks', { network: { name: 'refused' } });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    const netId = net.body.network.id;
    const sub = await r.admin.json('POST', '/networking/v2.0/subnets', { subnet: { network_id: netId, cidr: '10.77.0.0/24', ip_version: 4 } });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    await settle(r, 60_000); // the network's port group is made by a task

    const c = r.check;
    const [dvs] = (await listObjects<{ name: string; 'summary.hostMember': MoRef[]; 'config.configVersion': string; portgroup: MoRef[] }>(
      c, c.content.rootFolder, 'DistributedVirtualSwitch', ['name', 'summary.hostMember', 'config.configVersion', 'portgroup'])).filter((d) => d.props.name === 'DVS0');
    assert.ok(dvs, 'DVS0 exists');
    const pgs = await listObjects<{ name: string; 'config.distributedVirtualSwitch': MoRef }>(c, c.content.rootFolder, 'DistributedVirtualPortgroup', ['name', 'config.distributedVirtualSwitch']);
    const pg = pgs.find((p) => p.props.name === `vistack-net-${netId}`);
    assert.ok(pg, 'the network has its port group');
    assert.equal(pg.props['config.distributedVirtualSwitch']?.value, dvs.ref.value);
    const clusters = await listObjects<{ host: MoRef[] }>(c, c.content.rootFolder, 'ClusterComputeResource', ['host']);
    assert.equal(clusters.length, 3);
    const hosts = clusters.flatMap((cl) => asArray(cl.props.host));
    const members = asArray(dvs.props['summary.hostMember']).map((h) => h.value);
    for (const h of hosts) assert.ok(members.includes(h.value), `host ${h.value} joined DVS0`);

    // The clusters' hosts leave the switch behind Vistack's back.
    await c.runTask('ReconfigureDvs_Task', dvs.ref, {
      spec: { _type: 'DVSConfigSpec', configVersion: dvs.props['config.configVersion'], host: hosts.map((host) => ({ operation: 'remove', host })) },
    });
    const left = asArray((await get<{ 'summary.hostMember': MoRef[] }>(c, dvs.ref, ['summary.hostMember']))?.['summary.hostMember']).map((h) => h.value);
    for (const h of hosts) assert.ok(!left.includes(h.value), `host ${h.value} left DVS0`);

    const b = await boot(r, 'refused-nic', [{ uuid: netId }]);
    assert.equal(b.status, 202, JSON.stringify(b.body));
    const id = b.body.server.id;
    await settle(r);
    const s = (await show(r, id)).body.server;
    assert.equal(s.status, 'ERROR');
    // Tried on each node, then Nova's MaxRetriesExceeded, carrying the last failure: the vCenter's.
    assert.match(String(s.fault?.message), /Exceeded max scheduling attempts 3 .*Last exception: .*InvalidArgument/, `the fault names the vCenter's fault: ${JSON.stringify(s.fault)}`);
    // Each attempt is an event whose traceback (shown to admins) names the vCenter's fault.
    const actions = await r.admin.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions`);
    const create = actions.body.instanceActions.find((a: any) => a.action === 'create');
    const detail = await r.admin.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${create.request_id}`, undefined, MV);
    const builds = detail.body.instanceAction.events.filter((e: any) => e.event === 'compute__do_build_and_run_instance');
    assert.equal(builds.length, 3, JSON.stringify(detail.body));
    for (const e of builds) {
      assert.equal(e.result, 'Error');
      assert.match(String(e.traceback), /CreateVM_Task .*InvalidArgument/);
    }
    assert.equal(new Set(builds.map((e: any) => e.host)).size, 3, 'one attempt per node');
    assert.ok(!(await vms(r.check)).some((v) => v.uuid === id || v.name === id), 'no VM is left for it');
    for (const [ds, entries] of await dsEntries(r)) assert.ok(!entries.includes(id), `no instance folder on [${ds}]`);
    // Its port is given back.
    const ports = await r.admin.json('GET', `/networking/v2.0/ports?device_id=${id}`);
    assert.deepEqual(ports.body.ports, []);
    await assertNothingUnknown(r, new Set((await servers(r)).map((x) => x.id)));
  });
});
