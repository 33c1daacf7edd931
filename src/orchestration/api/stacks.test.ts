// Stack routes against an in-memory engine, following what Tempest's gabbits (stacks.yaml,
// environments.yaml) send and check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, v1, PUBLIC_URL, DEMO_PROJECT, ADMIN_PROJECT } from './testing.ts';

const TEMPLATE = {
  heat_template_version: 'pike',
  parameters: { test_val: { type: 'string' }, secret: { type: 'string', hidden: true, default: 'x' } },
  resources: { test: { type: 'OS::Heat::TestResource', properties: { value: { get_param: 'test_val' } } } },
  outputs: { output_value: { value: { get_param: 'test_val' } }, broken: { value: { get_attr: ['test', 'nope'] } } },
};

test('create answers 201 with the stack link in Location; lookup by name redirects; show, update, patch, outputs, delete', async () => {
  const h = await startApi();
  try {
    const c = await h.call('demo', 'POST', `${v1()}/stacks`, {
      files: {}, disable_rollback: true, parameters: { test_val: 'value', secret: 's3' }, stack_name: 'st', template: TEMPLATE, tags: 'a,b',
      timeout_mins: 5,
    });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const id = c.body.stack.id;
    const href = `${PUBLIC_URL}${v1()}/stacks/st/${id}`;
    assert.equal(c.headers.location, href);
    assert.match(c.headers.location, /\/stacks\/st\/[a-f0-9-]+/);
    assert.deepEqual(c.body.stack.links, [{ href, rel: 'self' }]);
    const req = h.engine.lastCall('create')![1] as any;
    assert.deepEqual(req.tags, ['a', 'b']);
    assert.equal(req.timeout_mins, 5);
    assert.equal(req.disable_rollback, true);

    // GET /stacks/{name} and /stacks/{id} answer 302 to the stack; sub-paths and the query string follow.
    const byName = await h.call('demo', 'GET', `${v1()}/stacks/st`);
    assert.equal(byName.status, 302);
    assert.equal(byName.headers.location, href);
    const byId = await h.call('demo', 'GET', `${v1()}/stacks/${id}/resources?nested_depth=2`);
    assert.equal(byId.status, 302);
    assert.equal(byId.headers.location, `${href}/resources?nested_depth=2`);
    const deep = await h.call('demo', 'GET', `${v1()}/stacks/st/resources/test/events`);
    assert.equal(deep.headers.location, `${href}/resources/test/events`);
    const missing = await h.call('demo', 'GET', `${v1()}/stacks/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.type, 'EntityNotFound');
    assert.equal(missing.body.error.message, 'The Stack (nope) could not be found.');
    assert.equal(missing.body.title, 'Not Found');
    assert.equal(missing.body.explanation, 'The resource could not be found.');

    const show = await h.call('demo', 'GET', `${v1()}/stacks/st/${id}`);
    assert.equal(show.status, 200);
    const s = show.body.stack;
    assert.equal(s.stack_status, 'CREATE_COMPLETE');
    assert.equal(s.stack_name, 'st');
    assert.equal(s.parameters.test_val, 'value');
    assert.equal(s.parameters.secret, '******', 'hidden parameters are masked');
    assert.equal(s.parameters['OS::stack_id'], id);
    assert.deepEqual(s.tags, ['a', 'b']);
    assert.equal(s.timeout_mins, 5);
    assert.match(s.creation_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(s.updated_time, null);
    assert.deepEqual(s.outputs.find((o: any) => o.output_key === 'output_value'),
      { output_key: 'output_value', description: 'No description given', output_value: 'value' });
    assert.equal(s.outputs.find((o: any) => o.output_key === 'broken').output_error, 'The Referenced Attribute is not available');
    for (const k of ['id', 'description', 'deletion_time', 'stack_status_reason', 'stack_owner', 'links', 'capabilities',
      'notification_topics', 'disable_rollback', 'parent', 'stack_user_project_id', 'template_description']) assert.ok(k in s, k);
    // A name that does not match the id is not this stack.
    assert.equal((await h.call('demo', 'GET', `${v1()}/stacks/other/${id}`)).status, 404);

    const put = await h.call('demo', 'PUT', `${v1()}/stacks/st/${id}`, { parameters: { test_val: 'new_value' }, template: TEMPLATE });
    assert.equal(put.status, 202);
    assert.deepEqual(h.engine.lastCall('update')![3], { patch: false });
    const patch = await h.call('demo', 'PATCH', `${v1()}/stacks/st/${id}`, { parameters: { test_val: 'new_patched_value' } });
    assert.equal(patch.status, 202);
    const [, , preq, popts] = h.engine.lastCall('update')! as any[];
    assert.deepEqual(popts, { patch: true });
    assert.deepEqual(preq.template, TEMPLATE, 'PATCH without a template keeps the current one');
    assert.equal((await h.call('demo', 'PUT', `${v1()}/stacks/st/${id}`, { parameters: {} })).body.error.message, 'No template specified');

    const outs = await h.call('demo', 'GET', `${v1()}/stacks/st/${id}/outputs`);
    assert.equal(outs.status, 200);
    assert.equal(outs.body.outputs[0].output_key, 'output_value');
    assert.ok(!('output_value' in outs.body.outputs[0]), 'the list does not resolve values');
    // gabbi: GET $LAST_URL/output_value after .../outputs is .../outputs/output_value.
    const one = await h.call('demo', 'GET', `${v1()}/stacks/st/${id}/outputs/output_value`);
    assert.equal(one.status, 200);
    assert.equal(one.body.output.output_value, 'new_patched_value');
    const noOut = await h.call('demo', 'GET', `${v1()}/stacks/st/${id}/outputs/zzz`);
    assert.equal(noOut.status, 404);

    assert.deepEqual((await h.call('demo', 'GET', `${v1()}/stacks/st/${id}/template`)).body, TEMPLATE);
    assert.deepEqual((await h.call('demo', 'GET', `${v1()}/stacks/st/${id}/files`)).body, {});
    assert.equal((await h.call('demo', 'GET', `${v1()}/stacks/st/${id}/environment`)).body.parameters !== undefined, true);

    // gabbi's DELETE /stacks/{name} with redirects: 302 keeps the method, then 204.
    const del = await h.call('demo', 'DELETE', `${v1()}/stacks/st`);
    assert.equal(del.status, 302);
    assert.equal(del.headers.location, href);
    const del2 = await h.call('demo', 'DELETE', new URL(del.headers.location).pathname);
    assert.equal(del2.status, 204);
    assert.equal(del2.body, null);
    // A deleted stack is still shown by id (DELETE_COMPLETE), not by name.
    const gone = await h.call('demo', 'GET', `${v1()}/stacks/st/${id}`);
    assert.equal(gone.status, 200);
    assert.equal(gone.body.stack.stack_status, 'DELETE_COMPLETE');
    assert.equal((await h.call('demo', 'GET', `${v1()}/stacks/st`)).status, 404);
    assert.equal((await h.call('demo', 'GET', `${v1()}/stacks/${id}`)).status, 302);
    assert.equal((await h.call('demo', 'DELETE', `${v1()}/stacks/st/${id}`)).status, 404);
  } finally {
    await h.close();
  }
});

test('create: YAML string templates and environments are parsed; bad bodies are 400s; duplicates 409', async () => {
  const h = await startApi();
  try {
    const yaml = "heat_template_version: 2016-04-08\nparameters:\n  test_val: {type: string}\nresources: {}\n";
    const c = await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'y', template: yaml, environment: 'parameters:\n  test_val: test\n' });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const req = h.engine.lastCall('create')![1] as any;
    assert.equal(req.template.heat_template_version, '2016-04-08', 'dates stay strings');
    assert.deepEqual(req.environment, { parameters: { test_val: 'test' } });

    const noName = await h.call('demo', 'POST', `${v1()}/stacks`, { template: yaml });
    assert.equal(noName.status, 400);
    assert.equal(noName.body.error.message, 'No stack name specified');
    assert.equal(noName.body.error.type, 'HTTPBadRequest');
    assert.equal(noName.body.explanation, 'The server could not comply with the request since it is either malformed or otherwise incorrect.');
    assert.equal((await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'z' })).body.error.message, 'No template specified');
    assert.equal((await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'z', template: '- a\n- b\n' })).body.error.message,
      'The template is not a JSON object or YAML mapping.');
    assert.equal((await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'z', template: 'a: [' })).status, 400);
    assert.equal((await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'z', template_url: 'http://example.com/t.yaml' })).body.error.message,
      'template_url is not supported');
    assert.equal((await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'z', template: yaml, environment: { bogus: 1 } })).body.error.message,
      'environment has wrong section "bogus"');
    assert.equal((await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'z', template: yaml, timeout_mins: 'x' })).status, 400);
    assert.equal((await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'z', template: yaml, disable_rollback: 'maybe' })).status, 400);
    assert.equal((await h.call('demo', 'POST', `${v1()}/stacks`, '{not json')).status, 400);

    const dup = await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'y', template: yaml });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.type, 'StackExists');
    assert.equal(dup.body.title, 'Conflict');

    const adopt = await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'ad', template: yaml, adopt_stack_data: '{"resources": {}}' });
    assert.equal(adopt.status, 201);
    assert.deepEqual(h.engine.lastCall('adopt')![2], { resources: {} });

    const pv = await h.call('demo', 'POST', `${v1()}/stacks/preview`, { stack_name: 'pv', template: { heat_template_version: '2016-04-08', resources: { r: { type: 'OS::Heat::TestResource' } } } });
    assert.equal(pv.status, 200);
    assert.equal(pv.body.stack.stack_name, 'pv');
  } finally {
    await h.close();
  }
});

test('list: filters, paging, tags and with_count reach the engine; detail shows parameters', async () => {
  const h = await startApi();
  try {
    for (const n of ['a1', 'a2']) await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: n, template: { heat_template_version: '2016-04-08' } });
    const l = await h.call('demo', 'GET', `${v1()}/stacks?status=CREATE_COMPLETE&name=a1&name=a2&limit=1&sort_keys=stack_name,bogus&sort_dir=desc&tags=x,y&with_count=true`);
    assert.equal(l.status, 200, JSON.stringify(l.body));
    assert.equal(l.headers['content-type'], 'application/json');
    assert.equal(l.body.stacks.length, 1);
    assert.equal(l.body.count, 2);
    const opts = h.engine.calls.filter((c) => c.method === 'list')[0].args[1] as any;
    assert.deepEqual(opts.filters, { status: ['COMPLETE'], name: ['a1', 'a2'], action: ['CREATE'] });
    assert.deepEqual(opts.sortKeys, ['stack_name']);
    assert.equal(opts.sortDir, 'desc');
    assert.deepEqual(opts.tags, ['x', 'y']);
    assert.equal(opts.limit, 1);
    const row = l.body.stacks[0];
    assert.ok(!('parameters' in row));
    assert.equal(row.links[0].rel, 'self');
    const d = await h.call('demo', 'GET', `${v1()}/stacks/detail`);
    assert.equal(d.body.stacks.length, 2);
    assert.ok('parameters' in d.body.stacks[0]);
    assert.equal((await h.call('demo', 'GET', `${v1()}/stacks?limit=-1`)).status, 400);
    assert.equal((await h.call('demo', 'GET', `${v1()}/stacks?sort_dir=up`)).status, 400);
    assert.equal((await h.call('demo', 'GET', `${v1()}/stacks?show_deleted=perhaps`)).status, 400);
    // Listing every project is for system readers only.
    assert.equal((await h.call('demo', 'GET', `${v1()}/stacks?global_tenant=true`)).status, 403);
  } finally {
    await h.close();
  }
});

test('actions, abandon, preview update and snapshots', async () => {
  const h = await startApi();
  try {
    const c = await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'ac', template: { heat_template_version: '2016-04-08' } });
    const base = `${v1()}/stacks/ac/${c.body.stack.id}`;
    assert.equal((await h.call('demo', 'POST', `${base}/actions`, { suspend: null })).status, 200);
    assert.equal(h.engine.lastCall('action')![2], 'suspend');
    assert.equal((await h.call('demo', 'POST', `${base}/actions`, { cancel_without_rollback: null })).status, 200);
    assert.deepEqual(h.engine.lastCall('cancelUpdate')![2], { rollback: false });
    assert.equal((await h.call('demo', 'POST', `${base}/actions`, { cancel_update: null })).status, 200);
    assert.deepEqual(h.engine.lastCall('cancelUpdate')![2], { rollback: true });
    assert.equal((await h.call('demo', 'POST', `${base}/actions`, { suspend: null, resume: null })).body.error.message, 'Multiple actions specified');
    assert.equal((await h.call('demo', 'POST', `${base}/actions`, { explode: null })).body.error.message, 'Invalid action explode specified');
    // Readers may check, not suspend.
    assert.equal((await h.call('reader', 'POST', `${base}/actions`, { check: null })).status, 200);
    assert.equal((await h.call('reader', 'POST', `${base}/actions`, { suspend: null })).status, 403);

    const pu = await h.call('demo', 'PUT', `${base}/preview?show_nested=true`, { template: { heat_template_version: '2016-04-08' } });
    assert.equal(pu.status, 200);
    assert.deepEqual(Object.keys(pu.body.resource_changes).sort(), ['added', 'deleted', 'replaced', 'unchanged', 'updated']);
    assert.deepEqual(h.engine.lastCall('previewUpdate')![3], { patch: false, showNested: true });
    assert.equal((await h.call('demo', 'PATCH', `${base}/preview`, {})).status, 200);

    assert.deepEqual((await h.call('demo', 'GET', `${base}/snapshots`)).body, { snapshots: [] });
    assert.equal((await h.call('demo', 'POST', `${base}/snapshots`, { name: 's' })).status, 400);

    const ab = await h.call('demo', 'DELETE', `${base}/abandon`);
    assert.equal(ab.status, 200);
    assert.equal(ab.body.name, 'ac');
  } finally {
    await h.close();
  }
});

test('policy and tenancy: readers cannot create, another project is forbidden, admins may act in any project', async () => {
  const h = await startApi();
  try {
    const t = { heat_template_version: '2016-04-08' };
    const r = await h.call('reader', 'POST', `${v1()}/stacks`, { stack_name: 'r', template: t });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.message, "Policy doesn't allow stacks:create to be performed.");
    assert.equal(r.body.title, 'Forbidden');
    assert.equal((await h.call('reader', 'GET', `${v1()}/stacks`)).status, 200);
    assert.equal((await h.call('stackuser', 'GET', `${v1()}/stacks`)).status, 403);
    const cross = await h.call('other', 'GET', `${v1(DEMO_PROJECT)}/stacks`);
    assert.equal(cross.status, 403);
    assert.equal(cross.body.error.type, 'HTTPForbidden');
    // An admin passes the tenant check; the rules then judge the project in the URL.
    assert.equal((await h.call('admin', 'GET', `${v1(ADMIN_PROJECT)}/stacks`)).status, 200);
    const noToken = await h.call(null, 'GET', `${v1()}/stacks`);
    assert.equal(noToken.status, 401);
    assert.equal(noToken.body.error.code, 401);
  } finally {
    await h.close();
  }
});
