// Visibility and sharing across projects (admin, demo and a non-admin "alt"), as Glance's policies and database
// filters decide them: private, shared (members pending/accepted/rejected), community, public.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, type TestCloud } from '../testing.ts';
import { altProject, glance, type Glance } from './testing.ts';

let cloud: TestCloud;
let admin: Glance, demo: Glance, alt: Glance;
let adminProject: string, demoProject: string, altProjectId: string;

before(async () => {
  cloud = await startTestCloud();
  const a = await login(cloud), d = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  adminProject = a.body.token.project.id;
  demoProject = d.body.token.project.id;
  admin = glance(cloud, a);
  demo = glance(cloud, d);
  const al = await altProject(cloud, a, 'alt');
  altProjectId = al.body.token.project.id;
  alt = glance(cloud, al);
});
after(async () => { await cloud?.close(); });

const ids = async (g: Glance, q = '') => (await g.call('GET', `/images?limit=1000${q}`)).body.images.map((i: any) => i.id);

test('private images: hidden from other projects (404), visible to admins', async () => {
  const img = await demo.create({ name: 'demo-private', visibility: 'private' });
  await demo.upload(img.id, Buffer.from('secret'));
  const mine = await admin.create({ name: 'admin-private', visibility: 'private' });
  assert.equal((await demo.call('GET', `/images/${mine.id}`)).status, 404);
  assert.equal((await demo.download(mine.id)).status, 404);
  assert.equal((await demo.call('DELETE', `/images/${mine.id}`)).status, 404);
  assert.equal((await demo.patch(mine.id, [{ op: 'replace', path: '/name', value: 'x' }])).status, 404);
  assert.ok(!(await ids(demo)).includes(mine.id));
  // Admins see and may do everything.
  assert.ok((await ids(admin)).includes(img.id));
  assert.equal((await admin.download(img.id)).data.toString(), 'secret');
  assert.equal((await admin.patch(img.id, [{ op: 'add', path: '/checked', value: 'yes' }])).status, 200);
});

test('sharing: pending members see the image but do not list it until they accept', async () => {
  const img = await alt.create({ name: 'to-share' }); // shared is the default visibility
  await alt.upload(img.id, Buffer.from('shared bytes'));
  const m = await alt.call('POST', `/images/${img.id}/members`, { member: demoProject });
  assert.equal(m.status, 200);
  assert.deepEqual({ ...m.body, created_at: undefined, updated_at: undefined }, {
    member_id: demoProject, image_id: img.id, status: 'pending', schema: '/v2/schemas/member', created_at: undefined, updated_at: undefined,
  });
  assert.equal((await alt.call('POST', `/images/${img.id}/members`, { member: demoProject })).status, 409);

  assert.ok(!(await ids(demo)).includes(img.id));
  assert.deepEqual(await ids(demo, '&visibility=shared&member_status=pending'), [img.id]);
  assert.ok((await ids(demo, '&member_status=all')).includes(img.id));
  assert.equal((await demo.call('GET', `/images/${img.id}`)).status, 200);

  // Only the member decides its status; the owner cannot accept for it.
  assert.equal((await alt.call('PUT', `/images/${img.id}/members/${demoProject}`, { status: 'accepted' })).status, 403);
  assert.equal((await demo.call('PUT', `/images/${img.id}/members/${demoProject}`, { status: 'notavalidstatus' })).status, 400);
  assert.equal((await demo.call('PUT', `/images/${img.id}/members/${demoProject}`, {})).status, 400);
  assert.equal((await demo.call('PUT', `/images/${img.id}/members/${demoProject}`, ['accepted'])).status, 400);
  const acc = await demo.call('PUT', `/images/${img.id}/members/${demoProject}`, { status: 'accepted' });
  assert.equal(acc.status, 200);
  assert.equal(acc.body.status, 'accepted');
  assert.ok((await ids(demo)).includes(img.id));
  assert.equal((await demo.download(img.id)).data.toString(), 'shared bytes');
  assert.equal((await demo.call('GET', `/images/${img.id}/members/${demoProject}`)).body.status, 'accepted');

  // A member may read but not change the image, nor manage members.
  assert.equal((await demo.patch(img.id, [{ op: 'replace', path: '/name', value: 'mine now' }])).status, 403);
  assert.equal((await demo.call('DELETE', `/images/${img.id}`)).status, 403);
  assert.equal((await demo.call('POST', `/images/${img.id}/members`, { member: 'someone' })).status, 403);
  assert.equal((await demo.call('DELETE', `/images/${img.id}/members/${demoProject}`)).status, 403);

  // Member lists: the owner sees every member, a member only itself.
  await alt.call('POST', `/images/${img.id}/members`, { member: 'third-project' });
  const ownerView = (await alt.call('GET', `/images/${img.id}/members`)).body;
  assert.equal(ownerView.schema, '/v2/schemas/members');
  assert.deepEqual(ownerView.members.map((x: any) => x.member_id).sort(), [demoProject, 'third-project'].sort());
  assert.deepEqual((await demo.call('GET', `/images/${img.id}/members`)).body.members.map((x: any) => x.member_id), [demoProject]);
  assert.equal((await demo.call('GET', `/images/${img.id}/members/third-project`)).status, 404);

  const rej = await demo.call('PUT', `/images/${img.id}/members/${demoProject}`, { status: 'rejected' });
  assert.equal(rej.body.status, 'rejected');
  assert.ok(!(await ids(demo)).includes(img.id));
  assert.deepEqual(await ids(demo, '&visibility=shared&member_status=rejected'), [img.id]);

  assert.equal((await alt.call('DELETE', `/images/${img.id}/members/${demoProject}`)).status, 204);
  assert.equal((await alt.call('DELETE', `/images/${img.id}/members/${demoProject}`)).status, 404);
  assert.equal((await demo.call('GET', `/images/${img.id}`)).status, 404);
});

