import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestResource } from './test_resource.ts';
import { fakeResource, poll, updated } from './testing.ts';

test('TestResource keeps its value, answers it as output and refers to its physical name', async () => {
  const r = fakeResource(TestResource, { value: 'foo' });
  await TestResource.handleCreate(r);
  assert.equal(await TestResource.checkCreateComplete!(r), true);
  assert.equal(await TestResource.resolveAttribute(r, 'output'), 'foo');
  assert.equal(r.physicalId, r.physicalName());
  assert.equal(TestResource.properties.wait_secs.default, 0);
  assert.equal(TestResource.handleSignal, undefined, 'TestResource takes no signals');
});

test('TestResource waits without blocking: checkCreateComplete is false until the deadline passes', async () => {
  const r = fakeResource(TestResource, { wait_secs: 0.05 });
  await TestResource.handleCreate(r);
  assert.equal(await TestResource.checkCreateComplete!(r), false);
  await poll(() => TestResource.checkCreateComplete!(r));
  // action_wait_secs overrides wait_secs for its action
  const r2 = fakeResource(TestResource, { wait_secs: 100, action_wait_secs: { create: 0 } });
  await TestResource.handleCreate(r2);
  assert.equal(await TestResource.checkCreateComplete!(r2), true);
  // -1 waits forever
  const r3 = fakeResource(TestResource, { wait_secs: -1 });
  await TestResource.handleCreate(r3);
  assert.equal(await TestResource.checkCreateComplete!(r3), false);
});

test('TestResource fail:true fails create and update, not delete', async () => {
  const r = fakeResource(TestResource, { fail: true }, { name: 'bad' });
  await TestResource.handleCreate(r);
  assert.equal(r.physicalId, null);
  await assert.rejects(TestResource.checkCreateComplete!(r), /Test Resource failed bad/);
  await TestResource.handleDelete(r);
  assert.equal(await TestResource.checkDeleteComplete!(r), true);
});

test('TestResource updates value in place; update_replace:true asks for replacement', async () => {
  const r = fakeResource(TestResource, { value: 'a' });
  await TestResource.handleCreate(r);
  const ch = updated(TestResource, r, { value: 'b' });
  assert.equal(TestResource.needsReplace!(ch), false);
  await TestResource.handleUpdate!(r, ch);
  assert.equal(await TestResource.checkUpdateComplete!(r), true);
  assert.equal(await TestResource.resolveAttribute(r, 'output'), 'b');
  assert.equal(TestResource.needsReplace!(updated(TestResource, r, { value: 'c', update_replace: true })), true);
  assert.equal(TestResource.properties.update_replace_value.update_allowed, undefined);
});
