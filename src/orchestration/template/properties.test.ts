import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateProperties, propertiesView, generateTemplate, parseTemplate } from './index.ts';
import type { PropertySchema } from '../types.ts';
import { rejectsAsync } from './testing.ts';

const W = 'resources.test.properties';
const schema: Record<string, PropertySchema> = {
  name: { type: 'string', description: 'A name' },
  count: { type: 'integer', default: 1, constraints: [{ range: { min: 0, max: 5 } }] },
  ratio: { type: 'number' },
  enabled: { type: 'boolean', default: false },
  value: { type: 'string', required: true },
  tags: { type: 'list', schema: { '*': { type: 'string', constraints: [{ length: { max: 3 } }] } } },
  networks: {
    type: 'list',
    schema: { '*': { type: 'map', schema: { network: { type: 'string', required: true }, port: { type: 'integer' } } } },
  },
  extra: { type: 'map' },
  anything: { type: 'any' },
  hidden: { type: 'string', support_status: { status: 'HIDDEN' } },
};

test('coercion the way Heat does it; defaults; absent optional properties are null', async () => {
  const v = await validateProperties(schema, { value: 5, count: '3', ratio: '2.5', enabled: 'TRUE', tags: ['a'], anything: [1, { x: 2 }] }, W);
  assert.deepEqual(v, {
    name: null, count: 3, ratio: 2.5, enabled: true, value: '5', tags: ['a'], networks: null, extra: null, anything: [1, { x: 2 }], hidden: null,
  });
  assert.equal((await validateProperties(schema, { value: true }, W)).value, 'True');
  // an unresolved value (null, e.g. get_attr of a resource not created yet) gets the default or the type's zero
  const z = await validateProperties(schema, { value: null, count: null, name: null }, W);
  assert.equal(z.value, '');
  assert.equal(z.count, 1);
});

test('errors are prefixed with the property path', async () => {
  await rejectsAsync(() => validateProperties(schema, { value: 'v', bogus: 1 }, W), 400, 'StackValidationFailed',
    'Property error: resources.test.properties: Unknown Property bogus');
  await rejectsAsync(() => validateProperties(schema, {}, W), 400, 'StackValidationFailed',
    'Property error: resources.test.properties: Property value not assigned');
  await rejectsAsync(() => validateProperties(schema, { value: 'v', count: 'x' }, W), 400, 'StackValidationFailed',
    "Property error: resources.test.properties.count: Value 'x' is not an integer");
  await rejectsAsync(() => validateProperties(schema, { value: 'v', count: 9 }, W), 400, 'StackValidationFailed',
    'Property error: resources.test.properties.count: 9 is out of range (min: 0, max: 5)');
  await rejectsAsync(() => validateProperties(schema, { value: { a: 1 } }, W), 400, 'StackValidationFailed',
    "Property error: resources.test.properties.value: Value must be a string; got {'a': 1}");
  await rejectsAsync(() => validateProperties(schema, { value: 'v', enabled: 'yes' }, W), 400, 'StackValidationFailed',
    'resources.test.properties.enabled: "yes" is not a valid boolean');
  await rejectsAsync(() => validateProperties(schema, { value: 'v', ratio: 'abc' }, W), 400, 'StackValidationFailed',
    "resources.test.properties.ratio: could not convert string to float: 'abc'");
  await rejectsAsync(() => validateProperties(schema, { value: 'v', tags: 'a,b' }, W), 400, 'StackValidationFailed',
    `resources.test.properties.tags: "'a,b'" is not a list`);
  await rejectsAsync(() => validateProperties(schema, { value: 'v', extra: [1] }, W), 400, 'StackValidationFailed',
    'resources.test.properties.extra: "[1]" is not a map');
  await rejectsAsync(() => validateProperties(schema, { value: 'v', tags: ['ok', 'toolong'] }, W), 400, 'StackValidationFailed',
    'Property error: resources.test.properties.tags[1]: length (7) is out of range (min: None, max: 3)');
});

test('nested list of maps', async () => {
  const v = await validateProperties(schema, { value: 'v', networks: [{ network: 'n1', port: '80' }] }, W);
  assert.deepEqual(v.networks, [{ network: 'n1', port: 80 }]);
  await rejectsAsync(() => validateProperties(schema, { value: 'v', networks: [{ network: 'n1' }, { port: 1 }] }, W), 400, 'StackValidationFailed',
    'Property error: resources.test.properties.networks[1]: Property network not assigned');
  await rejectsAsync(() => validateProperties(schema, { value: 'v', networks: [{ network: 'n', fixed_ip: 'x' }] }, W), 400, 'StackValidationFailed',
    'Property error: resources.test.properties.networks[0]: Unknown Property fixed_ip');
  await rejectsAsync(() => validateProperties(schema, { value: 'v', networks: [{ network: 'n', port: 'x' }] }, W), 400, 'StackValidationFailed',
    "resources.test.properties.networks[0].port: Value 'x' is not an integer");
});

