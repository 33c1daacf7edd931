// Subnet pools through HTTP: Neutron's defaults and merged prefixes, prefix-length bounds, updates
// that may only grow a pool, one default pool per family, who sees and uses a pool, subnets
// allocated from it (by prefixlen, by cidr, with use_default_subnetpool), 20 parallel allocations
// that never overlap and end in clean 409s when the pool is full, and bad input on every route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, make, makeNetwork, makeSubnet, assertNeutronError } from './test_helpers.ts';
import type { Session } from '../testing.ts';

const env = networkTestEnv();

const makePool = (s: Session, body: Record<string, unknown>) => make(s, 'subnetpools', 'subnetpool', { name: 'pool', ...body });
const poolSubnet = (s: Session, networkId: string, poolId: string, body: Record<string, unknown> = {}) =>
  s.json('POST', `${N}/subnets`, { subnet: { network_id: networkId, subnetpool_id: poolId, ip_version: 4, ...body } });

/** Address range of a CIDR as numbers (IPv4), for overlap checks. */
function range(cidr: string): [number, number] {
  const [a, p] = cidr.split('/');
  const n = a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  return [n, n + 2 ** (32 - Number(p)) - 1];
}

test('a new pool: prefixes merged, Neutron defaults for the bounds, ip_version derived', async () => {
  const p = await makePool(env.demo, { prefixes: ['10.100.0.0/24', '10.100.1.0/24', '10.100.0.128/25', '10.101.0.0/16'] });
  assert.deepEqual(p.prefixes, ['10.100.0.0/23', '10.101.0.0/16'], 'overlapping and adjacent prefixes are compacted');
  assert.equal(p.ip_version, 4);
  assert.equal(p.min_prefixlen, 8);
  assert.equal(p.max_prefixlen, 32);
  assert.equal(p.default_prefixlen, 8, 'default_prefixlen defaults to min_prefixlen');
  assert.equal(p.shared, false);
  assert.equal(p.is_default, false);
  assert.equal(p.default_quota, null);
  assert.equal(p.address_scope_id, null);
  assert.equal(p.project_id, env.demoProject);
  assert.equal(p.tenant_id, env.demoProject);
  assert.equal(p.revision_number, 0);
  assert.deepEqual(p.tags, []);
  assert.match(p.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const v6 = await makePool(env.demo, { prefixes: ['2001:db8:1::/48'], tags: ['blue'] });
  assert.equal(v6.ip_version, 6);
  assert.equal(v6.min_prefixlen, 64);
  assert.equal(v6.max_prefixlen, 128);
  assert.deepEqual(v6.tags, ['blue']);

  const shown = await env.demo.json('GET', `${N}/subnetpools/${p.id}`);
  assert.equal(shown.status, 200);
  assert.deepEqual(shown.body.subnetpool, p);
  const listed = await env.demo.json('GET', `${N}/subnetpools?ip_version=6&fields=id&fields=ip_version`);
  assert.deepEqual(listed.body.subnetpools, [{ id: v6.id, ip_version: 6 }]);
  assert.equal((await env.demo.json('GET', `${N}/subnetpools?tags=blue`)).body.subnetpools.length, 1);
});

test('bad pools are refused with a NeutronError and nothing is written', async () => {
  const before = (await env.admin.json('GET', `${N}/subnetpools`)).body.subnetpools.length;
  const bad: [Record<string, unknown>, number, string?][] = [
    [{}, 400],
    [{ prefixes: [] }, 400, 'EmptySubnetPoolPrefixList'],
    [{ prefixes: '10.0.0.0/8' }, 400],
    [{ prefixes: ['10.0.0.1/24'] }, 400],
    [{ prefixes: ['10.0.0.0'] }, 400],
    [{ prefixes: ['not-a-cidr'] }, 400],
    [{ prefixes: ['10.0.0.0/8', '2001:db8::/32'] }, 400, 'PrefixVersionMismatch'],
    [{ prefixes: ['10.0.0.0/8'], min_prefixlen: 24, max_prefixlen: 16 }, 400, 'IllegalSubnetPoolPrefixBounds'],
    [{ prefixes: ['10.0.0.0/8'], max_prefixlen: 33 }, 400, 'IllegalSubnetPoolPrefixBounds'],
    [{ prefixes: ['10.0.0.0/8'], min_prefixlen: 16, default_prefixlen: 12 }, 400, 'IllegalSubnetPoolPrefixBounds'],
    [{ prefixes: ['10.0.0.0/8'], max_prefixlen: 24, default_prefixlen: 26 }, 400, 'IllegalSubnetPoolPrefixBounds'],
    [{ prefixes: ['10.0.0.0/8'], min_prefixlen: -1 }, 400],
    [{ prefixes: ['10.0.0.0/8'], default_prefixlen: 'x' }, 400],
    [{ prefixes: ['10.0.0.0/8'], default_quota: -5 }, 400],
    [{ prefixes: ['10.0.0.0/8'], shared: 'maybe' }, 400],
    [{ prefixes: ['10.0.0.0/8'], color: 'red' }, 400],
    [{ prefixes: ['10.0.0.0/8'], name: 7 }, 400],
    [{ prefixes: ['10.0.0.0/8'], address_scope_id: '6c5f1d36-0000-4000-8000-000000000000' }, 404, 'AddressScopeNotFound'],
    [{ prefixes: ['10.0.0.0/8'], tags: 'a' }, 400],
  ];
  for (const [body, status, type] of bad) {
    assertNeutronError(await env.demo.json('POST', `${N}/subnetpools`, { subnetpool: body }), status, type);
  }
  assertNeutronError(await env.demo.json('POST', `${N}/subnetpools`, { pool: {} }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/subnetpools`, { subnetpool: [] }), 400);
  // Sharing a pool and making it a default are for admins.
  assertNeutronError(await env.demo.json('POST', `${N}/subnetpools`, { subnetpool: { prefixes: ['10.0.0.0/8'], shared: true } }), 403);
  assertNeutronError(await env.demo.json('POST', `${N}/subnetpools`, { subnetpool: { prefixes: ['10.0.0.0/8'], is_default: true } }), 403);
  // A bulk create with one bad pool writes none.
  assertNeutronError(await env.demo.json('POST', `${N}/subnetpools`, { subnetpools: [{ prefixes: ['10.9.0.0/16'] }, { prefixes: [] }] }), 400);
  assert.equal((await env.admin.json('GET', `${N}/subnetpools`)).body.subnetpools.length, before);
});

test('updates: prefixes may only grow, bounds stay consistent, shared is read-only, If-Match', async () => {
  const p = await makePool(env.demo, { prefixes: ['10.110.0.0/24'], min_prefixlen: 24, max_prefixlen: 28, default_prefixlen: 26 });
  const grown = await env.demo.json('PUT', `${N}/subnetpools/${p.id}`, { subnetpool: { prefixes: ['10.110.0.0/24', '10.110.1.0/24', '10.120.0.0/24'], name: 'grown' } });
  assert.equal(grown.status, 200);
  assert.deepEqual(grown.body.subnetpool.prefixes, ['10.110.0.0/23', '10.120.0.0/24']);
  assert.equal(grown.body.subnetpool.name, 'grown');
  assert.equal(grown.body.subnetpool.revision_number, 1);

  const bad: [Record<string, unknown>, number, string?][] = [
    [{ prefixes: ['10.110.0.0/24'] }, 400, 'IllegalSubnetPoolPrefixUpdate'],
    [{ prefixes: ['10.110.0.0/23'] }, 400, 'IllegalSubnetPoolPrefixUpdate'],
    [{ prefixes: ['2001:db8::/32'] }, 400, 'PrefixVersionMismatch'],
    [{ prefixes: [] }, 400, 'EmptySubnetPoolPrefixList'],
    [{ default_prefixlen: 30 }, 400, 'IllegalSubnetPoolPrefixBounds'],
    [{ min_prefixlen: 27 }, 400, 'IllegalSubnetPoolPrefixBounds'],
    [{ shared: true }, 400],
    [{ project_id: env.altProject }, 400],
    [{ ip_version: 6 }, 400],
    [{ default_quota: 'lots' }, 400],
  ];
  for (const [body, status, type] of bad) {
    assertNeutronError(await env.demo.json('PUT', `${N}/subnetpools/${p.id}`, { subnetpool: body }), status, type);
  }
  assertNeutronError(await env.demo.json('PUT', `${N}/subnetpools/${p.id}`, { subnetpool: { name: 'x' } }, { 'if-match': 'revision_number=0' }), 412, 'RevisionNumberConstraintFailed');
  const now = (await env.demo.json('GET', `${N}/subnetpools/${p.id}`)).body.subnetpool;
  assert.deepEqual(now, grown.body.subnetpool, 'refused updates changed nothing');
  // Others do not see the pool; they cannot change or delete it.
  assertNeutronError(await env.alt.json('PUT', `${N}/subnetpools/${p.id}`, { subnetpool: { name: 'mine' } }), 404, 'SubnetPoolNotFound');
  assertNeutronError(await env.alt.json('DELETE', `${N}/subnetpools/${p.id}`), 404, 'SubnetPoolNotFound');
  assertNeutronError(await env.demo.json('GET', `${N}/subnetpools/6c5f1d36-0000-4000-8000-000000000000`), 404, 'SubnetPoolNotFound');
});

test('subnets from a pool: default_prefixlen, prefixlen, a cidr inside the pool; affinity; pool in use', async () => {
  const p = await makePool(env.demo, { prefixes: ['10.130.0.0/22'], min_prefixlen: 24, default_prefixlen: 26 });
  const net = await makeNetwork(env.demo, { name: 'pooled' });
  const a = await poolSubnet(env.demo, net.id, p.id);
  assert.equal(a.status, 201, JSON.stringify(a.body));
  assert.equal(a.body.subnet.cidr, '10.130.0.0/26');
  assert.equal(a.body.subnet.subnetpool_id, p.id);
  assert.equal(a.body.subnet.gateway_ip, '10.130.0.1');
  assert.deepEqual(a.body.subnet.allocation_pools, [{ start: '10.130.0.2', end: '10.130.0.62' }]);
  const b = await poolSubnet(env.demo, net.id, p.id, { prefixlen: 24 });
  assert.equal(b.status, 201, JSON.stringify(b.body));
  assert.equal(b.body.subnet.cidr, '10.130.1.0/24', 'the smallest free block that fits');
  const c = await poolSubnet(env.demo, net.id, p.id, { prefixlen: 26 });
  assert.equal(c.body.subnet.cidr, '10.130.0.64/26', 'best fit: the hole next to the first subnet');
  const d = await poolSubnet(env.demo, net.id, p.id, { cidr: '10.130.3.0/25' });
  assert.equal(d.status, 201, JSON.stringify(d.body));
  assert.equal(d.body.subnet.cidr, '10.130.3.0/25');
  // The subnet shows its pool; ip_version comes from the pool when not given.
  const e = await env.demo.json('POST', `${N}/subnets`, { subnet: { network_id: net.id, subnetpool_id: p.id } });
  assert.equal(e.status, 201, JSON.stringify(e.body));
  assert.equal(e.body.subnet.ip_version, 4);
  assert.equal((await env.demo.json('GET', `${N}/subnets/${a.body.subnet.id}`)).body.subnet.subnetpool_id, p.id);

  const refused: [Record<string, unknown>, number, string?][] = [
    [{ cidr: '10.130.0.0/26' }, 409, 'SubnetAllocationError'],
    [{ cidr: '10.131.0.0/24' }, 409, 'SubnetAllocationError'],
    [{ prefixlen: 23 }, 400, 'MinPrefixSubnetAllocationError'],
    [{ prefixlen: 33 }, 400, 'MaxPrefixSubnetAllocationError'],
    [{ prefixlen: -1 }, 400],
    [{ prefixlen: 'big' }, 400],
    [{ cidr: '10.130.2.0/24', prefixlen: 24 }, 400],
    [{ ip_version: 6 }, 400],
    [{ allocation_pools: [{ start: '10.130.2.10', end: '10.130.2.20' }] }, 400],
    [{ use_default_subnetpool: true }, 400],
    [{ subnetpool_id: '6c5f1d36-0000-4000-8000-000000000000' }, 404, 'SubnetPoolNotFound'],
  ];
  const count = async () => (await env.demo.json('GET', `${N}/subnets?network_id=${net.id}`)).body.subnets.length;
  const n0 = await count();
  for (const [body, status, type] of refused) assertNeutronError(await poolSubnet(env.demo, net.id, p.id, body), status, type);
  // prefixlen without a pool, a pool on a network whose IPv4 subnets come from elsewhere.
  assertNeutronError(await env.demo.json('POST', `${N}/subnets`, { subnet: { network_id: net.id, ip_version: 4, prefixlen: 24 } }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/subnets`, { subnet: { network_id: net.id, ip_version: 4, cidr: '10.200.0.0/24' } }), 400, 'NetworkSubnetPoolAffinityError');
  const other = await makePool(env.demo, { prefixes: ['10.140.0.0/16'], default_prefixlen: 24 });
  assertNeutronError(await poolSubnet(env.demo, net.id, other.id), 400, 'NetworkSubnetPoolAffinityError');
  assert.equal(await count(), n0, 'no refused subnet was written');

  // A pool with subnets stays (Neutron: SubnetPoolDeleteError); without them it goes.
  assertNeutronError(await env.demo.json('DELETE', `${N}/subnetpools/${p.id}`), 400, 'SubnetPoolDeleteError');
  for (const s of [a, b, c, d, e]) assert.equal((await env.demo.request('DELETE', `${N}/subnets/${s.body.subnet.id}`)).status, 204);
  assert.equal((await env.demo.request('DELETE', `${N}/subnetpools/${p.id}`)).status, 204);
  assertNeutronError(await env.demo.json('GET', `${N}/subnetpools/${p.id}`), 404, 'SubnetPoolNotFound');
  // The freed network takes a pool-less subnet again.
  await makeSubnet(env.demo, net.id, '10.200.0.0/24');
});

test('20 parallel allocations from a pool with room for 16: no overlap, four clean 409s', async () => {
  const p = await makePool(env.admin, { prefixes: ['10.150.0.0/24'], min_prefixlen: 24, default_prefixlen: 28 });
  const nets = await Promise.all(Array.from({ length: 20 }, (_, i) => makeNetwork(env.admin, { name: `par${i}` })));
  const results = await Promise.all(nets.map((n) => poolSubnet(env.admin, n.id, p.id)));
  const made = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status !== 201);
  assert.equal(made.length, 16);
  assert.equal(refused.length, 4);
  for (const r of refused) {
    const e = assertNeutronError(r, 409, 'SubnetAllocationError');
    assert.match(e.message, /Insufficient prefix space to allocate subnet size \/28/);
  }
  const cidrs = made.map((r) => r.body.subnet.cidr as string).sort((x, y) => range(x)[0] - range(y)[0]);
  assert.equal(new Set(cidrs).size, 16);
  for (let i = 1; i < cidrs.length; i++) assert.ok(range(cidrs[i])[0] > range(cidrs[i - 1])[1], `${cidrs[i - 1]} and ${cidrs[i]} overlap`);
  assert.ok(cidrs.every((c) => c.startsWith('10.150.0.') && c.endsWith('/28')));
  const listed = (await env.admin.json('GET', `${N}/subnets`)).body.subnets.filter((s: any) => s.subnetpool_id === p.id);
  assert.equal(listed.length, 16, 'exactly the created subnets exist');
  // Growing the pool makes room again.
  const grown = await env.admin.json('PUT', `${N}/subnetpools/${p.id}`, { subnetpool: { prefixes: ['10.150.0.0/24', '10.150.1.0/28'] } });
  assert.equal(grown.status, 200);
  const without = nets.find((n) => !made.some((m) => m.body.subnet.network_id === n.id))!;
  const more = await poolSubnet(env.admin, without.id, p.id);
  assert.equal(more.status, 201, JSON.stringify(more.body));
  assert.equal(more.body.subnet.cidr, '10.150.1.0/28');
});

