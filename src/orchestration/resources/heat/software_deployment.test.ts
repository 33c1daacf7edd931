import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftwareDeploymentResource as SD, SoftwareDeployments, StructuredDeployment } from './software_deployment.ts';
import { signalUrls } from './common.ts';
import { fakeResource, testCloud, updated } from './testing.ts';
import { createConfig, getDeployment, listDeployments, findConfig, findDeployment } from '../../software/store.ts';
import { startHarness } from '../../engine/testing.ts';

signalUrls.of = async (_c, s, n) => `http://signal/${s}/${n}`;

async function serverMetadata(db: any, serverId: string) {
  const row = await db.get('SELECT metadata FROM heat_resources WHERE physical_id = ?', [serverId]);
  return JSON.parse(row.metadata);
}

test('SoftwareDeployment publishes a derived config into the server metadata and completes when signalled', async () => {
  const cloud = await testCloud();
  try {
    await cloud.db.run("INSERT INTO heat_resources (id, physical_id, type, metadata) VALUES ('r1', 'srv1', 'OS::Nova::Server', ?)",
      [JSON.stringify({ 'os-collect-config': { x: 1 } })]);
    const cfg = await createConfig(cloud.db, 'p1', { name: 'cfg', group: 'script', config: 'x', inputs: [{ name: 'foo', default: 'dflt' }],
      outputs: [{ name: 'result' }] });
    const r = fakeResource(SD, { config: cfg.id, server: 'srv1', input_values: { bar: 'b' } }, { cloud: cloud.ctx, name: 'dep_0' });
    await SD.validate!(r.properties, {} as any);
    await SD.handleCreate(r);
    assert.equal(await SD.checkCreateComplete!(r), false);
    const md = await serverMetadata(cloud.db, 'srv1');
    assert.deepEqual(md['os-collect-config'], { x: 1 }, 'other metadata keys stay');
    assert.equal(md.deployments.length, 1);
    const iv = Object.fromEntries(md.deployments[0].inputs.map((i: any) => [i.name, i.value]));
    assert.equal(iv.foo, 'dflt');
    assert.equal(iv.bar, 'b');
    assert.equal(iv.deploy_server_id, 'srv1');
    assert.equal(iv.deploy_action, 'CREATE');
    assert.equal(iv.deploy_resource_name, 'dep_0');
    assert.equal(iv.deploy_signal_transport, 'CFN_SIGNAL');
    assert.equal(iv.deploy_signal_id, `http://signal/${r.stack.id}/dep_0`);
    assert.equal(md.deployments[0].group, 'script');

    await SD.handleSignal!(r, { deploy_stdout: 'out', deploy_status_code: 0, result: 'r!' });
    assert.equal(await SD.checkCreateComplete!(r), true);
    assert.equal(await SD.resolveAttribute(r, 'deploy_stdout'), 'out');
    assert.equal(await SD.resolveAttributePath!(r, 'result', []), 'r!');
    assert.equal((await getDeployment(cloud.db, r.physicalId!, null)).status_reason, 'Outputs received');

    // update re-runs with a new derived config; the old one goes
    const oldDerived = (await getDeployment(cloud.db, r.physicalId!, null)).config_id!;
    await SD.handleUpdate!(r, updated(SD, r, { config: cfg.id, server: 'srv1', input_values: { bar: 'c' } }));
    assert.equal(await SD.checkUpdateComplete!(r), false);
    assert.equal(await findConfig(cloud.db, oldDerived), null);
    await SD.handleSignal!(r, { deploy_status_code: 2 });
    await assert.rejects(SD.checkUpdateComplete!(r), /Deployment to server failed: deploy_status_code : Deployment exited with non-zero status code: 2/);

    await SD.handleDelete(r);
    assert.equal(await SD.checkDeleteComplete!(r), true);
    assert.deepEqual((await serverMetadata(cloud.db, 'srv1')).deployments, []);
  } finally {
    await cloud.close();
  }
});

