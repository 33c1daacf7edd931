// The in-process ImageApi Nova uses: look images up with the caller's visibility, read their
// bytes, and make snapshots (create queued in the caller's project, stream data in, delete).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { startTestCloud, login, type TestCloud } from '../testing.ts';
import type { AuthContext } from '../core/auth.ts';
import { ApiError } from '../core/errors.ts';
import { glance, type Glance } from './testing.ts';

let cloud: TestCloud;
let adminAuth: AuthContext, demoAuth: AuthContext;
let demo: Glance;

before(async () => {
  cloud = await startTestCloud();
  const a = await login(cloud), d = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  adminAuth = await cloud.ctx.tokens.validate(a.token);
  demoAuth = await cloud.ctx.tokens.validate(d.token);
  demo = glance(cloud, d);
});
after(async () => { await cloud?.close(); });

async function readAll(r: Readable) {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c);
  return Buffer.concat(parts);
}

test('snapshot flow: create queued in the caller project, upload, read back, delete', async () => {
  const api = cloud.ctx.services.image!;
  const snap = await api.create(demoAuth, {
    name: 'snap-1', visibility: 'private', properties: { image_type: 'snapshot', instance_uuid: 'f0e1d2c3-0000-4000-8000-000000000001' },
  });
  assert.equal(snap.status, 'queued');
  assert.equal(snap.owner, demoAuth.projectId);
  assert.equal(snap.properties.image_type, 'snapshot');

  const data = Buffer.alloc(300_000, 9);
  const up = await api.upload(snap.id, Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), { diskFormat: 'raw', containerFormat: 'bare' });
  assert.equal(up.status, 'active');
  assert.equal(up.size, data.length);
  assert.equal(up.checksum, createHash('md5').update(data).digest('hex'));
  assert.equal(up.osHashAlgo, 'sha512');
  assert.deepEqual(await readAll(await api.open(snap.id)), data);
  // Seen through the HTTP API the same way.
  assert.equal((await demo.call('GET', `/images/${snap.id}`)).body.checksum, up.checksum);

  // Visibility follows the caller: the owner and admins see it, null auth is the cloud itself.
  assert.equal((await api.get(snap.id, demoAuth))?.id, snap.id);
  assert.equal((await api.get(snap.id, adminAuth))?.id, snap.id);
  assert.equal((await api.get(snap.id, null))?.name, 'snap-1');

  await api.delete(snap.id);
  await api.delete(snap.id); // idempotent
  assert.equal(await api.get(snap.id, null), null);
  await assert.rejects(api.open(snap.id), (e: unknown) => e instanceof ApiError && e.status === 404);
});

test('another project does not see a private image; queued images have no data', async () => {
  const api = cloud.ctx.services.image!;
  const img = await api.create(adminAuth, { name: 'admin-only', visibility: 'private', diskFormat: 'raw', containerFormat: 'bare' });
  assert.equal(await api.get(img.id, demoAuth), null);
  await assert.rejects(api.open(img.id), (e: unknown) => e instanceof ApiError && e.status === 409);
  await assert.rejects(api.create(demoAuth, { name: 'x', visibility: 'public' }), (e: unknown) => e instanceof ApiError && e.status === 403);
  await assert.rejects(api.create(demoAuth, { name: 'x', properties: { os_glance_x: 'y' } }), (e: unknown) => e instanceof ApiError && e.status === 403);
});

test('list, property changes and delete as the caller (what Nova\'s image proxy uses)', async () => {
  const api = cloud.ctx.services.image!;
  const rejects = (p: Promise<unknown>, status: number) => assert.rejects(p, (e: unknown) => e instanceof ApiError && e.status === status);
  const mine = await api.create(demoAuth, { name: 'props', visibility: 'private', properties: { a: '1', b: '2' } });
  const theirs = await api.create(adminAuth, { name: 'theirs', visibility: 'private' });
  const pub = await api.create(adminAuth, { name: 'pub', visibility: 'public' });

  const listed = (await api.list(demoAuth, { name: 'props' })).images.map((i) => i.id);
  assert.deepEqual(listed, [mine.id]);
  const all = (await api.list(demoAuth, {})).images.map((i) => i.id);
  assert.ok(all.includes(pub.id) && !all.includes(theirs.id));
  await rejects(api.list(demoAuth, { limit: 'x' }), 400);

  let r = await api.updateProperties(mine.id, demoAuth, { set: { c: '3' }, remove: ['a', 'absent'] });
  assert.deepEqual(r.properties, { b: '2', c: '3' });
  r = await api.updateProperties(mine.id, demoAuth, { set: { d: '4' }, purge: true });
  assert.deepEqual(r.properties, { d: '4' });
  assert.equal(r.name, 'props');
  await rejects(api.updateProperties(mine.id, demoAuth, { set: { status: 'x' } }), 403);
  await rejects(api.updateProperties(mine.id, demoAuth, { remove: ['os_glance_x'] }), 403);
  await rejects(api.updateProperties(theirs.id, demoAuth, { set: { a: 'b' } }), 404);
  await rejects(api.updateProperties(pub.id, demoAuth, { set: { a: 'b' } }), 403);

  await rejects(api.deleteAs(theirs.id, demoAuth), 404);
  await rejects(api.deleteAs(pub.id, demoAuth), 403);
  await api.deleteAs(mine.id, demoAuth);
  assert.equal(await api.get(mine.id, null), null);
  await rejects(api.deleteAs(mine.id, demoAuth), 404);
});
