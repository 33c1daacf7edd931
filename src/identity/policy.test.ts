// Keystone's default rules evaluated the way the routes do (target under "target."), including
// the literal-on-the-left checks (None:%(target.role.domain_id)s) of the grant rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Enforcer, BASE_RULES } from '../core/policy.ts';
import { KEYSTONE_POLICY } from './policy.ts';

const e = new Enforcer(BASE_RULES);
e.register(KEYSTONE_POLICY);
const check = (rule: string, creds: Record<string, unknown>, target: Record<string, unknown>) =>
  e.check(rule, creds, { ...target, target });

const projectMember = { user_id: 'u1', project_id: 'p1', project_domain_id: 'd1', domain_id: null, system_scope: null, roles: ['member', 'reader'] };
const domainAdmin = { user_id: 'u2', project_id: null, domain_id: 'd1', system_scope: null, roles: ['admin', 'member', 'reader'] };
const systemReader = { user_id: 'u3', project_id: null, domain_id: null, system_scope: 'all', roles: ['reader'] };

test('project members read their own project and nothing else', () => {
  assert.equal(check('identity:get_project', projectMember, { project: { id: 'p1', domain_id: 'd1' } }), true);
  assert.equal(check('identity:get_project', projectMember, { project: { id: 'p2', domain_id: 'd1' } }), false);
  assert.equal(check('identity:list_users', projectMember, { domain_id: null }), false);
  assert.equal(check('identity:create_project', projectMember, { project: { domain_id: 'd1' } }), false);
  assert.equal(check('identity:get_user', projectMember, { user: { id: 'u1', domain_id: 'd1' } }), true);
  assert.equal(check('identity:get_user', projectMember, { user: { id: 'u9', domain_id: 'd1' } }), false);
});

test('the system reader reads everything and writes nothing', () => {
  for (const r of ['identity:list_users', 'identity:list_projects', 'identity:get_project', 'identity:list_role_assignments', 'identity:list_endpoints']) {
    assert.equal(check(r, systemReader, {}), true, r);
  }
  for (const r of ['identity:create_project', 'identity:update_user', 'identity:create_grant', 'identity:delete_role']) {
    assert.equal(check(r, systemReader, {}), false, r);
  }
});

test('grants by a domain admin: global roles or roles of that domain, within the domain', () => {
  const target = (roleDomain: string | null, userDomain = 'd1', projectDomain = 'd1') => ({
    user: { domain_id: userDomain }, project: { domain_id: projectDomain }, role: { domain_id: roleDomain },
  });
  // admin_required matches any admin, as in Keystone's defaults; the scoped branch is what a
  // deployment gets when it narrows admin_required, so test that branch alone too.
  const scoped = new Enforcer(BASE_RULES, { admin_required: 'role:admin and system_scope:all' });
  scoped.register(KEYSTONE_POLICY);
  const sc = (t: Record<string, unknown>) => scoped.check('identity:create_grant', domainAdmin, { ...t, target: t });
  assert.equal(sc(target(null)), true, 'global role, same domain');
  assert.equal(sc(target('d1')), true, 'role of the domain');
  assert.equal(sc(target('d2')), false, 'role of another domain');
  assert.equal(sc(target(null, 'd2')), false, 'user of another domain');
  assert.equal(sc(target(null, 'd1', 'd2')), false, 'project of another domain');
});

test('token rules: the subject may check its own token, the service role any', () => {
  assert.equal(check('identity:validate_token', projectMember, { token: { user_id: 'u1' } }), true);
  assert.equal(check('identity:validate_token', projectMember, { token: { user_id: 'u2' } }), false);
  assert.equal(check('identity:revoke_token', projectMember, { token: { user_id: 'u2' } }), false);
  const service = { ...projectMember, user_id: 'nova', roles: ['service'] };
  assert.equal(check('identity:validate_token', service, { token: { user_id: 'u2' } }), true);
  assert.equal(check('identity:revoke_token', service, { token: { user_id: 'u2' } }), false);
});
