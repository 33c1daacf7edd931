// Resource and event routes against an in-memory engine, following Tempest's resources.yaml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, v1, PUBLIC_URL } from './testing.ts';

const TEMPLATE = {
  heat_template_version: '2016-04-08',
  parameters: { test_val: { type: 'string', default: 'test' } },
  resources: {
    test: { type: 'OS::Heat::TestResource', properties: { value: { get_param: 'test_val' } } },
    handle: { type: 'OS::Heat::WaitConditionHandle', metadata: { a: 1 } },
  },
};

async function withStack() {
  const h = await startApi();
  const c = await h.call('demo', 'POST', `${v1()}/stacks`, { stack_name: 'rs', template: TEMPLATE, parameters: { test_val: 'test' } });
  const id = c.body.stack.id as string;
  return { h, id, base: `${v1()}/stacks/rs/${id}` };
}

test('list, filter and show resources; mark unhealthy; signal a resource that takes none', async () => {
  const { h, id, base } = await withStack();
  try {
    const l = await h.call('demo', 'GET', `${base}/resources`);
    assert.equal(l.status, 200);
    const first = l.body.resources[0];
    assert.equal(first.logical_resource_id, 'test');
    assert.equal(first.resource_name, 'test');
    assert.equal(first.resource_status, 'CREATE_COMPLETE');
    assert.equal(first.resource_type, 'OS::Heat::TestResource');
    assert.deepEqual(first.links, [
      { href: `${PUBLIC_URL}${base}/resources/test`, rel: 'self' },
      { href: `${PUBLIC_URL}${base}`, rel: 'stack' },
    ]);
    for (const k of ['physical_resource_id', 'resource_status_reason', 'updated_time', 'creation_time', 'required_by']) assert.ok(k in first, k);

    // gabbi: GET $LAST_URL?type=OS::Nova::Server, where $LAST_URL is .../resources.
    const f = await h.call('demo', 'GET', `${base}/resources?type=OS::Nova::Server`);
    assert.deepEqual(f.body.resources, []);
    assert.deepEqual((h.engine.lastCall('listResources')![1] as any).filters, { type: ['OS::Nova::Server'] });
    assert.equal((await h.call('demo', 'GET', `${base}/resources?status=CREATE_COMPLETE&name=handle`)).body.resources.length, 1);
    assert.equal((await h.call('demo', 'GET', `${base}/resources?nested_depth=x`)).status, 400);
    await h.call('demo', 'GET', `${base}/resources?nested_depth=2&with_detail=true`);
    assert.equal((h.engine.lastCall('listResources')![1] as any).nestedDepth, 2);

    const s = await h.call('demo', 'GET', `${base}/resources/test`);
    assert.equal(s.status, 200);
    assert.equal(s.body.resource.attributes.output, 'test');
    assert.equal(s.body.resource.description, '');
    const none = await h.call('demo', 'GET', `${base}/resources/nope`);
    assert.equal(none.status, 404);
    assert.equal(none.body.error.type, 'ResourceNotFound');

    assert.deepEqual((await h.call('demo', 'GET', `${base}/resources/handle/metadata`)).body, { metadata: { a: 1 } });

    const mark = await h.call('demo', 'PATCH', `${base}/resources/test`, { mark_unhealthy: true, resource_status_reason: 'resource deleted' });
    assert.equal(mark.status, 200);
    const after = await h.call('demo', 'GET', `${base}/resources/test`);
    assert.equal(after.body.resource.resource_status, 'CHECK_FAILED');
    assert.equal(after.body.resource.resource_status_reason, 'resource deleted');
    assert.equal((await h.call('demo', 'PATCH', `${base}/resources/test`, { bogus: 1, mark_unhealthy: true })).status, 400);
    assert.equal((await h.call('demo', 'PATCH', `${base}/resources/test`, { resource_status_reason: 'x' })).status, 400);
    // By physical id as well.
    const phys = h.engine.stacks.get(id)!.resources.find((r) => r.name === 'handle')!.physicalId!;
    assert.equal((await h.call('demo', 'PATCH', `${base}/resources/${phys}`, { mark_unhealthy: true })).status, 200);
    assert.equal(h.engine.lastCall('markUnhealthy')![2], 'handle');

    // gabbi: POST .../resources/test/signal with no body is a 400 for a resource without signals.
    const sig = await h.call('demo', 'POST', `${base}/resources/test/signal`);
    assert.equal(sig.status, 400);
    assert.equal(sig.body.error.type, 'ResourceActionNotSupported');
    const ok = await h.call('demo', 'POST', `${base}/resources/handle/signal`, { status: 'SUCCESS' });
    assert.equal(ok.status, 200);
    assert.deepEqual(h.engine.signals.at(-1), { stackId: id, name: 'handle', details: { status: 'SUCCESS' } });
    // python-heatclient clears hooks by signalling unset_hook.
    assert.equal((await h.call('demo', 'POST', `${base}/resources/handle/signal`, { unset_hook: 'pre-create' })).status, 200);
    assert.deepEqual(h.engine.lastCall('clearHook'), [id, 'handle', 'pre-create']);
    const badHook = await h.call('demo', 'POST', `${base}/resources/handle/signal`, { unset_hook: 'post-create' });
    assert.equal(badHook.status, 400);
    assert.equal(badHook.body.error.type, 'InvalidBreakPointHook');
    // A stack user may signal but not list.
    assert.equal((await h.call('stackuser', 'POST', `${base}/resources/handle/signal`, {})).status, 200);
    assert.equal((await h.call('stackuser', 'GET', `${base}/resources`)).status, 403);
  } finally {
    await h.close();
  }
});

test('events of a stack and of a resource, and one event', async () => {
  const { h, base } = await withStack();
  try {
    const l = await h.call('demo', 'GET', `${base}/events?resource_status=COMPLETE&limit=5&sort_dir=asc`);
    assert.equal(l.status, 200);
    assert.equal(l.body.events.length, 3);
    const opts = h.engine.lastCall('events')![1] as any;
    assert.deepEqual(opts.filters, { resource_status: ['COMPLETE'] });
    assert.equal(opts.limit, 5);
    const e = l.body.events.find((x: any) => x.resource_name === 'test');
    assert.equal(e.logical_resource_id, 'test');
    assert.equal(e.resource_status, 'CREATE_COMPLETE');
    assert.deepEqual(e.links.map((x: any) => x.rel), ['self', 'resource', 'stack']);
    assert.equal(e.links[0].href, `${PUBLIC_URL}${base}/resources/test/events/${e.id}`);

    const rl = await h.call('demo', 'GET', `${base}/resources/test/events`);
    assert.equal(rl.body.events.length, 1);
    assert.equal((await h.call('demo', 'GET', `${base}/resources/nope/events`)).status, 404);
    const one = await h.call('demo', 'GET', `${base}/resources/test/events/${e.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.event.id, e.id);
    assert.ok('resource_properties' in one.body.event);
    assert.equal((await h.call('demo', 'GET', `${base}/resources/test/events/00000000-0000-0000-0000-000000000000`)).status, 404);
  } finally {
    await h.close();
  }
});
