import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTemplate, parseEnvironment, resolveParameters, parametersView, validateParameterGroups, immutableParamsModified } from './index.ts';
import type { CustomCheck } from './index.ts';
import { hot, rejects, rejectsAsync } from './testing.ts';

const stack = { name: 's1', id: 'sid', projectId: 'pid', region: 'RegionOne' };
const env = (e: Record<string, unknown> = {}) => parseEnvironment(e);
const params = (p: Record<string, unknown>, version = '2017-02-24') => hot(version, { parameters: p });

test('values come from the request, then env parameters, parameter_defaults, template defaults; pseudo parameters added', async () => {
  const t = params({ a: { type: 'string', default: 'ta' }, b: { type: 'string', default: 'tb' }, c: { type: 'string', default: 'tc' },
    d: { type: 'string', default: 'td' } });
  const v = await resolveParameters(t, env({ parameters: { a: 'ea', b: 'eb' }, parameter_defaults: { b: 'db', c: 'dc', unknown: 1 } }),
    { a: 'ga' }, stack);
  assert.deepEqual(v, { a: 'ga', b: 'eb', c: 'dc', d: 'td', 'OS::stack_id': 'sid', 'OS::stack_name': 's1', 'OS::project_id': 'pid' });
  const cfn = parseTemplate({ AWSTemplateFormatVersion: '2010-09-09', Parameters: { P: { Type: 'String', Default: 'x' } } });
  const cv = await resolveParameters(cfn, env(), {}, stack);
  assert.deepEqual(cv, { P: 'x', 'AWS::StackId': 'arn:openstack:heat::pid:stacks/s1/sid', 'AWS::StackName': 's1', 'AWS::Region': 'RegionOne' });
});

test('missing and unknown parameters', async () => {
  const t = params({ a: { type: 'string' } });
  await rejectsAsync(() => resolveParameters(t, env(), {}, stack), 400, 'UserParameterMissing', 'The Parameter (a) was not provided.');
  await rejectsAsync(() => resolveParameters(t, env(), { a: null }, stack), 400, 'UserParameterMissing');
  await rejectsAsync(() => resolveParameters(t, env(), { a: 'x', b: 'y' }, stack), 400, 'UnknownUserParameter',
    'The Parameter (b) was not defined in template.');
  await rejectsAsync(() => resolveParameters(t, env({ parameters: { zz: 1 } }), { a: 'x' }, stack), 400, 'UnknownUserParameter');
  // /validate: values are optional
  assert.deepEqual(Object.keys(await resolveParameters(t, env(), {}, stack, undefined, { validateValues: false })).filter((k) => !k.includes('::')), []);
});

test('type conversion: number, boolean, comma_delimited_list, json, string', async () => {
  const t = params({ n: { type: 'number' }, f: { type: 'number' }, b: { type: 'boolean' }, l: { type: 'comma_delimited_list' },
    e: { type: 'comma_delimited_list' }, j: { type: 'json' }, s: { type: 'string' }, jo: { type: 'json' } });
  const v = await resolveParameters(t, env(), { n: '42', f: '1.5', b: 'yes', l: 'a,b, c', e: '', j: '{"k": [1]}', s: 7, jo: { x: 1 } }, stack);
  assert.equal(v.n, 42);
  assert.equal(v.f, 1.5);
  assert.equal(v.b, true);
  assert.deepEqual(v.l, ['a', 'b', ' c']);
  assert.deepEqual(v.e, []);
  assert.deepEqual(v.j, { k: [1] });
  assert.equal(v.s, '7');
  assert.deepEqual(v.jo, { x: 1 });
  const one = (p: Record<string, unknown>, given: Record<string, unknown>) => resolveParameters(params(p), env(), given, stack);
  assert.equal((await one({ b: { type: 'boolean' } }, { b: 'False' })).b, false);
  assert.equal((await one({ b: { type: 'boolean', default: 0 } }, {})).b, false);
  assert.deepEqual((await one({ l: { type: 'comma_delimited_list' } }, { l: ['x', 1] })).l, ['x', '1']);
  await rejectsAsync(() => one({ n: { type: 'number' } }, { n: 'abc' }), 400, 'StackValidationFailed',
    "Parameter 'n' is invalid: could not convert string to float: 'abc'");
  await rejectsAsync(() => one({ b: { type: 'boolean' } }, { b: 'maybe' }), 400, 'StackValidationFailed',
    "Parameter 'b' is invalid: Unrecognized value 'maybe', acceptable values are:");
  await rejectsAsync(() => one({ j: { type: 'json' } }, { j: '{bad' }), 400, 'StackValidationFailed', "Parameter 'j' is invalid: Value must be valid JSON");
});

