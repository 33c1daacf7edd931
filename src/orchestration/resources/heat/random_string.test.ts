import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RandomString, generate } from './random_string.ts';
import { fakeResource } from './testing.ts';

test('RandomString makes 32 letters and digits by default, stable across a retried create', async () => {
  const r = fakeResource(RandomString);
  await RandomString.handleCreate(r);
  const v = await RandomString.resolveAttribute(r, 'value') as string;
  assert.match(v, /^[A-Za-z0-9]{32}$/);
  await RandomString.handleCreate(r);
  assert.equal(await RandomString.resolveAttribute(r, 'value'), v);
  assert.equal(RandomString.refId!(r), v);
});

test('RandomString honours classes, sequences and their minimums', async () => {
  const s = generate(10, [{ class: 'digits', min: 3 }], [{ sequence: '!@', min: 2 }]);
  assert.equal(s.length, 10);
  assert.ok((s.match(/[0-9]/g) ?? []).length >= 3);
  assert.ok((s.match(/[!@]/g) ?? []).length >= 2);
  assert.match(s, /^[0-9!@]+$/);
  const r = fakeResource(RandomString, { length: 8, sequence: 'octdigits' });
  await RandomString.handleCreate(r);
  assert.match(r.data.value, /^[0-7]{8}$/);
});

test('RandomString rejects minimums above the length and the deprecated sequence with classes', async () => {
  await assert.rejects(RandomString.validate!({ length: 2, character_classes: [{ class: 'digits', min: 3 }] }, {} as any),
    (e: any) => e.status === 400 && /cannot be smaller/.test(e.message));
  await assert.rejects(RandomString.validate!({ length: 8, sequence: 'digits', character_classes: [{ class: 'digits', min: 1 }] }, {} as any),
    /deprecated 'sequence'/);
  await RandomString.validate!({ length: 32 }, {} as any);
});
