// The simulator's admin API over real HTTP: admins see the simulated vCenter's state and
// inject faults; other users and anonymous callers are refused; bad input gets a 400.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, type TestCloud, type Session } from '../../testing.ts';
import type { SimulatorDriver } from './index.ts';
import { VirtDriverError } from '../../core/virt.ts';

let cloud: TestCloud;
let admin: Session;
let driver: SimulatorDriver;

before(async () => {
  cloud = await startTestCloud();
  admin = await login(cloud, 'admin');
  driver = cloud.ctx.driver as SimulatorDriver;
});
after(async () => { await cloud?.close(); });

const flavor = { id: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 512, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} };

test('GET /simulator/inventory shows the inventory and the VMs the driver made', async () => {
  const [node] = await driver.listNodes();
  const uuid = '22222222-0000-4000-8000-000000000001';
  await driver.spawn({ uuid, name: 'admin-api-vm', hostname: 'admin-api-vm', projectId: 'p', userId: 'u', nodename: node.nodename, flavor, metadata: {} }, null);
  const r = await admin.json('GET', '/simulator/inventory');
  assert.equal(r.status, 200);
  assert.equal(r.body.about.instanceUuid, driver.vcenter.uuid);
  const dc = r.body.datacenters[0];
  assert.equal(dc.clusters.length, 2);
  assert.ok(dc.clusters.some((c: any) => c.nodename === node.nodename));
  assert.ok(dc.datastores.every((d: any) => d.capacityBytes > 0 && d.freeSpace <= d.capacityBytes));
  const vm = r.body.vms.find((v: any) => v.name === uuid);
  assert.equal(vm.powerState, 'poweredOn');
  assert.equal(vm.displayName, 'admin-api-vm');
  assert.match(vm.disks[0].fileName, new RegExp(`^\\[[^\\]]+\\] ${uuid}/${uuid}\\.vmdk$`));

  const one = await admin.json('GET', `/simulator/vms/${uuid}`);
  assert.equal(one.status, 200);
  assert.equal(one.body.vm.moref, vm.moref);
  assert.equal((await admin.json('GET', `/simulator/vms/${vm.moref}`)).body.vm.name, uuid);
  const missing = await admin.json('GET', '/simulator/vms/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 404);
  const con = await admin.request('GET', `/simulator/vms/${uuid}/console`);
  assert.match(await con.text(), /admin-api-vm login:/);

  const tasks = await admin.json('GET', `/simulator/tasks?entity=${uuid}`);
  assert.deepEqual(tasks.body.tasks.map((t: any) => t.name), ['PowerOnVM_Task', 'CreateVM_Task']);
  assert.ok(tasks.body.tasks.every((t: any) => /^task-\d+$/.test(t.moref) && t.state === 'success'));
  assert.equal((await admin.json('GET', '/simulator/tasks?limit=0')).status, 400);
  assert.equal((await admin.json('GET', '/simulator/tasks?color=red')).status, 400);
});

test('faults: create, list, take effect, delete', async () => {
  const [node] = await driver.listNodes();
  const c = await admin.json('POST', '/simulator/faults', { fault: { method: 'CreateVM_Task', fault: 'InsufficientResourcesFault', count: 1 } });
  assert.equal(c.status, 201);
  assert.equal(c.body.fault.remaining, 1);
  const list = await admin.json('GET', '/simulator/faults');
  assert.deepEqual(list.body.faults.map((f: any) => f.id), [c.body.fault.id]);
  const uuid = '22222222-0000-4000-8000-000000000002';
  const s = { uuid, name: 'f', hostname: 'f', projectId: 'p', userId: 'u', nodename: node.nodename, flavor, metadata: {} };
  await assert.rejects(driver.spawn(s, null), (e: any) => e instanceof VirtDriverError && e.fault === 'InsufficientResourcesFault');
  const err = await admin.json('GET', `/simulator/tasks?entity=${uuid}&state=error`);
  assert.equal(err.body.tasks[0].error.fault, 'InsufficientResourcesFault');
  assert.equal((await admin.request('DELETE', `/simulator/faults/${c.body.fault.id}`)).status, 204);
  assert.equal((await admin.request('DELETE', `/simulator/faults/${c.body.fault.id}`)).status, 404);
  await admin.json('POST', '/simulator/faults', { fault: { method: '*', action: 'latency', latencyMs: 1 } });
  assert.equal((await admin.request('DELETE', '/simulator/faults')).status, 204);
  assert.deepEqual((await admin.json('GET', '/simulator/faults')).body.faults, []);

  for (const bad of [{}, { fault: { action: 'boom' } }, { fault: { method: 'CreateVM_Task', extra: 1 } }, { fault: { count: -1 } }, { fault: 'x' }, [1]]) {
    const r = await admin.json('POST', '/simulator/faults', bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.body.error.code, 400);
  }
  const malformed = await admin.request('POST', '/simulator/faults', '{"fault":', { 'content-type': 'application/json' });
  assert.equal(malformed.status, 400);

  const cfg = await admin.json('PUT', '/simulator/config', { config: { latencyMs: 0 } });
  assert.deepEqual(cfg.body, { config: { latencyMs: 0 } });
  assert.equal((await admin.json('PUT', '/simulator/config', { config: { latencyMs: 'slow' } })).status, 400);
});

test('only admins may use the simulator API', async () => {
  const anon = await fetch(`${cloud.url}/simulator/inventory`);
  assert.equal(anon.status, 401);
  assert.equal((await anon.json()).error.code, 401);
  const demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  const r = await demo.json('GET', '/simulator/inventory');
  assert.equal(r.status, 403);
  assert.equal(r.body.error.code, 403);
  assert.equal((await demo.json('POST', '/simulator/faults', { fault: { method: 'CreateVM_Task' } })).status, 403);
});
