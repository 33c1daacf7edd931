import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTemplate, parseEnvironment, mergeEnvironments, TEMPLATE_VERSIONS, templateFunctions } from './index.ts';
import { rejects } from './testing.ts';

test('YAML: dates stay strings, unicode names survive, PyYAML booleans', () => {
  const t = parseTemplate(`
heat_template_version: 2014-10-16
description: \u8fd9\u662f\u4e00\u4e2a\u63cf\u8ff0
parameters:
  \u53c2\u6570: {type: number, default: 10, label: \u6807\u7b7e}
resources:
  \u8d44\u6e90:
    type: OS::Heat::RandomString
    properties: {length: {get_param: \u53c2\u6570}, flag: yes, when: 2020-01-01}
`);
  assert.equal(t.version, '2014-10-16');
  assert.equal(t.versionId, 'heat_template_version.2014-10-16');
  assert.equal(t.description, '\u8fd9\u662f\u4e00\u4e2a\u63cf\u8ff0');
  assert.deepEqual(t.parameters['\u53c2\u6570'], { type: 'number', default: 10, label: '\u6807\u7b7e' });
  const r = t.resources['\u8d44\u6e90'];
  assert.equal(r.type, 'OS::Heat::RandomString');
  assert.equal(r.properties.flag, true);
  assert.equal(r.properties.when, '2020-01-01');
  assert.equal(r.deletionPolicy, 'Delete');
  assert.deepEqual(r.dependsOn, []);
});

test('JSON text and objects parse; raw is kept as given; missing description reads "No description"', () => {
  const obj = { heat_template_version: '2016-04-08', resources: { a: { type: 'OS::Heat::None' } } };
  const t = parseTemplate(JSON.stringify(obj), { format: 'json' });
  assert.deepEqual(t.raw, obj);
  assert.equal(t.description, 'No description');
  assert.equal(parseTemplate(obj).raw, obj);
  rejects(() => parseTemplate('{bad', { format: 'json' }), 400, 'HTTPBadRequest', 'Error parsing template');
  rejects(() => parseTemplate('- a\n- b'), 400, 'HTTPBadRequest', 'The template is not a JSON object or YAML mapping.');
  rejects(() => parseTemplate('a: [b'), 400, 'HTTPBadRequest', 'Error parsing template');
});

test('versions: aliases, unknown, missing, ambiguous, cfn', () => {
  assert.equal(parseTemplate({ heat_template_version: 'pike' }).versionId, 'heat_template_version.2017-09-01');
  assert.equal(parseTemplate({ heat_template_version: 'wallaby' }).versionId, 'heat_template_version.2021-04-16');
  assert.equal(parseTemplate({ heat_template_version: 'newton' }).versionId, 'heat_template_version.2016-10-14');
  rejects(() => parseTemplate({ heat_template_version: '2012-01-01' }), 400, 'InvalidTemplateVersion',
    'The template version is invalid: "heat_template_version: 2012-01-01". "heat_template_version" should be one of: 2013-05-23, 2014-10-16,');
  rejects(() => parseTemplate({ resources: {} }), 400, 'InvalidTemplateVersion', 'The template version is invalid: Template version was not provided');
  rejects(() => parseTemplate({ heat_template_version: 20161014 }), 400, 'InvalidTemplateVersion', 'Template version was not provided');
  rejects(() => parseTemplate({ heat_template_version: '2016-04-08', AWSTemplateFormatVersion: '2010-09-09' }), 400,
    'InvalidTemplateVersion', 'Ambiguous versions');
  rejects(() => parseTemplate({ AWSTemplateFormatVersion: '2011-01-01' }), 400, 'InvalidTemplateVersion',
    '"AWSTemplateFormatVersion" should be: 2010-09-09');
  const c = parseTemplate({
    AWSTemplateFormatVersion: '2010-09-09', Description: 'd',
    Parameters: { Size: { Type: 'Number', MinValue: 1, MaxValue: '5', NoEcho: 'true', ConstraintDescription: 'bad' } },
    Resources: { R: { Type: 'AWS::EC2::Instance', DependsOn: 'S', Condition: 'c' }, S: { Type: 'OS::Heat::None' } },
    Outputs: { O: { Value: { Ref: 'R' }, Description: 'o' } }, Conditions: { c: true },
  });
  assert.equal(c.versionId, 'AWSTemplateFormatVersion.2010-09-09');
  assert.deepEqual(c.parameters.Size, { type: 'number', hidden: true, constraints: [{ range: { min: 1, max: 5 }, description: 'bad' }] });
  assert.deepEqual(c.resources.R.dependsOn, ['S']);
  assert.equal(c.resources.R.condition, 'c');
  assert.deepEqual(c.outputs.O, { value: { Ref: 'R' }, description: 'o' });
  assert.deepEqual(c.conditions, { c: true });
  assert.equal(parseTemplate({ HeatTemplateFormatVersion: '2012-12-12' }).versionId, 'HeatTemplateFormatVersion.2012-12-12');
});

