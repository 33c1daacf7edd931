// RBAC policies through HTTP: sharing a network with one project (it sees the network and its
// subnets, makes ports, boots servers on it; others do not), `shared` as the '*' policy both
// ways, access_as_external, who may create, see, change and delete policies, policies that ports
// depend on (409 RbacPolicyInUse), and bad input on every route (NeutronError, nothing written).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N, networkTestEnv, make, makeNetwork, makeSubnet, makePort, assertNeutronError } from './test_helpers.ts';
import type { Session } from '../testing.ts';

const env = networkTestEnv();

const share = (s: Session, networkId: string, target: string, action = 'access_as_shared') =>
  make(s, 'rbac-policies', 'rbac_policy', { object_type: 'network', object_id: networkId, action, target_tenant: target });
const visible = async (s: Session, networkId: string) => (await s.json('GET', `${N}/networks`)).body.networks.some((n: any) => n.id === networkId);
const policiesOf = async (networkId: string) => (await env.admin.json('GET', `${N}/rbac-policies?object_id=${networkId}`)).body.rbac_policies;

test('a network shared with one project: that project sees it and its subnets and makes ports; others do not', async () => {
  const net = await makeNetwork(env.admin, { name: 'for-demo' });
  const sub = await makeSubnet(env.admin, net.id, '10.210.0.0/24');
  assertNeutronError(await env.demo.json('GET', `${N}/networks/${net.id}`), 404, 'NetworkNotFound');

  const p = await share(env.admin, net.id, env.demoProject);
  assert.deepEqual(Object.keys(p).sort(), ['action', 'id', 'object_id', 'object_type', 'project_id', 'target_project', 'target_tenant', 'tenant_id']);
  assert.equal(p.target_tenant, env.demoProject);
  assert.equal(p.project_id, env.adminProject);
  assert.equal(p.object_type, 'network');

  const shown = await env.demo.json('GET', `${N}/networks/${net.id}`);
  assert.equal(shown.status, 200, JSON.stringify(shown.body));
  assert.equal(shown.body.network.shared, true, 'shared with the caller counts as shared');
  assert.ok(await visible(env.demo, net.id));
  assert.equal((await env.demo.json('GET', `${N}/subnets/${sub.id}`)).status, 200);
  assert.ok((await env.demo.json('GET', `${N}/subnets`)).body.subnets.some((s: any) => s.id === sub.id));
  // For the owner (and everyone else) the network is not shared: no '*' policy.
  assert.equal((await env.admin.json('GET', `${N}/networks/${net.id}`)).body.network.shared, false);
  assertNeutronError(await env.alt.json('GET', `${N}/networks/${net.id}`), 404, 'NetworkNotFound');
  assertNeutronError(await env.alt.json('GET', `${N}/subnets/${sub.id}`), 404, 'SubnetNotFound');
  assert.equal(await visible(env.alt, net.id), false);
  assertNeutronError(await env.alt.json('POST', `${N}/ports`, { port: { network_id: net.id } }), 404, 'NetworkNotFound');

  const port = await makePort(env.demo, net.id, { name: 'demo-port' });
  assert.equal(port.project_id, env.demoProject);
  assert.equal(port.fixed_ips[0].subnet_id, sub.id);
  // The port depends on the policy; once it is gone, so may the policy be.
  const e = assertNeutronError(await env.admin.json('DELETE', `${N}/rbac-policies/${p.id}`), 409, 'RbacPolicyInUse');
  assert.match(e.message, new RegExp(`RBAC policy on object ${net.id} cannot be removed`));
  assert.equal((await policiesOf(net.id)).length, 1, 'the refused delete removed nothing');
  // The owner of the network may delete the port others made on it.
  assert.equal((await env.admin.request('DELETE', `${N}/ports/${port.id}`)).status, 204);
  assert.equal((await env.admin.request('DELETE', `${N}/rbac-policies/${p.id}`)).status, 204);
  assertNeutronError(await env.demo.json('GET', `${N}/networks/${net.id}`), 404, 'NetworkNotFound');
  assertNeutronError(await env.admin.json('GET', `${N}/rbac-policies/${p.id}`), 404, 'RbacPolicyNotFound');
});

