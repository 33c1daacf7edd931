// Flavors through HTTP as admin and as the demo member: listing/paging/filters, create
// validation, private flavor access, extra specs, description (2.55), delete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeTestEnv, V } from './test_helpers.ts';

const env = computeTestEnv();



test('DevStack flavors are seeded and listed in Nova format', async () => {
  const r = await env.demo.json('GET', '/compute/v2.1/flavors');
  assert.equal(r.status, 200);
  const ids = r.body.flavors.map((f: any) => f.id);
  for (const id of ['1', '2', '3', '4', '5', '42', '84']) assert.ok(ids.includes(id), id);
  // Sorted by flavorid as a string, like Nova's database.
  assert.deepEqual(ids, [...ids].sort());
  const tiny = r.body.flavors.find((f: any) => f.id === '1');
  assert.deepEqual(Object.keys(tiny).sort(), ['id', 'links', 'name']);
  assert.match(tiny.links[0].href, /\/compute\/v2\.1\/flavors\/1$/);
  assert.match(tiny.links[1].href, /\/compute\/flavors\/1$/);

  const d = await env.demo.json('GET', '/compute/v2.1/flavors/detail');
  const t = d.body.flavors.find((f: any) => f.id === '1');
  assert.equal(t.ram, 512); assert.equal(t.vcpus, 1); assert.equal(t.disk, 1);
  assert.equal(t.swap, ''); assert.equal(t['OS-FLV-DISABLED:disabled'], false);
  assert.equal(t['os-flavor-access:is_public'], true);
  assert.equal(t.rxtx_factor, 1);
  assert.equal('description' in t, false);

  const d75 = await env.demo.json('GET', '/compute/v2.1/flavors/1', undefined, V('2.75'));
  assert.equal(d75.body.flavor.swap, 0);
  assert.equal(d75.body.flavor.description, null);
  assert.deepEqual(d75.body.flavor.extra_specs, {});
  const nano = await env.demo.json('GET', '/compute/v2.1/flavors/42', undefined, V('2.61'));
  assert.deepEqual(nano.body.flavor.extra_specs, { 'hw_rng:allowed': 'True' });
});

test('paging with limit/marker, filters and sorting', async () => {
  const p1 = await env.admin.json('GET', '/compute/v2.1/flavors?limit=2');
  assert.equal(p1.body.flavors.length, 2);
  const next = p1.body.flavors_links[0];
  assert.equal(next.rel, 'next');
  assert.match(next.href, /limit=2/);
  assert.match(next.href, new RegExp(`marker=${p1.body.flavors[1].id}`));
  const p2 = await env.admin.json('GET', next.href.replace(env.cloud.url, ''));
  assert.equal(p2.status, 200);
  assert.notEqual(p2.body.flavors[0].id, p1.body.flavors[1].id);
  assert.ok(p2.body.flavors[0].id > p1.body.flavors[1].id);

  const bad = await env.admin.json('GET', '/compute/v2.1/flavors?marker=nope');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.badRequest.message, 'marker [nope] not found');
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?limit=-1')).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?minRam=abc')).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?sort_key=bogus')).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?sort_dir=up')).status, 400);
  // Unknown query parameters are ignored before 2.75 and rejected from 2.75.
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?foo=1')).status, 200);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?foo=1', undefined, V('2.75'))).status, 400);

  const big = await env.admin.json('GET', '/compute/v2.1/flavors/detail?minRam=4096&minDisk=40');
  assert.ok(big.body.flavors.length >= 3);
  for (const f of big.body.flavors) assert.ok(f.ram >= 4096 && f.disk >= 40);
  const byRam = await env.admin.json('GET', '/compute/v2.1/flavors/detail?sort_key=memory_mb&sort_dir=desc');
  const rams = byRam.body.flavors.map((f: any) => f.ram);
  assert.deepEqual(rams, [...rams].sort((a: number, b: number) => b - a));
});

