// Server actions through HTTP: each action's effect on the server and on the simulated VM, the
// state checks (409 with Nova's wording), locks, and the instance actions recorded for them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { act, bootServer, mvh, raiseQuota, setup, show, statusOf, type Env } from './test_helpers.ts';

let env: Env;
before(async () => { env = await setup(); await raiseQuota(env); });
after(async () => { await env?.cloud.close(); });

const vmPower = async (id: string) => (await env.cloud.ctx.driver.getInfo(id))?.powerState;

describe('power actions', () => {
  let id: string;
  before(async () => { id = await bootServer(env, env.demo, { name: 'power' }); });

  it('stops and starts', async () => {
    assert.equal((await act(env, env.demo, id, { 'os-stop': null })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'SHUTOFF');
    assert.equal(await vmPower(id), 4);
    const again = await act(env, env.demo, id, { 'os-stop': null });
    assert.equal(again.status, 409);
    assert.equal(again.body.conflictingRequest.message, `Cannot 'os-stop' instance ${id} while it is in vm_state stopped`);
    const soft = await act(env, env.demo, id, { reboot: { type: 'SOFT' } });
    assert.equal(soft.status, 409, 'a soft reboot needs an active server');
    assert.equal((await act(env, env.demo, id, { 'os-start': null })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'ACTIVE');
    assert.equal(await vmPower(id), 1);
  });

  it('reboots soft and hard, and validates the type', async () => {
    assert.equal((await act(env, env.demo, id, { reboot: { type: 'SOFT' } })).status, 202);
    assert.equal((await act(env, env.demo, id, { reboot: { type: 'hard' } })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'ACTIVE');
    assert.equal((await act(env, env.demo, id, { reboot: { type: 'WARM' } })).status, 400);
    assert.equal((await act(env, env.demo, id, { reboot: {} })).status, 400);
    assert.equal((await act(env, env.demo, '11111111-2222-3333-4444-555555555555', { reboot: { type: 'HARD' } })).status, 404);
  });

  it('pauses/unpauses and suspends/resumes', async () => {
    assert.equal((await act(env, env.demo, id, { pause: null })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'PAUSED');
    assert.equal(await vmPower(id), 3);
    assert.equal((await act(env, env.demo, id, { suspend: null })).status, 409);
    assert.equal((await act(env, env.demo, id, { unpause: null })).status, 202);
    assert.equal((await act(env, env.demo, id, { suspend: null })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'SUSPENDED');
    assert.equal(await vmPower(id), 7);
    assert.equal((await act(env, env.demo, id, { resume: null })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'ACTIVE');
  });

  it('rejects unknown actions and malformed bodies', async () => {
    const r = await env.demo.json('POST', `/compute/v2.1/servers/${id}/action`, { fly: null });
    assert.equal(r.status, 400);
    assert.equal(r.body.badRequest.message, 'There is no such action: fly');
    assert.equal((await env.demo.json('POST', `/compute/v2.1/servers/${id}/action`, { pause: null, unpause: null })).status, 400);
    assert.equal((await env.demo.request('POST', `/compute/v2.1/servers/${id}/action`, '{"pause":', { 'content-type': 'application/json' })).status, 400);
    assert.equal((await env.demo.json('POST', `/compute/v2.1/servers/${id}/action`, [1])).status, 400);
  });
});

describe('lock', () => {
  it('locks with a reason (2.73), refuses actions to non-admins, unlocks', async () => {
    const id = await bootServer(env, env.demo, { name: 'lockme' });
    assert.equal((await act(env, env.demo, id, { lock: { locked_reason: 'maintenance' } }, '2.73')).status, 202);
    const s = (await show(env.demo, id)).body.server;
    assert.equal(s.locked, true);
    assert.equal(s.locked_reason, 'maintenance');
    const stop = await act(env, env.demo, id, { 'os-stop': null });
    assert.equal(stop.status, 409);
    assert.equal(stop.body.conflictingRequest.message, `Instance ${id} is locked`);
    // Before 2.73 the body of lock is not checked (Nova's schema accepts anything), and re-locking is a no-op.
    assert.equal((await act(env, env.demo, id, { lock: { locked_reason: 'x' } }, '2.72')).status, 202);
    assert.equal((await show(env.demo, id)).body.server.locked_reason, 'maintenance');
    assert.equal((await act(env, env.demo, id, { unlock: null })).status, 202);
    assert.equal((await show(env.demo, id)).body.server.locked, false);
    // Locked by an admin: the owner may not unlock it.
    assert.equal((await act(env, env.admin, id, { lock: null })).status, 202);
    assert.equal((await act(env, env.demo, id, { unlock: null })).status, 403);
    assert.equal((await act(env, env.admin, id, { 'os-stop': null })).status, 202, 'admins act on locked servers');
    assert.equal((await act(env, env.admin, id, { unlock: null })).status, 202);
  });
});

describe('rebuild, resize, rescue', () => {
  it('rebuilds with a new name, metadata and password (2.57 user_data, 2.75 full body)', async () => {
    const id = await bootServer(env, env.demo, { name: 'rb', metadata: { old: '1' } });
    const r = await env.demo.json('POST', `/compute/v2.1/servers/${id}/action`, {
      rebuild: { imageRef: env.imageId, name: 'rebuilt', metadata: { new: '2' }, adminPass: 'Secret123', user_data: 'aGVsbG8=' },
    }, mvh('2.75'));
    assert.equal(r.status, 202);
    assert.equal(r.body.server.adminPass, 'Secret123');
    assert.equal(r.body.server.name, 'rebuilt');
    assert.equal(r.body.server.status, 'REBUILD');
    assert.equal(r.body.server.user_data, 'aGVsbG8=');
    assert.ok('OS-EXT-STS:vm_state' in r.body.server);
    await env.cloud.ctx.tasks.idle();
    const s = (await show(env.demo, id)).body.server;
    assert.equal(s.status, 'ACTIVE');
    assert.deepEqual(s.metadata, { new: '2' });
    const bad = await act(env, env.demo, id, { rebuild: { imageRef: '11111111-2222-3333-4444-555555555555' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.badRequest.message, 'Cannot find image for rebuild');
    const deleted = await bootServer(env, env.demo, { name: 'gone' });
    await env.demo.request('DELETE', `/compute/v2.1/servers/${deleted}`);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await act(env, env.demo, deleted, { rebuild: { imageRef: env.imageId } })).status, 404);
  });

  it('keeps a stopped server stopped through a rebuild', async () => {
    const id = await bootServer(env, env.demo, { name: 'rb-stopped' });
    await act(env, env.demo, id, { 'os-stop': null });
    assert.equal((await act(env, env.demo, id, { rebuild: { imageRef: env.imageId } })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'SHUTOFF');
  });

  it('resizes to VERIFY_RESIZE, confirms, resizes again and reverts', async () => {
    const id = await bootServer(env, env.demo, { name: 'rs' });
    assert.equal((await act(env, env.demo, id, { resize: { flavorRef: '1' } })).body.badRequest.message, 'When resizing, instances must change flavor!');
    assert.equal((await act(env, env.demo, id, { resize: { flavorRef: '424242' } })).status, 400);
    assert.equal((await act(env, env.demo, id, { resize: { flavorRef: null } })).status, 400);
    assert.equal((await act(env, env.demo, id, { resize: { flavorRef: '' } })).status, 400);
    assert.equal((await act(env, env.demo, id, { confirmResize: null })).status, 409);
    assert.equal((await act(env, env.demo, id, { resize: { flavorRef: '2' } })).status, 202);
    let s = (await show(env.admin, id)).body.server;
    assert.equal(s.status, 'VERIFY_RESIZE');
    assert.equal(s.flavor.original_name, 'm1.small');
    assert.equal((await env.cloud.ctx.driver.getInfo(id))!.memoryMb, 2048);
    const mig = await env.cloud.ctx.db.get('SELECT status, migration_type FROM migrations WHERE instance_uuid = ?', [id]);
    assert.deepEqual({ ...mig }, { status: 'finished', migration_type: 'resize' });
    assert.equal((await act(env, env.demo, id, { confirmResize: null })).status, 204);
    s = (await show(env.admin, id)).body.server;
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s.flavor.original_name, 'm1.small');

    assert.equal((await act(env, env.demo, id, { resize: { flavorRef: '3' } })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'VERIFY_RESIZE');
    assert.equal((await act(env, env.demo, id, { revertResize: null })).status, 202);
    s = (await show(env.admin, id)).body.server;
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s.flavor.original_name, 'm1.small');
    assert.equal((await env.cloud.ctx.driver.getInfo(id))!.memoryMb, 2048);
  });

  it('rescues with an admin password and unrescues', async () => {
    const id = await bootServer(env, env.demo, { name: 'rescue' });
    const r = await act(env, env.demo, id, { rescue: { adminPass: 'Pa55word' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { adminPass: 'Pa55word' });
    assert.equal(await statusOf(env.demo, id), 'RESCUE');
    assert.equal((await act(env, env.demo, id, { rescue: null })).status, 409);
    assert.equal((await act(env, env.demo, id, { unrescue: null })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'ACTIVE');
    assert.equal((await act(env, env.demo, id, { unrescue: null })).status, 409);
    const gen = await act(env, env.demo, id, { rescue: null });
    assert.equal(typeof gen.body.adminPass, 'string');
  });
});

describe('images and shelving', () => {
  it('creates an image from a server (Location before 2.45, image_id after)', async () => {
    const id = await bootServer(env, env.demo, { name: 'snap' });
    const r = await act(env, env.demo, id, { createImage: { name: 'snap-img', metadata: { purpose: 'test' } } });
    assert.equal(r.status, 202);
    const loc = r.headers.get('location')!;
    assert.match(loc, /\/images\/[0-9a-f-]{36}$/);
    const imageId = loc.split('/').pop()!;
    const img = await env.demo.json('GET', `/image/v2/images/${imageId}`);
    assert.equal(img.status, 200);
    assert.equal(img.body.status, 'active');
    assert.equal(img.body.image_type, 'snapshot');
    assert.equal(img.body.instance_uuid, id);
    assert.equal(img.body.base_image_ref, env.imageId);
    assert.equal(img.body.purpose, 'test');
    assert.equal(img.body.owner, env.demo.body.token.project.id);
    assert.equal(await statusOf(env.demo, id), 'ACTIVE');
    const r2 = await act(env, env.demo, id, { createImage: { name: 'snap2' } }, '2.45');
    assert.match(r2.body.image_id, /^[0-9a-f-]{36}$/);
    assert.equal((await act(env, env.demo, id, { createImage: {} })).status, 400);
  });

  it('creates backups and keeps only the newest `rotation` of them', async () => {
    const id = await bootServer(env, env.demo, { name: 'backup' });
    const ids: string[] = [];
    for (let k = 0; k < 3; k++) {
      const r = await act(env, env.demo, id, { createBackup: { name: `bk-${k}`, backup_type: 'daily', rotation: 2 } }, '2.45');
      assert.equal(r.status, 202);
      ids.push(r.body.image_id);
    }
    const status = async (img: string) => (await env.demo.json('GET', `/image/v2/images/${img}`)).status;
    assert.equal(await status(ids[0]), 404, 'the oldest backup is rotated out');
    assert.equal(await status(ids[1]), 200);
    assert.equal(await status(ids[2]), 200);
    const img = (await env.demo.json('GET', `/image/v2/images/${ids[2]}`)).body;
    assert.equal(img.image_type, 'backup');
    assert.equal(img.backup_type, 'daily');
    assert.equal((await act(env, env.demo, id, { createBackup: { name: 'x', backup_type: 'daily' } })).status, 400);
    assert.equal((await act(env, env.demo, id, { createBackup: { name: 'x', backup_type: 'daily', rotation: -1 } })).status, 400);
  });

  it('shelves (offloading at once, as DevStack) and unshelves onto a node again', async () => {
    const id = await bootServer(env, env.demo, { name: 'shelf' });
    assert.equal((await act(env, env.demo, id, { shelve: null })).status, 202);
    const s = (await show(env.admin, id)).body.server;
    assert.equal(s.status, 'SHELVED_OFFLOADED');
    assert.equal(s['OS-EXT-SRV-ATTR:host'], null);
    assert.ok(!(await env.cloud.ctx.driver.listInstances()).includes(id), 'the VM is gone');
    const row = await env.cloud.ctx.db.get('SELECT system_metadata FROM instances WHERE uuid = ?', [id]);
    const shelved = JSON.parse(row!.system_metadata).shelved_image_id;
    assert.equal((await env.demo.json('GET', `/image/v2/images/${shelved}`)).body.status, 'active');
    assert.equal((await act(env, env.demo, id, { 'os-start': null })).status, 409);
    assert.equal((await act(env, env.demo, id, { unshelve: { availability_zone: 'nowhere' } }, '2.77')).status, 400);
    assert.equal((await act(env, env.demo, id, { unshelve: null })).status, 202);
    const u = (await show(env.admin, id)).body.server;
    assert.equal(u.status, 'ACTIVE');
    assert.ok(u['OS-EXT-SRV-ATTR:host']);
    assert.ok((await env.cloud.ctx.driver.listInstances()).includes(id));
    assert.equal((await env.demo.json('GET', `/image/v2/images/${shelved}`)).status, 404, 'the shelved snapshot is deleted');
  });

  it('only admins offload', async () => {
    const id = await bootServer(env, env.demo, { name: 'offload' });
    assert.equal((await act(env, env.demo, id, { shelveOffload: null })).status, 403);
    assert.equal((await act(env, env.admin, id, { shelveOffload: null })).status, 409);
  });
});

describe('other actions', () => {
  let id: string;
  before(async () => { id = await bootServer(env, env.demo, { name: 'misc' }); });

  it('returns console output, tailed by length', async () => {
    const all = await act(env, env.demo, id, { 'os-getConsoleOutput': {} });
    assert.equal(all.status, 200);
    assert.equal(typeof all.body.output, 'string');
    assert.ok(all.body.output.length > 0);
    const two = await act(env, env.demo, id, { 'os-getConsoleOutput': { length: 2 } });
    assert.ok(two.body.output.split('\n').length <= 2);
    assert.equal((await act(env, env.demo, id, { 'os-getConsoleOutput': { length: 'x' } })).status, 400);
    assert.equal((await act(env, env.demo, id, { 'os-getConsoleOutput': { length: -2 } })).status, 400);
  });

  it('resets state (admin only)', async () => {
    assert.equal((await act(env, env.demo, id, { 'os-resetState': { state: 'error' } })).status, 403);
    assert.equal((await act(env, env.admin, id, { 'os-resetState': { state: 'error' } })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'ERROR');
    assert.equal((await act(env, env.admin, id, { 'os-resetState': { state: 'paused' } })).status, 400);
    assert.equal((await act(env, env.admin, id, { 'os-resetState': { state: 'active' } })).status, 202);
    assert.equal(await statusOf(env.demo, id), 'ACTIVE');
  });

  it('answers changePassword 501 as the VMware driver does', async () => {
    const r = await act(env, env.demo, id, { changePassword: { adminPass: 'x' } });
    assert.equal(r.status, 501);
    assert.equal(r.body.notImplemented.message, 'Unable to set password on instance');
    assert.equal((await act(env, env.demo, id, { changePassword: {} })).status, 400);
  });

  it('answers security group actions without a network service', async () => {
    const r = await act(env, env.demo, id, { addSecurityGroup: { name: 'web' } });
    assert.equal(r.status, 404);
  });

  it('refuses restore of a server that is not soft-deleted, force-deletes', async () => {
    assert.equal((await act(env, env.demo, id, { restore: null })).status, 409);
    const f = await bootServer(env, env.demo, { name: 'force' });
    assert.equal((await act(env, env.demo, f, { forceDelete: null })).status, 202);
    assert.equal(await statusOf(env.demo, f), 'DELETED');
  });
});

describe('instance actions', () => {
  it('lists actions newest first and shows events (to the owner from 2.51, with host/hostId at 2.62)', async () => {
    const id = await bootServer(env, env.demo, { name: 'ia' });
    await act(env, env.demo, id, { 'os-stop': null });
    const l = await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions`);
    assert.equal(l.status, 200);
    assert.deepEqual(l.body.instanceActions.map((a: any) => a.action), ['stop', 'create']);
    const create = l.body.instanceActions[1];
    assert.equal(create.instance_uuid, id);
    assert.match(create.request_id, /^req-/);
    const old = await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${create.request_id}`);
    assert.equal(old.body.instanceAction.events, undefined, 'no events for non-admins before 2.51');
    const s251 = await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${create.request_id}`, undefined, mvh('2.51'));
    const evs = s251.body.instanceAction.events;
    assert.deepEqual(evs.map((e: any) => e.event).sort(), ['compute__do_build_and_run_instance', 'conductor_schedule_and_build_instances']);
    assert.ok(evs.every((e: any) => e.result === 'Success' && !('traceback' in e)));
    const adm = await env.admin.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${create.request_id}`, undefined, mvh('2.62'));
    const e0 = adm.body.instanceAction.events.find((e: any) => e.event === 'compute__do_build_and_run_instance');
    assert.ok(e0.host);
    assert.match(e0.hostId, /^[0-9a-f]{56}$/);
    assert.ok('traceback' in e0);
    assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions/req-nope`)).status, 404);
  });

  it('pages (2.58) and still shows a deleted server\'s actions (2.21)', async () => {
    const id = await bootServer(env, env.demo, { name: 'ia2' });
    await act(env, env.demo, id, { 'os-stop': null });
    await act(env, env.demo, id, { 'os-start': null });
    const p = await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions?limit=2`, undefined, mvh('2.58'));
    assert.deepEqual(p.body.instanceActions.map((a: any) => a.action), ['start', 'stop']);
    assert.ok(p.body.links[0].href.includes('marker='));
    assert.ok('updated_at' in p.body.instanceActions[0]);
    const marker = p.body.instanceActions[1].request_id;
    const p2 = await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions?marker=${marker}`, undefined, mvh('2.58'));
    assert.deepEqual(p2.body.instanceActions.map((a: any) => a.action), ['create']);
    assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions?foo=1`, undefined, mvh('2.58'))).status, 400);
    await env.demo.request('DELETE', `/compute/v2.1/servers/${id}`);
    await env.cloud.ctx.tasks.idle();
    const gone = await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions`, undefined, mvh('2.21'));
    assert.equal(gone.status, 200);
    assert.equal(gone.body.instanceActions[0].action, 'delete');
    assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-instance-actions`)).status, 404);
  });
});
