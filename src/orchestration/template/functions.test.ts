import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { resolve, referencedResources, evaluateConditions, conditionHolds, validateFunctions, parseTemplate } from './index.ts';
import { fcFor, hot, rejects, rejectsAsync } from './testing.ts';

const T = (v = '2021-04-16', body: Record<string, unknown> = {}) =>
  hot(v, { resources: { srv: { type: 'OS::Nova::Server' }, net: { type: 'OS::Neutron::Net' } }, ...body });

async function r(value: unknown, version = '2021-04-16', opts: Parameters<typeof fcFor>[1] = {}, body: Record<string, unknown> = {}) {
  return resolve(value, fcFor(T(version, body), opts));
}

test('get_param: names, paths into json/lists, missing parameter', async () => {
  const params = { p: 'x', j: { a: [10, { b: 'deep' }] }, l: ['a', 'b'] };
  assert.equal(await r({ get_param: 'p' }, '2016-04-08', { params }), 'x');
  assert.equal(await r({ get_param: ['j', 'a', 1, 'b'] }, '2016-04-08', { params }), 'deep');
  assert.equal(await r({ get_param: ['l', '1'] }, '2016-04-08', { params }), 'b');
  assert.equal(await r({ get_param: ['j', 'nope'] }, '2016-04-08', { params }), '');
  assert.equal(await r({ get_param: ['l', 'x'] }, '2016-04-08', { params }), '');
  await rejectsAsync(() => r({ get_param: 'zz' }, '2016-04-08', { params }), 400, 'UserParameterMissing', 'The Parameter (zz) was not provided.');
  await rejectsAsync(() => r({ get_param: {} }, '2016-04-08', { params }), 400, 'StackValidationFailed', 'must have arguments');
  await rejectsAsync(() => r({ get_param: [1] }, '2016-04-08', { params }), 400, 'StackValidationFailed', 'Parameter name in "get_param" must be string');
  // nested functions in arguments are resolved first
  assert.equal(await r({ get_param: { get_param: 'name' } }, '2016-04-08', { params: { name: 'p', p: 'v' } }), 'v');
});

test('get_resource and get_attr (with paths, all attributes from 2015-10-15)', async () => {
  const opts = { refs: { srv: 'uuid-1' }, attrs: { srv: { networks: { private: ['10.0.0.5'] }, name: 'vm' } } };
  assert.equal(await r({ get_resource: 'srv' }, '2016-04-08', opts), 'uuid-1');
  assert.equal(await r({ get_resource: 'net' }, '2016-04-08', opts), null);
  await rejectsAsync(() => r({ get_resource: 'nope' }, '2016-04-08', opts), 400, 'InvalidTemplateReference', 'The specified reference "nope"');
  assert.deepEqual(await r({ get_attr: ['srv', 'networks'] }, '2013-05-23', opts), { private: ['10.0.0.5'] });
  assert.equal(await r({ get_attr: ['srv', 'networks', 'private', 0] }, '2014-10-16', opts), '10.0.0.5');
  assert.equal(await r({ get_attr: ['srv', 'networks', 'public', 0] }, '2014-10-16', opts), null);
  assert.deepEqual(await r({ get_attr: ['srv'] }, '2015-10-15', opts), opts.attrs.srv);
  await rejectsAsync(() => r({ get_attr: ['srv'] }, '2015-04-30', opts), 400, 'StackValidationFailed',
    'Arguments to "get_attr" must be of the form [resource_name, attribute, (path), ...]');
  await rejectsAsync(() => r({ get_attr: 'srv' }, '2016-04-08', opts), 400, 'StackValidationFailed', 'Argument to "get_attr" must be a list');
  await rejectsAsync(() => r({ get_attr: [] }, '2016-04-08', opts), 400, 'StackValidationFailed', 'can be of the next forms');
  await rejectsAsync(() => r({ get_attr: ['x', 'y'] }, '2016-04-08', opts), 400, 'InvalidTemplateReference');
});