test('constraints: range, length, modulo, allowed_values, allowed_pattern, descriptions', async () => {
  const one = (p: Record<string, unknown>, value: unknown) => resolveParameters(params({ p }), env(), { p: value }, stack);
  const range = { type: 'number', constraints: [{ range: { min: 1, max: 10 } }] };
  assert.equal((await one(range, 5)).p, 5);
  await rejectsAsync(() => one(range, 11), 400, 'StackValidationFailed', "Parameter 'p' is invalid: 11 is out of range (min: 1, max: 10)");
  await rejectsAsync(() => one({ type: 'number', constraints: [{ range: { min: 1 } }] }, 0), 400, 'StackValidationFailed',
    '0 is out of range (min: 1, max: None)');
  const len = { type: 'string', constraints: [{ length: { min: 2, max: 3 } }] };
  await rejectsAsync(() => one(len, 'abcd'), 400, 'StackValidationFailed', 'length (4) is out of range (min: 2, max: 3)');
  await rejectsAsync(() => one({ type: 'comma_delimited_list', constraints: [{ length: { max: 1 } }] }, 'a,b'), 400, 'StackValidationFailed',
    'length (2) is out of range');
  const mod = { type: 'number', constraints: [{ modulo: { step: 2, offset: 1 } }] };
  assert.equal((await one(mod, 7)).p, 7);
  await rejectsAsync(() => one(mod, 8), 400, 'StackValidationFailed', '8 is not a multiple of 2 with an offset of 1');
  const av = { type: 'string', constraints: [{ allowed_values: ['a', 'b'] }] };
  await rejectsAsync(() => one(av, 'c'), 400, 'StackValidationFailed', `"c" is not an allowed value ["a", "b"]`);
  assert.equal((await one({ type: 'number', constraints: [{ allowed_values: [1, 2] }] }, '2')).p, 2);
  assert.deepEqual((await one({ type: 'comma_delimited_list', constraints: [{ allowed_values: ['a', 'b'] }] }, 'b,a')).p, ['b', 'a']);
  await rejectsAsync(() => one({ type: 'comma_delimited_list', constraints: [{ allowed_values: ['a'] }] }, 'a,c'), 400, 'StackValidationFailed');
  const pat = { type: 'string', constraints: [{ allowed_pattern: '[a-z]+', description: 'lowercase only' }] };
  assert.equal((await one(pat, 'abc')).p, 'abc');
  await rejectsAsync(() => one(pat, 'abc1'), 400, 'StackValidationFailed', "Parameter 'p' is invalid: lowercase only");
  await rejectsAsync(() => one({ type: 'string', constraints: [{ allowed_pattern: '[a-z]+' }] }, 'A'), 400, 'StackValidationFailed',
    '"A" does not match pattern "[a-z]+"');
});

test('schema checks: constraint kind for the type, invalid defaults', async () => {
  await rejectsAsync(() => resolveParameters(params({ p: { type: 'string', constraints: [{ range: { min: 1 } }] } }), env(), { p: 'x' }, stack),
    400, 'InvalidSchemaError', "Parameter 'p' is invalid: Range constraint invalid for string");
  await rejectsAsync(() => resolveParameters(params({ p: { type: 'number', default: 20, constraints: [{ range: { max: 10 } }] } }), env(), {}, stack,
    undefined, { validateValues: false }), 400, 'InvalidSchemaError', "Parameter 'p' is invalid: Invalid default 20 (20 is out of range (min: None, max: 10))");
  // a parameter_defaults value is checked as the default
  await rejectsAsync(() => resolveParameters(params({ p: { type: 'number', default: 1, constraints: [{ range: { max: 10 } }] } }),
    env({ parameter_defaults: { p: 99 } }), {}, stack), 400, 'InvalidSchemaError', 'Invalid default 99');
});

