// Compute nodes, services, availability zones, aggregates and version discovery through HTTP:
// the nodes come from the simulator's clusters, usage from the instances table, admin-only
// policies, microversion differences (2.28, 2.53, 2.88 ...), enable/disable/force-down/delete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { insertInstance, computeTestEnv, V } from './test_helpers.ts';
import { listSchedulableNodes, syncComputeNodes } from './hypervisors.ts';
import { availabilityZoneExists } from './availability_zones.ts';

const env = computeTestEnv();



test('version discovery is public and describes v2.0 and v2.1', async () => {
  const r = await fetch(`${env.cloud.url}/compute/`);
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.deepEqual(body.versions.map((v: any) => v.id), ['v2.0', 'v2.1']);
  const v21 = body.versions[1];
  assert.equal(v21.status, 'CURRENT');
  assert.equal(v21.min_version, '2.1');
  assert.match(v21.version, /^2\.\d+$/);
  for (const v of body.versions) {
    const self = v.links.find((l: any) => l.rel === 'self').href;
    const doc = await (await fetch(self)).json();
    assert.deepEqual(doc.version.links.filter((l: any) => l.rel === 'self'), [{ rel: 'self', href: self }]);
    assert.equal(doc.version.id, v.id);
    assert.ok(doc.version['media-types'].length);
  }
  assert.equal((await fetch(`${env.cloud.url}/compute/v2.1`)).status, 200);
});

