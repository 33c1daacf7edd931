// Server create/list/show/update/delete through HTTP: the lifecycle, multiple create, the
// microversion-dependent fields, and bad input on every field (with nothing half-written).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { bootServer, createServer, mvh, setup, show, type Env } from './test_helpers.ts';

let env: Env;
before(async () => { env = await setup(); });
after(async () => { await env?.cloud.close(); });

describe('server lifecycle', () => {
  it('creates a server that goes ACTIVE, shows it, lists it and deletes it', async () => {
    const r = await createServer(env, env.demo, { name: 'life', metadata: { a: 'b' } });
    assert.equal(r.status, 202);
    const s = r.body.server;
    assert.match(s.id, /^[0-9a-f-]{36}$/);
    assert.equal(typeof s.adminPass, 'string');
    assert.equal(s.adminPass.length, 12);
    assert.deepEqual(s.security_groups, [{ name: 'default' }]);
    assert.equal(s['OS-DCF:diskConfig'], 'MANUAL');
    assert.equal(r.headers.get('location'), s.links[0].href);
    assert.equal(s.links[0].rel, 'self');
    await env.cloud.ctx.tasks.idle();

    const sh = await show(env.admin, s.id);
    assert.equal(sh.status, 200);
    const srv = sh.body.server;
    assert.equal(srv.status, 'ACTIVE');
    assert.equal(srv.name, 'life');
    assert.deepEqual(srv.metadata, { a: 'b' });
    assert.equal(srv['OS-EXT-STS:vm_state'], 'active');
    assert.equal(srv['OS-EXT-STS:power_state'], 1);
    assert.equal(srv['OS-EXT-STS:task_state'], null);
    assert.ok(srv['OS-EXT-SRV-ATTR:host']);
    assert.match(srv['OS-EXT-SRV-ATTR:instance_name'], /^instance-[0-9a-f]{8}$/);
    assert.equal(srv.hostId, createHash('sha224').update(srv.tenant_id + srv['OS-EXT-SRV-ATTR:host']).digest('hex'));
    assert.ok(srv['OS-SRV-USG:launched_at']);
    assert.equal(srv.image.id, env.imageId);
    assert.equal(srv.flavor.original_name, 'm1.tiny');
    assert.equal(srv.progress, 0);
    assert.equal(srv.addresses && typeof srv.addresses, 'object');

    const list = await env.demo.json('GET', '/compute/v2.1/servers');
    assert.equal(list.status, 200);
    const item = list.body.servers.find((x: any) => x.id === s.id);
    assert.deepEqual(Object.keys(item).sort(), ['id', 'links', 'name']);
    const detail = await env.demo.json('GET', '/compute/v2.1/servers/detail');
    assert.equal(detail.body.servers.find((x: any) => x.id === s.id).status, 'ACTIVE');

    const del = await env.demo.request('DELETE', `/compute/v2.1/servers/${s.id}`);
    assert.equal(del.status, 204);
    // A second delete while the first is in progress (or done) is harmless.
    const again = await env.demo.request('DELETE', `/compute/v2.1/servers/${s.id}`);
    assert.ok(again.status === 204 || again.status === 404);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await show(env.demo, s.id)).status, 404);
    const after = await env.demo.json('GET', '/compute/v2.1/servers/detail');
    assert.ok(!after.body.servers.some((x: any) => x.id === s.id));
    // Deleted servers appear through changes-since, as DELETED.
    const since = await env.demo.json('GET', `/compute/v2.1/servers/detail?changes-since=${encodeURIComponent(new Date(Date.now() - 3600e3).toISOString())}`);
    const gone = since.body.servers.find((x: any) => x.id === s.id);
    assert.equal(gone?.status, 'DELETED');
    assert.ok(!(await env.cloud.ctx.driver.listInstances()).includes(s.id), 'the VM is destroyed');
  });

  it('deletes a server that is still building', async () => {
    const r = await createServer(env, env.demo, { name: 'quick' });
    const del = await env.demo.request('DELETE', `/compute/v2.1/servers/${r.body.server.id}`);
    assert.equal(del.status, 204);
    await env.cloud.ctx.tasks.idle();
    assert.equal((await show(env.demo, r.body.server.id)).status, 404);
    assert.ok(!(await env.cloud.ctx.driver.listInstances()).includes(r.body.server.id));
  });

  it('hides other projects\' servers (404) and keeps a locked server from non-admin delete (409)', async () => {
    const id = await bootServer(env, env.admin, { name: 'admins' });
    assert.equal((await show(env.demo, id)).status, 404);
    assert.equal((await env.demo.request('DELETE', `/compute/v2.1/servers/${id}`)).status, 404);
    const mine = await bootServer(env, env.demo, { name: 'locked' });
    assert.equal((await env.admin.json('POST', `/compute/v2.1/servers/${mine}/action`, { lock: null })).status, 202);
    const d = await env.demo.json('DELETE', `/compute/v2.1/servers/${mine}`);
    assert.equal(d.status, 409);
    assert.match(d.body.conflictingRequest.message, /is locked/);
    assert.equal((await env.admin.request('DELETE', `/compute/v2.1/servers/${mine}`)).status, 204);
    assert.equal((await env.admin.request('DELETE', `/compute/v2.1/servers/${id}`)).status, 204);
    await env.cloud.ctx.tasks.idle();
  });
});

