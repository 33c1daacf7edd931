// IPAM through HTTP: many concurrent port creates on a small subnet never share an address and
// end in 201s or clean 409 IpAddressGenerationFailure errors; explicit addresses that are taken,
// outside the subnet or reserved are refused; freed addresses come back; IPv6 SLAAC addresses
// follow the MAC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, makeNetwork, makeSubnet, makePort, assertNeutronError } from './test_helpers.ts';
import { parseIp } from './ip.ts';

const env = networkTestEnv();

test('50 parallel port creates on a pool of 40 addresses: 40 distinct addresses, 10 clean 409s', async () => {
  const net = await makeNetwork(env.admin, { name: 'small' });
  const subnet = await makeSubnet(env.admin, net.id, '10.40.0.0/26', { allocation_pools: [{ start: '10.40.0.10', end: '10.40.0.49' }] });
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    env.admin.json('POST', `${N}/ports`, { port: { network_id: net.id, name: `p${i}` } })));
  const created = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status !== 201);
  assert.equal(created.length, 40);
  assert.equal(refused.length, 10);
  for (const r of refused) assertNeutronError(r, 409, 'IpAddressGenerationFailure');

  const addresses = created.map((r) => r.body.port.fixed_ips[0].ip_address);
  assert.equal(new Set(addresses).size, 40, 'no address is given twice');
  for (const r of created) {
    assert.equal(r.body.port.fixed_ips.length, 1);
    assert.equal(r.body.port.fixed_ips[0].subnet_id, subnet.id);
  }
  const last = (a: string) => Number(a.split('.')[3]);
  assert.ok(addresses.every((a) => a.startsWith('10.40.0.') && last(a) >= 10 && last(a) <= 49), 'every address is from the pool');

  // Nothing half-written: exactly 40 ports on the network, each with its one address.
  const listed = await env.admin.json('GET', `${N}/ports?network_id=${net.id}`);
  assert.equal(listed.body.ports.length, 40);
  assert.deepEqual(new Set(listed.body.ports.map((p: any) => p.fixed_ips[0].ip_address)), new Set(addresses));

  // A freed address can be had again, explicitly.
  const victim = created[0].body.port;
  assert.equal((await env.admin.request('DELETE', `${N}/ports/${victim.id}`)).status, 204);
  const again = await makePort(env.admin, net.id, { fixed_ips: [{ subnet_id: subnet.id, ip_address: victim.fixed_ips[0].ip_address }] });
  assert.equal(again.fixed_ips[0].ip_address, victim.fixed_ips[0].ip_address);
});

test('fixed IP requests: taken → 409 IpAddressAlreadyAllocated, outside or reserved → 400, unknown subnet → 404', async () => {
  const net = await makeNetwork(env.demo, { name: 'fixed' });
  const other = await makeNetwork(env.demo, { name: 'other' });
  const subnet = await makeSubnet(env.demo, net.id, '10.41.0.0/24');
  const otherSubnet = await makeSubnet(env.demo, other.id, '10.42.0.0/24');
  const p = await makePort(env.demo, net.id, { fixed_ips: [{ ip_address: '10.41.0.20' }] });
  assert.deepEqual(p.fixed_ips, [{ subnet_id: subnet.id, ip_address: '10.41.0.20' }]);

  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.41.0.20' }] } }), 409, 'IpAddressAlreadyAllocated');
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ subnet_id: subnet.id, ip_address: '10.41.0.20' }] } }), 409, 'IpAddressAlreadyAllocated');
  // The gateway is an allocated address in Neutron's eyes only once a router holds it; it is outside the pools, and may be asked for.
  for (const bad of ['10.43.0.5', '10.41.0.0', '10.41.0.255']) {
    assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ ip_address: bad }] } }), 400);
  }
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ subnet_id: otherSubnet.id }] } }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ subnet_id: '6c5f1d36-0000-4000-8000-000000000000' }] } }), 404, 'SubnetNotFound');
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ ip_address: 'not-an-ip' }] } }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: { ip_address: '10.41.0.9' } } }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.41.0.9', color: 'red' }] } }), 400);

  // Two addresses of one subnet on one port, and the same address twice in one request.
  const two = await makePort(env.demo, net.id, { fixed_ips: [{ subnet_id: subnet.id }, { ip_address: '10.41.0.30' }] });
  assert.equal(two.fixed_ips.length, 2);
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.41.0.31' }, { ip_address: '10.41.0.31' }] } }), 400);
  // The pool pick never takes an address asked for explicitly in the same request (explicit ones go first).
  const pair = await makeNetwork(env.demo, { name: 'pair' });
  const pairSubnet = await makeSubnet(env.demo, pair.id, '10.46.0.0/24', { allocation_pools: [{ start: '10.46.0.10', end: '10.46.0.11' }] });
  const both = await makePort(env.demo, pair.id, { fixed_ips: [{ subnet_id: pairSubnet.id }, { ip_address: '10.46.0.10' }] });
  assert.deepEqual(both.fixed_ips.map((f: any) => f.ip_address).sort(), ['10.46.0.10', '10.46.0.11']);

  // Updating fixed_ips: keep one, swap the other; the released address is free again. The pool
  // picks addresses at random, so the new one is one the pick did not take.
  const dropped = two.fixed_ips.find((f: any) => f.ip_address !== '10.41.0.30').ip_address;
  const swapped = dropped === '10.41.0.32' ? '10.41.0.33' : '10.41.0.32';
  const upd = await env.demo.json('PUT', `${N}/ports/${two.id}`, { port: { fixed_ips: [{ ip_address: '10.41.0.30' }, { ip_address: swapped }] } });
  assert.equal(upd.status, 200, JSON.stringify(upd.body));
  assert.deepEqual(upd.body.port.fixed_ips.map((f: any) => f.ip_address).sort(), ['10.41.0.30', swapped]);
  await makePort(env.demo, net.id, { fixed_ips: [{ ip_address: dropped }] });
  // Taking another port's address in an update is refused and changes nothing.
  const clash = await env.demo.json('PUT', `${N}/ports/${two.id}`, { port: { fixed_ips: [{ ip_address: '10.41.0.20' }] } });
  assertNeutronError(clash, 409, 'IpAddressAlreadyAllocated');
  const after = await env.demo.json('GET', `${N}/ports/${two.id}`);
  assert.deepEqual(after.body.port.fixed_ips.map((f: any) => f.ip_address).sort(), ['10.41.0.30', swapped]);
});