test('get_file', async () => {
  const files = { 'a.sh': '#!/bin/sh' };
  assert.equal(await r({ get_file: 'a.sh' }, '2013-05-23', { files }), '#!/bin/sh');
  await rejectsAsync(() => r({ get_file: 'b.sh' }, '2013-05-23', { files }), 400, 'StackValidationFailed',
    'No content found in the "files" section for get_file path: b.sh');
  await rejectsAsync(() => r({ get_file: ['a'] }, '2013-05-23', { files }), 400, 'StackValidationFailed', 'must be a string');
});

test('errors carry the path, like Heat', async () => {
  const t = T('2016-04-08');
  await rejectsAsync(() => resolve({ a: [{ get_file: 'x' }] }, fcFor(t), 'resources.srv.properties'), 400, 'StackValidationFailed',
    'resources.srv.properties.a[0].get_file: No content found');
});

test('str_replace family: longest keys first, json values, strict and vstrict', async () => {
  const sr = { template: 'Hello $name, $name_full! $n', params: { $name: 'Bob', $name_full: 'Robert', $n: 3 } };
  assert.equal(await r({ str_replace: sr }, '2013-05-23'), 'Hello Bob, Robert! 3');
  // a replacement is not replaced again
  assert.equal(await r({ str_replace: { template: 'ab', params: { a: 'b', b: 'c' } } }, '2016-04-08'), 'bc');
  assert.equal(await r({ str_replace: { template: 'v=X', params: { X: { b: 1, a: [true, null] } } } }, '2016-04-08'),
    'v={"a": [true, null], "b": 1}');
  await rejectsAsync(() => r({ str_replace: { template: 'v=X', params: { X: { b: 1 } } } }, '2015-04-30'), 400, 'StackValidationFailed',
    'params must be strings or numbers, param X is not valid');
  assert.equal(await r({ str_replace: { template: 'v=X', params: { X: true } } }, '2016-04-08'), 'v=True');
  assert.equal(await r({ str_replace: { template: 'v=X', params: { X: null } } }, '2016-04-08'), 'v=');
  await rejectsAsync(() => r({ str_replace: 'x' }, '2016-04-08'), 400, 'StackValidationFailed', 'Arguments to "str_replace" must be a map');
  await rejectsAsync(() => r({ str_replace: { template: 'x' } }, '2016-04-08'), 400, 'StackValidationFailed', 'syntax should be');
  await rejectsAsync(() => r({ str_replace: { template: 1, params: {} } }, '2016-04-08'), 400, 'StackValidationFailed', 'template must be a string');
  assert.equal(await r({ str_replace_strict: { template: 'a', params: { a: 'b' } } }, '2017-02-24'), 'b');
  await rejectsAsync(() => r({ str_replace_strict: { template: 'a', params: { a: 'b', zz: 'c', y: 'd' } } }, '2017-02-24'), 400,
    'StackValidationFailed', 'The following params were not found in the template: zz,y');
  await rejectsAsync(() => r({ str_replace_strict: { template: 'a', params: { a: 'b' } } }, '2016-10-14'), 400, 'InvalidTemplateVersion',
    'The function str_replace_strict is not supported in this version of HOT.');
  assert.equal(await r({ str_replace_vstrict: { template: 'a', params: { a: 'b' } } }, '2017-09-01'), 'b');
  await rejectsAsync(() => r({ str_replace_vstrict: { template: 'a', params: { a: '' } } }, '2017-09-01'), 400, 'StackValidationFailed',
    'str_replace_vstrict has an undefined or empty value for param a, must be a defined non-empty value');
  await rejectsAsync(() => r({ str_replace_vstrict: { template: 'a', params: { a: 'b' } } }, '2017-02-24'), 400, 'InvalidTemplateVersion');
});

