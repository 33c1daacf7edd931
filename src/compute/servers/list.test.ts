// GET /servers and /servers/detail: Nova's filters, sorting, paging and their validation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { act, bootServer, mvh, setup, type Env } from './test_helpers.ts';

let env: Env;
const ids: Record<string, string> = {};
let t0: string;

before(async () => {
  env = await setup();
  t0 = new Date(Date.now() - 1000).toISOString();
  ids.alpha = await bootServer(env, env.demo, { name: 'alpha' });
  ids.beta = await bootServer(env, env.demo, { name: 'beta', flavorRef: '2' });
  ids.gamma = await bootServer(env, env.demo, { name: 'gamma' });
  await act(env, env.demo, ids.gamma, { 'os-stop': null });
  ids.other = await bootServer(env, env.admin, { name: 'admin-own' });
  // Tags through the API at 2.26.
  await env.demo.json('PUT', `/compute/v2.1/servers/${ids.alpha}/tags`, { tags: ['red', 'big'] }, mvh('2.26'));
  await env.demo.json('PUT', `/compute/v2.1/servers/${ids.beta}/tags`, { tags: ['red'] }, mvh('2.26'));
});
after(async () => { await env?.cloud.close(); });

const names = (body: any) => body.servers.map((s: any) => s.name).sort();
const list = (q: string, v = '2.1', s = () => env.demo) => s().json('GET', `/compute/v2.1/servers/detail${q}`, undefined, mvh(v));