test('sections are checked per version', () => {
  rejects(() => parseTemplate({ heat_template_version: '2016-04-08', foo: 1 }), 400, 'InvalidTemplateSection',
    'The template section is invalid: foo');
  rejects(() => parseTemplate({ heat_template_version: '2016-04-08', conditions: {} }), 400, 'InvalidTemplateSection', 'conditions');
  assert.deepEqual(parseTemplate({ heat_template_version: '2016-10-14', conditions: { a: true } }).conditions, { a: true });
  rejects(() => parseTemplate({ HeatTemplateFormatVersion: '2012-12-12', Conditions: {} }), 400, 'InvalidTemplateSection');
  rejects(() => parseTemplate({ heat_template_version: '2016-10-14', conditions: [1] }), 400, 'StackValidationFailed',
    'Condition definitions must be a map');
});

test('resources: structure, keys per version, depends_on, deletion policy', () => {
  const v = (resources: unknown, version = '2016-04-08') => () => parseTemplate({ heat_template_version: version, resources } as any);
  rejects(v([1]), 400, 'StackValidationFailed', '"resources" must contain a map of resource maps. Found a [list] instead');
  rejects(v({ a: 'x' }), 400, 'StackValidationFailed', 'Found a [str] instead');
  rejects(v({ a: {} }), 400, 'StackValidationFailed', 'Each resource must contain a type key.');
  rejects(v({ a: { properties: {} } }), 400, 'StackValidationFailed', 'Each resource must contain a type key.');
  rejects(v({ a: { type: 'T', foo: 1 } }), 400, 'StackValidationFailed', '"foo" is not a valid keyword inside a resource definition');
  rejects(v({ a: { type: 'T', condition: 'c' } }), 400, 'StackValidationFailed', '"condition" is not a valid keyword');
  rejects(v({ a: { type: 'T', external_id: 'x' } }), 400, 'StackValidationFailed', '"external_id" is not a valid keyword');
  assert.equal(parseTemplate({ heat_template_version: '2016-10-14', resources: { a: { type: 'T', external_id: 'x' } } }).resources.a.externalId, 'x');
  rejects(v({ a: { type: 3 } }), 400, 'StackValidationFailed', 'Resource a type type must be string');
  rejects(v({ a: { type: 'T', properties: [1] } }), 400, 'StackValidationFailed', 'Resource a properties type must be object');
  rejects(v({ a: { type: 'T', depends_on: 'b' } }), 400, 'InvalidTemplateReference', 'The specified reference "b" (in a) is incorrect.');
  rejects(v({ a: { type: 'T', depends_on: [1] } }), 400, 'StackValidationFailed', 'Resource a depends_on must be a list of strings');
  rejects(v({ a: { type: 'T', depends_on: {} } }), 400, 'StackValidationFailed', 'Resource a depends_on type must be list or string');
  rejects(v({ a: { type: 'T', deletion_policy: 'Keep' } }), 400, 'StackValidationFailed', 'Invalid deletion policy "Keep"');
  rejects(v({ a: { type: 'T', deletion_policy: 'retain' } }), 400, 'StackValidationFailed', 'Invalid deletion policy "retain"');
  assert.equal(parseTemplate({ heat_template_version: '2016-10-14', resources: { a: { type: 'T', deletion_policy: 'retain' } } })
    .resources.a.deletionPolicy, 'Retain');
  rejects(v({ 'a/b': { type: 'T' } }), 400, 'StackValidationFailed', 'Resource name may not contain "/"');
  const t = parseTemplate({ heat_template_version: '2016-04-08', resources: { a: { type: 'T', depends_on: 'b' }, b: { type: 'T' } } });
  assert.deepEqual(t.resources.a.dependsOn, ['b']);
});

