// Server metadata, tags (2.26), ips, diagnostics, password, topology and the network/volume
// sub-resources answered without those services.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bootServer, createServer, mvh, setup, type Env } from './test_helpers.ts';

let env: Env;
let id: string;
before(async () => {
  env = await setup();
  id = await bootServer(env, env.demo, { name: 'sub', metadata: { a: '1', b: '2' } });
});
after(async () => { await env?.cloud.close(); });

const md = (path = '', method = 'GET', body?: unknown) => env.demo.json(method, `/compute/v2.1/servers/${id}/metadata${path}`, body);

describe('metadata', () => {
  it('lists, merges, replaces, shows, sets and deletes items', async () => {
    assert.deepEqual((await md()).body, { metadata: { a: '1', b: '2' } });
    assert.deepEqual((await md('', 'POST', { metadata: { b: '3', c: '4' } })).body, { metadata: { a: '1', b: '3', c: '4' } });
    assert.deepEqual((await md('', 'PUT', { metadata: { z: '9' } })).body, { metadata: { z: '9' } });
    assert.deepEqual((await md('/z')).body, { meta: { z: '9' } });
    assert.equal((await md('/nope')).status, 404);
    assert.deepEqual((await md('/y', 'PUT', { meta: { y: '8' } })).body, { meta: { y: '8' } });
    const mismatch = await md('/y', 'PUT', { meta: { x: '8' } });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.body.badRequest.message, 'Request body and URI mismatch');
    assert.equal((await md('/y', 'PUT', { meta: { y: '1', w: '2' } })).status, 400, 'exactly one item');
    assert.equal((await md('/y', 'DELETE')).status, 204);
    assert.equal((await md('/y', 'DELETE')).status, 404);
    assert.deepEqual((await md()).body, { metadata: { z: '9' } });
  });

  it('validates keys, values and the quota', async () => {
    assert.equal((await md('', 'POST', { metadata: { ['k'.repeat(256)]: 'v' } })).status, 400);
    assert.equal((await md('', 'POST', { metadata: { '': 'v' } })).status, 400);
    assert.equal((await md('', 'POST', { metadata: { k: 'v'.repeat(256) } })).status, 400);
    assert.equal((await md('', 'POST', { metadata: { k: null } })).status, 400);
    assert.equal((await md('', 'POST', { meta: { k: 'v' } })).status, 400);
    assert.equal((await md('', 'POST', 'x')).status, 400);
    const many: Record<string, string> = {};
    for (let i = 0; i < 129; i++) many[`m${i}`] = 'v';
    const q = await md('', 'PUT', { metadata: many });
    assert.equal(q.status, 403);
    assert.deepEqual((await md()).body, { metadata: { z: '9' } }, 'nothing written');
  });

  it('refuses changes while the server builds (409)', async () => {
    const r = await createServer(env, env.demo, { name: 'building' });
    // The build may already be done: only assert the answer when the server is still building.
    const res = await env.demo.json('POST', `/compute/v2.1/servers/${r.body.server.id}/metadata`, { metadata: { a: 'b' } });
    assert.ok(res.status === 200 || res.status === 409);
    await env.cloud.ctx.tasks.idle();
    await env.demo.request('DELETE', `/compute/v2.1/servers/${r.body.server.id}`);
    await env.cloud.ctx.tasks.idle();
  });
});

const tags = (path = '', method = 'GET', body?: unknown, v = '2.26') => env.demo.json(method, `/compute/v2.1/servers/${id}/tags${path}`, body, mvh(v));

