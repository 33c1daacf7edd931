// Cinder volume types over HTTP: the default type, create/show/update/delete, private types and
// their access lists, extra specs with the VMDK driver's checks, and resolveVolumeType.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { login, startTestCloud, type Session, type TestCloud } from '../testing.ts';
import type { AuthContext } from '../core/auth.ts';
import { resolveVolumeType, volumeSpecFromType } from './types.ts';

let cloud: TestCloud;
let admin: Session;
let demo: Session;
let adminProject: string;
let demoProject: string;
let altProject: string;
const v3 = (project: string, path: string) => `/volume/v3/${project}${path}`;
const A = (path: string) => v3(adminProject, path);
const D = (path: string) => v3(demoProject, path);

before(async () => {
  cloud = await startTestCloud();
  admin = await login(cloud);
  demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  adminProject = admin.body.token.project.id;
  demoProject = demo.body.token.project.id;
  const alt = await login(cloud, 'alt_demo', cloud.config.demoPassword, 'alt_demo');
  altProject = alt.body.token.project.id;
});
after(async () => { await cloud?.close(); });

async function createType(body: Record<string, unknown>) {
  const r = await admin.json('POST', A('/types'), { volume_type: body });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.volume_type;
}

const typeCount = async () => Number((await cloud.ctx.db.get('SELECT COUNT(*) AS n FROM cinder_volume_types'))!.n);

test('the default type is seeded once and shown as "default"', async () => {
  const r = await demo.json('GET', D('/types/default'));
  assert.equal(r.status, 200);
  assert.equal(r.body.volume_type.name, '__DEFAULT__');
  assert.equal(r.body.volume_type.description, 'Default Volume Type');
  assert.equal(r.body.volume_type.is_public, true);
  const list = await demo.json('GET', D('/types'));
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.volume_types.filter((t: any) => t.name === '__DEFAULT__').map((t: any) => t.id), [r.body.volume_type.id]);
  // Deleting the default type is refused.
  const del = await admin.json('DELETE', A(`/types/${r.body.volume_type.id}`));
  assert.equal(del.status, 400);
  assert.match(del.body.badRequest.message, /default volume type and cannot be deleted/);
});

test('create, show, update and delete a type', async () => {
  const t = await createType({ name: 'gold', description: 'fast disks', extra_specs: { 'vmware:vmdk_type': 'thick' } });
  assert.equal(t.name, 'gold');
  assert.equal(t.description, 'fast disks');
  assert.equal(t.is_public, true);
  assert.equal(t['os-volume-type-access:is_public'], true);
  assert.deepEqual(t.extra_specs, { 'vmware:vmdk_type': 'thick' });

  const shown = await admin.json('GET', A(`/types/${t.id}`));
  assert.equal(shown.status, 200);
  assert.deepEqual(shown.body.volume_type, { ...t, qos_specs_id: null });
  // Other projects see the type but not its (sensitive) extra specs.
  const asDemo = await demo.json('GET', D(`/types/${t.id}`));
  assert.equal(asDemo.status, 200);
  assert.deepEqual(asDemo.body.volume_type.extra_specs, {});
  assert.equal(asDemo.body.volume_type['os-volume-type-access:is_public'], true);
  assert.equal('qos_specs_id' in asDemo.body.volume_type, false);

  const dup = await admin.json('POST', A('/types'), { volume_type: { name: 'gold' } });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.conflictingRequest.message, 'Volume Type gold already exists.');

  const up = await admin.json('PUT', A(`/types/${t.id}`), { volume_type: { name: 'platinum', description: 'faster', is_public: false } });
  assert.equal(up.status, 200, JSON.stringify(up.body));
  assert.equal(up.body.volume_type.name, 'platinum');
  assert.equal(up.body.volume_type.description, 'faster');
  assert.equal(up.body.volume_type.is_public, false);

  const del = await admin.json('DELETE', A(`/types/${t.id}`));
  assert.equal(del.status, 202);
  assert.equal((await admin.json('GET', A(`/types/${t.id}`))).status, 404);
  // The name may be used again.
  await createType({ name: 'platinum' });
});

