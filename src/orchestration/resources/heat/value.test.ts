import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoneResource, Value, typedValue } from './value.ts';
import { fakeResource } from './testing.ts';

test('Value answers its value converted to the declared type', async () => {
  const r = fakeResource(Value, { value: '42', type: 'number' });
  await Value.handleCreate(r);
  assert.equal(await Value.resolveAttribute(r, 'value'), 42);
  assert.deepEqual(typedValue('a, b', 'comma_delimited_list'), ['a', 'b']);
  assert.deepEqual(typedValue('{"x": 1}', 'json'), { x: 1 });
  assert.equal(typedValue('true', 'boolean'), true);
  assert.deepEqual(typedValue({ k: [1] }, undefined), { k: [1] });
  await assert.rejects(Value.validate!({ value: 'abc', type: 'number' }, {} as any), (e: any) => e.status === 400);
});

test('None accepts any properties and answers null for any attribute', async () => {
  assert.equal(NoneResource.acceptsAnyProperties, true);
  const r = fakeResource(NoneResource, { whatever: 1 });
  await NoneResource.handleCreate(r);
  assert.ok(r.physicalId);
  assert.equal(await NoneResource.resolveAttributePath!(r, 'anything', ['x']), null);
});
