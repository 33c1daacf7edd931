import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudConfig, MultipartMime, SoftwareConfigResource, StructuredConfig } from './software_config.ts';
import { fakeResource, testCloud } from './testing.ts';
import { getConfig } from '../../software/store.ts';

test('SoftwareConfig stores its config; refId is the config id; delete removes it', async () => {
  const cloud = await testCloud();
  try {
    const r = fakeResource(SoftwareConfigResource, { group: 'script', config: 'echo hi', inputs: [{ name: 'foo' }], outputs: [{ name: 'result' }] },
      { cloud: cloud.ctx });
    await SoftwareConfigResource.handleCreate(r);
    await SoftwareConfigResource.handleCreate(r); // a retry writes nothing new
    const c = await getConfig(cloud.db, r.physicalId!, 'p1');
    assert.equal(c.group, 'script');
    assert.deepEqual(c.inputs, [{ name: 'foo', type: 'String', replace_on_change: false }]);
    assert.deepEqual(c.outputs, [{ name: 'result', type: 'String', error_output: false }]);
    assert.equal(c.name, r.physicalName());
    assert.equal(await SoftwareConfigResource.resolveAttribute(r, 'config'), 'echo hi');
    await SoftwareConfigResource.handleDelete(r);
    await assert.rejects(getConfig(cloud.db, r.physicalId!, null), (e: any) => e.status === 404);
    await SoftwareConfigResource.handleDelete(r); // already gone: fine
  } finally {
    await cloud.close();
  }
});

test('StructuredConfig keeps a map, CloudConfig writes #cloud-config, MultipartMime joins parts', async () => {
  const cloud = await testCloud();
  try {
    const s = fakeResource(StructuredConfig, { config: { a: { get_input: 'x' } } }, { cloud: cloud.ctx });
    await StructuredConfig.handleCreate(s);
    assert.deepEqual(await StructuredConfig.resolveAttribute(s, 'config'), { a: { get_input: 'x' } });
    const cc = fakeResource(CloudConfig, { cloud_config: { packages: ['vim'] } }, { cloud: cloud.ctx });
    await CloudConfig.handleCreate(cc);
    const text = await CloudConfig.resolveAttribute(cc, 'config') as string;
    assert.match(text, /^#cloud-config\npackages:\n  - vim\n/);
    const mm = fakeResource(MultipartMime, { parts: [{ config: cc.physicalId }, { config: '#!/bin/sh\necho x', subtype: 'x-shellscript', filename: 'x.sh' }] },
      { cloud: cloud.ctx });
    await MultipartMime.handleCreate(mm);
    const mime = await MultipartMime.resolveAttribute(mm, 'config') as string;
    assert.match(mime, /^Content-Type: multipart\/mixed; boundary=/);
    assert.ok(mime.includes('#cloud-config'));
    assert.ok(mime.includes('Content-Type: text/x-shellscript'));
    assert.ok(mime.includes('filename="x.sh"'));
  } finally {
    await cloud.close();
  }
});
