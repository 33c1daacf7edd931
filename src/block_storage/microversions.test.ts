// Cinder's microversions over HTTP: negotiation (400/406 as Cinder), and each change from 3.1 on
// below and at its version — upload visibility/protected (3.1), strict bootable filter (3.2),
// user messages (3.3, paging 3.5), glance_metadata filter (3.4), clusters (3.7), manageable
// volumes and snapshots (3.8, cluster 3.16/3.17), backups without a backup service (3.9),
// group_id filter (3.10), volumes summary (3.12), metadata Etags (3.15), provider_id (3.21),
// snapshot metadata filter (3.22), force delete (3.23), workers cleanup (3.24), failover and
// cluster filters (3.26). Groups are in groups.test.ts, attachments in attachments_api.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeVolume, setup, v3, vmdkOf, type Env } from './test_helpers.ts';
import type { Session } from '../testing.ts';
import { MAX_VERSION } from './microversion.ts';

let env: Env;
before(async () => {
  env = await setup();
  // Many volumes are made here: more than the default quota of 10.
  const q = await env.admin.json('PUT', v3(env.admin, `/os-quota-sets/${env.demoProject}`), { quota_set: { volumes: 100, snapshots: 100 } });
  assert.equal(q.status, 200);
});
after(async () => { await env?.cloud.close(); });

/** A request at microversion `mv`. */
const at = (s: Session, mv: string, method: string, path: string, body?: unknown) =>
  s.json(method, v3(s, path), body, { 'OpenStack-API-Version': `volume ${mv}` });

const setService = (action: 'enable' | 'disable') =>
  env.admin.json('PUT', v3(env.admin, `/os-services/${action}`), { host: 'vistack@vmdk', binary: 'cinder-volume' });

