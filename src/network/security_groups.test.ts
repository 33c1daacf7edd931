// Security groups and rules through HTTP: the per-project default group and its rules, rule
// validation as Neutron's (protocols by name and number, port ranges per protocol, ICMP type and
// code, ethertype against the prefix's family, remote group and prefix exclusive, duplicates),
// ports using groups, and If-Match on updates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, make, makeNetwork, makeSubnet, makePort, assertNeutronError } from './test_helpers.ts';

const env = networkTestEnv();

const rule = (s: typeof env.demo, body: Record<string, unknown>) => s.json('POST', `${N}/security-group-rules`, { security_group_rule: body });

test('every project has one default group: egress anywhere, ingress from its members; it cannot be deleted', async () => {
  const list = await env.demo.json('GET', `${N}/security-groups`);
  assert.equal(list.status, 200);
  const defaults = list.body.security_groups.filter((g: any) => g.name === 'default');
  assert.equal(defaults.length, 1);
  const d = defaults[0];
  assert.equal(d.project_id, env.demoProject);
  const summary = d.security_group_rules.map((r: any) => `${r.direction} ${r.ethertype} ${r.remote_group_id === d.id ? 'self' : r.remote_group_id ?? 'any'}`).sort();
  assert.deepEqual(summary, ['egress IPv4 any', 'egress IPv6 any', 'ingress IPv4 self', 'ingress IPv6 self']);
  assert.ok(d.security_group_rules.every((r: any) => r.protocol === null && r.port_range_min === null && r.belongs_to_default_sg === true));

  // Listing again, or creating ports, makes no second default group.
  await env.demo.json('GET', `${N}/security-groups`);
  assert.equal((await env.demo.json('GET', `${N}/security-groups?name=default`)).body.security_groups.length, 1);
  // Another project gets its own, and does not see this one.
  const alt = await env.alt.json('GET', `${N}/security-groups`);
  assert.ok(alt.body.security_groups.every((g: any) => g.project_id === env.altProject));
  assertNeutronError(await env.alt.json('GET', `${N}/security-groups/${d.id}`), 404, 'SecurityGroupNotFound');

  assertNeutronError(await env.demo.json('DELETE', `${N}/security-groups/${d.id}`), 409, 'SecurityGroupCannotRemoveDefault');
  assertNeutronError(await env.demo.json('PUT', `${N}/security-groups/${d.id}`, { security_group: { name: 'renamed' } }), 409);
  assertNeutronError(await env.demo.json('POST', `${N}/security-groups`, { security_group: { name: 'default' } }), 409);
  // Its description may change.
  const upd = await env.demo.json('PUT', `${N}/security-groups/${d.id}`, { security_group: { description: 'ours' } });
  assert.equal(upd.status, 200);
  assert.equal(upd.body.security_group.description, 'ours');
});

