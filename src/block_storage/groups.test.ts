// Generic volume groups over HTTP: group types and specs (3.11), groups with volumes (3.13),
// group snapshots and groups from a source (3.14), reset-status (3.19/3.20), the volumes list of
// a group (3.25), and the volume and snapshot fields that came with them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getVolume, makeType, setup, v3, vmdkOf, type Env } from './test_helpers.ts';
import type { Session } from '../testing.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

const at = (s: Session, mv: string, method: string, path: string, body?: unknown) =>
  s.json(method, v3(s, path), body, { 'OpenStack-API-Version': `volume ${mv}` });

async function groupType(name: string) {
  const r = await at(env.admin, '3.11', 'POST', '/group_types', { group_type: { name, group_specs: { consistent_group_snapshot_enabled: '<is> False' } } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.group_type;
}

async function group(s: Session, gt: string, types: string[], name = 'g') {
  const r = await at(s, '3.13', 'POST', '/groups', { group: { name, group_type: gt, volume_types: types } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.group;
}

async function volumeIn(s: Session, groupId: string, type: string) {
  const r = await at(s, '3.13', 'POST', '/volumes', { volume: { size: 1, group_id: groupId, volume_type: type } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await env.cloud.ctx.tasks.idle();
  return getVolume(s, r.body.volume.id);
}

describe('generic volume groups', () => {
  it('3.11: group types and their specs (admin); not there before 3.11', async () => {
    assert.equal((await at(env.admin, '3.10', 'GET', '/group_types')).status, 404);
    assert.equal((await at(env.demo, '3.11', 'POST', '/group_types', { group_type: { name: 'x' } })).status, 403);
    assert.equal((await at(env.admin, '3.11', 'POST', '/group_types', { group_type: {} })).status, 400);
    const gt = await groupType('gt-specs');
    assert.equal(gt.is_public, true);
    assert.deepEqual(gt.group_specs, { consistent_group_snapshot_enabled: '<is> False' });
    assert.equal((await at(env.admin, '3.11', 'POST', '/group_types', { group_type: { name: 'gt-specs' } })).status, 409);

    // Specs: members do not see them.
    const shown = await at(env.demo, '3.11', 'GET', `/group_types/${gt.id}`);
    assert.equal(shown.body.group_type.name, 'gt-specs');
    assert.ok(!('group_specs' in shown.body.group_type));
    assert.equal((await at(env.admin, '3.11', 'POST', `/group_types/${gt.id}/group_specs`, { group_specs: { k1: 'v1' } })).status, 202);
    assert.deepEqual((await at(env.admin, '3.11', 'GET', `/group_types/${gt.id}/group_specs`)).body.group_specs, { consistent_group_snapshot_enabled: '<is> False', k1: 'v1' });
    assert.deepEqual((await at(env.admin, '3.11', 'PUT', `/group_types/${gt.id}/group_specs/k1`, { k1: 'v2' })).body, { k1: 'v2' });
    assert.equal((await at(env.admin, '3.11', 'PUT', `/group_types/${gt.id}/group_specs/k1`, { k9: 'v2' })).status, 400);
    assert.deepEqual((await at(env.admin, '3.11', 'GET', `/group_types/${gt.id}/group_specs/k1`)).body, { k1: 'v2' });
    assert.equal((await at(env.admin, '3.11', 'DELETE', `/group_types/${gt.id}/group_specs/k1`)).status, 202);
    assert.equal((await at(env.admin, '3.11', 'GET', `/group_types/${gt.id}/group_specs/k1`)).status, 404);

    // Update, private types, the default (none configured), delete.
    const upd = await at(env.admin, '3.11', 'PUT', `/group_types/${gt.id}`, { group_type: { description: 'd', is_public: false } });
    assert.equal(upd.body.group_type.description, 'd');
    assert.equal((await at(env.admin, '3.11', 'PUT', `/group_types/${gt.id}`, { group_type: {} })).status, 400);
    assert.ok(!(await at(env.demo, '3.11', 'GET', '/group_types')).body.group_types.some((t: any) => t.id === gt.id));
    assert.ok((await at(env.admin, '3.11', 'GET', '/group_types?is_public=false')).body.group_types.some((t: any) => t.id === gt.id));
    assert.equal((await at(env.demo, '3.11', 'GET', '/group_types/default')).body.itemNotFound.message, 'Default group type can not be found.');
    assert.equal((await at(env.admin, '3.11', 'DELETE', `/group_types/${gt.id}`)).status, 202);
    assert.equal((await at(env.admin, '3.11', 'GET', `/group_types/${gt.id}`)).status, 404);
  });

  it('3.13: a group of volumes: create, volumes in it, update (add/remove), delete with its volumes', async () => {
    const gt = await groupType('gt-13');
    const vt = await makeType(env, 'vt-13');
    assert.equal((await at(env.demo, '3.12', 'GET', '/groups')).status, 404);
    assert.equal((await at(env.demo, '3.13', 'POST', '/groups', { group: { group_type: gt.id, volume_types: [] } })).status, 400);
    assert.equal((await at(env.demo, '3.13', 'POST', '/groups', { group: { group_type: 'nope', volume_types: [vt.name] } })).status, 404);
    const g = await group(env.demo, gt.id, [vt.name], 'grp');
    const shown = (await at(env.demo, '3.13', 'GET', `/groups/${g.id}`)).body.group;
    assert.equal(shown.status, 'available');
    assert.equal(shown.group_type, gt.id);
    assert.deepEqual(shown.volume_types, [vt.id]);
    assert.ok(!('group_snapshot_id' in shown), 'from 3.14');

    const v1 = await volumeIn(env.demo, g.id, vt.name);
    assert.equal(v1.status, 'available');
    assert.equal((await at(env.demo, '3.13', 'GET', `/volumes/${v1.id}`)).body.volume.group_id, g.id);
    assert.ok(!('group_id' in (await at(env.demo, '3.12', 'GET', `/volumes/${v1.id}`)).body.volume));
    // A type the group does not have is refused; below 3.13 group_id is ignored.
    assert.equal((await at(env.demo, '3.13', 'POST', '/volumes', { volume: { size: 1, group_id: g.id } })).status, 400);
    const outside = await at(env.demo, '3.12', 'POST', '/volumes', { volume: { size: 1, group_id: g.id, volume_type: vt.name } });
    assert.equal(outside.status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await at(env.demo, '3.13', 'GET', `/volumes/${outside.body.volume.id}`)).body.volume.group_id, null);
    // The group_id filter (3.10) finds the group's volumes.
    assert.deepEqual((await at(env.demo, '3.10', 'GET', `/volumes?group_id=${g.id}`)).body.volumes.map((x: any) => x.id), [v1.id]);
    // A volume in a group is deleted with its group.
    assert.equal((await env.demo.json('DELETE', v3(env.demo, `/volumes/${v1.id}`))).status, 400);

    // Update: add the outside volume, remove v1, rename.
    const put = (group: unknown) => at(env.demo, '3.13', 'PUT', `/groups/${g.id}`, { group });
    assert.equal((await put({})).status, 400);
    assert.equal((await put({ add_volumes: v1.id, remove_volumes: v1.id })).status, 400);
    assert.equal((await put({ add_volumes: '00000000-0000-4000-8000-000000000000' })).status, 400);
    assert.equal((await put({ name: 'renamed', add_volumes: outside.body.volume.id, remove_volumes: v1.id })).status, 202);
    const after = (await at(env.demo, '3.25', 'GET', `/groups/${g.id}?list_volume=True`)).body.group;
    assert.equal(after.name, 'renamed');
    assert.deepEqual(after.volumes, [outside.body.volume.id]);
    assert.ok(!('volumes' in (await at(env.demo, '3.24', 'GET', `/groups/${g.id}?list_volume=True`)).body.group), 'from 3.25');
    assert.equal((await at(env.demo, '3.13', 'GET', `/volumes/${v1.id}`)).body.volume.group_id, null);

    // Lists.
    assert.deepEqual((await at(env.demo, '3.13', 'GET', '/groups')).body.groups, [{ id: g.id, name: 'renamed' }]);
    assert.equal((await at(env.demo, '3.13', 'GET', '/groups/detail')).body.groups[0].status, 'available');
    assert.equal((await at(env.admin, '3.13', 'GET', '/groups')).body.groups.length, 0, 'another project');

    // Delete: refused without delete-volumes while it has volumes; with it, the volumes go too.
    const del = (a: unknown) => at(env.demo, '3.13', 'POST', `/groups/${g.id}/action`, { delete: a });
    const refused = await del({});
    assert.equal(refused.status, 400);
    assert.match(refused.body.badRequest.message, /delete-volumes flag is required/);
    const vmdk = await vmdkOf(env, outside.body.volume.id);
    assert.ok(vmdk);
    assert.equal((await del({ 'delete-volumes': true })).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await at(env.demo, '3.13', 'GET', `/groups/${g.id}`)).status, 404);
    assert.equal((await getVolume(env.demo, outside.body.volume.id)).status, 'deleted');
    assert.equal(await vmdkOf(env, outside.body.volume.id), undefined);
    assert.equal((await getVolume(env.demo, v1.id)).status, 'available', 'removed before, so kept');
    // The group type is free again.
    assert.equal((await at(env.admin, '3.11', 'DELETE', `/group_types/${gt.id}`)).status, 202);
  });

  it('3.14: group snapshots (one snapshot per volume) and groups made from a group snapshot or a group', async () => {
    const gt = await groupType('gt-14');
    const vt = await makeType(env, 'vt-14');
    const g = await group(env.demo, gt.id, [vt.id]);
    const vols = [await volumeIn(env.demo, g.id, vt.id), await volumeIn(env.demo, g.id, vt.id)];
    assert.equal((await at(env.demo, '3.13', 'POST', '/group_snapshots', { group_snapshot: { group_id: g.id } })).status, 404);
    const gs = await at(env.demo, '3.14', 'POST', '/group_snapshots', { group_snapshot: { group_id: g.id, name: 'gs' } });
    assert.equal(gs.status, 202, JSON.stringify(gs.body));
    assert.deepEqual(gs.body.group_snapshot, { id: gs.body.group_snapshot.id, name: 'gs', group_type_id: gt.id });
    await env.cloud.ctx.tasks.idle();
    const gsId = gs.body.group_snapshot.id;
    const shown = (await at(env.demo, '3.14', 'GET', `/group_snapshots/${gsId}`)).body.group_snapshot;
    assert.equal(shown.status, 'available');
    assert.equal(shown.group_id, g.id);
    const snaps = (await at(env.demo, '3.14', 'GET', '/snapshots/detail')).body.snapshots.filter((s: any) => s.group_snapshot_id === gsId);
    assert.deepEqual(snaps.map((s: any) => s.volume_id).sort(), vols.map((v) => v.id).sort());
    assert.ok(snaps.every((s: any) => s.status === 'available'));
    assert.ok(!('group_snapshot_id' in (await at(env.demo, '3.13', 'GET', `/snapshots/${snaps[0].id}`)).body.snapshot));
    // A snapshot of a group snapshot goes with it, not alone; so does the group.
    assert.equal((await env.demo.json('DELETE', v3(env.demo, `/snapshots/${snaps[0].id}`))).status, 400);
    assert.equal((await at(env.demo, '3.13', 'POST', `/groups/${g.id}/action`, { delete: { 'delete-volumes': true } })).body.badRequest.message, 'Invalid group: Group has existing snapshots.');
    assert.equal((await at(env.demo, '3.14', 'GET', '/group_snapshots')).body.group_snapshots.length, 1);

    // A group from the group snapshot: one new volume per snapshot, in the new group.
    const fromSnap = await at(env.demo, '3.14', 'POST', '/groups/action', { 'create-from-src': { name: 'copy', group_snapshot_id: gsId } });
    assert.equal(fromSnap.status, 202, JSON.stringify(fromSnap.body));
    await env.cloud.ctx.tasks.idle();
    const copy = (await at(env.demo, '3.14', 'GET', `/groups/${fromSnap.body.group.id}`)).body.group;
    assert.equal(copy.status, 'available');
    assert.equal(copy.group_snapshot_id, gsId);
    const copied = (await at(env.demo, '3.13', 'GET', `/volumes/detail?group_id=${copy.id}`)).body.volumes;
    assert.equal(copied.length, 2);
    assert.ok(copied.every((v: any) => v.status === 'available' && snaps.some((s: any) => s.id === v.snapshot_id)));

    // And from the group itself.
    const fromGroup = await at(env.demo, '3.14', 'POST', '/groups/action', { 'create-from-src': { source_group_id: g.id } });
    assert.equal(fromGroup.status, 202);
    await env.cloud.ctx.tasks.idle();
    const clone = (await at(env.demo, '3.14', 'GET', `/groups/${fromGroup.body.group.id}`)).body.group;
    assert.equal(clone.source_group_id, g.id);
    const cloned = (await at(env.demo, '3.13', 'GET', `/volumes/detail?group_id=${clone.id}`)).body.volumes;
    assert.deepEqual(cloned.map((v: any) => v.source_volid).sort(), vols.map((v) => v.id).sort());
    assert.equal((await at(env.demo, '3.14', 'POST', '/groups/action', { 'create-from-src': { source_group_id: g.id, group_snapshot_id: gsId } })).status, 400);

    // Deleting the group snapshot removes its snapshots (and their VMDKs).
    assert.equal((await at(env.demo, '3.14', 'DELETE', `/group_snapshots/${gsId}`)).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await at(env.demo, '3.14', 'GET', `/group_snapshots/${gsId}`)).status, 404);
    assert.equal((await env.demo.json('GET', v3(env.demo, `/snapshots/${snaps[0].id}`))).status, 404);
  });

  it('3.19/3.20: admins reset the status of group snapshots and groups', async () => {
    const gt = await groupType('gt-20');
    const vt = await makeType(env, 'vt-20');
    const g = await group(env.demo, gt.id, [vt.id]);
    const reset = (mv: string, s: Session, status: string) => at(s, mv, 'POST', `/groups/${g.id}/action`, { reset_status: { status } });
    assert.equal((await reset('3.19', env.admin, 'error')).status, 404);
    assert.equal((await reset('3.20', env.demo, 'error')).status, 403);
    assert.equal((await reset('3.20', env.admin, 'bogus')).status, 400);
    assert.equal((await reset('3.20', env.admin, 'error')).status, 202);
    assert.equal((await at(env.demo, '3.20', 'GET', `/groups/${g.id}`)).body.group.status, 'error');
    await reset('3.20', env.admin, 'available');

    const gs = await at(env.demo, '3.14', 'POST', '/group_snapshots', { group_snapshot: { group_id: g.id } });
    await env.cloud.ctx.tasks.idle();
    const resetSnap = (mv: string, status: string) => at(env.admin, mv, 'POST', `/group_snapshots/${gs.body.group_snapshot.id}/action`, { reset_status: { status } });
    assert.equal((await resetSnap('3.18', 'error')).status, 404);
    assert.equal((await resetSnap('3.19', 'error')).status, 202);
    assert.equal((await at(env.demo, '3.19', 'GET', `/group_snapshots/${gs.body.group_snapshot.id}`)).body.group_snapshot.status, 'error');
  });
});
