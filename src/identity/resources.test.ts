// Domains, projects (hierarchy, tags), users, groups, roles and implied roles, regions, services
// and endpoints through HTTP: CRUD, Keystone's filters, bad input on every route (400 in
// Keystone's format), unknown ids (404), duplicates (409), and nothing half-written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, type TestCloud, type Session } from '../testing.ts';

let cloud: TestCloud;
let admin: Session;
const V3 = '/identity/v3';

before(async () => {
  cloud = await startTestCloud();
  admin = await login(cloud, 'admin');
});
after(async () => { await cloud?.close(); });

function isKeystoneError(body: any, code: number) {
  assert.equal(body?.error?.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string');
  assert.equal(typeof body.error.title, 'string');
}

async function expectStatus(method: string, path: string, body: unknown, status: number) {
  const r = await admin.json(method, path, body);
  assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)} -> ${JSON.stringify(r.body)}`);
  if (status >= 400) isKeystoneError(r.body, status);
  return r;
}

test('bootstrap: Default domain, roles with implications, admin/demo accounts, region and catalog', async () => {
  const d = await admin.json('GET', `${V3}/domains/default`);
  assert.equal(d.body.domain.name, 'Default');
  const roles = (await admin.json('GET', `${V3}/roles`)).body.roles.map((r: any) => r.name).sort();
  for (const r of ['admin', 'member', 'reader', 'service']) assert.ok(roles.includes(r));
  const inf = (await admin.json('GET', `${V3}/role_inferences`)).body.role_inferences;
  const pairs = inf.flatMap((i: any) => i.implies.map((x: any) => `${i.prior_role.name}>${x.name}`)).sort();
  assert.deepEqual(pairs, ['admin>member', 'member>reader']);
  const users = (await admin.json('GET', `${V3}/users`)).body.users.map((u: any) => u.name);
  for (const u of ['admin', 'demo']) assert.ok(users.includes(u));
  assert.equal((await admin.json('GET', `${V3}/regions/${cloud.config.region}`)).status, 200);
  const services = (await admin.json('GET', `${V3}/services`)).body.services.map((s: any) => s.type).sort();
  for (const t of ['compute', 'identity', 'image']) assert.ok(services.includes(t));
  // The bootstrap roles are immutable.
  const adminRole = (await admin.json('GET', `${V3}/roles?name=admin`)).body.roles[0];
  assert.deepEqual(adminRole.options, { immutable: true });
  await expectStatus('DELETE', `${V3}/roles/${adminRole.id}`, undefined, 403);
  await expectStatus('PATCH', `${V3}/roles/${adminRole.id}`, { role: { name: 'boss' } }, 403);
});

test('projects: create, show, list filters, update, hierarchy, delete', async () => {
  const p = await expectStatus('POST', `${V3}/projects`, { project: { name: 'proj-a', description: 'A', extra_field: 'kept' } }, 201);
  const a = p.body.project;
  assert.equal(a.domain_id, 'default');
  assert.equal(a.parent_id, 'default', 'top-level projects have their domain as parent');
  assert.equal(a.is_domain, false);
  assert.equal(a.enabled, true);
  assert.equal(a.extra_field, 'kept');
  assert.equal(a.links.self, `${cloud.url}${V3}/projects/${a.id}`);
  await expectStatus('POST', `${V3}/projects`, { project: { name: 'proj-a' } }, 409);
  const child = (await expectStatus('POST', `${V3}/projects`, { project: { name: 'proj-a-child', parent_id: a.id } }, 201)).body.project;
  assert.equal(child.parent_id, a.id);
  assert.equal(child.domain_id, 'default');
  const grandchild = (await expectStatus('POST', `${V3}/projects`, { project: { name: 'proj-a-gc', parent_id: child.id, enabled: false } }, 201)).body.project;

  const byName = await admin.json('GET', `${V3}/projects?name=proj-a`);
  assert.deepEqual(byName.body.projects.map((x: any) => x.id), [a.id]);
  const byParent = await admin.json('GET', `${V3}/projects?parent_id=${a.id}`);
  assert.deepEqual(byParent.body.projects.map((x: any) => x.id), [child.id]);
  const disabled = await admin.json('GET', `${V3}/projects?enabled=false`);
  assert.deepEqual(disabled.body.projects.map((x: any) => x.id), [grandchild.id]);
  assert.ok(byName.body.links.self.startsWith(`${cloud.url}${V3}/projects`));

  const sub = await admin.json('GET', `${V3}/projects/${a.id}?subtree_as_ids`);
  assert.deepEqual(sub.body.project.subtree, { [child.id]: { [grandchild.id]: null } });
  const parents = await admin.json('GET', `${V3}/projects/${grandchild.id}?parents_as_ids`);
  assert.deepEqual(parents.body.project.parents, { [child.id]: { [a.id]: null } });
  const subList = await admin.json('GET', `${V3}/projects/${a.id}?subtree_as_list`);
  assert.deepEqual(subList.body.project.subtree.map((x: any) => x.project.id).sort(), [child.id, grandchild.id].sort());
  await expectStatus('GET', `${V3}/projects/${a.id}?subtree_as_list&subtree_as_ids`, undefined, 400);

  const upd = await expectStatus('PATCH', `${V3}/projects/${a.id}`, { project: { description: 'B', name: 'proj-a2' } }, 200);
  assert.equal(upd.body.project.description, 'B');
  assert.equal(upd.body.project.name, 'proj-a2');
  assert.equal(upd.body.project.extra_field, 'kept');
  await expectStatus('PATCH', `${V3}/projects/${a.id}`, { project: { domain_id: 'other' } }, 400);
  await expectStatus('PATCH', `${V3}/projects/${child.id}`, { project: { parent_id: 'default' } }, 403);
  // A project with enabled children cannot be disabled; a non-leaf cannot be deleted.
  await expectStatus('PATCH', `${V3}/projects/${a.id}`, { project: { enabled: false } }, 403);
  await expectStatus('DELETE', `${V3}/projects/${a.id}`, undefined, 403);
  await expectStatus('DELETE', `${V3}/projects/${grandchild.id}`, undefined, 204);
  await expectStatus('DELETE', `${V3}/projects/${grandchild.id}`, undefined, 404);
  const gc2 = (await expectStatus('POST', `${V3}/projects`, { project: { name: 'proj-a-gc2', parent_id: child.id, enabled: false } }, 201)).body.project;
  // cascade deletes a subtree once every project below the root is disabled.
  await expectStatus('DELETE', `${V3}/projects/${a.id}?cascade`, undefined, 403);
  await expectStatus('PATCH', `${V3}/projects/${child.id}`, { project: { enabled: false } }, 200);
  await expectStatus('DELETE', `${V3}/projects/${a.id}?cascade`, undefined, 204);
  await expectStatus('GET', `${V3}/projects/${a.id}`, undefined, 404);
  await expectStatus('GET', `${V3}/projects/${child.id}`, undefined, 404);
  await expectStatus('GET', `${V3}/projects/${gc2.id}`, undefined, 404);
});

test('projects: bad input', async () => {
  const bad: unknown[] = [
    {}, { project: {} }, { project: { name: '' } }, { project: { name: 'x'.repeat(65) } }, { project: { name: '   ' } },
    { project: { name: 5 } }, { project: { name: 'ok', enabled: 'true' } }, { project: { name: 'ok', description: 3 } },
    { project: { name: 'ok', tags: ['a', 'a'] } }, { project: { name: 'ok', tags: ['a/b'] } }, { project: { name: 'ok', tags: 'a' } },
    { project: { name: 'ok', options: { nonsense: true } } }, { project: 'x' }, [],
  ];
  for (const b of bad) await expectStatus('POST', `${V3}/projects`, b, 400);
  await expectStatus('POST', `${V3}/projects`, '{"project": ', 400);
  await expectStatus('POST', `${V3}/projects`, { project: { name: 'ok', domain_id: 'nosuchdomain' } }, 404);
  await expectStatus('POST', `${V3}/projects`, { project: { name: 'ok', parent_id: 'nosuchproject' } }, 404);
  // Nothing was written.
  const list = await admin.json('GET', `${V3}/projects?name=ok`);
  assert.deepEqual(list.body.projects, []);
  await expectStatus('PATCH', `${V3}/projects/nope`, { project: { name: 'x' } }, 404);
  const p = (await expectStatus('POST', `${V3}/projects`, { project: { name: 'patchme' } }, 201)).body.project;
  await expectStatus('PATCH', `${V3}/projects/${p.id}`, { project: {} }, 400);
  await expectStatus('PATCH', `${V3}/projects/${p.id}`, { project: { enabled: 1 } }, 400);
  await expectStatus('PATCH', `${V3}/projects/${p.id}`, {}, 400);
});

test('project tags', async () => {
  const p = (await expectStatus('POST', `${V3}/projects`, { project: { name: 'tagged', tags: ['one', 'two'] } }, 201)).body.project;
  assert.deepEqual(p.tags, ['one', 'two']);
  assert.deepEqual((await admin.json('GET', `${V3}/projects/${p.id}/tags`)).body.tags, ['one', 'two']);
  assert.equal((await admin.request('PUT', `${V3}/projects/${p.id}/tags/three`)).status, 201);
  assert.equal((await admin.request('HEAD', `${V3}/projects/${p.id}/tags/three`)).status, 204);
  assert.equal((await admin.request('GET', `${V3}/projects/${p.id}/tags/four`)).status, 404);
  const any = await admin.json('GET', `${V3}/projects?tags-any=three,zzz`);
  assert.deepEqual(any.body.projects.map((x: any) => x.id), [p.id]);
  const all = await admin.json('GET', `${V3}/projects?tags=one,three`);
  assert.deepEqual(all.body.projects.map((x: any) => x.id), [p.id]);
  const not = await admin.json('GET', `${V3}/projects?not-tags=one`);
  assert.ok(!not.body.projects.some((x: any) => x.id === p.id));
  const put = await admin.json('PUT', `${V3}/projects/${p.id}/tags`, { tags: ['x', 'y'] });
  assert.deepEqual(put.body.tags, ['x', 'y']);
  await expectStatus('PUT', `${V3}/projects/${p.id}/tags`, { tags: ['x', 'x'] }, 400);
  await expectStatus('PUT', `${V3}/projects/${p.id}/tags`, { tags: 'x' }, 400);
  assert.equal((await admin.request('DELETE', `${V3}/projects/${p.id}/tags/x`)).status, 204);
  assert.equal((await admin.request('DELETE', `${V3}/projects/${p.id}/tags/x`)).status, 404);
  assert.equal((await admin.request('DELETE', `${V3}/projects/${p.id}/tags`)).status, 204);
  assert.deepEqual((await admin.json('GET', `${V3}/projects/${p.id}`)).body.project.tags, []);
});

test('domains: create, list, disable before delete, cascade, projects acting as domains', async () => {
  const d = (await expectStatus('POST', `${V3}/domains`, { domain: { name: 'dom-1', description: 'first' } }, 201)).body.domain;
  assert.equal(d.enabled, true);
  await expectStatus('POST', `${V3}/domains`, { domain: { name: 'dom-1' } }, 409);
  for (const b of [{ domain: {} }, { domain: { name: '' } }, { domain: { name: 'y'.repeat(65) } }, { domain: { name: 'z', enabled: 'no' } }]) {
    await expectStatus('POST', `${V3}/domains`, b, 400);
  }
  const p = (await expectStatus('POST', `${V3}/projects`, { project: { name: 'in-dom', domain_id: d.id } }, 201)).body.project;
  const u = (await expectStatus('POST', `${V3}/users`, { user: { name: 'in-dom-user', domain_id: d.id } }, 201)).body.user;
  const g = (await expectStatus('POST', `${V3}/groups`, { group: { name: 'in-dom-group', domain_id: d.id } }, 201)).body.group;
  const byName = await admin.json('GET', `${V3}/domains?name=dom-1`);
  assert.deepEqual(byName.body.domains.map((x: any) => x.id), [d.id]);
  await expectStatus('DELETE', `${V3}/domains/${d.id}`, undefined, 403);
  await expectStatus('PATCH', `${V3}/domains/${d.id}`, { domain: { enabled: false } }, 200);
  const enabledOnly = await admin.json('GET', `${V3}/domains?enabled=true`);
  assert.ok(!enabledOnly.body.domains.some((x: any) => x.id === d.id));
  await expectStatus('DELETE', `${V3}/domains/${d.id}`, undefined, 204);
  for (const path of [`domains/${d.id}`, `projects/${p.id}`, `users/${u.id}`, `groups/${g.id}`]) await expectStatus('GET', `${V3}/${path}`, undefined, 404);
  await expectStatus('DELETE', `${V3}/domains/${d.id}`, undefined, 404);

  // is_domain projects are domains.
  const asProject = (await expectStatus('POST', `${V3}/projects`, { project: { name: 'dom-as-proj', is_domain: true } }, 201)).body.project;
  assert.equal(asProject.is_domain, true);
  assert.equal(asProject.domain_id, null);
  assert.equal((await admin.json('GET', `${V3}/domains/${asProject.id}`)).body.domain.name, 'dom-as-proj');
  const listed = await admin.json('GET', `${V3}/projects?is_domain=true`);
  assert.ok(listed.body.projects.some((x: any) => x.id === asProject.id));
  assert.ok(!(await admin.json('GET', `${V3}/projects`)).body.projects.some((x: any) => x.id === asProject.id));
  await expectStatus('PATCH', `${V3}/projects/${asProject.id}`, { project: { enabled: false } }, 200);
  await expectStatus('DELETE', `${V3}/projects/${asProject.id}`, undefined, 204);
});

test('users: create with password and extras, filters, update, delete, groups and projects of a user', async () => {
  const p = (await expectStatus('POST', `${V3}/projects`, { project: { name: 'users-proj' } }, 201)).body.project;
  const u = (await expectStatus('POST', `${V3}/users`, {
    user: { name: 'alice', password: 'pw', email: 'alice@example.org', description: 'Alice', default_project_id: p.id },
  }, 201)).body.user;
  assert.equal(u.email, 'alice@example.org');
  assert.equal(u.description, 'Alice');
  assert.equal(u.default_project_id, p.id);
  assert.equal(u.password, undefined);
  assert.equal(u.password_expires_at, null);
  assert.equal(u.domain_id, 'default');
  await expectStatus('POST', `${V3}/users`, { user: { name: 'alice' } }, 409);
  for (const b of [{ user: {} }, { user: { name: '' } }, { user: { name: 'b', enabled: 'yes' } }, { user: { name: 'b', password: 5 } },
    { user: { name: 'b', options: { bogus: true } } }, { user: { name: 'b', default_project_id: 'default' } }, { users: { name: 'b' } }]) {
    await expectStatus('POST', `${V3}/users`, b, 400);
  }
  await expectStatus('POST', `${V3}/users`, { user: { name: 'b', domain_id: 'nosuchdomain' } }, 404);
  assert.equal((await admin.json('GET', `${V3}/users?name=b`)).body.users.length, 0);

  assert.deepEqual((await admin.json('GET', `${V3}/users?name=alice`)).body.users.map((x: any) => x.id), [u.id]);
  const upd = await expectStatus('PATCH', `${V3}/users/${u.id}`, { user: { email: 'a@b.c', enabled: false } }, 200);
  assert.equal(upd.body.user.email, 'a@b.c');
  assert.equal(upd.body.user.description, 'Alice');
  assert.deepEqual((await admin.json('GET', `${V3}/users?enabled=false`)).body.users.map((x: any) => x.id), [u.id]);
  await expectStatus('PATCH', `${V3}/users/${u.id}`, { user: { domain_id: 'x' } }, 400);
  await expectStatus('PATCH', `${V3}/users/nope`, { user: { email: 'x' } }, 404);
  await expectStatus('PATCH', `${V3}/users/${u.id}`, { user: { enabled: true, password: 'pw2' } }, 200);
  const s = await login(cloud, 'alice', 'pw2', null);
  assert.equal(s.body.token.user.id, u.id);

  const g = (await expectStatus('POST', `${V3}/groups`, { group: { name: 'g-users' } }, 201)).body.group;
  assert.equal((await admin.request('PUT', `${V3}/groups/${g.id}/users/${u.id}`)).status, 204);
  assert.deepEqual((await admin.json('GET', `${V3}/users/${u.id}/groups`)).body.groups.map((x: any) => x.id), [g.id]);
  const member = (await admin.json('GET', `${V3}/roles?name=member`)).body.roles[0];
  await admin.request('PUT', `${V3}/projects/${p.id}/groups/${g.id}/roles/${member.id}`);
  assert.deepEqual((await admin.json('GET', `${V3}/users/${u.id}/projects`)).body.projects.map((x: any) => x.id), [p.id]);
  // The user may list its own projects; another user may not.
  assert.equal((await s.json('GET', `${V3}/users/${u.id}/projects`)).status, 200);
  const demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  assert.equal((await demo.json('GET', `${V3}/users/${u.id}/projects`)).status, 403);

  await expectStatus('DELETE', `${V3}/users/${u.id}`, undefined, 204);
  await expectStatus('DELETE', `${V3}/users/${u.id}`, undefined, 404);
  assert.deepEqual((await admin.json('GET', `${V3}/groups/${g.id}/users`)).body.users, []);
});

test('groups: CRUD and membership', async () => {
  const g = (await expectStatus('POST', `${V3}/groups`, { group: { name: 'grp', description: 'd' } }, 201)).body.group;
  await expectStatus('POST', `${V3}/groups`, { group: { name: 'grp' } }, 409);
  await expectStatus('POST', `${V3}/groups`, { group: { name: 3 } }, 400);
  const u = (await expectStatus('POST', `${V3}/users`, { user: { name: 'grp-user' } }, 201)).body.user;
  assert.equal((await admin.request('HEAD', `${V3}/groups/${g.id}/users/${u.id}`)).status, 404);
  assert.equal((await admin.request('PUT', `${V3}/groups/${g.id}/users/${u.id}`)).status, 204);
  assert.equal((await admin.request('PUT', `${V3}/groups/${g.id}/users/${u.id}`)).status, 204, 'idempotent');
  assert.equal((await admin.request('HEAD', `${V3}/groups/${g.id}/users/${u.id}`)).status, 204);
  assert.equal((await admin.request('PUT', `${V3}/groups/${g.id}/users/nope`)).status, 404);
  assert.equal((await admin.request('PUT', `${V3}/groups/nope/users/${u.id}`)).status, 404);
  assert.deepEqual((await admin.json('GET', `${V3}/groups/${g.id}/users`)).body.users.map((x: any) => x.id), [u.id]);
  const upd = await expectStatus('PATCH', `${V3}/groups/${g.id}`, { group: { name: 'grp2' } }, 200);
  assert.equal(upd.body.group.description, 'd');
  assert.deepEqual((await admin.json('GET', `${V3}/groups?name=grp2`)).body.groups.map((x: any) => x.id), [g.id]);
  assert.equal((await admin.request('DELETE', `${V3}/groups/${g.id}/users/${u.id}`)).status, 204);
  assert.equal((await admin.request('DELETE', `${V3}/groups/${g.id}/users/${u.id}`)).status, 404);
  await expectStatus('DELETE', `${V3}/groups/${g.id}`, undefined, 204);
  await expectStatus('GET', `${V3}/groups/${g.id}`, undefined, 404);
});

test('roles and implied roles, domain-specific roles', async () => {
  const a = (await expectStatus('POST', `${V3}/roles`, { role: { name: 'r-a', description: 'A' } }, 201)).body.role;
  const b = (await expectStatus('POST', `${V3}/roles`, { role: { name: 'r-b' } }, 201)).body.role;
  await expectStatus('POST', `${V3}/roles`, { role: { name: 'r-a' } }, 409);
  await expectStatus('POST', `${V3}/roles`, { role: {} }, 400);
  await expectStatus('POST', `${V3}/roles`, { role: { name: 'x'.repeat(256) } }, 400);
  assert.equal((await admin.json('GET', `${V3}/roles/${a.id}`)).body.role.description, 'A');
  const put = await expectStatus('PUT', `${V3}/roles/${a.id}/implies/${b.id}`, undefined, 201);
  assert.equal(put.body.role_inference.prior_role.id, a.id);
  assert.equal(put.body.role_inference.implies.id, b.id);
  assert.equal((await admin.request('HEAD', `${V3}/roles/${a.id}/implies/${b.id}`)).status, 204);
  assert.equal((await admin.json('GET', `${V3}/roles/${a.id}/implies/${b.id}`)).status, 200);
  assert.deepEqual((await admin.json('GET', `${V3}/roles/${a.id}/implies`)).body.role_inference.implies.map((x: any) => x.id), [b.id]);
  await expectStatus('PUT', `${V3}/roles/${b.id}/implies/${a.id}`, undefined, 409);
  await expectStatus('PUT', `${V3}/roles/${a.id}/implies/nope`, undefined, 404);
  assert.equal((await admin.request('HEAD', `${V3}/roles/${b.id}/implies/${a.id}`)).status, 404);
  assert.equal((await admin.request('DELETE', `${V3}/roles/${a.id}/implies/${b.id}`)).status, 204);
  assert.equal((await admin.request('DELETE', `${V3}/roles/${a.id}/implies/${b.id}`)).status, 404);

  const dr = (await expectStatus('POST', `${V3}/roles`, { role: { name: 'r-a', domain_id: 'default' } }, 201)).body.role;
  assert.equal(dr.domain_id, 'default');
  assert.ok(!(await admin.json('GET', `${V3}/roles`)).body.roles.some((r: any) => r.id === dr.id), 'global list excludes domain roles');
  assert.deepEqual((await admin.json('GET', `${V3}/roles?domain_id=default`)).body.roles.map((r: any) => r.id), [dr.id]);
  await expectStatus('PUT', `${V3}/roles/${a.id}/implies/${dr.id}`, undefined, 403);
  await expectStatus('PUT', `${V3}/roles/${dr.id}/implies/${a.id}`, undefined, 201);
  const upd = await expectStatus('PATCH', `${V3}/roles/${a.id}`, { role: { name: 'r-a2' } }, 200);
  assert.equal(upd.body.role.name, 'r-a2');
  await expectStatus('DELETE', `${V3}/roles/${a.id}`, undefined, 204);
  await expectStatus('GET', `${V3}/roles/${a.id}`, undefined, 404);
  assert.deepEqual((await admin.json('GET', `${V3}/roles/${dr.id}/implies`)).body.role_inference.implies, [], 'inferences go with the role');
});

test('regions, services and endpoints', async () => {
  const r = (await expectStatus('POST', `${V3}/regions`, { region: { id: 'RegionTwo', description: 'two' } }, 201)).body.region;
  assert.equal(r.id, 'RegionTwo');
  await expectStatus('POST', `${V3}/regions`, { region: { id: 'RegionTwo' } }, 409);
  const child = (await expectStatus('PUT', `${V3}/regions/RegionTwoChild`, { region: { parent_region_id: 'RegionTwo' } }, 201)).body.region;
  assert.equal(child.parent_region_id, 'RegionTwo');
  await expectStatus('PATCH', `${V3}/regions/RegionTwo`, { region: { parent_region_id: 'RegionTwoChild' } }, 400);
  await expectStatus('POST', `${V3}/regions`, { region: { parent_region_id: 'nope' } }, 404);
  assert.deepEqual((await admin.json('GET', `${V3}/regions?parent_region_id=RegionTwo`)).body.regions.map((x: any) => x.id), ['RegionTwoChild']);

  const s = (await expectStatus('POST', `${V3}/services`, { service: { type: 'object-store', name: 'swift', description: 'objects' } }, 201)).body.service;
  assert.equal(s.enabled, true);
  await expectStatus('POST', `${V3}/services`, { service: { name: 'no-type' } }, 400);
  assert.deepEqual((await admin.json('GET', `${V3}/services?type=object-store`)).body.services.map((x: any) => x.id), [s.id]);
  const e = (await expectStatus('POST', `${V3}/endpoints`, {
    endpoint: { service_id: s.id, interface: 'public', url: 'http://objects.example/v1/AUTH_$(project_id)s', region_id: 'RegionTwoChild' },
  }, 201)).body.endpoint;
  assert.equal(e.region, 'RegionTwoChild');
  for (const b of [
    { endpoint: { service_id: s.id, interface: 'sideways', url: 'http://x' } },
    { endpoint: { service_id: s.id, interface: 'public', url: 'not a url' } },
    { endpoint: { service_id: s.id, interface: 'public', url: 'http://x', enabled: 'False' } },
    { endpoint: { interface: 'public', url: 'http://x' } },
  ]) await expectStatus('POST', `${V3}/endpoints`, b, 400);
  await expectStatus('POST', `${V3}/endpoints`, { endpoint: { service_id: 'nope', interface: 'public', url: 'http://x' } }, 404);
  await expectStatus('PATCH', `${V3}/endpoints/${e.id}`, { endpoint: { enabled: 'True' } }, 400);
  // An unknown region named by an endpoint is created, as Keystone does.
  await expectStatus('POST', `${V3}/endpoints`, { endpoint: { service_id: s.id, interface: 'internal', url: 'http://x', region: 'AutoRegion' } }, 201);
  assert.equal((await admin.json('GET', `${V3}/regions/AutoRegion`)).status, 200);
  assert.deepEqual((await admin.json('GET', `${V3}/endpoints?service_id=${s.id}&interface=public`)).body.endpoints.map((x: any) => x.id), [e.id]);
  await expectStatus('GET', `${V3}/endpoints?interface=bogus`, undefined, 400);

  // The catalog of a new token shows it, with the project id substituted.
  const fresh = await login(cloud, 'admin');
  const objects = fresh.body.token.catalog.find((x: any) => x.type === 'object-store');
  const pub = objects.endpoints.find((x: any) => x.interface === 'public');
  assert.equal(pub.url, `http://objects.example/v1/AUTH_${fresh.body.token.project.id}`);
  // Regions with endpoints cannot go.
  await expectStatus('DELETE', `${V3}/regions/RegionTwo`, undefined, 403);
  await expectStatus('DELETE', `${V3}/services/${s.id}`, undefined, 204);
  await expectStatus('GET', `${V3}/endpoints/${e.id}`, undefined, 404, );
  await expectStatus('DELETE', `${V3}/regions/RegionTwo`, undefined, 204);
  await expectStatus('GET', `${V3}/regions/RegionTwoChild`, undefined, 404);
  const later = await login(cloud, 'admin');
  assert.ok(!later.body.token.catalog.some((x: any) => x.type === 'object-store'));
});

