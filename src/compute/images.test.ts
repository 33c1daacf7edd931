// Nova's image proxy over HTTP: Glance's images seen through /compute/v2.1/images with Nova's
// view (statuses, progress, metadata = additional properties), the metadata API writing through
// to Glance, Glance's visibility as the only policy, and 404 once the proxy APIs are gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, type TestCloud, type Session } from '../testing.ts';
import { glance, type Glance } from '../image/testing.ts';

let cloud: TestCloud;
let admin: Session, demo: Session;
let adminGlance: Glance, demoGlance: Glance;

before(async () => {
  cloud = await startTestCloud();
  admin = await login(cloud);
  demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  adminGlance = glance(cloud, admin);
  demoGlance = glance(cloud, demo);
});
after(async () => { await cloud?.close(); });

const nova = (s: Session, method: string, path: string, body?: unknown, version?: string) =>
  s.json(method, `/compute/v2.1${path}`, body, version ? { 'OpenStack-API-Version': `compute ${version}` } : {});

/** An active private image of the demo project with some properties. */
async function demoImage(props: Record<string, unknown> = {}) {
  const img = await demoGlance.create({ name: 'img-' + Math.random().toString(36).slice(2, 8), visibility: 'private', ...props });
  assert.equal((await demoGlance.upload(img.id, Buffer.alloc(2048, 7))).status, 204);
  return img;
}

