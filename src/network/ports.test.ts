// Ports through HTTP: defaults, binding (admin only), port security with security groups and
// allowed address pairs, extra DHCP options, MAC changes, filters (fixed_ips=..., tags), tags,
// If-Match, ports on shared networks, and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, makeNetwork, makeSubnet, makePort, assertNeutronError } from './test_helpers.ts';

const env = networkTestEnv();

test('a new port: a fa:16:3e MAC, DOWN until bound, binding details for admins only', async () => {
  const n = await makeNetwork(env.demo, { name: 'pnet' });
  await makeSubnet(env.demo, n.id, '10.90.0.0/24');
  const p = await makePort(env.demo, n.id, { name: 'p1' });
  assert.match(p.mac_address, /^fa:16:3e(:[0-9a-f]{2}){3}$/);
  assert.equal(p.status, 'DOWN');
  assert.equal(p.admin_state_up, true);
  assert.equal(p.device_owner, '');
  assert.equal(p.device_id, '');
  assert.equal(p['binding:vnic_type'], 'normal');
  assert.equal('binding:host_id' in p, false);
  assert.equal(p.port_security_enabled, true);
  assert.deepEqual(p.allowed_address_pairs, []);
  assert.deepEqual(p.extra_dhcp_opts, []);

  const asAdmin = (await env.admin.json('GET', `${N}/ports/${p.id}`)).body.port;
  assert.equal(asAdmin['binding:host_id'], '');
  assert.equal(asAdmin['binding:vif_type'], 'unbound');

  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: n.id, 'binding:host_id': 'esx-1' } }), 403);
  const bound = await env.admin.json('PUT', `${N}/ports/${p.id}`, { port: { 'binding:host_id': 'esx-1', device_owner: 'compute:nova', device_id: 'a-server' } });
  assert.equal(bound.status, 200);
  assert.equal(bound.body.port.status, 'ACTIVE');
  assert.equal(bound.body.port['binding:vif_type'], 'dvs');
  // A bound compute port keeps its MAC.
  assertNeutronError(await env.admin.json('PUT', `${N}/ports/${p.id}`, { port: { mac_address: 'fa:16:3e:00:00:01' } }), 409, 'PortBound');
  const down = await env.admin.json('PUT', `${N}/ports/${p.id}`, { port: { admin_state_up: false } });
  assert.equal(down.body.port.status, 'DOWN');
});

test('port security: groups and address pairs need it; turning it off needs the groups gone', async () => {
  const n = await makeNetwork(env.demo, { name: 'psec' });
  await makeSubnet(env.demo, n.id, '10.91.0.0/24');
  const pairs = [{ ip_address: '10.91.0.200' }, { ip_address: '10.91.1.0/24', mac_address: 'FA:16:3E:AA:BB:CC' }];
  const p = await makePort(env.demo, n.id, { allowed_address_pairs: pairs });
  assert.deepEqual(p.allowed_address_pairs, [{ ip_address: '10.91.0.200', mac_address: p.mac_address }, { ip_address: '10.91.1.0/24', mac_address: 'fa:16:3e:aa:bb:cc' }]);
  assert.equal(p.security_groups.length, 1);

  assertNeutronError(await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { port_security_enabled: false } }), 409);
  const off = await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { port_security_enabled: false, security_groups: [], allowed_address_pairs: [] } });
  assert.equal(off.status, 200, JSON.stringify(off.body));
  assert.equal(off.body.port.port_security_enabled, false);
  assert.deepEqual(off.body.port.security_groups, []);
  assertNeutronError(await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { allowed_address_pairs: [{ ip_address: '10.91.0.201' }] } }), 409, 'AddressPairAndPortSecurityRequired');
  const sg = (await env.demo.json('GET', `${N}/security-groups?name=default`)).body.security_groups[0].id;
  assertNeutronError(await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { security_groups: [sg] } }), 400, 'PortSecurityAndIPRequiredForSecurityGroups');
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: n.id, port_security_enabled: false, security_groups: [sg] } }), 400, 'PortSecurityAndIPRequiredForSecurityGroups');
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: n.id, port_security_enabled: false, allowed_address_pairs: [{ ip_address: '10.91.0.9' }] } }), 409, 'AddressPairAndPortSecurityRequired');

  // Bad pairs.
  for (const bad of [[{ ip_address: 'nope' }], [{ mac_address: 'fa:16:3e:00:00:01' }], [{ ip_address: '10.0.0.1', mac_address: 'zz' }], { ip_address: '10.0.0.1' }, [{ ip_address: '10.0.0.1' }, { ip_address: '10.0.0.1' }]]) {
    assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: n.id, allowed_address_pairs: bad } }), 400);
  }
  // A network without port security gives its ports none (and no groups).
  const open = await makeNetwork(env.demo, { name: 'open', port_security_enabled: false });
  const op = await makePort(env.demo, open.id);
  assert.equal(op.port_security_enabled, false);
  assert.deepEqual(op.security_groups, []);
});