test('a new group lets traffic out only; rules by protocol name and number, with per-protocol port ranges', async () => {
  const g = await make(env.demo, 'security-groups', 'security_group', { name: 'web', description: 'web servers' });
  assert.deepEqual(g.security_group_rules.map((r: any) => `${r.direction} ${r.ethertype}`).sort(), ['egress IPv4', 'egress IPv6']);

  const ok = [
    { protocol: 'tcp', port_range_min: 80, port_range_max: 80 },
    { protocol: 'tcp', port_range_min: 1000, port_range_max: 2000 },
    { protocol: 'TCP', port_range_min: 22, port_range_max: 22 },
    { protocol: '17', port_range_min: 53, port_range_max: 53 },
    { protocol: 6, port_range_min: 443, port_range_max: 443 },
    { protocol: 'icmp', port_range_min: 8, port_range_max: 0 },
    { protocol: 'icmp', port_range_min: 3 },
    { protocol: 'icmp' },
    { protocol: 'gre' },
    { protocol: '112' },
    { protocol: 'ipv6-icmp', ethertype: 'IPv6', port_range_min: 128, port_range_max: 0 },
    { protocol: 'udp', remote_ip_prefix: '192.0.2.0/24', port_range_min: 5000, port_range_max: 5001 },
    { protocol: 'tcp', ethertype: 'IPv6', remote_ip_prefix: '2001:db8::/32', port_range_min: 80, port_range_max: 80 },
  ];
  const made = [];
  for (const body of ok) {
    const r = await rule(env.demo, { security_group_id: g.id, direction: 'ingress', ...body });
    assert.equal(r.status, 201, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    made.push(r.body.security_group_rule);
  }
  assert.equal(made[2].protocol, 'tcp', 'protocol names are stored in lower case');
  assert.equal(made[3].protocol, '17');
  assert.equal(made[4].protocol, '6');
  assert.equal(made[5].port_range_min, 8);
  assert.equal(made[5].port_range_max, 0);
  assert.equal(made[0].ethertype, 'IPv4');
  assert.equal(made[0].security_group_id, g.id);
  // A prefix with host bits is kept as given; normalized_cidr is the network it means.
  const hostBits = await rule(env.demo, { security_group_id: g.id, direction: 'ingress', protocol: 'udp', remote_ip_prefix: '10.2.3.124/24' });
  assert.equal(hostBits.body.security_group_rule.remote_ip_prefix, '10.2.3.124/24');
  assert.equal(hostBits.body.security_group_rule.normalized_cidr, '10.2.3.0/24');

  const shown = await env.demo.json('GET', `${N}/security-groups/${g.id}`);
  assert.equal(shown.body.security_group.security_group_rules.length, 3 + ok.length);
  assert.ok(shown.body.security_group.revision_number >= ok.length, 'each new rule bumps the group');
  const one = await env.demo.json('GET', `${N}/security-group-rules/${made[0].id}`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.security_group_rule, made[0]);
  const filtered = await env.demo.json('GET', `${N}/security-group-rules?security_group_id=${g.id}&protocol=tcp`);
  assert.equal(filtered.body.security_group_rules.length, 4);
});

test('invalid rules are refused with Neutron\'s error types, and nothing is written', async () => {
  const g = await make(env.demo, 'security-groups', 'security_group', { name: 'strict' });
  const cases: [Record<string, unknown>, number, string?][] = [
    [{ direction: 'sideways' }, 400],
    [{ direction: 'ingress', ethertype: 'IPv5' }, 400],
    [{ direction: 'ingress', protocol: 'quic' }, 400, 'SecurityGroupRuleInvalidProtocol'],
    [{ direction: 'ingress', protocol: '256' }, 400, 'SecurityGroupRuleInvalidProtocol'],
    [{ direction: 'ingress', protocol: -1 }, 400, 'SecurityGroupRuleInvalidProtocol'],
    [{ direction: 'ingress', port_range_min: 80, port_range_max: 80 }, 400, 'SecurityGroupProtocolRequiredWithPorts'],
    [{ direction: 'ingress', protocol: 'tcp', port_range_min: 0, port_range_max: 80 }, 400, 'SecurityGroupInvalidPortValue'],
    [{ direction: 'ingress', protocol: 'tcp', port_range_min: 80, port_range_max: 65536 }, 400, 'SecurityGroupInvalidPortValue'],
    [{ direction: 'ingress', protocol: 'tcp', port_range_min: 90, port_range_max: 80 }, 400, 'SecurityGroupInvalidPortRange'],
    [{ direction: 'ingress', protocol: 'udp', port_range_min: 'eighty', port_range_max: 80 }, 400],
    [{ direction: 'ingress', protocol: 'icmp', port_range_min: 256 }, 400, 'SecurityGroupInvalidIcmpValue'],
    [{ direction: 'ingress', protocol: 'icmp', port_range_min: 8, port_range_max: 256 }, 400, 'SecurityGroupInvalidIcmpValue'],
    [{ direction: 'ingress', protocol: 'icmp', port_range_max: 0 }, 400, 'SecurityGroupMissingIcmpType'],
    [{ direction: 'ingress', protocol: 'gre', port_range_min: 1, port_range_max: 2 }, 400, 'SecurityGroupInvalidProtocolForPortRange'],
    [{ direction: 'ingress', remote_ip_prefix: '10.0.0.0/33' }, 400],
    [{ direction: 'ingress', remote_ip_prefix: 'fe80::/10' }, 400, 'SecurityGroupRuleParameterConflict'],
    [{ direction: 'ingress', ethertype: 'IPv6', remote_ip_prefix: '10.0.0.0/8' }, 400, 'SecurityGroupRuleParameterConflict'],
    [{ direction: 'ingress', remote_ip_prefix: '10.0.0.0/8', remote_group_id: g.id }, 400, 'SecurityGroupRemoteGroupAndRemoteIpPrefix'],
    [{ direction: 'ingress', remote_group_id: '3a0c7a22-0000-4000-8000-000000000000' }, 404, 'SecurityGroupNotFound'],
    [{ direction: 'ingress', colour: 'blue' }, 400],
  ];
  for (const [body, status, type] of cases) {
    assertNeutronError(await rule(env.demo, { security_group_id: g.id, ...body }), status, type);
  }
  // The messages say which field is wrong, as Neutron's do.
  assert.match(assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'ingress', protocol: 'icmp', port_range_min: 300, port_range_max: 1 }), 400).message, /Invalid value for ICMP type/);
  assert.match(assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'ingress', protocol: 'icmp', port_range_min: 1, port_range_max: 256 }), 400).message, /Invalid value for ICMP code/);
  assert.match(assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'ingress', protocol: 'tcp', port_range_max: 6 }), 400).message, /port_range_min must be <= port_range_max/);
  assertNeutronError(await rule(env.demo, { security_group_id: '3a0c7a22-0000-4000-8000-000000000001', direction: 'ingress' }), 404, 'SecurityGroupNotFound');
  assertNeutronError(await rule(env.demo, { direction: 'ingress' }), 400);
  assertNeutronError(await env.demo.json('POST', `${N}/security-group-rules`, { rule: {} }), 400);
  const after = await env.demo.json('GET', `${N}/security-groups/${g.id}`);
  assert.equal(after.body.security_group.security_group_rules.length, 2, 'only the two egress rules');
});

