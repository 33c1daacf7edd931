// Glance v2 images over HTTP, as the clients and Tempest use them: discovery, the image
// lifecycle and its data, PATCH, tags, actions, listing, import, and bad input on every route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startTestCloud, login, type TestCloud } from '../testing.ts';
import { glance, type Glance } from './testing.ts';
import { imageService } from './index.ts';

let cloud: TestCloud;
let admin: Glance, demo: Glance;
let adminProject: string;

before(async () => {
  cloud = await startTestCloud();
  const a = await login(cloud);
  adminProject = a.body.token.project.id;
  admin = glance(cloud, a);
  demo = glance(cloud, await login(cloud, 'demo', cloud.config.demoPassword, 'demo'));
});
after(async () => { await cloud?.close(); });

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');
const storeDir = () => join(cloud.config.dataDir, 'images');

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await fn();
    if (ok(v) || i > 500) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('version discovery needs no token: 300 at /image, 200 at /image/versions', async () => {
  const r = await fetch(`${cloud.url}/image`);
  assert.equal(r.status, 300);
  const body = await r.json();
  assert.equal(body.versions[0].status, 'CURRENT');
  assert.ok(body.versions.some((v: any) => v.id === 'v2.0'));
  for (const v of body.versions) assert.equal(v.links[0].href, `${cloud.url}/image/v2/`);
  assert.equal((await fetch(`${cloud.url}/image/versions`)).status, 200);
  assert.equal((await fetch(`${cloud.url}/image/v1/images`)).status, 300);
  const noToken = await fetch(`${cloud.url}/image/v2/images`);
  assert.equal(noToken.status, 401);
  assert.match(noToken.headers.get('www-authenticate') ?? '', /^Keystone uri=/);
  assert.deepEqual(await noToken.json(), { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
  // /v2.1 ... are the same API.
  const alias = await fetch(`${cloud.url}/image/v2.1/schemas/image`, { headers: { 'x-auth-token': (await login(cloud)).token } });
  assert.equal(alias.status, 200);
});

test('the seed image is public, active and a stream-optimized VMDK', async () => {
  const r = await demo.call('GET', '/images?name=vistack-tiny-x86_64');
  assert.equal(r.body.images.length, 1);
  const img = r.body.images[0];
  assert.equal(img.status, 'active');
  assert.equal(img.visibility, 'public');
  assert.equal(img.owner, adminProject);
  assert.equal(img.disk_format, 'vmdk');
  assert.equal(img.vmware_disktype, 'streamOptimized');
  assert.equal(img.virtual_size, 2 ** 30);
  const d = await demo.download(img.id);
  assert.equal(d.status, 200);
  assert.equal(md5(d.data), img.checksum);
  assert.equal(d.data.subarray(0, 4).toString('latin1'), 'KDMV');
});

test('lifecycle: create → upload → download (ranges) → delete', async () => {
  const created = await admin.call('POST', '/images', {
    name: 'life', disk_format: 'raw', container_format: 'bare', ramdisk_id: '00000000-1111-2222-3333-444455556666', hw_vif_model: 'e1000',
  });
  assert.equal(created.status, 201);
  const img = created.body;
  assert.equal(img.status, 'queued');
  assert.equal(img.visibility, 'shared');
  assert.equal(img.owner, adminProject);
  assert.equal(img.size, null);
  assert.equal(img.self, `/v2/images/${img.id}`);
  assert.equal(img.ramdisk_id, '00000000-1111-2222-3333-444455556666');
  assert.match(created.headers.get('location')!, new RegExp(`/image/v2/images/${img.id}$`));
  assert.equal(created.headers.get('openstack-image-import-methods'), 'glance-direct');

  const empty = await admin.download(img.id);
  assert.equal(empty.status, 204);
  assert.equal(empty.data.length, 0);

  const data = randomBytes(1024);
  assert.equal((await admin.upload(img.id, data)).status, 204);
  const shown = (await admin.call('GET', `/images/${img.id}`)).body;
  assert.equal(shown.status, 'active');
  assert.equal(shown.size, 1024);
  assert.equal(shown.virtual_size, 1024);
  assert.equal(shown.checksum, md5(data));
  assert.equal(shown.os_hash_algo, 'sha512');
  assert.equal(shown.os_hash_value, sha512(data));

  const full = await admin.download(img.id);
  assert.equal(full.status, 200);
  assert.deepEqual(full.data, data);
  assert.equal(full.headers.get('content-md5'), md5(data));
  assert.equal(full.headers.get('content-length'), '1024');
  const part = await admin.download(img.id, { range: 'bytes=2-5' });
  assert.equal(part.status, 206);
  assert.deepEqual(part.data, data.subarray(2, 6));
  assert.equal(part.headers.get('content-range'), 'bytes 2-5/1024');
  const tail = await admin.download(img.id, { range: 'bytes=-3' });
  assert.deepEqual(tail.data, data.subarray(1021));
  assert.equal((await admin.download(img.id, { range: 'bytes=1024-' })).status, 416);
  assert.equal((await admin.download(img.id, { range: 'bytes=0-1,3-4' })).status, 400);
  assert.equal((await admin.download(img.id, { range: 'lines=1-2' })).status, 416);

  // Data can be uploaded once.
  assert.equal((await admin.upload(img.id, Buffer.from('again'))).status, 409);
  const stored = readdirSync(storeDir()).filter((f) => f === img.id);
  assert.equal(stored.length, 1);

  assert.equal((await admin.call('DELETE', `/images/${img.id}`)).status, 204);
  assert.equal((await admin.call('GET', `/images/${img.id}`)).status, 404);
  assert.equal((await admin.call('DELETE', `/images/${img.id}`)).status, 404);
  assert.equal(existsSync(join(storeDir(), img.id)), false);
  // A deleted image's id is never reused.
  assert.equal((await admin.call('POST', '/images', { id: img.id })).status, 409);
});

test('a 64 MiB upload streams through and downloads identical', async () => {
  const img = await admin.create({ name: 'big' });
  const total = 64 * (1 << 20) + 17;
  const h1 = createHash('md5'), h2 = createHash('sha512');
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= total) return this.push(null);
      const c = randomBytes(Math.min(1 << 20, total - sent));
      sent += c.length;
      h1.update(c); h2.update(c);
      this.push(c);
    },
  });
  assert.equal((await admin.upload(img.id, body)).status, 204);
  const shown = (await admin.call('GET', `/images/${img.id}`)).body;
  assert.equal(shown.size, total);
  assert.equal(shown.checksum, h1.digest('hex'));
  assert.equal(shown.os_hash_value, h2.digest('hex'));
  const r = await fetch(`${cloud.url}/image/v2/images/${img.id}/file`, { headers: { 'x-auth-token': (await login(cloud)).token } });
  const d1 = createHash('md5');
  let got = 0;
  for await (const c of r.body as any) { d1.update(c); got += c.length; }
  assert.equal(got, total);
  assert.equal(d1.digest('hex'), shown.checksum);
  await admin.call('DELETE', `/images/${img.id}`);
});

