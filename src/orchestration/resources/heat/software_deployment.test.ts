import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftwareDeploymentResource as SD, SoftwareDeployments, StructuredDeployment } from './software_deployment.ts';
import { signalUrls } from './common.ts';
import { fakeResource, testCloud, updated } from './testing.ts';
import { createConfig, getDeployment, listDeployments, findConfig } from '../../software/store.ts';

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
