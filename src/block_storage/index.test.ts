// The block storage module's small routes over HTTP: version discovery, microversion
// negotiation, Cinder's error format, extensions, services (with filters), hosts, capabilities,
// pools, limits and availability zones.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeVolume, setup, v3, type Env } from './test_helpers.ts';
import { MAX_VERSION } from './microversion.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

describe('block storage module', () => {
  it('answers version discovery and negotiates microversions (up to MAX_VERSION)', async () => {
    const root = await env.demo.json('GET', '/volume/');
    assert.equal(root.status, 300);
    assert.equal(root.body.versions[0].id, 'v3.0');
    assert.equal(root.body.versions[0].version, MAX_VERSION);
    const ok = await env.demo.json('GET', v3(env.demo, '/volumes'), undefined, { 'OpenStack-API-Version': 'volume 3.0' });
    assert.equal(ok.headers.get('openstack-api-version'), 'volume 3.0');
    assert.equal((await env.demo.json('GET', v3(env.demo, '/volumes'), undefined, { 'OpenStack-API-Version': 'volume latest' })).headers.get('openstack-api-version'), `volume ${MAX_VERSION}`);
    const high = await env.demo.json('GET', v3(env.demo, '/volumes'), undefined, { 'OpenStack-API-Version': 'volume 3.100' });
    assert.equal(high.status, 406);
    assert.equal(high.body.notAcceptable.code, 406);
    assert.equal((await env.demo.json('GET', v3(env.demo, '/volumes'), undefined, { 'OpenStack-API-Version': 'volume x' })).status, 400);
    const nope = await env.demo.json('GET', v3(env.demo, '/nothing-here'));
    assert.equal(nope.status, 404);
    assert.equal(nope.body.itemNotFound.code, 404);
    assert.equal((await env.demo.json('GET', v3(env.demo, '/volumes'), undefined, { 'x-auth-token': 'bad' })).status, 401);
  });

  it('lists extensions, availability zones and limits', async () => {
    const ext = await env.demo.json('GET', v3(env.demo, '/extensions'));
    assert.ok(ext.body.extensions.some((e: any) => e.name === 'Hosts' && e.alias === 'os-hosts'));
    const az = await env.demo.json('GET', v3(env.demo, '/os-availability-zone'));
    assert.deepEqual(az.body.availabilityZoneInfo, [{ zoneName: 'nova', zoneState: { available: true } }]);
    await makeVolume(env, env.demo, { size: 2 });
    const lim = await env.demo.json('GET', v3(env.demo, '/limits'));
    assert.equal(lim.body.limits.absolute.totalVolumesUsed, 1);
    assert.equal(lim.body.limits.absolute.totalGigabytesUsed, 2);
  });

  it('filters services by host and binary; shows hosts, capabilities and pools to admins', async () => {
    const all = await env.admin.json('GET', v3(env.admin, '/os-services'));
    assert.deepEqual(all.body.services.map((s: any) => s.binary).sort(), ['cinder-scheduler', 'cinder-volume']);
    const vol = await env.admin.json('GET', v3(env.admin, '/os-services?host=vistack&binary=cinder-volume'));
    assert.deepEqual(vol.body.services.map((s: any) => s.host), ['vistack@vmdk']);
    assert.deepEqual((await env.admin.json('GET', v3(env.admin, '/os-services?host=elsewhere'))).body.services, []);
    assert.equal((await env.demo.json('GET', v3(env.demo, '/os-services'))).status, 403);

    const hosts = await env.admin.json('GET', v3(env.admin, '/os-hosts'));
    assert.ok(hosts.body.hosts.some((h: any) => h.host_name === 'vistack@vmdk' && h.service === 'cinder-volume'));
    const host = await env.admin.json('GET', v3(env.admin, '/os-hosts/vistack@vmdk'));
    assert.equal(host.body.host[0].resource.project, '(total)');
    assert.equal(host.body.host[0].resource.volume_count, '1');
    assert.equal((await env.admin.json('GET', v3(env.admin, '/os-hosts/nowhere'))).status, 404);

    const pools = await env.admin.json('GET', v3(env.admin, '/scheduler-stats/get_pools?detail=True'));
    assert.ok(pools.body.pools.length > 0);
    const pool = pools.body.pools[0];
    assert.match(pool.name, /^vistack@vmdk#/);
    const cap = await env.admin.json('GET', v3(env.admin, `/capabilities/${encodeURIComponent(pool.name)}`));
    assert.equal(cap.status, 200);
    assert.equal(cap.body.vendor_name, pool.capabilities.vendor_name);
    assert.equal(cap.body.storage_protocol, pool.capabilities.storage_protocol);
    assert.equal(cap.body.volume_backend_name, pool.capabilities.volume_backend_name);
    assert.equal((await env.admin.json('GET', v3(env.admin, `/capabilities/${encodeURIComponent('vistack@vmdk#nope')}`))).status, 404);
    assert.equal((await env.demo.json('GET', v3(env.demo, '/capabilities/vistack@vmdk'))).status, 403);
  });

  it('disables and enables the volume service (new volumes fail while disabled) and freezes the backend', async () => {
    const put = (action: string, body: unknown) => env.admin.json('PUT', v3(env.admin, `/os-services/${action}`), body);
    assert.equal((await put('disable-log-reason', { host: 'vistack@vmdk', binary: 'cinder-volume' })).status, 400);
    assert.equal((await put('disable', { host: 'nowhere', binary: 'cinder-volume' })).status, 404);
    assert.equal((await env.demo.json('PUT', v3(env.demo, '/os-services/disable'), { host: 'vistack@vmdk', binary: 'cinder-volume' })).status, 403);
    const off = await put('disable-log-reason', { host: 'vistack@vmdk', binary: 'cinder-volume', disabled_reason: 'maintenance' });
    assert.equal(off.status, 200);
    assert.deepEqual(off.body, { host: 'vistack@vmdk', service: 'cinder-volume', binary: 'cinder-volume', disabled: true, status: 'disabled', disabled_reason: 'maintenance' });
    const listed = (await env.admin.json('GET', v3(env.admin, '/os-services?binary=cinder-volume'))).body.services[0];
    assert.equal(listed.status, 'disabled');
    assert.equal(listed.disabled_reason, 'maintenance');
    assert.equal((await makeVolume(env, env.demo)).status, 'error', 'no backend takes it');
    const on = await put('enable', { host: 'vistack@vmdk', binary: 'cinder-volume' });
    assert.equal(on.body.status, 'enabled');
    assert.equal((await makeVolume(env, env.demo)).status, 'available');

    assert.equal((await put('freeze', { host: 'invalid_host' })).status, 400);
    const frozen = await env.admin.request('PUT', v3(env.admin, '/os-services/freeze'), { host: 'vistack@vmdk' });
    assert.equal(frozen.status, 200);
    assert.equal(await frozen.text(), '');
    assert.equal((await env.admin.json('GET', v3(env.admin, '/os-services?binary=cinder-volume'))).body.services[0].frozen, true);
    assert.equal((await env.demo.json('POST', v3(env.demo, '/volumes'), { volume: { size: 1 } })).status, 400);
    assert.equal((await put('thaw', { host: 'vistack@vmdk' })).status, 200);
    assert.equal((await makeVolume(env, env.demo)).status, 'available');
  });
});