test('bad type requests are refused with a 400 and write nothing', async () => {
  const before = await typeCount();
  const cases: unknown[] = [
    { volume_type: { name: '' } },
    { volume_type: { name: '   ' } },
    { volume_type: { name: 'x'.repeat(256) } },
    { volume_type: { name: 42 } },
    { volume_type: { description: 'no name' } },
    { volume_type: { name: 'ok', bogus: 1 } },
    { volume_type: { name: 'ok', extra_specs: { 'vmware:vmdk_type': 'sparse' } } },
    { volume_type: { name: 'ok', extra_specs: { 'vmware:adapter_type': 'scsi' } } },
    { volume_type: { name: 'ok', extra_specs: { key: 7 } } },
    { volume_type: { name: 'ok', 'os-volume-type-access:is_public': 'maybe' } },
    { volume_type: 'ok' },
    { other: {} },
  ];
  for (const body of cases) {
    const r = await admin.json('POST', A('/types'), body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(typeof r.body.badRequest.message, 'string');
  }
  assert.equal(await typeCount(), before);
  // Only admins manage types.
  const r = await demo.json('POST', D('/types'), { volume_type: { name: 'mine' } });
  assert.equal(r.status, 403);
  assert.equal(await typeCount(), before);
  // An update must change something.
  const t = await createType({ name: 'upd-check' });
  assert.equal((await admin.json('PUT', A(`/types/${t.id}`), { volume_type: {} })).status, 400);
  assert.equal((await admin.json('PUT', A(`/types/${t.id}`), { volume_type: { name: '' } })).status, 400);
  assert.equal((await admin.json('PUT', A('/types/00000000-0000-0000-0000-000000000000'), { volume_type: { name: 'x' } })).status, 404);
  assert.equal((await admin.json('DELETE', A('/types/00000000-0000-0000-0000-000000000000'))).status, 404);
});

test('private types: visible to admins and to projects given access', async () => {
  const t = await createType({ name: 'private-one', 'os-volume-type-access:is_public': false });
  assert.equal(t.is_public, false);
  const hidden = await demo.json('GET', D(`/types/${t.id}`));
  assert.equal(hidden.status, 404);
  assert.equal(hidden.body.itemNotFound.message, `Volume type ${t.id} could not be found.`);
  assert.ok(!(await demo.json('GET', D('/types'))).body.volume_types.some((x: any) => x.id === t.id));

  // Admin listing: public by default, private with is_public=false, all with is_public=none.
  const ids = async (q: string) => (await admin.json('GET', A(`/types${q}`))).body.volume_types.map((x: any) => x.id);
  assert.ok(!(await ids('')).includes(t.id));
  assert.ok((await ids('?is_public=false')).includes(t.id));
  assert.ok(!(await ids('?is_public=false')).some((id: string) => id === undefined));
  assert.ok((await ids('?is_public=none')).includes(t.id));

  const access = async () => admin.json('GET', A(`/types/${t.id}/os-volume-type-access`));
  assert.deepEqual((await access()).body, { volume_type_access: [] });
  const add = await admin.json('POST', A(`/types/${t.id}/action`), { addProjectAccess: { project: demoProject } });
  assert.equal(add.status, 202);
  assert.deepEqual((await access()).body.volume_type_access, [{ volume_type_id: t.id, project_id: demoProject }]);
  const again = await admin.json('POST', A(`/types/${t.id}/action`), { addProjectAccess: { project: demoProject } });
  assert.equal(again.status, 409);

  const seen = await demo.json('GET', D(`/types/${t.id}`));
  assert.equal(seen.status, 200);
  assert.ok((await demo.json('GET', D('/types'))).body.volume_types.some((x: any) => x.id === t.id));
  // The access list itself is for admins.
  assert.equal((await demo.json('GET', D(`/types/${t.id}/os-volume-type-access`))).status, 403);
  assert.equal((await demo.json('POST', D(`/types/${t.id}/action`), { removeProjectAccess: { project: demoProject } })).status, 403);

  const rm = await admin.json('POST', A(`/types/${t.id}/action`), { removeProjectAccess: { project: demoProject } });
  assert.equal(rm.status, 202);
  assert.equal((await demo.json('GET', D(`/types/${t.id}`))).status, 404);
  assert.equal((await admin.json('POST', A(`/types/${t.id}/action`), { removeProjectAccess: { project: demoProject } })).status, 404);
  // Access lists do not apply to public types; unknown actions and bodies are 400s.
  const pub = await createType({ name: 'public-one' });
  assert.equal((await admin.json('POST', A(`/types/${pub.id}/action`), { addProjectAccess: { project: demoProject } })).status, 400);
  assert.equal((await admin.json('GET', A(`/types/${pub.id}/os-volume-type-access`))).status, 404);
  assert.equal((await admin.json('POST', A(`/types/${t.id}/action`), { frobnicate: {} })).status, 400);
  assert.equal((await admin.json('POST', A(`/types/${t.id}/action`), { addProjectAccess: {} })).status, 400);
  assert.equal((await admin.json('POST', A(`/types/${t.id}/action`), { addProjectAccess: { project: '' } })).status, 400);
});

test('extra specs: list, set, show, update, delete, and the VMDK checks', async () => {
  const t = await createType({ name: 'specs' });
  const base = A(`/types/${t.id}/extra_specs`);
  const set = await admin.json('POST', base, { extra_specs: { 'vmware:vmdk_type': 'eagerZeroedThick', 'vmware:adapter_type': 'paraVirtual', multiattach: '<is> True' } });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.deepEqual((await admin.json('GET', base)).body.extra_specs, { 'vmware:vmdk_type': 'eagerZeroedThick', 'vmware:adapter_type': 'paraVirtual', multiattach: '<is> True' });
  // Projects read only the user-visible keys.
  assert.deepEqual((await demo.json('GET', D(`/types/${t.id}/extra_specs`))).body.extra_specs, { multiattach: '<is> True' });
  assert.equal((await demo.json('GET', D(`/types/${t.id}/extra_specs/vmware:vmdk_type`))).status, 404);

  const one = await admin.json('GET', `${base}/vmware:adapter_type`);
  assert.deepEqual(one.body, { 'vmware:adapter_type': 'paraVirtual' });
  const put = await admin.json('PUT', `${base}/vmware:vmdk_type`, { 'vmware:vmdk_type': 'thin' });
  assert.equal(put.status, 200);
  assert.deepEqual(put.body, { 'vmware:vmdk_type': 'thin' });

  const before = (await admin.json('GET', base)).body.extra_specs;
  for (const [method, path, body] of [
    ['POST', base, { extra_specs: { 'vmware:vmdk_type': 'preallocated' } }],
    ['POST', base, { extra_specs: { 'vmware:adapter_type': 'nvme' } }],
    ['POST', base, { extra_specs: { 'has space': 'x' } }],
    ['POST', base, { extra_specs: 'x' }],
    ['POST', base, {}],
    ['PUT', `${base}/vmware:vmdk_type`, { 'vmware:vmdk_type': 'thickish' }],
    ['PUT', `${base}/vmware:vmdk_type`, { other: 'thin' }],
    ['PUT', `${base}/vmware:vmdk_type`, { 'vmware:vmdk_type': 'thin', other: 'x' }],
  ] as const) {
    const r = await admin.json(method, path, body);
    assert.equal(r.status, 400, `${method} ${JSON.stringify(body)} → ${r.status}`);
  }
  assert.deepEqual((await admin.json('GET', base)).body.extra_specs, before);
  assert.equal((await demo.json('POST', D(`/types/${t.id}/extra_specs`), { extra_specs: { a: 'b' } })).status, 403);

  assert.equal((await admin.json('DELETE', `${base}/multiattach`)).status, 202);
  assert.equal((await admin.json('DELETE', `${base}/multiattach`)).status, 404);
  const missing = await admin.json('GET', `${base}/multiattach`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.itemNotFound.message, `Volume Type ${t.id} has no extra specs with key multiattach.`);
  assert.equal((await admin.json('GET', A('/types/00000000-0000-0000-0000-000000000000/extra_specs'))).status, 404);
});

test('a type in use by a volume cannot be deleted nor have its specs changed', async () => {
  const t = await createType({ name: 'used', extra_specs: { 'vmware:vmdk_type': 'thick' } });
  const v = await demo.json('POST', D('/volumes'), { volume: { size: 1, volume_type: 'used' } });
  assert.equal(v.status, 202, JSON.stringify(v.body));
  await cloud.ctx.tasks.idle();
  const del = await admin.json('DELETE', A(`/types/${t.id}`));
  assert.equal(del.status, 400);
  assert.equal(del.body.badRequest.message, 'Target volume type is still in use.');
  const spec = await admin.json('POST', A(`/types/${t.id}/extra_specs`), { extra_specs: { 'vmware:vmdk_type': 'thin' } });
  assert.equal(spec.status, 400);
  assert.equal(spec.body.badRequest.message, 'Volume Type is currently in use.');
  // The thick type made a thick VMDK: its whole size is committed on the datastore.
  const inv = await admin.json('GET', '/simulator/inventory');
  const file = inv.body.files.find((f: any) => f.path.endsWith(`volume-${v.body.volume.id}.vmdk`));
  assert.ok(file, 'the volume VMDK exists');
  assert.equal(file.committed, 1024 ** 3);
});

test('resolveVolumeType: by id or name, the default for none, 404 for hidden private types', async () => {
  const auth = (projectId: string, roles = ['member', 'reader']) => ({ projectId, roles, userId: 'u' }) as unknown as AuthContext;
  const t = await createType({ name: 'resolve-private', 'os-volume-type-access:is_public': false, extra_specs: { 'vmware:storage_profile': 'gold' } });
  await admin.json('POST', A(`/types/${t.id}/action`), { addProjectAccess: { project: demoProject } });
  const db = cloud.ctx.db;
  assert.equal((await resolveVolumeType(db, auth(demoProject), null)).name, '__DEFAULT__');
  assert.equal((await resolveVolumeType(db, auth(demoProject), undefined)).name, '__DEFAULT__');
  assert.equal((await resolveVolumeType(db, auth(demoProject), 'resolve-private')).id, t.id);
  assert.deepEqual((await resolveVolumeType(db, auth(demoProject), t.id)).extraSpecs, { 'vmware:storage_profile': 'gold' });
  assert.equal((await resolveVolumeType(db, auth(adminProject, ['admin']), t.id)).id, t.id);
  await assert.rejects(resolveVolumeType(db, auth(altProject), t.id), (e: any) => e.status === 404 && e.message === `Volume type with name ${t.id} could not be found.`);
  await assert.rejects(resolveVolumeType(db, auth(demoProject), 'nope'), (e: any) => e.status === 404 && e.message === 'Volume type with name nope could not be found.');
});

test('volumeSpecFromType reads the vmware: extra specs with the driver defaults', () => {
  assert.deepEqual(volumeSpecFromType({}), { vmdkType: 'thin', adapterType: 'lsiLogic', storageProfile: null });
  assert.deepEqual(volumeSpecFromType({ 'vmware:vmdk_type': 'eagerZeroedThick', 'vmware:adapter_type': 'ide', 'vmware:storage_profile': 'gold' }),
    { vmdkType: 'eagerZeroedThick', adapterType: 'ide', storageProfile: 'gold' });
});

test('type lists page with limit and marker', async () => {
  for (const n of ['page-a', 'page-b', 'page-c']) await createType({ name: n });
  const all = (await admin.json('GET', A('/types?sort=name:asc'))).body.volume_types.map((t: any) => t.name);
  const p1 = await admin.json('GET', A('/types?sort=name:asc&limit=2'));
  assert.deepEqual(p1.body.volume_types.map((t: any) => t.name), all.slice(0, 2));
  assert.equal(p1.body.volume_type_links[0].rel, 'next');
  const p2 = await admin.json('GET', A(`/types?sort=name:asc&limit=2&marker=${p1.body.volume_types[1].id}`));
  assert.deepEqual(p2.body.volume_types.map((t: any) => t.name), all.slice(2, 4));
  assert.equal((await admin.json('GET', A('/types?limit=x'))).status, 400);
  assert.equal((await admin.json('GET', A('/types?sort=bogus:asc'))).status, 400);
});

test('encryption specs of a type: create, show, item, update, delete; refused while in use', async () => {
  const t = await createType({ name: 'encrypted' });
  const base = A(`/types/${t.id}/encryption`);
  assert.deepEqual((await admin.json('GET', base)).body, {});
  for (const body of [
    { encryption: { provider: 'luks' } },
    { encryption: { control_location: 'front-end' } },
    { encryption: { provider: 'luks', control_location: 'middle' } },
    { encryption: { provider: 'luks', control_location: 'front-end', key_size: 'big' } },
    { encryption: 'luks' },
    {},
  ]) {
    assert.equal((await admin.json('POST', base, body)).status, 400, JSON.stringify(body));
  }
  assert.deepEqual((await admin.json('GET', base)).body, {});
  assert.equal((await demo.json('POST', D(`/types/${t.id}/encryption`), { encryption: { provider: 'luks', control_location: 'front-end' } })).status, 403);

  const c = await admin.json('POST', base, { encryption: { provider: 'luks', cipher: 'aes-xts-plain64', key_size: 256, control_location: 'front-end' } });
  assert.equal(c.status, 200, JSON.stringify(c.body));
  assert.equal(c.body.encryption.volume_type_id, t.id);
  assert.equal(c.body.encryption.key_size, 256);
  const shown = (await admin.json('GET', base)).body;
  assert.equal(shown.encryption_id, c.body.encryption.encryption_id);
  assert.equal(shown.provider, 'luks');
  assert.equal(shown.control_location, 'front-end');
  assert.deepEqual((await admin.json('GET', `${base}/cipher`)).body, { cipher: 'aes-xts-plain64' });
  assert.equal((await admin.json('GET', `${base}/nope`)).status, 404);
  assert.equal((await admin.json('POST', base, { encryption: { provider: 'luks', control_location: 'front-end' } })).status, 400);

  // No volume of an encrypted type can be made here (there is no key manager).
  const v = await demo.json('POST', D('/volumes'), { volume: { size: 1, volume_type: 'encrypted' } });
  assert.equal(v.status, 400);
  assert.match(v.body.badRequest.message, /encrypted volumes are not supported/);

  const u = await admin.json('PUT', `${base}/provider`, { encryption: { key_size: 128, control_location: 'back-end' } });
  assert.equal(u.status, 200);
  assert.deepEqual(u.body, { encryption: { key_size: 128, control_location: 'back-end' } });
  const after = (await admin.json('GET', base)).body;
  assert.equal(after.key_size, 128);
  assert.equal(after.provider, 'luks');

  assert.equal((await admin.json('DELETE', `${base}/provider`)).status, 202);
  assert.deepEqual((await admin.json('GET', base)).body, {});
  assert.equal((await admin.json('DELETE', `${base}/provider`)).status, 404);
  assert.equal((await admin.json('GET', A('/types/00000000-0000-0000-0000-000000000000/encryption'))).status, 404);
});
