// The attachment state machine, as Nova drives it in-process (ctx.services.volume: attachment
// create → update → complete → delete) and as the legacy actions drive it over HTTP: statuses
// reserved → attaching → in-use → available, idempotent steps, races for one volume with exactly
// one winner, multiattach types, the VMDK relocated to the attaching host's cluster, and deletes
// refused while attached.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../core/errors.ts';
import { getVolume, makeType, makeVolume, setup, v3, type Env } from './test_helpers.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

const inst = (n: number) => `8a7b3d5e-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;
const api = () => env.cloud.ctx.services.volume!;

describe('attachments', () => {
  it('goes reserved → attaching → in-use → available, each step idempotent', async () => {
    const v = await makeVolume(env, env.demo);
    const a = await api().attachmentCreate(env.demoProject, v.id, inst(1));
    assert.equal(await api().attachmentCreate(env.demoProject, v.id, inst(1)), a, 'the same attachment for the same instance');
    assert.equal((await getVolume(env.demo, v.id)).status, 'reserved');
    const conn = await api().attachmentUpdate(a, { host: 'compute01', instance: inst(1), mountpoint: '/dev/sdb' });
    assert.equal(conn.driverVolumeType, 'vmdk');
    assert.equal(conn.volumeId, v.id);
    assert.equal(conn.sizeGb, 1);
    assert.match(conn.path, new RegExp(`volume-${v.id}\\.vmdk$`));
    assert.equal((await getVolume(env.demo, v.id)).status, 'attaching');
    await api().attachmentComplete(a);
    await api().attachmentComplete(a);
    const inUse = await getVolume(env.demo, v.id);
    assert.equal(inUse.status, 'in-use');
    assert.deepEqual(inUse.attachments.map((x: any) => [x.attachment_id, x.server_id, x.device]), [[a, inst(1), '/dev/sdb']]);
    const info = await api().get(v.id);
    assert.equal(info!.attachments[0].instanceId, inst(1));

    // Attached: not deletable.
    assert.equal((await env.demo.json('DELETE', v3(env.demo, `/volumes/${v.id}`))).status, 400);
    await assert.rejects(api().delete(v.id), (e: unknown) => e instanceof ApiError && e.status === 400);

    await api().attachmentDelete(a);
    await api().attachmentDelete(a);
    const free = await getVolume(env.demo, v.id);
    assert.equal(free.status, 'available');
    assert.deepEqual(free.attachments, []);
  });

  it('answers 404 for a volume of another project and 400 for one not available', async () => {
    const v = await makeVolume(env, env.demo);
    await assert.rejects(api().attachmentCreate(env.adminProject, v.id, inst(2)), (e: unknown) => e instanceof ApiError && e.status === 404);
    await assert.rejects(api().attachmentCreate(env.demoProject, inst(99), inst(2)), (e: unknown) => e instanceof ApiError && e.status === 404);
    await env.admin.json('POST', `/volume/v3/${env.demoProject}/volumes/${v.id}/action`, { 'os-reset_status': { status: 'error' } });
    await assert.rejects(api().attachmentCreate(env.demoProject, v.id, inst(2)), (e: unknown) => e instanceof ApiError && e.status === 400 && /^Invalid volume/.test(e.message));
  });

  it('lets exactly one of two instances racing for a volume have it (Nova\'s path)', async () => {
    const v = await makeVolume(env, env.demo);
    const res = await Promise.allSettled([inst(3), inst(4)].map((i) => api().attachmentCreate(env.demoProject, v.id, i)));
    assert.deepEqual(res.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const lost = res.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(lost.reason instanceof ApiError && lost.reason.status === 400, String(lost.reason));
    assert.match(lost.reason.message, /^Invalid volume: Volume .* status must be available/);
    const info = await api().get(v.id);
    assert.equal(info!.attachments.length, 1);
    assert.equal(info!.status, 'reserved');
  });

  it('lets exactly one of two legacy os-attach calls in parallel win', async () => {
    const v = await makeVolume(env, env.demo);
    const url = v3(env.demo, `/volumes/${v.id}/action`);
    const res = await Promise.all([inst(5), inst(6)].map((i) => env.demo.json('POST', url, { 'os-attach': { instance_uuid: i, mountpoint: '/dev/sdc' } })));
    assert.deepEqual(res.map((r) => r.status).sort(), [202, 400], JSON.stringify(res.map((r) => r.body)));
    const cur = await getVolume(env.demo, v.id);
    assert.equal(cur.status, 'in-use');
    assert.equal(cur.attachments.length, 1);
    assert.equal(cur.attachments[0].server_id, [inst(5), inst(6)][res.findIndex((r) => r.status === 202)]);
  });

  it('attaches a multiattach volume to several instances; it is available once the last goes', async () => {
    await makeType(env, 'multi', { multiattach: '<is> True' });
    const v = await makeVolume(env, env.demo, { volume_type: 'multi' });
    assert.equal(v.multiattach, true);
    const ids = await Promise.all([inst(7), inst(8)].map((i) => api().attachmentCreate(env.demoProject, v.id, i)));
    assert.notEqual(ids[0], ids[1]);
    for (const [k, a] of ids.entries()) {
      await api().attachmentUpdate(a, { host: 'compute01', instance: [inst(7), inst(8)][k], mountpoint: '/dev/sdb' });
      await api().attachmentComplete(a);
    }
    assert.equal((await getVolume(env.demo, v.id)).attachments.length, 2);
    await api().attachmentDelete(ids[0]);
    assert.equal((await getVolume(env.demo, v.id)).status, 'in-use');
    await api().attachmentDelete(ids[1]);
    assert.equal((await getVolume(env.demo, v.id)).status, 'available');
  });

  it('moves the VMDK to a datastore the attaching host\'s cluster reaches', async () => {
    const inv = (await env.admin.json('GET', '/simulator/inventory')).body;
    const dc = inv.datacenters[0];
    const v = await makeVolume(env, env.demo);
    const before = (await api().get(v.id))!.location!;
    const ds = dc.datastores.find((d: any) => d.name === before.datastore);
    // A cluster that cannot see the volume's datastore, if the layout has one.
    const other = dc.clusters.find((c: any) => !c.datastores.includes(ds.moref));
    assert.ok(other, 'the default layout has a cluster per pair of datastores');
    const a = await api().attachmentCreate(env.demoProject, v.id, inst(9));
    const conn = await api().attachmentUpdate(a, { host: other.computeHost, instance: inst(9), mountpoint: '/dev/sdb' });
    assert.notEqual(conn.datastore, before.datastore);
    assert.ok(other.datastores.includes(dc.datastores.find((d: any) => d.name === conn.datastore).moref));
    assert.deepEqual((await api().get(v.id))!.location, { datastore: conn.datastore, path: conn.path });
    await api().attachmentDelete(a);
  });

  it('creates and deletes volumes for Nova with the id it chose, idempotently', async () => {
    const id = '8a7b3d5e-0000-4000-8000-0000000001aa';
    assert.equal(await api().create({ id, projectId: env.demoProject, userId: env.demo.body.token.user.id, sizeGb: 1, name: 'for-nova' }), id);
    assert.equal(await api().create({ id, projectId: env.demoProject, userId: env.demo.body.token.user.id, sizeGb: 1, name: 'for-nova' }), id);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await api().get(id))!.status, 'available');
    assert.equal((await api().list!(env.demoProject)).filter((x) => x.id === id).length, 1);
    await api().delete(id);
    await api().delete(id);
    await env.cloud.ctx.tasks.idle();
    assert.equal(await api().get(id), null);
    await api().delete(id);
  });
});
