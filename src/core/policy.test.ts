import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Enforcer, parseRule, BASE_RULES } from './policy.ts';

const member = { user_id: 'u1', project_id: 'p1', roles: ['member', 'reader'], system_scope: null };
const admin = { user_id: 'u0', project_id: 'p0', roles: ['admin', 'member', 'reader'], system_scope: null };

test('role and target substitution', () => {
  const e = new Enforcer(BASE_RULES);
  assert.equal(e.check('project_member_api', member, { project_id: 'p1' }), true);
  assert.equal(e.check('project_member_api', member, { project_id: 'p2' }), false);
  assert.equal(e.check('project_member_or_admin', admin, { project_id: 'p2' }), true);
});

test('operators, parentheses and constants', () => {
  const e = new Enforcer({
    a: '(role:admin or (role:member and project_id:%(project_id)s))',
    b: 'not role:admin',
    c: '@', d: '!', e: '',
    f: "user_id:'u1'",
    g: 'rule:a and rule:b',
  });
  assert.equal(e.check('a', member, { project_id: 'p1' }), true);
  assert.equal(e.check('b', member), true);
  assert.equal(e.check('b', admin), false);
  assert.equal(e.check('c', member), true);
  assert.equal(e.check('d', admin), false);
  assert.equal(e.check('e', member), true);
  assert.equal(e.check('f', member), true);
  assert.equal(e.check('g', member, { project_id: 'p1' }), true);
  assert.equal(e.check('undefined-rule', admin), false);
});

test('dotted target keys and booleans', () => {
  const e = new Enforcer({ x: 'domain_id:%(target.project.domain_id)s', y: 'is_admin_project:True' });
  assert.equal(e.check('x', { domain_id: 'd1' }, { target: { project: { domain_id: 'd1' } } }), true);
  assert.equal(e.check('x', { domain_id: 'd1' }, { 'target.project.domain_id': 'd2' }), false);
  assert.equal(e.check('y', { is_admin_project: true }), true);
  assert.equal(e.check('y', { is_admin_project: false }), false);
});

test('overrides win over later defaults', () => {
  const e = new Enforcer({}, { x: '!' });
  e.register({ x: '@' });
  assert.equal(e.check('x', admin), false);
});

test('syntax errors are reported', () => {
  assert.throws(() => parseRule('(role:admin'));
  assert.throws(() => parseRule('role:admin )'));
  assert.throws(() => parseRule('nonsense'));
});
