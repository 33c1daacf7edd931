// Nova with Neutron and Cinder, end to end through HTTP: servers booted on a network (addresses,
// ips, NICs on the simulator's VM, ports deleted with the server), interface attach/detach,
// volume attach/detach (and two servers racing for one volume), boot from volume, the deprecated
// proxies. Each test is skipped while the cloud has no network / volume service.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { bootServer, createServer, mvh, raiseQuota, setup, show, type Env } from './test_helpers.ts';
import type { Session } from '../../testing.ts';

let env: Env;
let project: string;
before(async () => {
  env = await setup();
  project = env.demo.body.token.project.id;
  await raiseQuota(env, 30);
});
after(async () => { await env?.cloud.close(); });

const needNetwork = (t: TestContext) => { if (!env.cloud.ctx.services.network) { t.skip('no network service in this cloud'); return true; } return false; };
const needVolume = (t: TestContext) => { if (!env.cloud.ctx.services.volume) { t.skip('no volume service in this cloud'); return true; } return false; };

async function makeNetwork(s: Session, name: string, cidr: string): Promise<{ id: string; subnet: string }> {
  const n = await s.json('POST', '/networking/v2.0/networks', { network: { name } });
  assert.equal(n.status, 201, JSON.stringify(n.body));
  const sn = await s.json('POST', '/networking/v2.0/subnets', { subnet: { network_id: n.body.network.id, cidr, ip_version: 4, name: `${name}-subnet` } });
  assert.equal(sn.status, 201, JSON.stringify(sn.body));
  return { id: n.body.network.id, subnet: sn.body.subnet.id };
}

async function portsOf(s: Session, serverId: string): Promise<any[]> {
  const r = await s.json('GET', `/networking/v2.0/ports?device_id=${serverId}`);
  assert.equal(r.status, 200);
  return r.body.ports;
}

async function vm(id: string) {
  const r = await env.admin.json('GET', `/simulator/vms/${id}`);
  return r.status === 200 ? (r.body.vm ?? r.body) : null;
}

