import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WaitCondition, WaitConditionHandle } from './wait_condition.ts';
import { signalUrls } from './common.ts';
import { fakeResource, poll, testCloud } from './testing.ts';

test('WaitCondition completes at count distinct SUCCESS signals; same ids fold; data maps ids to data', async () => {
  const cloud = await testCloud();
  try {
    signalUrls.of = async (_c, s, n) => `http://signal/${s}/${n}`;
    const h = fakeResource(WaitConditionHandle, {}, { cloud: cloud.ctx, name: 'wait_handle' });
    await WaitConditionHandle.handleCreate(h);
    assert.match(await WaitConditionHandle.resolveAttribute(h, 'curl_cli') as string, /^curl -i -X POST .* http:\/\/signal\/.*\/wait_handle$/);
    const wc = fakeResource(WaitCondition, { handle: h.physicalId, timeout: 60, count: 4 }, { cloud: cloud.ctx });
    await WaitCondition.handleCreate(wc);
    assert.equal(await WaitCondition.checkCreateComplete!(wc), false);
    await WaitConditionHandle.handleSignal!(h, { status: 'SUCCESS' });
    await WaitConditionHandle.handleSignal!(h, { status: 'SUCCESS', reason: 'signal2', data: 'data2' });
    await WaitConditionHandle.handleSignal!(h, { status: 'SUCCESS', id: 'test5' });
    await WaitConditionHandle.handleSignal!(h, { status: 'SUCCESS', id: 'test5' });
    assert.equal(await WaitCondition.checkCreateComplete!(wc), false, 'three distinct signals so far');
    await Promise.all([WaitConditionHandle.handleSignal!(h, null), WaitConditionHandle.handleSignal!(h, {})]);
    assert.equal(await WaitCondition.checkCreateComplete!(wc), true);
    const data = JSON.parse(await WaitCondition.resolveAttribute(wc, 'data') as string);
    assert.equal(data['2'], 'data2');
    assert.equal(Object.keys(data).length, 5);
    await assert.rejects(WaitConditionHandle.handleSignal!(h, { status: 'MAYBE' }), (e: any) => e.status === 400);
  } finally {
    await cloud.close();
  }
});

test('WaitCondition fails on a FAILURE signal and on timeout', async () => {
  const cloud = await testCloud();
  try {
    const h = fakeResource(WaitConditionHandle, {}, { cloud: cloud.ctx });
    await WaitConditionHandle.handleCreate(h);
    const wc = fakeResource(WaitCondition, { handle: h.physicalId, timeout: 60 }, { cloud: cloud.ctx });
    await WaitCondition.handleCreate(wc);
    await WaitConditionHandle.handleSignal!(h, { status: 'FAILURE', reason: 'it broke' });
    await assert.rejects(WaitCondition.checkCreateComplete!(wc), /it broke/);

    const h2 = fakeResource(WaitConditionHandle, {}, { cloud: cloud.ctx });
    await WaitConditionHandle.handleCreate(h2);
    const wc2 = fakeResource(WaitCondition, { handle: h2.physicalId, timeout: 0.02, count: 2 }, { cloud: cloud.ctx });
    await WaitCondition.handleCreate(wc2);
    await WaitConditionHandle.handleSignal!(h2, {});
    await assert.rejects(poll(() => WaitCondition.checkCreateComplete!(wc2)), /1 of 2 received/);
    await assert.rejects(WaitConditionHandle.validate!({ signal_transport: 'ZAQAR_SIGNAL' }, {} as any), (e: any) => e.status === 400);
  } finally {
    await cloud.close();
  }
});
