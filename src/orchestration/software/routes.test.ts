import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, v1 } from '../api/testing.ts';
import { testCloud } from '../resources/heat/testing.ts';
import { softwareRoutes } from './routes.ts';

async function harness() {
  const cloud = await testCloud();
  const api = await startApi({ extraRoutes: (app, ctx) => softwareRoutes(app, { ...ctx, db: cloud.db }) });
  return { api, async close() { await api.close(); await cloud.close(); } };
}

test('software configs and deployments round trip as Heat\'s gabbi test walks them', async () => {
  const { api, close } = await harness();
  try {
    const c = await api.call('demo', 'POST', `${v1()}/software_configs`, { name: 'cfg', group: 'script', config: '#!/bin/sh -x\necho hello' });
    assert.equal(c.status, 200);
    const cfg = c.body.software_config;
    assert.deepEqual(Object.keys(cfg).sort(), ['config', 'creation_time', 'group', 'id', 'inputs', 'name', 'options', 'outputs', 'project']);
    const show = await api.call('demo', 'GET', `${v1()}/software_configs/${cfg.id}`);
    assert.equal(show.body.software_config.group, 'script');

    const d = await api.call('demo', 'POST', `${v1()}/software_deployments`, { action: 'ACTION0', config_id: cfg.id, server_id: 'dummy_server' });
    assert.equal(d.status, 200);
    const dep = d.body.software_deployment;
    assert.equal(dep.action, 'ACTION0');
    assert.equal(dep.status, 'COMPLETE');
    assert.equal((await api.call('demo', 'GET', `${v1()}/software_deployments/${dep.id}`)).body.software_deployment.server_id, 'dummy_server');
    const md = await api.call('demo', 'GET', `${v1()}/software_deployments/metadata/dummy_server`);
    assert.equal(md.body.metadata[0].group, 'script');

    const up = await api.call('demo', 'PUT', `${v1()}/software_deployments/${dep.id}`, { action: 'ACTION1', status: 'COMPLETE', status_reason: 'completed' });
    assert.equal(up.status, 200);
    assert.equal(up.body.software_deployment.action, 'ACTION1');
    assert.equal(up.body.software_deployment.status_reason, 'completed');

    const configs = await api.call('demo', 'GET', `${v1()}/software_configs`);
    assert.equal(configs.body.software_configs.find((x: any) => x.id === cfg.id).group, 'script');
    const deps = await api.call('demo', 'GET', `${v1()}/software_deployments?server_id=dummy_server`);
    assert.equal(deps.body.software_deployments.length, 1);
    assert.equal((await api.call('demo', 'GET', `${v1()}/software_deployments?server_id=other`)).body.software_deployments.length, 0);
    // other projects see nothing
    assert.equal((await api.call('other', 'GET', `${v1('p-other')}/software_configs/${cfg.id}`)).status, 404);

    assert.equal((await api.call('demo', 'DELETE', `${v1()}/software_deployments/${dep.id}`)).status, 204);
    assert.equal((await api.call('demo', 'DELETE', `${v1()}/software_configs/${cfg.id}`)).status, 204);
    const gone = await api.call('demo', 'GET', `${v1()}/software_configs/${cfg.id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.type, 'NotFound');
  } finally {
    await close();
  }
});

test('bad software input is a 400, never a 500', async () => {
  const { api, close } = await harness();
  try {
    assert.equal((await api.call('demo', 'POST', `${v1()}/software_configs`, { inputs: 'nope' })).status, 400);
    assert.equal((await api.call('demo', 'POST', `${v1()}/software_configs`, { inputs: [{ type: 'String' }] })).status, 400);
    assert.equal((await api.call('demo', 'POST', `${v1()}/software_configs`, { name: 5 })).status, 400);
    assert.equal((await api.call('demo', 'POST', `${v1()}/software_deployments`, { config_id: 'x' })).status, 400);
    assert.equal((await api.call('demo', 'POST', `${v1()}/software_deployments`, { server_id: 's', config_id: 'missing' })).status, 404);
    assert.equal((await api.call('demo', 'POST', `${v1()}/software_deployments`, { server_id: 's', status: 'WEIRD' })).status, 400);
    assert.equal((await api.call('demo', 'PUT', `${v1()}/software_deployments/nope`, { status: 'COMPLETE' })).status, 404);
    assert.equal((await api.call('demo', 'GET', `${v1()}/software_configs?limit=x`)).status, 400);
  } finally {
    await close();
  }
});
