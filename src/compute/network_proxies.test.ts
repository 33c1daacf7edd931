// Nova's deprecated network proxies over Neutron, through HTTP below 2.36: os-security-groups
// and their rules (Nova's checks and error codes), os-floating-ip-pools, os-floating-ips, and
// the addFloatingIp/removeFloatingIp actions on a server behind a router. What Nova shows and
// what Neutron holds are the same records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeTestEnv } from './test_helpers.ts';

const env = computeTestEnv();
const C = '/compute/v2.1';
const N = '/networking/v2.0';

test('os-security-groups: the project\'s groups, Nova\'s checks, Neutron\'s records', async () => {
  const list = await env.demo.json('GET', `${C}/os-security-groups`);
  assert.equal(list.status, 200);
  const def = list.body.security_groups.find((g: any) => g.name === 'default');
  assert.ok(def, 'the default group is there');
  assert.equal(def.tenant_id, env.demoProject);
  assert.equal(def.rules.length, 2, 'Nova shows the ingress rules only');
  assert.deepEqual(def.rules.map((r: any) => r.group.name), ['default', 'default']);

  const made = await env.demo.json('POST', `${C}/os-security-groups`, { security_group: { name: 'web', description: 'web tier' } });
  assert.equal(made.status, 200, JSON.stringify(made.body));
  const g = made.body.security_group;
  assert.deepEqual(g.rules, []);
  const inNeutron = await env.demo.json('GET', `${N}/security-groups/${g.id}`);
  assert.equal(inNeutron.body.security_group.name, 'web');

  for (const name of ['', ' ', 'x'.repeat(256)]) {
    const r = await env.demo.json('POST', `${C}/os-security-groups`, { security_group: { name, description: 'd' } });
    assert.equal(r.status, 400, `name ${JSON.stringify(name)}`);
    assert.ok(r.body.badRequest, JSON.stringify(r.body));
  }
  assert.equal((await env.demo.json('DELETE', `${C}/os-security-groups/${def.id}`)).status, 400, 'the default group stays');
  assert.equal((await env.demo.json('GET', `${C}/os-security-groups/6f1a2b3c-0000-4000-8000-000000000000`)).status, 404);
  assert.equal((await env.demo.json('GET', `${C}/os-security-groups/${g.id}`, undefined, { 'OpenStack-API-Version': 'compute 2.36' })).status, 404);

  const rule = await env.demo.json('POST', `${C}/os-security-group-rules`, { security_group_rule: { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 80, to_port: 80, cidr: '10.0.0.0/8' } });
  assert.equal(rule.status, 200, JSON.stringify(rule.body));
  assert.deepEqual({ ...rule.body.security_group_rule, id: undefined }, { id: undefined, parent_group_id: g.id, ip_protocol: 'tcp', from_port: 80, to_port: 80, group: {}, ip_range: { cidr: '10.0.0.0/8' } });
  const dup = await env.demo.json('POST', `${C}/os-security-group-rules`, { security_group_rule: { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 80, to_port: 80, cidr: '10.0.0.0/8' } });
  assert.equal(dup.status, 400, JSON.stringify(dup.body));
  const icmp = await env.demo.json('POST', `${C}/os-security-group-rules`, { security_group_rule: { parent_group_id: g.id, ip_protocol: 'icmp', from_port: -1, to_port: -1, group_id: def.id } });
  assert.equal(icmp.status, 200, JSON.stringify(icmp.body));
  assert.deepEqual(icmp.body.security_group_rule.group, { name: 'default', tenant_id: env.demoProject });
  assert.equal((await env.demo.json('POST', `${C}/os-security-group-rules`, { security_group_rule: { parent_group_id: '6f1a2b3c-0000-4000-8000-000000000001', ip_protocol: 'tcp', from_port: 1, to_port: 2 } })).status, 404);
  const rules = (await env.demo.json('GET', `${N}/security-group-rules?security_group_id=${g.id}&direction=ingress`)).body.security_group_rules;
  assert.equal(rules.length, 2);

  const upd = await env.demo.json('PUT', `${C}/os-security-groups/${g.id}`, { security_group: { name: 'web2', description: 'renamed' } });
  assert.equal(upd.status, 200);
  assert.equal(upd.body.security_group.name, 'web2');
  assert.equal((await env.demo.json('DELETE', `${C}/os-security-group-rules/${rule.body.security_group_rule.id}`)).status, 202);
  assert.equal((await env.demo.json('DELETE', `${C}/os-security-group-rules/${rule.body.security_group_rule.id}`)).status, 404);
  assert.equal((await env.demo.json('DELETE', `${C}/os-security-groups/${g.id}`)).status, 202);
  assert.equal((await env.demo.json('GET', `${N}/security-groups/${g.id}`)).status, 404);
  // Another project's group is not found through Nova either.
  const alt = await env.admin.json('POST', `${N}/security-groups`, { security_group: { name: 'admins' } });
  assert.equal((await env.demo.json('GET', `${C}/os-security-groups/${alt.body.security_group.id}`)).status, 404);
});