test('list_join: single list before 2015-10-15, several lists and json items after', async () => {
  assert.equal(await r({ list_join: [', ', ['a', 'b', null]] }, '2013-05-23'), 'a, b, ');
  await rejectsAsync(() => r({ list_join: [',', ['a'], ['b']] }, '2015-04-30'), 400, 'StackValidationFailed', 'Incorrect arguments to "list_join"');
  assert.equal(await r({ list_join: [',', ['a'], ['b', 'c']] }, '2015-10-15'), 'a,b,c');
  assert.equal(await r({ list_join: [',', [{ b: 1, a: 2 }, [1]]] }, '2015-10-15'), '{"a": 2, "b": 1},[1]');
  await rejectsAsync(() => r({ list_join: [',', [{ a: 1 }]] }, '2015-04-30'), 400, 'StackValidationFailed', 'Items to join must be strings');
  await rejectsAsync(() => r({ list_join: [',', 'abc'] }, '2016-04-08'), 400, 'StackValidationFailed', '"list_join" must operate on a list');
  await rejectsAsync(() => r({ list_join: [1, ['a']] }, '2016-04-08'), 400, 'StackValidationFailed', '"list_join" delimiter must be a string');
  await rejectsAsync(() => r({ list_join: [',', [1]] }, '2016-04-08'), 400, 'StackValidationFailed', 'Items to join must be string, map or list not 1');
});

test('repeat: lists, maps from 2016-10-14, permutations from 2017-09-01', async () => {
  const rep = { repeat: { for_each: { '%p%': ['80', '443'] }, template: { port: '%p%', name: 'p-%p%' } } };
  assert.deepEqual(await r(rep, '2015-04-30'), [{ port: '80', name: 'p-80' }, { port: '443', name: 'p-443' }]);
  await rejectsAsync(() => r(rep, '2014-10-16'), 400, 'InvalidTemplateVersion', 'The function repeat is not supported');
  const two = { for_each: { '%a%': ['1', '2'], '%b%': ['x', 'y'] }, template: '%a%%b%' };
  assert.deepEqual(await r({ repeat: two }, '2016-04-08'), ['1x', '1y', '2x', '2y']);
  assert.deepEqual(await r({ repeat: { ...two, permutations: false } }, '2017-09-01'), ['1x', '2y']);
  await rejectsAsync(() => r({ repeat: { ...two, permutations: 'no' } }, '2017-09-01'), 400, 'StackValidationFailed',
    '"permutations" should be boolean type for repeat function.');
  await rejectsAsync(() => r({ repeat: { for_each: { '%a%': ['1'], '%b%': ['x', 'y'] }, template: '%a%', permutations: false } }, '2017-09-01'),
    400, 'StackValidationFailed', 'the length of for_each values should be equal if no nested loop');
  const fromMap = { repeat: { for_each: { '%k%': { a: 1, b: 2 } }, template: '%k%' } };
  assert.deepEqual(await r(fromMap, '2016-10-14'), ['a', 'b']);
  await rejectsAsync(() => r(fromMap, '2016-04-08'), 400, 'StackValidationFailed', 'must be lists');
  await rejectsAsync(() => r({ repeat: { for_each: [], template: 'x' } }, '2016-04-08'), 400, 'StackValidationFailed', 'must contain a map');
  assert.deepEqual(await r({ repeat: { for_each: { '%a%': { get_param: 'l' } }, template: 'x%a%' } }, '2016-04-08', { params: { l: ['1', '2'] } }),
    ['x1', 'x2']);
});