test('members only on shared images; bad member bodies are 400s', async () => {
  const img = await admin.create({ name: 'private-no-members', visibility: 'private' });
  assert.equal((await admin.call('POST', `/images/${img.id}/members`, { member: demoProject })).status, 403);
  assert.equal((await admin.call('GET', `/images/${img.id}/members`)).status, 403);
  const shared = await admin.create({ name: 'shared-bad-bodies' });
  for (const [body, status] of [[{}, 400], [{ member: '' }, 400], [[demoProject], 400], ['{"member": ', 400], [undefined, 400], [{ member: 5 }, 400]] as [unknown, number][]) {
    assert.equal((await admin.call('POST', `/images/${shared.id}/members`, body)).status, status, JSON.stringify(body));
  }
  assert.deepEqual((await admin.call('GET', `/images/${shared.id}/members`)).body.members, []);
  // Making a shared image private hides its members (they stay, and come back with 'shared').
  await admin.call('POST', `/images/${shared.id}/members`, { member: demoProject });
  await admin.patch(shared.id, [{ op: 'replace', path: '/visibility', value: 'private' }]);
  assert.equal((await admin.call('GET', `/images/${shared.id}/members`)).status, 403);
  assert.equal((await demo.call('GET', `/images/${shared.id}`)).status, 404);
  await admin.patch(shared.id, [{ op: 'replace', path: '/visibility', value: 'shared' }]);
  assert.equal((await admin.call('GET', `/images/${shared.id}/members`)).body.members.length, 1);
});

test('community images: visible to all, listed only when asked for (or owned)', async () => {
  const img = await demo.create({ name: 'community-img', visibility: 'community' });
  assert.equal((await admin.call('GET', `/images/${img.id}`)).status, 200);
  assert.ok((await ids(demo)).includes(img.id)); // the owner lists its own
  assert.ok(!(await ids(admin)).includes(img.id));
  assert.ok((await ids(admin, '&visibility=community')).includes(img.id));
  assert.ok((await ids(admin, '&visibility=all')).includes(img.id));
});

test('public images: only admins publish; everyone reads and downloads', async () => {
  assert.equal((await demo.call('POST', '/images', { name: 'x', visibility: 'public' })).status, 403);
  const img = await admin.create({ name: 'public-img', visibility: 'public' });
  await admin.upload(img.id, Buffer.from('for all'));
  assert.ok((await ids(demo)).includes(img.id));
  assert.deepEqual(await ids(demo, '&visibility=public&name=public-img'), [img.id]);
  assert.equal((await demo.download(img.id)).data.toString(), 'for all');
  assert.equal((await demo.patch(img.id, [{ op: 'replace', path: '/name', value: 'x' }])).status, 403);
  assert.equal((await demo.call('DELETE', `/images/${img.id}`)).status, 403);
  assert.equal((await demo.call('PUT', `/images/${img.id}/tags/x`)).status, 403);
  assert.equal((await demo.call('POST', `/images/${img.id}/actions/deactivate`)).status, 403);
  assert.equal((await demo.call('GET', `/images/${img.id}/members`)).status, 403);
  assert.equal(img.owner, adminProject);
});