test('shared=True is the "*" access_as_shared policy, both ways', async () => {
  const net = await makeNetwork(env.admin, { name: 'everyone', shared: true });
  const [wild] = await policiesOf(net.id);
  assert.equal(wild.target_tenant, '*');
  assert.equal(wild.action, 'access_as_shared');
  assert.equal(wild.project_id, env.adminProject);

  // Deleting the policy unshares the network, and bumps its revision.
  const rev = (await env.admin.json('GET', `${N}/networks/${net.id}`)).body.network.revision_number;
  assert.equal((await env.admin.request('DELETE', `${N}/rbac-policies/${wild.id}`)).status, 204);
  const after = (await env.admin.json('GET', `${N}/networks/${net.id}`)).body.network;
  assert.equal(after.shared, false);
  assert.ok(after.revision_number > rev);
  assert.equal(await visible(env.demo, net.id), false);

  // A '*' policy shares it again; shared=False through the network removes the policy.
  const again = await share(env.admin, net.id, '*');
  assert.equal((await env.admin.json('GET', `${N}/networks/${net.id}`)).body.network.shared, true);
  assert.ok(await visible(env.demo, net.id));
  assertNeutronError(await env.admin.json('POST', `${N}/rbac-policies`, { rbac_policy: { object_type: 'network', object_id: net.id, action: 'access_as_shared', target_tenant: '*' } }), 409, 'DuplicateRbacPolicy');
  const off = await env.admin.json('PUT', `${N}/networks/${net.id}`, { network: { shared: false } });
  assert.equal(off.status, 200);
  assert.equal(off.body.network.shared, false);
  assert.deepEqual(await policiesOf(net.id), []);
  assertNeutronError(await env.admin.json('GET', `${N}/rbac-policies/${again.id}`), 404, 'RbacPolicyNotFound');
  const on = await env.admin.json('PUT', `${N}/networks/${net.id}`, { network: { shared: true } });
  assert.equal(on.body.network.shared, true);
  assert.equal((await policiesOf(net.id)).length, 1);

  // With a port of another project on it, unsharing is refused, unless that project keeps its own grant.
  await makeSubnet(env.admin, net.id, '10.211.0.0/24');
  await makePort(env.demo, net.id);
  assertNeutronError(await env.admin.json('PUT', `${N}/networks/${net.id}`, { network: { shared: false } }), 409, 'InvalidSharedSetting');
  const [w] = await policiesOf(net.id);
  assertNeutronError(await env.admin.json('DELETE', `${N}/rbac-policies/${w.id}`), 409, 'RbacPolicyInUse');
  assert.equal((await env.admin.json('GET', `${N}/networks/${net.id}`)).body.network.shared, true);
  await share(env.admin, net.id, env.demoProject);
  assert.equal((await env.admin.request('DELETE', `${N}/rbac-policies/${w.id}`)).status, 204);
  assert.equal(await visible(env.demo, net.id), true);
  assert.equal(await visible(env.alt, net.id), false);

  // Filters on shared see the policies.
  const sharedList = (await env.admin.json('GET', `${N}/networks?shared=true`)).body.networks.map((n: any) => n.id);
  assert.ok(!sharedList.includes(net.id));
  assert.ok((await env.demo.json('GET', `${N}/networks?shared=true`)).body.networks.some((n: any) => n.id === net.id));
  // Deleting the network takes its policies along (after its ports).
  for (const p of (await env.admin.json('GET', `${N}/ports?network_id=${net.id}`)).body.ports) await env.admin.request('DELETE', `${N}/ports/${p.id}`);
  assert.equal((await env.admin.request('DELETE', `${N}/networks/${net.id}`)).status, 204);
  assert.deepEqual(await policiesOf(net.id), []);
});

