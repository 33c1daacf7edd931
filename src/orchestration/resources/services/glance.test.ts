// OS::Glance::WebImage: this cloud's Glance has no web-download import, so the template is
// refused at validation with a clear 400, before anything is made.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { webImage } from './glance.ts';
import { fakeClient, pluginTestEnv } from './test_helpers.ts';

const env = pluginTestEnv();

describe('OS::Glance::WebImage', () => {
  it('is refused at validate when web-download is not offered', async () => {
    await assert.rejects(webImage.validate!({ location: 'http://example.org/x.img', disk_format: 'qcow2', container_format: 'bare' }, { client: env.client }),
      (e: any) => {
        assert.equal(e.status, 400);
        assert.equal(e.extra.name, 'StackValidationFailed');
        assert.match(e.message, /web-download/);
        return true;
      });
  });
  it('passes validation where the import method is offered', async () => {
    const { client } = fakeClient(() => ({ 'import-methods': { value: ['glance-direct', 'web-download'] } }));
    await webImage.validate!({}, { client });
  });
});
