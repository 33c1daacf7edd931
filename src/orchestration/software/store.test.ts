import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testCloud } from '../resources/heat/testing.ts';
import { createConfig, createDeployment, deleteConfig, listConfigs, serverDeployments, signalDeployment, updateDeployment } from './store.ts';

test('server metadata lists deployments by config name and keeps the other keys', async () => {
  const { db, close } = await testCloud();
  try {
    await db.run("INSERT INTO heat_resources (id, physical_id, type, metadata) VALUES ('r', 'srv', 'OS::Nova::Server', ?)", ['{"keep": true}']);
    const b = await createConfig(db, 'p', { name: 'b', config: 'x' });
    const a = await createConfig(db, 'p', { name: 'a', config: 'y' });
    await createDeployment(db, 'p', { server_id: 'srv', config_id: b.id });
    await createDeployment(db, 'p', { server_id: 'srv', config_id: a.id });
    const md = JSON.parse((await db.get("SELECT metadata FROM heat_resources WHERE id = 'r'"))!.metadata);
    assert.equal(md.keep, true);
    assert.deepEqual(md.deployments.map((d: any) => d.name), ['a', 'b']);
    assert.deepEqual((await serverDeployments(db, 'srv')).map((d) => d.id), [a.id, b.id]);
    // a config still deployed cannot be deleted
    await assert.rejects(deleteConfig(db, a.id, 'p'), (e: any) => e.status === 400);
    assert.equal((await listConfigs(db, 'p', { limit: 1 })).length, 1);
  } finally {
    await close();
  }
});

test('signals: error_output outputs and non-zero status codes fail the deployment; only IN_PROGRESS takes them', async () => {
  const { db, close } = await testCloud();
  try {
    const c = await createConfig(db, 'p', { outputs: [{ name: 'err', error_output: true }, { name: 'ok' }] });
    const d = await createDeployment(db, 'p', { server_id: 's', config_id: c.id, status: 'IN_PROGRESS' });
    const done = await signalDeployment(db, d.id, { err: 'bad thing', ok: 1, undeclared: 2 });
    assert.equal(done!.status, 'FAILED');
    assert.equal(done!.status_reason, 'err : bad thing');
    assert.deepEqual(done!.output_values, { err: 'bad thing', ok: 1 });
    const again = await signalDeployment(db, d.id, {});
    assert.equal(again!.status, 'FAILED');
    await updateDeployment(db, d.id, null, { status: 'IN_PROGRESS' });
    assert.equal((await signalDeployment(db, d.id, { deploy_status_code: '0' }))!.status, 'COMPLETE');
  } finally {
    await close();
  }
});
