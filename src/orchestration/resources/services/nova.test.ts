// Nova plugins against a running cloud: a server on a Heat-made network goes ACTIVE, answers its
// attributes, is renamed, resized and re-networked in place and deleted; keypairs, flavors and
// server groups are made and removed; an interrupted server create is found by its name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flavor, keypair, server, serverGroup } from './nova.ts';
import { net, subnet } from './neutron.ts';
import { create, fakeClient, notFound, pluginTestEnv, remove, resourceContext, update } from './test_helpers.ts';

const env = pluginTestEnv();

async function network(name: string, cidr: string) {
  const n = resourceContext(net, { name }, env.client);
  await create(net, n);
  const s = resourceContext(subnet, { network: name, cidr }, env.client);
  await create(subnet, s);
  return { n, s };
}

describe('OS::Nova::Server', () => {
  it('boots on a network by name, shows its attributes, updates in place and deletes', async () => {
    const { n, s } = await network('srv-net', '10.20.0.0/24');
    const n2 = await network('srv-net2', '10.21.0.0/24');
    const r = resourceContext(server, { image: env.imageId, flavor: 'm1.tiny', networks: [{ network: 'srv-net' }], metadata: { a: 1, b: 'x' } }, env.client, { name: 'web' });
    await create(server, r);
    assert.match(r.physicalId!, /^[0-9a-f-]{36}$/);
    const shown: any = await server.resolveAttribute(r, 'show');
    assert.equal(shown.status, 'ACTIVE');
    assert.equal(shown.name, r.physicalName(), 'no name property: the physical name');
    assert.deepEqual(shown.metadata, { a: '1', b: 'x' });
    const first = await server.resolveAttribute(r, 'first_address');
    assert.match(String(first), /^10\.20\.0\.\d+$/);
    const nets: any = await server.resolveAttribute(r, 'networks');
    assert.deepEqual(nets['srv-net'], [first]);
    assert.deepEqual(nets[n.physicalId!], [first]);
    const addrs: any = await server.resolveAttribute(r, 'addresses');
    assert.match(addrs['srv-net'][0].port, /^[0-9a-f-]{36}$/);
    assert.deepEqual(await server.resolveAttribute(r, 'console_urls'), {});

    // Found again by name after an "interrupted" create.
    assert.equal(await server.findInterrupted!({ ...r, physicalId: null } as any), r.physicalId);

    await update(server, r, { name: 'renamed', metadata: { c: 'd' } });
    let now: any = await server.show!(r);
    assert.equal(now.name, 'renamed');
    assert.deepEqual(now.metadata, { c: 'd' });

    assert.equal(server.needsReplace!({ changed: ['flavor'], oldProperties: r.properties, newProperties: { ...r.properties, flavor: 'm1.small' } }), false);
    assert.equal(server.needsReplace!({ changed: ['flavor'], oldProperties: r.properties, newProperties: { ...r.properties, flavor: 'm1.small', flavor_update_policy: 'REPLACE' } }), true);
    await update(server, r, { flavor: 'm1.small' });
    now = await server.show!(r);
    assert.equal(now.status, 'ACTIVE');
    assert.equal(now.flavor.original_name, 'm1.small');

    await update(server, r, { networks: [{ network: 'srv-net2' }] });
    now = await server.show!(r);
    assert.deepEqual(Object.keys(now.addresses), ['srv-net2']);

    await remove(server, r);
    assert.equal(await server.show!(r), null);
    await remove(server, r); // a second delete finds it gone
    for (const x of [s, n, n2.s, n2.n]) await remove(x === s || x === n2.s ? subnet : net, x);
  });

  it('makes a port for a network entry with a subnet, and deletes it with the server', async () => {
    const { n, s } = await network('sub-net', '10.30.0.0/24');
    const r = resourceContext(server, { name: 'withsubnet', image: env.imageId, flavor: '1', networks: [{ subnet: s.physicalId, fixed_ip: '10.30.0.50' }] }, env.client);
    await create(server, r);
    assert.equal(await server.resolveAttribute(r, 'first_address'), '10.30.0.50');
    const ports = JSON.parse(r.data.internal_ports);
    assert.equal(ports.length, 1);
    await remove(server, r);
    assert.equal(await env.client.find('network', `/ports/${ports[0].id}`), null);
    await remove(subnet, s);
    await remove(net, n);
  });

  it('fails with Heat\'s words on a missing flavor or image, and validates what Heat validates', async () => {
    const r = resourceContext(server, { image: env.imageId, flavor: 'nope' }, env.client);
    await assert.rejects(server.handleCreate(r), /The Flavor ID \(nope\) could not be found/);
    const r2 = resourceContext(server, { image: 'no-such-image', flavor: '1' }, env.client);
    await assert.rejects(server.handleCreate(r2), /The Image \(no-such-image\) could not be found/);
    await assert.rejects(server.validate!({ flavor: '1' }, { client: env.client }), /Neither image nor bootable volume/);
    await assert.rejects(server.validate!({ flavor: '1', image: 'x', networks: [{ network: 'a', uuid: 'b' }] }, { client: env.client }), /networks.network, networks.uuid/);
  });

  it('an ERROR server fails the create with the fault', async () => {
    const { client } = fakeClient((_s, _m, path) => {
      if (path.startsWith('/servers/')) return { server: { id: 'x', status: 'ERROR', fault: { message: 'No valid host was found.', code: 500 } } };
      return notFound();
    });
    const r = resourceContext(server, { flavor: '1', image: 'i' }, client);
    r.physicalId = 'x';
    await assert.rejects(server.checkCreateComplete!(r), (e: any) => {
      assert.equal(e.extra.name, 'ResourceInError');
      assert.equal(e.message, 'Went to status ERROR due to "Message: No valid host was found., Code: 500"');
      return true;
    });
  });
});

