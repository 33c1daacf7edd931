// Versions, template versions/functions, validate, resource types, build info, services and the
// pre-signed signal URL, against an in-memory engine (templates.yaml, resourcetypes.yaml).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, v1, PUBLIC_URL, ADMIN_PROJECT } from './testing.ts';

test('version discovery answers 300 at the root and at /v1', async () => {
  const h = await startApi();
  try {
    for (const url of ['/heat-api', '/heat-api/', '/heat-api/v1', '/heat-api/v1/']) {
      const r = await h.call(null, 'GET', url);
      assert.equal(r.status, 300, url);
      assert.deepEqual(r.body, { versions: [{ id: 'v1.0', status: 'CURRENT', links: [{ href: `${PUBLIC_URL}/heat-api/v1/`, rel: 'self' }] }] });
    }
    const nf = await h.call('demo', 'GET', `${v1()}/nothing/here`);
    assert.equal(nf.status, 404);
    assert.equal(nf.body.error.type, 'HTTPNotFound');
    assert.equal(nf.body.code, 404);
    assert.equal(nf.body.error.traceback, null);
  } finally {
    await h.close();
  }
});

test('template versions, functions and validate', async () => {
  const h = await startApi();
  try {
    const tv = await h.call('demo', 'GET', `${v1()}/template_versions`);
    assert.equal(tv.status, 200);
    assert.equal(tv.body.template_versions.find((v: any) => v.version === 'heat_template_version.2016-04-08').type, 'hot');
    const fn = await h.call('demo', 'GET', `${v1()}/template_versions/heat_template_version.2016-04-08/functions`);
    assert.equal(fn.body.template_functions.find((f: any) => f.functions === 'get_file').description, 'A function for including a file inline.');
    assert.equal(fn.body.template_functions.length, 1);
    const fc = await h.call('demo', 'GET', `${v1()}/template_versions/heat_template_version.2016-04-08/functions?with_condition_func=true`);
    assert.equal(fc.body.template_functions.length, 2);
    const nv = await h.call('demo', 'GET', `${v1()}/template_versions/heat_template_version.1999-01-01/functions`);
    assert.equal(nv.status, 404);
    assert.equal(nv.body.error.type, 'NotFound');

    const t = { heat_template_version: '2016-04-08', description: 'd', resources: {} };
    const val = await h.call('demo', 'POST', `${v1()}/validate?show_nested=true&ignore_errors=99001,99002`, { template: t, parameters: { a: 1 } });
    assert.equal(val.status, 200);
    assert.equal(val.body.Description, 'd');
    const [, req, opts] = h.engine.lastCall('validate')! as any[];
    assert.deepEqual(opts, { showNested: true, ignoreErrors: ['99001', '99002'] });
    assert.ok(!('stack_name' in req));
    assert.deepEqual(req.parameters, { a: 1 });
    assert.equal((await h.call('demo', 'POST', `${v1()}/validate`, {})).body.error.message, 'No template specified');
  } finally {
    await h.close();
  }
});

