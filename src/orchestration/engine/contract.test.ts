// The contract points of types.ts the OS::Heat::* plugins rely on (acceptsAnyProperties,
// resolveAttributePath, StackContext.timeoutMins, nested stacks inheriting files and environment),
// and the engine's other entry points: check / suspend / resume, validate, previewUpdate.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, hot, waitFor, type Harness } from './testing.ts';


describe('heat engine: plugin contract', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  const create = async (name: string, template: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const s = await h.engine.create(h.caller, { stack_name: name, template, ...extra });
    return h.engine.settled(s.id);
  };
  const outputsOf = async (s: any) => Object.fromEntries((await h.engine.outputs(s)).map((o) => [o.output_key, o.output_error ?? o.output_value]));

  test('acceptsAnyProperties skips the schema; other plugins keep it', async () => {
    const given = { whatever: 1, deep: { list: [1, 'two'] } };
    const s = await create('anyprops', hot({
      any: { type: 'Test::Anything', properties: given },
      none: { type: 'OS::Heat::None', properties: { flavor: 'm1.tiny', networks: [{ network: 'x' }] } },
    }, { outputs: { from_none: { value: { get_attr: ['none', 'first_address'] } } } }));
    assert.equal(`${s.action}_${s.status}`, 'CREATE_COMPLETE', s.statusReason);
    assert.deepEqual(h.cloud.seen.get('any')!.properties, given);
    assert.deepEqual(await outputsOf(s), { from_none: null });
    const none0 = await h.engine.getResource(s, 'none');
    await h.engine.update(h.caller, s.id, { stack_name: 'anyprops', template: hot({
      any: { type: 'Test::Anything', properties: given },
      none: { type: 'OS::Heat::None', properties: { flavor: 'm1.large' } },
    }) }, { patch: false });
    const u = await h.engine.settled(s.id);
    assert.equal(`${u.action}_${u.status}`, 'UPDATE_COMPLETE', u.statusReason);
    assert.equal((await h.engine.getResource(u, 'none')).physicalId, none0.physicalId, 'changed in place, not replaced');
    // The same schema without the flag: the unknown property and the missing required one are errors.
    await assert.rejects(h.engine.create(h.caller, { stack_name: 'strict', template: hot({ p: { type: 'Test::Probe', properties: given } }) }),
      (e: any) => e.status === 400 && /Unknown Property whatever/.test(e.message));
  });

  test('resolveAttributePath gets any name and the whole path; others get the path applied by the engine', async () => {
    const child = JSON.stringify(hot({}, { outputs: { map: { value: { a: [10, 20] } } } }));
    const s = await create('paths', hot({
      p: { type: 'Test::Probe', properties: { required_one: 'x' } },
      t: { type: 'Test::Thing', properties: { value: 'plain' } },
      c: { type: 'child.yaml' },
    }, {
      outputs: {
        members: { value: { get_attr: ['p', 'attributes', 'x', 0] } },
        dotted: { value: { get_attr: ['p', 'resource.1.foo'] } },
        known: { value: { get_attr: ['p', 'known', 'k'] } },
        no_path: { value: { get_attr: ['p', 'refs'] } },
        nested_path: { value: { get_attr: ['c', 'map', 'a', 1] } },
        nested_miss: { value: { get_attr: ['c', 'map', 'b'] } },
        unknown: { value: { get_attr: ['t', 'nope'] } },
      },
    }), { files: { 'child.yaml': child } });
    assert.equal(`${s.action}_${s.status}`, 'CREATE_COMPLETE', s.statusReason);
    const o = await outputsOf(s);
    assert.deepEqual(o.members, { name: 'attributes', path: ['x', 0] }, 'path passed whole and not applied again');
    assert.deepEqual(o.dotted, { name: 'resource.1.foo', path: [] });
    assert.deepEqual(o.known, { name: 'known', path: ['k'] });
    assert.deepEqual(o.no_path, { name: 'refs', path: [] });
    assert.equal(o.nested_path, 20);
    assert.equal(o.nested_miss, null);
    assert.match(String(o.unknown), /The Referenced Attribute \(t nope\) is incorrect/);
    // Properties may use them too.
    const u = await create('paths-props', hot({
      p: { type: 'Test::Probe', properties: { required_one: 'x' } },
      q: { type: 'Test::Thing', properties: { value: { get_attr: ['p', 'attributes', 'name'] } } },
    }));
    assert.equal(`${u.action}_${u.status}`, 'CREATE_FAILED', 'a map is not a string');
    assert.match(u.statusReason, /resources\.q/);
  });

  test('StackContext.timeoutMins: the stack\'s timeout; nested stacks inherit what is left of it', async () => {
    const child = JSON.stringify(hot({ inner: { type: 'Test::Probe', properties: { required_one: 'x' } } }));
    const s = await create('timed', hot({
      top: { type: 'Test::Probe', properties: { required_one: 'x' } },
      nest: { type: 'child.yaml' },
    }), { timeout_mins: 5, files: { 'child.yaml': child } });
    assert.equal(`${s.action}_${s.status}`, 'CREATE_COMPLETE', s.statusReason);
    assert.equal(h.cloud.seen.get('top')!.timeoutMins, 5);
    const inner = h.cloud.seen.get('inner')!;
    assert.equal(inner.timeoutMins, 5, 'the parent\'s remaining time, in whole minutes');
    const nestedId = (await h.engine.getResource(s, 'nest')).nestedStackId!;
    assert.equal(inner.parentId, s.id);
    assert.equal((await h.engine.find(h.caller, nestedId))!.timeoutMins, 5);

    h.cloud.seen.clear();
    const u = await create('untimed', hot({ nest: { type: 'child.yaml' } }), { files: { 'child.yaml': child } });
    assert.equal(`${u.action}_${u.status}`, 'CREATE_COMPLETE');
    assert.equal(h.cloud.seen.get('inner')!.timeoutMins, null);
  });

  test('a nested stack operation times out with its parent', async () => {
    h.cloud.gates.set('stuck', false);
    const child = JSON.stringify(hot({ stuck: { type: 'Test::Probe', properties: { required_one: 'x' } } }));
    const s = await h.engine.create(h.caller, { stack_name: 'nested-timeout', timeout_mins: 0.004,
      template: hot({ nest: { type: 'child.yaml' } }), files: { 'child.yaml': child } });
    const done = await h.engine.settled(s.id);
    assert.equal(`${done.action}_${done.status}`, 'CREATE_FAILED');
    const nestedId = (await h.engine.getResource(done, 'nest')).nestedStackId!;
    const nested = await h.engine.settled(nestedId, 5000);
    assert.equal(`${nested.action}_${nested.status}`, 'CREATE_FAILED', 'not left IN_PROGRESS');
    assert.equal(nested.statusReason, 'Timed out');
    h.cloud.gates.delete('stuck');
  });

  test('ResourceGroup of template resources: members inherit files, resource_registry and parameter_defaults', async () => {
    const web = JSON.stringify(hot({
      inner: { type: 'Test::Thing', properties: { value: { list_join: [' ', [{ get_param: 'name' }, { get_param: 'greeting' }]] } } },
    }, {
      parameters: { name: { type: 'string' }, greeting: { type: 'string' } },
      outputs: { out: { value: { get_attr: ['inner', 'output'] } }, info: { value: { who: { get_param: 'name' } } } },
    }));
    const tpl = (count: number) => hot({
      g: {
        type: 'OS::Heat::ResourceGroup',
        properties: { count, resource_def: { type: 'My::Web', properties: { name: 'web-%index%' } } },
        update_policy: { rolling_update: { max_batch_size: 1, pause_time: 0 }, batch_create: { max_batch_size: 1 } },
      },
      byfile: {
        type: 'OS::Heat::ResourceGroup',
        properties: { count: 1, resource_def: { type: 'web_server.yaml', properties: { name: 'file' } } },
      },
    }, {
      outputs: {
        list: { value: { get_attr: ['g', 'out'] } },
        map: { value: { get_attr: ['g', 'attributes', 'out'] } },
        member: { value: { get_attr: ['g', 'resource.1.out'] } },
        member_path: { value: { get_attr: ['g', 'resource.1', 'info', 'who'] } },
        deep: { value: { get_attr: ['g', 'info', 'who'] } },
        refs: { value: { get_attr: ['g', 'refs'] } },
        byfile: { value: { get_attr: ['byfile', 'out'] } },
      },
    });
    const env = { resource_registry: { 'My::Web': 'web_server.yaml' }, parameter_defaults: { greeting: 'hi' } };
    const files = { 'web_server.yaml': web };
    const s = await create('group', tpl(2), { environment: env, files });
    assert.equal(`${s.action}_${s.status}`, 'CREATE_COMPLETE', s.statusReason);
    let o = await outputsOf(s);
    assert.deepEqual(o.list, ['web-0 hi', 'web-1 hi']);
    assert.deepEqual(o.map, { 0: 'web-0 hi', 1: 'web-1 hi' });
    assert.equal(o.member, 'web-1 hi');
    assert.equal(o.member_path, 'web-1');
    assert.deepEqual(o.deep, ['web-0', 'web-1'], 'the path selects inside each member');
    assert.equal((o.refs as string[]).length, 2);
    assert.deepEqual(o.byfile, ['file hi']);
    const all = await h.engine.listResources(s, { nestedDepth: 2 });
    assert.equal(all.filter((r) => r.name === 'inner').length, 3);

    await h.engine.update(h.caller, s.id, { stack_name: 'group', template: tpl(3), environment: env, files }, { patch: false });
    const u = await h.engine.settled(s.id);
    assert.equal(`${u.action}_${u.status}`, 'UPDATE_COMPLETE', u.statusReason);
    o = await outputsOf(u);
    assert.deepEqual(o.list, ['web-0 hi', 'web-1 hi', 'web-2 hi']);

    await h.engine.delete(h.caller, s.id);
    const d = await h.engine.settled(s.id);
    assert.equal(`${d.action}_${d.status}`, 'DELETE_COMPLETE', d.statusReason);
    assert.ok(![...h.cloud.objects.values()].some((x) => x.name.startsWith('group-')), 'every member deleted');
    const left = await h.db.all("SELECT id FROM heat_stacks WHERE name LIKE 'group-%' AND deleted_at IS NULL");
    assert.deepEqual(left, [], 'no nested stack left');
  });

  test('a nested stack operation started outside its parent\'s operation runs on its own', async () => {
    // A scaling policy's signal updates a group's nested stack while the stack itself is idle.
    const s = await create('asg', hot({
      asg: { type: 'OS::Heat::AutoScalingGroup', properties: { min_size: 1, max_size: 3, resource: { type: 'Test::Thing' } } },
      up: { type: 'OS::Heat::ScalingPolicy', properties: { auto_scaling_group_id: { get_resource: 'asg' }, adjustment_type: 'change_in_capacity', scaling_adjustment: 1 } },
    }, { outputs: { size: { value: { get_attr: ['asg', 'current_size'] } }, names: { value: { get_attr: ['asg', 'outputs_list', 'name'] } } } }));
    assert.equal(`${s.action}_${s.status}`, 'CREATE_COMPLETE', s.statusReason);
    await h.engine.signal(s, 'up', {});
    const nestedId = (await h.engine.getResource(s, 'asg')).physicalId!;
    const n = await waitFor(async () => { const r = await h.engine.find(h.caller, nestedId); return r && r.status !== 'IN_PROGRESS' && r; });
    assert.equal(`${n.action}_${n.status}`, 'UPDATE_COMPLETE', n.statusReason);
    const o = await outputsOf(s);
    assert.equal(o.size, 2);
    assert.equal((o.names as string[]).length, 2);
    assert.ok((o.names as string[]).every((x) => typeof x === 'string' && x.startsWith('asg-asg-')));
  });

  test('check, suspend and resume run each resource\'s handler in dependency order', async () => {
    const s = await create('actions', hot({
      a: { type: 'Test::Thing' },
      b: { type: 'Test::Thing', depends_on: ['a'] },
      c: { type: 'Test::Thing', depends_on: ['b'] },
    }));
    h.cloud.log.length = 0;
    await h.engine.action(h.caller, s.id, 'suspend');
    let r = await h.engine.settled(s.id);
    assert.equal(`${r.action}_${r.status}`, 'SUSPEND_COMPLETE', r.statusReason);
    assert.deepEqual(h.cloud.log, ['suspend c', 'suspend b', 'suspend a']);
    for (const x of await h.engine.listResources(r, {})) assert.equal(`${x.action}_${x.status}`, 'SUSPEND_COMPLETE');
    await assert.rejects(h.engine.signal(r, 'a', {}), (e: any) => e.status === 400);

    h.cloud.log.length = 0;
    await h.engine.action(h.caller, s.id, 'resume');
    r = await h.engine.settled(s.id);
    assert.equal(`${r.action}_${r.status}`, 'RESUME_COMPLETE', r.statusReason);
    assert.deepEqual(h.cloud.log, ['resume a', 'resume b', 'resume c']);

    // b's backing object vanished behind Heat's back: check fails it and still checks the others.
    h.cloud.objects.delete((await h.engine.getResource(r, 'b')).physicalId!);
    h.cloud.log.length = 0;
    await h.engine.action(h.caller, s.id, 'check');
    r = await h.engine.settled(s.id);
    assert.equal(`${r.action}_${r.status}`, 'CHECK_FAILED');
    assert.match(r.statusReason, /resources\.b: b is gone/);
    assert.deepEqual(h.cloud.log, ['check a', 'check b', 'check c']);
    const states = Object.fromEntries((await h.engine.listResources(r, {})).map((x) => [x.name, `${x.action}_${x.status}`]));
    assert.deepEqual(states, { a: 'CHECK_COMPLETE', b: 'CHECK_FAILED', c: 'CHECK_COMPLETE' });

    // An update replaces the unhealthy resource.
    await h.engine.update(h.caller, s.id, { stack_name: 'actions', template: r.template }, { patch: false });
    r = await h.engine.settled(s.id);
    assert.equal(`${r.action}_${r.status}`, 'UPDATE_COMPLETE', r.statusReason);
    const b = await h.engine.getResource(r, 'b');
    assert.ok(h.cloud.objects.has(b.physicalId!));
  });

  test('validate answers Heat\'s shape; bad templates are 400s', async () => {
    const nested = JSON.stringify(hot({}, { description: 'inner one', parameters: { size: { type: 'number', default: 1 } } }));
    const v: any = await h.engine.validate(h.caller, {
      template: hot({ n: { type: 'n.yaml' }, t: { type: 'Test::Thing', properties: { value: { get_param: 'v' } } } }, {
        description: 'outer', parameters: { v: { type: 'string', default: 'x', description: 'a value' } },
        parameter_groups: [{ label: 'g', parameters: ['v'] }],
      }),
      files: { 'n.yaml': nested },
    }, { showNested: true });
    assert.equal(v.Description, 'outer');
    assert.equal(v.Parameters.v.Type, 'String');
    assert.equal(v.Parameters.v.Default, 'x');
    assert.deepEqual(v.ParameterGroups, [{ label: 'g', parameters: ['v'] }]);
    assert.equal(v.NestedParameters.n.Description, 'inner one');
    assert.equal(v.NestedParameters.n.Type, 'n.yaml');
    assert.ok(v.NestedParameters.n.Parameters.size);
    assert.ok(v.Environment && typeof v.Environment === 'object');
    await assert.rejects(h.engine.validate(h.caller, { template: hot({ t: { type: 'Test::Thing', properties: { nope: 1 } } }) }, {}),
      (e: any) => e.status === 400 && /Unknown Property nope/.test(e.message));
    await assert.rejects(h.engine.validate(h.caller, { template: hot({ t: { type: 'Test::Thing', depends_on: ['ghost'] } }) }, {}),
      (e: any) => e.status === 400 && e.extra.name === 'InvalidTemplateReference');
    await assert.rejects(h.engine.validate(h.caller, { template: hot({ t: { type: 'x.yaml' } }) }, {}), (e: any) => e.status === 400);
    assert.equal(await h.engine.find(h.caller, 'validate'), null, 'nothing stored');
  });

  test('previewUpdate sorts resources into added, deleted, replaced, updated and unchanged', async () => {
    const s = await create('pvu', hot({
      same: { type: 'Test::Thing', properties: { value: 'v' } },
      inplace: { type: 'Test::Thing', properties: { value: 'one' } },
      replace: { type: 'Test::Thing', properties: { fixed: 'one' } },
      gone: { type: 'Test::Thing' },
    }));
    const before = await h.engine.listResources(s, {});
    const p: any = await h.engine.previewUpdate(h.caller, s.id, { stack_name: 'pvu', template: hot({
      same: { type: 'Test::Thing', properties: { value: 'v' } },
      inplace: { type: 'Test::Thing', properties: { value: 'two' } },
      replace: { type: 'Test::Thing', properties: { fixed: 'two' } },
      fresh: { type: 'Test::Thing' },
    }) }, { patch: false });
    const names = (k: string) => p[k].map((r: any) => r.resource_name).sort();
    assert.deepEqual(names('unchanged'), ['same']);
    assert.deepEqual(names('updated'), ['inplace']);
    assert.deepEqual(names('replaced'), ['replace']);
    assert.deepEqual(names('added'), ['fresh']);
    assert.deepEqual(names('deleted'), ['gone']);
    assert.equal(p.updated[0].properties.value, 'two');
    // Nothing changed.
    const after = await h.engine.listResources((await h.engine.find(h.caller, s.id))!, {});
    assert.deepEqual(after.map((r) => `${r.name}:${r.physicalId}:${r.action}`), before.map((r) => `${r.name}:${r.physicalId}:${r.action}`));
    // PATCH with only a parameter change.
    const q = await create('pvu-patch', hot({ a: { type: 'Test::Thing', properties: { value: { get_param: 'v' } } } },
      { parameters: { v: { type: 'string', default: 'd' } } }));
    const pp: any = await h.engine.previewUpdate(h.caller, q.id, { stack_name: 'pvu-patch', template: {} as any, parameters: { v: 'new' } }, { patch: true });
    assert.deepEqual(pp.updated.map((r: any) => r.resource_name), ['a']);
    await assert.rejects(h.engine.previewUpdate(h.caller, q.id, { stack_name: 'pvu-patch', template: hot({ a: { type: 'Nope::Type' } }) }, { patch: false }),
      (e: any) => e.status === 400);
  });
});