describe('multiple create', () => {
  it('creates min_count servers named name-N sharing one reservation id', async () => {
    const r = await createServer(env, env.demo, { name: 'multi', min_count: 3 });
    assert.equal(r.status, 202);
    await env.cloud.ctx.tasks.idle();
    const list = await env.demo.json('GET', '/compute/v2.1/servers/detail?name=^multi-', undefined, mvh('2.3'));
    assert.deepEqual(list.body.servers.map((s: any) => s.name).sort(), ['multi-1', 'multi-2', 'multi-3']);
    const resv = new Set(list.body.servers.map((s: any) => s['OS-EXT-SRV-ATTR:reservation_id']));
    assert.equal(list.body.servers[0]['OS-EXT-SRV-ATTR:reservation_id'], undefined, 'non-admins do not see extended attributes');
    assert.equal(resv.size, 1);
    const admin = await env.admin.json('GET', '/compute/v2.1/servers/detail?all_tenants=1&name=^multi-', undefined, mvh('2.3'));
    const ids = new Set(admin.body.servers.map((s: any) => s['OS-EXT-SRV-ATTR:reservation_id']));
    assert.equal(ids.size, 1);
    const rid = [...ids][0] as string;
    assert.match(rid, /^r-[a-z0-9]{8}$/);
    const byResv = await env.demo.json('GET', `/compute/v2.1/servers?reservation_id=${rid}`);
    assert.equal(byResv.body.servers.length, 3);
    assert.deepEqual(admin.body.servers.map((s: any) => s['OS-EXT-SRV-ATTR:launch_index']).sort(), [0, 1, 2]);
    for (const s of list.body.servers) await env.demo.request('DELETE', `/compute/v2.1/servers/${s.id}`);
    await env.cloud.ctx.tasks.idle();
  });

  it('returns only the reservation id when asked', async () => {
    const r = await createServer(env, env.demo, { name: 'resv', min_count: 2, return_reservation_id: true });
    assert.equal(r.status, 202);
    assert.deepEqual(Object.keys(r.body), ['reservation_id']);
    await env.cloud.ctx.tasks.idle();
    const l = await env.demo.json('GET', `/compute/v2.1/servers?reservation_id=${r.body.reservation_id}`);
    assert.equal(l.body.servers.length, 2);
    for (const s of l.body.servers) await env.demo.request('DELETE', `/compute/v2.1/servers/${s.id}`);
    await env.cloud.ctx.tasks.idle();
  });

  it('rejects min_count > max_count', async () => {
    const r = await createServer(env, env.demo, { min_count: 3, max_count: 2 });
    assert.equal(r.status, 400);
    assert.equal(r.body.badRequest.message, 'min_count must be <= max_count');
  });
});

