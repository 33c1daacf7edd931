// Heat's in-process client: it acts as the stack's owner on each service's public API, with that
// user's roles on that project — no more.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, type TestCloud } from '../testing.ts';
import { createClient } from './client.ts';
import { ClientError } from './types.ts';

let cloud: TestCloud;
let demo: { userId: string; projectId: string };
before(async () => {
  cloud = await startTestCloud();
  const s = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  demo = { userId: s.body.token.user.id, projectId: s.body.token.project.id };
});
after(() => cloud.close());

test('calls every service as the owner, in the owner\'s project', async () => {
  const c = createClient(cloud.ctx, demo);
  const net = await c.request('network', 'POST', '/networks', { network: { name: 'heat-client-net' } });
  assert.equal(net.status, 201);
  assert.equal(net.body.network.project_id, demo.projectId);
  assert.equal((await c.request('compute', 'GET', '/flavors')).status, 200);
  const vol = await c.request('volume', 'GET', '/volumes');
  assert.deepEqual(vol.body.volumes, []);
  const me = await c.request('identity', 'GET', `/users/${demo.userId}`);
  assert.equal(me.body.user.name, 'demo');
  assert.equal((await c.request('image', 'GET', '/images')).status, 200);
  await c.request('network', 'DELETE', `/networks/${net.body.network.id}`);
});

test('a non-2xx answer throws a ClientError carrying the service\'s message; find() answers null for 404', async () => {
  const c = createClient(cloud.ctx, demo);
  assert.equal(await c.find('network', '/networks/00000000-0000-0000-0000-000000000000'), null);
  await assert.rejects(c.request('compute', 'POST', '/flavors', { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0 } }), (e: unknown) => {
    assert.ok(e instanceof ClientError);
    assert.equal(e.status, 403);
    assert.match(e.message, /compute POST \/flavors: 403/);
    return true;
  });
});

test('microversions are sent in the service\'s header', async () => {
  const c = createClient(cloud.ctx, demo);
  const r = await c.request('compute', 'GET', '/servers', undefined, { microversion: '2.60' });
  assert.equal(r.headers['openstack-api-version'], 'compute 2.60');
});

test('an owner without a role on the project cannot act there', async () => {
  const admin = await login(cloud);
  const c = createClient(cloud.ctx, { userId: demo.userId, projectId: admin.body.token.project.id });
  await assert.rejects(c.request('network', 'GET', '/networks'), (e: unknown) => e instanceof ClientError && e.status === 401);
});
