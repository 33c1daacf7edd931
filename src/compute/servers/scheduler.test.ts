// Scheduling through the API: capacity (NoValidHost → ERROR with Nova's fault), server group
// policies, host hints and requested destinations, rescheduling after a spawn failure, and the
// instance quota under concurrent creates.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SimulatorDriver } from '../../drivers/simulator/index.ts';
import { bootServer, createServer, mvh, raiseQuota, setup, show, type Env } from './test_helpers.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

const hostOf = async (id: string) => (await show(env.admin, id)).body.server['OS-EXT-SRV-ATTR:host'];
const cleanup = async () => {
  const l = await env.admin.json('GET', '/compute/v2.1/servers?all_tenants=1');
  for (const s of l.body.servers) await env.admin.request('DELETE', `/compute/v2.1/servers/${s.id}`);
  await env.cloud.ctx.tasks.idle();
};

describe('placement', () => {
  it('puts a server nowhere when no node has room: ERROR with a NoValidHost fault', async () => {
    const adminProject = env.admin.body.token.project.id;
    await env.admin.json('PUT', `/compute/v2.1/os-quota-sets/${adminProject}`, { quota_set: { cores: -1, ram: -1 } });
    const f = await env.admin.json('POST', '/compute/v2.1/flavors', { flavor: { name: 'huge', ram: 512, vcpus: 5000, disk: 1, id: 'huge' } });
    assert.equal(f.status, 200, JSON.stringify(f.body));
    const id = await bootServer(env, env.admin, { name: 'too-big', flavorRef: 'huge' });
    const s = (await show(env.admin, id)).body.server;
    assert.equal(s.status, 'ERROR');
    assert.equal(s.fault.code, 500);
    assert.equal(s.fault.message, 'No valid host was found. There are not enough hosts available.');
    assert.ok(s.fault.details, 'admins see the details');
    assert.equal(s['OS-EXT-SRV-ATTR:host'], null);
    const ia = await env.admin.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions`);
    const detail = await env.admin.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${ia.body.instanceActions[0].request_id}`);
    assert.equal(detail.body.instanceAction.message, 'Error');
    assert.equal(detail.body.instanceAction.events[0].result, 'Error');
    await cleanup();
  });

  it('honours anti-affinity (two clusters: the third member fails) and affinity', async () => {
    const g = await env.demo.json('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'anti', policy: 'anti-affinity' } }, mvh('2.64'));
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const anti = [];
    for (let k = 0; k < 3; k++) {
      const r = await createServer(env, env.demo, { name: `anti-${k}` }, {}, { 'os:scheduler_hints': { group: g.body.server_group.id } });
      assert.equal(r.status, 202);
      await env.cloud.ctx.tasks.idle();
      anti.push(r.body.server.id);
    }
    const states = await Promise.all(anti.map(async (id) => (await show(env.admin, id)).body.server));
    assert.deepEqual(states.map((s) => s.status), ['ACTIVE', 'ACTIVE', 'ERROR']);
    assert.notEqual(states[0]['OS-EXT-SRV-ATTR:host'], states[1]['OS-EXT-SRV-ATTR:host']);
    assert.deepEqual(states[0].server_groups, [g.body.server_group.id]);

    const a = await env.demo.json('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'aff', policy: 'affinity' } }, mvh('2.64'));
    const r = await createServer(env, env.demo, { name: 'aff', min_count: 3 }, {}, { 'os:scheduler_hints': { group: a.body.server_group.id } });
    assert.equal(r.status, 202);
    await env.cloud.ctx.tasks.idle();
    const members = (await env.demo.json('GET', `/compute/v2.1/os-server-groups/${a.body.server_group.id}`)).body.server_group.members;
    assert.equal(members.length, 3);
    const hosts = new Set(await Promise.all(members.map(hostOf)));
    assert.equal(hosts.size, 1);
    await cleanup();
  });

  it('places with same_host / different_host hints', async () => {
    const first = await bootServer(env, env.demo, { name: 'h1' });
    const h1 = await hostOf(first);
    const same = (await createServer(env, env.demo, { name: 'h2' }, {}, { 'os:scheduler_hints': { same_host: first } })).body.server.id;
    const diff = (await createServer(env, env.demo, { name: 'h3' }, {}, { 'os:scheduler_hints': { different_host: [first] } })).body.server.id;
    await env.cloud.ctx.tasks.idle();
    assert.equal(await hostOf(same), h1);
    assert.notEqual(await hostOf(diff), h1);
    await cleanup();
  });

  it('takes a requested host (2.74, admin) or a forced one (az:host)', async () => {
    const nodes = await env.cloud.ctx.driver.listNodes();
    const target = nodes[nodes.length - 1].host;
    const r = await createServer(env, env.admin, { name: 'req', host: target, networks: 'none' }, mvh('2.74'));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const f = await createServer(env, env.admin, { name: 'forced', availability_zone: `nova:${target}` });
    assert.equal(f.status, 202, JSON.stringify(f.body));
    await env.cloud.ctx.tasks.idle();
    assert.equal(await hostOf(r.body.server.id), target);
    assert.equal(await hostOf(f.body.server.id), target);
    assert.equal((await createServer(env, env.admin, { name: 'req', host: 'nohost', networks: 'none' }, mvh('2.74'))).status, 400);
    assert.equal((await createServer(env, env.demo, { name: 'req', host: target, networks: 'none' }, mvh('2.74'))).status, 403);
    assert.equal((await createServer(env, env.demo, { name: 'forced', availability_zone: `nova:${target}` })).status, 403);
    assert.equal((await createServer(env, env.admin, { name: 'req', host: target, networks: 'none' }, mvh('2.73'))).status, 400, 'host needs 2.74');
    await cleanup();
  });

  it('reschedules a failed spawn to another node, then gives up after the last one', async () => {
    const sim = env.cloud.ctx.driver as SimulatorDriver;
    sim.injectFault({ method: 'CreateVM_Task', count: 1, fault: 'InsufficientResourcesFault', message: 'no room on this cluster' });
    const id = await bootServer(env, env.demo, { name: 'resched' });
    assert.equal((await show(env.demo, id)).body.server.status, 'ACTIVE');
    sim.injectFault({ method: 'CreateVM_Task', count: 10, fault: 'InsufficientResourcesFault', message: 'no room anywhere' });
    const bad = await bootServer(env, env.demo, { name: 'resched-fail' });
    const s = (await show(env.demo, bad)).body.server;
    sim.clearFaults();
    assert.equal(s.status, 'ERROR');
    assert.match(s.fault.message, /^Exceeded maximum number of retries/);
    assert.equal(s.fault.details, undefined, 'no details for non-admins on a 500 fault');
    assert.ok(!(await env.cloud.ctx.driver.listInstances()).includes(bad));
    await cleanup();
  });
});

describe('quota', () => {
  it('lets exactly 10 of 20 concurrent creates through at a limit of 10', async () => {
    await raiseQuota(env, 10);
    const results = await Promise.all(Array.from({ length: 20 }, (_, k) => createServer(env, env.demo, { name: `race-${k}` })));
    const codes = results.map((r) => r.status);
    assert.equal(codes.filter((c) => c === 202).length, 10, codes.join(','));
    assert.equal(codes.filter((c) => c === 403).length, 10);
    for (const r of results.filter((x) => x.status === 403)) assert.match(r.body.forbidden.message, /^Quota exceeded for instances/);
    await env.cloud.ctx.tasks.idle();
    const n = await env.cloud.ctx.db.get(`SELECT COUNT(*) AS n FROM instances WHERE deleted = 0 AND display_name LIKE 'race-%'`);
    assert.equal(Number(n!.n), 10);
    assert.equal((await createServer(env, env.demo, { name: 'over', min_count: 2 })).status, 403);
    await cleanup();
    const multi = await createServer(env, env.demo, { name: 'minmax', min_count: 2, max_count: 30 });
    assert.equal(multi.status, 202, 'max_count is cut to what the quota allows');
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.demo.json('GET', '/compute/v2.1/servers?name=^minmax')).body.servers.length, 10);
    await cleanup();
  });
});
