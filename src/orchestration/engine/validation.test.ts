// What Tempest checks of validation: POST /validate without parameter values, the environment
// with template resources registered, Heat's wording of property errors, previews of groups
// of nested templates, and nested stacks whose outputs cannot be resolved.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, hot, type Harness } from './testing.ts';


describe('validation as Heat words it', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  test('validate: a parameter without a value resolves to nothing, even for a required property', async () => {
    const v: any = await h.engine.validate(h.caller, {
      template: hot({
        test: { type: 'Test::Thing', properties: { value: { get_param: 'test_val' } } },
        probe: { type: 'Test::Probe', properties: { required_one: { get_param: 'test_val' } } },
      }, { parameters: { test_val: { type: 'string' } }, outputs: { o: { value: { get_attr: ['test', 'output'] } } } }),
    }, {});
    assert.deepEqual(v.Parameters.test_val, { Type: 'String', Description: '', NoEcho: 'false', Label: 'test_val' });
    assert.deepEqual(v.Environment.resource_registry, { resources: {} });
    // A parameter the template does not declare is still an error, worded as Heat's property errors.
    await assert.rejects(h.engine.validate(h.caller, {
      template: hot({ test: { type: 'Test::Thing', properties: { value: { get_param: 'nope' } } } }),
    }, {}), (e: any) => e.status === 400 && e.extra.name === 'StackValidationFailed'
      && e.message === 'Property error: : resources.test.properties.value: : The Parameter (nope) was not provided.');
    // Values that are given are still checked.
    await assert.rejects(h.engine.validate(h.caller, {
      template: hot({ test: { type: 'Test::Thing', properties: { delay_ms: { get_param: 'n' } } } }, { parameters: { n: { type: 'string' } } }),
      parameters: { n: 'abc' },
    }, {}), (e: any) => e.status === 400 && /resources\.test\.properties\.delay_ms/.test(e.message));
  });

  const leaf = JSON.stringify(hot({ myres: { type: 'Test::Thing', properties: { value: { get_param: 'aparam' } } } },
    { description: 'the leaf', parameters: { aparam: { type: 'number', default: 10, description: 'the param description' } } }));
  const middle = JSON.stringify(hot({ myres: { type: 'leaf.yaml', properties: { length: { get_param: 'aparam' } } } },
    { description: 'the middle', parameters: { aparam: { type: 'number', default: 10, description: 'the param description' } } }));

  test('validate: template resources are registered in the environment; show_nested recurses with values', async () => {
    const v: any = await h.engine.validate(h.caller, {
      template: hot({ nres: { type: 'middle.yaml', properties: { aparam: { get_param: 'pparam' } } } },
        { parameters: { pparam: { type: 'number', default: 5 } } }),
      files: { 'middle.yaml': middle, 'leaf.yaml': leaf },
    }, { showNested: true });
    assert.deepEqual(v.Environment, {
      parameters: {}, parameter_defaults: {}, event_sinks: [], resource_registry: { 'middle.yaml': 'middle.yaml', resources: {} },
    });
    const param = { Type: 'Number', Description: 'the param description', NoEcho: 'false', Label: 'aparam', Default: 10 };
    assert.deepEqual(v.NestedParameters, {
      nres: {
        Description: 'the middle', Type: 'middle.yaml', Parameters: { aparam: { ...param, Value: 5 } },
        NestedParameters: { myres: { Description: 'the leaf', Type: 'leaf.yaml', Parameters: { aparam: param } } },
      },
    });
    // A mapping the user gave is kept as given.
    const w: any = await h.engine.validate(h.caller, {
      template: hot({ nres: { type: 'leaf.yaml' } }), files: { 'leaf.yaml': leaf },
      environment: { resource_registry: { 'leaf.yaml': 'OS::Heat::None' } },
    }, {});
    assert.deepEqual(w.Environment.resource_registry, { 'leaf.yaml': 'OS::Heat::None', resources: {} });
  });

  test('a stack\'s environment lists its template resources too', async () => {
    const s = await h.engine.create(h.caller, { stack_name: 'envfiles', template: hot({ n: { type: 'leaf.yaml' } }), files: { 'leaf.yaml': leaf } });
    const done = await h.engine.settled(s.id);
    assert.equal(`${done.action}_${done.status}`, 'CREATE_COMPLETE', done.statusReason);
    assert.deepEqual(h.engine.environment(done).resource_registry, { 'leaf.yaml': 'leaf.yaml', resources: {} });
  });

  test('preview and create word an undeclared parameter as a property error', async () => {
    const template = hot({
      one: { type: 'Test::Thing', properties: { value: 'fred' } },
      two: { type: 'Test::Thing', properties: { value: { get_param: 'missing' } }, depends_on: ['one'] },
    }, { parameters: { incoming: { type: 'string' } } });
    const wording = (e: any) => e.status === 400 && e.extra.name === 'StackValidationFailed'
      && e.message === 'Property error: : resources.two.properties.value: : The Parameter (missing) was not provided.';
    await assert.rejects(h.engine.preview(h.caller, { stack_name: 'pfail', template, parameters: { incoming: 'abc' } }), wording);
    await assert.rejects(h.engine.create(h.caller, { stack_name: 'cfail', template, parameters: { incoming: 'abc' } }), wording);
    // Also when the property refers to a resource (not resolvable yet otherwise).
    await assert.rejects(h.engine.create(h.caller, { stack_name: 'cfail', template: hot({
      one: { type: 'Test::Thing' },
      two: { type: 'Test::Thing', properties: { value: { list_join: ['-', [{ get_resource: 'one' }, { get_param: 'missing' }]] } } },
    }) }), wording);
  });

  test('preview of a ResourceGroup shows its members\' nested stacks', async () => {
    const nested = JSON.stringify(hot({ port: { type: 'Test::Thing', properties: { value: { get_param: 'net' } } } },
      { parameters: { net: { type: 'string' } } }));
    const p: any = await h.engine.preview(h.caller, {
      stack_name: 'pgroup', files: { 'nested.yaml': nested },
      template: hot({
        fixed_network: { type: 'Test::Thing' },
        rg: { type: 'OS::Heat::ResourceGroup', properties: { count: 2, resource_def: { type: 'nested.yaml', properties: { net: { get_resource: 'fixed_network' } } } } },
      }),
    });
    assert.equal(p.resources[0].resource_name, 'fixed_network');
    // rg: a list of its members, each member (a template resource) a list of its resources.
    const rg = p.resources[1];
    assert.ok(Array.isArray(rg) && rg.length === 2, JSON.stringify(rg));
    const [port] = rg[0];
    assert.equal(port.resource_name, 'port');
    assert.equal(port.parent_resource, '0');
    assert.equal(port.stack_name, 'pgroup-rg-0');
    assert.equal(port.properties.value, 'fixed_network');
    assert.equal(await h.engine.find(h.caller, 'pgroup'), null, 'nothing stored');
    assert.equal(h.cloud.byName('pgroup-rg-0-port'), null, 'nothing created');
  });

  test('a nested stack whose output cannot be resolved is created; the parent\'s output shows the error', async () => {
    const inner = JSON.stringify({
      heat_template_version: '2015-10-15',
      resources: { a: { type: 'Test::Thing', properties: { value: 'a' } } },
      outputs: { out_a: { value: { get_attr: ['a', 'output'] } }, out_b: { value: { get_param: 'foo' } } },
    });
    const template = {
      heat_template_version: '2015-10-15',
      resources: { parent: { type: '1.yaml' } },
      outputs: {
        out_a: { value: { get_attr: ['parent', 'out_a'] }, description: 'parent a' },
        out_b: { value: { get_attr: ['parent', 'out_b'] }, description: 'parent b' },
      },
    };
    const s = await h.engine.create(h.caller, { stack_name: 'outerr', template, files: { '1.yaml': inner } });
    let done = await h.engine.settled(s.id);
    assert.equal(`${done.action}_${done.status}`, 'CREATE_COMPLETE', done.statusReason);
    await h.engine.update(h.caller, s.id, { stack_name: 'outerr', template, files: { '1.yaml': inner } }, { patch: false });
    done = await h.engine.settled(s.id);
    assert.equal(`${done.action}_${done.status}`, 'UPDATE_COMPLETE', done.statusReason);
    const outs = (await h.engine.outputs(done)).sort((x, y) => x.output_key.localeCompare(y.output_key));
    assert.deepEqual(outs, [
      { output_key: 'out_a', output_value: 'a', description: 'parent a' },
      { output_key: 'out_b', output_value: null, description: 'parent b',
        output_error: 'Error in parent output out_b: The Parameter (foo) was not provided.' },
    ]);
  });
});