test('allowed_values, allowed_pattern, custom constraints', async () => {
  const s: Record<string, PropertySchema> = {
    size: { type: 'string', constraints: [{ allowed_values: ['s', 'm'] }] },
    num: { type: 'integer', constraints: [{ allowed_values: [1, 2], description: 'one or two' }] },
    host: { type: 'string', constraints: [{ allowed_pattern: '[a-z0-9.-]+' }] },
    flavor: { type: 'string', constraints: [{ custom_constraint: 'nova.flavor' }] },
  };
  assert.equal((await validateProperties(s, { num: '2' }, W)).num, 2);
  await rejectsAsync(() => validateProperties(s, { size: 'l' }, W), 400, 'StackValidationFailed', `resources.test.properties.size: "l" is not an allowed value ["s", "m"]`);
  await rejectsAsync(() => validateProperties(s, { num: 3 }, W), 400, 'StackValidationFailed', 'resources.test.properties.num: one or two');
  await rejectsAsync(() => validateProperties(s, { host: 'A_B' }, W), 400, 'StackValidationFailed', '"A_B" does not match pattern "[a-z0-9.-]+"');
  const check = async (c: string, v: unknown) => (c === 'nova.flavor' && v !== 'm1.small' ? `Error validating value '${v}': not found` : null);
  assert.equal((await validateProperties(s, { flavor: 'm1.small' }, W, check)).flavor, 'm1.small');
  await rejectsAsync(() => validateProperties(s, { flavor: 'x' }, W, check), 400, 'StackValidationFailed',
    "Property error: resources.test.properties.flavor: Error validating value 'x': not found");
  // unresolved values skip the constraints (Heat does not validate values of resources still in INIT)
  assert.equal((await validateProperties(s, { flavor: null }, W, check)).flavor, '');
});

test('propertiesView: GET /resource_types/{type} properties', () => {
  const v = propertiesView(schema) as Record<string, any>;
  assert.equal(v.hidden, undefined);
  assert.deepEqual(v.count, { type: 'integer', default: 1, required: false, constraints: [{ range: { min: 0, max: 5 } }], update_allowed: false, immutable: false });
  assert.deepEqual(v.name, { type: 'string', description: 'A name', required: false, update_allowed: false, immutable: false });
  assert.deepEqual(v.tags.schema['*'], { type: 'string', required: false, constraints: [{ length: { max: 3 } }], update_allowed: false, immutable: false });
});

test('generateTemplate: hot and cfn, parseable by parseTemplate', () => {
  const attrs = { output: { description: 'The output' } };
  const h = generateTemplate('OS::Heat::TestResource', schema, attrs, 'hot') as any;
  assert.equal(h.heat_template_version, '2016-10-14');
  assert.equal(h.resources.TestResource.type, 'OS::Heat::TestResource');
  assert.deepEqual(h.resources.TestResource.properties.value, { get_param: 'value' });
  assert.deepEqual(h.parameters.count, { type: 'number', default: 1, constraints: [{ range: { min: 0, max: 5 } }] });
  assert.deepEqual(h.parameters.tags, { type: 'comma_delimited_list' });
  assert.equal(h.parameters.hidden, undefined);
  assert.deepEqual(h.outputs.output, { value: { get_attr: ['TestResource', 'output'] }, description: 'The output' });
  assert.deepEqual(h.outputs['OS::stack_id'], { value: { get_resource: 'TestResource' } });
  assert.ok(h.outputs.show);
  parseTemplate(h);
  const c = generateTemplate('OS::Heat::TestResource', schema, attrs, 'cfn') as any;
  assert.equal(c.HeatTemplateFormatVersion, '2012-12-12');
  assert.deepEqual(c.Resources.TestResource.Properties.tags, { 'Fn::Split': [',', { Ref: 'tags' }] });
  assert.deepEqual(c.Parameters.enabled, { Type: 'Boolean', Default: false, AllowedValues: ['True', 'true', 'False', 'false'] });
  assert.deepEqual(c.Parameters.count, { Type: 'Number', Default: 1, MinValue: 0, MaxValue: 5 });
  assert.deepEqual(c.Outputs['OS::stack_id'], { Value: { Ref: 'TestResource' } });
  parseTemplate(c);
});

test('a hidden property replaced by another ("Use property network.") is translated to it', async () => {
  const s: Record<string, PropertySchema> = {
    network: { type: 'string', required: true },
    network_id: { type: 'string', support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property network.' } },
    fixed_ips: { type: 'list', schema: { '*': { type: 'map', schema: {
      subnet: { type: 'string' },
      subnet_id: { type: 'string', support_status: { status: 'HIDDEN', message: 'Use property subnet.' } },
    } } } },
  };
  assert.deepEqual(await validateProperties(s, { network_id: 'n1', fixed_ips: [{ subnet_id: 's1' }] }, W),
    { network: 'n1', network_id: null, fixed_ips: [{ subnet: 's1', subnet_id: null }] });
  // Both given: left as they are, for the plugin's conflict check.
  assert.deepEqual(await validateProperties(s, { network: 'a', network_id: 'b' }, W), { network: 'a', network_id: 'b', fixed_ips: null });
  await rejectsAsync(() => validateProperties(s, {}, W), 400, 'StackValidationFailed', 'Property error: resources.test.properties: Property network not assigned');
});
