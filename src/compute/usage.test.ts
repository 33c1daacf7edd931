// os-simple-tenant-usage (hours from launched_at/terminated_at over a window) and os-migrations
// (records written with recordMigration, filters, 2.23/2.59 fields, paging, policy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { insertInstance, computeTestEnv, V } from './test_helpers.ts';
import { recordMigration, setMigrationStatus, latestMigration } from './migrations.ts';

const env = computeTestEnv();



test('simple tenant usage over a window', async () => {
  // Window 2020-01-01T00:00 .. 2020-01-01T10:00; one server ran 02:00-06:00, one from 08:00 on, one after.
  await insertInstance(env.cloud.ctx.db, { project: env.demoProject, user: env.demoUser, vcpus: 2, ram: 1024, rootGb: 10, ephemeralGb: 2, name: 'a',
    launchedAt: '2020-01-01T02:00:00.000Z', terminatedAt: '2020-01-01T06:00:00.000Z', createdAt: '2020-01-01T01:59:00.000Z', deleted: true });
  await insertInstance(env.cloud.ctx.db, { project: env.demoProject, user: env.demoUser, vcpus: 1, ram: 512, rootGb: 1, name: 'b',
    launchedAt: '2020-01-01T08:00:00.000Z', createdAt: '2020-01-01T07:59:00.000Z' });
  await insertInstance(env.cloud.ctx.db, { project: env.demoProject, user: env.demoUser, name: 'later', launchedAt: '2020-02-01T00:00:00.000Z', createdAt: '2020-02-01T00:00:00.000Z' });
  const q = 'start=2020-01-01T00:00:00&end=2020-01-01T10:00:00';
  const r = await env.demo.json('GET', `/compute/v2.1/os-simple-tenant-usage/${env.demoProject}?${q}`);
  assert.equal(r.status, 200);
  const u = r.body.tenant_usage;
  assert.equal(u.tenant_id, env.demoProject);
  assert.equal(u.start, '2020-01-01T00:00:00');
  assert.equal(u.stop, '2020-01-01T10:00:00');
  assert.equal(u.total_hours, 6);
  assert.equal(u.total_vcpus_usage, 2 * 4 + 1 * 2);
  assert.equal(u.total_memory_mb_usage, 1024 * 4 + 512 * 2);
  assert.equal(u.total_local_gb_usage, 12 * 4 + 1 * 2);
  assert.deepEqual(u.server_usages.map((s: any) => [s.name, s.hours, s.state, s.flavor]), [['a', 4, 'terminated', 'm1.tiny'], ['b', 2, 'active', 'm1.tiny']]);
  assert.equal(u.server_usages[0].ended_at, '2020-01-01T06:00:00');

  // The list is admin-only; detailed=1 adds server_usages.
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-simple-tenant-usage?${q}`)).status, 403);
  const all = await env.admin.json('GET', `/compute/v2.1/os-simple-tenant-usage?${q}`);
  assert.equal(all.body.tenant_usages.length, 1);
  assert.equal('server_usages' in all.body.tenant_usages[0], false);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-simple-tenant-usage?${q}&detailed=1`)).body.tenant_usages[0].server_usages.length, 2);
  // Paging at 2.40 by instance uuid.
  const p = await env.admin.json('GET', `/compute/v2.1/os-simple-tenant-usage?${q}&detailed=1&limit=1`, undefined, V('2.40'));
  assert.equal(p.body.tenant_usages[0].server_usages.length, 1);
  assert.match(p.body.tenant_usages_links[0].href, /marker=/);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-simple-tenant-usage/?${q}`)).status, 404);
  // Another project's usage is not for a member; bad times are 400; empty windows give {}.
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-simple-tenant-usage/${env.admin.body.token.project.id}?${q}`)).status, 403);
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-simple-tenant-usage/${env.demoProject}?start=yesterday`)).status, 400);
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-simple-tenant-usage/${env.demoProject}?start=2020-01-02T00:00:00&end=2020-01-01T00:00:00`)).status, 400);
  assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/os-simple-tenant-usage/${env.demoProject}?start=2019-01-01T00:00:00&end=2019-01-02T00:00:00`)).body, { tenant_usage: {} });
});

test('migrations are listed for admins with microversion fields', async () => {
  const inst = randomUUID();
  const m1 = await env.cloud.ctx.db.tx((t) => recordMigration(t, { instanceUuid: inst, migrationType: 'resize', status: 'finished',
    sourceCompute: 'compute01', destCompute: 'compute01', sourceNode: 'n1', destNode: 'n1', oldInstanceTypeId: 1, newInstanceTypeId: 2, projectId: env.demoProject, userId: env.demoUser }));
  const m2 = await env.cloud.ctx.db.tx((t) => recordMigration(t, { instanceUuid: inst, migrationType: 'live-migration', status: 'running',
    sourceCompute: 'compute01', destCompute: 'compute02', projectId: env.demoProject, userId: env.demoUser }));
  await setMigrationStatus(env.cloud.ctx.db, m1.uuid, 'confirmed');
  assert.equal((await latestMigration(env.cloud.ctx.db, inst)).uuid, m2.uuid);

  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-migrations')).status, 403);
  const l = await env.admin.json('GET', '/compute/v2.1/os-migrations');
  assert.equal(l.status, 200);
  assert.equal(l.body.migrations.length, 2);
  const first = l.body.migrations.find((m: any) => m.id === m1.id);
  assert.equal(first.status, 'confirmed');
  assert.equal(first.old_instance_type_id, 1);
  assert.equal('migration_type' in first, false);
  assert.equal('uuid' in first, false);

  const v223 = await env.admin.json('GET', '/compute/v2.1/os-migrations', undefined, V('2.23'));
  const live = v223.body.migrations.find((m: any) => m.id === m2.id);
  assert.equal(live.migration_type, 'live-migration');
  assert.match(live.links[0].href, new RegExp(`/servers/${inst}/migrations/${m2.id}$`));
  const v259 = await env.admin.json('GET', '/compute/v2.1/os-migrations?limit=1', undefined, V('2.59'));
  assert.equal(v259.body.migrations.length, 1);
  assert.equal(v259.body.migrations[0].uuid, m2.uuid); // newest first
  assert.match(v259.body.migrations_links[0].href, new RegExp(`marker=${m2.uuid}`));
  const next = await env.admin.json('GET', `/compute/v2.1/os-migrations?limit=1&marker=${m2.uuid}`, undefined, V('2.59'));
  assert.equal(next.body.migrations[0].uuid, m1.uuid);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-migrations?marker=nope', undefined, V('2.59'))).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-migrations?bogus=1', undefined, V('2.59'))).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-migrations?migration_type=resize', undefined, V('2.23'))).body.migrations.length, 1);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-migrations?host=compute02')).body.migrations.length, 1);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-migrations?status=confirmed')).body.migrations.length, 1);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-migrations?changes-since=2999-01-01T00:00:00Z', undefined, V('2.59'))).body.migrations.length, 0);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-migrations?changes-since=bad', undefined, V('2.59'))).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-migrations?changes-since=2020-01-02T00:00:00Z&changes-before=2020-01-01T00:00:00Z', undefined, V('2.66'))).status, 400);
});