test('a port gets one IPv4 address, one DHCPv6-stateful address and its SLAAC address (EUI-64 of its MAC)', async () => {
  const net = await makeNetwork(env.admin, { name: 'dual' });
  await makeSubnet(env.admin, net.id, '10.44.0.0/24');
  await makeSubnet(env.admin, net.id, 'fd00:44::/64', { ipv6_address_mode: 'dhcpv6-stateful', ipv6_ra_mode: 'dhcpv6-stateful' });
  const slaac = await makeSubnet(env.admin, net.id, 'fd00:45::/64', { ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' });
  const p = await makePort(env.admin, net.id, { mac_address: 'fa:16:3e:12:34:56' });
  const ips = p.fixed_ips.map((f: any) => f.ip_address);
  assert.equal(ips.length, 3, JSON.stringify(ips));
  assert.ok(ips.some((a: string) => a.startsWith('10.44.0.')));
  assert.ok(ips.some((a: string) => a.startsWith('fd00:44::')));
  assert.ok(ips.includes('fd00:45::f816:3eff:fe12:3456'), JSON.stringify(ips));
  // An explicit address on a SLAAC subnet is refused.
  assertNeutronError(await env.admin.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ subnet_id: slaac.id, ip_address: 'fd00:45::99' }] } }), 400);
  // IPv6 addresses are compared in canonical form: another spelling of a taken address is still taken.
  const v6: string = ips.find((a: string) => a.startsWith('fd00:44::'));
  // Every group written out, zero-padded and upper case: "FD00:0044:0000:...".
  const spelled = parseIp(v6)!.value.toString(16).padStart(32, '0').toUpperCase().match(/.{4}/g)!.join(':');
  assertNeutronError(await env.admin.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [{ ip_address: spelled }] } }), 409, 'IpAddressAlreadyAllocated');
});

test('a subnet of four addresses is full after its pool, and the MAC is unique on the cloud', async () => {
  const net = await makeNetwork(env.admin, { name: 'tiny' });
  await makeSubnet(env.admin, net.id, '10.46.0.0/29');
  // /29: .1 is the gateway, pool .2-.6
  const got = [];
  for (let i = 0; i < 5; i++) got.push((await makePort(env.admin, net.id)).fixed_ips[0].ip_address);
  assert.deepEqual(got.sort(), ['10.46.0.2', '10.46.0.3', '10.46.0.4', '10.46.0.5', '10.46.0.6']);
  assertNeutronError(await env.admin.json('POST', `${N}/ports`, { port: { network_id: net.id } }), 409, 'IpAddressGenerationFailure');
  // A port without addresses can still be made on a full subnet.
  const bare = await makePort(env.admin, net.id, { fixed_ips: [] });
  assert.deepEqual(bare.fixed_ips, []);
  assertNeutronError(await env.admin.json('POST', `${N}/ports`, { port: { network_id: net.id, fixed_ips: [], mac_address: bare.mac_address } }), 409, 'MacAddressInUse');
});

test('Nova attaching an interface to a full subnet: 400 in Nova\'s format; a taken fixed IP: 409', async () => {
  const net = await makeNetwork(env.demo, { name: 'nova-full' });
  await makeSubnet(env.demo, net.id, '10.47.0.0/29');
  const image = (await env.demo.json('GET', '/image/v2/images?status=active')).body.images[0].id;
  const boot = await env.demo.json('POST', '/compute/v2.1/servers', { server: { name: 'full-vm', imageRef: image, flavorRef: '1', networks: [{ uuid: net.id }] } });
  assert.equal(boot.status, 202, JSON.stringify(boot.body));
  await env.cloud.ctx.tasks.idle();
  const taken = (await env.demo.json('GET', `${N}/ports?device_id=${boot.body.server.id}`)).body.ports[0].fixed_ips[0].ip_address;
  const attach = (body: unknown) => env.demo.json('POST', `/compute/v2.1/servers/${boot.body.server.id}/os-interface`, { interfaceAttachment: body });
  const clash = await attach({ net_id: net.id, fixed_ips: [{ ip_address: taken }] });
  assert.equal(clash.status, 409, JSON.stringify(clash.body));
  for (let i = 0; i < 4; i++) await makePort(env.demo, net.id);
  const full = await attach({ net_id: net.id });
  assert.equal(full.status, 400, JSON.stringify(full.body));
  assert.ok(full.body.badRequest, 'Nova\'s error format, not Neutron\'s');
  assert.equal((await env.demo.json('GET', `${N}/ports?network_id=${net.id}`)).body.ports.length, 5, 'no port was left behind');
});