test('shared and default pools: others may allocate from shared ones; one default per family; use_default_subnetpool', async () => {
  const shared = await makePool(env.admin, { prefixes: ['10.160.0.0/16'], default_prefixlen: 24, shared: true });
  const priv = await makePool(env.admin, { prefixes: ['10.161.0.0/16'], default_prefixlen: 24 });
  const alts = (await env.alt.json('GET', `${N}/subnetpools`)).body.subnetpools.map((x: any) => x.id);
  assert.ok(alts.includes(shared.id));
  assert.ok(!alts.includes(priv.id));
  const seen = await env.alt.json('GET', `${N}/subnetpools/${shared.id}`);
  assert.equal(seen.status, 200, JSON.stringify(seen.body));
  assert.equal(seen.body.subnetpool.shared, true);
  assertNeutronError(await env.alt.json('GET', `${N}/subnetpools/${priv.id}`), 404, 'SubnetPoolNotFound');
  const net = await makeNetwork(env.alt, { name: 'alt-pooled' });
  const s = await poolSubnet(env.alt, net.id, shared.id);
  assert.equal(s.status, 201, JSON.stringify(s.body));
  assert.equal(s.body.subnet.project_id, env.altProject);
  assertNeutronError(await poolSubnet(env.alt, net.id, priv.id), 404, 'SubnetPoolNotFound');
  // Only its owner (or an admin) changes a shared pool.
  assertNeutronError(await env.alt.json('PUT', `${N}/subnetpools/${shared.id}`, { subnetpool: { name: 'mine' } }), 403);

  // No default yet: use_default_subnetpool has nothing to use.
  const net2 = await makeNetwork(env.alt, { name: 'alt-default' });
  assertNeutronError(await env.alt.json('POST', `${N}/subnets`, { subnet: { network_id: net2.id, ip_version: 4, use_default_subnetpool: true } }), 400);
  assertNeutronError(await env.alt.json('POST', `${N}/subnets`, { subnet: { network_id: net2.id, use_default_subnetpool: true } }), 400);
  assertNeutronError(await env.alt.json('PUT', `${N}/subnetpools/${shared.id}`, { subnetpool: { is_default: true } }), 403);
  const madeDefault = await env.admin.json('PUT', `${N}/subnetpools/${shared.id}`, { subnetpool: { is_default: true } });
  assert.equal(madeDefault.status, 200);
  assert.equal(madeDefault.body.subnetpool.is_default, true);
  assertNeutronError(await env.admin.json('POST', `${N}/subnetpools`, { subnetpool: { prefixes: ['10.170.0.0/16'], is_default: true } }), 400, 'InvalidInput');
  assertNeutronError(await env.admin.json('PUT', `${N}/subnetpools/${priv.id}`, { subnetpool: { is_default: true } }), 400, 'InvalidInput');
  // An IPv6 default may exist beside the IPv4 one.
  const v6 = await makePool(env.admin, { prefixes: ['2001:db8:100::/48'], is_default: true, shared: true });
  assert.equal(v6.is_default, true);

  const d = await env.alt.json('POST', `${N}/subnets`, { subnet: { network_id: net2.id, ip_version: 4, use_default_subnetpool: true } });
  assert.equal(d.status, 201, JSON.stringify(d.body));
  assert.equal(d.body.subnet.subnetpool_id, shared.id);
  assert.match(d.body.subnet.cidr, /^10\.160\.\d+\.0\/24$/);
  const d6 = await env.alt.json('POST', `${N}/subnets`, { subnet: { network_id: net2.id, ip_version: 6, use_default_subnetpool: true, ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' } });
  assert.equal(d6.status, 201, JSON.stringify(d6.body));
  assert.equal(d6.body.subnet.cidr, '2001:db8:100::/64');
  assertNeutronError(await env.alt.json('POST', `${N}/subnets`, { subnet: { network_id: net2.id, ip_version: 4, use_default_subnetpool: true, subnetpool_id: shared.id } }), 400);
});

test('default_quota limits the addresses a project takes from a pool', async () => {
  // 512 addresses (units of /32) per project: two /24s, not three.
  const p = await makePool(env.admin, { prefixes: ['10.180.0.0/16'], default_prefixlen: 24, default_quota: 512, shared: true });
  const nets = await Promise.all([0, 1, 2].map((i) => makeNetwork(env.demo, { name: `q${i}` })));
  assert.equal((await poolSubnet(env.demo, nets[0].id, p.id)).status, 201);
  assert.equal((await poolSubnet(env.demo, nets[1].id, p.id)).status, 201);
  assertNeutronError(await poolSubnet(env.demo, nets[2].id, p.id), 409, 'SubnetPoolQuotaExceeded');
  // Another project has its own allowance.
  const altNet = await makeNetwork(env.alt, { name: 'q-alt' });
  assert.equal((await poolSubnet(env.alt, altNet.id, p.id)).status, 201);
});

test('tags on subnet pools through the tag API', async () => {
  const p = await makePool(env.demo, { prefixes: ['10.190.0.0/16'] });
  assert.equal((await env.demo.request('PUT', `${N}/subnetpools/${p.id}/tags/red`)).status, 201);
  assert.deepEqual((await env.demo.json('GET', `${N}/subnetpools/${p.id}/tags`)).body.tags, ['red']);
  assert.equal((await env.demo.json('GET', `${N}/subnetpools/${p.id}`)).body.subnetpool.revision_number, 1);
  assertNeutronError(await env.alt.json('PUT', `${N}/subnetpools/${p.id}/tags/blue`), 404, 'SubnetPoolNotFound');
});