test('nodes are synced from the driver, one nova-compute service per node host', async () => {
  const driverNodes = await env.cloud.ctx.driver.listNodes();
  assert.ok(driverNodes.length >= 1);
  const r = await env.admin.json('GET', '/compute/v2.1/os-hypervisors/detail');
  assert.equal(r.status, 200);
  assert.equal(r.body.hypervisors.length, driverNodes.length);
  const h = r.body.hypervisors[0];
  const n = driverNodes.find((d) => d.nodename === h.hypervisor_hostname)!;
  assert.ok(n);
  assert.equal(typeof h.id, 'number');
  assert.equal(h.state, 'up');
  assert.equal(h.status, 'enabled');
  assert.equal(h.hypervisor_type, 'VMware vCenter Server');
  assert.equal(h.vcpus, n.vcpus);
  assert.equal(h.memory_mb, n.memoryMb);
  assert.equal(h.local_gb, n.localGb);
  assert.equal(typeof h.cpu_info, 'string'); // a JSON string before 2.28
  assert.equal(h.running_vms, 0);
  assert.equal(h.service.host, n.host);

  const v253 = await env.admin.json('GET', '/compute/v2.1/os-hypervisors/detail', undefined, V('2.53'));
  const u = v253.body.hypervisors[0];
  assert.match(u.id, /^[0-9a-f-]{36}$/);
  assert.match(u.service.id, /^[0-9a-f-]{36}$/);
  assert.equal(typeof u.cpu_info, 'object');
  const v288 = await env.admin.json('GET', '/compute/v2.1/os-hypervisors/detail', undefined, V('2.79'));
  assert.ok('vcpus' in v288.body.hypervisors[0]);

  const show = await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${u.id}`, undefined, V('2.53'));
  assert.equal(show.body.hypervisor.hypervisor_hostname, u.hypervisor_hostname);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${h.id}`, undefined, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${h.id}`)).status, 200);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors/abc')).status, 404);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors/99999')).status, 404);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors/00000000-0000-0000-0000-000000000000', undefined, V('2.53'))).status, 404);

  const stats = await env.admin.json('GET', '/compute/v2.1/os-hypervisors/statistics');
  assert.equal(stats.body.hypervisor_statistics.count, driverNodes.length);
  assert.equal(stats.body.hypervisor_statistics.vcpus, driverNodes.reduce((a, d) => a + d.vcpus, 0));

  const up = await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${h.id}/uptime`);
  assert.equal(up.status, 501);
  assert.equal(up.body.notImplemented.code, 501);

  // Pre-2.53 search routes, and their 2.53 replacement as query parameters.
  const part = n.nodename.slice(0, 6);
  const s = await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${encodeURIComponent(part)}/search`);
  assert.equal(s.status, 200);
  assert.ok(s.body.hypervisors.length >= 1);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors/zzzz-none/search')).status, 404);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${part}/search`, undefined, V('2.53'))).status, 404);
  const q = await env.admin.json('GET', `/compute/v2.1/os-hypervisors?hypervisor_hostname_pattern=${encodeURIComponent(part)}&with_servers=true`, undefined, V('2.75'));
  assert.equal(q.status, 200);
  assert.deepEqual(q.body.hypervisors[0].servers, []);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-hypervisors?hypervisor_hostname_pattern=${part}&limit=1`, undefined, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors?with_servers=maybe', undefined, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors?bogus=1', undefined, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors?marker=nope', undefined, V('2.33'))).status, 400);
  const page = await env.admin.json('GET', '/compute/v2.1/os-hypervisors?limit=1', undefined, V('2.33'));
  assert.equal(page.body.hypervisors.length, 1);
  assert.ok(page.body.hypervisors_links[0].href.includes(`marker=${page.body.hypervisors[0].id}`));
});

test('members see neither hypervisors nor services', async () => {
  for (const p of ['/os-hypervisors', '/os-hypervisors/detail', '/os-hypervisors/statistics', '/os-services', '/os-aggregates', '/os-availability-zone/detail']) {
    const r = await env.demo.json('GET', `/compute/v2.1${p}`);
    assert.equal(r.status, 403, p);
    assert.equal(r.body.forbidden.code, 403);
  }
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-availability-zone')).status, 200);
});

test('services: list, filters, disable/enable (old and 2.53 forms), force-down, delete', async () => {
  const list = await env.admin.json('GET', '/compute/v2.1/os-services');
  const binaries = list.body.services.map((s: any) => s.binary);
  assert.ok(binaries.includes('nova-compute'));
  assert.ok(binaries.includes('nova-scheduler'));
  assert.ok(binaries.includes('nova-conductor'));
  const sched = list.body.services.find((s: any) => s.binary === 'nova-scheduler');
  assert.equal(sched.zone, 'internal');
  assert.equal(sched.state, 'up');
  assert.equal('forced_down' in sched, false);
  const computes = (await env.admin.json('GET', '/compute/v2.1/os-services?binary=nova-compute', undefined, V('2.11'))).body.services;
  assert.ok(computes.every((s: any) => s.binary === 'nova-compute' && s.forced_down === false && s.zone === 'nova'));
  const host = computes[0].host;
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-services?host=${host}`)).body.services.length, 1);

  // Old form: PUT /os-services/disable-log-reason
  const d = await env.admin.json('PUT', '/compute/v2.1/os-services/disable-log-reason', { host, binary: 'nova-compute', disabled_reason: 'maintenance' });
  assert.equal(d.status, 200);
  assert.deepEqual(d.body, { service: { host, binary: 'nova-compute', status: 'disabled', disabled_reason: 'maintenance' } });
  const before = (await listSchedulableNodes(env.cloud.ctx.db)).length;
  assert.equal(before, computes.length - 1);
  const hv = (await env.admin.json('GET', '/compute/v2.1/os-hypervisors/detail')).body.hypervisors.find((x: any) => x.service.host === host);
  assert.equal(hv.status, 'disabled');
  assert.equal(hv.service.disabled_reason, 'maintenance');
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/enable', { host, binary: 'nova-compute' })).body.service.status, 'enabled');
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/enable', { host: 'nohost', binary: 'nova-compute' })).status, 404);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/enable', { host, binary: 'nova-scheduler' })).status, 400);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/disable-log-reason', { host, binary: 'nova-compute' })).status, 400);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/frobnicate', { host, binary: 'nova-compute' })).status, 404);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/enable', { host })).status, 400);
  // forced_down is unknown before 2.11 (schema error), force-down an unknown action.
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/force-down', { host, binary: 'nova-compute', forced_down: true })).status, 400);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/force-down', { host, binary: 'nova-compute' })).status, 404);
  const fd = await env.admin.json('PUT', '/compute/v2.1/os-services/force-down', { host, binary: 'nova-compute', forced_down: true }, V('2.11'));
  assert.deepEqual(fd.body, { service: { host, binary: 'nova-compute', forced_down: true } });
  const down = (await env.admin.json('GET', `/compute/v2.1/os-services?host=${host}`, undefined, V('2.11'))).body.services[0];
  assert.equal(down.state, 'down');
  assert.equal(down.forced_down, true);

  // 2.53: by uuid.
  const svc = (await env.admin.json('GET', `/compute/v2.1/os-services?host=${host}`, undefined, V('2.53'))).body.services[0];
  assert.match(svc.id, /^[0-9a-f-]{36}$/);
  const u = await env.admin.json('PUT', `/compute/v2.1/os-services/${svc.id}`, { status: 'disabled', disabled_reason: 'r', forced_down: false }, V('2.53'));
  assert.equal(u.status, 200);
  assert.equal(u.body.service.status, 'disabled');
  assert.equal(u.body.service.forced_down, false);
  assert.equal(u.body.service.state, 'up');
  assert.equal((await env.admin.json('PUT', `/compute/v2.1/os-services/${svc.id}`, { status: 'enabled', disabled_reason: 'r' }, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('PUT', `/compute/v2.1/os-services/${svc.id}`, {}, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('PUT', `/compute/v2.1/os-services/${svc.id}`, { status: 'off' }, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/not-a-uuid', { status: 'enabled' }, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('PUT', `/compute/v2.1/os-services/${sched.id}`, { status: 'enabled' }, V('2.53'))).status, 400);
  assert.equal((await env.admin.json('PUT', '/compute/v2.1/os-services/00000000-0000-0000-0000-000000000000', { status: 'enabled' }, V('2.53'))).status, 404);
  assert.equal((await env.admin.json('PUT', `/compute/v2.1/os-services/${svc.id}`, { status: 'enabled' }, V('2.53'))).body.service.status, 'enabled');

  // Delete the compute service: its node disappears; the periodic sync does not bring it back, a restart would.
  assert.equal((await env.admin.json('DELETE', '/compute/v2.1/os-services/not-a-uuid', undefined, V('2.53'))).status, 400);
  assert.equal((await env.admin.request('DELETE', `/compute/v2.1/os-services/${svc.id}`, undefined, V('2.53'))).status, 204);
  assert.equal((await env.admin.json('DELETE', `/compute/v2.1/os-services/${svc.id}`, undefined, V('2.53'))).status, 404);
  const nodesAfter = (await env.admin.json('GET', '/compute/v2.1/os-hypervisors')).body.hypervisors;
  assert.equal(nodesAfter.length, computes.length - 1);
  await syncComputeNodes(env.cloud.ctx, false);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors')).body.hypervisors.length, computes.length - 1);
  await syncComputeNodes(env.cloud.ctx, true);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hypervisors')).body.hypervisors.length, computes.length);
});

test('availability zones and aggregates', async () => {
  const az = await env.demo.json('GET', '/compute/v2.1/os-availability-zone');
  assert.deepEqual(az.body, { availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true }, hosts: null }] });
  const detail = await env.admin.json('GET', '/compute/v2.1/os-availability-zone/detail');
  const names = detail.body.availabilityZoneInfo.map((z: any) => z.zoneName).sort();
  assert.deepEqual(names, ['internal', 'nova']);
  const internal = detail.body.availabilityZoneInfo.find((z: any) => z.zoneName === 'internal');
  const anyHost = Object.values(internal.hosts)[0] as any;
  assert.equal(anyHost['nova-scheduler'].available, true);
  assert.equal(anyHost['nova-scheduler'].active, true);

  const host = (await env.admin.json('GET', '/compute/v2.1/os-services?binary=nova-compute')).body.services[0].host;
  const c = await env.admin.json('POST', '/compute/v2.1/os-aggregates', { aggregate: { name: 'agg1', availability_zone: 'zone-a' } }, V('2.41'));
  assert.equal(c.status, 200);
  const id = c.body.aggregate.id;
  assert.equal(c.body.aggregate.availability_zone, 'zone-a');
  assert.match(c.body.aggregate.uuid, /^[0-9a-f-]{36}$/);
  assert.equal('hosts' in c.body.aggregate, false);
  assert.equal((await env.admin.json('POST', '/compute/v2.1/os-aggregates', { aggregate: { name: 'agg1' } })).status, 409);
  assert.equal((await env.admin.json('POST', '/compute/v2.1/os-aggregates', { aggregate: { name: 'x', availability_zone: 'a:b' } })).status, 400);
  assert.equal((await env.admin.json('POST', '/compute/v2.1/os-aggregates', { aggregate: {} })).status, 400);

  const add = await env.admin.json('POST', `/compute/v2.1/os-aggregates/${id}/action`, { add_host: { host } });
  assert.equal(add.status, 200);
  assert.deepEqual(add.body.aggregate.hosts, [host]);
  assert.equal((await env.admin.json('POST', `/compute/v2.1/os-aggregates/${id}/action`, { add_host: { host } })).status, 409);
  assert.equal((await env.admin.json('POST', `/compute/v2.1/os-aggregates/${id}/action`, { add_host: { host: 'nohost' } })).status, 404);
  assert.equal(await availabilityZoneExists(env.cloud.ctx.db, 'zone-a'), true);
  const zones = (await env.demo.json('GET', '/compute/v2.1/os-availability-zone')).body.availabilityZoneInfo.map((z: any) => z.zoneName);
  assert.ok(zones.includes('zone-a'));
  const svc = (await env.admin.json('GET', `/compute/v2.1/os-services?host=${host}`)).body.services[0];
  assert.equal(svc.zone, 'zone-a');

  const md = await env.admin.json('POST', `/compute/v2.1/os-aggregates/${id}/action`, { set_metadata: { metadata: { availability_zone: 'zone-b', ssd: 'true' } } });
  assert.equal(md.status, 200);
  assert.deepEqual(md.body.aggregate.metadata, { availability_zone: 'zone-b', ssd: 'true' });
  assert.equal(await availabilityZoneExists(env.cloud.ctx.db, 'zone-a'), false);
  assert.equal(await availabilityZoneExists(env.cloud.ctx.db, 'zone-b'), true);
  const md2 = await env.admin.json('POST', `/compute/v2.1/os-aggregates/${id}/action`, { set_metadata: { metadata: { ssd: null } } });
  assert.deepEqual(md2.body.aggregate.metadata, { availability_zone: 'zone-b' });
  assert.equal((await env.admin.json('POST', `/compute/v2.1/os-aggregates/${id}/action`, { set_metadata: { metadata: { k: 1 } } })).status, 400);

  assert.equal((await env.admin.json('DELETE', `/compute/v2.1/os-aggregates/${id}`)).status, 400); // not empty
  const upd = await env.admin.json('PUT', `/compute/v2.1/os-aggregates/${id}`, { aggregate: { name: 'renamed' } });
  assert.equal(upd.body.aggregate.name, 'renamed');
  assert.equal((await env.admin.json('PUT', `/compute/v2.1/os-aggregates/${id}`, { aggregate: {} })).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-aggregates/abc')).status, 400);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-aggregates/999')).status, 404);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-aggregates')).body.aggregates.length, 1);

  const rm = await env.admin.json('POST', `/compute/v2.1/os-aggregates/${id}/action`, { remove_host: { host } });
  assert.deepEqual(rm.body.aggregate.hosts, []);
  assert.equal((await env.admin.json('POST', `/compute/v2.1/os-aggregates/${id}/action`, { remove_host: { host } })).status, 404);
  assert.equal(await availabilityZoneExists(env.cloud.ctx.db, 'zone-b'), false);
  assert.equal(await availabilityZoneExists(env.cloud.ctx.db, 'nova'), true);
  assert.equal((await env.admin.request('DELETE', `/compute/v2.1/os-aggregates/${id}`)).status, 200);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-aggregates/${id}`)).status, 404);
});

test('hypervisor usage and servers come from live instances on the node', async () => {
  const nodes = (await env.admin.json('GET', '/compute/v2.1/os-hypervisors/detail', undefined, V('2.53'))).body.hypervisors;
  const n = nodes[0];
  const project = env.demo.body.token.project.id;
  const user = env.demo.body.token.user.id;
  const a = await insertInstance(env.cloud.ctx.db, { project, user, vcpus: 2, ram: 1024, rootGb: 10, ephemeralGb: 5, swapMb: 2048, node: n.hypervisor_hostname, host: n.service.host });
  await insertInstance(env.cloud.ctx.db, { project, user, vcpus: 1, ram: 512, rootGb: 1, node: n.hypervisor_hostname, host: n.service.host, taskState: 'rebooting' });
  await insertInstance(env.cloud.ctx.db, { project, user, vcpus: 8, ram: 8192, node: n.hypervisor_hostname, host: n.service.host, deleted: true });
  const h = (await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${n.id}`, undefined, V('2.53'))).body.hypervisor;
  assert.equal(h.vcpus_used, 3);
  assert.equal(h.memory_mb_used, 512 + 1536); // Nova's reserved_host_memory_mb + instances
  assert.equal(h.local_gb_used, 10 + 5 + 1 + 2);
  assert.equal(h.running_vms, 2);
  assert.equal(h.current_workload, 1);
  assert.equal(h.free_ram_mb, h.memory_mb - h.memory_mb_used);
  const withServers = (await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${n.id}?with_servers=1`, undefined, V('2.53'))).body.hypervisor;
  assert.equal(withServers.servers.length, 2);
  assert.ok(withServers.servers.some((s: any) => s.uuid === a));
  assert.match(withServers.servers[0].name, /^instance-[0-9a-f]{8}$/);
  const old = await env.admin.json('GET', `/compute/v2.1/os-hypervisors/${encodeURIComponent(n.hypervisor_hostname)}/servers`);
  assert.equal(old.body.hypervisors[0].servers.length, 2);
  const stats = (await env.admin.json('GET', '/compute/v2.1/os-hypervisors/statistics')).body.hypervisor_statistics;
  assert.equal(stats.running_vms, 2);
  assert.equal(stats.vcpus_used, 3);
  // A compute service hosting instances cannot be deleted.
  const svc = (await env.admin.json('GET', `/compute/v2.1/os-services?host=${n.service.host}`, undefined, V('2.53'))).body.services[0];
  assert.equal((await env.admin.json('DELETE', `/compute/v2.1/os-services/${svc.id}`, undefined, V('2.53'))).status, 409);
});

test('extensions, os-hosts (before 2.43), audit log and the APIs Nova removed', async () => {
  const ext = await env.demo.json('GET', '/compute/v2.1/extensions');
  assert.equal(ext.status, 200);
  assert.ok(ext.body.extensions.some((e: any) => e.alias === 'os-keypairs' && e.name === 'Keypairs'));
  assert.equal((await env.demo.json('GET', '/compute/v2.1/extensions/os-hypervisors')).body.extension.name, 'Hypervisors');
  assert.equal((await env.demo.json('GET', '/compute/v2.1/extensions/nope')).status, 404);

  const hosts = await env.admin.json('GET', '/compute/v2.1/os-hosts');
  assert.equal(hosts.status, 200);
  const compute = hosts.body.hosts.find((h: any) => h.service === 'compute');
  assert.equal(compute.zone, 'nova');
  assert.ok(hosts.body.hosts.some((h: any) => h.service === 'scheduler' && h.zone === 'internal'));
  assert.deepEqual((await env.admin.json('GET', '/compute/v2.1/os-hosts?zone=internal')).body.hosts.every((h: any) => h.zone === 'internal'), true);
  const shown = await env.admin.json('GET', `/compute/v2.1/os-hosts/${compute.host_name}`);
  assert.deepEqual(shown.body.host.slice(0, 3).map((r: any) => r.resource.project), ['(total)', '(used_now)', '(used_max)']);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hosts/nohost')).status, 404);
  assert.equal((await env.admin.json('PUT', `/compute/v2.1/os-hosts/${compute.host_name}`, { status: 'enable' })).status, 501);
  assert.equal((await env.admin.json('PUT', `/compute/v2.1/os-hosts/${compute.host_name}`, { status: 'on' })).status, 400);
  assert.equal((await env.admin.json('GET', `/compute/v2.1/os-hosts/${compute.host_name}/reboot`)).status, 501);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-hosts')).status, 403);
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-hosts', undefined, V('2.43'))).status, 404);

  const audit = await env.admin.json('GET', '/compute/v2.1/os-instance_usage_audit_log');
  assert.equal(audit.status, 200);
  assert.match(audit.body.instance_usage_audit_logs.period_beginning, /^\d{4}-\d\d-01 00:00:00$/);
  const at = await env.admin.json('GET', `/compute/v2.1/os-instance_usage_audit_log/${encodeURIComponent('2020-03-15 10:00:00')}`);
  assert.equal(at.body.instance_usage_audit_log.period_beginning, '2020-02-01 00:00:00');
  assert.equal(at.body.instance_usage_audit_log.period_ending, '2020-03-01 00:00:00');
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-instance_usage_audit_log/yesterday')).status, 400);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-instance_usage_audit_log')).status, 403);

  for (const p of ['/os-agents', '/os-cells', '/os-fping', '/os-floating-ips-bulk', '/os-certificates/root']) {
    const r = await env.demo.json('GET', `/compute/v2.1${p}`);
    assert.equal(r.status, 410, p);
    assert.equal(r.body.computeFault.code, 410);
  }
});