test('an upload interrupted midway leaves the image queued and no data', async () => {
  const img = await admin.create({ name: 'interrupted' });
  const token = (await login(cloud)).token;
  await new Promise<void>((resolve) => {
    const req = httpRequest(`${cloud.url}/image/v2/images/${img.id}/file`, {
      method: 'PUT', headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'content-length': String(8 << 20) },
    });
    req.on('error', () => resolve());
    req.on('response', () => resolve());
    req.write(randomBytes(2 << 20), () => setTimeout(() => { req.destroy(); resolve(); }, 50));
  });
  const after = await waitFor(() => admin.call('GET', `/images/${img.id}`), (r) => r.body.status === 'queued');
  assert.equal(after.body.status, 'queued');
  assert.equal(after.body.size, null);
  await waitFor(async () => readdirSync(join(storeDir(), '.tmp')).length, (n) => n === 0);
  assert.deepEqual(readdirSync(join(storeDir(), '.tmp')), []);
  assert.equal(existsSync(join(storeDir(), img.id)), false);
  // The upload can be retried.
  assert.equal((await admin.upload(img.id, Buffer.from('complete'))).status, 204);
  assert.equal((await admin.call('GET', `/images/${img.id}`)).body.status, 'active');
});

test('size cap: 413 before reading (Content-Length) or while streaming; image stays queued', async () => {
  const svc = imageService(cloud.ctx);
  const cap = svc.opts.sizeCap;
  svc.opts.sizeCap = 1000;
  try {
    const img = await admin.create({ name: 'capped' });
    assert.equal((await admin.upload(img.id, randomBytes(2000))).status, 413);
    assert.equal((await admin.call('GET', `/images/${img.id}`)).body.status, 'queued');
    const chunked = Readable.from([randomBytes(600), randomBytes(600)]);
    assert.equal((await admin.upload(img.id, chunked)).status, 413);
    assert.equal((await admin.call('GET', `/images/${img.id}`)).body.status, 'queued');
    assert.equal(existsSync(join(storeDir(), img.id)), false);
  } finally { svc.opts.sizeCap = cap; }
});