test('digest, str_split, map_merge, map_replace', async () => {
  assert.equal(await r({ digest: ['sha256', 'abc'] }, '2015-04-30'), createHash('sha256').update('abc').digest('hex'));
  assert.equal(await r({ digest: ['MD5', 'abc'] }, '2015-04-30'), createHash('md5').update('abc').digest('hex'));
  await rejectsAsync(() => r({ digest: ['nope', 'abc'] }, '2015-04-30'), 400, 'StackValidationFailed', 'Algorithm must be one of');
  await rejectsAsync(() => r({ digest: ['md5'] }, '2015-04-30'), 400, 'StackValidationFailed', 'Function "digest" usage');
  await rejectsAsync(() => r({ digest: ['md5', 'a'] }, '2014-10-16'), 400, 'InvalidTemplateVersion');
  assert.deepEqual(await r({ str_split: [',', 'a,b,c'] }, '2015-10-15'), ['a', 'b', 'c']);
  assert.equal(await r({ str_split: [',', 'a,b,c', 1] }, '2015-10-15'), 'b');
  assert.equal(await r({ str_split: [',', 'a,b,c', '2'] }, '2015-10-15'), 'c');
  await rejectsAsync(() => r({ str_split: [',', 'a,b', 5] }, '2015-10-15'), 400, 'StackValidationFailed', 'Incorrect index to "str_split"');
  await rejectsAsync(() => r({ str_split: 'a,b' }, '2015-10-15'), 400, 'StackValidationFailed', 'Incorrect arguments to "str_split"');
  await rejectsAsync(() => r({ str_split: [',', 'a'] }, '2015-04-30'), 400, 'InvalidTemplateVersion');
  assert.deepEqual(await r({ map_merge: [{ a: 1, b: 2 }, null, { b: 3 }] }, '2016-04-08'), { a: 1, b: 3 });
  await rejectsAsync(() => r({ map_merge: [{ a: 1 }, [1]] }, '2016-04-08'), 400, 'StackValidationFailed', 'Items to merge must be maps');
  await rejectsAsync(() => r({ map_merge: [{}] }, '2015-10-15'), 400, 'InvalidTemplateVersion');
  assert.deepEqual(await r({ map_replace: [{ k1: 'v1', k2: 'v2' }, { keys: { k1: 'K1' }, values: { v2: 'V2' } }] }, '2016-10-14'),
    { K1: 'v1', k2: 'V2' });
  await rejectsAsync(() => r({ map_replace: [{ a: 1, b: 2 }, { keys: { a: 'b' } }] }, '2016-10-14'), 400, 'StackValidationFailed',
    'key replacement b collides with a key in the input map');
  await rejectsAsync(() => r({ map_replace: [{ a: 1 }, { other: {} }] }, '2016-10-14'), 400, 'StackValidationFailed', 'Incorrect arguments to "map_replace"');
  await rejectsAsync(() => r({ map_replace: [{}, {}] }, '2016-04-08'), 400, 'InvalidTemplateVersion');
});

test('if, including the nullable form of 2021-04-16', async () => {
  const body = { parameters: { env: { type: 'string', default: 'prod' } }, conditions: { prod: { equals: [{ get_param: 'env' }, 'prod'] } } };
  const opts = { params: { env: 'prod' }, conditions: { prod: true } };
  assert.equal(await r({ if: ['prod', 'big', 'small'] }, '2016-10-14', opts, body), 'big');
  assert.equal(await r({ if: ['prod', 'big', 'small'] }, '2016-10-14', { ...opts, conditions: { prod: false } }, body), 'small');
  assert.equal(await r({ if: [false, 'big', 'small'] }, '2016-10-14', opts, body), 'small');
  // an inline condition as the first argument
  assert.equal(await r({ if: [{ equals: [{ get_param: 'env' }, 'dev'] }, 'a', 'b'] }, '2016-10-14', opts, body), 'b');
  await rejectsAsync(() => r({ if: ['nope', 1, 2] }, '2016-10-14', opts, body), 400, 'StackValidationFailed', 'Invalid condition "nope"');
  await rejectsAsync(() => r({ if: ['prod', 1] }, '2016-10-14', opts, body), 400, 'StackValidationFailed',
    'Arguments to "if" must be of the form: [condition_name, value_if_true, value_if_false]');
  await rejectsAsync(() => r({ if: [true, 1, 2] }, '2016-04-08', opts), 400, 'InvalidTemplateVersion', 'The function if is not supported');
  const off = { ...opts, conditions: { prod: false } };
  assert.deepEqual(await r({ a: { if: ['prod', 1] }, b: 2, l: [1, { if: ['prod', 2] }, 3] }, '2021-04-16', off, body), { b: 2, l: [1, 3] });
  assert.equal(await r({ if: ['prod', 1] }, '2021-04-16', off, body), undefined);
  // the branch not taken is not resolved
  assert.equal(await r({ if: ['prod', 'ok', { get_file: 'missing' }] }, '2016-10-14', opts, body), 'ok');
});

