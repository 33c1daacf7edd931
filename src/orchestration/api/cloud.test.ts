// The Heat API on a whole cloud (real engine and plugins), replaying what Tempest's gabbits
// (heat_tempest_plugin/tests/api/gabbits) send, with gabbi's redirect handling (302s are
// followed with the same method) and $LAST_URL / $LOCATION as gabbi computes them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, type TestCloud, type Session } from '../../testing.ts';
import { signalUrl } from '../signal_url.ts';

let cloud: TestCloud;
let demo: Session;
let base: string;

before(async () => {
  cloud = await startTestCloud();
  demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  const ep = demo.body.token.catalog.find((c: any) => c.type === 'orchestration');
  assert.ok(ep, 'orchestration is in the catalog');
  base = ep.endpoints.find((e: any) => e.interface === 'public').url;
  assert.equal(base, `${cloud.url}/heat-api/v1/${demo.body.token.project.id}`);
});
after(async () => { await cloud?.close(); });

/** One gabbi request: absolute URL, JSON body, 302s followed with the same method. */
async function gabbi(method: string, url: string, body?: unknown, redirects = false) {
  let target = url.startsWith('http') ? url : `${base}${url}`;
  for (let hop = 0; ; hop++) {
    const r = await fetch(target, {
      method, redirect: 'manual',
      headers: { 'x-auth-token': demo.token, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (redirects && r.status === 302 && hop < 5) { target = new URL(r.headers.get('location')!, target).href; continue; }
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null, url };
  }
}

async function poll(url: string, status: string) {
  let last: any;
  for (let i = 0; i < 100; i++) {
    last = await gabbi('GET', url, undefined, true);
    if (last.body?.stack?.stack_status === status) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`stack at ${url} never reached ${status}: ${JSON.stringify(last.body)}`);
}

const TEST_TEMPLATE = {
  heat_template_version: 'pike',
  parameters: { test_val: { type: 'string' } },
  resources: { test: { type: 'OS::Heat::TestResource', properties: { value: { get_param: 'test_val' } } } },
  outputs: { output_value: { value: { get_attr: ['test', 'output'] } } },
};

test('stacks.yaml: list, create empty, show, delete; create, update, patch, outputs, delete by name', async () => {
  const list = await gabbi('GET', '/stacks');
  assert.equal(list.status, 200);
  assert.equal(list.headers.get('content-type'), 'application/json');

  const empty = await gabbi('POST', '/stacks', {
    files: {}, disable_rollback: true, parameters: {}, stack_name: 'api-empty', environment: {}, template: { heat_template_version: '2016-04-08' },
  });
  assert.equal(empty.status, 201, JSON.stringify(empty.body));
  assert.match(empty.headers.get('location')!, /\/stacks\/api-empty\/[a-f0-9-]+/);
  const emptyUrl = empty.headers.get('location')!;
  await poll(emptyUrl, 'CREATE_COMPLETE');
  assert.equal((await gabbi('GET', emptyUrl, undefined, true)).status, 200);
  assert.equal((await gabbi('DELETE', emptyUrl, undefined, true)).status, 204);

  const c = await gabbi('POST', '/stacks', { files: {}, disable_rollback: true, parameters: { test_val: 'value' }, stack_name: 'api-stack', template: TEST_TEMPLATE });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const url = c.headers.get('location')!;
  await poll(url, 'CREATE_COMPLETE');
  assert.equal((await gabbi('GET', url, undefined, true)).status, 200);

  const updated = { ...TEST_TEMPLATE, resources: { test: { type: 'OS::Heat::TestResource', properties: { value: { get_param: 'test_val' }, action_wait_secs: { update: 1 } } } } };
  const put = await gabbi('PUT', url, { files: {}, disable_rollback: true, parameters: { test_val: 'new_value' }, stack_name: 'api-stack', template: updated });
  assert.equal(put.status, 202, JSON.stringify(put.body));
  await poll(url, 'UPDATE_COMPLETE');
  const patch = await gabbi('PATCH', url, { parameters: { test_val: 'new_patched_value' } });
  assert.equal(patch.status, 202, JSON.stringify(patch.body));
  await new Promise((r) => setTimeout(r, 50));
  await poll(url, 'UPDATE_COMPLETE');

  const outputs = await gabbi('GET', `${url}/outputs`, undefined, true);
  assert.equal(outputs.status, 200);
  assert.equal(outputs.body.outputs[0].output_key, 'output_value');
  // $LAST_URL is now .../outputs.
  const output = await gabbi('GET', `${url}/outputs/output_value`, undefined, true);
  assert.equal(output.status, 200);
  assert.equal(output.body.output.output_value, 'new_patched_value');

  assert.equal((await gabbi('DELETE', '/stacks/api-stack', undefined, true)).status, 204);
});

test('resources.yaml: list, filter, show, mark unhealthy, signal a TestResource (400), delete', async () => {
  const c = await gabbi('POST', '/stacks', {
    files: {}, disable_rollback: true, parameters: {}, stack_name: 'api-rsrcstack',
    template: {
      heat_template_version: '2016-04-08', parameters: { test_val: { type: 'string', default: 'test' } },
      resources: { test: { type: 'OS::Heat::TestResource', properties: { value: { get_param: 'test_val' } } } },
    },
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const url = c.headers.get('location')!;
  await poll(url, 'CREATE_COMPLETE');
  const l = await gabbi('GET', `${url}/resources`);
  assert.equal(l.status, 200);
  assert.equal(l.body.resources[0].logical_resource_id, 'test');
  assert.equal(l.body.resources[0].resource_status, 'CREATE_COMPLETE');
  assert.deepEqual((await gabbi('GET', `${url}/resources?type=OS::Nova::Server`)).body.resources, []);
  const show = await gabbi('GET', `${url}/resources/test`);
  assert.equal(show.status, 200);
  assert.equal(show.body.resource.attributes.output, 'test');
  assert.equal((await gabbi('PATCH', `${url}/resources/test`, { mark_unhealthy: true, resource_status_reason: 'resource deleted' })).status, 200);
  const after = await gabbi('GET', `${url}/resources/test`);
  assert.equal(after.body.resource.resource_status, 'CHECK_FAILED');
  assert.equal(after.body.resource.resource_status_reason, 'resource deleted');
  assert.equal((await gabbi('POST', `${url}/resources/test/signal`)).status, 400);
  assert.equal((await gabbi('DELETE', '/stacks/api-rsrcstack', undefined, true)).status, 204);
});

test('environments.yaml: a parameter from the environment reaches the output', async () => {
  const c = await gabbi('POST', '/stacks', {
    files: {}, disable_rollback: true, parameters: {}, stack_name: 'api-envstack', environment: { parameters: { test_val: 'test' } },
    template: { ...TEST_TEMPLATE, heat_template_version: '2016-04-08' },
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const url = c.headers.get('location')!;
  await poll(url, 'CREATE_COMPLETE');
  const o = await gabbi('GET', `${url}/outputs/output_value`, undefined, true);
  assert.equal(o.status, 200);
  assert.equal(o.body.output.output_value, 'test');
  assert.equal((await gabbi('DELETE', '/stacks/api-envstack', undefined, true)).status, 204);
});

test('templates.yaml and resourcetypes.yaml', async () => {
  const tv = await gabbi('GET', '/template_versions');
  assert.equal(tv.body.template_versions.find((v: any) => v.version === 'heat_template_version.2016-04-08').type, 'hot');
  const fn = await gabbi('GET', '/template_versions/heat_template_version.2016-04-08/functions');
  assert.equal(fn.body.template_functions.find((f: any) => f.functions === 'get_file').description, 'A function for including a file inline.');
  assert.equal((await gabbi('GET', '/resource_types')).status, 200);
  const t = await gabbi('GET', '/resource_types/OS::Heat::TestResource');
  assert.equal(t.body.support_status.status, 'SUPPORTED');
  assert.equal(t.body.properties.wait_secs.default, 0);
  const g = await gabbi('GET', '/resource_types/OS::Heat::TestResource/template?template_type=hot');
  assert.equal(g.body.resources.TestResource.type, 'OS::Heat::TestResource');
  assert.match(g.body.heat_template_version, /^20[1-9][0-9]-[0-1][0-9]-[0-3][0-9]$/);
});

test('templates.yaml: validate a template whose parameter has no value', async () => {
  const v = await gabbi('POST', '/validate', { template: { ...TEST_TEMPLATE, heat_template_version: '2016-04-08' } });
  assert.equal(v.status, 200, JSON.stringify(v.body));
  assert.deepEqual(v.body.Parameters.test_val, { Type: 'String', Description: '', NoEcho: 'false', Label: 'test_val' });
  assert.deepEqual(v.body.Environment, { parameters: {}, parameter_defaults: {}, resource_registry: { resources: {} }, event_sinks: [] });
});

test('preview: a ResourceGroup of a nested template lists the nested port (network_id, the hidden name of network)', async () => {
  const nested = 'heat_template_version: 2015-04-30\nparameters:\n  fixed_network_id:\n    type: string\n'
    + 'resources:\n  port:\n    type: OS::Neutron::Port\n    properties:\n      network_id: {get_param: fixed_network_id}\n';
  const p = await gabbi('POST', '/stacks/preview', {
    stack_name: 'rgpreview', disable_rollback: true, files: { 'nested.yaml': nested },
    template: {
      heat_template_version: '2015-04-30',
      resources: {
        fixed_network: { type: 'OS::Neutron::Net' },
        rg: { type: 'OS::Heat::ResourceGroup', properties: { count: 1, resource_def: { type: 'nested.yaml', properties: { fixed_network_id: { get_resource: 'fixed_network' } } } } },
      },
    },
  });
  assert.equal(p.status, 200, JSON.stringify(p.body));
  const names: string[] = [];
  const walk = (items: unknown[]) => { for (const i of items) Array.isArray(i) ? walk(i) : names.push((i as any).resource_name); };
  walk(p.body.stack.resources);
  assert.deepEqual(names.sort(), ['fixed_network', 'port']);
});

test('a subnet given its network by the hidden name network_id, from get_resource, is created', async () => {
  const c = await gabbi('POST', '/stacks', {
    stack_name: 'subnet-network-id', disable_rollback: true,
    template: {
      heat_template_version: '2015-04-30',
      resources: {
        net: { type: 'OS::Neutron::Net' },
        sub: { type: 'OS::Neutron::Subnet', properties: { network_id: { get_resource: 'net' }, cidr: '10.9.0.0/24' } },
      },
    },
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const s = await poll(c.headers.get('location')!, 'CREATE_COMPLETE');
  assert.equal(s.body.stack.stack_status, 'CREATE_COMPLETE');
});

test('a pre-signed signal URL signals a wait condition handle without a token', async () => {
  const c = await gabbi('POST', '/stacks', {
    stack_name: 'api-signal', template: { heat_template_version: '2016-04-08', resources: { handle: { type: 'OS::Heat::WaitConditionHandle' } } },
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const url = c.headers.get('location')!;
  await poll(url, 'CREATE_COMPLETE');
  const signed = await signalUrl(cloud.ctx, c.body.stack.id, 'handle');
  const bad = await fetch(signed.replace(/signature=[^&]+/, 'signature=forged'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(bad.status, 403);
  const ok = await fetch(signed, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'SUCCESS', id: '1', data: 'done' }) });
  assert.equal(ok.status, 200, await ok.text());
  assert.equal((await gabbi('DELETE', url, undefined, true)).status, 204);
});
