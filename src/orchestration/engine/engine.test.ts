import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, hot, sleep, waitFor, type Harness } from './testing.ts';


describe('heat engine', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  const create = async (name: string, template: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const s = await h.engine.create(h.caller, { stack_name: name, template, ...extra });
    return h.engine.settled(s.id);
  };

  test('creates in dependency order, independent resources in parallel, outputs resolved', async () => {
    h.cloud.maxInFlight = 0;
    const s = await create('deps', hot({
      a: { type: 'Test::Thing', properties: { value: 'va', delay_ms: 100 } },
      c: { type: 'Test::Thing', properties: { value: 'vc', delay_ms: 100 } },
      b: { type: 'Test::Thing', properties: { value: { get_attr: ['a', 'output'] } } },
      d: { type: 'Test::Thing', depends_on: ['b'] },
    }, { outputs: { out_b: { value: { get_attr: ['b', 'output'] }, description: 'b' }, ref: { value: { get_resource: 'a' } } } }));
    assert.equal(`${s.action}_${s.status}`, 'CREATE_COMPLETE', s.statusReason);
    assert.equal(s.statusReason, 'Stack CREATE completed successfully');
    const log = h.cloud.log;
    assert.ok(log.indexOf('create-done a') < log.indexOf('create-start b'));
    assert.ok(log.indexOf('create-done b') < log.indexOf('create-start d'));
    assert.ok(h.cloud.maxInFlight >= 2, 'a and c were created at the same time');
    const outs = await h.engine.outputs(s);
    const a = await h.engine.getResource(s, 'a');
    assert.deepEqual(outs.find((o) => o.output_key === 'out_b'), { output_key: 'out_b', output_value: 'va', description: 'b' });
    assert.equal(outs.find((o) => o.output_key === 'ref')!.output_value, a.physicalId);
    assert.deepEqual(a.requiredBy, ['b']);
    assert.deepEqual((await h.engine.getResource(s, 'd')).requires, ['b']);
    const events = await h.engine.events(s, {});
    assert.equal(events[0].reason, 'Stack CREATE started');
    assert.equal(events.at(-1)!.reason, 'Stack CREATE completed successfully');
    const aEvents = await h.engine.events(s, { resourceName: 'a' });
    assert.deepEqual(aEvents.map((e) => `${e.action}_${e.status}`), ['CREATE_IN_PROGRESS', 'CREATE_COMPLETE']);
    assert.equal((await h.engine.event(s, 'a', aEvents[0].id)).resourceType, 'Test::Thing');
    const filtered = await h.engine.listResources(s, { filters: { name: ['b'] } });
    assert.deepEqual(filtered.map((r) => r.name), ['b']);
  });

  test('a duplicate name is 409 StackExists; an unknown type is 400', async () => {
    await assert.rejects(h.engine.create(h.caller, { stack_name: 'deps', template: hot({}) }),
      (e: any) => e.status === 409 && e.extra.name === 'StackExists' && e.message === 'The Stack (deps) already exists.');
    await assert.rejects(h.engine.create(h.caller, { stack_name: 'bad', template: hot({ x: { type: 'OS::Nope' } }) }),
      (e: any) => e.status === 400 && /The Resource Type \(OS::Nope\) could not be found/.test(e.message));
  });

  test('a failed create rolls back, or stays CREATE_FAILED when rollback is disabled', async () => {
    const before = h.cloud.objects.size;
    const tpl = hot({ ok: { type: 'Test::Thing' }, bad: { type: 'Test::Thing', properties: { fail: true }, depends_on: ['ok'] } });
    const s1 = await create('fail-rb', tpl, { disable_rollback: false });
    assert.equal(`${s1.action}_${s1.status}`, 'ROLLBACK_COMPLETE');
    assert.equal(h.cloud.objects.size, before, 'rollback deleted what was created');
    const s2 = await create('fail-norb', tpl);
    assert.equal(`${s2.action}_${s2.status}`, 'CREATE_FAILED');
    assert.match(s2.statusReason, /^Resource CREATE failed: .*resources\.bad: Test Resource failed bad/);
    const bad = await h.engine.getResource(s2, 'bad');
    assert.equal(`${bad.action}_${bad.status}`, 'CREATE_FAILED');
  });

  test('update: in place when allowed, replacement otherwise, added and removed resources', async () => {
    const s = await create('upd', hot({
      a: { type: 'Test::Thing', properties: { value: 'one', fixed: 'x' } },
      gone: { type: 'Test::Thing' },
    }));
    const a0 = await h.engine.getResource(s, 'a');
    const gone = await h.engine.getResource(s, 'gone');
    await h.engine.update(h.caller, s.id, { stack_name: 'upd', template: hot({
      a: { type: 'Test::Thing', properties: { value: 'two', fixed: 'x' } },
      added: { type: 'Test::Thing', properties: { value: { get_attr: ['a', 'output'] } } },
    }) }, { patch: false });
    let u = await h.engine.settled(s.id);
    assert.equal(`${u.action}_${u.status}`, 'UPDATE_COMPLETE', u.statusReason);
    const a1 = await h.engine.getResource(u, 'a');
    assert.equal(a1.physicalId, a0.physicalId, 'updated in place');
    assert.equal(`${a1.action}_${a1.status}`, 'UPDATE_COMPLETE');
    assert.equal(h.cloud.objects.get(a1.physicalId!)!.value, 'two');
    assert.ok(!h.cloud.objects.has(gone.physicalId!), 'removed resource deleted');
    assert.equal(h.cloud.objects.get((await h.engine.getResource(u, 'added')).physicalId!)!.value, 'two');

    await h.engine.update(h.caller, s.id, { stack_name: 'upd', template: hot({
      a: { type: 'Test::Thing', properties: { value: 'two', fixed: 'y' } },
      added: { type: 'Test::Thing', properties: { value: { get_attr: ['a', 'output'] } } },
    }) }, { patch: false });
    u = await h.engine.settled(s.id);
    assert.equal(`${u.action}_${u.status}`, 'UPDATE_COMPLETE', u.statusReason);
    const a2 = await h.engine.getResource(u, 'a');
    assert.notEqual(a2.physicalId, a1.physicalId, 'replaced');
    assert.ok(!h.cloud.objects.has(a1.physicalId!), 'old one deleted');
    assert.equal((await h.engine.listResources(u, {})).filter((r) => r.name === 'a').length, 1);
    await assert.rejects(h.engine.update(h.caller, 'nope', { stack_name: 'x', template: hot({}) }, { patch: false }), (e: any) => e.status === 404);
  });

  test('a failed update rolls back to the previous template', async () => {
    const s = await create('upd-rb', hot({ a: { type: 'Test::Thing', properties: { value: 'one' } } }));
    const a0 = await h.engine.getResource(s, 'a');
    await h.engine.update(h.caller, s.id, { stack_name: 'upd-rb', disable_rollback: false, template: hot({
      a: { type: 'Test::Thing', properties: { value: 'one', fixed: 'new' } },
      b: { type: 'Test::Thing', properties: { fail: true }, depends_on: ['a'] },
    }) }, { patch: false });
    const u = await h.engine.settled(s.id);
    assert.equal(`${u.action}_${u.status}`, 'ROLLBACK_COMPLETE', u.statusReason);
    const rs = await h.engine.listResources(u, {});
    assert.deepEqual(rs.map((r) => r.name), ['a']);
    assert.equal(rs[0].physicalId, a0.physicalId, 'the original resource is back');
    assert.ok(h.cloud.objects.has(a0.physicalId!));
    assert.deepEqual(u.template, hot({ a: { type: 'Test::Thing', properties: { value: 'one' } } }));
    const names = [...h.cloud.objects.values()].filter((o) => o.name.startsWith('upd-rb-'));
    assert.equal(names.length, 1, 'nothing leaked');
  });

  test('delete in reverse dependency order, Retain kept, stack gone from find', async () => {
    const s = await create('del', hot({
      a: { type: 'Test::Thing' },
      b: { type: 'Test::Thing', properties: { value: { get_resource: 'a' } } },
      keep: { type: 'Test::Thing', deletion_policy: 'Retain' },
    }));
    const keep = await h.engine.getResource(s, 'keep');
    h.cloud.log.length = 0;
    await h.engine.delete(h.caller, s.id);
    const d = await h.engine.settled(s.id);
    assert.equal(`${d.action}_${d.status}`, 'DELETE_COMPLETE');
    assert.ok(h.cloud.log.indexOf('delete b') < h.cloud.log.indexOf('delete a'));
    assert.ok(h.cloud.objects.has(keep.physicalId!), 'retained');
    assert.equal(await h.engine.find(h.caller, 'del'), null);
    assert.equal(await h.engine.find(h.caller, s.id), null);
    assert.ok(await h.engine.find(h.caller, s.id, { showDeleted: true }));
    // the name is free again
    const again = await create('del', hot({}));
    assert.equal(again.status, 'COMPLETE');
  });

  test('pre-create hook pauses until cleared', async () => {
    const s = await h.engine.create(h.caller, { stack_name: 'hooks', template: hot({
      foo_step1: { type: 'Test::Thing' },
      foo_step2: { type: 'Test::Thing', depends_on: ['foo_step1'] },
    }), environment: { resource_registry: { resources: { foo_step2: { hooks: 'pre-create' } } } } });
    await waitFor(async () => (await h.engine.events(s, { resourceName: 'foo_step2' }))
      .find((e) => e.reason === 'CREATE paused until Hook pre-create is cleared'));
    const r = await h.engine.getResource(s, 'foo_step2');
    assert.equal(`${r.action}_${r.status}`, 'INIT_COMPLETE');
    assert.equal((await h.engine.find(h.caller, s.id))!.status, 'IN_PROGRESS');
    await h.engine.signal(s, 'foo_step2', { unset_hook: 'pre-create' });
    const done = await h.engine.settled(s.id);
    assert.equal(`${done.action}_${done.status}`, 'CREATE_COMPLETE');
    const ev = (await h.engine.events(s, { resourceName: 'foo_step2' })).find((e) => e.reason === 'Hook pre-create is cleared')!;
    assert.equal(`${ev.action}_${ev.status}`, 'INIT_COMPLETE');
    await assert.rejects(h.engine.clearHook(done, 'foo_step1', 'pre-create'), (e: any) => e.status === 400);
  });

  test('template resources are nested stacks; hooks reach nested resources by path', async () => {
    const nested = JSON.stringify(hot({
      inner: { type: 'Test::Thing', properties: { value: { get_param: 'value' } } },
    }, { parameters: { value: { type: 'string' } }, outputs: { out: { value: { get_attr: ['inner', 'output'] } } } }));
    const s = await h.engine.create(h.caller, {
      stack_name: 'nest',
      template: hot({ child: { type: 'child.yaml', properties: { value: 'hello' } } },
        { outputs: { o: { value: { get_attr: ['child', 'out'] } }, id: { value: { get_resource: 'child' } } } }),
      files: { 'child.yaml': nested },
      environment: { resource_registry: { resources: { child: { inner: { hooks: 'pre-create' } } } } },
    });
    const child = await waitFor(async () => (await h.engine.getResource(s, 'child')).nestedStackId);
    const ns = (await h.engine.find(h.caller, child))!;
    assert.equal(ns.parentId, s.id);
    await waitFor(async () => (await h.engine.events(ns, { resourceName: 'inner' })).find((e) => e.reason.startsWith('CREATE paused')));
    await h.engine.signal(ns, 'inner', { unset_hook: 'pre-create' });
    const done = await h.engine.settled(s.id);
    assert.equal(`${done.action}_${done.status}`, 'CREATE_COMPLETE', done.statusReason);
    const outs = await h.engine.outputs(done);
    assert.equal(outs.find((o) => o.output_key === 'o')!.output_value, 'hello');
    assert.equal(outs.find((o) => o.output_key === 'id')!.output_value, child);
    const all = await h.engine.listResources(done, { nestedDepth: 1 });
    assert.deepEqual(all.map((r) => `${r.stackName === done.name ? '' : 'nested:'}${r.name}`), ['child', 'nested:inner']);
    assert.equal((all[1] as any).parentResource, 'child');
    const inner = all[1];
    // nested stacks are not listed by default
    assert.ok(!(await h.engine.list(h.caller, {})).some((x) => x.id === child));
    await h.engine.delete(h.caller, s.id);
    await h.engine.settled(s.id);
    assert.ok(!h.cloud.objects.has(inner.physicalId!));
    assert.equal(await h.engine.find(h.caller, child), null);
  });

  test('delete while a create is in progress cancels the create', async () => {
    h.cloud.gates.set('slowpoke', false);
    const s = await h.engine.create(h.caller, { stack_name: 'cancelme', template: hot({ slowpoke: { type: 'Test::Thing' } }) });
    await waitFor(async () => (await h.engine.getResource(s, 'slowpoke')).physicalId);
    await h.engine.delete(h.caller, s.id);
    const d = await h.engine.settled(s.id);
    assert.equal(`${d.action}_${d.status}`, 'DELETE_COMPLETE');
    assert.ok(![...h.cloud.objects.values()].some((o) => o.name.startsWith('cancelme-')));
    h.cloud.gates.delete('slowpoke');
  });

  test('an engine killed in the middle of a create resumes and converges without leaks', async () => {
    h.cloud.gates.set('k1', false);
    h.cloud.hangAfterBackendCreate = 'k2';
    const s = await h.engine.create(h.caller, { stack_name: 'killed', template: hot({
      k1: { type: 'Test::Thing' }, k2: { type: 'Test::Thing' }, k3: { type: 'Test::Thing', depends_on: ['k1', 'k2'] },
    }) });
    await waitFor(async () => (await h.engine.getResource(s, 'k1')).physicalId);
    await waitFor(async () => h.cloud.byName((await h.db.get('SELECT physical_name FROM heat_resources WHERE name = ?', ['k2']))!.physical_name));
    await h.restart();
    h.cloud.hangAfterBackendCreate = null;
    h.cloud.gates.delete('k1');
    const done = await h.engine.settled(s.id);
    assert.equal(`${done.action}_${done.status}`, 'CREATE_COMPLETE', done.statusReason);
    const rs = await h.engine.listResources(done, {});
    const mine = [...h.cloud.objects.values()].filter((o) => o.name.startsWith('killed-'));
    assert.equal(mine.length, 3, 'one backend object per resource');
    assert.deepEqual(new Set(mine.map((o) => o.id)), new Set(rs.map((r) => r.physicalId)));
  });

  test('an engine killed in the middle of an update resumes', async () => {
    const s = await create('killupd', hot({ a: { type: 'Test::Thing', properties: { value: '1' } } }));
    h.cloud.gates.set('b', false);
    await h.engine.update(h.caller, s.id, { stack_name: 'killupd', template: hot({
      a: { type: 'Test::Thing', properties: { value: '1', fixed: 'changed' } },
      b: { type: 'Test::Thing', depends_on: ['a'] },
    }) }, { patch: false });
    await waitFor(async () => (await h.engine.getResource(s, 'b')).physicalId);
    await h.restart();
    h.cloud.gates.delete('b');
    const done = await h.engine.settled(s.id);
    assert.equal(`${done.action}_${done.status}`, 'UPDATE_COMPLETE', done.statusReason);
    const mine = [...h.cloud.objects.values()].filter((o) => o.name.startsWith('killupd-'));
    assert.equal(mine.length, 2);
    const rs = await h.engine.listResources(done, {});
    assert.deepEqual(new Set(mine.map((o) => o.id)), new Set(rs.map((r) => r.physicalId)));
  });

  test('pre-update hook on an unchanged and on a replaced resource', async () => {
    const env = { resource_registry: { resources: { b: { hooks: ['pre-update'] } } } };
    const tpl = (fixed: string) => hot({ a: { type: 'Test::Thing' }, b: { type: 'Test::Thing', properties: { fixed }, depends_on: ['a'] } });
    const s = await create('prehook', tpl('1'), { environment: env });
    const b0 = await h.engine.getResource(s, 'b');
    for (const fixed of ['1', '2']) {
      await h.engine.update(h.caller, s.id, { stack_name: 'prehook', template: tpl(fixed), environment: env }, { patch: false });
      const paused = () => h.engine.events(s, { resourceName: 'b' }).then((es) => es.filter((e) => e.reason === 'UPDATE paused until Hook pre-update is cleared'));
      const n = fixed === '1' ? 1 : 2;
      const evs = await waitFor(async () => { const e = await paused(); return e.length === n && e; });
      assert.equal(`${evs.at(-1)!.action}_${evs.at(-1)!.status}`, 'CREATE_COMPLETE');
      await h.engine.signal(s, 'b', { unset_hook: 'pre-update' });
      const u = await h.engine.settled(s.id);
      assert.equal(`${u.action}_${u.status}`, 'UPDATE_COMPLETE', u.statusReason);
      const b1 = await h.engine.getResource(u, 'b');
      if (fixed === '1') assert.equal(b1.physicalId, b0.physicalId);
      else assert.notEqual(b1.physicalId, b0.physicalId);
    }
  });

  test('timeout fails the create', async () => {
    h.cloud.gates.set('forever', false);
    const s = await h.engine.create(h.caller, { stack_name: 'slow', timeout_mins: 0.002, template: hot({ forever: { type: 'Test::Thing' } }) });
    const d = await h.engine.settled(s.id);
    assert.equal(`${d.action}_${d.status}`, 'CREATE_FAILED');
    assert.equal(d.statusReason, 'Timed out');
    h.cloud.gates.delete('forever');
  });

  test('abandon keeps the resources; adopt takes them over without creating', async () => {
    const s = await create('aband', hot({ a: { type: 'Test::Thing', properties: { value: 'v' } } }));
    const a = await h.engine.getResource(s, 'a');
    const data = await h.engine.abandon(h.caller, s.id);
    assert.equal(await h.engine.find(h.caller, s.id), null);
    assert.ok(h.cloud.objects.has(a.physicalId!));
    assert.equal((data.resources as any).a.resource_id, a.physicalId);
    const before = h.cloud.objects.size;
    const ad = await h.engine.adopt(h.caller, { stack_name: 'adopted', template: data.template as any }, data);
    const done = await h.engine.settled(ad.id);
    assert.equal(`${done.action}_${done.status}`, 'ADOPT_COMPLETE', done.statusReason);
    const ra = await h.engine.getResource(done, 'a');
    assert.equal(`${ra.action}_${ra.status}`, 'ADOPT_COMPLETE');
    assert.equal(ra.physicalId, a.physicalId);
    assert.equal(h.cloud.objects.size, before, 'nothing created');
  });

  test('preview shows the stack as it would be created, nested stacks as lists', async () => {
    const nested = JSON.stringify(hot({ inner: { type: 'Test::Thing', properties: { value: { get_param: 'value' } } } },
      { parameters: { value: { type: 'string' } } }));
    const p: any = await h.engine.preview(h.caller, {
      stack_name: 'prev', disable_rollback: true, files: { 'n.yaml': nested },
      template: hot({
        one: { type: 'Test::Thing', properties: { value: 'fred' } },
        two: { type: 'Test::Thing', properties: { value: { get_param: 'incoming' } }, depends_on: ['one'] },
        main: { type: 'n.yaml', properties: { value: 'deep' } },
      }, { parameters: { incoming: { type: 'string' } } }),
      environment: { parameters: { incoming: 'abc' } },
    });
    assert.equal(p.id, 'None');
    assert.equal(p.parameters['OS::stack_name'], 'prev');
    assert.equal(p.parameters.incoming, 'abc');
    const one = p.resources.find((r: any) => r.resource_name === 'one');
    const two = p.resources.find((r: any) => r.resource_name === 'two');
    assert.deepEqual(one.required_by, ['two']);
    assert.equal(two.properties.value, 'abc');
    assert.equal(one.properties.fail, false, 'defaults applied');
    assert.equal(`${one.resource_action}_${one.resource_status}`, 'INIT_COMPLETE');
    const [inner] = p.resources.find((r: any) => Array.isArray(r));
    assert.equal(inner.stack_name, 'prev-main');
    assert.equal(inner.parent_resource, 'main');
    assert.equal(inner.properties.value, 'deep');
    assert.equal(await h.engine.find(h.caller, 'prev'), null, 'nothing stored');
  });

  test('PATCH keeps the template and parameters; tags, list filters, hidden stacks', async () => {
    const tpl = hot({ a: { type: 'Test::Thing', properties: { value: { get_param: 'v' } } } },
      { parameters: { v: { type: 'string', default: 'd' } } });
    const s = await create('patchme', tpl, { parameters: { v: 'first' }, tags: ['foo', 'bar'] });
    assert.deepEqual(s.tags, ['foo', 'bar']);
    await h.engine.update(h.caller, s.id, { stack_name: 'patchme', template: {} as any, tags: ['t2'] }, { patch: true });
    const u = await h.engine.settled(s.id);
    assert.equal(`${u.action}_${u.status}`, 'UPDATE_COMPLETE', u.statusReason);
    assert.equal(u.parameters.v, 'first');
    assert.deepEqual(u.tags, ['t2']);
    await create('hidden-one', hot({}), { tags: ['data-processing-cluster'] });
    const listed = await h.engine.list(h.caller, {});
    assert.ok(!listed.some((x) => x.name === 'hidden-one'));
    assert.ok((await h.engine.list(h.caller, { showHidden: true })).some((x) => x.name === 'hidden-one'));
    const byStatus = await h.engine.list(h.caller, { filters: { status: ['UPDATE_COMPLETE'] } });
    assert.ok(byStatus.some((x) => x.name === 'patchme'));
    assert.ok(byStatus.every((x) => x.action === 'UPDATE'));
    const other = { ...h.caller, projectId: 'p2' };
    assert.equal(await h.engine.find(other, s.id), null);
    assert.equal(await h.engine.count(other, {}), 0);
    assert.ok(await h.engine.count(h.caller, {}) >= 2);
    const page = await h.engine.list(h.caller, { limit: 1, sortKeys: ['name'], sortDir: 'asc' });
    assert.equal(page.length, 1);
  });

  test('markUnhealthy, signal, update of a stack in progress', async () => {
    const s = await create('misc', hot({ a: { type: 'Test::Thing' }, f: { type: 'Test::Fixed' } }));
    await h.engine.markUnhealthy(h.caller, s, 'a', true, 'broken');
    let a = await h.engine.getResource(s, 'a');
    assert.equal(`${a.action}_${a.status}`, 'CHECK_FAILED');
    assert.equal(a.statusReason, 'broken');
    await h.engine.markUnhealthy(h.caller, s, 'a', false, '');
    a = await h.engine.getResource(s, 'a');
    assert.equal(`${a.action}_${a.status}`, 'CHECK_COMPLETE');
    await h.engine.signal(s, 'a', { x: 1 });
    assert.ok(h.cloud.log.includes('signal a {"x":1}'));
    h.cloud.gates.set('slow', false);
    await h.engine.update(h.caller, s.id, { stack_name: 'misc', template: hot({ a: { type: 'Test::Thing' }, slow: { type: 'Test::Thing' } }) }, { patch: false });
    await assert.rejects(h.engine.update(h.caller, s.id, { stack_name: 'misc', template: hot({}) }, { patch: false }),
      (e: any) => e.status === 409 && e.extra.name === 'ActionInProgress');
    await h.engine.cancelUpdate(h.caller, s.id, { rollback: true });
    const c = await h.engine.settled(s.id);
    assert.equal(`${c.action}_${c.status}`, 'ROLLBACK_COMPLETE', c.statusReason);
    h.cloud.gates.delete('slow');
    assert.deepEqual((await h.engine.listResources(c, {})).map((r) => r.name).sort(), ['a', 'f']);
  });
});