test('filter, make_url, list_concat, list_concat_unique, contains, equals in values', async () => {
  assert.deepEqual(await r({ filter: [[null, 'b'], ['a', null, 'b', 'c']] }, '2017-02-24'), ['a', 'c']);
  await rejectsAsync(() => r({ filter: [[1]] }, '2017-02-24'), 400, 'StackValidationFailed', 'expected 2 arguments');
  await rejectsAsync(() => r({ filter: [[1], [1]] }, '2016-10-14'), 400, 'InvalidTemplateVersion');
  assert.equal(await r({ make_url: { scheme: 'http', host: 'example.com', port: 8080, path: '/a b', query: { q: 'x/y z', n: 1 }, fragment: 'f' } },
    '2017-09-01'), 'http://example.com:8080/a%20b?q=x/y+z&n=1#f');
  assert.equal(await r({ make_url: { scheme: 'https', host: '::1', username: 'u@x', password: 'p' } }, '2017-09-01'), 'https://u%40x:p@[::1]');
  await rejectsAsync(() => r({ make_url: { host: 'h', port: 70000 } }, '2017-09-01'), 400, 'StackValidationFailed', 'Invalid URL port 70000');
  await rejectsAsync(() => r({ make_url: { hostname: 'h' } }, '2017-09-01'), 400, 'StackValidationFailed', 'Invalid arguments to "make_url": hostname');
  await rejectsAsync(() => r({ make_url: { host: 'h' } }, '2017-02-24'), 400, 'InvalidTemplateVersion');
  assert.deepEqual(await r({ list_concat: [['a', 'b'], null, ['a']] }, '2017-09-01'), ['a', 'b', 'a']);
  assert.deepEqual(await r({ list_concat_unique: [['a', 'b'], ['a', { x: 1 }, { x: 1 }]] }, '2017-09-01'), ['a', 'b', { x: 1 }]);
  await rejectsAsync(() => r({ list_concat: [['a'], 'b'] }, '2017-09-01'), 400, 'StackValidationFailed', 'Items to concat must be lists');
  assert.equal(await r({ contains: ['a', ['a', 'b']] }, '2017-09-01'), true);
  assert.equal(await r({ contains: [3, [1, 2]] }, '2017-09-01'), false);
  await rejectsAsync(() => r({ contains: ['a', 3] }, '2017-09-01'), 400, 'StackValidationFailed', 'Second argument to "contains" should be a sequence.');
  await rejectsAsync(() => r({ contains: ['a', ['a']] }, '2017-02-24'), 400, 'InvalidTemplateVersion');
});

test('yaql is refused clearly; resource_facade only in nested stacks', async () => {
  await rejectsAsync(() => r({ yaql: { expression: '$.data', data: {} } }, '2016-10-14'), 400, 'StackValidationFailed', 'yaql is not supported by this cloud');
  await rejectsAsync(() => r({ resource_facade: 'metadata' }, '2016-04-08'), 400, 'StackValidationFailed', 'nested stack');
  await rejectsAsync(() => r({ resource_facade: 'tags' }, '2016-04-08'), 400, 'StackValidationFailed',
    'Incorrect arguments to "resource_facade" should be one of: metadata, deletion_policy, update_policy');
  const fc = { ...fcFor(T('2016-04-08')), resourceFacade: async (a: string) => ({ attr: a }) };
  assert.deepEqual(await resolve({ resource_facade: 'metadata' }, fc), { attr: 'metadata' });
});

