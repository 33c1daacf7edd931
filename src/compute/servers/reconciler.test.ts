// The reconciler: orphan VMs, power-state sync, transitions left without their task, and the
// time-based ones (soft-delete reclaim).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { reconcilerOf } from './index.ts';
import { act, bootServer, createServer, setup, show, statusOf, type Env } from './test_helpers.ts';

let env: Env;
const tick = () => reconcilerOf(env.cloud.ctx).tick();

// Each suite has its own cloud, closed before the next starts: on PostgreSQL they share one
// database, and a second open cloud's workers would take the first one's tasks.
describe('reconciler', () => {
  // A long interval: the test drives the passes itself.
  before(async () => { env = await setup({ reconcileIntervalMs: 3_600_000 }); });
  after(async () => { await env?.cloud.close(); });

  it('destroys VMs that belong to no live server', async () => {
    const d = env.cloud.ctx.driver;
    const [node] = await d.listNodes();
    const orphan = randomUUID();
    await d.spawn({
      uuid: orphan, name: 'orphan', hostname: 'orphan', projectId: 'p', userId: 'u', nodename: node.nodename,
      flavor: { id: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 512, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} }, metadata: {},
    }, null);
    const keep = await bootServer(env, env.demo, { name: 'keep' });
    assert.ok((await d.listInstances()).includes(orphan));
    await tick();
    const left = await d.listInstances();
    assert.ok(!left.includes(orphan), 'the orphan is destroyed');
    assert.ok(left.includes(keep), 'live servers keep their VM');
  });

  it('syncs power states: off outside Vistack → SHUTOFF; a stopped server found running is stopped again', async () => {
    const id = await bootServer(env, env.demo, { name: 'sync' });
    await env.cloud.ctx.driver.powerOff(id);
    await tick();
    const s = (await show(env.admin, id)).body.server;
    assert.equal(s.status, 'SHUTOFF');
    assert.equal(s['OS-EXT-STS:power_state'], 4);
    await env.cloud.ctx.driver.powerOn(id);
    await tick();
    await env.cloud.ctx.tasks.idle();
    assert.equal(await statusOf(env.demo, id), 'SHUTOFF');
    assert.equal((await env.cloud.ctx.driver.getInfo(id))!.powerState, 4);
  });

  it('reports a VM that vanished from the backend (NOSTATE and a fault) and leaves the server as it was', async () => {
    const id = await bootServer(env, env.demo, { name: 'vanished' });
    const sim = env.cloud.ctx.driver as unknown as { vcenter: { vm(n: string): unknown; commitVm(a: null, vm: unknown): void } };
    sim.vcenter.commitVm(null, sim.vcenter.vm(id)); // removed behind Vistack's back
    await tick();
    const s = (await show(env.admin, id)).body.server;
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s['OS-EXT-STS:power_state'], 0);
    // Nova shows a fault only on ERROR servers: it is recorded for the operator.
    const faults = await env.cloud.ctx.db.all('SELECT message FROM instance_faults WHERE instance_uuid = ?', [id]);
    assert.equal(faults.length, 1);
    assert.match(faults[0].message, /not found on the hypervisor/);
    await tick();
    assert.equal((await env.cloud.ctx.db.all('SELECT 1 FROM instance_faults WHERE instance_uuid = ?', [id])).length, 1, 'reported once');
  });

  it('puts a server left building without a task in ERROR, and clears other orphaned task states', async () => {
    const { ctx } = env.cloud;
    await ctx.tasks.stop();
    try {
      const r = await createServer(env, env.demo, { name: 'lost-build' });
      assert.equal(r.status, 202);
      await ctx.db.run(`DELETE FROM tasks WHERE resource_id = ?`, [r.body.server.id]);
      await tick();
      const s = (await show(env.admin, r.body.server.id)).body.server;
      assert.equal(s.status, 'ERROR');
      assert.ok(s.fault.message);
    } finally {
      await ctx.tasks.start();
      await ctx.tasks.idle();
    }
    // An action whose task vanished: the task_state is cleared, the server usable again.
    const id = await bootServer(env, env.demo, { name: 'lost-action' });
    await ctx.db.run(`UPDATE instances SET task_state = 'powering-off' WHERE uuid = ?`, [id]);
    await tick();
    const s = (await show(env.admin, id)).body.server;
    assert.equal(s['OS-EXT-STS:task_state'], null);
    assert.equal(s.status, 'ACTIVE');
  });

  it('does not touch a server whose task is only waiting', async () => {
    const { ctx } = env.cloud;
    await ctx.tasks.stop();
    let id = '';
    try {
      id = (await createServer(env, env.demo, { name: 'waiting' })).body.server.id;
      await tick();
      assert.equal((await show(env.admin, id)).body.server.status, 'BUILD');
    } finally {
      await ctx.tasks.start();
      await ctx.tasks.idle();
    }
    assert.equal(await statusOf(env.demo, id), 'ACTIVE');
  });
});

describe('soft delete (reclaim_instance_interval > 0)', () => {
  let soft: Env;
  before(async () => { soft = await setup({ reclaimInstanceInterval: 1, reconcileIntervalMs: 3_600_000 }); });
  after(async () => { await soft?.cloud.close(); });

  it('soft-deletes, restores, and reclaims after the interval', async () => {
    const id = await bootServer(soft, soft.demo, { name: 'soft' });
    assert.equal((await soft.demo.request('DELETE', `/compute/v2.1/servers/${id}`)).status, 204);
    await soft.cloud.ctx.tasks.idle();
    assert.equal((await show(soft.demo, id)).status, 200);
    assert.equal(await statusOf(soft.demo, id), 'SOFT_DELETED');
    assert.equal((await soft.cloud.ctx.driver.getInfo(id))!.powerState, 4);
    const listed = await soft.demo.json('GET', '/compute/v2.1/servers');
    assert.ok(!listed.body.servers.some((s: any) => s.id === id), 'soft-deleted servers are not listed');
    assert.equal((await act(soft, soft.demo, id, { restore: null })).status, 202);
    assert.equal(await statusOf(soft.demo, id), 'ACTIVE');
    assert.equal((await soft.demo.request('DELETE', `/compute/v2.1/servers/${id}`)).status, 204);
    await soft.cloud.ctx.tasks.idle();
    await new Promise((r) => setTimeout(r, 1100));
    await reconcilerOf(soft.cloud.ctx).tick();
    await soft.cloud.ctx.tasks.idle();
    assert.equal((await show(soft.demo, id)).status, 404);
    assert.ok(!(await soft.cloud.ctx.driver.listInstances()).includes(id));
  });

  it('force-deletes a soft-deleted server at once', async () => {
    const id = await bootServer(soft, soft.demo, { name: 'force' });
    await soft.demo.request('DELETE', `/compute/v2.1/servers/${id}`);
    await soft.cloud.ctx.tasks.idle();
    assert.equal((await act(soft, soft.demo, id, { forceDelete: null })).status, 202);
    assert.equal((await show(soft.demo, id)).status, 404);
  });
});