describe('tags', () => {
  it('needs 2.26', async () => {
    assert.equal((await tags('', 'GET', undefined, '2.25')).status, 404);
  });

  it('replaces, adds, checks, deletes one and all', async () => {
    assert.deepEqual((await tags('', 'PUT', { tags: ['a', 'b', 'a'] })).body, { tags: ['a', 'b'] });
    const add = await tags('/c', 'PUT');
    assert.equal(add.status, 201);
    assert.ok(add.headers.get('location')!.endsWith(`/servers/${id}/tags/c`));
    assert.equal((await tags('/c', 'PUT')).status, 204, 'adding an existing tag');
    assert.equal((await tags('/c')).status, 204);
    assert.equal((await tags('/zz')).status, 404);
    assert.deepEqual((await tags()).body, { tags: ['a', 'b', 'c'] });
    assert.equal((await tags('/a', 'DELETE')).status, 204);
    assert.equal((await tags('/a', 'DELETE')).status, 404);
    assert.equal((await tags('', 'DELETE')).status, 204);
    assert.deepEqual((await tags()).body, { tags: [] });
    const srv = await env.demo.json('GET', `/compute/v2.1/servers/${id}`, undefined, mvh('2.26'));
    assert.deepEqual(srv.body.server.tags, []);
  });

  it('validates tags and the limit of 50', async () => {
    assert.equal((await tags('', 'PUT', { tags: ['a,b'] })).status, 400);
    assert.equal((await tags('', 'PUT', { tags: ['x'.repeat(61)] })).status, 400);
    assert.equal((await tags('', 'PUT', { tags: [1] })).status, 400);
    assert.equal((await tags('', 'PUT', { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) })).status, 400);
    const bad = await tags('/a,b', 'PUT');
    assert.equal(bad.status, 400);
    assert.match(bad.body.badRequest.message, /Tag 'a,b' is invalid/);
    assert.deepEqual((await tags('', 'PUT', { tags: Array.from({ length: 50 }, (_, i) => `t${i}`) })).body.tags.length, 50);
    const over = await tags('/one-more', 'PUT');
    assert.equal(over.status, 400);
    assert.match(over.body.badRequest.message, /exceeded the per-server limit 50/);
    await tags('', 'DELETE');
  });

  it('creates servers with tags at 2.52', async () => {
    const r = await createServer(env, env.demo, { name: 'tagged', tags: ['x', 'y'], networks: 'none' }, mvh('2.52'));
    assert.equal(r.status, 202);
    await env.cloud.ctx.tasks.idle();
    const s = await env.demo.json('GET', `/compute/v2.1/servers/${r.body.server.id}`, undefined, mvh('2.52'));
    assert.deepEqual(s.body.server.tags, ['x', 'y']);
    assert.equal((await createServer(env, env.demo, { name: 'tagged', tags: ['x'] }, mvh('2.51'), {})).status, 400);
    await env.demo.request('DELETE', `/compute/v2.1/servers/${r.body.server.id}`);
    await env.cloud.ctx.tasks.idle();
  });
});