test('CFN functions in 2013-05-23 and cfn templates; removed from 2014-10-16', async () => {
  const opts = { params: { p: 'pv' }, refs: { srv: 'id-1' }, attrs: { srv: { name: 'vm' } } };
  assert.equal(await r({ Ref: 'srv' }, '2013-05-23', opts), 'id-1');
  assert.equal(await r({ Ref: 'p' }, '2013-05-23', opts), 'pv');
  await rejectsAsync(() => r({ Ref: 'zz' }, '2013-05-23', opts), 400, 'InvalidTemplateReference', 'The specified reference "zz" (in unknown) is incorrect.');
  assert.equal(await r({ 'Fn::Join': ['-', ['a', 'b']] }, '2013-05-23'), 'a-b');
  assert.deepEqual(await r({ 'Fn::Split': [',', 'a,b'] }, '2013-05-23'), ['a', 'b']);
  assert.equal(await r({ 'Fn::Replace': [{ $x: 'y' }, 'a$x'] }, '2013-05-23'), 'ay');
  assert.equal(await r({ 'Fn::Base64': 'plain' }, '2013-05-23'), 'plain');
  assert.deepEqual(await r({ 'Fn::GetAZs': '' }, '2013-05-23'), ['nova']);
  assert.deepEqual(await r({ 'Fn::MemberListToMap': ['Name', 'Value', ['.member.0.Name=k', '.member.0.Value=v', '.member.1.Name=k2', '.member.1.Value=v2']] },
    '2013-05-23'), { k: 'v', k2: 'v2' });
  assert.equal(await r({ 'Fn::Select': ['1', ['a', 'b']] }, '2014-10-16'), 'b');
  assert.equal(await r({ 'Fn::Select': [5, ['a', 'b']] }, '2014-10-16'), '');
  assert.equal(await r({ 'Fn::Select': ['k', { k: 'v' }] }, '2014-10-16'), 'v');
  await rejectsAsync(() => r({ 'Fn::Select': ['1', ['a', 'b']] }, '2015-10-15'), 400, 'InvalidTemplateVersion',
    'The template version is invalid: The function Fn::Select is not supported in this version of HOT.');
  for (const fn of ['Fn::Join', 'Ref', 'Fn::Base64', 'Fn::GetAZs', 'Fn::Split', 'Fn::Replace', 'Fn::MemberListToMap', 'Fn::ResourceFacade']) {
    await rejectsAsync(() => r({ [fn]: 'x' }, '2014-10-16', opts), 400, 'InvalidTemplateVersion', `The function ${fn} is not supported`);
  }
  const cfn = parseTemplate({
    AWSTemplateFormatVersion: '2010-09-09', Parameters: { P: { Type: 'String' } }, Mappings: { M: { k: { v: 'found' } } },
    Resources: { R: { Type: 'T' } }, Conditions: { yes: { 'Fn::Equals': [{ Ref: 'P' }, 'a'] } },
  });
  const fc = fcFor(cfn, { params: { P: 'a' }, refs: { R: 'rid' }, attrs: { R: { x: 1 } }, conditions: { yes: true } });
  assert.equal(await resolve({ 'Fn::GetAtt': ['R', 'x'] }, fc), 1);
  assert.equal(await resolve({ Ref: 'R' }, fc), 'rid');
  assert.equal(await resolve({ 'Fn::FindInMap': ['M', 'k', 'v'] }, fc), 'found');
  assert.equal(await resolve({ 'Fn::If': ['yes', 1, 2] }, fc), 1);
  // a HOT function in a cfn template is just a map
  assert.deepEqual(await resolve({ get_param: 'P' }, fc), { get_param: 'P' });
  await rejectsAsync(() => resolve({ 'Fn::GetAtt': ['R'] }, fc), 400, 'StackValidationFailed', 'Arguments to "Fn::GetAtt" must be of the form');
});

test('plain maps with several keys are not functions; unknown single keys are maps', async () => {
  assert.deepEqual(await r({ get_param: 'p', other: 1 }, '2016-04-08', { params: { p: 1 } }), { get_param: 'p', other: 1 });
  assert.deepEqual(await r({ foo: { bar: 1 } }, '2016-04-08'), { foo: { bar: 1 } });
});

