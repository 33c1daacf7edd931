import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceGroup } from './resource_group.ts';
import { fakeResource, poll, updated } from './testing.ts';

const def = { type: 'OS::Heat::TestResource', properties: { value: 'srv-%index%' } };

test('ResourceGroup builds members 0..n-1 with %index% replaced and completes with its nested stack', async () => {
  const r = fakeResource(ResourceGroup, { count: 3, resource_def: def });
  await ResourceGroup.handleCreate(r);
  const s = r.nested.get(r.physicalId!);
  assert.deepEqual(Object.keys((s.def.template as any).resources), ['0', '1', '2']);
  assert.equal((s.def.template as any).resources['2'].properties.value, 'srv-2');
  assert.equal(await ResourceGroup.checkCreateComplete!(r), false);
  r.nested.finish(r.physicalId!);
  assert.equal(await ResourceGroup.checkCreateComplete!(r), true);
  // a retried create adopts the same nested stack
  const id = r.physicalId;
  await ResourceGroup.handleCreate(r);
  assert.equal(r.physicalId, id);
});

test('ResourceGroup attributes: refs, refs_map, member lists, resource.<n> and attributes paths', async () => {
  const r = fakeResource(ResourceGroup, { count: 2, resource_def: def });
  await ResourceGroup.handleCreate(r);
  const s = r.nested.get(r.physicalId!);
  s.attrs = { 0: { output: 'a', net: { ip: '10.0.0.1' } }, 1: { output: 'b', net: { ip: '10.0.0.2' } } };
  assert.deepEqual(await ResourceGroup.resolveAttribute(r, 'refs'), ['ref-0', 'ref-1']);
  assert.deepEqual(await ResourceGroup.resolveAttribute(r, 'refs_map'), { 0: 'ref-0', 1: 'ref-1' });
  assert.deepEqual(await ResourceGroup.resolveAttributePath!(r, 'output', []), ['a', 'b']);
  assert.deepEqual(await ResourceGroup.resolveAttributePath!(r, 'net', ['ip']), ['10.0.0.1', '10.0.0.2']);
  assert.equal(await ResourceGroup.resolveAttributePath!(r, 'resource.1', []), 'ref-1');
  assert.equal(await ResourceGroup.resolveAttributePath!(r, 'resource.1', ['output']), 'b');
  assert.equal(await ResourceGroup.resolveAttributePath!(r, 'resource.0.net', ['ip']), '10.0.0.1');
  assert.deepEqual(await ResourceGroup.resolveAttributePath!(r, 'attributes', ['output']), { 0: 'a', 1: 'b' });
  await assert.rejects(ResourceGroup.resolveAttributePath!(r, 'resource.7', []), (e: any) => e.status === 400);
});

test('ResourceGroup update resizes in place; removal policies blacklist names for good', async () => {
  const r = fakeResource(ResourceGroup, { count: 3, resource_def: def });
  await ResourceGroup.handleCreate(r);
  r.nested.finish(r.physicalId!);
  const ch = updated(ResourceGroup, r, { count: 2, resource_def: def, removal_policies: [{ resource_list: ['ref-0'] }] });
  await ResourceGroup.handleUpdate!(r, ch);
  const s = r.nested.get(r.physicalId!);
  assert.equal(s.updates, 1);
  assert.deepEqual(Object.keys((s.def.template as any).resources), ['1', '2']);
  assert.deepEqual(await ResourceGroup.resolveAttribute(r, 'removed_rsrc_list'), ['0']);
  assert.equal(await ResourceGroup.checkUpdateComplete!(r), false);
  r.nested.finish(r.physicalId!);
  await poll(() => ResourceGroup.checkUpdateComplete!(r));
  // growing again never reuses '0'
  await ResourceGroup.handleUpdate!(r, updated(ResourceGroup, r, { count: 3, resource_def: def, removal_policies: [] }));
  assert.deepEqual(Object.keys((r.nested.get(r.physicalId!).def.template as any).resources), ['1', '2', '3']);
  // a failed nested update fails the resource with the nested reason
  r.nested.finish(r.physicalId!, 'boom');
  await assert.rejects(ResourceGroup.checkUpdateComplete!(r), /boom/);
});

test('ResourceGroup delete waits for the nested stack to go', async () => {
  const r = fakeResource(ResourceGroup, { count: 0, resource_def: def });
  await ResourceGroup.handleCreate(r);
  assert.deepEqual((r.nested.get(r.physicalId!).def.template as any).resources, {});
  await ResourceGroup.handleDelete(r);
  assert.equal(await ResourceGroup.checkDeleteComplete!(r), false);
  r.nested.finish(r.physicalId!);
  assert.equal(await ResourceGroup.checkDeleteComplete!(r), true);
});