test('SoftwareDeployment: NO_SIGNAL completes at once, unsupported transports are 400, the stack timeout fails it', async () => {
  const cloud = await testCloud();
  try {
    const r = fakeResource(SD, { server: 'srv2', signal_transport: 'NO_SIGNAL' }, { cloud: cloud.ctx });
    await SD.handleCreate(r);
    assert.equal(await SD.checkCreateComplete!(r), true);
    await assert.rejects(SD.validate!({ signal_transport: 'ZAQAR_SIGNAL' }, {} as any), (e: any) => e.status === 400);

    const t = fakeResource(SD, { server: 'srv2' }, { cloud: cloud.ctx, stack: { timeoutMins: 0.0005 } });
    await SD.handleCreate(t);
    await new Promise((res) => setTimeout(res, 60));
    const [row] = (await listDeployments(cloud.db, 'p1', { serverId: 'srv2' })).filter((d) => d.id === t.physicalId);
    assert.equal(row.status, 'FAILED');
    await assert.rejects(SD.checkCreateComplete!(t), /Deployment to server failed: Deployment cancelled/);
    // a late signal does not revive it
    await SD.handleSignal!(t, {});
    assert.equal((await getDeployment(cloud.db, t.physicalId!, null)).status, 'FAILED');
  } finally {
    await cloud.close();
  }
});

test('StructuredDeployment substitutes get_input; SoftwareDeployments makes one deployment per server', async () => {
  const cloud = await testCloud();
  try {
    const cfg = await createConfig(cloud.db, 'p1', { config: { greeting: { get_input: 'who' }, srv: { get_input: 'deploy_server_id' } } });
    const r = fakeResource(StructuredDeployment, { config: cfg.id, server: 's3', input_values: { who: 'world' } }, { cloud: cloud.ctx });
    await StructuredDeployment.handleCreate(r);
    const d = await getDeployment(cloud.db, r.physicalId!, null);
    assert.deepEqual((await findConfig(cloud.db, d.config_id!))!.config, { greeting: 'world', srv: 's3' });
    const strict = fakeResource(StructuredDeployment, { config: cfg.id, server: 's3', input_values_validate: 'STRICT' }, { cloud: cloud.ctx });
    await assert.rejects(StructuredDeployment.handleCreate(strict), /Failed to find input who/);

    const many = fakeResource(SoftwareDeployments, { config: cfg.id, servers: { '0': 'sa', '1': 'sb' } }, { cloud: cloud.ctx });
    await SoftwareDeployments.handleCreate(many);
    const s = many.nested.get(many.physicalId!);
    const res = (s.def.template as any).resources;
    assert.deepEqual(Object.keys(res), ['0', '1']);
    assert.equal(res['1'].type, 'OS::Heat::SoftwareDeployment');
    assert.equal(res['1'].properties.server, 'sb');
    s.attrs = { 0: { deploy_stdout: 'a' }, 1: { deploy_stdout: 'b' } };
    assert.deepEqual(await SoftwareDeployments.resolveAttribute(many, 'deploy_stdouts'), { 0: 'a', 1: 'b' });
  } finally {
    await cloud.close();
  }
});

test('a deployment whose resource failed its action (stack timeout, cancel) is FAILED at once; an in-progress one is not', async () => {
  const cloud = await testCloud();
  try {
    const r = fakeResource(SD, { server: 'srv4' }, { cloud: cloud.ctx, stack: { timeoutMins: 60 } });
    await SD.handleCreate(r);
    await cloud.db.run("INSERT INTO heat_resources (id, physical_id, type, metadata, action, status) VALUES ('d4', ?, ?, '{}', 'CREATE', 'IN_PROGRESS')",
      [r.physicalId, SD.type]);
    const status = async () => (await listDeployments(cloud.db, 'p1', { serverId: 'srv4' })).map((d) => d.status);
    assert.deepEqual(await status(), ['IN_PROGRESS'], 'the engine still waits for it');
    // The engine marks the resource FAILED when the stack times out; nobody will poll it again.
    await cloud.db.run("UPDATE heat_resources SET status = 'FAILED' WHERE id = 'd4'");
    assert.deepEqual(await status(), ['FAILED']);
    assert.equal((await getDeployment(cloud.db, r.physicalId!, null)).status_reason, 'Deployment cancelled.');
  } finally {
    await cloud.close();
  }
});

