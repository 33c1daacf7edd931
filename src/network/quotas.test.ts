// Neutron quotas through HTTP: defaults, updates by admins only, usage details (also with the
// .json suffix clients use), enforcement with OverQuota, and reset to the defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, makeNetwork, assertNeutronError } from './test_helpers.ts';

const env = networkTestEnv();

test('update, show, enforce and reset a project\'s quotas', async () => {
  const p = env.altProject;
  const defaults = (await env.admin.json('GET', `${N}/quotas/${p}/default`)).body.quota;
  assert.equal(defaults.network, 100);
  assert.equal(defaults.port, 500);
  assert.deepEqual((await env.admin.json('GET', `${N}/quotas/${p}`)).body.quota, defaults, 'a project without overrides has the defaults');

  assertNeutronError(await env.alt.json('PUT', `${N}/quotas/${p}`, { quota: { network: 50 } }), 403);
  assertNeutronError(await env.admin.json('PUT', `${N}/quotas/${p}`, { quota: { network: 'many' } }), 400);
  assertNeutronError(await env.admin.json('PUT', `${N}/quotas/${p}`, { quota: { gadgets: 3 } }), 400);
  const upd = await env.admin.json('PUT', `${N}/quotas/${p}`, { quota: { network: 1, port: 0 } });
  assert.equal(upd.status, 200);
  assert.equal(upd.body.quota.network, 1);
  assert.ok((await env.admin.json('GET', `${N}/quotas`)).body.quotas.some((q: any) => q.project_id === p), 'listed among projects with overrides');

  await makeNetwork(env.alt, { name: 'the-only-one' });
  assertNeutronError(await env.alt.json('POST', `${N}/networks`, { network: { name: 'one-too-many' } }), 409, 'OverQuota');
  const details = await env.alt.json('GET', `${N}/quotas/${p}/details.json`);
  assert.equal(details.status, 200);
  assert.deepEqual(details.body.quota.network, { limit: 1, used: 1, reserved: 0 });
  assert.deepEqual((await env.alt.json('GET', `${N}/quotas/${p}/details`)).body, details.body);

  assert.equal((await env.admin.request('DELETE', `${N}/quotas/${p}`)).status, 204);
  assert.deepEqual((await env.admin.json('GET', `${N}/quotas/${p}`)).body.quota, defaults);
  assert.ok(!(await env.admin.json('GET', `${N}/quotas`)).body.quotas.some((q: any) => q.project_id === p));
  await makeNetwork(env.alt, { name: 'allowed-again' });
});

test('no agents run in this cloud: the list is empty, an agent is not found', async () => {
  assert.deepEqual((await env.demo.json('GET', `${N}/agents`)).body, { agents: [] });
  assertNeutronError(await env.admin.json('GET', `${N}/agents/0b6a6a8e-0000-4000-8000-000000000000`), 404, 'AgentNotFound');
});
