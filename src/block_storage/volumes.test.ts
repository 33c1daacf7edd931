// Cinder's volumes API end to end over HTTP: create (empty, from an image, a volume, a snapshot;
// thin and thick VMDKs on the simulator), the view, lists with filters, sorting and paging,
// update, metadata, delete and its refusals, quota, bad input, backend failures, and a create
// interrupted by a restart that finishes when the cloud comes back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { login, startTestCloud } from '../testing.ts';
import { showVolume } from './volumes.ts';
import { act, getVolume, makeType, makeVolume, setup, v3, vmdkOf, type Env } from './test_helpers.ts';

const GiB = 1024 ** 3;
let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

async function count(s = env.demo) {
  return (await s.json('GET', v3(s, '/volumes'))).body.volumes.length;
}

describe('create and show', () => {
  it('creates an empty volume: 202 creating, then available with a thin VMDK on a datastore', async () => {
    const r = await env.demo.json('POST', v3(env.demo, '/volumes'), { volume: { size: 2, name: 'v1', description: 'first', metadata: { a: 'b' } } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.volume.status, 'creating');
    await env.cloud.ctx.tasks.idle();
    const v = await getVolume(env.demo, r.body.volume.id);
    assert.deepEqual(Object.keys(v).sort(), [
      'attachments', 'availability_zone', 'bootable', 'consistencygroup_id', 'created_at', 'description', 'encrypted', 'id', 'links',
      'metadata', 'multiattach', 'name', 'os-vol-tenant-attr:tenant_id', 'replication_status', 'size', 'snapshot_id', 'source_volid',
      'status', 'updated_at', 'user_id', 'volume_type',
    ]);
    assert.equal(v.status, 'available');
    assert.equal(v.size, 2);
    assert.equal(v.name, 'v1');
    assert.equal(v.description, 'first');
    assert.equal(v.availability_zone, 'nova');
    assert.equal(v.bootable, 'false');
    assert.equal(v.encrypted, false);
    assert.equal(v.multiattach, false);
    assert.equal(v.volume_type, '__DEFAULT__');
    assert.deepEqual(v.metadata, { a: 'b' });
    assert.deepEqual(v.attachments, []);
    assert.equal(v['os-vol-tenant-attr:tenant_id'], env.demoProject);
    assert.equal(v.user_id, env.demo.body.token.user.id);
    assert.match(v.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(v.links[0].rel, 'self');
    assert.ok(v.links[0].href.endsWith(`/volume/v3/${env.demoProject}/volumes/${v.id}`));
    const f = await vmdkOf(env, v.id);
    assert.ok(f, 'the VMDK exists');
    assert.equal(f.capacityKb, 2 * 1024 * 1024);
    assert.equal(f.committed, 0, 'thin: nothing committed');
    assert.equal(f.props.vmdkType, 'thin');
    // Admins see the backend host (host@backend#pool) and the migration attributes.
    const a = await getVolume(env.admin, v.id);
    assert.match(a['os-vol-host-attr:host'], /^vistack@vmdk#.+/);
    assert.equal(a['os-vol-mig-status-attr:migstat'], null);
  });

  it('makes thick VMDKs for a type with vmware:vmdk_type thick, and honours the adapter type', async () => {
    await makeType(env, 'thick-type', { 'vmware:vmdk_type': 'thick', 'vmware:adapter_type': 'paraVirtual' });
    const v = await makeVolume(env, env.demo, { size: 1, volume_type: 'thick-type' });
    assert.equal(v.status, 'available');
    assert.equal(v.volume_type, 'thick-type');
    const f = await vmdkOf(env, v.id);
    assert.equal(f.committed, GiB, 'thick: the whole size committed at once');
    assert.equal(f.props.vmdkType, 'thick');
    assert.equal(f.props.adapterType, 'paraVirtual');
  });

  it('creates a bootable volume from an image, with volume_image_metadata', async () => {
    const v = await makeVolume(env, env.demo, { size: 1, imageRef: env.imageId });
    assert.equal(v.status, 'available');
    assert.equal(v.bootable, 'true');
    assert.equal(v.volume_image_metadata.image_id, env.imageId);
    assert.ok('disk_format' in v.volume_image_metadata);
    const f = await vmdkOf(env, v.id);
    assert.equal(f.props.imageId, env.imageId);
    assert.ok(f.committed > 0, 'the image bytes are in the disk');
  });

  it('refuses an image larger than the size, and one with a larger min_disk', async () => {
    const img = await env.admin.json('POST', '/image/v2/images', { name: 'big-min', disk_format: 'raw', container_format: 'bare', min_disk: 3, visibility: 'public' });
    assert.equal(img.status, 201);
    const up = await env.admin.request('PUT', `/image/v2/images/${img.body.id}/file`, 'x'.repeat(64), { 'content-type': 'application/octet-stream' });
    assert.equal(up.status, 204);
    const before = await count();
    const r = await env.demo.json('POST', v3(env.demo, '/volumes'), { volume: { size: 2, imageRef: img.body.id } });
    assert.equal(r.status, 400);
    assert.match(r.body.badRequest.message, /minDisk/);
    assert.equal((await env.demo.json('POST', v3(env.demo, '/volumes'), { volume: { size: 1, imageRef: '8a7b3d5e-0000-4000-8000-0000000000aa' } })).status, 400);
    assert.equal(await count(), before);
    const ok = await makeVolume(env, env.demo, { size: 3, imageRef: img.body.id });
    assert.equal(ok.status, 'available');
  });

  it('clones a volume (size at least the source) and restores a snapshot', async () => {
    const src = await makeVolume(env, env.demo, { size: 2, name: 'src' });
    const small = await env.demo.json('POST', v3(env.demo, '/volumes'), { volume: { size: 1, source_volid: src.id } });
    assert.equal(small.status, 400);
    assert.match(small.body.badRequest.message, /cannot be smaller than original volume size 2GB/);
    const clone = await makeVolume(env, env.demo, { size: undefined, source_volid: src.id });
    assert.equal(clone.size, 2, 'the size defaults to the source\'s');
    assert.equal(clone.source_volid, src.id);
    assert.equal(clone.status, 'available');

    const snap = await env.demo.json('POST', v3(env.demo, '/snapshots'), { snapshot: { volume_id: src.id, name: 's1' } });
    assert.equal(snap.status, 202, JSON.stringify(snap.body));
    await env.cloud.ctx.tasks.idle();
    const tooSmall = await env.demo.json('POST', v3(env.demo, '/volumes'), { volume: { size: 1, snapshot_id: snap.body.snapshot.id } });
    assert.equal(tooSmall.status, 400);
    const restored = await makeVolume(env, env.demo, { size: 3, snapshot_id: snap.body.snapshot.id });
    assert.equal(restored.status, 'available');
    assert.equal(restored.snapshot_id, snap.body.snapshot.id);
    assert.equal((await vmdkOf(env, restored.id)).capacityKb, 3 * 1024 * 1024);
  });

  it('answers bad requests with 4xx in Cinder\'s format and writes nothing', async () => {
    const before = await count();
    const post = (b: unknown) => env.demo.json('POST', v3(env.demo, '/volumes'), b);
    for (const [body, code] of [
      [{}, 400], [{ volume: 'x' }, 400], [{ volume: { size: 0 } }, 400], [{ volume: { size: 'x' } }, 400], [{ volume: { size: -1 } }, 400],
      [{ volume: {} }, 400], [{ volume: { size: 1, availability_zone: 'elsewhere' } }, 400], [{ volume: { size: 1, metadata: { a: 1 } } }, 400],
      [{ volume: { size: 1, metadata: 'x' } }, 400], [{ volume: { size: 1, name: 5 } }, 400], [{ volume: { size: 1, volume_type: 'nope' } }, 404],
      [{ volume: { size: 1, snapshot_id: '8a7b3d5e-0000-4000-8000-0000000000ab' } }, 404], [{ volume: { size: 1, source_volid: 'nope' } }, 404],
      [{ volume: { size: 1, multiattach: 'maybe' } }, 400],
    ] as const) {
      const r = await post(body);
      assert.equal(r.status, code, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      const fault = code === 404 ? 'itemNotFound' : 'badRequest';
      assert.equal(r.body[fault].code, code);
      assert.equal(typeof r.body[fault].message, 'string');
    }
    assert.equal(await count(), before);
    assert.equal((await env.demo.json('GET', v3(env.demo, '/volumes/'))).status, 404, 'an empty id is a show');
    assert.equal((await env.demo.json('GET', v3(env.demo, '/volumes/8a7b3d5e-0000-4000-8000-0000000000ac'))).body.itemNotFound.message,
      'Volume 8a7b3d5e-0000-4000-8000-0000000000ac could not be found.');
  });

  it('enforces the gigabytes and volumes quotas with 413', async () => {
    const alt = await login(env.cloud, 'alt_demo', env.cloud.config.demoPassword, 'alt_demo');
    const p = alt.body.token.project.id;
    assert.equal((await env.admin.json('PUT', v3(env.admin, `/os-quota-sets/${p}`), { quota_set: { gigabytes: 3, volumes: 2 } })).status, 200);
    const big = await alt.json('POST', v3(alt, '/volumes'), { volume: { size: 4 } });
    assert.equal(big.status, 413);
    assert.equal(big.body.overLimit.code, 413);
    await makeVolume(env, alt, { size: 1 });
    await makeVolume(env, alt, { size: 1 });
    const third = await alt.json('POST', v3(alt, '/volumes'), { volume: { size: 1 } });
    assert.equal(third.status, 413);
    assert.equal(await count(alt), 2);
    const usage = await alt.json('GET', v3(alt, `/os-quota-sets/${p}?usage=True`));
    assert.equal(usage.body.quota_set.gigabytes.in_use, 2);
  });

  it('puts a volume whose VMDK cannot be made in error; such a volume can be deleted', async () => {
    const f = await env.admin.json('POST', '/simulator/faults', { fault: { method: 'CreateVirtualDisk_Task', fault: 'NoDiskSpace', count: 1 } });
    assert.equal(f.status, 201, JSON.stringify(f.body));
    const v = await makeVolume(env, env.demo, { size: 1, name: 'doomed' });
    assert.equal(v.status, 'error');
    assert.equal(await vmdkOf(env, v.id), undefined);
    assert.equal((await env.demo.request('DELETE', v3(env.demo, `/volumes/${v.id}`))).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await getVolume(env.demo, v.id)).status, 'deleted');
  });
});

describe('lists', () => {
  let ids: string[] = [];
  let project: string;
  before(async () => {
    // A project of its own, so that counts are exact.
    const r = await env.admin.json('POST', '/identity/v3/projects', { project: { name: 'cinder-lists', domain_id: 'default' } });
    project = r.body.project.id;
    const roles = await env.admin.json('GET', '/identity/v3/roles?name=member');
    await env.admin.request('PUT', `/identity/v3/projects/${project}/users/${env.demo.body.token.user.id}/roles/${roles.body.roles[0].id}`);
    const s = await login(env.cloud, 'demo', env.cloud.config.demoPassword, 'cinder-lists');
    ids = [];
    for (const [name, size, md] of [['l-a', 1, { k: 'x' }], ['l-b', 2, { k: 'y' }], ['l-c', 1, {}]] as const) {
      ids.push((await makeVolume(env, s, { name, size, metadata: md })).id);
    }
    assert.equal((await act(env, s, ids[2], 'os-set_bootable', { bootable: true })).status, 200);
    (env as any).lists = s;
  });
  const s = () => (env as any).lists;
  const names = (r: any) => r.body.volumes.map((v: any) => v.name);

  it('lists summaries and details, newest first', async () => {
    const r = await s().json('GET', v3(s(), '/volumes'));
    assert.equal(r.status, 200);
    assert.deepEqual(names(r), ['l-c', 'l-b', 'l-a']);
    assert.deepEqual(Object.keys(r.body.volumes[0]).sort(), ['id', 'links', 'name']);
    assert.equal(r.body.volumes_links, undefined);
    const d = await s().json('GET', v3(s(), '/volumes/detail'));
    assert.equal(d.body.volumes[0].status, 'available');
    assert.equal(d.body.volumes.length, 3);
  });

  it('filters by name, status, metadata, bootable and availability zone', async () => {
    const q = async (qs: string) => names(await s().json('GET', v3(s(), `/volumes/detail?${qs}`)));
    assert.deepEqual(await q('name=l-b'), ['l-b']);
    assert.deepEqual(await q('status=error'), []);
    assert.deepEqual(await q('status=available&sort=name:asc'), ['l-a', 'l-b', 'l-c']);
    assert.deepEqual(await q(`metadata=${encodeURIComponent("{'k': 'x'}")}`), ['l-a']);
    assert.deepEqual(await q(`metadata=${encodeURIComponent('{"k":"y"}')}`), ['l-b']);
    assert.deepEqual(await q('bootable=true'), ['l-c']);
    assert.deepEqual(await q('availability_zone=nova&sort=name:desc'), ['l-c', 'l-b', 'l-a']);
    assert.deepEqual(await q('availability_zone=other'), []);
  });

  it('sorts (sort= and sort_key/sort_dir) and pages with limit, marker, offset and a next link', async () => {
    const q = (qs: string) => s().json('GET', v3(s(), `/volumes?${qs}`));
    assert.deepEqual(names(await q('sort=size:desc,name:asc')), ['l-b', 'l-a', 'l-c']);
    assert.deepEqual(names(await q('sort_key=name&sort_dir=asc')), ['l-a', 'l-b', 'l-c']);
    const p1 = await q('sort=name:asc&limit=2');
    assert.deepEqual(names(p1), ['l-a', 'l-b']);
    const next = new URL(p1.body.volumes_links[0].href);
    assert.equal(p1.body.volumes_links[0].rel, 'next');
    assert.equal(next.searchParams.get('marker'), p1.body.volumes[1].id);
    const p2 = await s().json('GET', `${next.pathname}${next.search}`);
    assert.deepEqual(names(p2), ['l-c']);
    assert.equal(p2.body.volumes_links, undefined);
    assert.deepEqual(names(await q('sort=name:asc&offset=1&limit=1')), ['l-b']);
    for (const bad of ['limit=x', 'limit=-1', 'offset=x', 'sort=name:sideways', 'sort=nokey:asc', 'sort=name&sort_key=name']) {
      const r = await q(bad);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.badRequest.code, 400);
    }
    assert.equal((await q('marker=8a7b3d5e-0000-4000-8000-0000000000ad')).status, 404);
  });

  it('shows other projects only to admins with all_tenants', async () => {
    const mine = await env.admin.json('GET', v3(env.admin, '/volumes'));
    assert.ok(!mine.body.volumes.some((v: any) => ids.includes(v.id)));
    const all = await env.admin.json('GET', v3(env.admin, '/volumes/detail?all_tenants=1'));
    assert.ok(ids.every((id) => all.body.volumes.some((v: any) => v.id === id)));
    const one = await env.admin.json('GET', v3(env.admin, `/volumes?all_tenants=1&project_id=${project}`));
    assert.equal(one.body.volumes.length, 3);
    const demo = await env.demo.json('GET', v3(env.demo, '/volumes?all_tenants=1'));
    assert.ok(!demo.body.volumes.some((v: any) => ids.includes(v.id)));
    // Another project's volume is not found for a member; the URL's project must be the token's.
    assert.equal((await env.demo.json('GET', v3(env.demo, `/volumes/${ids[0]}`))).status, 404);
    assert.equal((await env.demo.json('GET', `/volume/v3/${project}/volumes/${ids[0]}`)).status, 403);
  });
});

describe('update, metadata, delete', () => {
  it('updates name and description; refuses bad bodies', async () => {
    const v = await makeVolume(env, env.demo, { name: 'old' });
    const r = await env.demo.json('PUT', v3(env.demo, `/volumes/${v.id}`), { volume: { name: 'new', description: 'd' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.volume.name, 'new');
    assert.equal(r.body.volume.description, 'd');
    for (const b of [{}, { volume: {} }, { volume: { size: 3 } }, { volume: { name: 3 } }]) {
      assert.equal((await env.demo.json('PUT', v3(env.demo, `/volumes/${v.id}`), b)).status, 400, JSON.stringify(b));
    }
    assert.equal((await getVolume(env.demo, v.id)).name, 'new');
  });

  it('manages metadata: create (merge), replace, show and update one key, delete', async () => {
    const v = await makeVolume(env, env.demo, { metadata: { a: '1' } });
    const base = v3(env.demo, `/volumes/${v.id}/metadata`);
    assert.deepEqual((await env.demo.json('GET', base)).body, { metadata: { a: '1' } });
    assert.deepEqual((await env.demo.json('POST', base, { metadata: { b: '2' } })).body, { metadata: { a: '1', b: '2' } });
    assert.deepEqual((await env.demo.json('PUT', base, { metadata: { c: '3' } })).body, { metadata: { c: '3' } });
    assert.deepEqual((await env.demo.json('GET', `${base}/c`)).body, { meta: { c: '3' } });
    assert.equal((await env.demo.json('GET', `${base}/zz`)).status, 404);
    assert.deepEqual((await env.demo.json('PUT', `${base}/c`, { meta: { c: '4' } })).body, { meta: { c: '4' } });
    assert.equal((await env.demo.json('PUT', `${base}/c`, { meta: { d: '4' } })).status, 400);
    assert.equal((await env.demo.json('PUT', `${base}/c`, { meta: { c: '4', d: '5' } })).status, 400);
    assert.equal((await env.demo.json('POST', base, { metadata: { x: 5 } })).status, 400);
    assert.equal((await env.demo.json('POST', base, {})).status, 400);
    const del = await env.demo.request('DELETE', `${base}/c`);
    assert.equal(del.status, 200);
    assert.equal(await del.text(), '');
    assert.equal((await env.demo.request('DELETE', `${base}/c`)).status, 404);
    assert.deepEqual((await getVolume(env.demo, v.id)).metadata, {});
  });

  it('deletes a volume and its VMDK; refuses in-use volumes and volumes with snapshots unless cascade', async () => {
    const v = await makeVolume(env, env.demo);
    assert.equal((await act(env, env.demo, v.id, 'os-attach', { instance_uuid: '8a7b3d5e-0000-4000-8000-0000000000ae', mountpoint: '/dev/sdb' })).status, 202);
    const inUse = await env.demo.json('DELETE', v3(env.demo, `/volumes/${v.id}`));
    assert.equal(inUse.status, 400);
    assert.match(inUse.body.badRequest.message, /^Invalid volume: Volume status must be available or error/);
    assert.equal((await act(env, env.demo, v.id, 'os-detach', {})).status, 202);

    const snap = await env.demo.json('POST', v3(env.demo, '/snapshots'), { snapshot: { volume_id: v.id } });
    assert.equal(snap.status, 202);
    await env.cloud.ctx.tasks.idle();
    const withSnap = await env.demo.json('DELETE', v3(env.demo, `/volumes/${v.id}`));
    assert.equal(withSnap.status, 400);
    assert.match(withSnap.body.badRequest.message, /have snapshots/);
    assert.equal((await env.demo.json('DELETE', v3(env.demo, `/volumes/${v.id}?cascade=maybe`))).status, 400);
    assert.equal((await getVolume(env.demo, v.id)).status, 'available', 'nothing changed');

    assert.equal((await env.demo.request('DELETE', v3(env.demo, `/volumes/${v.id}?cascade=true`))).status, 202);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await getVolume(env.demo, v.id)).status, 'deleted');
    assert.equal((await env.demo.json('GET', v3(env.demo, `/snapshots/${snap.body.snapshot.id}`))).status, 404);
    assert.equal(await vmdkOf(env, v.id), undefined);
    const inv = await env.admin.json('GET', '/simulator/inventory');
    assert.ok(!inv.body.files.some((f: any) => f.path.includes(snap.body.snapshot.id)), 'the snapshot VMDK is gone too');
    assert.equal((await env.demo.request('DELETE', v3(env.demo, `/volumes/${v.id}`))).status, 404);
    // A GET that found the row just before the delete removed it: 404 from the view, not a 500.
    await assert.rejects(showVolume(env.cloud.ctx, {} as FastifyRequest, v.id), { status: 404, message: `Volume ${v.id} could not be found.` });
  });
});

describe('restart', () => {
  it('finishes a create interrupted by a restart on the same data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vistack-cinder-restart-'));
    try {
      // Its own SQLite file: on PostgreSQL it would share (and reset) the open file cloud's database.
      const own = { dataDir, databaseUrl: `sqlite:${join(dataDir, 'vistack.db')}` };
      let cloud = await startTestCloud(own, { freshDatabase: true });
      let demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
      // The worker is gone before it gets to the task: the request is answered, the task row written.
      await cloud.ctx.tasks.stop();
      const r = await demo.json('POST', v3(demo, '/volumes'), { volume: { size: 1, name: 'survivor' } });
      assert.equal(r.status, 202);
      const id = r.body.volume.id;
      // As if this node had claimed it and died in the middle.
      await cloud.ctx.db.run(`UPDATE tasks SET state = 'running', owner = ?, lease_until = ? WHERE resource_id = ?`, [cloud.config.nodeId, Date.now() + 3_600_000, id]);
      assert.equal((await getVolume(demo, id)).status, 'creating');
      await cloud.close();

      cloud = await startTestCloud(own, { freshDatabase: false });
      try {
        demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
        await cloud.ctx.tasks.idle();
        const v = await getVolume(demo, id);
        assert.equal(v.status, 'available');
        const admin = await login(cloud);
        const inv = await admin.json('GET', '/simulator/inventory');
        assert.equal(inv.body.files.filter((f: any) => f.path.endsWith(`volume-${id}.vmdk`)).length, 1);
      } finally {
        await cloud.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