test('resource types: list (hidden and admin-only types left out), filters, schema and generated template', async () => {
  const h = await startApi();
  try {
    const l = await h.call('demo', 'GET', `${v1()}/resource_types`);
    assert.equal(l.status, 200);
    assert.deepEqual(l.body.resource_types, ['OS::Heat::Old', 'OS::Heat::TestResource', 'OS::Nova::Server']);
    const admin = await h.call('admin', 'GET', `/heat-api/v1/${ADMIN_PROJECT}/resource_types`);
    assert.ok(admin.body.resource_types.includes('OS::Nova::Flavor'));
    assert.ok(admin.body.resource_types.includes('OS::Keystone::Project'), 'OS::Keystone::* is a wildcard rule');
    assert.ok(!admin.body.resource_types.includes('OS::Heat::Hidden'));
    assert.deepEqual((await h.call('demo', 'GET', `${v1()}/resource_types?name=Test`)).body.resource_types, ['OS::Heat::TestResource']);
    assert.deepEqual((await h.call('demo', 'GET', `${v1()}/resource_types?support_status=DEPRECATED`)).body.resource_types, ['OS::Heat::Old']);
    assert.deepEqual((await h.call('demo', 'GET', `${v1()}/resource_types?version=5.0.0`)).body.resource_types, ['OS::Heat::Old']);
    const wd = await h.call('demo', 'GET', `${v1()}/resource_types?name=Server&with_description=true`);
    assert.deepEqual(wd.body.resource_types, [{ resource_type: 'OS::Nova::Server', description: 'OS::Nova::Server resource' }]);

    const s = await h.call('demo', 'GET', `${v1()}/resource_types/OS::Heat::TestResource`);
    assert.equal(s.status, 200);
    assert.equal(s.body.resource_type, 'OS::Heat::TestResource');
    assert.equal(s.body.support_status.status, 'SUPPORTED');
    assert.equal(s.body.properties.wait_secs.default, 0);
    assert.equal(s.body.properties.value.update_allowed, true);
    assert.equal(s.body.properties.value.required, false);
    assert.equal(s.body.attributes.output.description, 'The string that was stored.');
    assert.equal(s.body.attributes.show.type, 'map');
    const nf = await h.call('demo', 'GET', `${v1()}/resource_types/OS::No::Such`);
    assert.equal(nf.status, 404);
    assert.equal(nf.body.error.message, 'The Resource Type (OS::No::Such) could not be found.');
    assert.equal((await h.call('demo', 'GET', `${v1()}/resource_types/OS::Nova::Flavor`)).status, 403);

    const g = await h.call('demo', 'GET', `${v1()}/resource_types/OS::Heat::TestResource/template?template_type=hot`);
    assert.equal(g.status, 200);
    assert.equal(g.body.resources.TestResource.type, 'OS::Heat::TestResource');
    assert.match(g.body.heat_template_version, /^20[1-9][0-9]-[0-1][0-9]-[0-3][0-9]$/);
    assert.ok('Resources' in (await h.call('demo', 'GET', `${v1()}/resource_types/OS::Heat::TestResource/template`)).body, 'cfn by default');
    assert.equal((await h.call('demo', 'GET', `${v1()}/resource_types/OS::Heat::TestResource/template?template_type=xml`)).status, 400);
  } finally {
    await h.close();
  }
});

test('build info for anyone but stack users; services for system readers', async () => {
  const h = await startApi();
  try {
    assert.deepEqual((await h.call('demo', 'GET', `${v1()}/build_info`)).body, { api: { revision: 'unknown' }, engine: { revision: 'unknown' } });
    assert.equal((await h.call('stackuser', 'GET', `${v1()}/build_info`)).status, 403);
    assert.equal((await h.call('demo', 'GET', `${v1()}/services`)).status, 403);
  } finally {
    await h.close();
  }
});

test('the pre-signed signal URL needs a valid signature, no token', async () => {
  const h = await startApi({ verifySignal: (_ctx, stackId, name, sig) => sig === `ok-${stackId}-${name}` });
  try {
    const c = await h.call('demo', 'POST', `${v1()}/stacks`, {
      stack_name: 'sg', template: { heat_template_version: '2016-04-08', resources: { wait: { type: 'OS::Heat::WaitConditionHandle' } } },
    });
    const id = c.body.stack.id;
    const bad = await h.call(null, 'POST', `/heat-api/v1/signal/${id}/wait?signature=nope`, { status: 'SUCCESS' });
    assert.equal(bad.status, 403);
    assert.equal((await h.call(null, 'POST', `/heat-api/v1/signal/${id}/wait`, { status: 'SUCCESS' })).status, 403);
    const ok = await h.call(null, 'POST', `/heat-api/v1/signal/${id}/wait?signature=ok-${id}-wait`, { status: 'SUCCESS', data: 'x' });
    assert.equal(ok.status, 200);
    assert.deepEqual(h.engine.signals.at(-1), { stackId: id, name: 'wait', details: { status: 'SUCCESS', data: 'x' } });
    // curl -d without a JSON content type still signals.
    const form = await h.call(null, 'POST', `/heat-api/v1/signal/${id}/wait?signature=ok-${id}-wait`, 'plain words',
      { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 200);
    assert.equal(h.engine.signals.at(-1)!.details, 'plain words');
    const other = '11111111-1111-1111-1111-111111111111';
    assert.equal((await h.call(null, 'POST', `/heat-api/v1/signal/${other}/wait?signature=ok-${other}-wait`, {})).status, 404);
  } finally {
    await h.close();
  }
});
