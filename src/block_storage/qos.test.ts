// Cinder's QoS specs over HTTP (admin): create, list, show, set and unset keys, associate with
// volume types (one spec per type), and delete (refused while associated unless forced).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeType, setup, v3, type Env } from './test_helpers.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

describe('qos specs', () => {
  it('creates, lists, shows, updates and unsets keys', async () => {
    const url = v3(env.admin, '/qos-specs');
    const c = await env.admin.json('POST', url, { qos_specs: { name: 'fast', consumer: 'front-end', total_iops_sec: '1000' } });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const id = c.body.qos_specs.id;
    assert.deepEqual(c.body.qos_specs, { id, name: 'fast', consumer: 'front-end', specs: { total_iops_sec: '1000' } });
    assert.equal(c.body.links[0].rel, 'self');
    assert.equal((await env.admin.json('POST', url, { qos_specs: { name: 'fast' } })).status, 409);
    assert.equal((await env.admin.json('POST', url, { qos_specs: { name: 'x', consumer: 'sideways' } })).status, 400);
    assert.equal((await env.admin.json('POST', url, { qos_specs: {} })).status, 400);
    assert.equal((await env.demo.json('POST', v3(env.demo, '/qos-specs'), { qos_specs: { name: 'mine' } })).status, 403);
    assert.ok((await env.admin.json('GET', url)).body.qos_specs.some((s: any) => s.id === id));
    const set = await env.admin.json('PUT', `${url}/${id}`, { qos_specs: { read_bytes_sec: '5' } });
    assert.deepEqual(set.body, { qos_specs: { read_bytes_sec: '5' } });
    assert.deepEqual((await env.admin.json('GET', `${url}/${id}`)).body.qos_specs.specs, { total_iops_sec: '1000', read_bytes_sec: '5' });
    assert.equal((await env.admin.json('PUT', `${url}/${id}/delete_keys`, { keys: ['read_bytes_sec'] })).status, 202);
    assert.equal((await env.admin.json('PUT', `${url}/${id}/delete_keys`, { keys: ['nope'] })).status, 404);
    assert.deepEqual((await env.admin.json('GET', `${url}/${id}`)).body.qos_specs.specs, { total_iops_sec: '1000' });
    assert.equal((await env.admin.json('GET', `${url}/8a7b3d5e-0000-4000-8000-0000000000c1`)).status, 404);
  });

  it('associates with types (one spec per type); delete is refused while associated unless forced', async () => {
    const url = v3(env.admin, '/qos-specs');
    const a = (await env.admin.json('POST', url, { qos_specs: { name: 'qa' } })).body.qos_specs.id;
    const b = (await env.admin.json('POST', url, { qos_specs: { name: 'qb' } })).body.qos_specs.id;
    const t1 = await makeType(env, 'qos-t1');
    const t2 = await makeType(env, 'qos-t2');
    assert.equal((await env.admin.json('GET', `${url}/${a}/associate?vol_type_id=${t1.id}`)).status, 202);
    assert.equal((await env.admin.json('GET', `${url}/${a}/associate?vol_type_id=${t2.id}`)).status, 202);
    assert.equal((await env.admin.json('GET', `${url}/${b}/associate?vol_type_id=${t1.id}`)).status, 400, 'one spec per type');
    assert.equal((await env.admin.json('GET', `${url}/${a}/associate?vol_type_id=8a7b3d5e-0000-4000-8000-0000000000c2`)).status, 404);
    const assoc = await env.admin.json('GET', `${url}/${a}/associations`);
    assert.deepEqual(assoc.body.qos_associations.map((x: any) => x.name), ['qos-t1', 'qos-t2']);
    assert.equal(assoc.body.qos_associations[0].association_type, 'volume_type');
    assert.equal((await env.admin.json('GET', `${url}/${a}/disassociate?vol_type_id=${t1.id}`)).status, 202);
    assert.deepEqual((await env.admin.json('GET', `${url}/${a}/associations`)).body.qos_associations.map((x: any) => x.name), ['qos-t2']);
    assert.equal((await env.admin.request('DELETE', `${url}/${a}`)).status, 400);
    assert.equal((await env.admin.request('DELETE', `${url}/${a}?force=True`)).status, 202);
    assert.equal((await env.admin.json('GET', `${url}/${a}`)).status, 404);
    assert.equal((await env.admin.json('GET', `${url}/${b}/associate?vol_type_id=${t1.id}`)).status, 202, 'the type is free again');
    assert.equal((await env.admin.json('GET', `${url}/${b}/disassociate_all`)).status, 202);
    assert.deepEqual((await env.admin.json('GET', `${url}/${b}/associations`)).body.qos_associations, []);
    assert.equal((await env.admin.request('DELETE', `${url}/${b}`)).status, 202);
  });
});