describe('other sub-resources', () => {
  it('a server booted without networks or volumes: empty addresses, interfaces and attachments; unknown ones are 404s', async () => {
    assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/servers/${id}/ips`)).body, { addresses: {} });
    assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}/ips/private`)).status, 404);
    assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-interface`)).body, { interfaceAttachments: [] });
    assert.equal((await env.demo.json('POST', `/compute/v2.1/servers/${id}/os-interface`, { interfaceAttachment: { net_id: '11111111-2222-3333-4444-555555555555' } })).status, 404);
    assert.equal((await env.demo.json('POST', `/compute/v2.1/servers/${id}/os-interface`, { interfaceAttachment: { net_id: 'bad' } })).status, 400);
    assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-volume_attachments`)).body, { volumeAttachments: [] });
    const att = await env.demo.json('POST', `/compute/v2.1/servers/${id}/os-volume_attachments`, { volumeAttachment: { volumeId: '11111111-2222-3333-4444-555555555555' } });
    assert.equal(att.status, 404);
    assert.equal((await env.demo.json('POST', `/compute/v2.1/servers/${id}/os-volume_attachments`, { volumeAttachment: {} })).status, 400);
  });

  it('shows diagnostics to admins only', async () => {
    assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}/diagnostics`)).status, 403);
    const d = await env.admin.json('GET', `/compute/v2.1/servers/${id}/diagnostics`, undefined, mvh('2.48'));
    assert.equal(d.status, 200);
    assert.equal(d.body.state, 'running');
    assert.equal(d.body.num_cpus, 1);
    assert.equal(d.body.memory_details.maximum, 512);
  });

  it('has an empty server password that can be cleared, and a topology at 2.78', async () => {
    assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/servers/${id}/os-server-password`)).body, { password: '' });
    assert.equal((await env.demo.request('DELETE', `/compute/v2.1/servers/${id}/os-server-password`)).status, 204);
    assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}/topology`, undefined, mvh('2.77'))).status, 404);
    assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/servers/${id}/topology`, undefined, mvh('2.78'))).body, { nodes: [], pagesize_kb: null });
  });

  it('accepts external events for known servers (admin), 207 otherwise', async () => {
    const ev = { events: [{ server_uuid: id, name: 'network-changed' }] };
    assert.equal((await env.demo.json('POST', '/compute/v2.1/os-server-external-events', ev)).status, 403);
    const ok = await env.admin.json('POST', '/compute/v2.1/os-server-external-events', ev);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.events[0], { server_uuid: id, name: 'network-changed', status: 'completed', code: 200 });
    const partial = await env.admin.json('POST', '/compute/v2.1/os-server-external-events', { events: [...ev.events, { server_uuid: '11111111-2222-3333-4444-555555555555', name: 'network-changed' }] });
    assert.equal(partial.status, 207);
    assert.equal(partial.body.events[1].code, 404);
    assert.equal((await env.admin.json('POST', '/compute/v2.1/os-server-external-events', { events: [{ server_uuid: id, name: 'bogus' }] })).status, 400);
    // 2.76 power-update: the hypervisor says the VM went off.
    const pu = await env.admin.json('POST', '/compute/v2.1/os-server-external-events', { events: [{ server_uuid: id, name: 'power-update', tag: 'POWER_OFF' }] }, mvh('2.76'));
    assert.equal(pu.status, 200);
    assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}`)).body.server.status, 'SHUTOFF');
  });

  it('proxies images before 2.36: list, show (with the server of a snapshot), metadata, delete', async () => {
    const snap = await env.demo.json('POST', `/compute/v2.1/servers/${id}/action`, { createImage: { name: 'proxied', metadata: { purpose: 'x' } } }, mvh('2.45'));
    await env.cloud.ctx.tasks.idle();
    const imageId = snap.body.image_id;
    const img = await env.demo.json('GET', `/compute/v2.1/images/${imageId}`);
    assert.equal(img.status, 200);
    assert.equal(img.body.image.status, 'ACTIVE');
    assert.equal(img.body.image.progress, 100);
    assert.equal(img.body.image.server.id, id);
    assert.equal(img.body.image.metadata.purpose, 'x');
    assert.equal(img.body.image.links.length, 3);
    assert.ok((await env.demo.json('GET', '/compute/v2.1/images')).body.images.some((i: any) => i.id === imageId));
    const byServer = await env.demo.json('GET', `/compute/v2.1/images/detail?server=${id}`);
    assert.deepEqual(byServer.body.images.map((i: any) => i.id), [imageId]);
    assert.deepEqual((await env.demo.json('POST', `/compute/v2.1/images/${imageId}/metadata`, { metadata: { extra: 'y' } })).body.metadata.extra, 'y');
    assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/images/${imageId}/metadata/extra`)).body, { meta: { extra: 'y' } });
    assert.equal((await env.demo.request('DELETE', `/compute/v2.1/images/${imageId}/metadata/extra`)).status, 204);
    assert.equal((await env.demo.json('GET', `/compute/v2.1/images/${imageId}`, undefined, mvh('2.36'))).status, 404);
    assert.equal((await env.demo.json('GET', '/compute/v2.1/images/not-an-id')).status, 404);
    assert.equal((await env.demo.request('DELETE', `/compute/v2.1/images/${imageId}`)).status, 204);
    assert.equal((await env.demo.json('GET', `/compute/v2.1/images/${imageId}`)).status, 404);
  });
});
