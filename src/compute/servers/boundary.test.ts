// Nova's checks where it meets Cinder and Neutron, through HTTP as clients see them: only a
// bootable volume may be the root disk; an admin may attach (and boot from) another project's
// volume while a member may not; "/os-volumes/" is a show with an empty id (404), not the list;
// a server shows `security_groups` only while one of its ports is in a group.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../core/errors.ts';
import { act, createServer, mvh, setup, show, type Env } from './test_helpers.ts';
import type { Session } from '../../testing.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

const needVolume = (t: TestContext) => { if (!env.cloud.ctx.services.volume) { t.skip('no volume service in this cloud'); return true; } return false; };
const needNetwork = (t: TestContext) => { if (!env.cloud.ctx.services.network) { t.skip('no network service in this cloud'); return true; } return false; };
const projectOf = (s: Session): string => s.body.token.project.id;

/** POST /volumes in the session's project, waits until it is available; returns its id. */
async function makeVolume(s: Session, volume: Record<string, unknown> = {}): Promise<string> {
  const r = await s.json('POST', `/volume/v3/${projectOf(s)}/volumes`, { volume: { size: 1, ...volume } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await env.cloud.ctx.tasks.idle();
  const v = await volume_(s, r.body.volume.id);
  assert.equal(v.status, 'available');
  return v.id;
}

async function volume_(s: Session, id: string) {
  const r = await s.json('GET', `/volume/v3/${projectOf(s)}/volumes/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.volume;
}

/** A server booted from an existing volume (no image, no NIC). */
function bootFromVolume(s: Session, name: string, volumeId: string) {
  return createServer(env, s, {
    name, imageRef: '', networks: 'none',
    block_device_mapping_v2: [{ source_type: 'volume', destination_type: 'volume', uuid: volumeId, boot_index: 0 }],
  }, mvh('2.37'));
}

async function bootNoNic(s: Session, name: string): Promise<string> {
  const r = await createServer(env, s, { name, networks: 'none' }, mvh('2.37'));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await env.cloud.ctx.tasks.idle();
  return r.body.server.id;
}

describe('the root volume', () => {
  it('must be bootable: a blank volume is refused until it is made bootable', async (t) => {
    if (needVolume(t)) return;
    const vol = await makeVolume(env.demo, { name: 'blank-root' });
    assert.equal((await volume_(env.demo, vol)).bootable, 'false');
    const r = await bootFromVolume(env.demo, 'not-bootable', vol);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.deepEqual(r.body, { badRequest: { code: 400, message: `Block Device ${vol} is not bootable.` } });
    assert.deepEqual((await env.demo.json('GET', '/compute/v2.1/servers?name=not-bootable')).body.servers, [], 'nothing written');
    assert.equal((await volume_(env.demo, vol)).status, 'available', 'the volume is not reserved');
    // The legacy mapping's root device is the boot volume too.
    const legacy = await createServer(env, env.demo, {
      name: 'not-bootable', imageRef: '', block_device_mapping: [{ volume_id: vol, device_name: 'vda' }],
    });
    assert.equal(legacy.status, 400, JSON.stringify(legacy.body));
    assert.equal(legacy.body.badRequest.message, `Block Device ${vol} is not bootable.`);
    // A non-bootable volume may still be attached as a data disk at boot.
    const data = await createServer(env, env.demo, {
      name: 'data-disk', networks: 'none',
      block_device_mapping_v2: [
        { source_type: 'image', destination_type: 'local', uuid: env.imageId, boot_index: 0 },
        { source_type: 'volume', destination_type: 'volume', uuid: vol },
      ],
    }, mvh('2.37'));
    assert.equal(data.status, 202, JSON.stringify(data.body));
    await env.cloud.ctx.tasks.idle();
    assert.equal((await show(env.demo, data.body.server.id)).body.server.status, 'ACTIVE');
    assert.equal((await env.demo.request('DELETE', `/compute/v2.1/servers/${data.body.server.id}`)).status, 204);
    await env.cloud.ctx.tasks.idle();

    // Once Cinder calls it bootable, it boots.
    const set = await env.demo.json('POST', `/volume/v3/${projectOf(env.demo)}/volumes/${vol}/action`, { 'os-set_bootable': { bootable: true } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const ok = await bootFromVolume(env.demo, 'bootable-now', vol);
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    await env.cloud.ctx.tasks.idle();
    assert.equal((await show(env.demo, ok.body.server.id)).body.server.status, 'ACTIVE');
    assert.equal((await volume_(env.demo, vol)).status, 'in-use');
    await env.demo.request('DELETE', `/compute/v2.1/servers/${ok.body.server.id}`);
    await env.cloud.ctx.tasks.idle();
  });

  it('made from an image is bootable', async (t) => {
    if (needVolume(t)) return;
    const vol = await makeVolume(env.demo, { name: 'from-image', imageRef: env.imageId });
    assert.equal((await volume_(env.demo, vol)).bootable, 'true');
    const r = await bootFromVolume(env.demo, 'from-image-volume', vol);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await env.cloud.ctx.tasks.idle();
    const s = (await show(env.demo, r.body.server.id)).body.server;
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.deepEqual(s['os-extended-volumes:volumes_attached'], [{ id: vol, delete_on_termination: false }]);
    await env.demo.request('DELETE', `/compute/v2.1/servers/${s.id}`);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await volume_(env.demo, vol)).status, 'available', 'not delete_on_termination: it stays');
  });
});

describe('another project\'s volume', () => {
  it('an admin attaches to a server and boots from; a member gets 404', async (t) => {
    if (needVolume(t)) return;
    const theirs = await makeVolume(env.demo, { name: 'demo-data' });
    const server = await bootNoNic(env.admin, 'admin-server');
    const base = `/compute/v2.1/servers/${server}/os-volume_attachments`;
    const r = await env.admin.json('POST', base, { volumeAttachment: { volumeId: theirs } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.volumeAttachment.volumeId, theirs);
    await env.cloud.ctx.tasks.idle();
    const v = await volume_(env.demo, theirs);
    assert.equal(v.status, 'in-use');
    assert.deepEqual(v.attachments.map((a: any) => a.server_id), [server]);
    assert.equal((await env.admin.request('DELETE', `${base}/${theirs}`)).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await volume_(env.demo, theirs)).status, 'available');

    // Booting from it: the build task attaches it, in the admin's server.
    const root = await makeVolume(env.demo, { name: 'demo-root', imageRef: env.imageId });
    const b = await bootFromVolume(env.admin, 'admin-bfv', root);
    assert.equal(b.status, 202, JSON.stringify(b.body));
    await env.cloud.ctx.tasks.idle();
    const s = (await show(env.admin, b.body.server.id)).body.server;
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal((await volume_(env.demo, root)).status, 'in-use');
    await env.admin.request('DELETE', `/compute/v2.1/servers/${s.id}`);
    await env.cloud.ctx.tasks.idle();

    // A member may not use the admin project's volume.
    const adminVol = await makeVolume(env.admin, { name: 'admin-data' });
    const mine = await bootNoNic(env.demo, 'demo-server');
    const denied = await env.demo.json('POST', `/compute/v2.1/servers/${mine}/os-volume_attachments`, { volumeAttachment: { volumeId: adminVol } });
    assert.equal(denied.status, 404, JSON.stringify(denied.body));
    assert.equal(denied.body.itemNotFound.message, `Volume ${adminVol} could not be found.`);
    assert.equal((await bootFromVolume(env.demo, 'demo-bfv', adminVol)).status, 400);
    assert.equal((await volume_(env.admin, adminVol)).status, 'available');
  });

  it('VolumeApi.attachmentCreate checks the caller\'s project; null is any project', async (t) => {
    if (needVolume(t)) return;
    const api = env.cloud.ctx.services.volume!;
    const vol = await makeVolume(env.demo, { name: 'api-scope' });
    const instance = '8a7b3d5e-0000-4000-8000-000000000501';
    await assert.rejects(api.attachmentCreate(projectOf(env.admin), vol, instance), (e: unknown) => e instanceof ApiError && e.status === 404);
    const a = await api.attachmentCreate(null, vol, instance);
    assert.equal(await api.attachmentCreate(projectOf(env.demo), vol, instance), a, 'the owner finds the same attachment');
    assert.equal((await volume_(env.demo, vol)).status, 'reserved');
    await api.attachmentDelete(a);
    assert.equal((await volume_(env.demo, vol)).status, 'available');
  });
});

describe('the os-volumes and os-snapshots proxies', () => {
  it('answer 404 for an empty id ("/os-volumes/"), as Nova\'s router does', async (t) => {
    if (needVolume(t)) return;
    assert.equal((await env.demo.json('GET', '/compute/v2.1/os-volumes')).status, 200);
    for (const path of ['/compute/v2.1/os-volumes/', '/compute/v2.1/os-snapshots/', `/compute/v2.1/${projectOf(env.demo)}/os-volumes/`]) {
      const r = await env.demo.json('GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.itemNotFound.code, 404);
    }
    assert.equal((await env.demo.request('DELETE', '/compute/v2.1/os-volumes/')).status, 404);
  });
});

describe('security groups in the server view', () => {
  it('shows them from the ports: none without ports, gone once the last is removed', async (t) => {
    if (needNetwork(t)) return;
    const n = await env.demo.json('POST', '/networking/v2.0/networks', { network: { name: 'sg-view-net' } });
    assert.equal(n.status, 201, JSON.stringify(n.body));
    const sn = await env.demo.json('POST', '/networking/v2.0/subnets', { subnet: { network_id: n.body.network.id, cidr: '10.77.0.0/24', ip_version: 4 } });
    assert.equal(sn.status, 201, JSON.stringify(sn.body));
    const r = await createServer(env, env.demo, { name: 'sg-view', networks: [{ uuid: n.body.network.id }] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(r.body.server.security_groups, [{ name: 'default' }], 'the create response names the requested groups');
    await env.cloud.ctx.tasks.idle();
    const id = r.body.server.id;
    assert.deepEqual((await show(env.demo, id, '2.1')).body.server.security_groups, [{ name: 'default' }]);

    assert.equal((await act(env, env.demo, id, { removeSecurityGroup: { name: 'default' } })).status, 202);
    const s = (await show(env.demo, id, '2.1')).body.server;
    assert.ok(!('security_groups' in s), `no security_groups key: ${JSON.stringify(s.security_groups)}`);
    assert.ok(!('security_groups' in (await env.demo.json('GET', '/compute/v2.1/servers/detail?name=sg-view')).body.servers[0]));

    // A server without ports is in no group either (what Tempest sees when no network is usable).
    const bare = await bootNoNic(env.demo, 'sg-bare');
    assert.ok(!('security_groups' in (await show(env.demo, bare, '2.1')).body.server));
  });
});
