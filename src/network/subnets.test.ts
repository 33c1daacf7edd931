// Subnets through HTTP: defaults (gateway, pools), IPv4 and IPv6 validation as Neutron's
// (CIDRs, gateway, pools, DNS servers, host routes, IPv6 modes), overlap within a network,
// updates and their checks, and deleting a subnet that is in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, makeNetwork, makeSubnet, makePort, assertNeutronError } from './test_helpers.ts';

const env = networkTestEnv();

const post = (body: Record<string, unknown>) => env.demo.json('POST', `${N}/subnets`, { subnet: body });

test('an IPv4 subnet: gateway .1, the pool is the rest, DHCP on', async () => {
  const n = await makeNetwork(env.demo, { name: 's4' });
  const s = await makeSubnet(env.demo, n.id, '10.70.0.0/24', { name: 'v4', dns_nameservers: ['192.0.2.53', '192.0.2.54'], host_routes: [{ destination: '192.0.2.0/24', nexthop: '10.70.0.254' }] });
  assert.equal(s.gateway_ip, '10.70.0.1');
  assert.deepEqual(s.allocation_pools, [{ start: '10.70.0.2', end: '10.70.0.254' }]);
  assert.equal(s.enable_dhcp, true);
  assert.equal(s.ip_version, 4);
  assert.deepEqual(s.dns_nameservers, ['192.0.2.53', '192.0.2.54']);
  assert.deepEqual(s.host_routes, [{ destination: '192.0.2.0/24', nexthop: '10.70.0.254' }]);
  assert.equal(s.ipv6_ra_mode, null);
  assert.equal(s.subnetpool_id, null);
  assert.deepEqual((await env.demo.json('GET', `${N}/networks/${n.id}`)).body.network.subnets, [s.id]);

  // A gateway in the middle splits the pool; no gateway leaves the whole range.
  const n2 = await makeNetwork(env.demo, { name: 's4b' });
  const mid = await makeSubnet(env.demo, n2.id, '10.71.0.0/28', { gateway_ip: '10.71.0.8' });
  assert.deepEqual(mid.allocation_pools, [{ start: '10.71.0.1', end: '10.71.0.7' }, { start: '10.71.0.9', end: '10.71.0.14' }]);
  const nogw = await makeSubnet(env.demo, n2.id, '10.72.0.0/29', { gateway_ip: null });
  assert.equal(nogw.gateway_ip, null);
  assert.deepEqual(nogw.allocation_pools, [{ start: '10.72.0.1', end: '10.72.0.6' }]);
  // A gateway outside the CIDR is allowed, as Neutron allows it (an on-link gateway).
  const outside = await makeSubnet(env.demo, n2.id, '10.73.0.0/24', { gateway_ip: '10.99.0.1' });
  assert.equal(outside.gateway_ip, '10.99.0.1');
  assert.deepEqual(outside.allocation_pools, [{ start: '10.73.0.1', end: '10.73.0.254' }]);
});