test('only admins create, update and delete flavors', async () => {
  const body = { flavor: { name: 'member-flavor', ram: 64, vcpus: 1, disk: 0 } };
  const r = await env.demo.json('POST', '/compute/v2.1/flavors', body);
  assert.equal(r.status, 403);
  assert.match(r.body.forbidden.message, /os_compute_api:os-flavor-manage:create/);
  assert.equal((await env.demo.json('DELETE', '/compute/v2.1/flavors/1')).status, 403);
  assert.equal((await env.demo.json('PUT', '/compute/v2.1/flavors/1', { flavor: { description: 'x' } }, V('2.55'))).status, 403);
  assert.equal((await env.demo.json('POST', '/compute/v2.1/flavors/1/os-extra_specs', { extra_specs: { a: 'b' } })).status, 403);
});

test('create validates input and rejects duplicates without writing anything', async () => {
  const bad: unknown[] = [
    {},
    { flavor: {} },
    { flavor: { name: 'x', ram: 1, vcpus: 1 } },
    { flavor: { name: '', ram: 1, vcpus: 1, disk: 0 } },
    { flavor: { name: ' lead', ram: 1, vcpus: 1, disk: 0 } },
    { flavor: { name: 'x'.repeat(256), ram: 1, vcpus: 1, disk: 0 } },
    { flavor: { name: 'x', ram: 0, vcpus: 1, disk: 0 } },
    { flavor: { name: 'x', ram: -1, vcpus: 1, disk: 0 } },
    { flavor: { name: 'x', ram: 1.5, vcpus: 1, disk: 0 } },
    { flavor: { name: 'x', ram: 'abc', vcpus: 1, disk: 0 } },
    { flavor: { name: 'x', ram: 1, vcpus: 0, disk: 0 } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: -1 } },
    { flavor: { name: 'x', ram: 2147483648, vcpus: 1, disk: 0 } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, 'OS-FLV-EXT-DATA:ephemeral': -1 } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, swap: -1 } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, rxtx_factor: 0 } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, rxtx_factor: 'fast' } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, 'os-flavor-access:is_public': 'maybe' } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, id: 'bad/id' } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, id: '' } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, bogus: 1 } },
    { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0, description: 'not before 2.55' } },
  ];
  for (const b of bad) {
    const r = await env.admin.json('POST', '/compute/v2.1/flavors', b);
    assert.equal(r.status, 400, JSON.stringify(b));
    assert.equal(r.body.badRequest.code, 400);
  }
  assert.equal((await env.admin.request('POST', '/compute/v2.1/flavors', '{"flavor": ', { 'content-type': 'application/json' })).status, 400);
  const names = (await env.admin.json('GET', '/compute/v2.1/flavors?is_public=none')).body.flavors.map((f: any) => f.name);
  assert.equal(names.includes('x'), false);

  const dupName = await env.admin.json('POST', '/compute/v2.1/flavors', { flavor: { name: 'm1.tiny', ram: 1, vcpus: 1, disk: 0 } });
  assert.equal(dupName.status, 409);
  assert.equal(dupName.body.conflictingRequest.message, 'Flavor with name m1.tiny already exists.');
  const dupId = await env.admin.json('POST', '/compute/v2.1/flavors', { flavor: { name: 'other', ram: 1, vcpus: 1, disk: 0, id: 1 } });
  assert.equal(dupId.status, 409);
  assert.equal(dupId.body.conflictingRequest.message, 'Flavor with ID 1 already exists.');
});