async function makeVolume(s: Session, size = 1, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await s.json('POST', `/volume/v3/${project}/volumes`, { volume: { size, ...extra } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await env.cloud.ctx.tasks.idle();
  assert.equal((await volume(s, r.body.volume.id)).status, 'available');
  return r.body.volume.id;
}

/** A server without NICs (2.37 networks "none"): the demo project has several networks by now. */
async function bootNoNic(name: string): Promise<string> {
  const r = await createServer(env, env.demo, { name, networks: 'none' }, mvh('2.37'));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await env.cloud.ctx.tasks.idle();
  return r.body.server.id;
}

async function volume(s: Session, id: string) {
  const r = await s.json('GET', `/volume/v3/${project}/volumes/${id}`);
  return r.status === 200 ? r.body.volume : { status: r.status === 404 ? 'deleted' : `http ${r.status}` };
}

describe('servers on networks', () => {
  it('boots on a network: addresses, ips, a NIC on the port group, the port deleted with the server', async (t) => {
    if (needNetwork(t)) return;
    const net = await makeNetwork(env.demo, 'nv-net1', '10.31.0.0/24');
    const id = await bootServer(env, env.demo, { name: 'on-net', networks: [{ uuid: net.id }] });
    const s = (await show(env.demo, id)).body.server;
    assert.equal(s.status, 'ACTIVE');
    const addrs = s.addresses['nv-net1'];
    assert.equal(addrs.length, 1);
    assert.equal(addrs[0].version, 4);
    assert.match(addrs[0].addr, /^10\.31\.0\.\d+$/);
    assert.equal(addrs[0]['OS-EXT-IPS:type'], 'fixed');
    assert.match(addrs[0]['OS-EXT-IPS-MAC:mac_addr'], /^fa:16:3e(:[0-9a-f]{2}){3}$/);
    assert.deepEqual(s.security_groups, [{ name: 'default' }]);

    const ports = await portsOf(env.demo, id);
    assert.equal(ports.length, 1);
    assert.equal(ports[0].mac_address, addrs[0]['OS-EXT-IPS-MAC:mac_addr']);
    assert.equal(ports[0]['device_owner'], `compute:${s['OS-EXT-AZ:availability_zone']}`);
    const machine = await vm(id);
    assert.deepEqual(machine.nics.map((n: any) => n.portId), [ports[0].id]);

    const ips = await env.demo.json('GET', `/compute/v2.1/servers/${id}/ips`);
    assert.deepEqual(ips.body, { addresses: { 'nv-net1': [{ version: 4, addr: addrs[0].addr }] } });
    const one = await env.demo.json('GET', `/compute/v2.1/servers/${id}/ips/nv-net1`);
    assert.deepEqual(one.body, { 'nv-net1': [{ version: 4, addr: addrs[0].addr }] });
    assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}/ips/nope`)).status, 404);

    // The list filter by IP (re.match semantics) and the bulk addresses of a detailed list.
    const byIp = await env.demo.json('GET', `/compute/v2.1/servers/detail?ip=${encodeURIComponent(addrs[0].addr.replace(/\.\d+$/, '.'))}`);
    assert.ok(byIp.body.servers.some((x: any) => x.id === id));
    assert.deepEqual(byIp.body.servers.find((x: any) => x.id === id).addresses, s.addresses);
    const noIp = await env.demo.json('GET', '/compute/v2.1/servers/detail?ip=192.0.2.');
    assert.ok(!noIp.body.servers.some((x: any) => x.id === id));

    assert.equal((await env.demo.request('DELETE', `/compute/v2.1/servers/${id}`)).status, 204);
    await env.cloud.ctx.tasks.idle();
    assert.deepEqual(await portsOf(env.demo, id), []);
    assert.equal(await vm(id), null);
  });

  it('refuses unknown networks and ports before writing anything; 2.37 none gives no NIC', async (t) => {
    if (needNetwork(t)) return;
    const before = (await env.demo.json('GET', '/compute/v2.1/servers')).body.servers.length;
    const bad = await createServer(env, env.demo, { networks: [{ uuid: '8a7b3d5e-0000-4000-8000-000000000001' }] });
    assert.ok(bad.status === 400 || bad.status === 404, `${bad.status} ${JSON.stringify(bad.body)}`);
    const badPort = await createServer(env, env.demo, { networks: [{ port: '8a7b3d5e-0000-4000-8000-000000000002' }] });
    assert.ok(badPort.status === 400 || badPort.status === 404);
    assert.equal((await env.demo.json('GET', '/compute/v2.1/servers')).body.servers.length, before);

    const r = await createServer(env, env.demo, { name: 'no-nic', networks: 'none' }, mvh('2.37'));
    assert.equal(r.status, 202);
    await env.cloud.ctx.tasks.idle();
    const s = (await show(env.demo, r.body.server.id)).body.server;
    assert.equal(s.status, 'ACTIVE');
    assert.deepEqual(s.addresses, {});
    assert.deepEqual((await vm(s.id)).nics, []);
  });

  it('attaches and detaches interfaces', async (t) => {
    if (needNetwork(t)) return;
    const a = await makeNetwork(env.demo, 'nv-if-a', '10.32.0.0/24');
    const b = await makeNetwork(env.demo, 'nv-if-b', '10.33.0.0/24');
    const id = await bootServer(env, env.demo, { name: 'ifaces', networks: [{ uuid: a.id }] });
    const base = `/compute/v2.1/servers/${id}/os-interface`;
    const att = await env.demo.json('POST', base, { interfaceAttachment: { net_id: b.id, fixed_ips: [{ ip_address: '10.33.0.50' }] } }, mvh('2.70'));
    assert.equal(att.status, 200, JSON.stringify(att.body));
    const ia = att.body.interfaceAttachment;
    assert.equal(ia.net_id, b.id);
    assert.deepEqual(ia.fixed_ips, [{ subnet_id: b.subnet, ip_address: '10.33.0.50' }]);
    assert.equal(ia.tag, null);
    const list = await env.demo.json('GET', base);
    assert.equal(list.body.interfaceAttachments.length, 2);
    assert.equal((await env.demo.json('GET', `${base}/${ia.port_id}`)).body.interfaceAttachment.port_id, ia.port_id);
    assert.equal((await vm(id)).nics.length, 2);
    assert.deepEqual((await show(env.demo, id)).body.server.addresses['nv-if-b'].map((x: any) => x.addr), ['10.33.0.50']);

    // Bad input: both a network and a port, fixed IPs without a network, a malformed body.
    assert.equal((await env.demo.json('POST', base, { interfaceAttachment: { net_id: b.id, port_id: ia.port_id } })).status, 400);
    assert.equal((await env.demo.json('POST', base, { interfaceAttachment: { fixed_ips: [{ ip_address: '10.33.0.51' }] } })).status, 400);
    assert.equal((await env.demo.json('POST', base, { interfaceAttachment: { net_id: 'x' } })).status, 400);

    assert.equal((await env.demo.request('DELETE', `${base}/${ia.port_id}`)).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.demo.json('GET', base)).body.interfaceAttachments.length, 1);
    assert.equal((await vm(id)).nics.length, 1);
    assert.equal((await env.demo.request('DELETE', `${base}/${ia.port_id}`)).status, 404);
    assert.equal((await portsOf(env.demo, id)).length, 1);
  });
});

describe('volumes', () => {
  it('attaches and detaches a volume (device /dev/sdb, in-use, listed, disk on the VM)', async (t) => {
    if (needVolume(t)) return;
    const id = await bootNoNic('vol-host');
    const vol = await makeVolume(env.demo);
    const base = `/compute/v2.1/servers/${id}/os-volume_attachments`;
    const r = await env.demo.json('POST', base, { volumeAttachment: { volumeId: vol } }, mvh('2.79'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.volumeAttachment, { device: '/dev/sdb', id: vol, serverId: id, volumeId: vol, tag: null, delete_on_termination: false });
    await env.cloud.ctx.tasks.idle();
    assert.equal((await volume(env.demo, vol)).status, 'in-use');
    assert.ok((await vm(id)).disks.some((d: any) => d.volumeId === vol));
    const list = await env.demo.json('GET', base);
    assert.deepEqual(list.body.volumeAttachments, [{ device: '/dev/sdb', id: vol, serverId: id, volumeId: vol }]);
    assert.deepEqual((await show(env.demo, id, '2.3')).body.server['os-extended-volumes:volumes_attached'], [{ id: vol, delete_on_termination: false }]);
    // Attaching it again is refused, as is a device name already taken.
    assert.equal((await env.demo.json('POST', base, { volumeAttachment: { volumeId: vol } })).status, 400);
    assert.equal((await env.demo.json('POST', base, { volumeAttachment: { volumeId: 'nope' } })).status, 400);
    assert.equal((await env.demo.json('POST', base, { volumeAttachment: { volumeId: '8a7b3d5e-0000-4000-8000-000000000003' } })).status, 404);

    assert.equal((await env.demo.request('DELETE', `${base}/${vol}`)).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await volume(env.demo, vol)).status, 'available');
    assert.ok(!(await vm(id)).disks.some((d: any) => d.volumeId === vol));
    assert.deepEqual((await env.demo.json('GET', base)).body.volumeAttachments, []);
    assert.equal((await env.demo.request('DELETE', `${base}/${vol}`)).status, 404);
  });

  it('lets exactly one of two servers racing for a volume have it', async (t) => {
    if (needVolume(t)) return;
    const [a, b] = [await bootNoNic('race-a'), await bootNoNic('race-b')];
    const vol = await makeVolume(env.demo);
    const res = await Promise.all([a, b].map((id) => env.demo.json('POST', `/compute/v2.1/servers/${id}/os-volume_attachments`, { volumeAttachment: { volumeId: vol } })));
    const codes = res.map((r) => r.status).sort();
    assert.deepEqual(codes, [200, 400], JSON.stringify(res.map((r) => r.body)));
    await env.cloud.ctx.tasks.idle();
    const v = await volume(env.demo, vol);
    assert.equal(v.status, 'in-use');
    assert.equal(v.attachments.length, 1);
    const winner = [a, b][res.findIndex((r) => r.status === 200)];
    assert.equal(v.attachments[0].server_id, winner);
    const loser = [a, b].find((x) => x !== winner)!;
    assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/servers/${loser}/os-volume_attachments`)).body.volumeAttachments, []);
    // Deleting the winner frees the volume (not delete_on_termination: it stays).
    await env.demo.request('DELETE', `/compute/v2.1/servers/${winner}`);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await volume(env.demo, vol)).status, 'available');
  });

  it('boots from a volume made from an image, and deletes it with the server', async (t) => {
    if (needVolume(t)) return;
    const r = await createServer(env, env.demo, {
      name: 'bfv', imageRef: '', networks: 'none',
      block_device_mapping_v2: [{ source_type: 'image', destination_type: 'volume', uuid: env.imageId, boot_index: 0, volume_size: 1, delete_on_termination: true }],
    }, mvh('2.37'));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await env.cloud.ctx.tasks.idle();
    const s = (await show(env.demo, r.body.server.id)).body.server;
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal(s.image, '');
    const attached = s['os-extended-volumes:volumes_attached'];
    assert.equal(attached.length, 1);
    assert.equal(attached[0].delete_on_termination, true);
    const vol = await volume(env.demo, attached[0].id);
    assert.equal(vol.status, 'in-use');
    assert.equal(vol.bootable, 'true');
    const machine = await vm(s.id);
    assert.ok(machine.disks.some((d: any) => d.volumeId === vol.id));
    assert.ok(!machine.disks.some((d: any) => d.kind === 'root'), 'no root disk of its own');
    const atts = (await env.demo.json('GET', `/compute/v2.1/servers/${s.id}/os-volume_attachments`)).body.volumeAttachments;
    assert.equal(atts[0].device, '/dev/sda');
    assert.equal((await env.demo.request('DELETE', `/compute/v2.1/servers/${s.id}/os-volume_attachments/${vol.id}`)).status, 400);

    await env.demo.request('DELETE', `/compute/v2.1/servers/${s.id}`);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await volume(env.demo, vol.id)).status, 'deleted');
  });

  it('checks block device mappings before writing anything', async (t) => {
    if (needVolume(t)) return;
    const bdm = (b: Record<string, unknown>) => createServer(env, env.demo, { name: 'bad-bdm', imageRef: '', block_device_mapping_v2: [b] });
    assert.equal((await bdm({ source_type: 'image', destination_type: 'volume', uuid: env.imageId, boot_index: 0 })).status, 400);
    assert.equal((await bdm({ source_type: 'volume', destination_type: 'volume', uuid: '8a7b3d5e-0000-4000-8000-000000000004', boot_index: 0 })).status, 400);
    assert.equal((await bdm({ source_type: 'blank', destination_type: 'volume', boot_index: 0 })).status, 400);
    assert.equal((await bdm({ source_type: 'image', destination_type: 'volume', uuid: env.imageId, boot_index: 1, volume_size: 1 })).status, 400);
    assert.ok(!(await env.demo.json('GET', '/compute/v2.1/servers?name=bad-bdm')).body.servers.length);
  });
});

