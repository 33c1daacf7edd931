// Parsing Glance's two JSON-patch dialects, and what each bad operation is answered with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../core/errors.ts';
import { parsePatch, patchDraft } from './patch.ts';

const fails = (status: number, fn: () => unknown, message?: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ApiError && e.status === status && (!message || message.test(e.message)));

test('v2.1 (op/path/value) and v2.0 (add/remove/replace member) forms', () => {
  assert.deepEqual(parsePatch([{ op: 'replace', path: '/name', value: 'x' }], 10),
    [{ op: 'replace', path: ['name'], value: 'x', draft: 10 }]);
  assert.deepEqual(parsePatch([{ add: '/a~1b~0c', value: 'v' }, { remove: '/old' }], 4), [
    { op: 'add', path: ['a/b~c'], value: 'v', draft: 4 },
    { op: 'remove', path: ['old'], draft: 4 },
  ]);
});

test('media types: the two JSON-patch types, 415 with Accept-Patch otherwise', () => {
  assert.equal(patchDraft('application/openstack-images-v2.1-json-patch'), 10);
  assert.equal(patchDraft('application/openstack-images-v2.0-json-patch; charset=UTF-8'), 4);
  assert.throws(() => patchDraft('application/json'), (e: ApiError) =>
    e.status === 415 && /v2\.0-json-patch, application\/openstack-images-v2\.1-json-patch/.test(e.extra.headers!['Accept-Patch']));
  fails(415, () => patchDraft(undefined));
});

test('malformed operations are 400s', () => {
  fails(400, () => parsePatch(undefined, 10), /Body expected/);
  fails(400, () => parsePatch({ op: 'add' }, 10), /JSON array/);
  fails(400, () => parsePatch(['x'], 10), /JSON objects/);
  fails(400, () => parsePatch([{ path: '/name', value: 'x' }], 10), /Unable to find `op`/);
  fails(400, () => parsePatch([{ op: 'move', path: '/name', value: 'x' }], 10), /Invalid operation: `move`/);
  fails(400, () => parsePatch([{ op: 'add', value: 'x' }], 10), /Unable to find 'path'/);
  fails(400, () => parsePatch([{ op: 'add', path: 'name', value: 'x' }], 10), /does not start with/);
  fails(400, () => parsePatch([{ op: 'add', path: '/a//b', value: 'x' }], 10), /adjacent/);
  fails(400, () => parsePatch([{ op: 'add', path: '/a/', value: 'x' }], 10), /end with/);
  fails(400, () => parsePatch([{ op: 'add', path: '/a~2', value: 'x' }], 10), /recognized escape/);
  fails(400, () => parsePatch([{ op: 'add', path: '/a/b', value: 'x' }], 10), /Invalid JSON pointer/);
  fails(400, () => parsePatch([{ op: 'add', path: '/name' }], 10), /requires a member named "value"/);
  fails(400, () => parsePatch([{ add: '/a', remove: '/b' }], 4), /only one member/);
  fails(400, () => parsePatch([{ value: 'x' }], 4), /exactly one member/);
});

test('read-only and reserved attributes are 403s; schema violations 400s', () => {
  fails(403, () => parsePatch([{ op: 'replace', path: '/status', value: 'active' }], 10), /'status' is read-only/);
  fails(403, () => parsePatch([{ op: 'remove', path: '/id' }], 10), /read-only/);
  fails(403, () => parsePatch([{ op: 'add', path: '/os_glance_foo', value: 'x' }], 10), /reserved/);
  fails(403, () => parsePatch([{ op: 'add', path: '/deleted', value: 'x' }], 10), /reserved/);
  fails(400, () => parsePatch([{ op: 'replace', path: '/min_ram', value: 'many' }], 10), /is not of type 'integer'/);
  fails(400, () => parsePatch([{ op: 'replace', path: '/visibility', value: 'everyone' }], 10), /is not one of/);
  fails(400, () => parsePatch([{ op: 'add', path: '/custom', value: 5 }], 10), /is not of type 'string'/);
  fails(400, () => parsePatch([{ op: 'add', path: '/kernel_id', value: 'not-a-uuid' }], 10), /does not match/);
  fails(400, () => parsePatch([{ op: 'replace', path: '/tags', value: ['x'.repeat(256)] }], 10), /too long/);
  fails(400, () => parsePatch([{ op: 'replace', path: '/protected', value: 'yes' }], 10), /'boolean'/);
  assert.equal(parsePatch([{ op: 'add', path: '/locations/-', value: { url: 'http://x', metadata: {} } }], 10).length, 1);
});