test('conditions: equals/not/and/or/contains, references between conditions, errors', () => {
  const t = hot('2017-09-01', {
    parameters: { env: { type: 'string' }, zones: { type: 'comma_delimited_list' } },
    conditions: {
      prod: { equals: [{ get_param: 'env' }, 'prod'] },
      dev: { not: 'prod' },
      both: { and: ['prod', { not: 'dev' }] },
      either: { or: ['dev', false] },
      inZone: { contains: ['az1', { get_param: 'zones' }] },
      always: true,
    },
  });
  assert.deepEqual(evaluateConditions(t, { env: 'prod', zones: ['az1'] }),
    { prod: true, dev: false, both: true, either: false, inZone: true, always: true });
  assert.deepEqual(evaluateConditions(t, { env: 'dev', zones: [] }),
    { prod: false, dev: true, both: false, either: true, inZone: false, always: true });
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: { not: 'b' }, b: { not: 'a' } } }), {}), 400, 'StackValidationFailed',
    'Circular definition for condition');
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: 'b', b: true } }), {}), 400, 'StackValidationFailed',
    'The definition of condition "a" is invalid: b');
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: { not: 'zz' } } }), {}), 400, 'StackValidationFailed', 'Invalid condition "zz"');
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: { get_attr: ['x', 'y'] } } }), {}), 400, 'StackValidationFailed',
    'The function "get_attr" is invalid in this context');
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: { contains: ['x', ['x']] } } }), {}), 400, 'StackValidationFailed',
    'The definition of condition "a" is invalid');
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: { not: { contains: ['x', ['x']] } } } }), {}), 400, 'InvalidTemplateVersion',
    'The function contains is not supported in this version of HOT.');
  assert.deepEqual(evaluateConditions(hot('2017-09-01', { conditions: { a: { contains: ['x', ['x']] } } }), {}), { a: true });
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: { and: ['b'] }, b: true } }), {}), 400, 'StackValidationFailed',
    'The minimum number of condition arguments to "and" is 2.');
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: { equals: [1] } } }), {}), 400, 'StackValidationFailed',
    'Arguments to "equals" must be of the form: [value_1, value_2]');
  rejects(() => evaluateConditions(hot('2016-10-14', { conditions: { a: { get_param: 'p' } } }), { p: 'str' }), 400, 'StackValidationFailed',
    'The definition of condition "a" is invalid: str');
  assert.deepEqual(evaluateConditions(hot('2016-10-14', { conditions: { a: { get_param: 'p' } } }), { p: true }), { a: true });
  const cfn = parseTemplate({ AWSTemplateFormatVersion: '2010-09-09', Parameters: { P: { Type: 'String' } },
    Conditions: { a: { 'Fn::Equals': [{ Ref: 'P' }, 'x'] }, b: { 'Fn::Not': ['a'] }, c: { 'Fn::Or': ['a', 'b'] } } });
  assert.deepEqual(evaluateConditions(cfn, { P: 'x' }), { a: true, b: false, c: true });
});

test('conditionHolds: names, booleans, inline expressions', () => {
  const t = hot('2016-10-14', { parameters: { p: { type: 'string' } }, conditions: { c: true } });
  assert.equal(conditionHolds(undefined, { c: false }, t, {}), true);
  assert.equal(conditionHolds('c', { c: false }, t, {}), false);
  assert.equal(conditionHolds(false, {}, t, {}), false);
  assert.equal(conditionHolds({ equals: [{ get_param: 'p' }, 'x'] }, {}, t, { p: 'x' }), true);
  assert.equal(conditionHolds({ not: 'c' }, { c: true }, t, {}), false);
  rejects(() => conditionHolds('zz', {}, t, {}), 400, 'StackValidationFailed', 'Invalid condition "zz"');
});

test('referencedResources, statically and with conditions', () => {
  const t = hot('2016-10-14', {
    conditions: { c: true },
    resources: { a: { type: 'T' }, b: { type: 'T' }, c: { type: 'T' }, d: { type: 'T' } },
  });
  const v = { x: { get_resource: 'a' }, y: [{ get_attr: ['b', 'ip', 0] }], z: { if: ['c', { get_resource: 'c' }, { get_attr: ['d'] }] },
    w: { get_resource: 'unknown' }, s: { str_replace: { template: 'x', params: { x: { get_resource: 'a' } } } } };
  assert.deepEqual([...referencedResources(v, t)].sort(), ['a', 'b', 'c', 'd']);
  assert.deepEqual([...referencedResources(v, t, { c: false })].sort(), ['a', 'b', 'd']);
  const old = hot('2013-05-23', { resources: { a: { type: 'T' } }, parameters: { p: { type: 'string' } } });
  assert.deepEqual([...referencedResources([{ Ref: 'a' }, { Ref: 'p' }], old)], ['a']);
});