test('extra DHCP options: set, replaced by name, removed with a null value', async () => {
  const n = await makeNetwork(env.demo, { name: 'dhcp' });
  const p = await makePort(env.demo, n.id, { extra_dhcp_opts: [{ opt_name: 'bootfile-name', opt_value: 'pxelinux.0' }, { opt_name: 'tftp-server', opt_value: '192.0.2.10' }] });
  assert.equal(p.extra_dhcp_opts.length, 2);
  const u = await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { extra_dhcp_opts: [{ opt_name: 'bootfile-name', opt_value: 'ipxe.efi' }, { opt_name: 'tftp-server', opt_value: null }] } });
  assert.equal(u.status, 200);
  assert.deepEqual(u.body.port.extra_dhcp_opts.map((o: any) => [o.opt_name, o.opt_value]), [['bootfile-name', 'ipxe.efi']]);
  for (const bad of [[{ opt_value: 'x' }], [{ opt_name: 'a', opt_value: 5 }], [{ opt_name: 'a', opt_value: 'b', ip_version: 5 }], 'bootfile']) {
    assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: n.id, extra_dhcp_opts: bad } }), 400);
  }
});

test('bad port requests: a 4xx NeutronError and no port', async () => {
  const n = await makeNetwork(env.demo, { name: 'pbad' });
  await makeSubnet(env.demo, n.id, '10.92.0.0/24');
  const cases: [unknown, number, string?][] = [
    [{ port: {} }, 400],
    [{ port: { network_id: 7 } }, 400],
    [{ port: { network_id: 'c0ffee00-0000-4000-8000-000000000000' } }, 404, 'NetworkNotFound'],
    [{ port: { network_id: n.id, mac_address: 'not-a-mac' } }, 400],
    [{ port: { network_id: n.id, 'binding:vnic_type': 'warp' } }, 400],
    [{ port: { network_id: n.id, admin_state_up: 'up' } }, 400],
    [{ port: { network_id: n.id, name: { a: 1 } } }, 400],
    [{ port: { network_id: n.id, security_groups: 'default' } }, 400],
    [{ port: { network_id: n.id, wings: 2 } }, 400],
    [{ ports: [{ network_id: n.id }, { network_id: n.id, mac_address: 'bad' }] }, 400],
    [{ ports: [{ network_id: n.id, fixed_ips: [{ ip_address: '10.92.0.50' }] }, { network_id: n.id, fixed_ips: [{ ip_address: '10.92.0.50' }] }] }, 409, 'IpAddressAlreadyAllocated'],
  ];
  for (const [body, status, type] of cases) assertNeutronError(await env.demo.json('POST', `${N}/ports`, body), status, type);
  assert.deepEqual((await env.demo.json('GET', `${N}/ports?network_id=${n.id}`)).body.ports, [], 'bulk creates are all or nothing');

  const p = await makePort(env.demo, n.id);
  for (const body of [{ port: { network_id: n.id } }, { port: { project_id: env.altProject } }, { port: { mac_address: 'x' } }, { port: { status: 'ACTIVE' } }]) {
    assertNeutronError(await env.demo.json('PUT', `${N}/ports/${p.id}`, body), 400);
  }
  const other = await makePort(env.demo, n.id);
  assertNeutronError(await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { mac_address: other.mac_address } }), 409, 'MacAddressInUse');
  const shown = (await env.demo.json('GET', `${N}/ports/${p.id}`)).body.port;
  assert.equal(shown.revision_number, p.revision_number, 'refused updates change nothing');
  assert.equal(shown.mac_address, p.mac_address);
  const mac = await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { mac_address: 'FA:16:3E:01:02:03' } });
  assert.equal(mac.body.port.mac_address, 'fa:16:3e:01:02:03', 'an unbound port may change its MAC');
  assertNeutronError(await env.demo.json('GET', `${N}/ports/c0ffee00-0000-4000-8000-000000000001`), 404, 'PortNotFound');
  assertNeutronError(await env.demo.json('DELETE', `${N}/ports/c0ffee00-0000-4000-8000-000000000001`), 404, 'PortNotFound');
});

