// Routers and floating IPs through HTTP: a gateway on an external network, interfaces by subnet
// and by port, extra routes and their checks, floating IPs associated with a port behind a
// router (and shown on the server that has the port), and what keeps routers and interfaces
// from going away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, make, makeNetwork, makeSubnet, makePort, assertNeutronError } from './test_helpers.ts';

const env = networkTestEnv();
let ext: any;
let extSubnet: any;

/** The external network every test uses, made by the first one. */
async function publicNetwork() {
  if (ext) return;
  ext = await makeNetwork(env.admin, { name: 'public', 'router:external': true });
  extSubnet = await makeSubnet(env.admin, ext.id, '172.30.0.0/24', { allocation_pools: [{ start: '172.30.0.10', end: '172.30.0.200' }] });
}

const iface = (s: typeof env.demo, router: string, body: Record<string, unknown>, op = 'add') => s.json('PUT', `${N}/routers/${router}/${op}_router_interface`, body);

/** A project network with a subnet, plugged into a new router with a gateway on the public network. */
async function topology(s: typeof env.demo, cidr: string) {
  await publicNetwork();
  const net = await makeNetwork(s, { name: `inner-${cidr}` });
  const subnet = await makeSubnet(s, net.id, cidr);
  const router = await make(s, 'routers', 'router', { name: `r-${cidr}`, external_gateway_info: { network_id: ext.id } });
  const r = await iface(s, router.id, { subnet_id: subnet.id });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { net, subnet, router, iface: r.body };
}

