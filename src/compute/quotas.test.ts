// Quotas through HTTP (os-quota-sets, os-quota-class-sets, /limits) and the enforcement
// functions servers calls inside its transactions: concurrent creates at the limit never exceed
// it, min/max count semantics, Nova's messages, per-user limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { enforceServerQuota, enforceResizeQuota, enforceMetadataQuota, enforceInjectedFilesQuota, countInstances } from './quotas.ts';
import { ApiError } from '../core/errors.ts';
import type { Tx } from '../core/db/index.ts';
import { insertInstance as insertTestInstance, computeTestEnv, V } from './test_helpers.ts';

const env = computeTestEnv();



async function insertInstance(q: Tx, project: string, user: string, vcpus: number, ram: number) {
  return insertTestInstance(q, { project, user, vcpus, ram });
}

test('defaults, show, detail and /limits for a member', async () => {
  const d = await env.demo.json('GET', `/compute/v2.1/os-quota-sets/${env.demoProject}/defaults`);
  assert.equal(d.status, 200);
  assert.deepEqual(d.body.quota_set, {
    id: env.demoProject, cores: 20, fixed_ips: -1, floating_ips: -1, injected_file_content_bytes: 10240, injected_file_path_bytes: 255,
    injected_files: 5, instances: 10, key_pairs: 100, metadata_items: 128, ram: 51200, security_group_rules: -1, security_groups: -1,
    server_group_members: 10, server_groups: 10,
  });
  const s = await env.demo.json('GET', `/compute/v2.1/os-quota-sets/${env.demoProject}`, undefined, V('2.57'));
  assert.deepEqual(Object.keys(s.body.quota_set).sort(),
    ['cores', 'id', 'instances', 'key_pairs', 'metadata_items', 'ram', 'server_group_members', 'server_groups']);
  const s36 = await env.demo.json('GET', `/compute/v2.1/os-quota-sets/${env.demoProject}`, undefined, V('2.36'));
  assert.ok('injected_files' in s36.body.quota_set && !('floating_ips' in s36.body.quota_set));
  const det = await env.demo.json('GET', `/compute/v2.1/os-quota-sets/${env.demoProject}/detail`);
  assert.deepEqual(det.body.quota_set.instances, { in_use: 0, limit: 10, reserved: 0 });

  // A member sees only their own project's quotas; a bad project id is a 400 for admins.
  const adminProject = env.admin.body.token.project.id;
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-quota-sets/${adminProject}`)).status, 403);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-quota-sets/no-such-project')).status, 400);
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-quota-sets/${env.demoProject}?foo=1`, undefined, V('2.75'))).status, 400);

  const l = await env.demo.json('GET', '/compute/v2.1/limits');
  assert.equal(l.status, 200);
  assert.deepEqual(l.body.limits.rate, []);
  assert.equal(l.body.limits.absolute.maxTotalInstances, 10);
  assert.equal(l.body.limits.absolute.totalInstancesUsed, 0);
  assert.equal(l.body.limits.absolute.maxImageMeta, 128);
  const l57 = await env.demo.json('GET', '/compute/v2.1/limits', undefined, V('2.57'));
  assert.equal('maxPersonality' in l57.body.limits.absolute, false);
  assert.equal('maxImageMeta' in l57.body.limits.absolute, false);
  assert.equal('maxSecurityGroups' in l57.body.limits.absolute, false);
  // tenant_id is for admins only.
  assert.equal((await env.demo.json('GET', `/compute/v2.1/limits?tenant_id=${adminProject}`)).status, 403);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/limits?tenant_id=${env.demoProject}`)).status, 200);
});

test('updates: admin only, validation, unlimited, below usage needs force, delete resets', async () => {
  const url = `/compute/v2.1/os-quota-sets/${env.demoProject}`;
  assert.equal((await env.demo.json('PUT', url, { quota_set: { instances: 50 } })).status, 403);
  for (const b of [{}, { quota_set: { instances: -2 } }, { quota_set: { instances: 'many' } }, { quota_set: { instances: 1.5 } },
    { quota_set: { bogus: 1 } }, { quota_set: { instances: 2147483648 } }, { quota_set: { force: 'perhaps' } }]) {
    assert.equal((await env.admin.json('PUT', url, b)).status, 400, JSON.stringify(b));
  }
  // Removed keys per microversion.
  assert.equal((await env.admin.json('PUT', url, { quota_set: { floating_ips: 5 } })).status, 200);
  assert.equal((await env.admin.json('PUT', url, { quota_set: { floating_ips: 5 } }, V('2.36'))).status, 400);
  assert.equal((await env.admin.json('PUT', url, { quota_set: { injected_files: 5 } }, V('2.57'))).status, 400);

  const u = await env.admin.json('PUT', url, { quota_set: { instances: '20', cores: -1, ram: 1024 } });
  assert.equal(u.status, 200);
  assert.equal(u.body.quota_set.instances, 20);
  assert.equal(u.body.quota_set.cores, -1);
  assert.equal('id' in u.body.quota_set, false);
  assert.equal((await env.demo.json('GET', url)).body.quota_set.ram, 1024);

  // Below current usage: rejected unless forced.
  await env.cloud.ctx.db.tx(async (t) => { await insertInstance(t, env.demoProject, env.demoUser, 2, 512); await insertInstance(t, env.demoProject, env.demoUser, 2, 512); });
  const low = await env.admin.json('PUT', url, { quota_set: { instances: 1 } });
  assert.equal(low.status, 400);
  assert.equal(low.body.badRequest.message, 'Quota limit 1 for instances must be greater than or equal to already used and reserved 2.');
  assert.equal((await env.admin.json('PUT', url, { quota_set: { instances: 1, force: true } })).body.quota_set.instances, 1);
  const det = await env.demo.json('GET', `${url}/detail`);
  assert.deepEqual(det.body.quota_set.instances, { in_use: 2, limit: 1, reserved: 0 });
  assert.deepEqual(det.body.quota_set.cores, { in_use: 4, limit: -1, reserved: 0 });
  assert.equal((await env.demo.json('GET', '/compute/v2.1/limits')).body.limits.absolute.totalCoresUsed, 4);

  assert.equal((await env.demo.request('DELETE', url)).status, 403);
  assert.equal((await env.admin.request('DELETE', url)).status, 202);
  assert.equal((await env.demo.json('GET', url)).body.quota_set.instances, 10);
  await env.cloud.ctx.db.run('UPDATE instances SET deleted = 1 WHERE project_id = ?', [env.demoProject]);
});

test('per-user quotas stay within the project limit', async () => {
  const url = `/compute/v2.1/os-quota-sets/${env.demoProject}`;
  await env.admin.json('PUT', url, { quota_set: { instances: 10 } });
  const u = await env.admin.json('PUT', `${url}?user_id=${env.demoUser}`, { quota_set: { instances: 4 } });
  assert.equal(u.status, 200);
  assert.equal((await env.demo.json('GET', `${url}?user_id=${env.demoUser}`)).body.quota_set.instances, 4);
  assert.equal((await env.demo.json('GET', url)).body.quota_set.instances, 10);
  const over = await env.admin.json('PUT', `${url}?user_id=${env.demoUser}`, { quota_set: { instances: 11 } });
  assert.equal(over.status, 400);
  assert.equal(over.body.badRequest.message, 'Quota limit 11 for instances must be less than or equal to 10.');
  // The project cannot go below what its users were granted.
  assert.equal((await env.admin.json('PUT', url, { quota_set: { instances: 3 } })).status, 400);

  // The user limit applies to the user's own instances.
  const fits = await env.cloud.ctx.db.tx((t) => enforceServerQuota(t, env.demoProject, env.demoUser, { instances: 6, cores: 6, ram: 6 }, { minCount: 1 }));
  assert.equal(fits, 4);
  assert.equal((await env.admin.request('DELETE', `${url}?user_id=${env.demoUser}`)).status, 202);
  assert.equal((await env.demo.json('GET', `${url}?user_id=${env.demoUser}`)).body.quota_set.instances, 10);
  await env.admin.request('DELETE', url);
});

test('quota classes: the default class changes everyone\'s defaults', async () => {
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-quota-class-sets/default')).status, 403);
  const s = await env.admin.json('GET', '/compute/v2.1/os-quota-class-sets/default');
  assert.equal(s.body.quota_class_set.id, 'default');
  assert.equal('server_groups' in s.body.quota_class_set, false); // before 2.50
  assert.equal('server_groups' in (await env.admin.json('GET', '/compute/v2.1/os-quota-class-sets/default', undefined, V('2.50'))).body.quota_class_set, true);
  const u = await env.admin.json('PUT', '/compute/v2.1/os-quota-class-sets/default', { quota_class_set: { instances: 7 } });
  assert.equal(u.status, 200);
  assert.equal(u.body.quota_class_set.instances, 7);
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-quota-sets/${env.demoProject}`)).body.quota_set.instances, 7);
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-quota-sets/${env.demoProject}/defaults`)).body.quota_set.instances, 7);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-quota-class-sets/default', { quota_class_set: { bogus: 1 } })).status, 400);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-quota-class-sets/default', { quota_class_set: { floating_ips: 1 } }, V('2.50'))).status, 400);
  await env.admin.json('PUT', '/compute/v2.1/os-quota-class-sets/default', { quota_class_set: { instances: 10 } });
});

test('enforceServerQuota: Nova\'s message, min/max count, unlimited', async () => {
  const p = `p-${randomUUID()}`;
  // This project does not exist in Keystone (the API would refuse it): set its limits directly.
  await env.cloud.ctx.db.run('INSERT INTO quotas (project_id, resource, hard_limit) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)',
    [p, 'instances', 3, p, 'cores', 4, p, 'ram', 4096]);
  await env.cloud.ctx.db.tx(async (t) => { await insertInstance(t, p, 'u', 1, 1024); });
  // 2 more × 1 vCPU fit; 4 do not, but min_count 1..4 gives 2.
  assert.equal(await env.cloud.ctx.db.tx((t) => enforceServerQuota(t, p, 'u', { instances: 4, cores: 4, ram: 4096 }, { minCount: 1 })), 2);
  await assert.rejects(env.cloud.ctx.db.tx((t) => enforceServerQuota(t, p, 'u', { instances: 3, cores: 3, ram: 3072 })), (e: ApiError) => {
    assert.equal(e.status, 403);
    assert.equal(e.message, 'Quota exceeded for instances: Requested 3, but already used 1 of 3 instances');
    return true;
  });
  await assert.rejects(env.cloud.ctx.db.tx((t) => enforceServerQuota(t, p, 'u', { instances: 1, cores: 8, ram: 1024 })), (e: ApiError) => {
    assert.equal(e.message, 'Quota exceeded for cores: Requested 8, but already used 1 of 4 cores');
    return true;
  });
  await assert.rejects(env.cloud.ctx.db.tx((t) => enforceServerQuota(t, p, 'u', { instances: 3, cores: 3, ram: 3072 }, { minCount: 3 })),
    /Quota exceeded for instances: Requested 3, but already used 1 of 3 instances/);
  await assert.rejects(env.cloud.ctx.db.tx((t) => enforceServerQuota(t, p, 'u', { instances: 4, cores: 4, ram: 8192 }, { minCount: 3 })),
    /Quota exceeded for instances, cores, ram: Requested 3-4, 4, 8192, but already used 1, 1, 1024 of 3, 4, 4096 instances, cores, ram$/);
  // Unlimited instances: cores decide.
  await env.cloud.ctx.db.run("UPDATE quotas SET hard_limit = -1 WHERE project_id = ? AND resource IN ('instances', 'ram')", [p]);
  assert.equal(await env.cloud.ctx.db.tx((t) => enforceServerQuota(t, p, 'u', { instances: 10, cores: 10, ram: 10 }, { minCount: 1 })), 3);

  // Resize: only growth counts.
  await env.cloud.ctx.db.tx((t) => enforceResizeQuota(t, p, 'u', -1, 10));
  await assert.rejects(env.cloud.ctx.db.tx((t) => enforceResizeQuota(t, p, 'u', 4, 0)), /Quota exceeded for cores: Requested 4, but already used 1 of 4 cores/);

  await assert.rejects(enforceMetadataQuota(env.cloud.ctx.db, p, 129), (e: ApiError) => e.status === 403);
  await enforceMetadataQuota(env.cloud.ctx.db, p, 128);
  await assert.rejects(enforceInjectedFilesQuota(env.cloud.ctx.db, p, Array.from({ length: 6 }, () => ({ path: '/a', contents: '' }))), /Personality file limit exceeded/);
  await assert.rejects(enforceInjectedFilesQuota(env.cloud.ctx.db, p, [{ path: '/'.repeat(256), contents: '' }]), /path exceeds maximum 255/);
  await enforceInjectedFilesQuota(env.cloud.ctx.db, p, [{ path: '/etc/motd', contents: Buffer.from('hi').toString('base64') }]);
});

test('concurrent creates at the limit never exceed it', async () => {
  const p = `race-${randomUUID()}`;
  await env.cloud.ctx.db.run('INSERT INTO quotas (project_id, resource, hard_limit) VALUES (?, ?, ?)', [p, 'instances', 5]);
  const attempts = Array.from({ length: 20 }, () => env.cloud.ctx.db.tx(async (t) => {
    const n = await enforceServerQuota(t, p, 'u', { instances: 1, cores: 1, ram: 64 });
    // Yield between the check and the insert, where a racing transaction would slip in.
    await new Promise((r) => setImmediate(r));
    await insertInstance(t, p, 'u', 1, 64);
    return n;
  }).then(() => 'ok', (e: ApiError) => { assert.equal(e.status, 403); return 'over'; }));
  const results = await Promise.all(attempts);
  assert.equal(results.filter((r) => r === 'ok').length, 5);
  assert.equal((await countInstances(env.cloud.ctx.db, p)).instances, 5);
});
