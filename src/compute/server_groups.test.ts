// Server groups through HTTP (policies before 2.64, policy + rules after, project isolation,
// all_projects for admins, quota) and the member helpers servers uses in its transactions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { addServerGroupMember, removeInstanceFromGroups, getServerGroup, getInstanceGroups } from './server_groups.ts';
import type { ApiError } from '../core/errors.ts';
import { login } from '../testing.ts';
import { insertInstance as insertTestInstance, computeTestEnv, V } from './test_helpers.ts';

const env = computeTestEnv();



const insertInstance = (project: string, user: string) => insertTestInstance(env.cloud.ctx.db, { project, user });

test('create, show, list, delete across microversions', async () => {
  const old = await env.demo.json('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'g1', policies: ['anti-affinity'] } });
  assert.equal(old.status, 200);
  const g = old.body.server_group;
  assert.deepEqual(g.policies, ['anti-affinity']);
  assert.deepEqual(g.metadata, {});
  assert.deepEqual(g.members, []);
  assert.equal('project_id' in g, false);

  const v213 = await env.demo.json('GET', `/compute/v2.1/os-server-groups/${g.id}`, undefined, V('2.13'));
  assert.equal(v213.body.server_group.project_id, env.demoProject);
  assert.equal(v213.body.server_group.user_id, env.demoUser);

  const v264 = await env.demo.json('POST', '/compute/v2.1/os-server-groups',
    { server_group: { name: 'g2', policy: 'anti-affinity', rules: { max_server_per_host: 2 } } }, V('2.64'));
  assert.equal(v264.status, 200);
  assert.equal(v264.body.server_group.policy, 'anti-affinity');
  assert.deepEqual(v264.body.server_group.rules, { max_server_per_host: 2 });
  assert.equal('policies' in v264.body.server_group, false);
  assert.equal('metadata' in v264.body.server_group, false);
  const shown = await env.demo.json('GET', `/compute/v2.1/os-server-groups/${g.id}`, undefined, V('2.64'));
  assert.equal(shown.body.server_group.policy, 'anti-affinity');
  assert.deepEqual(shown.body.server_group.rules, {});

  const list = await env.demo.json('GET', '/compute/v2.1/os-server-groups');
  assert.deepEqual(list.body.server_groups.map((x: any) => x.name), ['g1', 'g2']);
  assert.deepEqual((await env.demo.json('GET', '/compute/v2.1/os-server-groups?limit=1&offset=1')).body.server_groups.map((x: any) => x.name), ['g2']);

  // Other projects: not listed; show/delete are forbidden; admins list everything with all_projects.
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-server-groups')).body.server_groups.length, 0);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-server-groups?all_projects=True')).body.server_groups.length, 2);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-server-groups?all_projects=True')).body.server_groups.length, 2);
  const ag = (await env.admin.json('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'adm', policies: ['affinity'] } })).body.server_group;
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-server-groups/${ag.id}`)).status, 403);
  assert.equal((await env.demo.json('DELETE', `/compute/v2.1/os-server-groups/${ag.id}`)).status, 403);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-server-groups?all_projects=True')).body.server_groups.length, 2);

  assert.equal((await env.demo.request('DELETE', `/compute/v2.1/os-server-groups/${g.id}`)).status, 204);
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-server-groups/${g.id}`)).status, 404);
  assert.equal((await env.demo.json('DELETE', `/compute/v2.1/os-server-groups/${g.id}`)).status, 404);
});