test('upload checks: content type, formats, data matching disk_format', async () => {
  const img = await admin.create({ name: 'checks', disk_format: 'qcow2' });
  assert.equal((await admin.upload(img.id, 'x', { 'content-type': 'application/json' })).status, 415);
  const mismatch = await admin.upload(img.id, randomBytes(4096));
  assert.equal(mismatch.status, 415);
  assert.match(mismatch.body.message, /does not match stream data raw/);
  assert.equal((await admin.call('GET', `/images/${img.id}`)).body.status, 'queued');
  const noFormats = await admin.call('POST', '/images', { name: 'nofmt' });
  const r = await admin.upload(noFormats.body.id, Buffer.from('abc'));
  assert.equal(r.status, 400);
  assert.match(r.body.message, /disk_format, container_format must be set/);
  assert.equal((await admin.call('GET', `/images/${noFormats.body.id}`)).body.status, 'queued');
});

test('PATCH: add, replace, remove with Glance semantics, all or nothing', async () => {
  const img = await admin.create({ name: 'p1', foo: 'bar' });
  let r = await admin.patch(img.id, [
    { op: 'replace', path: '/name', value: 'p2' },
    { op: 'add', path: '/vmware_adaptertype', value: 'lsiLogic' },
    { op: 'replace', path: '/foo', value: 'baz' },
    { op: 'replace', path: '/tags', value: ['a', 'b', 'a'] },
    { op: 'replace', path: '/min_ram', value: 512 },
  ]);
  assert.equal(r.status, 200);
  assert.equal(r.body.name, 'p2');
  assert.equal(r.body.vmware_adaptertype, 'lsiLogic');
  assert.equal(r.body.foo, 'baz');
  assert.deepEqual(r.body.tags.sort(), ['a', 'b']);
  assert.equal(r.body.min_ram, 512);
  // v2.1 add overwrites; v2.0 add of an existing property conflicts.
  assert.equal((await admin.patch(img.id, [{ op: 'add', path: '/foo', value: 'again' }])).body.foo, 'again');
  assert.equal((await admin.patch(img.id, [{ add: '/foo', value: 'x' }], 'application/openstack-images-v2.0-json-patch')).status, 409);
  assert.equal((await admin.patch(img.id, [{ add: '/bar', value: 'x' }], 'application/openstack-images-v2.0-json-patch')).status, 200);
  assert.equal((await admin.patch(img.id, [{ op: 'replace', path: '/missing', value: 'x' }])).status, 409);
  assert.equal((await admin.patch(img.id, [{ op: 'remove', path: '/missing' }])).status, 409);
  assert.equal((await admin.patch(img.id, [{ op: 'remove', path: '/name' }])).status, 403);
  assert.equal((await admin.patch(img.id, [{ op: 'replace', path: '/status', value: 'active' }])).status, 403);
  assert.equal((await admin.patch(img.id, [{ op: 'add', path: '/os_glance_foo', value: 'bar' }])).status, 403);
  assert.equal((await admin.patch(img.id, [{ op: 'replace', path: '/min_disk', value: -1 }])).status, 400);
  assert.equal((await admin.patch(img.id, [{ op: 'add', path: '/locations/-', value: { url: 'http://x/y', metadata: {} } }])).status, 403);
  const wrongType = await admin.patch(img.id, [{ op: 'replace', path: '/name', value: 'x' }], 'application/json');
  assert.equal(wrongType.status, 415);
  assert.match(wrongType.headers.get('accept-patch')!, /openstack-images-v2.1-json-patch/);
  assert.equal((await admin.patch(img.id, '[{"op": "replace",')).status, 400);
  assert.equal((await admin.patch(img.id, { op: 'replace' })).status, 400);
  // A failing operation leaves the earlier ones unapplied.
  r = await admin.patch(img.id, [{ op: 'replace', path: '/name', value: 'never' }, { op: 'remove', path: '/missing' }]);
  assert.equal(r.status, 409);
  r = await admin.call('GET', `/images/${img.id}`);
  assert.equal(r.body.name, 'p2');
  assert.equal((await admin.patch(img.id, [{ op: 'remove', path: '/foo' }])).body.foo, undefined);
  // Formats may change only while queued.
  assert.equal((await admin.patch(img.id, [{ op: 'replace', path: '/disk_format', value: 'qcow2' }])).status, 200);
  await admin.patch(img.id, [{ op: 'replace', path: '/disk_format', value: 'raw' }]);
  await admin.upload(img.id, Buffer.from('data'));
  assert.equal((await admin.patch(img.id, [{ op: 'replace', path: '/disk_format', value: 'qcow2' }])).status, 403);
  // An empty patch changes nothing.
  assert.equal((await admin.patch(img.id, [])).status, 200);
});

