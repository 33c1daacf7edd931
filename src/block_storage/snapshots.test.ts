// Cinder snapshots over HTTP against a whole cloud: the lifecycle with the VMDK copy on the
// simulated datastore, listing and filters, metadata, the admin actions, failures in the
// backend, quota, and bad input that must write nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { login, startTestCloud, type Session, type TestCloud } from '../testing.ts';
import { setup } from './test_helpers.ts';
import { getSnapshotInfo, listSnapshotInfos } from './snapshots.ts';

let cloud: TestCloud;
let admin: Session;
let demo: Session;
let alt: Session;
let adminProject: string;
let demoProject: string;
let altProject: string;
const A = (path: string) => `/volume/v3/${adminProject}${path}`;
const D = (path: string) => `/volume/v3/${demoProject}${path}`;

before(async () => {
  ({ cloud, admin, demo, alt, adminProject, demoProject, altProject } = await setup());
});
after(async () => { await cloud?.close(); });

const idle = () => cloud.ctx.tasks.idle();

async function volume(s: Session = demo, project = demoProject, size = 1): Promise<string> {
  const r = await s.json('POST', `/volume/v3/${project}/volumes`, { volume: { size, name: 'snap-src' } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await idle();
  const v = await s.json('GET', `/volume/v3/${project}/volumes/${r.body.volume.id}`);
  assert.equal(v.body.volume.status, 'available');
  return r.body.volume.id;
}

async function snapshot(volumeId: string, extra: Record<string, unknown> = {}, s: Session = demo, project = demoProject) {
  const r = await s.json('POST', `/volume/v3/${project}/snapshots`, { snapshot: { volume_id: volumeId, ...extra } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await idle();
  return r.body.snapshot;
}

async function files(): Promise<{ path: string; committed: number }[]> {
  const r = await admin.json('GET', '/simulator/inventory');
  assert.equal(r.status, 200);
  return r.body.files;
}
const snapshotFile = async (id: string) => (await files()).find((f) => f.path.endsWith(`volumes/snapshot-${id}.vmdk`));
const snapshotRows = async () => Number((await cloud.ctx.db.get('SELECT COUNT(*) AS n FROM cinder_snapshots'))!.n);

test('snapshot lifecycle: creating → available with a VMDK copy, update, delete removes the copy', async () => {
  const vol = await volume();
  const r = await demo.json('POST', D('/snapshots'), { snapshot: { volume_id: vol, name: 'snap1', description: 'first', metadata: { k: 'v' } } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const s = r.body.snapshot;
  assert.equal(s.status, 'creating');
  assert.equal(s.name, 'snap1');
  assert.equal(s.description, 'first');
  assert.equal(s.volume_id, vol);
  assert.equal(s.size, 1);
  assert.deepEqual(s.metadata, { k: 'v' });
  assert.match(s.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
  await idle();

  const shown = await demo.json('GET', D(`/snapshots/${s.id}`));
  assert.equal(shown.status, 200);
  assert.equal(shown.body.snapshot.status, 'available');
  assert.equal(shown.body.snapshot['os-extended-snapshot-attributes:project_id'], demoProject);
  assert.equal(shown.body.snapshot['os-extended-snapshot-attributes:progress'], '100%');
  const file = await snapshotFile(s.id);
  assert.ok(file, 'the snapshot VMDK is on the datastore');

  const list = await demo.json('GET', D('/snapshots'));
  const summary = list.body.snapshots.find((x: any) => x.id === s.id);
  assert.deepEqual(Object.keys(summary).sort(), ['created_at', 'description', 'id', 'metadata', 'name', 'size', 'status', 'updated_at', 'volume_id']);
  const detail = (await demo.json('GET', D('/snapshots/detail'))).body.snapshots.find((x: any) => x.id === s.id);
  assert.equal(detail['os-extended-snapshot-attributes:progress'], '100%');

  const up = await demo.json('PUT', D(`/snapshots/${s.id}`), { snapshot: { name: 'renamed', description: 'changed' } });
  assert.equal(up.status, 200);
  assert.equal(up.body.snapshot.name, 'renamed');
  assert.equal(up.body.snapshot.description, 'changed');
  const alias = await demo.json('PUT', D(`/snapshots/${s.id}`), { snapshot: { display_name: 'old-style', display_description: 'legacy' } });
  assert.equal(alias.body.snapshot.name, 'old-style');
  assert.equal(alias.body.snapshot.description, 'legacy');

  // The info contract for Nova's proxies.
  const info = await getSnapshotInfo(cloud.ctx, s.id);
  assert.equal(info?.volumeId, vol);
  assert.equal(info?.status, 'available');
  assert.ok((await listSnapshotInfos(cloud.ctx, demoProject)).some((x) => x.id === s.id));
  assert.ok(!(await listSnapshotInfos(cloud.ctx, altProject)).some((x) => x.id === s.id));

  const del = await demo.json('DELETE', D(`/snapshots/${s.id}`));
  assert.equal(del.status, 202);
  await idle();
  assert.equal((await demo.json('GET', D(`/snapshots/${s.id}`))).status, 404);
  assert.equal(await snapshotFile(s.id), undefined, 'the VMDK copy is gone');
  assert.equal(await getSnapshotInfo(cloud.ctx, s.id), null);
});

test('an in-use volume needs force=true; other statuses are refused', async () => {
  const vol = await volume();
  const reset = await admin.json('POST', A(`/volumes/${vol}/action`), { 'os-reset_status': { status: 'in-use' } });
  assert.equal(reset.status, 202, JSON.stringify(reset.body));
  const before = await snapshotRows();
  const refused = await demo.json('POST', D('/snapshots'), { snapshot: { volume_id: vol } });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.badRequest.message, `Invalid volume: Volume ${vol} status must be available, but current status is: in-use.`);
  assert.equal(await snapshotRows(), before);
  const forced = await snapshot(vol, { force: true });
  assert.equal((await demo.json('GET', D(`/snapshots/${forced.id}`))).body.snapshot.status, 'available');

  await admin.json('POST', A(`/volumes/${vol}/action`), { 'os-reset_status': { status: 'error' } });
  const err = await demo.json('POST', D('/snapshots'), { snapshot: { volume_id: vol, force: true } });
  assert.equal(err.status, 400);
  assert.match(err.body.badRequest.message, /must be available, in-use, but current status is: error/);
});

test('bad snapshot requests get a 4xx and write nothing', async () => {
  const vol = await volume();
  const before = await snapshotRows();
  const cases: [unknown, number][] = [
    [{ snapshot: {} }, 400],
    [{ snapshot: { volume_id: vol, bogus: 1 } }, 400],
    [{ snapshot: { volume_id: vol, force: 'perhaps' } }, 400],
    [{ snapshot: { volume_id: vol, force: 3 } }, 400],
    [{ snapshot: { volume_id: vol, name: 5 } }, 400],
    [{ snapshot: { volume_id: vol, name: 'x'.repeat(256) } }, 400],
    [{ snapshot: { volume_id: vol, metadata: { k: 1 } } }, 400],
    [{ snapshot: { volume_id: vol, metadata: 'k=v' } }, 400],
    [{ snapshot: 'x' }, 400],
    [{}, 400],
    [{ snapshot: { volume_id: '00000000-0000-0000-0000-000000000000' } }, 404],
  ];
  for (const [body, status] of cases) {
    const r = await demo.json('POST', D('/snapshots'), body);
    assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
  }
  // Another project's volume is not found.
  const other = await alt.json('POST', `/volume/v3/${altProject}/snapshots`, { snapshot: { volume_id: vol } });
  assert.equal(other.status, 404);
  assert.equal(other.body.itemNotFound.message, `Volume ${vol} could not be found.`);
  assert.equal(await snapshotRows(), before);

  const s = await snapshot(vol);
  for (const body of [{ snapshot: {} }, { snapshot: { name: 1 } }, { snapshot: { status: 'available' } }, {}]) {
    const r = await demo.json('PUT', D(`/snapshots/${s.id}`), body);
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  assert.equal((await demo.json('GET', D(`/snapshots/${s.id}`))).body.snapshot.name, null);
  // Other projects do not see it.
  assert.equal((await alt.json('GET', `/volume/v3/${altProject}/snapshots/${s.id}`)).status, 404);
  assert.equal((await alt.json('DELETE', `/volume/v3/${altProject}/snapshots/${s.id}`)).status, 404);
  assert.equal((await demo.json('GET', D('/snapshots/00000000-0000-0000-0000-000000000000'))).status, 404);
});

test('snapshot metadata: show, create (merge), replace, item update and delete', async () => {
  const s = await snapshot(await volume(), { metadata: { a: '1' } });
  const base = D(`/snapshots/${s.id}/metadata`);
  assert.deepEqual((await demo.json('GET', base)).body, { metadata: { a: '1' } });
  const merged = await demo.json('POST', base, { metadata: { b: '2' } });
  assert.equal(merged.status, 200);
  assert.deepEqual(merged.body, { metadata: { a: '1', b: '2' } });
  const replaced = await demo.json('PUT', base, { metadata: { c: '3' } });
  assert.deepEqual(replaced.body, { metadata: { c: '3' } });
  const item = await demo.json('PUT', `${base}/c`, { meta: { c: '33' } });
  assert.deepEqual(item.body, { meta: { c: '33' } });
  assert.deepEqual((await demo.json('GET', `${base}/c`)).body, { meta: { c: '33' } });

  for (const [method, path, body] of [
    ['PUT', `${base}/c`, { meta: { d: '4' } }],
    ['PUT', `${base}/c`, { meta: { c: '1', d: '4' } }],
    ['PUT', `${base}/c`, { meta: { c: 4 } }],
    ['POST', base, { metadata: { k: 'x'.repeat(256) } }],
    ['POST', base, { metadata: { ['k'.repeat(256)]: 'v' } }],
    ['POST', base, {}],
    ['PUT', base, { metadata: null }],
  ] as const) {
    const r = await demo.json(method, path, body);
    assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)} → ${r.status}`);
  }
  assert.deepEqual((await demo.json('GET', base)).body, { metadata: { c: '33' } });

  assert.equal((await demo.json('DELETE', `${base}/c`)).status, 200);
  const gone = await demo.json('GET', `${base}/c`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.itemNotFound.message, `Snapshot ${s.id} has no metadata with key c.`);
  assert.equal((await demo.json('DELETE', `${base}/c`)).status, 404);
  assert.equal((await alt.json('GET', `/volume/v3/${altProject}/snapshots/${s.id}/metadata`)).status, 404);
});

test('lists: own project, all_tenants for admins, filters and paging', async () => {
  const vol = await volume();
  const mine = [await snapshot(vol, { name: 'list-a' }), await snapshot(vol, { name: 'list-b' }), await snapshot(vol, { name: 'list-c' })];
  const altVol = await volume(alt, altProject);
  const theirs = await snapshot(altVol, { name: 'list-alt' }, alt, altProject);

  const ids = async (s: Session, path: string) => {
    const r = await s.json('GET', path);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.snapshots.map((x: any) => x.id);
  };
  const demoIds = await ids(demo, D('/snapshots'));
  for (const s of mine) assert.ok(demoIds.includes(s.id));
  assert.ok(!demoIds.includes(theirs.id));
  // all_tenants is for admins only; others just see their own.
  assert.ok(!(await ids(demo, D('/snapshots?all_tenants=1'))).includes(theirs.id));
  assert.ok(!(await ids(admin, A('/snapshots'))).includes(theirs.id));
  const everyone = await ids(admin, A('/snapshots/detail?all_tenants=1'));
  assert.ok(everyone.includes(theirs.id) && everyone.includes(mine[0].id));
  assert.deepEqual(await ids(admin, A(`/snapshots?all_tenants=1&project_id=${altProject}`)), [theirs.id]);

  assert.deepEqual(await ids(demo, D('/snapshots?name=list-b')), [mine[1].id]);
  assert.deepEqual((await ids(demo, D(`/snapshots?volume_id=${vol}&sort=name:asc`))), mine.map((s) => s.id));
  // Cinder's column name works as a sort key too (Tempest sorts by display_name).
  assert.deepEqual((await ids(demo, D(`/snapshots?volume_id=${vol}&sort_key=display_name&sort_dir=desc`))), mine.map((s) => s.id).reverse());
  assert.deepEqual(await ids(demo, D(`/snapshots?volume_id=${vol}&status=error`)), []);

  const p1 = await demo.json('GET', D(`/snapshots?volume_id=${vol}&sort=name:asc&limit=2`));
  assert.deepEqual(p1.body.snapshots.map((x: any) => x.id), [mine[0].id, mine[1].id]);
  assert.equal(p1.body.snapshots_links[0].rel, 'next');
  const next = new URL(p1.body.snapshots_links[0].href);
  assert.deepEqual(await ids(demo, `${next.pathname}${next.search}`), [mine[2].id]);
  assert.equal((await demo.json('GET', D('/snapshots?limit=-1'))).status, 400);
  assert.equal((await demo.json('GET', D('/snapshots?sort=nope'))).status, 400);
  assert.equal((await demo.json('GET', D(`/snapshots?marker=${theirs.id}`))).status, 404);
});

test('admin actions: reset status, force delete, update_snapshot_status', async () => {
  const vol = await volume();
  const s = await snapshot(vol);
  const act = (sess: Session, path: (p: string) => string, body: unknown) => sess.json('POST', path(`/snapshots/${s.id}/action`), body);
  assert.equal((await act(demo, D, { 'os-reset_status': { status: 'error' } })).status, 403);
  assert.equal((await act(admin, A, { 'os-reset_status': { status: 'bogus' } })).status, 400);
  assert.equal((await act(admin, A, { 'os-reset_status': {} })).status, 400);
  assert.equal((await act(admin, A, { 'os-frob': {} })).status, 400);
  assert.equal((await act(admin, A, { 'os-reset_status': { status: 'creating' } })).status, 202);
  assert.equal((await demo.json('GET', D(`/snapshots/${s.id}`))).body.snapshot.status, 'creating');

  // A creating snapshot may be moved on by update_snapshot_status, only along Cinder's paths.
  assert.equal((await act(demo, D, { 'os-update_snapshot_status': { status: 'error_deleting' } })).status, 400);
  assert.equal((await act(demo, D, { 'os-update_snapshot_status': { status: 'available', progress: '90%' } })).status, 202);
  const shown = (await demo.json('GET', D(`/snapshots/${s.id}`))).body.snapshot;
  assert.equal(shown.status, 'available');
  assert.equal(shown['os-extended-snapshot-attributes:progress'], '90%');
  assert.equal((await act(demo, D, { 'os-update_snapshot_status': { status: 'available' } })).status, 400);

  // A snapshot stuck in a transition cannot be deleted normally, but force-deleted by an admin.
  await act(admin, A, { 'os-reset_status': { status: 'creating' } });
  const refused = await demo.json('DELETE', D(`/snapshots/${s.id}`));
  assert.equal(refused.status, 400);
  assert.equal(refused.body.badRequest.message, 'Invalid snapshot: Snapshot status must be available or error and must not be part of a group.');
  assert.equal((await act(demo, D, { 'os-force_delete': {} })).status, 403);
  assert.equal((await act(admin, A, { 'os-force_delete': {} })).status, 202);
  await idle();
  assert.equal((await demo.json('GET', D(`/snapshots/${s.id}`))).status, 404);
  assert.equal(await snapshotFile(s.id), undefined);

  // A snapshot reset to deleting has no delete behind it: force delete still removes it.
  const u = await snapshot(vol);
  assert.ok(await snapshotFile(u.id));
  await admin.json('POST', A(`/snapshots/${u.id}/action`), { 'os-reset_status': { status: 'deleting' } });
  assert.equal((await demo.json('DELETE', D(`/snapshots/${u.id}`))).status, 400);
  assert.equal((await admin.json('POST', A(`/snapshots/${u.id}/action`), { 'os-force_delete': {} })).status, 202);
  await idle();
  assert.equal((await demo.json('GET', D(`/snapshots/${u.id}`))).status, 404);
  assert.equal(await snapshotFile(u.id), undefined);
});

test('backend failures: a failed copy gives error, a failed delete gives error_deleting', async () => {
  const vol = await volume();
  // One failure is retried away by the task engine.
  const once = await admin.json('POST', '/simulator/faults', { fault: { method: 'CreateVirtualDisk_Task', action: 'fail', fault: 'NoDiskSpace', count: 1 } });
  assert.equal(once.status, 201, JSON.stringify(once.body));
  const retried = await snapshot(vol);
  assert.equal((await demo.json('GET', D(`/snapshots/${retried.id}`))).body.snapshot.status, 'available');
  assert.ok(await snapshotFile(retried.id));
  // A lasting one puts the snapshot in error.
  const fault = await admin.json('POST', '/simulator/faults', { fault: { method: 'CreateVirtualDisk_Task', action: 'fail', fault: 'NoDiskSpace', count: null } });
  assert.equal(fault.status, 201, JSON.stringify(fault.body));
  const s = await snapshot(vol);
  await admin.json('DELETE', `/simulator/faults/${fault.body.fault.id}`);
  assert.equal((await demo.json('GET', D(`/snapshots/${s.id}`))).body.snapshot.status, 'error');
  // An errored snapshot can be deleted.
  assert.equal((await demo.json('DELETE', D(`/snapshots/${s.id}`))).status, 202);
  await idle();
  assert.equal((await demo.json('GET', D(`/snapshots/${s.id}`))).status, 404);

  const t = await snapshot(vol);
  assert.ok(await snapshotFile(t.id));
  const f2 = await admin.json('POST', '/simulator/faults', { fault: { method: 'DeleteDatastoreFile_Task', action: 'fail', fault: 'FileLocked', count: null } });
  assert.equal((await demo.json('DELETE', D(`/snapshots/${t.id}`))).status, 202);
  await idle();
  await admin.json('DELETE', `/simulator/faults/${f2.body.fault.id}`);
  assert.equal((await demo.json('GET', D(`/snapshots/${t.id}`))).body.snapshot.status, 'error_deleting');
  assert.ok(await snapshotFile(t.id), 'the VMDK is still there');
  assert.equal((await demo.json('DELETE', D(`/snapshots/${t.id}`))).status, 400);
  assert.equal((await admin.json('POST', A(`/snapshots/${t.id}/action`), { 'os-force_delete': {} })).status, 202);
  await idle();
  assert.equal((await demo.json('GET', D(`/snapshots/${t.id}`))).status, 404);
  assert.equal(await snapshotFile(t.id), undefined);
});

test('a snapshot cannot be deleted while a volume is being made from it', async () => {
  const s = await snapshot(await volume());
  const hang = await admin.json('POST', '/simulator/faults', { fault: { method: 'CreateVirtualDisk_Task', action: 'hang', count: 1 } });
  assert.equal(hang.status, 201);
  const v = await demo.json('POST', D('/volumes'), { volume: { size: 1, snapshot_id: s.id } });
  assert.equal(v.status, 202, JSON.stringify(v.body));
  while (!(await admin.json('GET', '/simulator/tasks?name=CreateVirtualDisk_Task&state=running')).body.tasks.length) await new Promise((r) => setTimeout(r, 20));
  const refused = await demo.json('DELETE', D(`/snapshots/${s.id}`));
  assert.equal(refused.status, 400);
  assert.equal(refused.body.badRequest.message, `Invalid snapshot: Snapshot ${s.id} has volumes being created from it.`);
  assert.equal((await admin.json('DELETE', `/simulator/faults/${hang.body.fault.id}`)).status, 204);
  await idle();
  assert.equal((await demo.json('GET', D(`/volumes/${v.body.volume.id}`))).body.volume.status, 'available');
  assert.equal((await demo.json('DELETE', D(`/snapshots/${s.id}`))).status, 202);
  await idle();
  assert.equal((await demo.json('GET', D(`/snapshots/${s.id}`))).status, 404);
});

test('snapshot quota: the snapshots limit is enforced with a 413', async () => {
  const vol = await volume(alt, altProject);
  const q = await admin.json('PUT', A(`/os-quota-sets/${altProject}`), { quota_set: { snapshots: 1 } });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const existing = await listSnapshotInfos(cloud.ctx, altProject);
  for (const x of existing) await alt.json('DELETE', `/volume/v3/${altProject}/snapshots/${x.id}`);
  await idle();
  await snapshot(vol, {}, alt, altProject);
  const before = await snapshotRows();
  const over = await alt.json('POST', `/volume/v3/${altProject}/snapshots`, { snapshot: { volume_id: vol } });
  assert.equal(over.status, 413);
  assert.equal(over.body.overLimit.message, "Maximum number of snapshots allowed (1) exceeded for quota 'snapshots'.");
  assert.equal(await snapshotRows(), before);
  const usage = await admin.json('GET', A(`/os-quota-sets/${altProject}?usage=True`));
  assert.equal(usage.body.quota_set.snapshots.in_use, 1);
  await admin.json('DELETE', A(`/os-quota-sets/${altProject}`));
});

test('a snapshot copy interrupted by a restart of the cloud completes after it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vistack-snap-restart-'));
  // Its own SQLite file: on PostgreSQL a second cloud would share (and reset) the file's database.
  const own = { dataDir: dir, databaseUrl: `sqlite:${join(dir, 'vistack.db')}` };
  let c = await startTestCloud(own, { freshDatabase: true });
  try {
    const adm = await login(c);
    const p = adm.body.token.project.id;
    const v = await adm.json('POST', `/volume/v3/${p}/volumes`, { volume: { size: 1 } });
    assert.equal(v.status, 202);
    await c.ctx.tasks.idle();
    // The copy hangs in vCenter, and the cloud stops while it does.
    const f = await adm.json('POST', '/simulator/faults', { fault: { method: 'CreateVirtualDisk_Task', action: 'hang', count: 1 } });
    assert.equal(f.status, 201);
    const s = await adm.json('POST', `/volume/v3/${p}/snapshots`, { snapshot: { volume_id: v.body.volume.id } });
    assert.equal(s.status, 202);
    const id = s.body.snapshot.id;
    while (!(await adm.json('GET', '/simulator/tasks?name=CreateVirtualDisk_Task&state=running')).body.tasks.length) await new Promise((r) => setTimeout(r, 20));
    await c.close();

    c = await startTestCloud(own, { freshDatabase: false });
    const again = await login(c);
    await c.ctx.tasks.idle();
    const shown = await again.json('GET', `/volume/v3/${p}/snapshots/${id}`);
    assert.equal(shown.body.snapshot.status, 'available');
    const inv = await again.json('GET', '/simulator/inventory');
    assert.equal(inv.body.files.filter((x: any) => x.path.endsWith(`snapshot-${id}.vmdk`)).length, 1);
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