describe('microversions', () => {
  let id: string;
  before(async () => { id = await bootServer(env, env.demo, { name: 'mv', description: undefined }); });

  it('shows the flavor as a link before 2.47 and embedded from 2.47', async () => {
    const old = (await show(env.demo, id, '2.46')).body.server;
    assert.deepEqual(Object.keys(old.flavor).sort(), ['id', 'links']);
    assert.equal(old.flavor.id, '1');
    assert.equal(old.flavor.links[0].rel, 'bookmark');
    const now = (await show(env.demo, id, '2.47')).body.server;
    assert.deepEqual(now.flavor, { vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0, original_name: 'm1.tiny', extra_specs: {} });
  });

  it('adds fields with each microversion', async () => {
    const v21 = (await show(env.demo, id, '2.1')).body.server;
    for (const k of ['locked', 'description', 'tags', 'trusted_image_certificates', 'server_groups', 'locked_reason', 'host_status']) {
      assert.ok(!(k in v21), `${k} absent at 2.1`);
    }
    const v279 = (await show(env.demo, id, '2.79')).body.server;
    assert.equal(v279.locked, false);
    assert.equal(v279.description, 'mv', 'description defaults to the name before 2.19');
    assert.deepEqual(v279.tags, []);
    assert.equal(v279.trusted_image_certificates, null);
    assert.deepEqual(v279.server_groups, []);
    assert.equal(v279.locked_reason, null);
    assert.ok(!('host_status' in v279), 'host_status is admin-only');
    assert.ok(!('OS-EXT-SRV-ATTR:host' in v279), 'extended attributes are admin-only');
    const adm = (await show(env.admin, id, '2.79')).body.server;
    assert.equal(adm.host_status, 'UP');
    assert.ok(adm['OS-EXT-SRV-ATTR:hypervisor_hostname']);
  });

  it('updates name, description and access IPs; the full server from 2.75', async () => {
    const r = await env.demo.json('PUT', `/compute/v2.1/servers/${id}`, { server: { name: 'renamed', accessIPv4: '10.0.0.5', accessIPv6: '::1' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.server.name, 'renamed');
    assert.equal(r.body.server.accessIPv4, '10.0.0.5');
    assert.equal(r.body.server.accessIPv6, '::1');
    assert.ok(!('OS-EXT-STS:vm_state' in r.body.server));
    const r2 = await env.demo.json('PUT', `/compute/v2.1/servers/${id}`, { server: { description: 'd' } }, mvh('2.75'));
    assert.equal(r2.body.server.description, 'd');
    assert.equal(r2.body.server['OS-EXT-STS:vm_state'], 'active');
    const bad = await env.demo.json('PUT', `/compute/v2.1/servers/${id}`, { server: { description: 'd' } });
    assert.equal(bad.status, 400, 'description needs 2.19');
    for (const name of ['', 'x'.repeat(256), ' lead']) {
      const b = await env.demo.json('PUT', `/compute/v2.1/servers/${id}`, { server: { name } });
      assert.equal(b.status, 400, `name ${JSON.stringify(name)}`);
    }
    assert.equal((await env.demo.json('PUT', `/compute/v2.1/servers/${id}`, { server: { accessIPv4: 'nope' } })).status, 400);
    assert.equal((await env.demo.json('PUT', `/compute/v2.1/servers/${id}`, { server: { flavorRef: '2' } })).status, 400);
  });
});

describe('bad input', () => {
  const count = async () => Number((await env.cloud.ctx.db.get(`SELECT COUNT(*) AS n FROM instances WHERE display_name LIKE 'bad%'`))!.n);

  it('answers 400 for every malformed create, and writes nothing', async () => {
    const cases: [string, unknown, RegExp?][] = [
      ['missing name', { server: { imageRef: env.imageId, flavorRef: '1' } }, /'name' is a required property/],
      ['blank name', { server: { name: '', imageRef: env.imageId, flavorRef: '1' } }],
      ['long name', { server: { name: 'b'.repeat(256), imageRef: env.imageId, flavorRef: '1' } }],
      ['numeric name', { server: { name: 12345, imageRef: env.imageId, flavorRef: '1' } }],
      ['unknown field', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', color: 'red' } }, /'color' was unexpected/],
      ['unknown top-level', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1' }, extra: 1 }],
      ['not an object', { server: 'x' }],
      ['bad image ref', { server: { name: 'bad', imageRef: '-1', flavorRef: '1' } }],
      ['unknown image', { server: { name: 'bad', imageRef: '11111111-2222-3333-4444-555555555555', flavorRef: '1' } }, /Can not find requested image/],
      ['no image', { server: { name: 'bad', flavorRef: '1' } }, /Missing imageRef attribute/],
      ['unknown flavor', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '999999' } }, /Flavor 999999 could not be found/],
      ['bad network uuid', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', networks: [{ fixed_ip: '10.0.1.1', uuid: 'a-b-c-d-e-f-g-h-i-j' }] } }],
      ['unknown network', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', networks: [{ uuid: '11111111-2222-3333-4444-555555555555' }] } }, /Network 11111111-2222-3333-4444-555555555555 could not be found/],
      ['unknown key', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', key_name: 'nokey' } }, /Invalid key_name provided/],
      ['unknown az', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', availability_zone: 'nowhere' } }, /availability zone is not available/],
      ['long metadata key', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', metadata: { ['k'.repeat(260)]: 'v' } } }],
      ['long metadata value', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', metadata: { k: 'v'.repeat(256) } } }],
      ['non-string metadata', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', metadata: { k: 1 } } }],
      ['user_data not base64', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', user_data: 'not base64!' } }],
      ['user_data too long', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', user_data: 'QUFB'.repeat(16384) } }],
      ['bad accessIPv4', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', accessIPv4: '1.2.3' } }],
      ['bad accessIPv6', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', accessIPv6: 'xyz' } }],
      ['zero min_count', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', min_count: 0 } }],
      ['volume bdm', { server: { name: 'bad', flavorRef: '1', block_device_mapping_v2: [{ source_type: 'volume', destination_type: 'volume', uuid: '11111111-2222-3333-4444-555555555555', boot_index: 0 }] } }, /Block Device Mapping is Invalid/],
      ['bad hint', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1' }, 'os:scheduler_hints': { group: 'not-a-uuid' } }],
      ['unknown group', { server: { name: 'bad', imageRef: env.imageId, flavorRef: '1' }, 'os:scheduler_hints': { group: '11111111-2222-3333-4444-555555555555' } }, /Instance group/],
    ];
    for (const [what, body, msg] of cases) {
      const r = await env.demo.json('POST', '/compute/v2.1/servers', body);
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.badRequest.code, 400, what);
      if (msg) assert.match(r.body.badRequest.message, msg, what);
    }
    assert.equal(await count(), 0);
  });

  it('knows the 2.37+ networks rules', async () => {
    const none = await createServer(env, env.demo, { name: 'bad-net' }, mvh('2.37'));
    assert.equal(none.status, 400, 'networks is required at 2.37');
    const bad = await createServer(env, env.demo, { name: 'bad-net', networks: 'some' }, mvh('2.37'));
    assert.equal(bad.status, 400);
    // 'auto' needs exactly one usable network (no auto-allocated-topology here): 400 before one exists.
    const noNet = await createServer(env, env.demo, { name: 'auto-net', networks: 'auto' }, mvh('2.37'));
    assert.equal(noNet.status, 400, JSON.stringify(noNet.body));
    assert.match(noNet.body.badRequest.message, /Unable to automatically allocate a network/);
    const net = await env.demo.json('POST', '/networking/v2.0/networks', { network: { name: 'auto-net' } });
    assert.equal(net.status, 201);
    assert.equal((await env.demo.json('POST', '/networking/v2.0/subnets', { subnet: { network_id: net.body.network.id, cidr: '10.77.0.0/24', ip_version: 4 } })).status, 201);
    for (const n of ['none', 'auto']) {
      const r = await createServer(env, env.demo, { name: 'ok-net', networks: n }, mvh('2.37'));
      assert.equal(r.status, 202, n);
      await env.cloud.ctx.tasks.idle();
      const ports = await env.demo.json('GET', `/networking/v2.0/ports?device_id=${r.body.server.id}`);
      assert.deepEqual(ports.body.ports.map((p: any) => p.network_id), n === 'auto' ? [net.body.network.id] : [], n);
      await env.demo.request('DELETE', `/compute/v2.1/servers/${r.body.server.id}`);
    }
    await env.cloud.ctx.tasks.idle();
    assert.equal((await env.demo.request('DELETE', `/networking/v2.0/networks/${net.body.network.id}`)).status, 204);
  });

  it('answers 403 over the metadata quota', async () => {
    const metadata: Record<string, string> = {};
    for (let i = 0; i < 129; i++) metadata[`k${i}`] = 'v';
    const r = await createServer(env, env.demo, { name: 'bad-md', metadata });
    assert.equal(r.status, 403);
    assert.match(r.body.forbidden.message, /Quota exceeded for metadata_items/);
    assert.equal(await count(), 0);
  });

  it('answers malformed JSON, huge bodies and non-UUID ids the Nova way', async () => {
    const mal = await env.demo.request('POST', '/compute/v2.1/servers', '{"server": {', { 'content-type': 'application/json' });
    assert.equal(mal.status, 400);
    assert.ok((await mal.json()).badRequest);
    const huge = await env.demo.request('POST', '/compute/v2.1/servers', JSON.stringify({ server: { name: 'bad', imageRef: env.imageId, flavorRef: '1', user_data: 'A'.repeat(2 * 1024 * 1024) } }));
    assert.equal(huge.status, 413);
    for (const id of ['abc', '-1', 'a'.repeat(1000), '11111111-2222-3333-4444-555555555555']) {
      assert.equal((await env.demo.request('GET', `/compute/v2.1/servers/${id}`)).status, 404, id);
      assert.equal((await env.demo.request('DELETE', `/compute/v2.1/servers/${id}`)).status, 404, id);
      assert.equal((await env.demo.json('PUT', `/compute/v2.1/servers/${id}`, { server: { name: 'x' } })).status, 404, id);
      assert.equal((await env.demo.json('POST', `/compute/v2.1/servers/${id}/action`, { reboot: { type: 'HARD' } })).status, 404, id);
      assert.equal((await env.demo.json('GET', `/compute/v2.1/servers/${id}/metadata`)).status, 404, id);
    }
    assert.equal(await count(), 0);
    const tasks = await env.cloud.ctx.db.get(`SELECT COUNT(*) AS n FROM tasks WHERE state <> 'failed'`);
    assert.equal(Number(tasks!.n), 0);
  });

  it('checks the image: URL form, status, min_ram/min_disk, boot from an image mapping', async () => {
    const url = await createServer(env, env.demo, { name: 'url', imageRef: `${env.cloud.url}/image/v2/images/${env.imageId}` });
    assert.equal(url.status, 202, JSON.stringify(url.body));
    const bdm = await createServer(env, env.demo, {
      name: 'bdm', imageRef: undefined,
      block_device_mapping_v2: [{ source_type: 'image', destination_type: 'local', uuid: env.imageId, boot_index: 0 }],
    });
    assert.equal(bdm.status, 202, JSON.stringify(bdm.body));
    await env.cloud.ctx.tasks.idle();
    for (const id of [url.body.server.id, bdm.body.server.id]) {
      assert.equal((await show(env.demo, id)).body.server.status, 'ACTIVE');
      await env.demo.request('DELETE', `/compute/v2.1/servers/${id}`);
    }
    const queued = await env.demo.json('POST', '/image/v2/images', { name: 'bad-queued', disk_format: 'raw', container_format: 'bare' });
    assert.equal(queued.status, 201);
    const notActive = await createServer(env, env.demo, { name: 'bad-img', imageRef: queued.body.id });
    assert.equal(notActive.status, 400);
    assert.equal(notActive.body.badRequest.message, `Image ${queued.body.id} is not active.`);
    const big = await env.demo.json('POST', '/image/v2/images', { name: 'bad-big', disk_format: 'raw', container_format: 'bare', min_ram: 100000, min_disk: 50 });
    await env.demo.request('PUT', `/image/v2/images/${big.body.id}/file`, 'x'.repeat(1024), { 'content-type': 'application/octet-stream' });
    const ram = await createServer(env, env.demo, { name: 'bad-ram', imageRef: big.body.id });
    assert.equal(ram.status, 400);
    assert.equal(ram.body.badRequest.message, "Flavor's memory is too small for requested image.");
    await env.demo.json('PATCH', `/image/v2/images/${big.body.id}`, [{ op: 'replace', path: '/min_ram', value: 0 }], { 'content-type': 'application/openstack-images-v2.1-json-patch' });
    const disk = await createServer(env, env.demo, { name: 'bad-disk', imageRef: big.body.id });
    assert.equal(disk.status, 400);
    assert.match(disk.body.badRequest.message, /^Flavor's disk is too small for requested image/);
    assert.equal(await count(), 0);
    await env.cloud.ctx.tasks.idle();
  });

  it('answers malformed JSON and huge bodies on every write route', async () => {
    const id = await bootServer(env, env.demo, { name: 'target' });
    const routes: [string, string][] = [
      ['POST', '/compute/v2.1/servers'], ['PUT', `/compute/v2.1/servers/${id}`], ['POST', `/compute/v2.1/servers/${id}/action`],
      ['POST', `/compute/v2.1/servers/${id}/metadata`], ['PUT', `/compute/v2.1/servers/${id}/metadata`],
      ['PUT', `/compute/v2.1/servers/${id}/metadata/k`], ['PUT', `/compute/v2.1/servers/${id}/tags`],
      ['POST', `/compute/v2.1/servers/${id}/os-volume_attachments`], ['POST', `/compute/v2.1/os-server-external-events`],
    ];
    const headers = { 'content-type': 'application/json', ...mvh('2.26') };
    for (const [method, path] of routes) {
      const mal = await env.admin.request(method, path, '{"x": [1, 2', headers);
      assert.equal(mal.status, 400, `${method} ${path} malformed`);
      const huge = await env.admin.request(method, path, JSON.stringify({ x: 'y'.repeat(1.5 * 1024 * 1024) }), headers);
      assert.equal(huge.status, 413, `${method} ${path} huge`);
      const wrong = await env.admin.json(method, path, [1, 2, 3], mvh('2.26'));
      assert.equal(wrong.status, 400, `${method} ${path} wrong type: ${JSON.stringify(wrong.body)}`);
    }
    const s = (await show(env.demo, id)).body.server;
    assert.equal(s.name, 'target');
    assert.deepEqual(s.metadata, {});
    assert.deepEqual(s.tags, []);
    await env.demo.request('DELETE', `/compute/v2.1/servers/${id}`);
    await env.cloud.ctx.tasks.idle();
  });

  it('accepts trusted certificates (2.63) but no node can validate them: the server goes ERROR', async () => {
    const r = await createServer(env, env.demo, { name: 'trusted', networks: 'none', trusted_image_certificates: ['cert-1'] }, mvh('2.63'));
    assert.equal(r.status, 202);
    await env.cloud.ctx.tasks.idle();
    const s = (await show(env.demo, r.body.server.id)).body.server;
    assert.equal(s.status, 'ERROR');
    assert.deepEqual(s.trusted_image_certificates, ['cert-1']);
    assert.match(s.fault.message, /^No valid host was found/);
    assert.equal((await createServer(env, env.demo, { name: 'trusted', networks: 'none', trusted_image_certificates: [] }, mvh('2.63'))).status, 400);
    await env.demo.request('DELETE', `/compute/v2.1/servers/${r.body.server.id}`);
    await env.cloud.ctx.tasks.idle();
  });
});
