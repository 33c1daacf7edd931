// Networks through HTTP: defaults and provider segments, who sees what, revision numbers and
// If-Match, Neutron's list semantics (filters, fields, sorting, paging with links), bad input
// (always a NeutronError, nothing written) and deleting a network that is in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, makeNetwork, makeSubnet, makePort, assertNeutronError } from './test_helpers.ts';

const env = networkTestEnv();

test('a new network: Neutron defaults; provider attributes for admins only', async () => {
  const n = await makeNetwork(env.demo, { name: 'plain' });
  assert.equal(n.status, 'ACTIVE');
  assert.equal(n.mtu, 1500);
  assert.equal(n.shared, false);
  assert.equal(n['router:external'], false);
  assert.equal(n.port_security_enabled, true);
  assert.equal(n.admin_state_up, true);
  assert.deepEqual(n.subnets, []);
  assert.equal(n.project_id, env.demoProject);
  assert.equal(n.tenant_id, env.demoProject);
  assert.equal(n.revision_number, 0);
  assert.match(n.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal('provider:network_type' in n, false, 'members do not see the segment');

  const asAdmin = await env.admin.json('GET', `${N}/networks/${n.id}`);
  assert.equal(asAdmin.body.network['provider:network_type'], 'vlan');
  assert.equal(typeof asAdmin.body.network['provider:segmentation_id'], 'number');

  // Members may not choose a segment, share a network or make it external.
  for (const extra of [{ 'provider:network_type': 'vlan' }, { shared: true }, { 'router:external': true }]) {
    assertNeutronError(await env.demo.json('POST', `${N}/networks`, { network: { name: 'x', ...extra } }), 403);
  }
  // Saying the default out loud is no privilege (Heat sends shared: false).
  const plain = await env.demo.json('POST', `${N}/networks`, { network: { name: 'defaults', shared: false, 'router:external': false } });
  assert.equal(plain.status, 201);
  assert.equal(plain.body.network.shared, false);
  await env.demo.json('DELETE', `${N}/networks/${plain.body.network.id}`);
});

test('provider segments: chosen VLAN ids are unique per physical network, flat networks one per physnet', async () => {
  const v = await makeNetwork(env.admin, { name: 'vlan1234', 'provider:network_type': 'vlan', 'provider:physical_network': 'dvs', 'provider:segmentation_id': 1234, mtu: 9000 });
  assert.equal(v['provider:segmentation_id'], 1234);
  assert.equal(v.mtu, 9000);
  assertNeutronError(await env.admin.json('POST', `${N}/networks`, { network: { 'provider:network_type': 'vlan', 'provider:physical_network': 'dvs', 'provider:segmentation_id': 1234 } }), 409, 'VlanIdInUse');
  assertNeutronError(await env.admin.json('POST', `${N}/networks`, { network: { 'provider:network_type': 'vlan', 'provider:segmentation_id': 4095 } }), 400);
  assertNeutronError(await env.admin.json('POST', `${N}/networks`, { network: { 'provider:network_type': 'bogus' } }), 400);
  assertNeutronError(await env.admin.json('POST', `${N}/networks`, { network: { 'provider:network_type': 'flat', 'provider:segmentation_id': 5 } }), 400);
  const f = await makeNetwork(env.admin, { name: 'flat', 'provider:network_type': 'flat', 'provider:physical_network': 'physnet-test' });
  assert.equal(f['provider:segmentation_id'], null);
  assertNeutronError(await env.admin.json('POST', `${N}/networks`, { network: { 'provider:network_type': 'flat', 'provider:physical_network': 'physnet-test' } }), 409, 'FlatNetworkInUse');
  // Segments cannot change after create.
  assertNeutronError(await env.admin.json('PUT', `${N}/networks/${v.id}`, { network: { 'provider:segmentation_id': 1235 } }), 400);
  // Once deleted, the VLAN is free again.
  assert.equal((await env.admin.request('DELETE', `${N}/networks/${v.id}`)).status, 204);
  await makeNetwork(env.admin, { name: 'vlan1234-again', 'provider:network_type': 'vlan', 'provider:segmentation_id': 1234 });
});

test('visibility: own, shared and external networks; others\' are 404', async () => {
  const mine = await makeNetwork(env.alt, { name: 'alt-private' });
  const shared = await makeNetwork(env.admin, { name: 'admin-shared', shared: true });
  const ext = await makeNetwork(env.admin, { name: 'admin-external', 'router:external': true });
  const hidden = await makeNetwork(env.admin, { name: 'admin-private' });
  const seen = new Set((await env.alt.json('GET', `${N}/networks`)).body.networks.map((n: any) => n.id));
  assert.ok(seen.has(mine.id) && seen.has(shared.id) && seen.has(ext.id));
  assert.ok(!seen.has(hidden.id));
  assertNeutronError(await env.alt.json('GET', `${N}/networks/${hidden.id}`), 404, 'NetworkNotFound');
  assertNeutronError(await env.alt.json('PUT', `${N}/networks/${hidden.id}`, { network: { name: 'mine now' } }), 404, 'NetworkNotFound');
  assertNeutronError(await env.alt.json('DELETE', `${N}/networks/${hidden.id}`), 404, 'NetworkNotFound');
  // Seeing a shared network is not owning it.
  assertNeutronError(await env.alt.json('PUT', `${N}/networks/${shared.id}`, { network: { name: 'taken' } }), 403);
  assertNeutronError(await env.alt.json('DELETE', `${N}/networks/${shared.id}`), 403);
  assertNeutronError(await env.demo.json('GET', `${N}/networks/${mine.id}`), 404);
});

test('updates bump revision_number; If-Match: revision_number=N → 412 when stale', async () => {
  const n = await makeNetwork(env.demo, { name: 'rev' });
  const a = await env.demo.json('PUT', `${N}/networks/${n.id}`, { network: { name: 'rev-1' } });
  assert.equal(a.status, 200);
  assert.equal(a.body.network.revision_number, n.revision_number + 1);
  assert.equal(a.body.network.name, 'rev-1');
  const b = await env.demo.json('PUT', `${N}/networks/${n.id}`, { network: { description: 'two' } }, { 'If-Match': `revision_number=${a.body.network.revision_number}` });
  assert.equal(b.status, 200);
  assert.equal(b.body.network.revision_number, n.revision_number + 2);
  const stale = await env.demo.json('PUT', `${N}/networks/${n.id}`, { network: { name: 'lost' } }, { 'If-Match': `revision_number=${a.body.network.revision_number}` });
  assertNeutronError(stale, 412, 'RevisionNumberConstraintFailed');
  assert.equal((await env.demo.json('GET', `${N}/networks/${n.id}`)).body.network.name, 'rev-1', 'the stale update wrote nothing');
  assertNeutronError(await env.demo.json('PUT', `${N}/networks/${n.id}`, { network: { name: 'x' } }, { 'If-Match': 'revision_number=abc' }), 400);
  // Adding a subnet is a change of the network too.
  await makeSubnet(env.demo, n.id, '10.60.0.0/24');
  const c = await env.demo.json('GET', `${N}/networks/${n.id}`);
  assert.ok(c.body.network.revision_number > b.body.network.revision_number);
  assertNeutronError(await env.demo.json('DELETE', `${N}/networks/${n.id}`, undefined, { 'If-Match': `revision_number=${b.body.network.revision_number}` }), 412);
  assert.equal((await env.demo.request('DELETE', `${N}/networks/${n.id}`, undefined, { 'If-Match': `revision_number=${c.body.network.revision_number}` })).status, 204);
});

test('bad input: a 400 NeutronError and nothing written', async () => {
  const before = (await env.demo.json('GET', `${N}/networks`)).body.networks.length;
  const bad: unknown[] = [
    { network: { name: 42 } },
    { network: { name: 'x'.repeat(256) } },
    { network: { admin_state_up: 'maybe' } },
    { network: { mtu: 10_000 } },
    { network: { mtu: 'big' } },
    { network: { colour: 'blue' } },
    { network: { availability_zone_hints: 'nova' } },
    { network: 'net' },
    { network: [] },
    { networks: {} },
    {},
    '{"network": {',
  ];
  for (const body of bad) {
    const r = await env.demo.json('POST', `${N}/networks`, body);
    assertNeutronError(r, 400);
  }
  assertNeutronError(await env.demo.json('POST', `${N}/networks`, { network: { availability_zone_hints: ['mars'] } }), 404, 'AvailabilityZoneNotFound');
  // A bulk create with one bad member creates none.
  assertNeutronError(await env.demo.json('POST', `${N}/networks`, { networks: [{ name: 'good' }, { name: 7 }] }), 400);
  assert.equal((await env.demo.json('GET', `${N}/networks`)).body.networks.length, before);

  const n = await makeNetwork(env.demo, { name: 'target' });
  for (const body of [{ network: { name: [] } }, { network: { project_id: env.altProject } }, { network: { status: 'DOWN' } }, { network: { mtu: 20 } }]) {
    assertNeutronError(await env.demo.json('PUT', `${N}/networks/${n.id}`, body), 400);
  }
  assertNeutronError(await env.demo.json('GET', `${N}/networks/not-a-network`), 404, 'NetworkNotFound');
  assert.equal((await env.demo.json('GET', `${N}/networks/${n.id}`)).body.network.revision_number, 0);
});

test('bulk create makes all the networks in order', async () => {
  const r = await env.demo.json('POST', `${N}/networks`, { networks: [{ name: 'bulk-a' }, { name: 'bulk-b' }] });
  assert.equal(r.status, 201);
  assert.deepEqual(r.body.networks.map((n: any) => n.name), ['bulk-a', 'bulk-b']);
});

test('a network with ports in use cannot be deleted (409 NetworkInUse); an empty one goes with its subnets', async () => {
  const n = await makeNetwork(env.demo, { name: 'busy' });
  const s = await makeSubnet(env.demo, n.id, '10.61.0.0/24');
  const p = await makePort(env.demo, n.id);
  assertNeutronError(await env.demo.json('DELETE', `${N}/networks/${n.id}`), 409, 'NetworkInUse');
  assert.equal((await env.demo.json('GET', `${N}/subnets/${s.id}`)).status, 200, 'nothing was deleted');
  assert.equal((await env.demo.json('GET', `${N}/ports/${p.id}`)).status, 200);
  assert.equal((await env.demo.request('DELETE', `${N}/ports/${p.id}`)).status, 204);
  assert.equal((await env.demo.request('DELETE', `${N}/networks/${n.id}`)).status, 204);
  assertNeutronError(await env.demo.json('GET', `${N}/subnets/${s.id}`), 404, 'SubnetNotFound');
  assertNeutronError(await env.demo.json('DELETE', `${N}/networks/${n.id}`), 404, 'NetworkNotFound');
});

test('lists: filters, fields, sorting, paging with next and previous links', async () => {
  const names = ['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-e'];
  const made = [];
  for (const [i, name] of names.entries()) made.push(await makeNetwork(env.alt, { name, admin_state_up: i % 2 === 0, description: 'paging' }));

  const byName = await env.alt.json('GET', `${N}/networks?name=pg-b&name=pg-d`);
  assert.deepEqual(byName.body.networks.map((n: any) => n.name).sort(), ['pg-b', 'pg-d'], 'a repeated filter means any of the values');
  const down = await env.alt.json('GET', `${N}/networks?description=paging&admin_state_up=False`);
  assert.deepEqual(down.body.networks.map((n: any) => n.name).sort(), ['pg-b', 'pg-d']);
  const none = await env.alt.json('GET', `${N}/networks?name=pg-zzz`);
  assert.deepEqual(none.body.networks, []);

  const fields = await env.alt.json('GET', `${N}/networks?description=paging&fields=id&fields=name`);
  for (const n of fields.body.networks) assert.deepEqual(Object.keys(n).sort(), ['id', 'name']);
  const one = await env.alt.json('GET', `${N}/networks/${made[0].id}?fields=mtu`);
  assert.deepEqual(one.body.network, { mtu: 1500 });

  const desc = await env.alt.json('GET', `${N}/networks?description=paging&sort_key=name&sort_dir=desc`);
  assert.deepEqual(desc.body.networks.map((n: any) => n.name), [...names].reverse());
  const twoKeys = await env.alt.json('GET', `${N}/networks?description=paging&sort_key=admin_state_up&sort_dir=asc&sort_key=name&sort_dir=desc`);
  assert.deepEqual(twoKeys.body.networks.map((n: any) => n.name), ['pg-d', 'pg-b', 'pg-e', 'pg-c', 'pg-a']);
  assertNeutronError(await env.alt.json('GET', `${N}/networks?sort_key=name&sort_dir=sideways`), 400);
  assertNeutronError(await env.alt.json('GET', `${N}/networks?sort_key=colour`), 400);
  assertNeutronError(await env.alt.json('GET', `${N}/networks?limit=many`), 400);

  // Walk forward two at a time by the next links, then back by the previous links.
  const base = `${N}/networks?description=paging&sort_key=name&sort_dir=asc&limit=2`;
  const pages: string[][] = [];
  let r = await env.alt.json('GET', base);
  for (;;) {
    pages.push(r.body.networks.map((n: any) => n.name));
    const next = r.body.networks_links?.find((l: any) => l.rel === 'next');
    if (!next) break;
    const u = new URL(next.href);
    assert.equal(u.searchParams.get('limit'), '2');
    r = await env.alt.json('GET', u.pathname + u.search);
  }
  assert.deepEqual(pages, [['pg-a', 'pg-b'], ['pg-c', 'pg-d'], ['pg-e']]);
  const prev = r.body.networks_links.find((l: any) => l.rel === 'previous');
  assert.ok(prev, 'the last page links back');
  const back = new URL(prev.href);
  assert.equal(back.searchParams.get('page_reverse')?.toLowerCase(), 'true');
  const before = await env.alt.json('GET', back.pathname + back.search);
  assert.deepEqual(before.body.networks.map((n: any) => n.name), ['pg-c', 'pg-d']);
  // The first page has no previous link.
  const first = await env.alt.json('GET', base);
  assert.equal(first.body.networks_links.some((l: any) => l.rel === 'previous'), false);
  // A marker alone pages from it; page_reverse with a marker reads the items before it.
  const afterB = await env.alt.json('GET', `${N}/networks?description=paging&sort_key=name&marker=${made[1].id}`);
  assert.deepEqual(afterB.body.networks.map((n: any) => n.name), ['pg-c', 'pg-d', 'pg-e']);
  const beforeD = await env.alt.json('GET', `${N}/networks?description=paging&sort_key=name&marker=${made[3].id}&page_reverse=True&limit=2`);
  assert.deepEqual(beforeD.body.networks.map((n: any) => n.name), ['pg-b', 'pg-c']);
});
