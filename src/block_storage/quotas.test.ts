// Cinder's quotas over HTTP: project quota sets (show, usage, update, reset), the default quota
// class that gives every project its defaults, and per-volume-type quotas enforced with 413.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { login } from '../testing.ts';
import { makeType, makeVolume, setup, v3, type Env } from './test_helpers.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

describe('quotas', () => {
  it('shows, updates and resets a project\'s quota set; bad keys and values are 400s', async () => {
    const url = v3(env.admin, `/os-quota-sets/${env.demoProject}`);
    const cur = await env.admin.json('GET', url);
    assert.equal(cur.status, 200);
    assert.equal(cur.body.quota_set.volumes, 10);
    assert.equal(cur.body.quota_set.id, env.demoProject);
    const up = await env.admin.json('PUT', url, { quota_set: { volumes: 15 } });
    assert.equal(up.status, 200);
    assert.equal(up.body.quota_set.volumes, 15);
    assert.equal((await env.admin.json('PUT', url, { quota_set: { bogus: 1 } })).status, 400);
    assert.equal((await env.admin.json('PUT', url, { quota_set: { volumes: -2 } })).status, 400);
    assert.equal((await env.demo.json('PUT', url.replace(env.adminProject, env.demoProject), { quota_set: { volumes: 99 } })).status, 403);
    const del = await env.admin.request('DELETE', url);
    assert.equal(del.status, 200);
    assert.equal(await del.text(), '');
    assert.equal((await env.admin.json('GET', url)).body.quota_set.volumes, 10);
  });

  it('makes the default class the defaults of every project', async () => {
    const cls = v3(env.admin, '/os-quota-class-sets/default');
    const shown = await env.admin.json('GET', cls);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.quota_class_set.id, 'default');
    assert.equal(shown.body.quota_class_set.gigabytes, 1000);
    const up = await env.admin.json('PUT', cls, { quota_class_set: { gigabytes: 1001, snapshots: 11 } });
    assert.equal(up.status, 200);
    assert.equal(up.body.quota_class_set.gigabytes, 1001);
    const defaults = await env.admin.json('GET', v3(env.admin, `/os-quota-sets/${env.demoProject}/defaults`));
    assert.equal(defaults.body.quota_set.gigabytes, 1001);
    assert.equal((await env.admin.json('GET', v3(env.admin, `/os-quota-sets/${env.demoProject}`))).body.quota_set.snapshots, 11);
    assert.equal((await env.admin.json('PUT', cls, { quota_class_set: { nope: 1 } })).status, 400);
    assert.equal((await env.demo.json('GET', v3(env.demo, '/os-quota-class-sets/default'))).status, 403);
    await env.admin.json('PUT', cls, { quota_class_set: { gigabytes: 1000, snapshots: 10 } });
  });

  it('enforces per-volume-type quotas (volumes_<type>) with 413', async () => {
    await makeType(env, 'limited');
    const alt = await login(env.cloud, 'alt_demo', env.cloud.config.demoPassword, 'alt_demo');
    const p = alt.body.token.project.id;
    const set = await env.admin.json('PUT', v3(env.admin, `/os-quota-sets/${p}`), { quota_set: { volumes_limited: 1 } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.quota_set.volumes_limited, 1);
    await makeVolume(env, alt, { volume_type: 'limited' });
    const second = await alt.json('POST', v3(alt, '/volumes'), { volume: { size: 1, volume_type: 'limited' } });
    assert.equal(second.status, 413);
    assert.match(second.body.overLimit.message, /volumes_limited/);
    // Other types are not limited by it.
    await makeVolume(env, alt, { size: 1 });
    const usage = await alt.json('GET', v3(alt, `/os-quota-sets/${p}?usage=True`));
    assert.deepEqual(usage.body.quota_set.volumes_limited, { limit: 1, in_use: 1, reserved: 0, allocated: 0 });
    assert.equal(usage.body.quota_set.volumes.in_use, 2);
  });
});