test('a router with a gateway on the external network', async () => {
  await publicNetwork();
  const r = await make(env.demo, 'routers', 'router', { name: 'edge', external_gateway_info: { network_id: ext.id } });
  assert.equal(r.status, 'ACTIVE');
  assert.equal(r.external_gateway_info.network_id, ext.id);
  assert.equal(r.external_gateway_info.enable_snat, true);
  assert.equal(r.external_gateway_info.external_fixed_ips.length, 1);
  assert.equal(r.external_gateway_info.external_fixed_ips[0].subnet_id, extSubnet.id);
  assert.match(r.external_gateway_info.external_fixed_ips[0].ip_address, /^172\.30\.0\./);
  // The gateway port is the router's (admins see it), and not the member's to delete.
  const gw = (await env.admin.json('GET', `${N}/ports?device_id=${r.id}&device_owner=network:router_gateway`)).body.ports;
  assert.equal(gw.length, 1);
  assertNeutronError(await env.admin.json('DELETE', `${N}/ports/${gw[0].id}`), 409);

  // Members choose neither SNAT nor the gateway's address; admins may.
  assertNeutronError(await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { external_gateway_info: { network_id: ext.id, enable_snat: false } } }), 403);
  const fixed = await env.admin.json('PUT', `${N}/routers/${r.id}`, { router: { external_gateway_info: { network_id: ext.id, enable_snat: false, external_fixed_ips: [{ ip_address: '172.30.0.222' }] } } });
  assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
  assert.equal(fixed.body.router.external_gateway_info.enable_snat, false);
  assert.deepEqual(fixed.body.router.external_gateway_info.external_fixed_ips, [{ subnet_id: extSubnet.id, ip_address: '172.30.0.222' }]);
  assert.equal((await env.admin.json('GET', `${N}/ports?device_id=${r.id}`)).body.ports.length, 1, 'the old gateway port is gone');

  // Not external, unknown, or malformed: refused, nothing changes.
  const inner = await makeNetwork(env.demo, { name: 'not-external' });
  assertNeutronError(await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { external_gateway_info: { network_id: inner.id } } }), 400);
  assertNeutronError(await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { external_gateway_info: { network_id: 'a0a0a0a0-0000-4000-8000-000000000000' } } }), 404, 'NetworkNotFound');
  assertNeutronError(await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { external_gateway_info: 'public' } }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/routers`, { router: { name: 'bad', external_gateway_info: { network_id: inner.id } } }), 400);
  assert.equal((await env.demo.json('GET', `${N}/routers?name=bad`)).body.routers.length, 0, 'no half-made router');
  assert.equal((await env.demo.json('GET', `${N}/routers/${r.id}`)).body.router.external_gateway_info.network_id, ext.id);

  // Clearing the gateway frees its port.
  const cleared = await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { external_gateway_info: {} } });
  assert.equal(cleared.body.router.external_gateway_info, null);
  assert.equal((await env.admin.json('GET', `${N}/ports?device_id=${r.id}`)).body.ports.length, 0);
  assert.equal((await env.demo.request('DELETE', `${N}/routers/${r.id}`)).status, 204);
  assertNeutronError(await env.demo.json('GET', `${N}/routers/${r.id}`), 404, 'RouterNotFound');
});

test('interfaces by subnet and by port; overlaps, duplicates and busy ports refused', async () => {
  const t = await topology(env.demo, '10.100.0.0/24');
  assert.equal(t.iface.subnet_id, t.subnet.id);
  assert.deepEqual(t.iface.subnet_ids, [t.subnet.id]);
  assert.equal(t.iface.id, t.router.id);
  const port = (await env.demo.json('GET', `${N}/ports/${t.iface.port_id}`)).body.port;
  assert.equal(port.device_owner, 'network:router_interface');
  assert.equal(port.device_id, t.router.id);
  assert.deepEqual(port.fixed_ips, [{ subnet_id: t.subnet.id, ip_address: '10.100.0.1' }], 'the interface takes the gateway address');
  assertNeutronError(await env.demo.json('DELETE', `${N}/ports/${port.id}`), 409);
  assertNeutronError(await iface(env.demo, t.router.id, { subnet_id: t.subnet.id }), 400);

  // By port: a port on another network, with its address.
  const net2 = await makeNetwork(env.demo, { name: 'second' });
  await makeSubnet(env.demo, net2.id, '10.101.0.0/24');
  const p2 = await makePort(env.demo, net2.id, { fixed_ips: [{ ip_address: '10.101.0.5' }] });
  const byPort = await iface(env.demo, t.router.id, { port_id: p2.id });
  assert.equal(byPort.status, 200, JSON.stringify(byPort.body));
  assert.equal(byPort.body.port_id, p2.id);
  const p2after = (await env.demo.json('GET', `${N}/ports/${p2.id}`)).body.port;
  assert.equal(p2after.device_owner, 'network:router_interface');
  assert.equal(p2after.device_id, t.router.id);
  const listed = (await env.demo.json('GET', `${N}/ports?device_id=${t.router.id}&device_owner=network:router_interface`)).body.ports;
  assert.equal(listed.length, 2);

  // A port on another router is busy; overlapping subnets cannot both be on one router.
  const other = await make(env.demo, 'routers', 'router', { name: 'other' });
  assertNeutronError(await iface(env.demo, other.id, { port_id: p2.id }), 409, 'PortInUse');
  const net3 = await makeNetwork(env.demo, { name: 'overlap' });
  const s3 = await makeSubnet(env.demo, net3.id, '10.100.0.0/25');
  assertNeutronError(await iface(env.demo, t.router.id, { subnet_id: s3.id }), 400);
  const noGw = await makeSubnet(env.demo, net3.id, '10.102.0.0/24', { gateway_ip: null });
  assertNeutronError(await iface(env.demo, t.router.id, { subnet_id: noGw.id }), 400);
  for (const bad of [{}, { subnet_id: t.subnet.id, port_id: p2.id }, { network_id: net3.id }]) {
    assertNeutronError(await iface(env.demo, other.id, bad), 400);
  }
  assertNeutronError(await iface(env.demo, other.id, { subnet_id: 'b0b0b0b0-0000-4000-8000-000000000000' }), 404, 'SubnetNotFound');
  // Another project's router is not there.
  assertNeutronError(await iface(env.alt, t.router.id, { subnet_id: t.subnet.id }), 404, 'RouterNotFound');

  // A router with interfaces cannot be deleted; removing them by port and by subnet.
  assertNeutronError(await env.demo.json('DELETE', `${N}/routers/${t.router.id}`), 409, 'RouterInUse');
  assertNeutronError(await iface(env.demo, t.router.id, { subnet_id: s3.id }, 'remove'), 404, 'RouterInterfaceNotFoundForSubnet');
  assertNeutronError(await iface(env.demo, t.router.id, { port_id: p2.id, subnet_id: t.subnet.id }, 'remove'), 409);
  assert.equal((await iface(env.demo, t.router.id, { port_id: p2.id }, 'remove')).status, 200);
  assertNeutronError(await env.demo.json('GET', `${N}/ports/${p2.id}`), 404, 'PortNotFound');
  assert.equal((await iface(env.demo, t.router.id, { subnet_id: t.subnet.id }, 'remove')).status, 200);
  assert.equal((await env.demo.json('GET', `${N}/ports?device_id=${t.router.id}&device_owner=network:router_interface`)).body.ports.length, 0);
  assert.equal((await env.demo.request('DELETE', `${N}/routers/${t.router.id}`)).status, 204);
  assert.equal((await env.admin.json('GET', `${N}/ports?device_id=${t.router.id}`)).body.ports.length, 0, 'the gateway port went with the router');
});

test('extra routes: the nexthop must be on a connected subnet; routes keep their interface', async () => {
  const t = await topology(env.demo, '10.103.0.0/24');
  const put = (routes: unknown) => env.demo.json('PUT', `${N}/routers/${t.router.id}`, { router: { routes } });
  const ok = await put([{ destination: '192.0.2.0/24', nexthop: '10.103.0.10' }, { destination: '198.51.100.0/24', nexthop: '10.103.0.11' }]);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.router.routes.length, 2);
  assertNeutronError(await put([{ destination: '192.0.2.0/24', nexthop: '10.199.0.1' }]), 400, 'InvalidRoutes');
  assertNeutronError(await put([{ destination: 'nowhere', nexthop: '10.103.0.10' }]), 400);
  assertNeutronError(await put([{ destination: '192.0.2.0/24' }]), 400);
  assertNeutronError(await put([{ destination: '192.0.2.0/24', nexthop: '10.103.0.10', metric: 5 }]), 400);
  assertNeutronError(await put('192.0.2.0/24 via 10.103.0.10'), 400);
  assertNeutronError(await put([{ destination: '192.0.2.0/24', nexthop: '10.103.0.10' }, { destination: '192.0.2.0/24', nexthop: '10.103.0.10' }]), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/routers`, { router: { name: 'with-routes', routes: [{ destination: '192.0.2.0/24', nexthop: '10.103.0.10' }] } }), 400);
  assert.equal((await env.demo.json('GET', `${N}/routers/${t.router.id}`)).body.router.routes.length, 2, 'refused updates keep the routes');
  // The interface a route goes through cannot be removed while the route is there.
  assertNeutronError(await iface(env.demo, t.router.id, { subnet_id: t.subnet.id }, 'remove'), 409, 'RouterInterfaceInUseByRoute');
  const none = await put([]);
  assert.deepEqual(none.body.router.routes, []);
  assert.equal((await iface(env.demo, t.router.id, { subnet_id: t.subnet.id }, 'remove')).status, 200);
});