describe('OS::Nova::KeyPair, ::Flavor, ::ServerGroup', () => {
  it('creates a keypair with a saved private key, shows the public key, deletes it', async () => {
    const r = resourceContext(keypair, { name: 'heat-key', save_private_key: true }, env.client);
    await create(keypair, r);
    assert.equal(r.physicalId, 'heat-key');
    assert.match(String(await keypair.resolveAttribute(r, 'private_key')), /PRIVATE KEY/);
    assert.match(String(await keypair.resolveAttribute(r, 'public_key')), /^ssh-/);
    // A second create of the same resource (after a crash) adopts the keypair.
    await create(keypair, r);
    // Another resource may not take it.
    await assert.rejects(create(keypair, resourceContext(keypair, { name: 'heat-key' }, env.client)), (e: any) => e.status === 400 || e.status === 409 || /exists/.test(e.message));
    await remove(keypair, r);
    assert.equal(await env.client.find('compute', '/os-keypairs/heat-key'), null);
    await remove(keypair, r);
  });

  it('creates a flavor with extra specs (admin), updates them, deletes it', async () => {
    const r = resourceContext(flavor, { ram: 128, vcpus: 1, disk: 1, extra_specs: { 'hw:cpu_policy': 'shared' } }, env.adminClient);
    await create(flavor, r);
    assert.deepEqual(await flavor.resolveAttribute(r, 'extra_specs'), { 'hw:cpu_policy': 'shared' });
    assert.equal(await flavor.resolveAttribute(r, 'is_public'), true);
    await update(flavor, r, { extra_specs: { x: 'y' } });
    assert.deepEqual(await flavor.resolveAttribute(r, 'extra_specs'), { x: 'y' });
    await remove(flavor, r);
    assert.equal(await env.adminClient.find('compute', `/flavors/${r.physicalId}`), null);
  });

  it('creates and deletes a server group', async () => {
    const r = resourceContext(serverGroup, { policies: ['affinity'] }, env.client);
    await create(serverGroup, r);
    const g: any = await serverGroup.show!(r);
    assert.deepEqual(g.policies, ['affinity']);
    assert.equal(g.name, r.physicalName());
    await remove(serverGroup, r);
    assert.equal(await serverGroup.show!(r), null);
  });
});

describe('OS::Nova::Server networks, the way Heat\'s functional tests use them', () => {
  it('a subnet entry with a fixed IP and a security group: the port carries the group', async () => {
    const { n, s } = await network('my_net', '11.11.11.0/24');
    const sg = await env.client.request('network', 'POST', '/security-groups', { security_group: { name: 'the_sg' } });
    const r = resourceContext(server, { image: env.imageId, flavor: '1', networks: [{ subnet: s.physicalId, fixed_ip: '11.11.11.11' }],
      security_groups: [sg.body.security_group.id] }, env.client);
    await create(server, r);
    assert.deepEqual((await server.resolveAttribute(r, 'networks') as any).my_net, ['11.11.11.11']);
    assert.deepEqual((await server.show!(r) as any).security_groups, [{ name: 'the_sg' }]);
    await remove(server, r);
    await env.client.request('network', 'DELETE', `/security-groups/${sg.body.security_group.id}`);
    await remove(subnet, s);
    await remove(net, n);
  });

  it('keeps the port when network and subnet entries are swapped for equivalent ones, and moves subnets', async () => {
    const { n, s } = await network('the_net', '11.11.11.0/24');
    const sb = resourceContext(subnet, { network: n.physicalId, cidr: '12.12.12.0/24' }, env.client);
    await create(subnet, sb);
    const r = resourceContext(server, { image: env.imageId, flavor: '1', networks: [{ network: n.physicalId }, { network: n.physicalId }, { subnet: s.physicalId }] }, env.client);
    await create(server, r);
    const ports = async () => ((await server.resolveAttribute(r, 'addresses') as any).the_net as any[]).map((a) => a.port).sort();
    const before = await ports();
    assert.equal(before.length, 3);
    await update(server, r, { networks: [{ subnet: s.physicalId }, { network: n.physicalId }, { network: n.physicalId }] });
    assert.deepEqual(await ports(), before);
    const ip = (await server.resolveAttribute(r, 'addresses') as any).the_net[0];
    await update(server, r, { networks: [{ port: ip.port }, { subnet: s.physicalId }, { network: n.physicalId, fixed_ip: (await server.resolveAttribute(r, 'addresses') as any).the_net[1].addr }] });
    assert.deepEqual(await ports(), before);
    // A different subnet is a different port.
    await update(server, r, { networks: [{ subnet: sb.physicalId }] });
    const after = (await server.resolveAttribute(r, 'networks') as any).the_net as string[];
    assert.equal(after.length, 1);
    assert.match(after[0], /^12\.12\.12\./);
    await remove(server, r);
    assert.deepEqual((await env.client.request('network', 'GET', `/ports?network_id=${n.physicalId}`)).body.ports.filter((p: any) => p.device_owner !== 'network:dhcp'), []);
    await remove(subnet, sb);
    await remove(subnet, s);
    await remove(net, n);
  });
});