test('validateFunctions: unknown functions, shapes, params, resources, conditions', () => {
  const base = {
    parameters: { p: { type: 'string' } },
    resources: { a: { type: 'T', properties: { x: { get_param: 'p' }, y: { get_attr: ['a', 'z'] } } } },
    outputs: { o: { value: { get_resource: 'a' } } },
  };
  validateFunctions(hot('2016-04-08', base));
  validateFunctions(hot('2016-04-08', { ...base, resources: { a: { type: 'T', properties: { x: { get_param: 'OS::stack_name' } } } } }));
  const bad = (props: unknown, version = '2016-04-08', extra: Record<string, unknown> = {}) =>
    () => validateFunctions(hot(version, { ...base, resources: { a: { type: 'T', properties: props } }, ...extra }));
  // Undeclared parameters: properties report them when resolved, outputs as output_error; elsewhere here.
  validateFunctions(hot('2016-04-08', { ...base, resources: { a: { type: 'T', properties: { x: { get_param: 'nope' } } } } }));
  validateFunctions(hot('2016-04-08', { ...base, outputs: { o: { value: { get_param: 'nope' } } } }));
  rejects(() => validateFunctions(hot('2016-04-08', { ...base, resources: { a: { type: 'T', metadata: { x: { get_param: 'nope' } } } } })),
    400, 'StackValidationFailed', 'resources.a.metadata.x.get_param: The Parameter (nope) was not provided.');
  rejects(bad({ x: { get_resource: 'nope' } }), 400, 'InvalidTemplateReference', 'The specified reference "nope" (in resources.a.properties.x) is incorrect.');
  rejects(bad({ x: [{ get_attr: ['nope', 'a'] }] }), 400, 'InvalidTemplateReference', '"nope"');
  rejects(bad({ x: { list_join: ',' } }), 400, 'StackValidationFailed', 'resources.a.properties.x.list_join: Incorrect arguments to "list_join"');
  rejects(bad({ x: { str_replace_strict: {} } }), 400, 'InvalidTemplateVersion', 'str_replace_strict is not supported');
  rejects(bad({ x: { 'Fn::Join': [',', []] } }), 400, 'InvalidTemplateVersion', 'Fn::Join is not supported');
  rejects(bad({ x: { yaql: { expression: '1' } } }, '2016-10-14'), 400, 'StackValidationFailed', 'yaql is not supported by this cloud');
  rejects(bad({ x: { if: ['nope', 1, 2] } }, '2016-10-14'), 400, 'StackValidationFailed', 'Invalid condition "nope"');
  rejects(bad({ x: { make_url: { port: 'abc' } } }, '2017-09-01'), 400, 'StackValidationFailed', 'Invalid URL port "abc"');
  rejects(bad({ x: { digest: ['nope', 'x'] } }, '2015-04-30'), 400, 'StackValidationFailed', 'Algorithm must be one of');
  rejects(() => validateFunctions(hot('2016-10-14', { resources: { a: { type: 'T', condition: 'nope' } } })), 400, 'StackValidationFailed',
    'resources.a.condition: Invalid condition "nope"');
  rejects(() => validateFunctions(hot('2016-10-14', { conditions: { c: { get_resource: 'a' } }, resources: { a: { type: 'T' } } })), 400,
    'StackValidationFailed', 'The function "get_resource" is invalid in this context');
  rejects(() => validateFunctions(hot('2016-10-14', { conditions: { c: 'x' } })), 400, 'StackValidationFailed', 'The definition of condition "c" is invalid');
  rejects(() => validateFunctions(hot('2016-10-14', { outputs: { o: { value: { get_file: 'f' } } } }), { files: {} }), 400, 'StackValidationFailed',
    'outputs.o.value.get_file: No content found');
  validateFunctions(hot('2016-10-14', { outputs: { o: { value: { get_file: 'f' } } } }), { files: { f: 'x' } });
});