test('If-Match and revision numbers on routers', async () => {
  const r = await make(env.demo, 'routers', 'router', { name: 'rev-router' });
  const u = await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { name: 'rev-router-2' } }, { 'If-Match': `revision_number=${r.revision_number}` });
  assert.equal(u.status, 200);
  assert.equal(u.body.router.revision_number, r.revision_number + 1);
  assertNeutronError(await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { name: 'x' } }, { 'If-Match': `revision_number=${r.revision_number}` }), 412);
  assertNeutronError(await env.demo.json('DELETE', `${N}/routers/${r.id}`, undefined, { 'If-Match': `revision_number=${r.revision_number}` }), 412);
  assertNeutronError(await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { admin_state_up: 'yes' } }), 400);
  assertNeutronError(await env.demo.json('PUT', `${N}/routers/${r.id}`, { router: { project_id: env.altProject } }), 400);
  assertNeutronError(await env.alt.json('PUT', `${N}/routers/${r.id}`, { router: { name: 'mine' } }), 404, 'RouterNotFound');
});

test('floating IPs: associated with a port behind a router, kept through port deletion, blocking the router', async () => {
  const t = await topology(env.demo, '10.104.0.0/24');
  const port = await makePort(env.demo, t.net.id);
  const fip = await make(env.demo, 'floatingips', 'floatingip', { floating_network_id: ext.id });
  assert.match(fip.floating_ip_address, /^172\.30\.0\./);
  assert.equal(fip.port_id, null);
  assert.equal(fip.status, 'DOWN');
  assert.equal(fip.router_id, null);

  const assoc = await env.demo.json('PUT', `${N}/floatingips/${fip.id}`, { floatingip: { port_id: port.id } });
  assert.equal(assoc.status, 200, JSON.stringify(assoc.body));
  assert.equal(assoc.body.floatingip.port_id, port.id);
  assert.equal(assoc.body.floatingip.fixed_ip_address, port.fixed_ips[0].ip_address);
  assert.equal(assoc.body.floatingip.router_id, t.router.id);
  assert.equal(assoc.body.floatingip.status, 'ACTIVE');
  assert.deepEqual((await env.demo.json('GET', `${N}/floatingips?port_id=${port.id}`)).body.floatingips.map((f: any) => f.id), [fip.id]);

  // A second floating IP on the same fixed address is refused; a port no router reaches too.
  const fip2 = await make(env.demo, 'floatingips', 'floatingip', { floating_network_id: ext.id });
  assertNeutronError(await env.demo.json('PUT', `${N}/floatingips/${fip2.id}`, { floatingip: { port_id: port.id } }), 409, 'FloatingIPPortAlreadyAssociated');
  const lonely = await makeNetwork(env.demo, { name: 'unrouted' });
  await makeSubnet(env.demo, lonely.id, '10.105.0.0/24');
  const lonelyPort = await makePort(env.demo, lonely.id);
  assertNeutronError(await env.demo.json('PUT', `${N}/floatingips/${fip2.id}`, { floatingip: { port_id: lonelyPort.id } }), 404, 'ExternalGatewayForFloatingIPNotFound');
  assertNeutronError(await env.demo.json('PUT', `${N}/floatingips/${fip2.id}`, { floatingip: { port_id: port.id, fixed_ip_address: '10.104.0.250' } }), 400);
  assertNeutronError(await env.alt.json('PUT', `${N}/floatingips/${fip2.id}`, { floatingip: { port_id: null } }), 404, 'FloatingIPNotFound');

  // What the association needs stays: the interface, the gateway, the router.
  assertNeutronError(await iface(env.demo, t.router.id, { subnet_id: t.subnet.id }, 'remove'), 409, 'RouterInterfaceInUseByFloatingIP');
  assertNeutronError(await env.demo.json('PUT', `${N}/routers/${t.router.id}`, { router: { external_gateway_info: {} } }), 409);
  assertNeutronError(await env.demo.json('DELETE', `${N}/routers/${t.router.id}`), 409, 'RouterInUse');

  // Bad creates.
  const inner = await makeNetwork(env.demo, { name: 'fip-not-external' });
  assertNeutronError(await env.demo.json('POST', `${N}/floatingips`, { floatingip: { floating_network_id: inner.id } }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/floatingips`, { floatingip: {} }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/floatingips`, { floatingip: { floating_network_id: ext.id, floating_ip_address: '172.30.0.199' } }), 403);
  assertNeutronError(await env.demo.json('POST', `${N}/floatingips`, { floatingip: { floating_network_id: ext.id, port_id: lonelyPort.id } }), 404, 'ExternalGatewayForFloatingIPNotFound');
  const count = (await env.demo.json('GET', `${N}/floatingips`)).body.floatingips.length;
  assert.equal(count, 2, 'refused creates left no floating IP');

  // Deleting the port lets go of the association; the floating IP stays.
  assert.equal((await env.demo.request('DELETE', `${N}/ports/${port.id}`)).status, 204);
  const left = (await env.demo.json('GET', `${N}/floatingips/${fip.id}`)).body.floatingip;
  assert.equal(left.port_id, null);
  assert.equal(left.fixed_ip_address, null);
  assert.equal(left.status, 'DOWN');
  assert.equal((await env.demo.request('DELETE', `${N}/floatingips/${fip.id}`)).status, 204);
  assert.equal((await env.demo.request('DELETE', `${N}/floatingips/${fip2.id}`)).status, 204);
  assertNeutronError(await env.demo.json('GET', `${N}/floatingips/${fip.id}`), 404, 'FloatingIPNotFound');
  // Their addresses are free again (their ports are gone).
  assert.equal((await env.admin.json('GET', `${N}/ports?network_id=${ext.id}&device_owner=network:floatingip`)).body.ports.length, 0);
});