test('show: Nova\'s view of an active image, with its server and links', async () => {
  const serverId = '9c5d6d4e-6b3c-4a8b-9f1e-0f7a1d2b3c4d';
  const img = await demoImage({ min_ram: 64, min_disk: 1, os_distro: 'cirros', instance_uuid: serverId, image_type: 'snapshot', auto_disk_config: 'True' });
  const r = await nova(demo, 'GET', `/images/${img.id}`);
  assert.equal(r.status, 200);
  const v = r.body.image;
  assert.equal(v.id, img.id);
  assert.equal(v.name, img.name);
  assert.equal(v.status, 'ACTIVE');
  assert.equal(v.progress, 100);
  assert.equal(v.minRam, 64);
  assert.equal(v.minDisk, 1);
  assert.equal(v['OS-EXT-IMG-SIZE:size'], 2048);
  assert.equal(v['OS-DCF:diskConfig'], 'AUTO');
  assert.deepEqual(v.metadata, { os_distro: 'cirros', instance_uuid: serverId, image_type: 'snapshot', auto_disk_config: 'True' });
  assert.match(v.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(v.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(v.links.map((l: any) => l.rel), ['self', 'bookmark', 'alternate']);
  assert.equal(v.links[0].href, `${cloud.url}/compute/v2.1/images/${img.id}`);
  assert.equal(v.links[1].href, `${cloud.url}/compute/images/${img.id}`);
  assert.equal(v.links[2].href, `${cloud.url}/image/images/${img.id}`);
  assert.equal(v.links[2].type, 'application/vnd.openstack.image');
  assert.equal(v.server.id, serverId);
  assert.equal(v.server.links[0].href, `${cloud.url}/compute/v2.1/servers/${serverId}`);

  // The legacy URL form with the project id carries it into the links.
  const projectId = demo.body.token.project.id;
  const legacy = await demo.json('GET', `/compute/v2.1/${projectId}/images/${img.id}`);
  assert.equal(legacy.body.image.links[0].href, `${cloud.url}/compute/v2.1/${projectId}/images/${img.id}`);
});

test('a queued image is SAVING at 25% with size 0; unknown statuses are UNKNOWN', async () => {
  const img = await demoGlance.create({ name: 'queued-one', visibility: 'private' });
  const v = (await nova(demo, 'GET', `/images/${img.id}`)).body.image;
  assert.equal(v.status, 'SAVING');
  assert.equal(v.progress, 25);
  assert.equal(v['OS-EXT-IMG-SIZE:size'], 0);
  assert.equal(v.server, undefined);

  const active = await demoImage();
  assert.equal((await adminGlance.call('POST', `/images/${active.id}/actions/deactivate`)).status, 204);
  const d = (await nova(demo, 'GET', `/images/${active.id}`)).body.image;
  assert.equal(d.status, 'UNKNOWN');
  assert.equal(d.progress, 0);
});

test('list and detail: filters, limit and marker with images_links', async () => {
  const a = await demoImage({ image_type: 'snapshot', min_ram: 128 });
  const b = await demoImage();
  const queued = await demoGlance.create({ name: 'list-queued', visibility: 'private' });

  const all = await nova(demo, 'GET', '/images');
  assert.equal(all.status, 200);
  const ids = all.body.images.map((i: any) => i.id);
  for (const id of [a.id, b.id, queued.id]) assert.ok(ids.includes(id));
  assert.deepEqual(Object.keys(all.body.images[0]).sort(), ['id', 'links', 'name']);
  assert.equal(all.body.images_links, undefined);

  const byName = await nova(demo, 'GET', `/images/detail?name=${a.name}`);
  assert.deepEqual(byName.body.images.map((i: any) => i.id), [a.id]);
  assert.equal(byName.body.images[0].status, 'ACTIVE');

  const byType = (await nova(demo, 'GET', '/images/detail?type=snapshot')).body.images.map((i: any) => i.id);
  assert.ok(byType.includes(a.id) && !byType.includes(b.id));
  const byRam = (await nova(demo, 'GET', '/images?minRam=128')).body.images.map((i: any) => i.id);
  assert.ok(byRam.includes(a.id) && !byRam.includes(b.id));
  // The status filter is Glance's status, lower-cased (as Nova passes it on).
  const active = (await nova(demo, 'GET', '/images?status=ACTIVE')).body.images.map((i: any) => i.id);
  assert.ok(active.includes(a.id) && !active.includes(queued.id));
  const q = (await nova(demo, 'GET', '/images?status=QUEUED')).body.images.map((i: any) => i.id);
  assert.ok(q.includes(queued.id) && !q.includes(a.id));
  const since = (await nova(demo, 'GET', `/images?changes-since=${encodeURIComponent('2000-01-01T00:00:00Z')}`)).body.images;
  assert.ok(since.length >= 3);
  const future = (await nova(demo, 'GET', `/images?changes-since=${encodeURIComponent('2999-01-01T00:00:00Z')}`)).body.images;
  assert.deepEqual(future, []);

  // Paging: a full page carries a next link whose marker continues where it stopped.
  const p1 = await nova(demo, 'GET', '/images/detail?limit=2');
  assert.equal(p1.body.images.length, 2);
  const next = new URL(p1.body.images_links[0].href);
  assert.equal(p1.body.images_links[0].rel, 'next');
  assert.equal(next.pathname, '/compute/v2.1/images/detail');
  assert.equal(next.searchParams.get('marker'), p1.body.images[1].id);
  const p2 = await nova(demo, 'GET', `/images/detail?limit=2&marker=${p1.body.images[1].id}`);
  assert.equal(p2.status, 200);
  assert.ok(!p2.body.images.some((i: any) => p1.body.images.some((j: any) => j.id === i.id)));

  assert.equal((await nova(demo, 'GET', '/images?limit=abc')).status, 400);
  assert.equal((await nova(demo, 'GET', '/images?limit=-1')).status, 400);
  const badMarker = await nova(demo, 'GET', '/images?marker=7a7b7c7d-0000-4000-8000-000000000000');
  assert.equal(badMarker.status, 400);
  assert.ok(badMarker.body.badRequest.message);
  assert.equal((await nova(demo, 'GET', '/images?changes-since=yesterday')).status, 400);
});

test('server filter accepts the id or a server link', async () => {
  const server = '3f1e2d3c-4b5a-4968-8776-655443322110';
  const snap = await demoImage({ instance_uuid: server });
  for (const ref of [server, `${cloud.url}/compute/v2.1/servers/${server}`]) {
    const r = await nova(demo, 'GET', `/images?server=${encodeURIComponent(ref)}`);
    assert.deepEqual(r.body.images.map((i: any) => i.id), [snap.id]);
  }
});

test('another project\'s private image is 404; public images are visible to all', async () => {
  const mine = await demoImage();
  const theirs = await adminGlance.create({ name: 'admin-private', visibility: 'private' });
  assert.equal((await nova(demo, 'GET', `/images/${theirs.id}`)).status, 404);
  assert.equal((await nova(demo, 'GET', `/images/${theirs.id}/metadata`)).status, 404);
  assert.equal((await nova(demo, 'POST', `/images/${theirs.id}/metadata`, { metadata: { a: 'b' } })).status, 404);
  assert.equal((await nova(demo, 'DELETE', `/images/${theirs.id}`)).status, 404);
  assert.ok(!(await nova(demo, 'GET', '/images')).body.images.some((i: any) => i.id === theirs.id));
  // Admin sees everything, as in Glance.
  assert.equal((await nova(admin, 'GET', `/images/${mine.id}`)).status, 200);

  // A public image of another project: visible, but neither deletable nor writable by the demo user.
  const pub = await adminGlance.create({ name: 'admin-public', visibility: 'public' });
  assert.equal((await nova(demo, 'GET', `/images/${pub.id}`)).status, 200);
  const del = await nova(demo, 'DELETE', `/images/${pub.id}`);
  assert.equal(del.status, 403);
  assert.equal(del.body.forbidden.message, 'You are not allowed to delete the image.');
  const set = await nova(demo, 'PUT', `/images/${pub.id}/metadata/k`, { meta: { k: 'v' } });
  assert.equal(set.status, 403);
  assert.equal((await adminGlance.call('GET', `/images/${pub.id}`)).body.k, undefined);
});

test('delete: 204, then 404; protected images are 403', async () => {
  const img = await demoImage();
  const r = await nova(demo, 'DELETE', `/images/${img.id}`);
  assert.equal(r.status, 204);
  assert.equal(r.body, null);
  assert.equal((await demoGlance.call('GET', `/images/${img.id}`)).status, 404);
  const again = await nova(demo, 'DELETE', `/images/${img.id}`);
  assert.equal(again.status, 404);
  assert.equal(again.body.itemNotFound.message, 'Image not found.');
  assert.equal((await nova(demo, 'GET', `/images/${img.id}`)).status, 404);

  const prot = await demoImage({ protected: true });
  assert.equal((await nova(demo, 'DELETE', `/images/${prot.id}`)).status, 403);
  assert.equal((await demoGlance.patch(prot.id, [{ op: 'replace', path: '/protected', value: false }])).status, 200);
});

test('unknown or malformed ids are 404', async () => {
  for (const id of ['0f0e0d0c-0b0a-4909-8807-060504030201', 'not-a-uuid', 'x'.repeat(40), '-1']) {
    const r = await nova(demo, 'GET', `/images/${id}`);
    assert.equal(r.status, 404, id);
    assert.deepEqual(r.body, { itemNotFound: { code: 404, message: 'Image not found.' } });
    assert.equal((await nova(demo, 'DELETE', `/images/${id}`)).status, 404);
    assert.equal((await nova(demo, 'GET', `/images/${id}/metadata/a`)).status, 404);
    assert.equal((await nova(demo, 'PUT', `/images/${id}/metadata`, { metadata: {} })).status, 404);
  }
});

test('metadata CRUD writes through to Glance', async () => {
  const img = await demoImage({ os_distro: 'cirros' });
  const base = `/images/${img.id}/metadata`;

  assert.deepEqual((await nova(demo, 'GET', base)).body, { metadata: { os_distro: 'cirros' } });

  // POST merges and answers with everything.
  const post = await nova(demo, 'POST', base, { metadata: { os_version: '1', architecture: 'x86_64' } });
  assert.equal(post.status, 200);
  assert.deepEqual(post.body, { metadata: { os_distro: 'cirros', os_version: '1', architecture: 'x86_64' } });

  // PUT on the collection replaces everything (absent keys are removed in Glance too).
  const put = await nova(demo, 'PUT', base, { metadata: { os_version: '2', hw_disk_bus: 'scsi' } });
  assert.deepEqual(put.body, { metadata: { os_version: '2', hw_disk_bus: 'scsi' } });
  const g = (await demoGlance.call('GET', `/images/${img.id}`)).body;
  assert.equal(g.os_version, '2');
  assert.equal(g.hw_disk_bus, 'scsi');
  assert.equal(g.os_distro, undefined);
  assert.equal(g.architecture, undefined);
  assert.equal(g.name, img.name); // base attributes are untouched

  // One item.
  assert.deepEqual((await nova(demo, 'GET', `${base}/os_version`)).body, { meta: { os_version: '2' } });
  const item = await nova(demo, 'PUT', `${base}/os_version`, { meta: { os_version: '3' } });
  assert.deepEqual(item.body, { meta: { os_version: '3' } });
  assert.deepEqual((await nova(demo, 'GET', base)).body.metadata, { os_version: '3', hw_disk_bus: 'scsi' });
  const missing = await nova(demo, 'GET', `${base}/nope`);
  assert.equal(missing.status, 404);

  const del = await nova(demo, 'DELETE', `${base}/os_version`);
  assert.equal(del.status, 204);
  assert.deepEqual((await nova(demo, 'GET', base)).body.metadata, { hw_disk_bus: 'scsi' });
  const delAgain = await nova(demo, 'DELETE', `${base}/os_version`);
  assert.equal(delAgain.status, 404);
  assert.equal(delAgain.body.itemNotFound.message, 'Invalid metadata key');

  // The detail view shows the same metadata.
  assert.deepEqual((await nova(demo, 'GET', `/images/${img.id}`)).body.image.metadata, { hw_disk_bus: 'scsi' });
});

test('metadata bad input is 400 like Nova; reserved names are refused by Glance', async () => {
  const img = await demoImage();
  const base = `/images/${img.id}/metadata`;
  const cases: [string, string, unknown, RegExp][] = [
    ['POST', base, { metadata: 'x' }, /Invalid input for field\/attribute metadata\. Value: x\. 'x' is not of type 'object'/],
    ['POST', base, { metadata: ['a'] }, /is not of type 'object'/],
    ['POST', base, [], /\[\] is not of type 'object'/],
    ['POST', base, {}, /'metadata' is a required property/],
    ['POST', base, { metadata: {}, extra: 1 }, /Additional properties are not allowed \('extra' was unexpected\)/],
    ['PUT', base, { metadata: { ['a'.repeat(256)]: 'b' } }, /does not match any of the regexes/],
    ['PUT', base, { metadata: { '': 'b' } }, /'' does not match any of the regexes/],
    ['PUT', base, { metadata: { 'a/b': 'b' } }, /does not match any of the regexes/],
    ['POST', base, { metadata: { a: 1 } }, /Invalid input for field\/attribute a\. Value: 1\. 1 is not of type 'string'/],
    ['POST', base, { metadata: { a: 'b'.repeat(256) } }, /is too long/],
    ['PUT', `${base}/a`, { meta: {} }, /should be non-empty/],
    ['PUT', `${base}/a`, { meta: { a: 'b', c: 'd' } }, /has too many properties/],
    ['PUT', `${base}/a`, { meta: { b: 'c' } }, /^Request body and URI mismatch$/],
    ['PUT', `${base}/a`, { metadata: { a: 'c' } }, /'meta' is a required property/],
  ];
  for (const [method, path, body, re] of cases) {
    const r = await nova(demo, method, path, body);
    assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
    assert.equal(r.body.badRequest.code, 400);
    assert.match(r.body.badRequest.message, re);
  }
  const malformed = await demo.json('POST', `/compute/v2.1${base}`, '{"metadata": ');
  assert.equal(malformed.status, 400);
  // Nothing was written by any of these.
  assert.deepEqual((await nova(demo, 'GET', base)).body.metadata, {});

  // Glance refuses its read-only attributes as property names.
  const ro = await nova(demo, 'PUT', `${base}/status`, { meta: { status: 'active' } });
  assert.equal(ro.status, 403);
});

test('the metadata_items quota limits image metadata', async () => {
  const img = await demoImage({ a: '1', b: '2' });
  const projectId = demo.body.token.project.id;
  const q = await nova(admin, 'PUT', `/os-quota-sets/${projectId}`, { quota_set: { metadata_items: 3 } });
  assert.equal(q.status, 200);
  try {
    const base = `/images/${img.id}/metadata`;
    assert.equal((await nova(demo, 'POST', base, { metadata: { c: '3' } })).status, 200);
    const over = await nova(demo, 'POST', base, { metadata: { d: '4' } });
    assert.equal(over.status, 403);
    assert.equal(over.body.forbidden.message, 'Image metadata limit exceeded');
    assert.equal((await nova(demo, 'PUT', `${base}/e`, { meta: { e: '5' } })).status, 403);
    assert.equal((await nova(demo, 'PUT', base, { metadata: { a: '1', b: '2', c: '3', d: '4' } })).status, 403);
    assert.equal((await nova(demo, 'PUT', base, { metadata: { x: '1' } })).status, 200);
    assert.deepEqual((await nova(demo, 'GET', base)).body.metadata, { x: '1' });
  } finally {
    await nova(admin, 'DELETE', `/os-quota-sets/${projectId}`);
  }
});

test('the proxy APIs are gone at 2.36 (images) and 2.39 (image metadata)', async () => {
  const img = await demoImage({ k: 'v' });
  const gone = { itemNotFound: { code: 404, message: 'The resource could not be found.' } };
  for (const path of ['/images', '/images/detail', `/images/${img.id}`]) {
    assert.equal((await nova(demo, 'GET', path, undefined, '2.35')).status, 200, path);
    const r = await nova(demo, 'GET', path, undefined, '2.36');
    assert.equal(r.status, 404, path);
    assert.deepEqual(r.body, gone);
  }
  const del = await nova(demo, 'DELETE', `/images/${img.id}`, undefined, '2.36');
  assert.equal(del.status, 404);
  assert.deepEqual(del.body, gone);
  assert.equal((await nova(demo, 'GET', `/images/${img.id}`, undefined, 'latest')).status, 404);
  assert.equal((await nova(demo, 'GET', `/images/${img.id}/metadata`, undefined, '2.38')).status, 200);
  for (const [method, path, body] of [
    ['GET', `/images/${img.id}/metadata`], ['GET', `/images/${img.id}/metadata/k`],
    ['POST', `/images/${img.id}/metadata`, { metadata: { a: 'b' } }], ['PUT', `/images/${img.id}/metadata`, { metadata: {} }],
    ['PUT', `/images/${img.id}/metadata/k`, { meta: { k: 'w' } }], ['DELETE', `/images/${img.id}/metadata/k`],
  ] as [string, string, unknown?][]) {
    const r = await nova(demo, method, path, body, '2.39');
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.deepEqual(r.body, gone);
  }
  // The image is untouched by the refused requests.
  assert.deepEqual((await nova(demo, 'GET', `/images/${img.id}/metadata`, undefined, '2.38')).body.metadata, { k: 'v' });
});