test('PATCH policy: visibility public and owner are admin-only', async () => {
  const img = await demo.create({ name: 'demo-own', visibility: 'private' });
  assert.equal((await demo.patch(img.id, [{ op: 'replace', path: '/visibility', value: 'public' }])).status, 403);
  assert.equal((await demo.patch(img.id, [{ op: 'replace', path: '/owner', value: adminProject }])).status, 403);
  assert.equal((await demo.patch(img.id, [{ op: 'replace', path: '/visibility', value: 'community' }])).status, 200);
  assert.equal((await admin.patch(img.id, [{ op: 'replace', path: '/owner', value: 'someone-else' }])).body.owner, 'someone-else');
  assert.equal((await demo.call('POST', '/images', { name: 'x', visibility: 'public' })).status, 403);
  assert.equal((await demo.call('POST', '/images', { name: 'x', owner: adminProject })).status, 403);
  const own = await admin.call('POST', '/images', { owner: 'a-random-project', name: 'for-another' });
  assert.equal(own.status, 201);
  assert.equal(own.body.owner, 'a-random-project');
});

test('create: bad input is refused and nothing is written', async () => {
  const count = async () => (await admin.call('GET', '/images?limit=1000&visibility=all')).body.images.length;
  const before = await count();
  const cases: [unknown, number][] = [
    ['{"name": ', 400],
    [[], 400],
    ['"just a string"', 400],
    [{ name: 5 }, 400],
    [{ name: 'x'.repeat(256) }, 400],
    [{ container_format: 'wrong' }, 400],
    [{ disk_format: 'wrong' }, 400],
    [{ visibility: 'everyone' }, 400],
    [{ min_ram: '1' }, 400],
    [{ min_ram: -1 }, 400],
    [{ min_disk: 2 ** 31 }, 400],
    [{ protected: 'yes' }, 400],
    [{ tags: 'a' }, 400],
    [{ id: 'not-a-uuid' }, 400],
    [{ custom: 5 }, 400],
    [{ ['k'.repeat(256)]: 'v' }, 400],
    [{ kernel_id: 'nope' }, 400],
    [{ os_glance_foo: 'bar' }, 403],
    [{ deleted: 'x' }, 403],
    [{ status: 'active' }, 403],
    [{ size: 10 }, 403],
    [{ checksum: 'abc' }, 403],
    [{ self: '/x' }, 403],
    [{ locations: [] }, 403],
    [Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`p${i}`, 'v'])), 413], // image_property_quota
    [{ tags: Array.from({ length: 129 }, (_, i) => `t${i}`) }, 413], // image_tag_quota
  ];
  for (const [body, status] of cases) {
    const r = await admin.call('POST', '/images', body);
    assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(typeof r.body.message, 'string');
  }
  assert.equal((await admin.call('POST', '/images')).status, 400);
  assert.equal(await count(), before);
  // Glance reads JSON whatever the Content-Type says.
  const odd = await admin.call('POST', '/images', JSON.stringify({ name: 'odd-ct' }), { 'content-type': 'text/plain' });
  assert.equal(odd.status, 201);
});