test('members share their own networks with projects, not with everyone, and not others\' networks', async () => {
  const mine = await makeNetwork(env.demo, { name: 'demo-own' });
  const p = await share(env.demo, mine.id, env.altProject);
  assert.equal(p.project_id, env.demoProject);
  assert.ok(await visible(env.alt, mine.id));
  // The policy is its owner's: the target project does not see it.
  assert.ok((await env.demo.json('GET', `${N}/rbac-policies`)).body.rbac_policies.some((x: any) => x.id === p.id));
  assert.ok(!(await env.alt.json('GET', `${N}/rbac-policies`)).body.rbac_policies.some((x: any) => x.id === p.id));
  assertNeutronError(await env.alt.json('GET', `${N}/rbac-policies/${p.id}`), 404, 'RbacPolicyNotFound');
  assertNeutronError(await env.alt.json('DELETE', `${N}/rbac-policies/${p.id}`), 404, 'RbacPolicyNotFound');
  // The target sees the network but may not grant it further.
  assertNeutronError(await env.alt.json('POST', `${N}/rbac-policies`, { rbac_policy: { object_type: 'network', object_id: mine.id, action: 'access_as_shared', target_tenant: env.altProject } }), 400);
  // No wildcard for members, on create or update.
  assertNeutronError(await env.demo.json('POST', `${N}/rbac-policies`, { rbac_policy: { object_type: 'network', object_id: mine.id, action: 'access_as_shared', target_tenant: '*' } }), 403);
  assertNeutronError(await env.demo.json('PUT', `${N}/rbac-policies/${p.id}`, { rbac_policy: { target_tenant: '*' } }), 403);
  // Invisible networks cannot be granted.
  const adminNet = await makeNetwork(env.admin, { name: 'admin-only' });
  assertNeutronError(await env.demo.json('POST', `${N}/rbac-policies`, { rbac_policy: { object_type: 'network', object_id: adminNet.id, action: 'access_as_shared', target_tenant: env.altProject } }), 404, 'NetworkNotFound');

  // Moving the grant to another project: fine while the old target has no ports there.
  const moved = await env.demo.json('PUT', `${N}/rbac-policies/${p.id}`, { rbac_policy: { target_tenant: env.adminProject } });
  assert.equal(moved.status, 200);
  assert.equal(moved.body.rbac_policy.target_tenant, env.adminProject);
  assert.deepEqual({ ...moved.body.rbac_policy, target_tenant: undefined, target_project: undefined }, { ...p, target_tenant: undefined, target_project: undefined });
  assert.equal(await visible(env.alt, mine.id), false);
  const back = await env.demo.json('PUT', `${N}/rbac-policies/${p.id}`, { rbac_policy: { target_tenant: env.altProject } });
  assert.equal(back.status, 200);
  await makeSubnet(env.demo, mine.id, '10.212.0.0/24');
  await makePort(env.alt, mine.id);
  assertNeutronError(await env.demo.json('PUT', `${N}/rbac-policies/${p.id}`, { rbac_policy: { target_tenant: env.adminProject } }), 409, 'RbacPolicyInUse');
  assert.equal((await env.demo.json('GET', `${N}/rbac-policies/${p.id}`)).body.rbac_policy.target_tenant, env.altProject);

  // A self-share depends on nothing.
  const self = await share(env.demo, mine.id, env.demoProject);
  await makePort(env.demo, mine.id);
  assert.equal((await env.demo.request('DELETE', `${N}/rbac-policies/${self.id}`)).status, 204);
});

test('access_as_external: "*" is router:external both ways; one project gets the network as external', async () => {
  const ext = await makeNetwork(env.admin, { name: 'ext', 'router:external': true });
  const [wild] = await policiesOf(ext.id);
  assert.equal(wild.action, 'access_as_external');
  assert.equal(wild.target_tenant, '*');
  assert.equal((await env.admin.request('DELETE', `${N}/rbac-policies/${wild.id}`)).status, 204);
  const plain = (await env.admin.json('GET', `${N}/networks/${ext.id}`)).body.network;
  assert.equal(plain['router:external'], false);
  assert.equal(await visible(env.demo, ext.id), false);

  await share(env.admin, ext.id, env.demoProject, 'access_as_external');
  const forDemo = await env.demo.json('GET', `${N}/networks/${ext.id}`);
  assert.equal(forDemo.status, 200, JSON.stringify(forDemo.body));
  assert.equal(forDemo.body.network['router:external'], true);
  assert.equal(forDemo.body.network.shared, false);
  assert.equal(await visible(env.alt, ext.id), false);
  // router:external=False ends every external policy.
  const off = await env.admin.json('PUT', `${N}/networks/${ext.id}`, { network: { 'router:external': false } });
  assert.equal(off.body.network['router:external'], false);
  assert.deepEqual(await policiesOf(ext.id), []);
  assert.equal(await visible(env.demo, ext.id), false);
});

test('a server boots on a network shared with its project', async () => {
  const net = await makeNetwork(env.admin, { name: 'boot-shared' });
  await makeSubnet(env.admin, net.id, '10.213.0.0/24');
  const img = (await env.admin.json('GET', '/image/v2/images?status=active')).body.images[0].id;
  const boot = () => env.demo.json('POST', '/compute/v2.1/servers', { server: { name: 'on-shared', imageRef: img, flavorRef: '1', networks: [{ uuid: net.id }] } });
  const refused = await boot();
  assert.equal(refused.status, 400, 'not shared yet: Nova cannot find the network');
  const p = await share(env.admin, net.id, env.demoProject);
  const ok = await boot();
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  await env.cloud.ctx.tasks.idle();
  const ports = (await env.demo.json('GET', `${N}/ports?device_id=${ok.body.server.id}`)).body.ports;
  assert.equal(ports.length, 1);
  assert.equal(ports[0].network_id, net.id);
  assert.equal(ports[0].project_id, env.demoProject);
  assertNeutronError(await env.admin.json('DELETE', `${N}/rbac-policies/${p.id}`), 409, 'RbacPolicyInUse');
  assert.equal((await env.demo.request('DELETE', `/compute/v2.1/servers/${ok.body.server.id}`)).status, 204);
  await env.cloud.ctx.tasks.idle();
  assert.equal((await env.admin.request('DELETE', `${N}/rbac-policies/${p.id}`)).status, 204);
});