test('validation per microversion', async () => {
  const bad: [unknown, string][] = [
    [{}, '2.1'], [{ server_group: {} }, '2.1'], [{ server_group: { name: 'x' } }, '2.1'],
    [{ server_group: { name: '', policies: ['affinity'] } }, '2.1'],
    [{ server_group: { name: 'x'.repeat(256), policies: ['affinity'] } }, '2.1'],
    [{ server_group: { name: 'x', policies: ['affinity', 'anti-affinity'] } }, '2.1'],
    [{ server_group: { name: 'x', policies: [] } }, '2.1'],
    [{ server_group: { name: 'x', policies: ['soft-affinity'] } }, '2.14'],
    [{ server_group: { name: 'x', policies: ['bogus'] } }, '2.15'],
    [{ server_group: { name: 'x', policies: ['affinity'] } }, '2.64'],
    [{ server_group: { name: 'x', policy: 'affinity', rules: { max_server_per_host: 2 } } }, '2.64'],
    [{ server_group: { name: 'x', policy: 'anti-affinity', rules: { max_server_per_host: 0 } } }, '2.64'],
    [{ server_group: { name: 'x', policy: 'anti-affinity', rules: { other: 1 } } }, '2.64'],
    [{ server_group: { name: 'x', policy: 'anti-affinity', extra: 1 } }, '2.64'],
  ];
  for (const [b, v] of bad) {
    const r = await env.demo.json('POST', '/compute/v2.1/os-server-groups', b, V(v));
    assert.equal(r.status, 400, `${v} ${JSON.stringify(b)}`);
  }
  assert.equal((await env.demo.json('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'soft', policies: ['soft-affinity'] } }, V('2.15'))).status, 200);
  const msg = await env.demo.json('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'x', policy: 'affinity', rules: { max_server_per_host: 2 } } }, V('2.64'));
  assert.equal(msg.body.badRequest.message, 'Only anti-affinity policy supports rules.');
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-server-groups?bogus=1', undefined, V('2.75'))).status, 400);
});

test('server_groups quota', async () => {
  const p = (await login(env.cloud, 'admin')).body.token.project.id;
  await env.admin.json('PUT', `/compute/v2.1/os-quota-sets/${p}`, { quota_set: { server_groups: 2 } });
  const existing = (await env.admin.json('GET', '/compute/v2.1/os-server-groups')).body.server_groups.length;
  const results = await Promise.all(Array.from({ length: 5 }, (_, i) =>
    env.admin.json('POST', '/compute/v2.1/os-server-groups', { server_group: { name: `q${i}`, policies: ['affinity'] } })));
  assert.equal(results.filter((r) => r.status === 200).length, 2 - existing);
  const over = results.find((r) => r.status === 403)!;
  assert.equal(over.body.forbidden.message, 'Quota exceeded, too many server groups.');
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-server-groups')).body.server_groups.length, 2);
  await env.admin.request('DELETE', `/compute/v2.1/os-quota-sets/${p}`);
});

test('members: added in a transaction, shown while alive, limited by server_group_members', async () => {
  const g = (await env.demo.json('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'members', policies: ['anti-affinity'] } })).body.server_group;
  const a = await insertInstance(env.demoProject, env.demoUser);
  const b = await insertInstance(env.demoProject, env.demoUser);
  await env.cloud.ctx.db.tx(async (t) => { await addServerGroupMember(t, g.id, a); await addServerGroupMember(t, g.id, a); });
  await env.cloud.ctx.db.tx((t) => addServerGroupMember(t, g.id, b));
  assert.deepEqual(((await getServerGroup(env.cloud.ctx.db, g.id))!.members).sort(), [a, b].sort());
  assert.deepEqual(await getInstanceGroups(env.cloud.ctx.db, a), [g.id]);
  assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/os-server-groups/${g.id}`)).body.server_group.members.sort(), [a, b].sort());

  // A deleted instance is no longer a member.
  await env.cloud.ctx.db.run('UPDATE instances SET deleted = 1 WHERE uuid = ?', [b]);
  assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/os-server-groups/${g.id}`)).body.server_group.members, [a]);
  await env.cloud.ctx.db.tx((t) => removeInstanceFromGroups(t, a));
  assert.deepEqual((await getServerGroup(env.cloud.ctx.db, g.id))!.members, []);

  await env.admin.json('PUT', `/compute/v2.1/os-quota-sets/${env.demoProject}`, { quota_set: { server_group_members: 1 } });
  const c = await insertInstance(env.demoProject, env.demoUser);
  const d = await insertInstance(env.demoProject, env.demoUser);
  await env.cloud.ctx.db.tx((t) => addServerGroupMember(t, g.id, c));
  await assert.rejects(env.cloud.ctx.db.tx((t) => addServerGroupMember(t, g.id, d)), (e: ApiError) => {
    assert.equal(e.status, 403);
    assert.equal(e.message, 'Quota exceeded, too many servers in group');
    return true;
  });
  assert.deepEqual((await getServerGroup(env.cloud.ctx.db, g.id))!.members, [c]);
  await assert.rejects(env.cloud.ctx.db.tx((t) => addServerGroupMember(t, randomUUID(), c)), (e: ApiError) => e.status === 404);
  await env.admin.request('DELETE', `/compute/v2.1/os-quota-sets/${env.demoProject}`);
});