test('outputs: value required, keys per version', () => {
  const v = (outputs: unknown, version = '2016-04-08') => () => parseTemplate({ heat_template_version: version, outputs } as any);
  rejects(v({ o: 'x' }), 400, 'StackValidationFailed', 'Output validation error: outputs.o: Output definitions must be a map. Found a str instead');
  rejects(v({ o: { description: 'd' } }), 400, 'StackValidationFailed', 'Each output definition must contain a value key.');
  rejects(v({ o: { value: 1, condition: 'c' } }), 400, 'StackValidationFailed', '"condition" is not a valid keyword inside a output definition');
  assert.deepEqual(parseTemplate({ heat_template_version: '2016-10-14', outputs: { o: { value: 1, condition: 'c' } } }).outputs.o,
    { value: 1, condition: 'c' });
});

test('parameter schemas: keys, types, constraints per version', () => {
  const v = (parameters: unknown, version = '2016-04-08') => () => parseTemplate({ heat_template_version: version, parameters } as any);
  rejects(v({ p: { type: 'string', foo: 1 } }), 400, 'InvalidSchemaError', "Invalid key 'foo' for parameter (p)");
  rejects(v({ p: { default: 1 } }), 400, 'InvalidSchemaError', 'Missing parameter type for parameter: p');
  rejects(v({ p: { type: 'integer' } }), 400, 'InvalidSchemaError', 'Invalid type (integer)');
  rejects(v({ p: 'string' }), 400, 'InvalidSchemaError', 'Invalid parameter (p), expected a mapping');
  rejects(v({ p: { type: 'string', tags: ['a'] } }), 400, 'InvalidSchemaError', "Invalid key 'tags'");
  assert.deepEqual(parseTemplate({ heat_template_version: '2018-03-02', parameters: { p: { type: 'string', tags: ['a'] } } }).parameters.p.tags, ['a']);
  rejects(v({ p: { type: 'number', constraints: { range: {} } } }), 400, 'InvalidSchemaError', 'expected a list');
  rejects(v({ p: { type: 'number', constraints: [{ range: {} }] } }), 400, 'InvalidSchemaError',
    'A range constraint must have a min value and/or a max value specified.');
  rejects(v({ p: { type: 'number', constraints: [{ range: { low: 1 } }] } }), 400, 'InvalidSchemaError', "Invalid key 'low' for range constraint");
  rejects(v({ p: { type: 'string', constraints: [{ length: { min: 1.5 } }] } }), 400, 'InvalidSchemaError', 'min/max length must be integral');
  rejects(v({ p: { type: 'string', constraints: [{ bogus: 1 }] } }), 400, 'InvalidSchemaError', "Invalid key 'bogus' for parameter constraints");
  rejects(v({ p: { type: 'string', constraints: [{ description: 'x' }] } }), 400, 'InvalidSchemaError', 'No constraint expressed');
  // modulo only from 2017-02-24
  rejects(v({ p: { type: 'number', constraints: [{ modulo: { step: 2, offset: 1 } }] } }), 400, 'InvalidSchemaError', 'No constraint expressed');
  assert.deepEqual(parseTemplate({ heat_template_version: '2017-02-24', parameters: { p: { type: 'number', constraints: [{ modulo: { step: 2, offset: 1 } }] } } })
    .parameters.p.constraints, [{ modulo: { step: 2, offset: 1 } }]);
  rejects(v({ p: { type: 'number', constraints: [{ modulo: { step: 2, offset: 3 } }] } }, '2017-02-24'), 400, 'InvalidSchemaError',
    'offset must be smaller (by absolute value) than step.');
  rejects(v({ p: { type: 'number', constraints: [{ modulo: { step: 0, offset: 0 } }] } }, '2017-02-24'), 400, 'InvalidSchemaError', 'step cannot be 0.');
  rejects(v({ p: { type: 'string', constraints: [{ allowed_values: 'a' }] } }), 400, 'InvalidSchemaError', 'AllowedValues must be a list');
  rejects(v({ p: { type: 'string', constraints: [{ allowed_pattern: 3 }] } }), 400, 'InvalidSchemaError', 'AllowedPattern must be a string');
});