describe('proxies', () => {
  it('answers os-volumes below 2.36 and 404 from 2.36', async (t) => {
    if (needVolume(t)) return;
    if (!env.cloud.ctx.services.volume!.list) { t.skip('VolumeApi.list not implemented'); return; }
    const c = await env.demo.json('POST', '/compute/v2.1/os-volumes', { volume: { size: 1, display_name: 'px', metadata: { a: 'b' } } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.volume.displayName, 'px');
    await env.cloud.ctx.tasks.idle();
    const g = await env.demo.json('GET', `/compute/v2.1/os-volumes/${c.body.volume.id}`);
    assert.equal(g.body.volume.status, 'available');
    assert.deepEqual(g.body.volume.attachments, [{}]);
    assert.ok((await env.demo.json('GET', '/compute/v2.1/os-volumes/detail')).body.volumes.some((v: any) => v.id === c.body.volume.id));
    assert.equal((await env.demo.json('GET', '/compute/v2.1/os-volumes', undefined, mvh('2.36'))).status, 404);
    assert.equal((await env.demo.json('POST', '/compute/v2.1/os-volumes', { volume: { size: 'x' } })).status, 400);
    assert.equal((await env.demo.request('DELETE', `/compute/v2.1/os-volumes/${c.body.volume.id}`)).status, 202);
  });
});