test('unknown, malformed and over-long ids are 404 on every route', async () => {
  const ids = ['3f7e1a42-5d7b-4c1e-9b9a-2f1e0d6c5b4a', 'not-a-uuid', 'x'.repeat(300)];
  for (const id of ids) {
    const routes: [string, string, unknown?, Record<string, string>?][] = [
      ['GET', `/images/${id}`], ['DELETE', `/images/${id}`],
      ['PATCH', `/images/${id}`, [{ op: 'replace', path: '/name', value: 'x' }], { 'content-type': 'application/openstack-images-v2.1-json-patch' }],
      ['GET', `/images/${id}/file`], ['GET', `/images/${id}/members`], ['POST', `/images/${id}/members`, { member: 'p' }],
      ['GET', `/images/${id}/members/p`], ['PUT', `/images/${id}/members/p`, { status: 'accepted' }], ['DELETE', `/images/${id}/members/p`],
      ['PUT', `/images/${id}/tags/t`], ['DELETE', `/images/${id}/tags/t`],
      ['POST', `/images/${id}/actions/deactivate`], ['POST', `/images/${id}/actions/reactivate`], ['GET', `/images/${id}/tasks`],
      ['POST', `/images/${id}/import`, { method: { name: 'glance-direct' } }],
    ];
    for (const [m, p, b, h] of routes) {
      const r = await admin.call(m, p, b, h);
      assert.equal(r.status, 404, `${m} ${p.slice(0, 60)} → ${r.status}`);
    }
    assert.equal((await admin.upload(id, Buffer.from('x'))).status, 404);
  }
  // An empty id is not the image list (Tempest's null-id checks).
  assert.equal((await admin.call('GET', '/images/')).status, 404);
  assert.equal((await admin.call('DELETE', '/images/')).status, 404);
});

test('other methods get 405 with Allow', async () => {
  const r = await admin.call('POST', '/images/3f7e1a42-5d7b-4c1e-9b9a-2f1e0d6c5b4a/file');
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'PUT, GET');
  assert.equal((await admin.call('PUT', '/images')).status, 405);
});

test('errors are rendered as webob does, by Accept', async () => {
  const token = (await login(cloud)).token;
  const url = `${cloud.url}/image/v2/images/3f7e1a42-5d7b-4c1e-9b9a-2f1e0d6c5b4a`;
  const json = await fetch(url, { headers: { 'x-auth-token': token, accept: 'application/json' } });
  assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.deepEqual(await json.json(), {
    message: 'No image found with ID 3f7e1a42-5d7b-4c1e-9b9a-2f1e0d6c5b4a<br /><br />\n\n\n', code: '404 Not Found', title: 'Not Found',
  });
  // No Accept header at all (fetch always sends one): plain text.
  const plain = await new Promise<{ type: string; text: string }>((resolve, reject) => {
    httpRequest(url, { headers: { 'x-auth-token': token } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ type: String(res.headers['content-type']), text }));
    }).on('error', reject).end();
  });
  assert.match(plain.type, /^text\/plain/);
  assert.equal(plain.text, '404 Not Found\n\nNo image found with ID 3f7e1a42-5d7b-4c1e-9b9a-2f1e0d6c5b4a\n\n   ');
  const html = await fetch(url, { headers: { 'x-auth-token': token, accept: '*/*' } });
  assert.match(await html.text(), /<h1>404 Not Found<\/h1>/);
});

test('deactivate / reactivate', async () => {
  const img = await demo.create({ name: 'deact', visibility: 'private' });
  assert.equal((await demo.call('POST', `/images/${img.id}/actions/deactivate`)).status, 403); // queued
  await demo.upload(img.id, Buffer.from('bytes'));
  assert.equal((await demo.call('POST', `/images/${img.id}/actions/deactivate`)).status, 204);
  assert.equal((await demo.call('GET', `/images/${img.id}`)).body.status, 'deactivated');
  assert.equal((await demo.download(img.id)).status, 403);
  assert.equal((await admin.download(img.id)).status, 200); // admins still may
  assert.equal((await demo.call('POST', `/images/${img.id}/actions/deactivate`)).status, 204); // no-op
  assert.equal((await demo.call('POST', `/images/${img.id}/actions/reactivate`)).status, 204);
  assert.equal((await demo.download(img.id)).data.toString(), 'bytes');
  assert.equal((await demo.call('POST', `/images/${img.id}/actions/deactivate`, { x: 1 })).status, 400);
});

test('protected images cannot be deleted until unprotected', async () => {
  const img = await demo.create({ name: 'prot', protected: true });
  assert.equal((await demo.call('DELETE', `/images/${img.id}`)).status, 403);
  await demo.patch(img.id, [{ op: 'replace', path: '/protected', value: false }]);
  assert.equal((await demo.call('DELETE', `/images/${img.id}`)).status, 204);
});