test('os-floating-ips and the floating IP actions on a server behind a router', async () => {
  // The cloud: an external network, the project's network plugged into a router with a gateway on it.
  const ext = (await env.admin.json('POST', `${N}/networks`, { network: { name: 'public', 'router:external': true } })).body.network;
  assert.equal((await env.admin.json('POST', `${N}/subnets`, { subnet: { network_id: ext.id, cidr: '172.31.0.0/29', ip_version: 4 } })).status, 201);
  const net = (await env.demo.json('POST', `${N}/networks`, { network: { name: 'private' } })).body.network;
  const subnet = (await env.demo.json('POST', `${N}/subnets`, { subnet: { network_id: net.id, cidr: '10.9.0.0/24', ip_version: 4 } })).body.subnet;
  const router = (await env.demo.json('POST', `${N}/routers`, { router: { name: 'r', external_gateway_info: { network_id: ext.id } } })).body.router;
  assert.equal((await env.demo.json('PUT', `${N}/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id })).status, 200);

  assert.deepEqual((await env.demo.json('GET', `${C}/os-floating-ip-pools`)).body, { floating_ip_pools: [{ name: 'public' }] });
  assert.equal((await env.demo.json('POST', `${C}/os-floating-ips`, { pool: 'no-such-pool' })).status, 404);
  const a = await env.demo.json('POST', `${C}/os-floating-ips`, { pool: 'public' });
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const fip = a.body.floating_ip;
  assert.equal(fip.pool, 'public');
  assert.equal(fip.instance_id, null);
  assert.equal(fip.fixed_ip, null);
  assert.deepEqual((await env.demo.json('GET', `${C}/os-floating-ips/${fip.id}`)).body.floating_ip, fip);
  assert.deepEqual((await env.demo.json('GET', `${C}/os-floating-ips`)).body.floating_ips, [fip]);
  assert.equal((await env.demo.json('GET', `${N}/floatingips/${fip.id}`)).body.floatingip.floating_ip_address, fip.ip);
  const b = (await env.demo.json('POST', `${C}/os-floating-ips`, { pool: ext.id })).body.floating_ip;
  assert.ok(b.ip !== fip.ip);

  const image = (await env.demo.json('GET', '/image/v2/images?status=active')).body.images[0].id;
  const boot = await env.demo.json('POST', `${C}/servers`, { server: { name: 'vm', imageRef: image, flavorRef: '1', networks: [{ uuid: net.id }] } });
  assert.equal(boot.status, 202, JSON.stringify(boot.body));
  await env.cloud.ctx.tasks.idle();
  const server = boot.body.server.id;
  const action = (body: unknown) => env.demo.json('POST', `${C}/servers/${server}/action`, body);

  assert.equal((await action({ addFloatingIp: { address: fip.ip } })).status, 202);
  const shown = (await env.demo.json('GET', `${C}/os-floating-ips/${fip.id}`)).body.floating_ip;
  assert.equal(shown.instance_id, server);
  assert.match(shown.fixed_ip, /^10\.9\.0\./);
  const addrs = (await env.demo.json('GET', `${C}/servers/${server}`)).body.server.addresses.private;
  assert.deepEqual(addrs.map((x: any) => x['OS-EXT-IPS:type']), ['fixed', 'floating']);
  // A second floating IP on the same fixed address, and addresses that are not there.
  assert.equal((await action({ addFloatingIp: { address: b.ip } })).status, 400);
  assert.equal((await action({ addFloatingIp: { address: '0.0.0.0' } })).status, 404);
  assert.equal((await action({ addFloatingIp: { address: b.ip, fixed_address: '10.9.0.250' } })).status, 400);
  assert.equal((await action({ removeFloatingIp: { address: b.ip } })).status, 409, 'b is not on this server');
  assert.equal((await action({ removeFloatingIp: { address: '0.0.0.0' } })).status, 404);

  assert.equal((await action({ removeFloatingIp: { address: fip.ip } })).status, 202);
  assert.equal((await env.demo.json('GET', `${C}/os-floating-ips/${fip.id}`)).body.floating_ip.instance_id, null);
  assert.equal((await env.demo.json('DELETE', `${C}/os-floating-ips/${fip.id}`)).status, 202);
  assert.equal((await env.demo.json('GET', `${C}/os-floating-ips/${fip.id}`)).status, 404);
  assert.equal((await env.demo.json('DELETE', `${C}/os-floating-ips/${fip.id}`)).status, 404);
  assert.equal((await env.demo.json('GET', `${N}/floatingips/${fip.id}`)).status, 404);
  // The pool has 5 addresses: the router's gateway and b hold two; three more, then none.
  for (let i = 0; i < 3; i++) assert.equal((await env.demo.json('POST', `${C}/os-floating-ips`, { pool: 'public' })).status, 200);
  const full = await env.demo.json('POST', `${C}/os-floating-ips`, { pool: 'public' });
  assert.equal(full.status, 404, JSON.stringify(full.body));
  assert.ok(full.body.itemNotFound, 'in Nova\'s error format');
});