test('environments: sections checked, defaults filled, merge order', () => {
  assert.deepEqual(parseEnvironment(undefined), { parameters: {}, parameter_defaults: {}, resource_registry: { resources: {} }, event_sinks: [] });
  const e = parseEnvironment('parameters: {a: 1}\nresource_registry: {"My::T": t.yaml, resources: {r: {hooks: pre-create}}}');
  assert.deepEqual(e.parameters, { a: 1 });
  assert.deepEqual(e.resource_registry, { 'My::T': 't.yaml', resources: { r: { hooks: 'pre-create' } } });
  rejects(() => parseEnvironment({ foo: {} }), 400, 'HTTPBadRequest', 'environment has wrong section "foo"');
  rejects(() => parseEnvironment({ parameters: null } as any), 400, 'HTTPBadRequest', 'environment has empty section "parameters"');
  rejects(() => parseEnvironment('- a'), 400, 'HTTPBadRequest', 'The environment is not a valid YAML mapping data type.');
  const m = mergeEnvironments(e, { parameters: { a: 2, b: 3 }, resource_registry: { resources: { r: { restricted_actions: 'replace' } } } },
    { parameter_defaults: { x: 1 }, event_sinks: [{ type: 'zaqar-queue' }] });
  assert.deepEqual(m.parameters, { a: 2, b: 3 });
  assert.deepEqual(m.resource_registry, { 'My::T': 't.yaml', resources: { r: { hooks: 'pre-create', restricted_actions: 'replace' } } });
  assert.deepEqual(m.parameter_defaults, { x: 1 });
  assert.equal(m.event_sinks.length, 1);
  const merged = mergeEnvironments(parseEnvironment({ parameters: { l: ['a'], m: { x: 1 } } }),
    { parameters: { l: ['b'], m: { y: 2 } }, parameter_merge_strategies: { default: 'merge' } } as any);
  assert.deepEqual(merged.parameters, { l: ['a', 'b'], m: { x: 1, y: 2 } });
});

test('template versions and their functions', () => {
  const hot = TEMPLATE_VERSIONS.find((v) => v.version === 'heat_template_version.2016-04-08');
  assert.deepEqual(hot, { version: 'heat_template_version.2016-04-08', type: 'hot', aliases: [] });
  assert.deepEqual(TEMPLATE_VERSIONS.find((v) => v.version === 'heat_template_version.2017-09-01')?.aliases, ['heat_template_version.pike']);
  assert.equal(TEMPLATE_VERSIONS.find((v) => v.version === 'AWSTemplateFormatVersion.2010-09-09')?.type, 'cfn');
  assert.equal(TEMPLATE_VERSIONS.length, 13);
  const fns = templateFunctions('heat_template_version.2016-04-08', false);
  assert.equal(fns.find((f) => f.functions === 'get_file')?.description, 'A function for including a file inline.');
  const names = fns.map((f) => f.functions);
  assert.ok(names.includes('map_merge') && !names.includes('Fn::Select') && !names.includes('equals') && !names.includes('if'));
  const withCond = templateFunctions('heat_template_version.2016-10-14', true).map((f) => f.functions);
  assert.ok(withCond.includes('equals') && withCond.includes('if'));
  assert.ok(!templateFunctions('heat_template_version.2016-10-14', false).map((f) => f.functions).includes('equals'));
  assert.ok(templateFunctions('heat_template_version.pike', false).map((f) => f.functions).includes('str_replace_vstrict'));
  assert.ok(templateFunctions('AWSTemplateFormatVersion.2010-09-09', true).map((f) => f.functions).includes('Fn::Equals'));
  assert.ok(templateFunctions('heat_template_version.2013-05-23', false).map((f) => f.functions).includes('Fn::Join'));
  rejects(() => templateFunctions('heat_template_version.1999-01-01', false), 404, 'NotFound', 'Template with version heat_template_version.1999-01-01 not found');
});