test('tags', async () => {
  const img = await demo.create({ name: 'tagged', tags: ['one'] });
  assert.equal((await demo.call('PUT', `/images/${img.id}/tags/two`)).status, 204);
  assert.equal((await demo.call('PUT', `/images/${img.id}/tags/two`)).status, 204); // idempotent
  assert.deepEqual((await demo.call('GET', `/images/${img.id}`)).body.tags.sort(), ['one', 'two']);
  assert.equal((await demo.call('DELETE', `/images/${img.id}/tags/one`)).status, 204);
  assert.equal((await demo.call('DELETE', `/images/${img.id}/tags/one`)).status, 404);
  assert.equal((await demo.call('PUT', `/images/${img.id}/tags/${'t'.repeat(256)}`)).status, 400);
  assert.deepEqual((await demo.call('GET', `/images/${img.id}`)).body.tags, ['two']);
});

test('listing: filters, sorting and paging', async () => {
  const tag = `lst-${randomBytes(4).toString('hex')}`;
  const made: any[] = [];
  for (const [i, size] of [[0, 300], [1, 100], [2, 200], [3, 500], [4, 400]]) {
    const img = await demo.create({ name: `${tag}-${i}`, tags: [tag, i % 2 ? 'odd' : 'even'], flavor_hint: i % 2 ? 'odd' : 'even', visibility: 'private' });
    await demo.upload(img.id, randomBytes(size));
    made.push(img);
  }
  const hidden = await demo.create({ name: `${tag}-hidden`, tags: [tag], os_hidden: true });
  const list = async (q: string) => {
    const r = await demo.call('GET', `/images?${q}`);
    assert.equal(r.status, 200, `${q}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const names = (b: any) => b.images.map((i: any) => i.name);
  assert.equal((await list(`tag=${tag}`)).images.length, 5); // hidden images are left out by default
  assert.deepEqual(names(await list(`tag=${tag}&os_hidden=true`)), [`${tag}-hidden`]);
  assert.deepEqual(names(await list(`tag=${tag}&tag=odd&sort=name:asc`)), [`${tag}-1`, `${tag}-3`]);
  assert.deepEqual(names(await list(`name=${tag}-2`)), [`${tag}-2`]);
  assert.deepEqual(names(await list(`name=in:${tag}-2,"${tag}-4"&sort_key=name&sort_dir=asc`)), [`${tag}-2`, `${tag}-4`]);
  assert.deepEqual(names(await list(`tag=${tag}&size_min=200&size_max=400&sort=size:asc`)), [`${tag}-2`, `${tag}-0`, `${tag}-4`]);
  assert.deepEqual(names(await list(`tag=${tag}&size=500`)), [`${tag}-3`]);
  assert.deepEqual(names(await list(`tag=${tag}&flavor_hint=even&sort=name`)), [`${tag}-4`, `${tag}-2`, `${tag}-0`]);
  assert.deepEqual(names(await list(`tag=${tag}&sort_key=size&sort_dir=desc`)), [3, 4, 0, 2, 1].map((i) => `${tag}-${i}`));
  assert.deepEqual(names(await list(`tag=${tag}&sort=size:desc`)), [3, 4, 0, 2, 1].map((i) => `${tag}-${i}`));
  assert.equal((await list(`tag=${tag}&status=queued`)).images.length, 0);
  assert.equal((await list(`tag=${tag}&status=active&visibility=private&disk_format=raw&container_format=bare`)).images.length, 5);
  assert.equal((await list(`tag=${tag}&protected=false`)).images.length, 5);
  assert.equal((await list(`tag=${tag}&id=in:${made[0].id},${made[1].id}`)).images.length, 2);
  const first = (await demo.call('GET', `/images/${made[0].id}`)).body;
  assert.equal((await list(`tag=${tag}&created_at=gte:${first.created_at}`)).images.length, 5);
  assert.equal((await list(`tag=${tag}&created_at=lt:2000-01-01T00:00:00Z`)).images.length, 0);
  assert.equal((await list(`tag=${tag}&owner=${first.owner}`)).images.length, 5);

  // Paging through with limit=2 and the next links visits each image once, in order.
  const seen: string[] = [];
  let page = await list(`tag=${tag}&limit=2&sort=name:asc`);
  assert.equal(page.first, `/v2/images?tag=${tag}&limit=2&sort=name%3Aasc`);
  assert.equal(page.schema, '/v2/schemas/images');
  for (;;) {
    seen.push(...names(page));
    if (!page.next) break;
    page = (await demo.call('GET', page.next.replace(/^\/v2/, ''))).body;
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4].map((i) => `${tag}-${i}`));
  assert.equal((await list('limit=0')).images.length, 0);

  for (const q of ['limit=-1', 'limit=abc', 'sort_key=bogus', 'sort_dir=up', 'sort=name:up', 'member_status=bogus',
    'visibility=bogus', 'marker=3f7e1a42-5d7b-4c1e-9b9a-2f1e0d6c5b4a', 'sort=name&sort_key=size', 'size_min=x',
    'created_at=gt:notadate', 'name=foo:bar', 'os_hidden=maybe', 'protected=1', 'changes-since=2020-01-01',
    'sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc&sort_dir=asc']) {
    assert.equal((await demo.call('GET', `/images?${q}`)).status, 400, q);
  }
  await demo.call('DELETE', `/images/${hidden.id}`);
});

test('schemas and discovery', async () => {
  for (const name of ['image', 'images', 'member', 'members', 'task', 'tasks']) {
    const r = await demo.call('GET', `/schemas/${name}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.name, name);
  }
  const image = (await demo.call('GET', '/schemas/image')).body;
  assert.deepEqual(image.additionalProperties, { type: 'string' });
  assert.ok(image.properties.disk_format.enum.includes('vmdk'));
  assert.ok(image.properties.container_format.enum.includes('ova'));
  const info = await demo.call('GET', '/info/import');
  assert.deepEqual(info.body['import-methods'].value, ['glance-direct']);
  assert.equal((await demo.call('GET', '/info/stores')).status, 404);
  assert.deepEqual((await demo.call('GET', '/info/usage')).body, { usage: {} });
});