test('If-Match on port updates and deletes; revision_number counts every update', async () => {
  const n = await makeNetwork(env.demo, { name: 'prev' });
  const p = await makePort(env.demo, n.id);
  let rev = p.revision_number;
  for (const name of ['a', 'b', 'c']) {
    const r = await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { name } }, { 'If-Match': `revision_number=${rev}` });
    assert.equal(r.status, 200);
    assert.equal(r.body.port.revision_number, rev + 1);
    rev = r.body.port.revision_number;
  }
  assertNeutronError(await env.demo.json('PUT', `${N}/ports/${p.id}`, { port: { name: 'd' } }, { 'If-Match': `revision_number=${rev - 1}` }), 412, 'RevisionNumberConstraintFailed');
  assertNeutronError(await env.demo.json('DELETE', `${N}/ports/${p.id}`, undefined, { 'If-Match': `revision_number=${rev - 1}` }), 412);
  assert.equal((await env.demo.request('DELETE', `${N}/ports/${p.id}`, undefined, { 'If-Match': `revision_number=${rev}` })).status, 204);
});

test('filters: fixed_ips by address, subnet and substring; device and owner; tags', async () => {
  const n = await makeNetwork(env.alt, { name: 'pfilter' });
  const s = await makeSubnet(env.alt, n.id, '10.93.0.0/24');
  const a = await makePort(env.alt, n.id, { fixed_ips: [{ ip_address: '10.93.0.11' }], device_owner: 'compute:nova', device_id: 'vm-1' });
  const b = await makePort(env.alt, n.id, { fixed_ips: [{ ip_address: '10.93.0.111' }] });
  const ids = async (q: string) => (await env.alt.json('GET', `${N}/ports?network_id=${n.id}&${q}`)).body.ports.map((p: any) => p.id).sort();
  assert.deepEqual(await ids('fixed_ips=ip_address%3D10.93.0.11'), [a.id]);
  assert.deepEqual(await ids('fixed_ips=ip_address_substr%3D93.0.11'), [a.id, b.id].sort());
  assert.deepEqual(await ids(`fixed_ips=subnet_id%3D${s.id}`), [a.id, b.id].sort());
  assert.deepEqual(await ids('device_id=vm-1'), [a.id]);
  assert.deepEqual(await ids('device_owner=compute:nova'), [a.id]);
  assert.deepEqual(await ids(`mac_address=${b.mac_address}`), [b.id]);

  // Tags: replace, add, check, filter, remove.
  const put = await env.alt.json('PUT', `${N}/ports/${a.id}/tags`, { tags: ['red', 'blue'] });
  assert.equal(put.status, 200);
  assert.deepEqual(put.body.tags, ['blue', 'red']);
  assert.equal((await env.alt.request('PUT', `${N}/ports/${b.id}/tags/red`)).status, 201);
  assert.equal((await env.alt.request('GET', `${N}/ports/${a.id}/tags/blue`)).status, 204);
  assertNeutronError(await env.alt.json('GET', `${N}/ports/${b.id}/tags/blue`), 404, 'TagNotFound');
  assert.deepEqual(await ids('tags=red'), [a.id, b.id].sort());
  assert.deepEqual(await ids('tags=red,blue'), [a.id]);
  assert.deepEqual(await ids('not-tags=blue'), [b.id]);
  assert.deepEqual(await ids('tags-any=blue,green'), [a.id]);
  assertNeutronError(await env.alt.json('PUT', `${N}/ports/${a.id}/tags`, { tags: ['a,b'] }), 400);
  assertNeutronError(await env.demo.json('PUT', `${N}/ports/${a.id}/tags/x`), 404, 'PortNotFound');
  assert.equal((await env.alt.request('DELETE', `${N}/ports/${a.id}/tags`)).status, 204);
  assert.deepEqual((await env.alt.json('GET', `${N}/ports/${a.id}`)).body.port.tags, []);
});

test('ports on a shared network: members make their own, fixed addresses are the owner\'s to give', async () => {
  const shared = await makeNetwork(env.admin, { name: 'pshared', shared: true });
  await makeSubnet(env.admin, shared.id, '10.94.0.0/24');
  const mine = await makePort(env.demo, shared.id);
  assert.equal(mine.project_id, env.demoProject);
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: shared.id, fixed_ips: [{ ip_address: '10.94.0.77' }] } }), 403);
  // The other member sees neither the port nor may touch it.
  assertNeutronError(await env.alt.json('GET', `${N}/ports/${mine.id}`), 404, 'PortNotFound');
  assert.equal((await env.alt.json('GET', `${N}/ports?network_id=${shared.id}`)).body.ports.length, 0);
  // The network cannot be unshared while a member uses it.
  assertNeutronError(await env.admin.json('PUT', `${N}/networks/${shared.id}`, { network: { shared: false } }), 409, 'InvalidSharedSetting');
});
