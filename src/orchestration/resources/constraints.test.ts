// Custom constraints against a running cloud: names and ids of visible objects pass, missing
// ones answer Heat's words; value formats (ip_addr, net_cidr, mac_addr, iso_8601, timezone);
// unknown constraint names pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { customCheck } from './constraints.ts';
import { pluginTestEnv } from './services/test_helpers.ts';

const env = pluginTestEnv();

describe('customCheck', () => {
  it('looks references up as the stack owner', async () => {
    const check = customCheck(env.client);
    assert.equal(await check('nova.flavor', 'm1.tiny'), null);
    assert.equal(await check('nova.flavor', '1'), null);
    assert.equal(await check('nova.flavor', 1), null);
    assert.equal(await check('nova.flavor', 'x'), "Error validating value 'x': The Flavor ID (x) could not be found.");
    assert.equal(await check('glance.image', env.imageId), null);
    const img = await env.client.request('image', 'GET', `/images/${env.imageId}`);
    assert.equal(await check('glance.image', img.body.name), null);
    assert.equal(await check('glance.image', 'nope'), "Error validating value 'nope': The Image (nope) could not be found.");
    assert.equal(await check('nova.keypair', 'nokey'), "Error validating value 'nokey': The Key (nokey) could not be found.");
    assert.equal(await check('neutron.network', 'nonet'), "Error validating value 'nonet': Unable to find network with name or id 'nonet'");
    const n = await env.client.request('network', 'POST', '/networks', { network: { name: 'cnet' } });
    assert.equal(await check('neutron.network', 'cnet'), null);
    assert.equal(await check('neutron.network', n.body.network.id), null);
    assert.equal(await check('neutron.subnet', 'nosub'), "Error validating value 'nosub': Unable to find subnet with name or id 'nosub'");
    assert.equal(await check('neutron.security_group', 'default'), null);
    assert.equal(await check('cinder.volume', 'novol'), "Error validating value 'novol': The Volume (novol) could not be found.");
    assert.match(String(await check('cinder.vtype', 'notype')), /The VolumeType \(notype\) could not be found/);
    assert.equal(await check('keystone.project', 'demo'), null);
    assert.equal(await check('keystone.role', 'member'), null);
    assert.equal(await check('keystone.domain', 'default'), null);
    assert.match(String(await check('nova.server', 'nosrv')), /The Server \(nosrv\) could not be found/);
  });

  it('checks value formats', async () => {
    const check = customCheck(env.client);
    assert.equal(await check('ip_addr', '10.0.0.1'), null);
    assert.equal(await check('ip_addr', 'fe80::1'), null);
    assert.equal(await check('ip_addr', '10.0.0.300'), "Error validating value '10.0.0.300': Invalid IP address");
    assert.equal(await check('net_cidr', '10.0.0.0/24'), null);
    assert.equal(await check('net_cidr', '2001:db8::/64'), null);
    assert.match(String(await check('net_cidr', '10.0.0.0')), /Invalid net cidr/);
    assert.match(String(await check('net_cidr', '10.0.0.0/33')), /Invalid net cidr/);
    assert.equal(await check('mac_addr', 'fa:16:3e:00:00:01'), null);
    assert.match(String(await check('mac_addr', 'fa:16:3e')), /Invalid MAC address/);
    assert.equal(await check('iso_8601', '2024-05-01T10:00:00Z'), null);
    assert.match(String(await check('iso_8601', 'yesterday')), /Invalid timestamp/);
    assert.equal(await check('timezone', 'Europe/Paris'), null);
    assert.match(String(await check('timezone', 'Mars/Olympus')), /Invalid timezone/);
  });

  it('accepts unknown constraint names and absent values', async () => {
    const check = customCheck(env.client);
    assert.equal(await check('designate.domain', 'whatever'), null);
    assert.equal(await check('nova.flavor', null), null);
  });
});
