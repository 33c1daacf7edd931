// Keystone plugins against a running cloud (as admin): a project, a group with a role on it, a
// user in the group with a role and a default project, and a role; updates and deletes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { group, project, role, user } from './keystone.ts';
import { create, pluginTestEnv, remove, resourceContext, update } from './test_helpers.ts';

const env = pluginTestEnv();

describe('OS::Keystone resources', () => {
  it('makes a project, role, group and user with assignments, updates and deletes them', async () => {
    const p = resourceContext(project, { description: 'heat made' }, env.adminClient, { name: 'proj' });
    await create(project, p);
    assert.equal(await project.resolveAttribute(p, 'name'), p.physicalName());
    assert.equal(await project.resolveAttribute(p, 'domain_id'), 'default');
    assert.equal(await project.findInterrupted!({ ...p, physicalId: null } as any), p.physicalId);
    await update(project, p, { description: 'changed', enabled: false });
    assert.equal(await project.resolveAttribute(p, 'description'), 'changed');
    assert.equal(await project.resolveAttribute(p, 'enabled'), false);
    await update(project, p, { enabled: true });

    const rl = resourceContext(role, { name: 'heat_role' }, env.adminClient);
    await create(role, rl);
    // A retry of the same resource after a crash adopts the role it made.
    const firstId = rl.physicalId;
    await create(role, rl);
    assert.equal(rl.physicalId, firstId);
    // Another resource with the same name is refused, never adopted.
    await assert.rejects(create(role, resourceContext(role, { name: 'heat_role' }, env.adminClient)));

    const g = resourceContext(group, { name: 'heat_group', roles: [{ role: 'heat_role', project: p.physicalId }] }, env.adminClient);
    await create(group, g);
    const u = resourceContext(user, { name: 'heat_user', password: 'pw-123456', default_project: p.physicalId, groups: ['heat_group'],
      roles: [{ role: 'member', project: p.physicalId }] }, env.adminClient);
    await create(user, u);
    assert.equal(await user.resolveAttribute(u, 'default_project_id'), p.physicalId);
    const asg = await env.adminClient.request('identity', 'GET', `/role_assignments?scope.project.id=${p.physicalId}`);
    const pairs = asg.body.role_assignments.map((a: any) => [a.user?.id ?? a.group?.id, a.role.id]);
    assert.ok(pairs.some(([who, r]: string[]) => who === g.physicalId && r === rl.physicalId), 'the group has the role');
    assert.ok(pairs.some(([who]: string[]) => who === u.physicalId), 'the user has a role');
    const members = await env.adminClient.request('identity', 'GET', `/groups/${g.physicalId}/users`);
    assert.deepEqual(members.body.users.map((x: any) => x.id), [u.physicalId]);

    await update(user, u, { groups: [], email: 'u@example.org' });
    assert.equal((await user.show!(u) as any).email, 'u@example.org');
    assert.deepEqual((await env.adminClient.request('identity', 'GET', `/groups/${g.physicalId}/users`)).body.users, []);

    for (const [pl, r] of [[user, u], [group, g], [role, rl], [project, p]] as const) {
      await remove(pl, r);
      await remove(pl, r);
      assert.equal(await pl.show!(r), null);
    }
  });
});