test('policy: members and readers', async () => {
  const demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  const demoProject = demo.body.token.project.id;
  // A member cannot list users or create projects, but sees its own project.
  for (const [m, p, b] of [
    ['GET', `${V3}/users`, undefined], ['POST', `${V3}/projects`, { project: { name: 'nope' } }],
    ['GET', `${V3}/projects`, undefined], ['POST', `${V3}/roles`, { role: { name: 'nope' } }],
    ['GET', `${V3}/role_assignments`, undefined], ['POST', `${V3}/domains`, { domain: { name: 'x' } }],
    ['GET', `${V3}/services`, undefined], ['DELETE', `${V3}/projects/${demoProject}`, undefined],
    ['POST', `${V3}/projects`, { project: 'malformed' }],
  ] as Array<[string, string, unknown]>) {
    const r = await demo.json(m, p, b);
    assert.equal(r.status, 403, `${m} ${p}`);
    isKeystoneError(r.body, 403);
  }
  assert.equal((await demo.json('GET', `${V3}/projects/${demoProject}`)).status, 200);
  assert.equal((await demo.json('GET', `${V3}/users/${demo.body.token.user.id}`)).status, 200);
  assert.equal((await demo.json('GET', `${V3}/users/${admin.body.token.user.id}`)).status, 403);
  assert.equal((await demo.json('GET', `${V3}/regions`)).status, 200, 'regions are readable by anyone');
  // A system reader can read everything and write nothing.
  const reader = (await expectStatus('POST', `${V3}/users`, { user: { name: 'auditor', password: 'pw' } }, 201)).body.user;
  const readerRole = (await admin.json('GET', `${V3}/roles?name=reader`)).body.roles[0];
  assert.equal((await admin.request('PUT', `${V3}/system/users/${reader.id}/roles/${readerRole.id}`)).status, 204);
  const r = await fetch(`${cloud.url}${V3}/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { id: reader.id, password: 'pw' } } }, scope: { system: { all: true } } } }),
  });
  assert.equal(r.status, 201);
  const { session } = await import('../testing.ts');
  const sys = session(cloud, r.headers.get('x-subject-token')!);
  assert.equal((await sys.json('GET', `${V3}/users`)).status, 200);
  assert.equal((await sys.json('GET', `${V3}/projects`)).status, 200);
  assert.equal((await sys.json('GET', `${V3}/role_assignments`)).status, 200);
  assert.equal((await sys.json('POST', `${V3}/projects`, { project: { name: 'nope' } })).status, 403);
  assert.equal((await sys.json('PATCH', `${V3}/users/${reader.id}`, { user: { email: 'x' } })).status, 403);
  assert.equal((await sys.json('DELETE', `${V3}/projects/${demoProject}`)).status, 403);
});