describe('filters', () => {
  it('lists only the project\'s servers, all of them for admins with all_tenants', async () => {
    assert.deepEqual(names((await list('')).body), ['alpha', 'beta', 'gamma']);
    const adm = await env.admin.json('GET', '/compute/v2.1/servers/detail?all_tenants=True');
    assert.ok(names(adm.body).includes('alpha') && names(adm.body).includes('admin-own'));
    assert.deepEqual(names((await env.admin.json('GET', '/compute/v2.1/servers')).body), ['admin-own']);
    const forbidden = await env.demo.json('GET', '/compute/v2.1/servers?all_tenants=1');
    assert.equal(forbidden.status, 403);
  });

  it('filters by name (a regex), status, flavor and image', async () => {
    assert.deepEqual(names((await list(`?name=${encodeURIComponent('^(al|ga)')}`)).body), ['alpha', 'gamma']);
    assert.deepEqual(names((await list('?name=et')).body), ['beta']);
    assert.deepEqual(names((await list('?status=SHUTOFF')).body), ['gamma']);
    assert.deepEqual(names((await list('?status=ACTIVE&status=SHUTOFF')).body), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(names((await list('?status=active')).body), ['alpha', 'beta']);
    assert.deepEqual(names((await list('?flavor=2')).body), ['beta']);
    assert.deepEqual((await list('?flavor=424242')).body.servers, []);
    assert.deepEqual(names((await list(`?image=${env.imageId}`)).body), ['alpha', 'beta', 'gamma']);
    assert.deepEqual((await list('?image=non_existing_image')).body.servers, []);
    assert.deepEqual((await list('?name=non_existing')).body.servers, []);
    assert.deepEqual((await list('?ip=10.0.0.1')).body.servers, [], 'no server has an address without ports');
  });

  it('treats unknown statuses per microversion', async () => {
    assert.deepEqual((await list('?status=not_a_status')).body.servers, []);
    assert.equal((await list('?status=not_a_status', '2.38')).status, 400);
    assert.equal((await list('?status=deleted')).status, 403);
  });

  it('filters by tags (2.26)', async () => {
    assert.deepEqual(names((await list('?tags=red', '2.26')).body), ['alpha', 'beta']);
    assert.deepEqual(names((await list('?tags=red,big', '2.26')).body), ['alpha']);
    assert.deepEqual(names((await list('?tags-any=big,none', '2.26')).body), ['alpha']);
    assert.deepEqual(names((await list('?not-tags=red,big', '2.26')).body), ['beta', 'gamma']);
    assert.deepEqual(names((await list('?not-tags-any=red', '2.26')).body), ['gamma']);
    const tagsBefore = await list('?tags=red');
    assert.equal(tagsBefore.body.servers.length, 3, 'tags filters are ignored before 2.26');
  });

  it('filters by changes-since / changes-before and validates them', async () => {
    assert.deepEqual(names((await list(`?changes-since=${encodeURIComponent(t0)}`)).body), ['alpha', 'beta', 'gamma']);
    assert.deepEqual((await list('?changes-since=2051-01-01T12:34:00Z&status=ACTIVE')).body.servers, []);
    assert.equal((await list('?changes-since=2011/01/01')).status, 400);
    assert.deepEqual((await list(`?changes-before=${encodeURIComponent(t0)}`, '2.66')).body.servers, []);
    assert.equal((await list('?changes-before=yesterday', '2.66')).status, 400);
    const inverted = await list(`?changes-since=${encodeURIComponent(new Date().toISOString())}&changes-before=${encodeURIComponent(t0)}`, '2.66');
    assert.equal(inverted.status, 400);
  });

  it('filters by locked (2.73), host and node for admins', async () => {
    await env.demo.json('POST', `/compute/v2.1/servers/${ids.beta}/action`, { lock: null });
    assert.deepEqual(names((await list('?locked=true', '2.73')).body), ['beta']);
    assert.deepEqual(names((await list('?locked=false', '2.73')).body), ['alpha', 'gamma']);
    assert.equal((await list('?locked=maybe', '2.73')).status, 400);
    await env.demo.json('POST', `/compute/v2.1/servers/${ids.beta}/action`, { unlock: null });
    const host = (await env.admin.json('GET', `/compute/v2.1/servers/${ids.alpha}`)).body.server['OS-EXT-SRV-ATTR:host'];
    const byHost = await env.admin.json('GET', `/compute/v2.1/servers/detail?all_tenants=1&host=${host}`);
    assert.ok(byHost.body.servers.every((s: any) => s['OS-EXT-SRV-ATTR:host'] === host));
    assert.ok(byHost.body.servers.length >= 1);
    // A non-admin's host filter is dropped (not an error) before 2.75, rejected from 2.75.
    assert.equal((await list(`?host=${host}`)).body.servers.length, 3);
    assert.equal((await list(`?host=${host}`, '2.75')).status, 200, 'host is a known parameter: ignored for non-admins');
    assert.equal((await list('?color=red', '2.75')).status, 400);
    assert.equal((await list('?color=red', '2.74')).status, 200);
  });
});

describe('sorting and paging', () => {
  it('sorts by created_at desc by default and by sort_key/sort_dir', async () => {
    assert.deepEqual((await list('')).body.servers.map((s: any) => s.name), ['gamma', 'beta', 'alpha']);
    assert.deepEqual((await list('?sort_key=display_name&sort_dir=asc')).body.servers.map((s: any) => s.name), ['alpha', 'beta', 'gamma']);
    assert.deepEqual((await list('?sort_key=vm_state&sort_dir=desc&sort_key=display_name&sort_dir=asc')).body.servers.map((s: any) => s.name), ['gamma', 'alpha', 'beta']);
    assert.equal((await list('?sort_key=bogus')).status, 400);
    assert.equal((await list('?sort_key=display_name&sort_dir=sideways')).status, 400);
    assert.equal((await list('?sort_key=host')).status, 403);
    // Ignored sort keys (Nova's SERVER_LIST_IGNORE_SORT_KEY) are dropped before 2.75, invalid after.
    assert.equal((await list('?sort_key=vcpus')).status, 200);
    assert.equal((await list('?sort_key=vcpus', '2.75')).status, 400);
  });

  it('pages with limit and marker and gives a next link', async () => {
    const p1 = await env.demo.json('GET', '/compute/v2.1/servers?limit=2&sort_key=display_name&sort_dir=asc');
    assert.deepEqual(p1.body.servers.map((s: any) => s.name), ['alpha', 'beta']);
    const next = p1.body.servers_links[0];
    assert.equal(next.rel, 'next');
    const url = new URL(next.href);
    assert.equal(url.searchParams.get('marker'), ids.beta);
    assert.equal(url.searchParams.get('limit'), '2');
    const p2 = await env.demo.json('GET', `/compute/v2.1/servers${url.search}`);
    assert.deepEqual(p2.body.servers.map((s: any) => s.name), ['gamma']);
    assert.equal(p2.body.servers_links, undefined);
    const big = await env.demo.json('GET', '/compute/v2.1/servers?limit=100');
    assert.equal(big.body.servers.length, 3);
    assert.equal(big.body.servers_links, undefined);
  });

  it('rejects bad limits and unknown markers', async () => {
    for (const l of ['-1', 'abc', '1.5']) assert.equal((await list(`?limit=${l}`)).status, 400, l);
    const m = await list('?marker=11111111-2222-3333-4444-555555555555');
    assert.equal(m.status, 400);
    assert.match(m.body.badRequest.message, /marker \[11111111-2222-3333-4444-555555555555\] not found/);
  });

  it('rejects joined-table filters for admins', async () => {
    const r = await env.admin.json('GET', '/compute/v2.1/servers?metadata=x');
    assert.equal(r.status, 400);
    assert.match(r.body.badRequest.message, /Invalid filter field: metadata/);
  });
});