test('an IPv6 subnet: canonical CIDR and gateway, modes', async () => {
  const n = await makeNetwork(env.demo, { name: 's6' });
  const s = await makeSubnet(env.demo, n.id, '2001:DB8:0:1::/64', { ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac' });
  assert.equal(s.cidr, '2001:db8:0:1::/64');
  assert.equal(s.gateway_ip, '2001:db8:0:1::1');
  assert.equal(s.allocation_pools[0].start, '2001:db8:0:1::2');
  assert.equal(s.allocation_pools[0].end, '2001:db8:0:1:ffff:ffff:ffff:ffff');
  assert.equal(s.ipv6_address_mode, 'slaac');
  assertNeutronError(await post({ network_id: n.id, ip_version: 6, cidr: '2001:db8:0:2::/64', ipv6_ra_mode: 'slaac', ipv6_address_mode: 'dhcpv6-stateful' }), 400);
  assertNeutronError(await post({ network_id: n.id, ip_version: 6, cidr: '2001:db8:0:2::/64', ipv6_address_mode: 'magic' }), 400);
  assertNeutronError(await post({ network_id: n.id, ip_version: 4, cidr: '10.74.0.0/24', ipv6_address_mode: 'slaac' }), 400);
});

test('bad subnets: a 4xx NeutronError and nothing written', async () => {
  const n = await makeNetwork(env.demo, { name: 'sbad' });
  await makeSubnet(env.demo, n.id, '10.80.0.0/24');
  const cases: [Record<string, unknown>, number, string?][] = [
    [{ cidr: '10.81.0.0/24' }, 400], // no network
    [{ network_id: n.id }, 400], // no cidr, no pool
    [{ network_id: n.id, cidr: 'banana' }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/33' }, 400],
    [{ network_id: n.id, cidr: '10.81.0.7/24' }, 400], // host bits set
    [{ network_id: n.id, cidr: '10.81.0.0/24', ip_version: 6 }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', ip_version: 5 }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', ip_version: 'four' }, 400],
    [{ network_id: n.id, cidr: '10.80.0.128/25' }, 400], // overlaps 10.80.0.0/24
    [{ network_id: n.id, cidr: '10.0.0.0/8' }, 400], // contains it
    [{ network_id: n.id, cidr: '10.81.0.0/24', gateway_ip: '10.81.0.0' }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', gateway_ip: '10.81.0.255' }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', gateway_ip: 'fe80::1' }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', gateway_ip: 'router' }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', allocation_pools: [{ start: '10.81.0.10', end: '10.82.0.20' }] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', allocation_pools: [{ start: '10.81.0.30', end: '10.81.0.20' }] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', allocation_pools: [{ start: '10.81.0.10', end: '10.81.0.20' }, { start: '10.81.0.15', end: '10.81.0.25' }] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', allocation_pools: [{ start: '10.81.0.1', end: '10.81.0.20' }] }, 409, 'GatewayConflictWithAllocationPools'],
    [{ network_id: n.id, cidr: '10.81.0.0/24', allocation_pools: [{ start: '10.81.0.10' }] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', allocation_pools: '10.81.0.10-10.81.0.20' }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', dns_nameservers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5', '1.1.1.6'] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', dns_nameservers: ['1.1.1.1', '1.1.1.1'] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', dns_nameservers: ['dns.example.com'] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', dns_nameservers: ['2001:db8::53'] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', host_routes: [{ destination: '0.0.0.0/0' }] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', host_routes: [{ destination: 'fd00::/8', nexthop: '10.81.0.1' }] }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', enable_dhcp: 'sometimes' }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', name: 12 }, 400],
    [{ network_id: n.id, cidr: '10.81.0.0/24', colour: 'blue' }, 400],
    [{ network_id: 'a5c3f3f1-0000-4000-8000-000000000000', cidr: '10.81.0.0/24' }, 404, 'NetworkNotFound'],
  ];
  for (const [body, status, type] of cases) assertNeutronError(await post(body), status, type);
  const after = await env.demo.json('GET', `${N}/subnets?network_id=${n.id}`);
  assert.equal(after.body.subnets.length, 1, 'only the first subnet');
  // The same CIDR on another network is fine: overlap is per network.
  const other = await makeNetwork(env.demo, { name: 'sbad2' });
  await makeSubnet(env.demo, other.id, '10.80.0.0/24');
});

test('subnets on networks of others: not on a private one, only the owner on a shared one', async () => {
  const priv = await makeNetwork(env.alt, { name: 'alt-only' });
  assertNeutronError(await post({ network_id: priv.id, cidr: '10.82.0.0/24' }), 404, 'NetworkNotFound');
  const shared = await makeNetwork(env.admin, { name: 'shared-s', shared: true });
  assertNeutronError(await post({ network_id: shared.id, cidr: '10.83.0.0/24' }), 403);
  const s = await makeSubnet(env.admin, shared.id, '10.83.0.0/24');
  assert.equal((await env.demo.json('GET', `${N}/subnets/${s.id}`)).status, 200, 'members see the subnets of shared networks');
  assertNeutronError(await env.demo.json('PUT', `${N}/subnets/${s.id}`, { subnet: { name: 'mine' } }), 403);
  assertNeutronError(await env.demo.json('DELETE', `${N}/subnets/${s.id}`), 403);
});

test('updates: DNS, routes, pools and gateway are checked again; read-only attributes refused', async () => {
  const n = await makeNetwork(env.demo, { name: 'supd' });
  const s = await makeSubnet(env.demo, n.id, '10.84.0.0/24');
  const put = (body: Record<string, unknown>, headers?: Record<string, string>) => env.demo.json('PUT', `${N}/subnets/${s.id}`, { subnet: body }, headers);
  const a = await put({ dns_nameservers: ['192.0.2.1'], host_routes: [{ destination: '192.0.2.0/24', nexthop: '10.84.0.9' }], name: 'renamed', enable_dhcp: false });
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.deepEqual(a.body.subnet.dns_nameservers, ['192.0.2.1']);
  assert.equal(a.body.subnet.enable_dhcp, false);
  assert.equal(a.body.subnet.revision_number, s.revision_number + 1);
  const b = await put({ allocation_pools: [{ start: '10.84.0.100', end: '10.84.0.150' }] });
  assert.deepEqual(b.body.subnet.allocation_pools, [{ start: '10.84.0.100', end: '10.84.0.150' }]);
  assertNeutronError(await put({ gateway_ip: '10.84.0.120' }), 409, 'GatewayConflictWithAllocationPools');
  assertNeutronError(await put({ gateway_ip: '10.84.0.0' }), 400);
  assertNeutronError(await put({ gateway_ip: '10.84.0.255' }), 400);
  const c = await put({ gateway_ip: '10.84.0.254' });
  assert.equal(c.body.subnet.gateway_ip, '10.84.0.254');
  for (const ro of [{ cidr: '10.85.0.0/24' }, { ip_version: 6 }, { network_id: n.id }, { project_id: env.altProject }]) {
    assertNeutronError(await put(ro), 400);
  }
  assertNeutronError(await put({ dns_nameservers: ['nope'] }), 400);
  assertNeutronError(await put({ name: 'x' }, { 'If-Match': `revision_number=${s.revision_number}` }), 412);
  const shown = await env.demo.json('GET', `${N}/subnets/${s.id}`);
  assert.equal(shown.body.subnet.gateway_ip, '10.84.0.254', 'the refused updates wrote nothing');
  assert.equal(shown.body.subnet.name, 'renamed');

  // A gateway address held by a port cannot become the gateway.
  const p = await makePort(env.demo, n.id, { fixed_ips: [{ ip_address: '10.84.0.120' }] });
  assertNeutronError(await put({ allocation_pools: [{ start: '10.84.0.2', end: '10.84.0.100' }], gateway_ip: '10.84.0.120' }), 409, 'GatewayIpInUse');
  // Ports on the subnet keep it from being deleted.
  assertNeutronError(await env.demo.json('DELETE', `${N}/subnets/${s.id}`), 409, 'SubnetInUse');
  assert.equal((await env.demo.request('DELETE', `${N}/ports/${p.id}`)).status, 204);
  assert.equal((await env.demo.request('DELETE', `${N}/subnets/${s.id}`)).status, 204);
  assertNeutronError(await env.demo.json('GET', `${N}/subnets/${s.id}`), 404, 'SubnetNotFound');
  assert.deepEqual((await env.demo.json('GET', `${N}/networks/${n.id}`)).body.network.subnets, []);
});

test('list filters on subnets', async () => {
  const n = await makeNetwork(env.alt, { name: 'sf' });
  await makeSubnet(env.alt, n.id, '10.86.0.0/24', { name: 'four' });
  await makeSubnet(env.alt, n.id, 'fd00:86::/64', { name: 'six' });
  const v6 = await env.alt.json('GET', `${N}/subnets?network_id=${n.id}&ip_version=6`);
  assert.deepEqual(v6.body.subnets.map((s: any) => s.name), ['six']);
  const byCidr = await env.alt.json('GET', `${N}/subnets?cidr=10.86.0.0/24`);
  assert.deepEqual(byCidr.body.subnets.map((s: any) => s.name), ['four']);
  const dhcp = await env.alt.json('GET', `${N}/subnets?network_id=${n.id}&enable_dhcp=true&fields=name&sort_key=name&sort_dir=desc`);
  assert.deepEqual(dhcp.body.subnets, [{ name: 'six' }, { name: 'four' }]);
});

test('a SLAAC subnet may go while ports use it: their EUI-64 addresses go with it', async () => {
  const n = await makeNetwork(env.demo, { name: 'slaac-del' });
  const v4 = await makeSubnet(env.demo, n.id, '10.87.0.0/24');
  const s6 = await makeSubnet(env.demo, n.id, 'fd00:87::/64', { ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac' });
  const p = await makePort(env.demo, n.id);
  assert.equal(p.fixed_ips.length, 2);
  assertNeutronError(await env.demo.json('DELETE', `${N}/subnets/${v4.id}`), 409, 'SubnetInUse');
  assert.equal((await env.demo.request('DELETE', `${N}/subnets/${s6.id}`)).status, 204);
  const after = (await env.demo.json('GET', `${N}/ports/${p.id}`)).body.port;
  assert.deepEqual(after.fixed_ips.map((f: any) => f.subnet_id), [v4.id]);
  assert.ok(after.revision_number > p.revision_number);
  assertNeutronError(await env.demo.json('DELETE', `${N}/networks/${n.id}`), 409, 'NetworkInUse');
});

test('bulk create is all or nothing, also with subnets from a pool', async () => {
  const n = await makeNetwork(env.admin, { name: 'sbulk' });
  assertNeutronError(await env.admin.json('POST', `${N}/subnets`, { subnets: [{ network_id: n.id, cidr: '10.88.0.0/24', ip_version: 4 }, { network_id: n.id, cidr: 'nope', ip_version: 4 }] }), 400);
  assert.deepEqual((await env.admin.json('GET', `${N}/subnets?network_id=${n.id}`)).body.subnets, []);
  const pool = (await env.admin.json('POST', `${N}/subnetpools`, { subnetpool: { name: 'bulk-pool', prefixes: ['10.89.0.0/16'], default_prefixlen: 24 } })).body.subnetpool;
  const r = await env.admin.json('POST', `${N}/subnets`, { subnets: [{ network_id: n.id, subnetpool_id: pool.id, ip_version: 4 }, { network_id: n.id, subnetpool_id: pool.id, ip_version: 4 }] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(new Set(r.body.subnets.map((s: any) => s.cidr)).size, 2, 'two different CIDRs from the pool');
  assert.ok(r.body.subnets.every((s: any) => s.cidr.startsWith('10.89.') && s.subnetpool_id === pool.id));
});
