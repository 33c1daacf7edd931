// Cinder plugins against a running cloud: a volume is made (waiting for available), extended and
// renamed in place, attached to a server through Nova and detached, and deleted; a volume type
// is made by an admin; an interrupted volume create is found by name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { volume, volumeAttachment, volumeType } from './cinder.ts';
import { server } from './nova.ts';
import { net, subnet } from './neutron.ts';
import { create, pluginTestEnv, remove, resourceContext, update } from './test_helpers.ts';

const env = pluginTestEnv();

describe('OS::Cinder::Volume and ::VolumeAttachment', () => {
  it('makes a volume, extends and renames it, attaches it to a server, detaches and deletes', async () => {
    const v = resourceContext(volume, { size: 1, metadata: { tier: 'db' } }, env.client, { name: 'data' });
    await create(volume, v);
    assert.equal(await volume.resolveAttribute(v, 'status'), 'available');
    assert.equal(await volume.resolveAttribute(v, 'display_name'), v.physicalName());
    assert.deepEqual(await volume.resolveAttribute(v, 'metadata_values'), { tier: 'db' });
    assert.equal(await volume.resolveAttribute(v, 'metadata'), '{"tier":"db"}');
    assert.equal(await volume.findInterrupted!({ ...v, physicalId: null } as any), v.physicalId);

    await update(volume, v, { size: 2, name: 'dbvol', description: 'the data' });
    assert.equal(await volume.resolveAttribute(v, 'size'), 2);
    assert.equal(await volume.resolveAttribute(v, 'display_name'), 'dbvol');
    assert.equal(await volume.resolveAttribute(v, 'display_description'), 'the data');
    await assert.rejects(update(volume, v, { size: 1 }), /Shrinking volume is not supported/);
    v.properties = { ...v.properties, size: 2 };

    const n = resourceContext(net, { name: 'vol-net' }, env.client);
    await create(net, n);
    const s = resourceContext(subnet, { network: n.physicalId, cidr: '10.40.0.0/24' }, env.client);
    await create(subnet, s);
    const srv = resourceContext(server, { image: env.imageId, flavor: '1', networks: [{ network: n.physicalId }] }, env.client);
    await create(server, srv);

    const att = resourceContext(volumeAttachment, { instance_uuid: srv.physicalId, volume_id: 'dbvol' }, env.client);
    await create(volumeAttachment, att);
    assert.equal(att.physicalId, v.physicalId);
    assert.equal(await volume.resolveAttribute(v, 'status'), 'in-use');
    const list = await volume.resolveAttribute(v, 'attachments_list') as any[];
    assert.equal(list[0].server_id, srv.physicalId);
    await create(volumeAttachment, att); // a retry finds it attached

    // A volume in use cannot go; the attachment goes first, as the dependency order has it.
    await remove(volumeAttachment, att);
    assert.equal(await volume.resolveAttribute(v, 'status'), 'available');
    await remove(volumeAttachment, att);

    await remove(volume, v);
    assert.equal(await volume.show!(v), null);
    await remove(volume, v);
    await remove(server, srv);
    await remove(subnet, s);
    await remove(net, n);
  });

  it('makes a volume from an image, and rejects a missing source with Heat\'s words', async () => {
    const v = resourceContext(volume, { size: 1, image: env.imageId }, env.client);
    await create(volume, v);
    assert.equal(String(await volume.resolveAttribute(v, 'bootable')), 'true');
    await remove(volume, v);
    await assert.rejects(volume.validate!({}, { client: env.client }), /"size", "snapshot_id", "source_volid" or "backup_id"/);
    await assert.rejects(volume.handleCreate(resourceContext(volume, { source_volid: 'missing' }, env.client)), /The Volume \(missing\) could not be found/);
  });
});

describe('OS::Cinder::VolumeType', () => {
  it('makes a private type with extra specs and project access, updates it, deletes it', async () => {
    const demoProject = env.demo.body.token.project.id;
    const t = resourceContext(volumeType, { name: 'gold', metadata: { 'volume_backend_name': 'x' }, is_public: false, projects: [demoProject] }, env.adminClient);
    await create(volumeType, t);
    const shown: any = await volumeType.show!(t);
    assert.equal(shown.name, 'gold');
    assert.deepEqual(shown.extra_specs, { volume_backend_name: 'x' });
    assert.equal(shown['os-volume-type-access:is_public'], false);
    const access = await env.adminClient.request('volume', 'GET', `/types/${t.physicalId}/os-volume-type-access`);
    assert.deepEqual(access.body.volume_type_access.map((a: any) => a.project_id), [demoProject]);
    await update(volumeType, t, { name: 'platinum', metadata: { a: 'b' } });
    const after: any = await volumeType.show!(t);
    assert.equal(after.name, 'platinum');
    assert.deepEqual(after.extra_specs, { a: 'b' });
    await remove(volumeType, t);
    assert.equal(await volumeType.show!(t), null);
  });
});
