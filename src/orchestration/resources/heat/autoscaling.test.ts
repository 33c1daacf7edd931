import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AutoScalingGroup, ScalingPolicy, loadGroup, newCapacity } from './autoscaling.ts';
import { signalUrls } from './common.ts';
import { fakeResource, testCloud, updated, FakeNestedStacks } from './testing.ts';

const member = { type: 'OS::Heat::RandomString' };

test('newCapacity follows Heat\'s adjustment types, rounding and bounds', () => {
  assert.equal(newCapacity(2, 'change_in_capacity', 1, null, 1, 5), 3);
  assert.equal(newCapacity(2, 'change_in_capacity', -5, null, 1, 5), 1);
  assert.equal(newCapacity(2, 'exact_capacity', 9, null, 1, 5), 5);
  assert.equal(newCapacity(4, 'percent_change_in_capacity', 10, null, 0, 10), 5); // 0.4 rounds up to 1
  assert.equal(newCapacity(10, 'percent_change_in_capacity', 20, 3, 0, 20), 13); // 2 below the step 3
  assert.equal(newCapacity(10, 'percent_change_in_capacity', -25, null, 0, 20), 8);
});

test('AutoScalingGroup starts at desired_capacity and a ScalingPolicy signal resizes its nested stack', async () => {
  const cloud = await testCloud();
  try {
    const nested = new FakeNestedStacks();
    const g = fakeResource(AutoScalingGroup, { min_size: 1, max_size: 3, desired_capacity: 2, resource: member }, { cloud: cloud.ctx, nested });
    await AutoScalingGroup.validate!(g.properties, {} as any);
    await AutoScalingGroup.handleCreate(g);
    nested.finish(g.physicalId!);
    assert.equal(await AutoScalingGroup.checkCreateComplete!(g), true);
    assert.equal(await AutoScalingGroup.resolveAttribute(g, 'current_size'), 2);
    const before = Object.keys((nested.get(g.physicalId!).def.template as any).resources);
    assert.equal(before.length, 2);
    assert.match(before[0], /^[a-z0-9]{12}$/);

    signalUrls.of = async (_c, s, n) => `http://signal/${s}/${n}`;
    const up = fakeResource(ScalingPolicy, { auto_scaling_group_id: g.physicalId, adjustment_type: 'change_in_capacity', scaling_adjustment: 1 },
      { cloud: cloud.ctx, nested, name: 'scale_up', stack: g.stack });
    await ScalingPolicy.handleCreate(up);
    assert.equal(await ScalingPolicy.resolveAttribute(up, 'signal_url'), `http://signal/${g.stack.id}/scale_up`);
    await ScalingPolicy.handleSignal!(up, { current: 'ok' }); // not an alarm: nothing
    assert.equal(nested.get(g.physicalId!).updates, 0);
    await ScalingPolicy.handleSignal!(up, null);
    const after = Object.keys((nested.get(g.physicalId!).def.template as any).resources);
    assert.deepEqual(after.slice(0, 2), before);
    assert.equal(after.length, 3);
    assert.equal(await AutoScalingGroup.resolveAttribute(g, 'current_size'), 3);
    await ScalingPolicy.handleSignal!(up, null); // at max_size: no update
    assert.equal(nested.get(g.physicalId!).updates, 1);

    const down = fakeResource(ScalingPolicy, { auto_scaling_group_id: g.physicalId, adjustment_type: 'exact_capacity', scaling_adjustment: 1 },
      { cloud: cloud.ctx, nested, name: 'scale_down', stack: g.stack });
    await ScalingPolicy.handleSignal!(down, {});
    assert.deepEqual((await loadGroup(cloud.db, g.physicalId!))!.members, [after[2]], 'the oldest members go first');

    // group update: min_size raised above the size grows it
    await AutoScalingGroup.handleUpdate!(g, updated(AutoScalingGroup, g, { min_size: 2, max_size: 3, desired_capacity: 2, resource: member }));
    assert.equal(await AutoScalingGroup.resolveAttribute(g, 'current_size'), 2);
    await assert.rejects(AutoScalingGroup.validate!({ min_size: 3, max_size: 1 }, {} as any), /min_size can not be greater than max_size/);
  } finally {
    await cloud.close();
  }
});

test('AutoScalingGroup outputs and outputs_list take the member attribute from the path', async () => {
  const cloud = await testCloud();
  try {
    const g = fakeResource(AutoScalingGroup, { min_size: 2, max_size: 2, resource: member }, { cloud: cloud.ctx });
    await AutoScalingGroup.handleCreate(g);
    const s = g.nested.get(g.physicalId!);
    const [a, b] = Object.keys((s.def.template as any).resources);
    s.attrs = { [a]: { value: 'x' }, [b]: { value: 'y' } };
    assert.deepEqual(await AutoScalingGroup.resolveAttributePath!(g, 'outputs', ['value']), { [a]: 'x', [b]: 'y' });
    assert.deepEqual(await AutoScalingGroup.resolveAttributePath!(g, 'outputs_list', ['value']), ['x', 'y']);
    assert.deepEqual(await AutoScalingGroup.resolveAttribute(g, 'refs'), [`ref-${a}`, `ref-${b}`]);
  } finally {
    await cloud.close();
  }
});
