// Neutron plugins against a running cloud: the network half of a three-tier stack (networks,
// subnets, a router with a gateway and an interface, ports, security groups, floating IPs), each
// made, updated where Heat allows, and deleted; interrupted creates are found by name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { floatingIp, floatingIpAssociation, net, port, router, routerInterface, securityGroup, securityGroupRule, subnet } from './neutron.ts';
import { create, pluginTestEnv, remove, resourceContext, update } from './test_helpers.ts';

const env = pluginTestEnv();

describe('OS::Neutron network resources', () => {
  it('builds and tears down a routed network with a floating IP on a port', async () => {
    // The external network, as an admin makes it (value_specs carry router:external).
    const pub = resourceContext(net, { name: 'public', value_specs: { 'router:external': true } }, env.adminClient);
    await create(net, pub);
    const pubSub = resourceContext(subnet, { network: pub.physicalId, cidr: '172.24.4.0/24', enable_dhcp: false }, env.adminClient);
    await create(subnet, pubSub);

    const priv = resourceContext(net, {}, env.client, { name: 'private_net' });
    await create(net, priv);
    assert.equal((await net.show!(priv) as any).name, priv.physicalName());
    assert.equal(await net.findInterrupted!({ ...priv, physicalId: null } as any), priv.physicalId);
    const sub = resourceContext(subnet, { network: priv.physicalId, cidr: '10.0.0.0/24', dns_nameservers: ['8.8.8.8'], gateway_ip: '10.0.0.1' }, env.client);
    await create(subnet, sub);
    assert.equal(await subnet.resolveAttribute(sub, 'gateway_ip'), '10.0.0.1');
    assert.deepEqual(await net.resolveAttribute(priv, 'subnets'), [sub.physicalId]);
    await update(subnet, sub, { dns_nameservers: ['1.1.1.1'], name: 'app-subnet' });
    assert.deepEqual(await subnet.resolveAttribute(sub, 'dns_nameservers'), ['1.1.1.1']);
    assert.equal(await subnet.resolveAttribute(sub, 'name'), 'app-subnet');

    const rtr = resourceContext(router, { external_gateway_info: { network: 'public' } }, env.client);
    await create(router, rtr);
    const gw: any = await router.resolveAttribute(rtr, 'external_gateway_info');
    assert.equal(gw.network_id, pub.physicalId);
    const iface = resourceContext(routerInterface, { router: rtr.physicalId, subnet: 'app-subnet' }, env.client);
    await create(routerInterface, iface);
    assert.equal(iface.physicalId, `${rtr.physicalId}:subnet=${sub.physicalId}`);
    await create(routerInterface, iface); // a retry finds the interface there

    const sg = resourceContext(securityGroup, { description: 'web', rules: [
      { protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_ip_prefix: '0.0.0.0/0' },
      { protocol: 'icmp', remote_mode: 'remote_group_id' },
    ] }, env.client);
    await create(securityGroup, sg);
    let rules = (await securityGroup.show!(sg) as any).security_group_rules as any[];
    assert.ok(rules.some((x) => x.protocol === 'tcp' && x.port_range_min === 80 && x.remote_ip_prefix === '0.0.0.0/0'));
    assert.ok(rules.some((x) => x.protocol === 'icmp' && x.remote_group_id === sg.physicalId));
    assert.ok(!rules.some((x) => x.direction === 'egress'), 'given rules replace the default egress ones');
    await update(securityGroup, sg, { rules: [{ protocol: 'tcp', port_range_min: 22, port_range_max: 22 }] });
    rules = (await securityGroup.show!(sg) as any).security_group_rules;
    assert.deepEqual(rules.map((x) => [x.protocol, x.port_range_min]), [['tcp', 22]]);
    const rule = resourceContext(securityGroupRule, { security_group: sg.physicalId, protocol: 'udp', port_range_min: 53, port_range_max: 53 }, env.client);
    await create(securityGroupRule, rule);
    assert.equal((await securityGroupRule.show!(rule) as any).protocol, 'udp');

    const p = resourceContext(port, { network: priv.physicalId, fixed_ips: [{ subnet: sub.physicalId, ip_address: '10.0.0.10' }], security_groups: [sg.physicalId] }, env.client);
    await create(port, p);
    assert.deepEqual((await port.resolveAttribute(p, 'fixed_ips') as any[]).map((f) => f.ip_address), ['10.0.0.10']);
    assert.deepEqual(await port.resolveAttribute(p, 'security_groups'), [sg.physicalId]);
    assert.equal((await port.resolveAttribute(p, 'subnets') as any[])[0].id, sub.physicalId);
    assert.equal((await port.resolveAttribute(p, 'network') as any).id, priv.physicalId);
    await update(port, p, { fixed_ips: [{ subnet: sub.physicalId, ip_address: '10.0.0.11' }], name: 'p2' });
    assert.deepEqual((await port.resolveAttribute(p, 'fixed_ips') as any[]).map((f) => f.ip_address), ['10.0.0.11']);
    assert.equal(port.needsReplace!({ changed: ['network'], oldProperties: {}, newProperties: {} }), true);

    const fip = resourceContext(floatingIp, { floating_network: 'public' }, env.client);
    await create(floatingIp, fip);
    assert.match(String(await floatingIp.resolveAttribute(fip, 'floating_ip_address')), /^172\.24\.4\./);
    const assoc = resourceContext(floatingIpAssociation, { floatingip_id: fip.physicalId, port_id: p.physicalId }, env.client);
    await create(floatingIpAssociation, assoc);
    assert.equal(await floatingIp.resolveAttribute(fip, 'port_id'), p.physicalId);
    assert.equal(await floatingIp.resolveAttribute(fip, 'router_id'), rtr.physicalId);
    await remove(floatingIpAssociation, assoc);
    assert.equal(await floatingIp.resolveAttribute(fip, 'port_id'), null);
    await update(floatingIp, fip, { port_id: p.physicalId });
    assert.equal(await floatingIp.resolveAttribute(fip, 'fixed_ip_address'), '10.0.0.11');

    // Tear down in reverse order, each twice (a repeated delete finds the object gone).
    for (const [pl, r] of [[floatingIp, fip], [port, p], [securityGroupRule, rule], [securityGroup, sg], [routerInterface, iface],
      [router, rtr], [subnet, sub], [net, priv], [subnet, pubSub], [net, pub]] as const) {
      await remove(pl, r);
      await remove(pl, r);
      assert.equal(await pl.show?.(r) ?? null, null, `${pl.type} is gone`);
    }
    const ports = await env.client.request('network', 'GET', `/ports?network_id=${priv.physicalId}`);
    assert.deepEqual(ports.body.ports, []);
  });

  it('validates what Heat validates and answers Heat\'s words for missing references', async () => {
    await assert.rejects(subnet.validate!({ network: 'x' }, { client: env.client }), /cidr, subnetpool/);
    await assert.rejects(routerInterface.validate!({ router: 'r' }, { client: env.client }), /subnet, port/);
    await assert.rejects(routerInterface.validate!({ router: 'r', subnet: 's', port: 'p' }, { client: env.client }), /subnet, port/);
    await assert.rejects(securityGroup.validate!({ name: 'default' }, { client: env.client }), /"default"/);
    // An old name next to its replacement is refused, not silently outvoted.
    const both = /Cannot define the following properties at the same time/;
    await assert.rejects(subnet.validate!({ network: 'a', network_id: 'b', cidr: '10.0.0.0/24' }, { client: env.client }), /network, network_id/);
    await assert.rejects(port.validate!({ network: 'a', network_id: 'b' }, { client: env.client }), both);
    await assert.rejects(port.validate!({ network: 'a', fixed_ips: [{ subnet: 's', subnet_id: 't' }] }, { client: env.client }), /fixed_ips.subnet, fixed_ips.subnet_id/);
    await assert.rejects(routerInterface.validate!({ router: 'r', router_id: 'q', subnet: 's' }, { client: env.client }), /router, router_id/);
    await assert.rejects(floatingIp.validate!({ floating_network: 'a', floating_network_id: 'b' }, { client: env.client }), both);
    await port.validate!({ network: 'a', fixed_ips: [{ subnet: 's' }] }, { client: env.client });
    const r = resourceContext(subnet, { network: 'no-such-net', cidr: '10.9.0.0/24' }, env.client);
    await assert.rejects(subnet.handleCreate(r), /Unable to find network with name or id 'no-such-net'/);
    assert.equal(r.physicalId, null);
  });
});

