// Role grants (users and groups on projects, domains and the system; OS-INHERIT) and
// GET /v3/role_assignments with its filters, effective mode, include_names and include_subtree.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, type TestCloud, type Session } from '../testing.ts';

let cloud: TestCloud;
let admin: Session;
const V3 = '/identity/v3';
let roles: Record<string, string>;

before(async () => {
  cloud = await startTestCloud();
  admin = await login(cloud, 'admin');
  roles = Object.fromEntries((await admin.json('GET', `${V3}/roles`)).body.roles.map((r: any) => [r.name, r.id]));
});
after(async () => { await cloud?.close(); });

async function create(kind: string, body: Record<string, unknown>): Promise<any> {
  const r = await admin.json('POST', `${V3}/${kind}s`, { [kind]: body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body[kind];
}
const put = async (path: string) => assert.equal((await admin.request('PUT', `${V3}${path}`)).status, 204, path);
const list = async (qs: string) => {
  const r = await admin.json('GET', `${V3}/role_assignments?${qs}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.role_assignments as any[];
};
/** user|project|role triples, sorted, to compare sets. */
const triples = (as: any[]) => as.map((a) => `${a.user?.id ?? 'g:' + a.group?.id}|${a.scope.project?.id ?? a.scope.domain?.id ?? 'system'}|${a.role.id}`).sort();

test('grants: PUT/HEAD/GET/DELETE on projects, domains and the system; 404s; listing a grant\'s roles', async () => {
  const p = await create('project', { name: 'gp' });
  const u = await create('user', { name: 'gu' });
  const g = await create('group', { name: 'gg' });
  const base = `/projects/${p.id}/users/${u.id}/roles`;
  assert.equal((await admin.request('HEAD', `${V3}${base}/${roles.member}`)).status, 404);
  await put(`${base}/${roles.member}`);
  await put(`${base}/${roles.member}`); // idempotent
  assert.equal((await admin.request('HEAD', `${V3}${base}/${roles.member}`)).status, 204);
  assert.equal((await admin.request('GET', `${V3}${base}/${roles.member}`)).status, 204);
  const rl = await admin.json('GET', `${V3}${base}`);
  assert.deepEqual(rl.body.roles.map((r: any) => r.name), ['member']);
  for (const path of [`/projects/nope/users/${u.id}/roles/${roles.member}`, `/projects/${p.id}/users/nope/roles/${roles.member}`,
    `${base}/nope`, `/domains/nope/users/${u.id}/roles/${roles.member}`, `/system/users/nope/roles/${roles.member}`,
    `/projects/${p.id}/groups/nope/roles/${roles.member}`]) {
    const r = await admin.json('PUT', `${V3}${path}`);
    assert.equal(r.status, 404, path);
    assert.equal(r.body.error.code, 404);
  }
  await put(`/domains/default/groups/${g.id}/roles/${roles.reader}`);
  await put(`/system/users/${u.id}/roles/${roles.reader}`);
  assert.deepEqual((await admin.json('GET', `${V3}/system/users/${u.id}/roles`)).body.roles.map((r: any) => r.name), ['reader']);
  assert.equal((await admin.request('HEAD', `${V3}/system/users/${u.id}/roles/${roles.reader}`)).status, 204);
  const mine = await list(`user.id=${u.id}`);
  assert.equal(mine.length, 2);
  const sys = mine.find((a) => a.scope.system);
  assert.deepEqual(sys.scope, { system: { all: true } });
  assert.equal(sys.links.assignment, `${cloud.url}${V3}/system/users/${u.id}/roles/${roles.reader}`);
  const proj = mine.find((a) => a.scope.project);
  assert.deepEqual(proj, {
    scope: { project: { id: p.id } }, user: { id: u.id }, role: { id: roles.member },
    links: { assignment: `${cloud.url}${V3}/projects/${p.id}/users/${u.id}/roles/${roles.member}` },
  });
  assert.equal((await admin.request('DELETE', `${V3}/system/users/${u.id}/roles/${roles.reader}`)).status, 204);
  assert.equal((await admin.request('DELETE', `${V3}/system/users/${u.id}/roles/${roles.reader}`)).status, 404);
  assert.equal((await admin.request('DELETE', `${V3}${base}/${roles.member}`)).status, 204);
  assert.deepEqual(await list(`user.id=${u.id}`), []);
});

test('role_assignments: filters, effective (groups, inheritance, implied roles), include_names, include_subtree', async () => {
  const dom = await create('domain', { name: 'ra-dom' });
  const root = await create('project', { name: 'ra-root', domain_id: dom.id });
  const leaf = await create('project', { name: 'ra-leaf', parent_id: root.id });
  const u = await create('user', { name: 'ra-user', domain_id: dom.id, password: 'pw' });
  const g = await create('group', { name: 'ra-group', domain_id: dom.id });
  await put(`/groups/${g.id}/users/${u.id}`);
  await put(`/projects/${root.id}/users/${u.id}/roles/${roles.admin}`);
  await put(`/projects/${leaf.id}/groups/${g.id}/roles/${roles.member}`);
  await put(`/OS-INHERIT/domains/${dom.id}/users/${u.id}/roles/${roles.reader}/inherited_to_projects`);
  await put(`/OS-INHERIT/projects/${root.id}/groups/${g.id}/roles/${roles.member}/inherited_to_projects`);
  assert.equal((await admin.request('HEAD', `${V3}/OS-INHERIT/domains/${dom.id}/users/${u.id}/roles/${roles.reader}/inherited_to_projects`)).status, 204);
  assert.deepEqual((await admin.json('GET', `${V3}/OS-INHERIT/domains/${dom.id}/users/${u.id}/roles/inherited_to_projects`)).body.roles.map((r: any) => r.name), ['reader']);

  // Direct assignments: what was granted, as granted.
  const direct = await list(`user.id=${u.id}`);
  assert.deepEqual(triples(direct), [`${u.id}|${dom.id}|${roles.reader}`, `${u.id}|${root.id}|${roles.admin}`].sort());
  const inh = direct.find((a) => a.scope.domain);
  assert.equal(inh.scope['OS-INHERIT:inherited_to'], 'projects');
  assert.equal(inh.links.assignment, `${cloud.url}${V3}/OS-INHERIT/domains/${dom.id}/users/${u.id}/roles/${roles.reader}/inherited_to_projects`);
  assert.deepEqual(triples(await list(`group.id=${g.id}`)), [`g:${g.id}|${leaf.id}|${roles.member}`, `g:${g.id}|${root.id}|${roles.member}`].sort());
  assert.equal((await list(`scope.OS-INHERIT:inherited_to=projects`)).length, 2);
  assert.deepEqual(triples(await list(`scope.project.id=${leaf.id}`)), [`g:${g.id}|${leaf.id}|${roles.member}`]);
  assert.deepEqual(triples(await list(`scope.domain.id=${dom.id}`)), [`${u.id}|${dom.id}|${roles.reader}`]);
  assert.deepEqual(triples(await list(`role.id=${roles.admin}&user.id=${u.id}`)), [`${u.id}|${root.id}|${roles.admin}`]);

  // Effective on the leaf: member via the group, member via the group inherited from root,
  // reader inherited from the domain, and implied reader from those members.
  const eff = await list(`effective&user.id=${u.id}&scope.project.id=${leaf.id}`);
  assert.ok(eff.every((a) => a.user.id === u.id && a.scope.project.id === leaf.id));
  assert.deepEqual([...new Set(eff.map((a) => a.role.id))].sort(), [roles.member, roles.reader].sort());
  const viaGroup = eff.find((a) => a.links.membership && !a.scope['OS-INHERIT:inherited_to'] && a.role.id === roles.member);
  assert.equal(viaGroup.links.membership, `${cloud.url}${V3}/groups/${g.id}/users/${u.id}`);
  assert.equal(viaGroup.links.assignment, `${cloud.url}${V3}/projects/${leaf.id}/groups/${g.id}/roles/${roles.member}`);
  const fromDomain = eff.find((a) => a.scope['OS-INHERIT:inherited_to'] && a.links.assignment.includes('/domains/'));
  assert.equal(fromDomain.links.assignment, `${cloud.url}${V3}/OS-INHERIT/domains/${dom.id}/users/${u.id}/roles/${roles.reader}/inherited_to_projects`);
  const implied = eff.find((a) => a.links.prior_role);
  assert.ok(implied, 'implied roles are listed with their prior role');
  // Effective on the root: admin directly, plus member and reader implied by it, plus reader from the domain.
  const effRoot = await list(`effective&user.id=${u.id}&scope.project.id=${root.id}`);
  assert.deepEqual([...new Set(effRoot.map((a) => a.role.id))].sort(), [roles.admin, roles.member, roles.reader].sort());
  assert.ok(!(await list('effective')).some((a) => a.group), 'no group assignments in effective mode');

  // The user's token on the leaf has exactly those roles.
  const s = await login(cloud, 'ra-user', 'pw', 'ra-leaf', 'ra-dom');
  assert.deepEqual(s.body.token.roles.map((r: any) => r.name).sort(), ['member', 'reader']);
  const ps = await admin.json('GET', `${V3}/users/${u.id}/projects`);
  assert.deepEqual(ps.body.projects.map((p: any) => p.id).sort(), [root.id, leaf.id].sort());

  // include_names
  const named = await list(`user.id=${u.id}&scope.project.id=${root.id}&include_names`);
  assert.deepEqual(named[0].user, { id: u.id, name: 'ra-user', domain: { id: dom.id, name: 'ra-dom' } });
  assert.deepEqual(named[0].scope.project, { id: root.id, name: 'ra-root', domain: { id: dom.id, name: 'ra-dom' } });
  assert.deepEqual(named[0].role, { id: roles.admin, name: 'admin' });

  // include_subtree needs scope.project.id
  const sub = await list(`scope.project.id=${root.id}&include_subtree=true`);
  assert.deepEqual(triples(sub), [`g:${g.id}|${leaf.id}|${roles.member}`, `g:${g.id}|${root.id}|${roles.member}`, `${u.id}|${root.id}|${roles.admin}`].sort());
  for (const qs of ['include_subtree=true', `scope.project.id=${root.id}&scope.domain.id=${dom.id}`, `user.id=${u.id}&group.id=${g.id}`,
    `effective&group.id=${g.id}`, 'scope.system=some', `scope.system=all&scope.project.id=${root.id}`]) {
    const r = await admin.json('GET', `${V3}/role_assignments?${qs}`);
    assert.equal(r.status, 400, qs);
  }
  assert.equal((await list('scope.system=all')).filter((a) => a.user?.id === admin.body.token.user.id).length, 1);

  // A domain-specific role can only be granted in its domain, and only implies into tokens.
  const dr = await create('role', { name: 'ra-domain-role', domain_id: dom.id });
  assert.equal((await admin.request('PUT', `${V3}/projects/${admin.body.token.project.id}/users/${u.id}/roles/${dr.id}`)).status, 403);
  assert.equal((await admin.request('PUT', `${V3}/roles/${dr.id}/implies/${roles.admin}`)).status, 201);
  await put(`/projects/${leaf.id}/users/${u.id}/roles/${dr.id}`);
  const withDr = await login(cloud, 'ra-user', 'pw', 'ra-leaf', 'ra-dom');
  const names = withDr.body.token.roles.map((r: any) => r.name);
  assert.ok(!names.includes('ra-domain-role'), 'domain-specific roles are not put in tokens');
  assert.ok(names.includes('admin'), '... but the global roles they imply are');
});