test('bad input on every route: NeutronError, nothing written', async () => {
  const net = await makeNetwork(env.admin, { name: 'bad-input' });
  const before = (await env.admin.json('GET', `${N}/rbac-policies`)).body.rbac_policies.length;
  const base = { object_type: 'network', object_id: net.id, action: 'access_as_shared', target_tenant: env.demoProject };
  const bad: [Record<string, unknown>, number, string?][] = [
    [{ ...base, target_tenant: undefined }, 400],
    [{ ...base, target_tenant: null }, 400],
    [{ ...base, target_tenant: '1234'.repeat(100) }, 400],
    [{ ...base, target_tenant: 'not a project' }, 400],
    [{ ...base, target_project: env.altProject }, 400],
    [{ ...base, object_type: 'qos_policy' }, 400],
    [{ ...base, object_type: undefined }, 400],
    [{ ...base, object_id: 'x' }, 400],
    [{ ...base, object_id: undefined }, 400],
    [{ ...base, object_id: '6c5f1d36-0000-4000-8000-000000000000' }, 404, 'NetworkNotFound'],
    [{ ...base, action: 'access_as_readonly' }, 400],
    [{ ...base, action: 3 }, 400],
    [{ ...base, color: 'red' }, 400],
  ];
  for (const [body, status, type] of bad) {
    assertNeutronError(await env.admin.json('POST', `${N}/rbac-policies`, { rbac_policy: JSON.parse(JSON.stringify(body)) }), status, type);
  }
  assertNeutronError(await env.admin.json('POST', `${N}/rbac-policies`, { policy: base }), 400);
  assert.equal((await env.admin.json('GET', `${N}/rbac-policies`)).body.rbac_policies.length, before);

  const p = await share(env.admin, net.id, env.demoProject);
  for (const body of [{ action: 'access_as_external' }, { object_id: net.id }, { object_type: 'network' }, { target_tenant: 'nope' }, { project_id: env.altProject }, { extra: 1 }]) {
    assertNeutronError(await env.admin.json('PUT', `${N}/rbac-policies/${p.id}`, { rbac_policy: body }), 400);
  }
  assertNeutronError(await env.admin.json('PUT', `${N}/rbac-policies/${p.id}`, { rbac: {} }), 400);
  const same = await env.admin.json('GET', `${N}/rbac-policies/${p.id}`);
  assert.deepEqual(same.body.rbac_policy, p, 'refused updates changed nothing');
  // Moving onto a target that already has the grant is a duplicate.
  await share(env.admin, net.id, env.altProject);
  assertNeutronError(await env.admin.json('PUT', `${N}/rbac-policies/${p.id}`, { rbac_policy: { target_tenant: env.altProject } }), 409, 'DuplicateRbacPolicy');
  for (const m of ['GET', 'PUT', 'DELETE']) {
    assertNeutronError(await env.admin.json(m, `${N}/rbac-policies/6c5f1d36-0000-4000-8000-000000000000`, m === 'PUT' ? { rbac_policy: { target_tenant: '*' } } : undefined), 404, 'RbacPolicyNotFound');
  }
  // Lists filter and pick fields as every Neutron list.
  const listed = await env.admin.json('GET', `${N}/rbac-policies?object_id=${net.id}&target_tenant=${env.altProject}&fields=id&fields=action`);
  assert.equal(listed.body.rbac_policies.length, 1);
  assert.deepEqual(Object.keys(listed.body.rbac_policies[0]).sort(), ['action', 'id']);
});

test('rbac_policy quota: a project makes at most its limit of policies', async () => {
  const net = await makeNetwork(env.demo, { name: 'quota' });
  const quota = (await env.admin.json('GET', `${N}/quotas/${env.demoProject}`)).body.quota;
  assert.equal(quota.rbac_policy, 10);
  const made = (await env.demo.json('GET', `${N}/rbac-policies`)).body.rbac_policies.length;
  const targets = Array.from({ length: 12 }, (_, i) => `${String(i).padStart(2, '0')}${'ab'.repeat(15)}`);
  const results = [];
  for (const t of targets) results.push(await env.demo.json('POST', `${N}/rbac-policies`, { rbac_policy: { object_type: 'network', object_id: net.id, action: 'access_as_shared', target_tenant: t } }));
  assert.equal(results.filter((r) => r.status === 201).length, 10 - made);
  for (const r of results.filter((x) => x.status !== 201)) assertNeutronError(r, 409, 'OverQuota');
});
