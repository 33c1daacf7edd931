// The attachments API (3.27) over HTTP, on the attachment state machine Nova uses in-process:
// a reservation without a connector, the connector given later (or at once), show, list, detail,
// delete; the volume's status following; the legacy os-attach/os-detach on the same records.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { act, getVolume, makeVolume, setup, v3, type Env } from './test_helpers.ts';
import type { Session } from '../testing.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

const at = (s: Session, mv: string, method: string, path: string, body?: unknown) =>
  s.json(method, v3(s, path), body, { 'OpenStack-API-Version': `volume ${mv}` });
const inst = (n: number) => `5d1c2b3a-0000-4000-8000-0000000002${String(n).padStart(2, '0')}`;
const connector = { host: 'tempest-1', ip: '192.168.1.20', platform: 'x86_64', os_type: 'linux2', multipath: false, mountpoint: '/dev/sdb', initiator: 'iqn.x' };

describe('attachments API', () => {
  it('is not there before 3.27', async () => {
    assert.equal((await at(env.demo, '3.26', 'GET', '/attachments')).status, 404);
    assert.equal((await at(env.demo, '3.26', 'POST', '/attachments', { attachment: {} })).status, 404);
  });

  it('reserves without a connector, connects with one, and releases on delete', async () => {
    const v = await makeVolume(env, env.demo);
    assert.equal((await at(env.demo, '3.27', 'POST', '/attachments', { attachment: { instance_uuid: inst(1) } })).status, 400);
    assert.equal((await at(env.demo, '3.27', 'POST', '/attachments', { attachment: { volume_uuid: 'x' } })).status, 400);
    assert.equal((await at(env.demo, '3.27', 'POST', '/attachments', { attachment: { volume_uuid: inst(9) } })).status, 404);

    const r = await at(env.demo, '3.27', 'POST', '/attachments', { attachment: { volume_uuid: v.id, instance_uuid: inst(1) } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const a = r.body.attachment;
    assert.deepEqual(a, {
      id: a.id, status: 'reserved', instance: inst(1), volume_id: v.id, attached_at: '', detached_at: '', attach_mode: 'null', connection_info: {},
    });
    assert.equal((await getVolume(env.demo, v.id)).status, 'reserved');
    // Not multiattach: a second instance is refused.
    const second = await at(env.demo, '3.27', 'POST', '/attachments', { attachment: { volume_uuid: v.id, instance_uuid: inst(2) } });
    assert.equal(second.status, 400);
    assert.match(second.body.badRequest.message, /^Invalid volume: /);

    assert.equal((await at(env.demo, '3.27', 'PUT', `/attachments/${a.id}`, { attachment: { connector: {} } })).status, 400);
    const u = await at(env.demo, '3.27', 'PUT', `/attachments/${a.id}`, { attachment: { connector } });
    assert.equal(u.status, 200, JSON.stringify(u.body));
    assert.equal(u.body.attachment.status, 'attaching');
    assert.equal(u.body.attachment.attach_mode, 'rw');
    assert.notEqual(u.body.attachment.attached_at, '');
    const ci = u.body.attachment.connection_info;
    assert.equal(ci.driver_volume_type, 'vmdk');
    assert.equal(ci.attachment_id, a.id);
    assert.equal(ci.data.volume_id, v.id);
    assert.match(ci.data.path, new RegExp(`volume-${v.id}\\.vmdk$`));
    assert.equal((await getVolume(env.demo, v.id)).status, 'attaching');

    const shown = await at(env.demo, '3.27', 'GET', `/attachments/${a.id}`);
    assert.deepEqual(shown.body.attachment, u.body.attachment);
    assert.deepEqual((await at(env.demo, '3.27', 'GET', `/attachments?volume_id=${v.id}`)).body.attachments,
      [{ id: a.id, status: 'attaching', instance: inst(1), volume_id: v.id }]);
    assert.equal((await at(env.demo, '3.27', 'GET', `/attachments/detail?instance_id=${inst(1)}`)).body.attachments[0].connection_info.attachment_id, a.id);
    assert.deepEqual((await at(env.demo, '3.27', 'GET', `/attachments?volume_id=${v.id}&status=reserved`)).body.attachments, []);
    // Another project sees nothing of it.
    assert.deepEqual((await at(env.admin, '3.27', 'GET', '/attachments')).body.attachments.filter((x: any) => x.id === a.id), []);
    assert.equal((await at(env.admin, '3.27', 'GET', '/attachments?all_tenants=1')).body.attachments.some((x: any) => x.id === a.id), true);

    const del = await at(env.demo, '3.27', 'DELETE', `/attachments/${a.id}`);
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { attachments: [] });
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
    const gone = await at(env.demo, '3.27', 'GET', `/attachments/${a.id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Volume attachment could not be found with filter: attachment_id = ${a.id}.`);
  });

  it('creates and connects at once with a connector; refuses volumes in error', async () => {
    const v = await makeVolume(env, env.demo);
    const r = await at(env.demo, '3.27', 'POST', '/attachments', { attachment: { volume_uuid: v.id, instance_uuid: inst(3), connector } });
    assert.equal(r.status, 200);
    assert.equal(r.body.attachment.status, 'attaching');
    assert.equal(r.body.attachment.connection_info.data.volume_id, v.id);
    assert.equal((await at(env.demo, '3.27', 'DELETE', `/attachments/${r.body.attachment.id}`)).status, 200);

    const broken = await makeVolume(env, env.demo);
    assert.equal((await env.admin.json('POST', v3(env.admin, `/volumes/${broken.id}/action`), { 'os-reset_status': { status: 'error' } })).status, 202);
    const refused = await at(env.demo, '3.27', 'POST', '/attachments', { attachment: { volume_uuid: broken.id } });
    assert.equal(refused.status, 400);
    assert.match(refused.body.badRequest.message, /can not be created if the volume is in an error state/);
  });

  it('shares its records with the legacy os-attach / os-detach actions', async () => {
    const v = await makeVolume(env, env.demo);
    assert.equal((await act(env, env.demo, v.id, 'os-attach', { instance_uuid: inst(4), mountpoint: '/dev/sdc' })).status, 202);
    const listed = (await at(env.demo, '3.27', 'GET', `/attachments/detail?volume_id=${v.id}`)).body.attachments;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].status, 'attached');
    assert.equal(listed[0].instance, inst(4));
    assert.equal((await getVolume(env.demo, v.id)).status, 'in-use');
    assert.equal((await act(env, env.demo, v.id, 'os-detach', { attachment_id: listed[0].id })).status, 202);
    assert.equal((await at(env.demo, '3.27', 'GET', `/attachments/${listed[0].id}`)).status, 404);
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
  });
});