test('interoperable import: glance-direct', async () => {
  const img = await demo.create({ name: 'imported', visibility: 'private' });
  assert.equal((await demo.call('POST', `/images/${img.id}/import`, { method: { name: 'glance-direct' } })).status, 409); // not staged
  const data = randomBytes(3000);
  assert.equal((await demo.upload(img.id, data, {}, 'stage')).status, 204);
  let shown = (await demo.call('GET', `/images/${img.id}`)).body;
  assert.equal(shown.status, 'uploading');
  assert.equal(shown.size, 3000);
  assert.equal((await demo.upload(img.id, data, {}, 'stage')).status, 409);
  assert.equal((await demo.upload(img.id, data)).status, 409);
  for (const [body, status] of [[{}, 400], [{ method: {} }, 400], [{ method: { name: 'web-download', uri: 'http://x' } }, 400],
    [{ method: { name: 'glance-direct' }, all_stores: 'yes' }, 400]] as [unknown, number][]) {
    assert.equal((await demo.call('POST', `/images/${img.id}/import`, body)).status, status, JSON.stringify(body));
  }
  const imp = await demo.call('POST', `/images/${img.id}/import`, { method: { name: 'glance-direct' } });
  assert.equal(imp.status, 202);
  await cloud.ctx.tasks.idle();
  shown = (await demo.call('GET', `/images/${img.id}`)).body;
  assert.equal(shown.status, 'active');
  assert.equal(shown.checksum, md5(data));
  assert.deepEqual((await demo.download(img.id)).data, data);
  const tasks = (await demo.call('GET', `/images/${img.id}/tasks`)).body.tasks;
  assert.equal(tasks.length, 1);
  assert.equal(tasks[0].status, 'success');
  assert.equal(tasks[0].request_id, imp.headers.get('x-openstack-request-id'));
  assert.equal(tasks[0].input.import_req.method.name, 'glance-direct');
  assert.equal((await demo.call('POST', `/images/${img.id}/import`, { method: { name: 'glance-direct' } })).status, 409);
  assert.equal(existsSync(join(storeDir(), 'staging', img.id)), false);
});

test('a restart puts an image whose upload died back to queued', async () => {
  const img = await admin.create({ name: 'crashed' });
  await cloud.ctx.db.run("UPDATE images SET status = 'saving', node = ? WHERE id = ?", [cloud.config.nodeId, img.id]);
  await imageService(cloud.ctx).recover();
  assert.equal((await admin.call('GET', `/images/${img.id}`)).body.status, 'queued');
});
