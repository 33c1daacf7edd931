// POST /volumes/{id}/action over HTTP: extend, bootable, readonly, the legacy attach flow
// (reserve, attach, begin/roll detaching, detach), connections, upload to Glance, image metadata,
// retype, and the admin actions; bad bodies and unknown actions are 400s that change nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { act, getVolume, makeType, makeVolume, setup, v3, vmdkOf, type Env } from './test_helpers.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

const server = '8a7b3d5e-0000-4000-8000-0000000000b1';

describe('volume actions', () => {
  it('extends an available volume (its VMDK too) and refuses shrinking, bad sizes and in-use volumes', async () => {
    const v = await makeVolume(env, env.demo, { size: 1 });
    const r = await act(env, env.demo, v.id, 'os-extend', { new_size: 3 });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const after1 = await getVolume(env.demo, v.id);
    assert.equal(after1.size, 3);
    assert.equal(after1.status, 'available');
    assert.equal((await vmdkOf(env, v.id)).capacityKb, 3 * 1024 * 1024);
    for (const args of [{ new_size: 3 }, { new_size: 2 }, { new_size: 'x' }, {}, { new_size: 4, extra: 1 }, null]) {
      const bad = await act(env, env.demo, v.id, 'os-extend', args);
      assert.equal(bad.status, 400, JSON.stringify(args));
      assert.equal(bad.body.badRequest.code, 400);
    }
    await act(env, env.demo, v.id, 'os-attach', { instance_uuid: server, mountpoint: '/dev/sdb' });
    const inUse = await act(env, env.demo, v.id, 'os-extend', { new_size: 4 });
    assert.equal(inUse.status, 400, 'in-use extend needs microversion 3.42');
    await act(env, env.demo, v.id, 'os-detach', {});
    assert.equal((await getVolume(env.demo, v.id)).size, 3);
  });

  it('refuses an extend over the gigabytes quota with 413', async () => {
    const v = await makeVolume(env, env.demo, { size: 1 });
    const r = await act(env, env.demo, v.id, 'os-extend', { new_size: 5000 });
    assert.equal(r.status, 413);
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
  });

  it('sets the bootable and readonly flags', async () => {
    const v = await makeVolume(env, env.demo);
    const b = await act(env, env.demo, v.id, 'os-set_bootable', { bootable: true });
    assert.equal(b.status, 200);
    assert.equal(b.body, null, 'no body');
    assert.equal((await getVolume(env.demo, v.id)).bootable, 'true');
    assert.equal((await act(env, env.demo, v.id, 'os-set_bootable', { bootable: 'nope' })).status, 400);
    assert.equal((await act(env, env.demo, v.id, 'os-set_bootable', { bootable: 'false' })).status, 200);
    assert.equal((await getVolume(env.demo, v.id)).bootable, 'false');
    assert.ok(!('readonly' in (await getVolume(env.demo, v.id)).metadata));
    assert.equal((await act(env, env.demo, v.id, 'os-update_readonly_flag', { readonly: true })).status, 202);
    assert.equal((await getVolume(env.demo, v.id)).metadata.readonly, 'True', 'shown as metadata, as Cinder\'s admin metadata');
    // A read-only volume attaches read-only only.
    assert.equal((await act(env, env.demo, v.id, 'os-attach', { instance_uuid: server, mountpoint: '/dev/sdb', mode: 'rw' })).status, 400);
    assert.equal((await act(env, env.demo, v.id, 'os-update_readonly_flag', {})).status, 400);
  });

  it('walks the legacy attach flow: reserve → attach → begin_detaching → roll back → detach', async () => {
    const v = await makeVolume(env, env.demo);
    assert.equal((await act(env, env.demo, v.id, 'os-reserve')).status, 202);
    assert.equal((await getVolume(env.demo, v.id)).status, 'attaching');
    assert.equal((await act(env, env.demo, v.id, 'os-unreserve')).status, 202);
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
    assert.equal((await act(env, env.demo, v.id, 'os-reserve')).status, 202);

    const conn = await act(env, env.demo, v.id, 'os-initialize_connection', { connector: { host: 'domain-c1', initiator: 'x' } });
    assert.equal(conn.status, 200, JSON.stringify(conn.body));
    assert.equal(conn.body.connection_info.driver_volume_type, 'vmdk');
    assert.equal(conn.body.connection_info.data.volume_id, v.id);
    assert.equal((await act(env, env.demo, v.id, 'os-initialize_connection', {})).status, 400);

    const at = await act(env, env.demo, v.id, 'os-attach', { instance_uuid: server, mountpoint: '/dev/vdb', mode: 'rw' });
    assert.equal(at.status, 202);
    let cur = await getVolume(env.demo, v.id);
    assert.equal(cur.status, 'in-use');
    assert.equal(cur.attachments.length, 1);
    assert.equal(cur.attachments[0].server_id, server);
    assert.equal(cur.attachments[0].device, '/dev/vdb');
    assert.equal(cur.attachments[0].volume_id, v.id);
    assert.match(cur.attachments[0].attached_at, /^\d{4}-/);
    // Not multiattach: a second server is refused, and the reservation of an in-use volume too.
    const second = await act(env, env.demo, v.id, 'os-attach', { instance_uuid: '8a7b3d5e-0000-4000-8000-0000000000b2', mountpoint: '/dev/vdb' });
    assert.equal(second.status, 400);
    assert.match(second.body.badRequest.message, /^Invalid volume/);
    assert.equal((await act(env, env.demo, v.id, 'os-reserve')).status, 400);

    assert.equal((await act(env, env.demo, v.id, 'os-begin_detaching')).status, 202);
    assert.equal((await getVolume(env.demo, v.id)).status, 'detaching');
    assert.equal((await act(env, env.demo, v.id, 'os-roll_detaching')).status, 202);
    assert.equal((await getVolume(env.demo, v.id)).status, 'in-use');
    assert.equal((await act(env, env.demo, v.id, 'os-begin_detaching')).status, 202);
    assert.equal((await act(env, env.demo, v.id, 'os-terminate_connection', { connector: { host: 'domain-c1' } })).status, 202);
    assert.equal((await act(env, env.demo, v.id, 'os-detach', { attachment_id: cur.attachments[0].attachment_id })).status, 202);
    cur = await getVolume(env.demo, v.id);
    assert.equal(cur.status, 'available');
    assert.deepEqual(cur.attachments, []);
    assert.equal((await act(env, env.demo, v.id, 'os-detach', {})).status, 202, 'detaching a detached volume changes nothing');
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
    assert.equal((await act(env, env.demo, v.id, 'os-begin_detaching')).status, 400);
  });

  it('checks os-attach bodies', async () => {
    const v = await makeVolume(env, env.demo);
    for (const args of [{}, { mountpoint: '/dev/sdb' }, { instance_uuid: server }, { instance_uuid: 'x', mountpoint: '/dev/sdb' },
      { instance_uuid: server, mountpoint: '/dev/sdb', mode: 'rx' }, { instance_uuid: server, mountpoint: '/dev/sdb', other: 1 }]) {
      assert.equal((await act(env, env.demo, v.id, 'os-attach', args)).status, 400, JSON.stringify(args));
    }
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
  });

  it('uploads a volume to Glance: uploading, then available again; the image is active', async () => {
    const v = await makeVolume(env, env.demo, { size: 1 });
    const r = await env.demo.json('POST', v3(env.demo, `/volumes/${v.id}/action`), { 'os-volume_upload_image': { image_name: 'from-volume', disk_format: 'vmdk' } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const u = r.body['os-volume_upload_image'];
    assert.equal(u.status, 'uploading');
    assert.equal(u.image_name, 'from-volume');
    assert.equal(u.id, v.id);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
    const img = await env.demo.json('GET', `/image/v2/images/${u.image_id}`);
    assert.equal(img.status, 200);
    assert.equal(img.body.status, 'active');
    assert.equal(img.body.disk_format, 'vmdk');
    assert.equal(img.body.name, 'from-volume');
    // raw (the default) is converted from the exported VMDK: the whole virtual size, zeros where unallocated.
    const raw = await act(env, env.demo, v.id, 'os-volume_upload_image', { image_name: 'raw-from-volume' });
    assert.equal(raw.status, 202);
    const rawImg = await env.demo.json('GET', `/image/v2/images/${raw.body['os-volume_upload_image'].image_id}`);
    assert.equal(rawImg.body.status, 'active');
    assert.equal(rawImg.body.disk_format, 'raw');
    assert.equal(rawImg.body.size, 1024 ** 3);
    for (const args of [{}, { image_name: 'x', disk_format: 'floppy' }, { image_name: 'x', disk_format: 'qcow2' }, { image_name: 'x', force: 'maybe' }]) {
      assert.equal((await act(env, env.demo, v.id, 'os-volume_upload_image', args)).status, 400, JSON.stringify(args));
    }
    // In use: only with force.
    await act(env, env.demo, v.id, 'os-attach', { instance_uuid: server, mountpoint: '/dev/sdb' });
    assert.equal((await act(env, env.demo, v.id, 'os-volume_upload_image', { image_name: 'busy' })).status, 400);
    assert.equal((await act(env, env.demo, v.id, 'os-volume_upload_image', { image_name: 'busy', force: true })).status, 202);
    assert.equal((await getVolume(env.demo, v.id)).status, 'in-use');
  });

  it('sets, shows and unsets image metadata', async () => {
    const v = await makeVolume(env, env.demo, { imageRef: env.imageId });
    const set = await act(env, env.demo, v.id, 'os-set_image_metadata', { metadata: { hw_disk_bus: 'scsi' } });
    assert.equal(set.status, 200);
    assert.equal(set.body.metadata.hw_disk_bus, 'scsi');
    assert.equal(set.body.metadata.image_id, env.imageId);
    const show = await act(env, env.demo, v.id, 'os-show_image_metadata');
    assert.equal(show.body.metadata.hw_disk_bus, 'scsi');
    assert.equal((await getVolume(env.demo, v.id)).volume_image_metadata.hw_disk_bus, 'scsi');
    const unset = await act(env, env.demo, v.id, 'os-unset_image_metadata', { key: 'hw_disk_bus' });
    assert.equal(unset.status, 200);
    assert.equal(unset.body, null, 'no body');
    assert.equal((await act(env, env.demo, v.id, 'os-unset_image_metadata', { key: 'hw_disk_bus' })).status, 404);
    assert.equal((await act(env, env.demo, v.id, 'os-set_image_metadata', { metadata: { k: 1 } })).status, 400);
    assert.ok(!('hw_disk_bus' in (await getVolume(env.demo, v.id)).volume_image_metadata));
  });

  it('retypes between types of the same VMDK shape only', async () => {
    await makeType(env, 'gold');
    await makeType(env, 'thick-retype', { 'vmware:vmdk_type': 'thick' });
    const v = await makeVolume(env, env.demo);
    assert.equal((await act(env, env.demo, v.id, 'os-retype', { new_type: 'gold' })).status, 202);
    assert.equal((await getVolume(env.demo, v.id)).volume_type, 'gold');
    assert.equal((await act(env, env.demo, v.id, 'os-retype', { new_type: 'thick-retype' })).status, 400);
    assert.equal((await act(env, env.demo, v.id, 'os-retype', { new_type: 'nope' })).status, 404);
    assert.equal((await getVolume(env.demo, v.id)).volume_type, 'gold');
  });

  it('lets admins reset the status and force-delete; members get 403', async () => {
    const v = await makeVolume(env, env.demo);
    assert.equal((await act(env, env.demo, v.id, 'os-reset_status', { status: 'error' })).status, 403);
    assert.equal((await act(env, env.admin, v.id, 'os-reset_status', { status: 'bogus' })).status, 400);
    const ok = await env.admin.json('POST', `/volume/v3/${env.demoProject}/volumes/${v.id}/action`, { 'os-reset_status': { status: 'error', attach_status: 'detached' } });
    assert.equal(ok.status, 202);
    assert.equal((await getVolume(env.demo, v.id)).status, 'error');
    await env.admin.json('POST', `/volume/v3/${env.demoProject}/volumes/${v.id}/action`, { 'os-reset_status': { status: 'creating' } });
    assert.equal((await env.demo.json('DELETE', v3(env.demo, `/volumes/${v.id}`))).status, 400, 'creating is not deletable');
    assert.equal((await act(env, env.demo, v.id, 'os-force_delete')).status, 403);
    const fd = await env.admin.json('POST', `/volume/v3/${env.demoProject}/volumes/${v.id}/action`, { 'os-force_delete': {} });
    assert.equal(fd.status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await getVolume(env.demo, v.id)).status, 'deleted');
    assert.equal(await vmdkOf(env, v.id), undefined);
  });

  it('lets admins force-detach an attachment whatever the volume\'s status', async () => {
    const v = await makeVolume(env, env.demo);
    await act(env, env.demo, v.id, 'os-attach', { instance_uuid: server, mountpoint: '/dev/sdb' });
    const att = (await getVolume(env.demo, v.id)).attachments[0];
    const admin = (body: unknown) => env.admin.json('POST', `/volume/v3/${env.demoProject}/volumes/${v.id}/action`, body);
    await admin({ 'os-reset_status': { status: 'error' } });
    assert.equal((await act(env, env.demo, v.id, 'os-force_detach', { attachment_id: att.attachment_id })).status, 403);
    assert.equal((await admin({ 'os-force_detach': { attachment_id: '8a7b3d5e-0000-4000-8000-0000000000b9', connector: null } })).status, 404);
    assert.equal((await admin({ 'os-force_detach': { attachment_id: att.attachment_id, connector: null } })).status, 202);
    const cur = await getVolume(env.admin, v.id);
    assert.equal(cur.status, 'available');
    assert.deepEqual(cur.attachments, []);
    assert.equal(cur.migration_status, null, 'admins see migration_status');
    assert.ok(!('migration_status' in (await getVolume(env.demo, v.id))));
  });

  it('answers unknown actions, malformed bodies and unknown volumes', async () => {
    const v = await makeVolume(env, env.demo);
    const url = v3(env.demo, `/volumes/${v.id}/action`);
    const unknown = await env.demo.json('POST', url, { 'os-fly': {} });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.badRequest.message, 'There is no such action: os-fly');
    assert.equal((await env.demo.json('POST', url, {})).status, 400);
    assert.equal((await env.demo.json('POST', url, { 'os-extend': { new_size: 2 }, 'os-reserve': null })).status, 400);
    assert.equal((await env.demo.json('POST', url, '{not json')).status, 400);
    assert.equal((await env.demo.json('POST', v3(env.demo, '/volumes/8a7b3d5e-0000-4000-8000-0000000000b3/action'), { 'os-reserve': null })).status, 404);
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
  });
});