test('create with an id, description at 2.55, update description, delete', async () => {
  const r = await env.admin.json('POST', '/compute/v2.1/flavors', {
    flavor: { name: 'custom', id: 'custom-1', ram: '256', vcpus: 2, disk: 3, 'OS-FLV-EXT-DATA:ephemeral': 1, swap: 512,
      rxtx_factor: '2.5', description: 'first' },
  }, V('2.61'));
  assert.equal(r.status, 200);
  assert.equal(r.body.flavor.id, 'custom-1');
  assert.equal(r.body.flavor.ram, 256);
  assert.equal(r.body.flavor.swap, 512);
  assert.equal(r.body.flavor.rxtx_factor, 2.5);
  assert.equal(r.body.flavor.description, 'first');
  assert.deepEqual(r.body.flavor.extra_specs, {});

  // Auto ids are uuids.
  const auto = await env.admin.json('POST', '/compute/v2.1/flavors', { flavor: { name: 'auto', ram: 64, vcpus: 1, disk: 0 } });
  assert.match(auto.body.flavor.id, /^[0-9a-f-]{36}$/);

  assert.equal((await env.admin.json('PUT', '/compute/v2.1/flavors/custom-1', { flavor: { description: 'x' } })).status, 404);
  const u = await env.admin.json('PUT', '/compute/v2.1/flavors/custom-1', { flavor: { description: 'second' } }, V('2.55'));
  assert.equal(u.status, 200);
  assert.equal(u.body.flavor.description, 'second');
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/flavors/custom-1', { flavor: { name: 'n' } }, V('2.55'))).status, 400);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/flavors/missing', { flavor: { description: 'd' } }, V('2.55'))).status, 404);
  const list = await env.admin.json('GET', '/compute/v2.1/flavors', undefined, V('2.55'));
  assert.equal(list.body.flavors.find((f: any) => f.id === 'custom-1').description, 'second');

  const del = await env.admin.request('DELETE', '/compute/v2.1/flavors/custom-1');
  assert.equal(del.status, 202);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors/custom-1')).status, 404);
  assert.equal((await env.admin.json('DELETE', '/compute/v2.1/flavors/custom-1')).status, 404);
  // The name and id are free again once deleted.
  const again = await env.admin.json('POST', '/compute/v2.1/flavors', { flavor: { name: 'custom', id: 'custom-1', ram: 1, vcpus: 1, disk: 0 } });
  assert.equal(again.status, 200);
});

test('private flavors are visible to admins and granted projects only', async () => {
  const r = await env.admin.json('POST', '/compute/v2.1/flavors', { flavor: { name: 'private', ram: 64, vcpus: 1, disk: 0, 'os-flavor-access:is_public': false } });
  const id = r.body.flavor.id;
  assert.equal((await env.demo.json('GET', `/compute/v2.1/flavors/${id}`)).status, 404);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/flavors')).body.flavors.some((f: any) => f.id === id), false);
  // Admin: default listing shows public (+ own project's) flavors; is_public=false / none show private ones.
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors')).body.flavors.some((f: any) => f.id === id), false);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?is_public=false')).body.flavors.some((f: any) => f.id === id), true);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?is_public=None')).body.flavors.some((f: any) => f.id === id), true);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors?is_public=perhaps')).status, 400);

  assert.deepEqual((await env.admin.json('GET', `/compute/v2.1/flavors/${id}/os-flavor-access`)).body, { flavor_access: [] });
  assert.equal((await env.demo.json('GET', `/compute/v2.1/flavors/${id}/os-flavor-access`)).status, 403);
  const add = await env.admin.json('POST', `/compute/v2.1/flavors/${id}/action`, { addTenantAccess: { tenant: env.demoProject } });
  assert.equal(add.status, 200);
  assert.deepEqual(add.body.flavor_access, [{ flavor_id: id, tenant_id: env.demoProject }]);
  const dup = await env.admin.json('POST', `/compute/v2.1/flavors/${id}/action`, { addTenantAccess: { tenant: env.demoProject } });
  assert.equal(dup.status, 409);
  assert.equal((await env.admin.json('POST', `/compute/v2.1/flavors/${id}/action`, { addTenantAccess: { tenant: 'no-such-project' } })).status, 400);
  assert.equal((await env.admin.json('POST', `/compute/v2.1/flavors/${id}/action`, { addTenantAccess: {} })).status, 400);
  assert.equal((await env.admin.json('POST', `/compute/v2.1/flavors/${id}/action`, { bogusAction: {} })).status, 400);

  assert.equal((await env.demo.json('GET', `/compute/v2.1/flavors/${id}`)).status, 200);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/flavors')).body.flavors.some((f: any) => f.id === id), true);

  const rm = await env.admin.json('POST', `/compute/v2.1/flavors/${id}/action`, { removeTenantAccess: { tenant: env.demoProject } });
  assert.deepEqual(rm.body.flavor_access, []);
  assert.equal((await env.admin.json('POST', `/compute/v2.1/flavors/${id}/action`, { removeTenantAccess: { tenant: env.demoProject } })).status, 404);
  assert.equal((await env.demo.json('GET', `/compute/v2.1/flavors/${id}`)).status, 404);

  // Public flavors have no access list; adding to one is a conflict at 2.7+.
  const pub = await env.admin.json('GET', '/compute/v2.1/flavors/1/os-flavor-access');
  assert.equal(pub.status, 404);
  assert.equal(pub.body.itemNotFound.message, 'Access list not available for public flavors.');
  assert.equal((await env.admin.json('POST', '/compute/v2.1/flavors/1/action', { addTenantAccess: { tenant: env.demoProject } }, V('2.7'))).status, 409);
});