test('delete: no DELETE in actions removes an unsignalled deployment at once; DELETE waits for its signal unless the server is gone', async () => {
  const cloud = await testCloud();
  try {
    // default actions (CREATE, UPDATE): the create never got its signal
    const r = fakeResource(SD, { server: 'srv5' }, { cloud: cloud.ctx });
    await SD.handleCreate(r);
    assert.equal(await SD.checkCreateComplete!(r), false);
    const derived = (await getDeployment(cloud.db, r.physicalId!, null)).config_id!;
    await SD.handleDelete(r);
    assert.equal(await SD.checkDeleteComplete!(r), true);
    assert.deepEqual(await listDeployments(cloud.db, null, { serverId: 'srv5' }), []);
    assert.equal(await findConfig(cloud.db, derived), null);

    let serverThere = true;
    const client = { async request(): Promise<any> { throw new Error('unused'); }, async find() { return serverThere ? { id: 'srv6' } : null; } };
    const withDelete = () => fakeResource(SD, { server: 'srv6', actions: ['CREATE', 'DELETE'], signal_transport: 'NO_SIGNAL' },
      { cloud: cloud.ctx, client });
    const d = withDelete();
    d.properties.signal_transport = 'CFN_SIGNAL';
    await SD.handleCreate(d);
    await SD.handleSignal!(d, {});
    assert.equal(await SD.checkCreateComplete!(d), true);
    await SD.handleDelete(d);
    const running = await getDeployment(cloud.db, d.physicalId!, null);
    assert.equal(running.action, 'DELETE');
    assert.equal(running.status, 'IN_PROGRESS');
    assert.equal(await SD.checkDeleteComplete!(d), false, 'waits for the DELETE signal');
    await SD.handleSignal!(d, { deploy_status_code: 0 });
    assert.equal(await SD.checkDeleteComplete!(d), true);
    assert.equal(await findDeployment(cloud.db, d.physicalId!), null);

    const gone = withDelete();
    gone.properties.signal_transport = 'CFN_SIGNAL';
    await SD.handleCreate(gone);
    await SD.handleSignal!(gone, {});
    await SD.handleDelete(gone);
    assert.equal(await SD.checkDeleteComplete!(gone), false);
    serverThere = false;
    assert.equal(await SD.checkDeleteComplete!(gone), true, 'a deleted server will never signal');
    assert.equal(await findDeployment(cloud.db, gone.physicalId!), null);

    // the server never answered the create (it timed out): it will not answer the DELETE run either
    const silent = withDelete();
    silent.properties.signal_transport = 'CFN_SIGNAL';
    await SD.handleCreate(silent);
    await SD.handleDelete(silent);
    assert.equal(await SD.checkDeleteComplete!(silent), true);
    assert.equal(await findDeployment(cloud.db, silent.physicalId!), null);
  } finally {
    await cloud.close();
  }
});

test('engine: a stack create that fails leaves its unsignalled deployments FAILED, and deleting the stack does not wait for them', async () => {
  const h = await startHarness();
  try {
    const template = {
      heat_template_version: '2016-04-08',
      resources: {
        config: { type: 'OS::Heat::SoftwareConfig', properties: { config: 'x'.repeat(100) } },
        dep: { type: 'OS::Heat::SoftwareDeployment', properties: { config: { get_resource: 'config' }, server: 'srv7' } },
        deps: { type: 'OS::Heat::SoftwareDeployments', properties: { config: { get_resource: 'config' }, servers: { 0: 'srv8', 1: 'srv8' } } },
        boom: { type: 'Test::Thing', properties: { fail: true, delay_ms: 500 } },
      },
    };
    const created = await h.engine.create(h.caller, { stack_name: 'sd-fail', template, disable_rollback: true });
    const s = await h.engine.settled(created.id);
    assert.equal(`${s.action}_${s.status}`, 'CREATE_FAILED', s.statusReason);
    // The failure cancelled the deployment's resource (as a timeout does): nobody waits for its signal.
    assert.deepEqual((await listDeployments(h.db, null, { serverId: 'srv7' })).map((d) => d.status), ['FAILED']);
    assert.equal((await listDeployments(h.db, null, { serverId: 'srv8' })).length, 2, 'the group\'s deployments exist');

    const t0 = Date.now();
    await h.engine.delete(h.caller, s.id);
    const gone = await h.engine.settled(s.id, 10_000);
    assert.equal(`${gone.action}_${gone.status}`, 'DELETE_COMPLETE', gone.statusReason);
    assert.ok(Date.now() - t0 < 5_000, 'the delete did not wait for signals');
    assert.deepEqual(await listDeployments(h.db, null, { serverId: 'srv7' }), []);
    assert.deepEqual(await listDeployments(h.db, null, { serverId: 'srv8' }), []);
  } finally {
    await h.close();
  }
});