test('a floating IP on a server\'s port shows in the server\'s addresses', async () => {
  const t = await topology(env.demo, '10.106.0.0/24');
  const image = (await env.demo.json('GET', '/image/v2/images?status=active')).body.images[0].id;
  const boot = await env.demo.json('POST', '/compute/v2.1/servers', { server: { name: 'fip-vm', imageRef: image, flavorRef: '1', networks: [{ uuid: t.net.id }] } });
  assert.equal(boot.status, 202, JSON.stringify(boot.body));
  await env.cloud.ctx.tasks.idle();
  const serverId = boot.body.server.id;
  const ports = (await env.demo.json('GET', `${N}/ports?device_id=${serverId}`)).body.ports;
  assert.equal(ports.length, 1);
  assert.equal(ports[0].device_owner, 'compute:nova');
  const fip = await make(env.demo, 'floatingips', 'floatingip', { floating_network_id: ext.id, port_id: ports[0].id });
  assert.equal(fip.fixed_ip_address, ports[0].fixed_ips[0].ip_address);

  const server = (await env.demo.json('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
  const addrs = server.addresses[t.net.name];
  assert.deepEqual(addrs.map((a: any) => [a.addr, a['OS-EXT-IPS:type']]), [[ports[0].fixed_ips[0].ip_address, 'fixed'], [fip.floating_ip_address, 'floating']]);

  // Deleting the server deletes the port Nova made and lets go of the floating IP.
  assert.equal((await env.demo.request('DELETE', `/compute/v2.1/servers/${serverId}`)).status, 204);
  await env.cloud.ctx.tasks.idle();
  assert.equal((await env.demo.json('GET', `${N}/ports?device_id=${serverId}`)).body.ports.length, 0);
  assert.equal((await env.demo.json('GET', `${N}/floatingips/${fip.id}`)).body.floatingip.port_id, null);
});

test('an external network goes with its unassociated floating IPs; an associated one keeps it', async () => {
  const pub = await makeNetwork(env.admin, { name: 'short-lived', 'router:external': true });
  const sub = await makeSubnet(env.admin, pub.id, '172.29.0.0/24');
  const loose = await make(env.admin, 'floatingips', 'floatingip', { floating_network_id: pub.id });
  assert.equal((await env.admin.request('DELETE', `${N}/networks/${pub.id}`)).status, 204);
  assertNeutronError(await env.admin.json('GET', `${N}/floatingips/${loose.id}`), 404, 'FloatingIPNotFound');
  assertNeutronError(await env.admin.json('GET', `${N}/subnets/${sub.id}`), 404, 'SubnetNotFound');

  const pub2 = await makeNetwork(env.admin, { name: 'kept', 'router:external': true });
  await makeSubnet(env.admin, pub2.id, '172.28.0.0/24');
  const net = await makeNetwork(env.admin, { name: 'behind-kept' });
  const s = await makeSubnet(env.admin, net.id, '10.107.0.0/24');
  const router = await make(env.admin, 'routers', 'router', { name: 'kept-router', external_gateway_info: { network_id: pub2.id } });
  assert.equal((await iface(env.admin, router.id, { subnet_id: s.id })).status, 200);
  const port = await makePort(env.admin, net.id);
  const bound = await make(env.admin, 'floatingips', 'floatingip', { floating_network_id: pub2.id, port_id: port.id });
  assertNeutronError(await env.admin.json('DELETE', `${N}/networks/${pub2.id}`), 409, 'NetworkInUse');
  assert.equal((await env.admin.json('GET', `${N}/floatingips/${bound.id}`)).status, 200, 'nothing was deleted');
});