test('custom constraints go through the callback (each item of a list)', async () => {
  const seen: unknown[] = [];
  const check: CustomCheck = async (c, v) => (seen.push([c, v]), v === 'bad' ? `Error validating value 'bad': not found` : null);
  const t = params({ f: { type: 'string', constraints: [{ custom_constraint: 'nova.flavor' }] },
    l: { type: 'comma_delimited_list', constraints: [{ custom_constraint: 'neutron.network' }] } });
  await resolveParameters(t, env(), { f: 'm1', l: 'n1,n2' }, stack, check);
  assert.deepEqual(seen, [['nova.flavor', 'm1'], ['neutron.network', 'n1'], ['neutron.network', 'n2']]);
  await rejectsAsync(() => resolveParameters(t, env(), { f: 'bad', l: 'n' }, stack, check), 400, 'StackValidationFailed',
    "Parameter 'f' is invalid: Error validating value 'bad': not found");
  // defaults are not checked against custom constraints at schema time, and /validate skips values
  seen.length = 0;
  await resolveParameters(params({ f: { type: 'string', default: 'bad', constraints: [{ custom_constraint: 'nova.flavor' }] } }), env(), {}, stack,
    check, { validateValues: false });
  assert.deepEqual(seen, []);
});

test('parametersView: Heat validate output (Tempest unicode case)', () => {
  const t = parseTemplate(`
heat_template_version: 2014-10-16
parameters:
  \u53c2\u6570:
    type: number
    default: 10
    label: \u6807\u7b7e
    description: \u8fd9\u662f\u4e00\u4e2a\u63cf\u8ff0
`);
  assert.deepEqual(parametersView(t, env(), {}), {
    '\u53c2\u6570': { Default: 10, Description: '\u8fd9\u662f\u4e00\u4e2a\u63cf\u8ff0', Label: '\u6807\u7b7e', NoEcho: 'false', Type: 'Number' },
  });
  assert.deepEqual(parametersView(t, env({ parameters: { '\u53c2\u6570': 5 } }), {})['\u53c2\u6570'], {
    Default: 10, Value: 5, Description: '\u8fd9\u662f\u4e00\u4e2a\u63cf\u8ff0', Label: '\u6807\u7b7e', NoEcho: 'false', Type: 'Number',
  });
  const t2 = params({
    pw: { type: 'string', hidden: true, constraints: [{ length: { min: 8 }, description: 'long' }, { allowed_pattern: '[a-z]*', description: 'lower' }] },
    n: { type: 'number', constraints: [{ range: { min: 1, max: 3 } }, { modulo: { step: 2, offset: 0 } }] },
    l: { type: 'comma_delimited_list', constraints: [{ custom_constraint: 'nova.keypair' }] },
  });
  const v = parametersView(t2, env({ parameter_defaults: { n: 2 } }), { l: '' });
  assert.deepEqual(v.pw, { Type: 'String', Description: '', NoEcho: 'true', Label: 'pw', MinLength: 8, AllowedPattern: '[a-z]*', ConstraintDescription: 'long lower' });
  assert.deepEqual(v.n, { Type: 'Number', Description: '', NoEcho: 'false', Label: 'n', Default: 2, MinValue: 1, MaxValue: 3, Step: 2, Offset: 0 });
  assert.deepEqual(v.l, { Type: 'CommaDelimitedList', Description: '', NoEcho: 'false', Label: 'l', CustomConstraint: 'nova.keypair' });
});

test('parameter groups', () => {
  validateParameterGroups(hot('2016-04-08', { parameters: { a: { type: 'string' } }, parameter_groups: [{ label: 'g', parameters: ['a'] }] }));
  const g = (groups: unknown) => () => validateParameterGroups(hot('2016-04-08', { parameters: { a: { type: 'string' } }, parameter_groups: groups }));
  rejects(g({}), 400, 'StackValidationFailed', 'Parameter Groups error: parameter_groups: The parameter_groups should be a list.');
  rejects(g([{ label: 'g' }]), 400, 'StackValidationFailed', 'Parameter Groups error: parameter_groups.g: The parameters must be provided for each parameter group.');
  rejects(g([{ label: 'g', parameters: 'a' }]), 400, 'StackValidationFailed', 'The parameters of parameter group should be a list.');
  rejects(g([{ label: 'g', parameters: ['b'] }]), 400, 'StackValidationFailed', 'The grouped parameter b does not reference a valid parameter.');
  rejects(g([{ label: 'g', parameters: ['a'] }, { label: 'h', parameters: ['a'] }]), 400, 'StackValidationFailed',
    'parameter_groups.h: The a parameter must be assigned to one parameter group only.');
});

test('immutable parameters', () => {
  const t = params({ a: { type: 'string', immutable: true }, b: { type: 'string' } });
  assert.deepEqual(immutableParamsModified(t, { a: 'x', b: 'y' }, { a: 'z', b: 'w' }), ['a']);
  assert.deepEqual(immutableParamsModified(t, { a: 'x' }, { a: 'x' }), []);
});