test('duplicate rules → 409 SecurityGroupRuleExists, also when spelled differently', async () => {
  const g = await make(env.demo, 'security-groups', 'security_group', { name: 'dups' });
  const first = await rule(env.demo, { security_group_id: g.id, direction: 'ingress', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '10.0.0.0/8' });
  assert.equal(first.status, 201);
  const again = assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'ingress', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '10.0.0.0/8' }), 409, 'SecurityGroupRuleExists');
  assert.match(again.message, new RegExp(first.body.security_group_rule.id));
  // The same rule with the protocol as a number, or the prefix with host bits, is still the same rule.
  assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'ingress', protocol: '6', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '10.1.2.3/8' }), 409, 'SecurityGroupRuleExists');
  // The default egress rule again, also with 0.0.0.0/0 (which is "anywhere", as no prefix is).
  assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'egress', ethertype: 'IPv4' }), 409, 'SecurityGroupRuleExists');
  assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'egress', ethertype: 'IPv4', remote_ip_prefix: '0.0.0.0/0' }), 409, 'SecurityGroupRuleExists');
  // ICMP for IPv6 by any of its names is one protocol.
  assert.equal((await rule(env.demo, { security_group_id: g.id, direction: 'ingress', ethertype: 'IPv6', protocol: 'ipv6-icmp' })).status, 201);
  assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'ingress', ethertype: 'IPv6', protocol: 'icmpv6' }), 409, 'SecurityGroupRuleExists');
  assertNeutronError(await rule(env.demo, { security_group_id: g.id, direction: 'ingress', ethertype: 'IPv6', protocol: '58' }), 409, 'SecurityGroupRuleExists');
  // Deleting a rule lets it be made again.
  assert.equal((await env.demo.request('DELETE', `${N}/security-group-rules/${first.body.security_group_rule.id}`)).status, 204);
  assertNeutronError(await env.demo.json('GET', `${N}/security-group-rules/${first.body.security_group_rule.id}`), 404, 'SecurityGroupRuleNotFound');
  assert.equal((await rule(env.demo, { security_group_id: g.id, direction: 'ingress', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '10.0.0.0/8' })).status, 201);
});

test('ports use the default group unless told otherwise; a group in use cannot be deleted', async () => {
  const net = await makeNetwork(env.demo, { name: 'sg-net' });
  await makeSubnet(env.demo, net.id, '10.50.0.0/24');
  const d = (await env.demo.json('GET', `${N}/security-groups?name=default`)).body.security_groups[0];
  const g = await make(env.demo, 'security-groups', 'security_group', { name: 'app' });
  const p1 = await makePort(env.demo, net.id);
  assert.deepEqual(p1.security_groups, [d.id]);
  const p2 = await makePort(env.demo, net.id, { security_groups: [g.id] });
  assert.deepEqual(p2.security_groups, [g.id]);
  const p3 = await makePort(env.demo, net.id, { port_security_enabled: false });
  assert.deepEqual(p3.security_groups, []);
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, security_groups: ['3a0c7a22-0000-4000-8000-000000000002'] } }), 404, 'SecurityGroupNotFound');
  // Another project's group is not ours to use.
  const altGroup = await make(env.alt, 'security-groups', 'security_group', { name: 'theirs' });
  assertNeutronError(await env.demo.json('POST', `${N}/ports`, { port: { network_id: net.id, security_groups: [altGroup.id] } }), 404, 'SecurityGroupNotFound');

  assertNeutronError(await env.demo.json('DELETE', `${N}/security-groups/${g.id}`), 409, 'SecurityGroupInUse');
  const moved = await env.demo.json('PUT', `${N}/ports/${p2.id}`, { port: { security_groups: [] } });
  assert.equal(moved.status, 200);
  assert.deepEqual(moved.body.port.security_groups, []);
  assert.equal((await env.demo.request('DELETE', `${N}/security-groups/${g.id}`)).status, 204);
  assertNeutronError(await env.demo.json('GET', `${N}/security-groups/${g.id}`), 404, 'SecurityGroupNotFound');
  assert.equal((await env.demo.json('GET', `${N}/security-group-rules?security_group_id=${g.id}`)).body.security_group_rules.length, 0);
});

test('If-Match: revision_number=N on group updates and deletes', async () => {
  const g = await make(env.demo, 'security-groups', 'security_group', { name: 'rev' });
  const rev = g.revision_number;
  const stale = await env.demo.json('PUT', `${N}/security-groups/${g.id}`, { security_group: { name: 'rev2' } }, { 'If-Match': `revision_number=${rev + 5}` });
  assertNeutronError(stale, 412, 'RevisionNumberConstraintFailed');
  const ok = await env.demo.json('PUT', `${N}/security-groups/${g.id}`, { security_group: { name: 'rev2' } }, { 'If-Match': `revision_number=${rev}` });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.security_group.revision_number, rev + 1);
  assertNeutronError(await env.demo.json('DELETE', `${N}/security-groups/${g.id}`, undefined, { 'If-Match': `revision_number=${rev}` }), 412);
  assert.equal((await env.demo.request('DELETE', `${N}/security-groups/${g.id}`, undefined, { 'If-Match': `revision_number=${rev + 1}` })).status, 204);
});