describe('OS::Neutron::Subnet updates (as Heat\'s functional tests make them)', () => {
  it('changes allocation pools and the gateway, and removing them leaves none', async () => {
    const n = resourceContext(net, {}, env.client);
    await create(net, n);
    const s = resourceContext(subnet, { network: n.physicalId, cidr: '11.11.11.0/24', gateway_ip: '11.11.11.5', allocation_pools: [{ start: '11.11.11.10', end: '11.11.11.250' }] }, env.client);
    await create(subnet, s);
    assert.deepEqual(await subnet.resolveAttribute(s, 'allocation_pools'), [{ start: '11.11.11.10', end: '11.11.11.250' }]);
    await update(subnet, s, { allocation_pools: [{ start: '11.11.11.10', end: '11.11.11.100' }], gateway_ip: '11.11.11.9' });
    assert.deepEqual(await subnet.resolveAttribute(s, 'allocation_pools'), [{ start: '11.11.11.10', end: '11.11.11.100' }]);
    assert.equal(await subnet.resolveAttribute(s, 'gateway_ip'), '11.11.11.9');
    await update(subnet, s, { allocation_pools: null, gateway_ip: null });
    assert.deepEqual(await subnet.resolveAttribute(s, 'allocation_pools'), []);
    assert.equal(await subnet.resolveAttribute(s, 'gateway_ip'), null);
    await remove(subnet, s);
    // An empty gateway_ip at create: a subnet without a gateway (absent: Neutron picks one).
    const none = resourceContext(subnet, { network: n.physicalId, cidr: '11.11.12.0/24', gateway_ip: '' }, env.client);
    await create(subnet, none);
    assert.equal(await subnet.resolveAttribute(none, 'gateway_ip'), null);
    await remove(subnet, none);
    await remove(net, n);
  });
});