describe('Cinder microversions', () => {
  it('negotiates versions as Cinder: none is 3.0, latest the maximum, bad ones 400 and out of range 406', async () => {
    const doc = await env.demo.json('GET', '/volume/v3');
    assert.equal(doc.body.versions[0].version, MAX_VERSION);
    assert.equal(doc.body.versions[0].min_version, '3.0');
    const none = await env.demo.json('GET', v3(env.demo, '/volumes'));
    assert.equal(none.headers.get('openstack-api-version'), 'volume 3.0');
    assert.equal(none.headers.get('vary'), 'OpenStack-API-Version');
    assert.equal((await at(env.demo, 'latest', 'GET', '/volumes')).headers.get('openstack-api-version'), `volume ${MAX_VERSION}`);
    assert.equal((await at(env.demo, '3.5', 'GET', '/volumes')).headers.get('openstack-api-version'), 'volume 3.5');
    // Another service's version in the same header is not ours.
    const other = await env.demo.json('GET', v3(env.demo, '/volumes'), undefined, { 'OpenStack-API-Version': 'compute 2.60' });
    assert.equal(other.headers.get('openstack-api-version'), 'volume 3.0');

    const bad = await at(env.demo, '3.01', 'GET', '/volumes');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.badRequest.message, 'API Version String 3.01 is of invalid format. Must be of format MajorNum.MinorNum.');
    const high = await at(env.demo, '3.99', 'GET', '/volumes');
    assert.equal(high.status, 406);
    assert.equal(high.body.notAcceptable.message, `Version 3.99 is not supported by the API. Minimum is 3.0 and maximum is ${MAX_VERSION}.`);
    assert.equal(high.headers.get('vary'), 'OpenStack-API-Version');
    assert.equal((await at(env.demo, '2.0', 'GET', '/volumes')).status, 406);
  });

  it('3.1: os-volume_upload_image takes visibility and protected; before it they are unknown', async () => {
    const v = await makeVolume(env, env.demo);
    const body = { 'os-volume_upload_image': { image_name: 'mv-upload', disk_format: 'vmdk', visibility: 'shared', protected: true } };
    const old = await at(env.demo, '3.0', 'POST', `/volumes/${v.id}/action`, body);
    assert.equal(old.status, 400);
    assert.match(old.body.badRequest.message, /'visibility' was unexpected/);
    // Public images need the upload_public rule (admins).
    const pub = await at(env.demo, '3.1', 'POST', `/volumes/${v.id}/action`, { 'os-volume_upload_image': { image_name: 'p', visibility: 'public' } });
    assert.equal(pub.status, 403);
    const r = await at(env.demo, '3.1', 'POST', `/volumes/${v.id}/action`, body);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body['os-volume_upload_image'].visibility, 'shared');
    assert.equal(r.body['os-volume_upload_image'].protected, true);
    await env.cloud.ctx.tasks.idle();
    const img = await env.demo.json('GET', `/image/v2/images/${r.body['os-volume_upload_image'].image_id}`);
    assert.equal(img.body.visibility, 'shared');
    assert.equal(img.body.protected, true);
    assert.equal(img.body.status, 'active');
  });

  it('3.2: the bootable filter is strict; before it anything but False selects bootable volumes', async () => {
    const boot = await makeVolume(env, env.demo, { imageRef: env.imageId, size: 1, name: 'mv-boot' });
    const plain = await makeVolume(env, env.demo, { name: 'mv-plain' });
    const ids = (r: any) => r.body.volumes.map((x: any) => x.id);
    const loose = await at(env.demo, '3.1', 'GET', '/volumes?bootable=maybe');
    assert.ok(ids(loose).includes(boot.id));
    assert.ok(!ids(loose).includes(plain.id));
    assert.ok(ids(await at(env.demo, '3.1', 'GET', '/volumes?bootable=False')).includes(plain.id));
    // "0" was not a spelling of False before 3.2.
    assert.ok(!ids(await at(env.demo, '3.1', 'GET', '/volumes?bootable=0')).includes(plain.id));
    const strict = await at(env.demo, '3.2', 'GET', '/volumes?bootable=maybe');
    assert.equal(strict.status, 400);
    assert.equal(strict.body.badRequest.message, "Invalid input received: 'bootable = maybe'");
    const zero = await at(env.demo, '3.2', 'GET', '/volumes?bootable=0');
    assert.ok(ids(zero).includes(plain.id));
    assert.ok(!ids(zero).includes(boot.id));
  });

  it('3.4: glance_metadata filters volumes by their image metadata; before it it is ignored', async () => {
    const boot = await makeVolume(env, env.demo, { imageRef: env.imageId, size: 1 });
    const plain = await makeVolume(env, env.demo);
    const q = `/volumes?glance_metadata=${encodeURIComponent(`{"image_id": "${env.imageId}"}`)}`;
    const ids = (r: any) => r.body.volumes.map((x: any) => x.id);
    const before = await at(env.demo, '3.3', 'GET', q);
    assert.ok(ids(before).includes(plain.id));
    const now = await at(env.demo, '3.4', 'GET', q);
    assert.ok(ids(now).includes(boot.id));
    assert.ok(!ids(now).includes(plain.id));
    assert.deepEqual(ids(await at(env.demo, '3.4', 'GET', `/volumes?glance_metadata=${encodeURIComponent("{'image_id': 'nope'}")}`)), []);
  });

  it('3.3/3.5: a failed volume create becomes a user message of its project; listed, shown, deleted; paged from 3.5', async () => {
    assert.equal((await at(env.demo, '3.2', 'GET', '/messages')).status, 404);
    assert.equal((await setService('disable')).status, 200);
    const failed = [await makeVolume(env, env.demo), await makeVolume(env, env.demo)];
    assert.equal((await setService('enable')).status, 200);
    assert.deepEqual(failed.map((v) => v.status), ['error', 'error']);

    const list = await at(env.demo, '3.3', 'GET', '/messages');
    assert.equal(list.status, 200);
    const mine = list.body.messages.filter((m: any) => failed.some((v) => v.id === m.resource_uuid));
    assert.equal(mine.length, 2);
    const m = mine.find((x: any) => x.resource_uuid === failed[0].id);
    assert.equal(m.event_id, 'VOLUME_VOLUME_001_003');
    assert.equal(m.user_message, 'schedule allocate volume:Could not find any available weighted backend.');
    assert.equal(m.message_level, 'ERROR');
    assert.equal(m.resource_type, 'VOLUME');
    assert.match(m.request_id, /^req-/);
    assert.ok(Date.parse(m.guaranteed_until) > Date.parse(m.created_at));
    assert.match(m.links[0].href, new RegExp(`/messages/${m.id}$`));

    // Other projects do not see it.
    assert.equal((await at(env.admin, '3.3', 'GET', '/messages')).body.messages.some((x: any) => x.id === m.id), true, 'admins see all');
    const other = await login2();
    assert.equal((await at(other, '3.3', 'GET', `/messages/${m.id}`)).status, 404);

    // Paging came with 3.5: at 3.3 the limit is ignored.
    assert.ok((await at(env.demo, '3.3', 'GET', '/messages?limit=1')).body.messages.length >= 2);
    const page = await at(env.demo, '3.5', 'GET', '/messages?limit=1');
    assert.equal(page.body.messages.length, 1);
    assert.match(page.body.messages_links[0].href, /marker=/);
    const next = await env.demo.json('GET', page.body.messages_links[0].href.replace(/^https?:\/\/[^/]+/, ''), undefined, { 'OpenStack-API-Version': 'volume 3.5' });
    assert.equal(next.body.messages.length, 1);
    assert.notEqual(next.body.messages[0].id, page.body.messages[0].id);
    assert.equal((await at(env.demo, '3.5', 'GET', '/messages?sort=nope:asc')).status, 400);
    const filtered = await at(env.demo, '3.5', 'GET', `/messages?resource_uuid=${failed[1].id}`);
    assert.deepEqual(filtered.body.messages.map((x: any) => x.resource_uuid), [failed[1].id]);

    const shown = await at(env.demo, '3.3', 'GET', `/messages/${m.id}`);
    assert.deepEqual(shown.body.message, m);
    assert.equal((await at(env.demo, '3.3', 'DELETE', `/messages/${m.id}`)).status, 204);
    const gone = await at(env.demo, '3.3', 'GET', `/messages/${m.id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Message ${m.id} could not be found.`);
  });

  it('3.3: a type asking for capabilities the backend lacks makes no volume, and a message says why', async () => {
    const t = await env.admin.json('POST', v3(env.admin, '/types'), { volume_type: { name: 'mv-iscsi', extra_specs: { storage_protocol: 'iSCSI' } } });
    assert.equal(t.status, 200);
    const ok = await env.admin.json('POST', v3(env.admin, '/types'), { volume_type: { name: 'mv-vmdk', extra_specs: { storage_protocol: 'vmdk', 'capabilities:vendor_name': '<in> VMw', multiattach: '<is> True' } } });
    const bad = await makeVolume(env, env.demo, { volume_type: 'mv-iscsi' });
    assert.equal(bad.status, 'error');
    const good = await makeVolume(env, env.demo, { volume_type: ok.body.volume_type.id });
    assert.equal(good.status, 'available');
    const msgs = (await at(env.demo, '3.3', 'GET', '/messages')).body.messages.filter((m: any) => m.resource_uuid === bad.id);
    assert.deepEqual(msgs.map((m: any) => m.event_id), ['VOLUME_VOLUME_001_003']);
    // A retype to such a type finds no backend either: accepted, and nothing changes.
    assert.equal((await env.demo.json('POST', v3(env.demo, `/volumes/${good.id}/action`), { 'os-retype': { new_type: 'mv-iscsi' } })).status, 202);
    assert.equal((await env.demo.json('GET', v3(env.demo, `/volumes/${good.id}`))).body.volume.volume_type, 'mv-vmdk');
  });

  it('3.7: clusters (none: the volume service is in no cluster) and the services\' cluster field', async () => {
    assert.equal((await at(env.admin, '3.6', 'GET', '/clusters')).status, 404);
    assert.deepEqual((await at(env.admin, '3.7', 'GET', '/clusters')).body, { clusters: [] });
    assert.deepEqual((await at(env.admin, '3.7', 'GET', '/clusters/detail?is_up=true')).body, { clusters: [] });
    assert.equal((await at(env.admin, '3.7', 'GET', '/clusters?colour=red')).status, 400);
    assert.equal((await at(env.demo, '3.7', 'GET', '/clusters')).status, 403);
    const show = await at(env.admin, '3.7', 'GET', '/clusters/c1');
    assert.equal(show.status, 404);
    assert.equal(show.body.itemNotFound.message, "Cluster {'binary': 'cinder-volume', 'name': 'c1'} could not be found.");
    assert.equal((await at(env.admin, '3.7', 'PUT', '/clusters/disable', { name: 'c1', disabled_reason: 'x' })).status, 404);
    assert.equal((await at(env.admin, '3.7', 'PUT', '/clusters/enable', {})).status, 400);
    const svc = (r: any) => r.body.services.find((s: any) => s.binary === 'cinder-volume');
    assert.ok(!('cluster' in svc(await at(env.admin, '3.6', 'GET', '/os-services'))));
    assert.equal(svc(await at(env.admin, '3.7', 'GET', '/os-services')).cluster, null);
  });

  it('3.8: VMDKs that no volume owns are manageable and become volumes (and snapshots) in place', async () => {
    const owned = await makeVolume(env, env.admin, { size: 1 });
    // A VMDK on the backend that Cinder does not know (left by another deployment, say).
    const strayId = '0a0a0a0a-0000-4000-8000-000000000001';
    const loc = await env.cloud.ctx.volumeDriver.createVolume({
      volumeId: strayId, name: `volume-${strayId}`, projectId: 'elsewhere', sizeGb: 3, vmdkType: 'thin', adapterType: 'lsiLogic',
      storageProfile: null, availabilityZone: 'nova',
    } as any);
    const snapLoc = await env.cloud.ctx.volumeDriver.createSnapshot(loc, '0a0a0a0a-0000-4000-8000-000000000002');

    assert.equal((await at(env.admin, '3.7', 'GET', '/manageable_volumes?host=vistack@vmdk')).status, 404);
    assert.equal((await at(env.admin, '3.8', 'GET', '/manageable_volumes')).status, 400);
    assert.equal((await at(env.admin, '3.8', 'GET', '/manageable_volumes?host=nowhere')).status, 404);
    assert.equal((await at(env.demo, '3.8', 'GET', '/manageable_volumes?host=vistack@vmdk')).status, 403);
    assert.equal((await at(env.admin, '3.8', 'GET', '/manageable_volumes?host=vistack@vmdk&sort=colour')).status, 400);
    const summary = await at(env.admin, '3.8', 'GET', '/manageable_volumes?host=vistack@vmdk');
    assert.equal(summary.status, 200);
    const stray = summary.body['manageable-volumes'].find((m: any) => m.reference['source-name'] === `volume-${strayId}`);
    assert.deepEqual(stray, { reference: { 'source-name': `volume-${strayId}` }, size: 3, safe_to_manage: true });
    const detail = await at(env.admin, '3.8', 'GET', '/manageable_volumes/detail?host=vistack@vmdk&sort=size:asc');
    const mine = detail.body['manageable-volumes'].find((m: any) => m.cinder_id === owned.id);
    assert.equal(mine.safe_to_manage, false);
    assert.equal(mine.reason_not_safe, 'already managed');
    const sizes = detail.body['manageable-volumes'].map((m: any) => m.size);
    assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b));

    const snaps = await at(env.admin, '3.8', 'GET', '/manageable_snapshots?host=vistack@vmdk');
    const straySnap = snaps.body['manageable-snapshots'].find((m: any) => m.reference['source-name'] === 'snapshot-0a0a0a0a-0000-4000-8000-000000000002');
    assert.deepEqual(straySnap.source_reference, { 'source-name': `volume-${strayId}` });
    assert.equal(straySnap.safe_to_manage, true);

    // Managing: 202 at once (managing), then the volume is the VMDK itself.
    assert.equal((await at(env.admin, '3.8', 'POST', '/manageable_volumes', { volume: { host: 'nowhere', ref: { 'source-name': 'x' } } })).status, 503);
    const r = await at(env.admin, '3.8', 'POST', '/manageable_volumes', { volume: { host: 'vistack@vmdk', ref: { 'source-name': `volume-${strayId}` }, name: 'adopted' } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.volume.status, 'managing');
    await env.cloud.ctx.tasks.idle();
    const adopted = (await env.admin.json('GET', v3(env.admin, `/volumes/${r.body.volume.id}`))).body.volume;
    assert.equal(adopted.status, 'available');
    assert.equal(adopted.size, 3);
    assert.equal(adopted.name, 'adopted');
    const after = await at(env.admin, '3.8', 'GET', '/manageable_volumes/detail?host=vistack@vmdk');
    const now = after.body['manageable-volumes'].find((m: any) => m.reference['source-name'] === `volume-${strayId}`);
    assert.equal(now.cinder_id, adopted.id);
    assert.equal(now.safe_to_manage, false);

    // Its snapshot VMDK becomes a snapshot of the adopted volume.
    const s = await at(env.admin, '3.8', 'POST', '/manageable_snapshots', {
      snapshot: { volume_id: adopted.id, ref: { 'source-name': snapLoc.path.replace(/^.*\//, '').replace(/\.vmdk$/, '') }, name: 'adopted-snap' },
    });
    assert.equal(s.status, 202, JSON.stringify(s.body));
    await env.cloud.ctx.tasks.idle();
    const snap = (await env.admin.json('GET', v3(env.admin, `/snapshots/${s.body.snapshot.id}`))).body.snapshot;
    assert.equal(snap.status, 'available');

    // A reference that names nothing: the volume ends in error_managing (and can be deleted).
    const bad = await at(env.admin, '3.8', 'POST', '/manageable_volumes', { volume: { host: 'vistack@vmdk', ref: { 'source-name': 'volume-nothing' } } });
    assert.equal(bad.status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.admin.json('GET', v3(env.admin, `/volumes/${bad.body.volume.id}`))).body.volume.status, 'error_managing');
    assert.equal((await env.admin.json('DELETE', v3(env.admin, `/volumes/${bad.body.volume.id}`))).status, 202);
  });

  it('os-unmanage leaves the VMDK, which manage (3.8, or os-volume-manage at 3.0) takes back', async () => {
    const v = await makeVolume(env, env.admin, { name: 'round-trip' });
    const host = v['os-vol-host-attr:host'];
    const snap = await env.admin.json('POST', v3(env.admin, '/snapshots'), { snapshot: { volume_id: v.id } });
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.demo.json('POST', v3(env.demo, `/snapshots/${snap.body.snapshot.id}/action`), { 'os-unmanage': null })).status, 404);
    assert.equal((await env.admin.json('POST', v3(env.admin, `/snapshots/${snap.body.snapshot.id}/action`), { 'os-unmanage': null })).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.admin.json('GET', v3(env.admin, `/snapshots/${snap.body.snapshot.id}`))).status, 404);
    assert.equal((await env.admin.json('POST', v3(env.admin, `/volumes/${v.id}/action`), { 'os-unmanage': {} })).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.admin.json('GET', v3(env.admin, `/volumes/${v.id}`))).status, 404);
    assert.ok(await vmdkOf(env, v.id), 'the VMDK stays');

    const legacy = await env.admin.json('GET', v3(env.admin, `/os-volume-manage?host=${encodeURIComponent(host)}`));
    assert.ok(legacy.body['manageable-volumes'].some((m: any) => m.reference['source-name'] === `volume-${v.id}` && m.safe_to_manage));
    const r = await env.admin.json('POST', v3(env.admin, '/os-volume-manage'), { volume: { host, ref: { 'source-name': `volume-${v.id}` } } });
    assert.equal(r.status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.admin.json('GET', v3(env.admin, `/volumes/${r.body.volume.id}`))).body.volume.status, 'available');
    const s = await env.admin.json('POST', v3(env.admin, '/os-snapshot-manage'), {
      snapshot: { volume_id: r.body.volume.id, ref: { 'source-name': `snapshot-${snap.body.snapshot.id}` } },
    });
    assert.equal(s.status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.admin.json('GET', v3(env.admin, `/snapshots/${s.body.snapshot.id}`))).body.snapshot.status, 'available');
  });

  it('3.9: backups as Cinder without a backup service: none exist, a create finds no cinder-backup', async () => {
    const v = await makeVolume(env, env.demo);
    assert.deepEqual((await at(env.demo, '3.0', 'GET', '/backups')).body, { backups: [] });
    assert.deepEqual((await at(env.demo, '3.0', 'GET', '/backups/detail')).body, { backups: [] });
    const create = await at(env.demo, '3.0', 'POST', '/backups', { backup: { volume_id: v.id } });
    assert.equal(create.status, 404);
    assert.equal(create.body.itemNotFound.message, 'Service cinder-backup could not be found.');
    assert.equal((await at(env.demo, '3.0', 'POST', '/backups', { backup: { volume_id: 'x' } })).status, 400);
    const id = '11111111-2222-4333-8444-555555555555';
    assert.equal((await at(env.demo, '3.0', 'GET', `/backups/${id}`)).body.itemNotFound.message, `Backup ${id} could not be found.`);
    // The update came with 3.9: before it the method does not exist.
    const old = await at(env.demo, '3.8', 'PUT', `/backups/${id}`, { backup: { name: 'n' } });
    assert.equal(old.body.itemNotFound.message, 'The resource could not be found.');
    const upd = await at(env.demo, '3.9', 'PUT', `/backups/${id}`, { backup: { name: 'n' } });
    assert.equal(upd.status, 404);
    assert.equal(upd.body.itemNotFound.message, `Backup ${id} could not be found.`);
    assert.equal((await at(env.demo, '3.9', 'PUT', `/backups/${id}`, { backup: { size: 3 } })).status, 400);
  });

  it('3.10: the group_id filter; before it it is ignored', async () => {
    const v = await makeVolume(env, env.demo);
    const q = '/volumes?group_id=6c8f3c6e-0000-4000-8000-000000000000';
    assert.ok((await at(env.demo, '3.9', 'GET', q)).body.volumes.some((x: any) => x.id === v.id));
    assert.deepEqual((await at(env.demo, '3.10', 'GET', q)).body.volumes, []);
  });

  it('3.12: the volumes summary counts the caller\'s volumes (all projects for admins with all_tenants)', async () => {
    assert.equal((await at(env.demo, '3.11', 'GET', '/volumes/summary')).status, 404);
    const before = (await at(env.demo, '3.12', 'GET', '/volumes/summary')).body['volume-summary'];
    await makeVolume(env, env.demo, { size: 2 });
    const after = (await at(env.demo, '3.12', 'GET', '/volumes/summary')).body['volume-summary'];
    assert.deepEqual(after, { total_size: before.total_size + 2, total_count: before.total_count + 1 });
    const all = (await at(env.admin, '3.12', 'GET', '/volumes/summary?all_tenants=1')).body['volume-summary'];
    assert.ok(all.total_count > after.total_count - 1 && all.total_count >= after.total_count);
  });

  it('3.15: volume metadata has an Etag; a PUT with a stale If-Match is refused with 412', async () => {
    const v = await makeVolume(env, env.demo, { metadata: { a: '1' } });
    assert.equal((await at(env.demo, '3.14', 'GET', `/volumes/${v.id}/metadata`)).headers.get('etag'), null);
    const g = await at(env.demo, '3.15', 'GET', `/volumes/${v.id}/metadata`);
    const etag = g.headers.get('etag')!;
    assert.match(etag, /^[0-9a-f]{32}$/);
    // md5('{"metadata": {"a": "1"}}'), as Python's json.dumps writes it.
    assert.equal(etag, 'f4e52f163c86f262780f0c8b8670b3e6');
    const put = (tag: string, body: unknown, path = `/volumes/${v.id}/metadata`) =>
      env.demo.json('PUT', v3(env.demo, path), body, { 'OpenStack-API-Version': 'volume 3.15', 'If-Match': tag });
    assert.equal((await put(`"${etag}"`, { metadata: { a: '2' } })).status, 200);
    const stale = await put(`"${etag}"`, { metadata: { a: '3' } });
    assert.equal(stale.status, 412);
    assert.equal((await put(`"${etag}"`, { meta: { a: '3' } }, `/volumes/${v.id}/metadata/a`)).status, 412);
    assert.deepEqual((await at(env.demo, '3.15', 'GET', `/volumes/${v.id}/metadata`)).body.metadata, { a: '2' });
    // Before 3.15 If-Match means nothing.
    assert.equal((await env.demo.json('PUT', v3(env.demo, `/volumes/${v.id}/metadata`), { metadata: { a: '4' } }, { 'If-Match': '"stale"' })).status, 200);
  });

  it('3.16/3.17: manage and manageable lists take a cluster instead of a host (none exists)', async () => {
    const list = (mv: string, q: string) => at(env.admin, mv, 'GET', `/manageable_volumes?${q}`);
    assert.equal((await list('3.16', 'cluster=c1')).body.badRequest.message, 'Invalid input received: Host field is missing.');
    assert.equal((await list('3.17', 'cluster=c1&host=vistack@vmdk')).body.badRequest.message, 'Invalid input received: One and only one of cluster and host must be set.');
    assert.equal((await list('3.17', 'cluster=c1')).status, 404);
    const manage = (mv: string, volume: unknown) => at(env.admin, mv, 'POST', '/manageable_volumes', { volume });
    assert.equal((await manage('3.15', { cluster: 'c1', ref: { 'source-name': 'x' } })).status, 400);
    const r = await manage('3.16', { cluster: 'c1', ref: { 'source-name': 'x' } });
    assert.equal(r.status, 503);
    assert.equal(r.body.serviceUnavailable.message, "Cluster 'c1' not found");
  });

  it('3.21: admins see the provider_id of volumes', async () => {
    const v = await makeVolume(env, env.admin);
    assert.ok(!('provider_id' in (await at(env.admin, '3.20', 'GET', `/volumes/${v.id}`)).body.volume));
    assert.equal((await at(env.admin, '3.21', 'GET', `/volumes/${v.id}`)).body.volume.provider_id, null);
    const mine = await makeVolume(env, env.demo);
    assert.ok(!('provider_id' in (await at(env.demo, '3.21', 'GET', `/volumes/${mine.id}`)).body.volume));
  });

  it('3.22: snapshots filter by metadata; before it the filter is ignored', async () => {
    const v = await makeVolume(env, env.demo);
    const mk = async (metadata: Record<string, string>) => {
      const r = await env.demo.json('POST', v3(env.demo, '/snapshots'), { snapshot: { volume_id: v.id, metadata } });
      assert.equal(r.status, 202);
      await env.cloud.ctx.tasks.idle();
      return r.body.snapshot.id;
    };
    const red = await mk({ colour: 'red' });
    const blue = await mk({ colour: 'blue' });
    const q = `/snapshots?metadata=${encodeURIComponent("{'colour': 'red'}")}`;
    const ids = (r: any) => r.body.snapshots.map((x: any) => x.id);
    assert.ok(ids(await at(env.demo, '3.21', 'GET', q)).includes(blue));
    assert.deepEqual(ids(await at(env.demo, '3.22', 'GET', q)), [red]);
  });

  it('3.23: force deletes a volume in a state a plain delete refuses; before it force is ignored', async () => {
    const v = await makeVolume(env, env.demo);
    assert.equal((await env.admin.json('POST', v3(env.admin, `/volumes/${v.id}/action`), { 'os-reset_status': { status: 'creating' } })).status, 202);
    const del = (mv: string, s = env.admin) => s.json('DELETE', `/volume/v3/${env.demoProject}/volumes/${v.id}?force=true`, undefined, { 'OpenStack-API-Version': `volume ${mv}` });
    assert.equal((await del('3.22')).status, 400, 'force ignored: creating is not deletable');
    assert.equal((await at(env.demo, '3.23', 'DELETE', `/volumes/${v.id}?force=true`)).status, 403, 'force is for admins');
    assert.equal((await del('3.23')).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await getVolumeStatus(v.id)), 'deleted');
  });

  it('3.24: workers cleanup selects the services to clean (nothing is ever left to clean here)', async () => {
    assert.equal((await at(env.admin, '3.23', 'POST', '/workers/cleanup', {})).status, 404);
    assert.equal((await at(env.demo, '3.24', 'POST', '/workers/cleanup', {})).status, 403);
    assert.equal((await at(env.admin, '3.24', 'POST', '/workers/cleanup', { colour: 'red' })).status, 400);
    assert.equal((await at(env.admin, '3.24', 'POST', '/workers/cleanup', { resource_type: 'Backup' })).status, 400);
    // Only services that are down by default: none.
    assert.deepEqual((await at(env.admin, '3.24', 'POST', '/workers/cleanup', {})).body, { cleaning: [], unavailable: [] });
    const up = await at(env.admin, '3.24', 'POST', '/workers/cleanup', { is_up: true, binary: 'cinder-volume' });
    assert.equal(up.status, 202);
    assert.deepEqual(up.body, { cleaning: [{ id: 2, host: 'vistack@vmdk', binary: 'cinder-volume', cluster_name: null }], unavailable: [] });
  });

  it('3.26: failover_host takes a cluster; a backend without replication cannot fail over; cluster filters', async () => {
    const put = (mv: string, action: string, body: unknown) => at(env.admin, mv, 'PUT', `/os-services/${action}`, body);
    const r = await put('3.0', 'failover_host', { host: 'vistack@vmdk' });
    assert.equal(r.status, 400);
    assert.match(r.body.badRequest.message, /replication_status in \['vistack@vmdk'\] must be/);
    assert.equal((await put('3.25', 'failover_host', { cluster: 'c1' })).body.badRequest.message, 'Invalid input received: Host field is missing.');
    assert.equal((await put('3.26', 'failover_host', { cluster: 'c1', host: 'vistack@vmdk' })).body.badRequest.message, 'Invalid input received: One and only one of cluster and host must be set.');
    assert.equal((await put('3.26', 'freeze', { cluster: 'c1' })).status, 400);
    assert.equal((await at(env.admin, '3.25', 'GET', '/clusters?frozen=true')).status, 400);
    assert.deepEqual((await at(env.admin, '3.26', 'GET', '/clusters?frozen=true')).body, { clusters: [] });
  });
});

async function getVolumeStatus(id: string) {
  const r = await env.admin.json('GET', `/volume/v3/${env.demoProject}/volumes/${id}`);
  return r.status === 404 ? 'deleted' : r.body.volume.status;
}

/** A session of a third project (a member, not admin). */
async function login2(): Promise<Session> {
  const { login } = await import('../testing.ts');
  const a = env.admin;
  const name = `mv-${Date.now()}`;
  const p = await a.json('POST', '/identity/v3/projects', { project: { name, domain_id: 'default' } });
  const u = await a.json('POST', '/identity/v3/users', { user: { name, password: 'pw-123456', domain_id: 'default', default_project_id: p.body.project.id } });
  const roles = await a.json('GET', '/identity/v3/roles?name=member');
  await a.request('PUT', `/identity/v3/projects/${p.body.project.id}/users/${u.body.user.id}/roles/${roles.body.roles[0].id}`);
  return login(env.cloud, name, 'pw-123456', name);
}