test('extra specs CRUD with validation', async () => {
  const f = (await env.admin.json('POST', '/compute/v2.1/flavors', { flavor: { name: 'specs', ram: 64, vcpus: 1, disk: 0 } })).body.flavor.id;
  const base = `/compute/v2.1/flavors/${f}/os-extra_specs`;
  const c = await env.admin.json('POST', base, { extra_specs: { 'hw:cpu_policy': 'dedicated', count: 2 } });
  assert.equal(c.status, 200);
  assert.deepEqual(c.body, { extra_specs: { 'hw:cpu_policy': 'dedicated', count: 2 } });
  assert.deepEqual((await env.demo.json('GET', base)).body, { extra_specs: { 'hw:cpu_policy': 'dedicated', count: '2' } });
  assert.deepEqual((await env.demo.json('GET', `${base}/count`)).body, { count: '2' });
  assert.equal((await env.demo.json('GET', `${base}/missing`)).status, 404);

  const u = await env.admin.json('PUT', `${base}/count`, { count: '3' });
  assert.deepEqual(u.body, { count: '3' });
  assert.equal((await env.admin.json('PUT', `${base}/count`, { other: '3' })).body.badRequest.message, 'Request body and URI mismatch');
  assert.equal((await env.admin.json('PUT', `${base}/count`, { count: '3', other: '4' })).status, 400);
  assert.equal((await env.admin.json('PUT', `${base}/count`, {})).status, 400);

  for (const bad of [{}, { extra_specs: 'x' }, { extra_specs: { 'bad/key': 'v' } }, { extra_specs: { k: 'v'.repeat(256) } },
    { extra_specs: { k: true } }, { extra_specs: { k: null } }, { extra_specs: { '': 'v' } }]) {
    assert.equal((await env.admin.json('POST', base, bad)).status, 400, JSON.stringify(bad));
  }
  const d = await env.admin.request('DELETE', `${base}/count`);
  assert.equal(d.status, 200);
  assert.equal((await env.admin.json('DELETE', `${base}/count`)).status, 404);
  assert.deepEqual((await env.admin.json('GET', `/compute/v2.1/flavors/${f}`, undefined, V('2.61'))).body.flavor.extra_specs, { 'hw:cpu_policy': 'dedicated' });
  assert.equal((await env.admin.json('GET', '/compute/v2.1/flavors/missing/os-extra_specs')).status, 404);
});

test('the legacy /v2.1/{project_id} prefix gives links with the project', async () => {
  const r = await env.demo.json('GET', `/compute/v2.1/${env.demoProject}/flavors/1`);
  assert.equal(r.status, 200);
  assert.match(r.body.flavor.links[0].href, new RegExp(`/compute/v2\\.1/${env.demoProject}/flavors/1$`));
});
