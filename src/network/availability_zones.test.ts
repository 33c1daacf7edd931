// Availability zones through HTTP: the zone list (one zone, "nova", for networks and routers),
// its filters and fields, the extensions that announce it, and network availability_zone_hints
// checked against it (unknown zone → 404 AvailabilityZoneNotFound, bad shapes → 400, nothing written).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, makeNetwork, assertNeutronError } from './test_helpers.ts';

const env = networkTestEnv();

test('GET /availability_zones: zone nova for networks and routers, available, for members too', async () => {
  for (const s of [env.admin, env.demo]) {
    const r = await s.json('GET', `${N}/availability_zones`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.availability_zones, [
      { name: 'nova', resource: 'network', state: 'available' },
      { name: 'nova', resource: 'router', state: 'available' },
    ]);
  }
  const ext = (await env.demo.json('GET', `${N}/extensions`)).body.extensions.map((x: any) => x.alias);
  for (const alias of ['availability_zone', 'network_availability_zone']) assert.ok(ext.includes(alias), alias);
  const root = (await env.demo.json('GET', `${N}/`)).body.resources.map((r: any) => r.collection);
  assert.ok(root.includes('availability_zones'));
  const noAuth = await fetch(`${env.cloud.url}${N}/availability_zones`);
  assert.equal(noAuth.status, 401);
});

test('filters and fields', async () => {
  const q = async (query: string) => (await env.demo.json('GET', `${N}/availability_zones?${query}`)).body.availability_zones;
  assert.deepEqual(await q('resource=network'), [{ name: 'nova', resource: 'network', state: 'available' }]);
  assert.deepEqual(await q('resource=router&state=available'), [{ name: 'nova', resource: 'router', state: 'available' }]);
  assert.deepEqual(await q('resource=network&resource=router'), await q(''));
  assert.deepEqual(await q('name=elsewhere'), []);
  assert.deepEqual(await q('state=unavailable'), []);
  assert.deepEqual(await q('resource=network&fields=name'), [{ name: 'nova' }]);
  assert.deepEqual(await q('fields=resource&fields=state'), [{ resource: 'network', state: 'available' }, { resource: 'router', state: 'available' }]);
  // An attribute zones do not have filters nothing, as Neutron without filter validation.
  assert.equal((await q('color=red')).length, 2);
});

test('network availability_zone_hints: known zones accepted, unknown 404, bad shapes 400, read-only after create', async () => {
  const n = await makeNetwork(env.demo, { name: 'hinted', availability_zone_hints: ['nova'] });
  assert.deepEqual(n.availability_zone_hints, ['nova']);
  assert.deepEqual(n.availability_zones, ['nova']);
  const before = (await env.demo.json('GET', `${N}/networks`)).body.networks.length;
  assertNeutronError(await env.demo.json('POST', `${N}/networks`, { network: { name: 'x', availability_zone_hints: ['mars'] } }), 404, 'AvailabilityZoneNotFound');
  assertNeutronError(await env.demo.json('POST', `${N}/networks`, { network: { name: 'x', availability_zone_hints: 'nova' } }), 400);
  assert.equal((await env.demo.json('GET', `${N}/networks`)).body.networks.length, before, 'nothing was written');
  assertNeutronError(await env.demo.json('PUT', `${N}/networks/${n.id}`, { network: { availability_zone_hints: ['nova'] } }), 400);
});
