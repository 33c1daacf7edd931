import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteStack } from './stack.ts';
import { fakeResource, updated } from './testing.ts';
import { ClientError, type OpenStackClient } from '../../types.ts';

const tmpl = 'heat_template_version: 2013-05-23\nresources:\n  random1:\n    type: OS::Heat::RandomString\n';

function client(opts: { regions?: string[]; validateError?: string } = {}): OpenStackClient {
  return {
    async find(_s, path) { return (opts.regions ?? ['RegionOne']).some((r) => path === `/regions/${r}`) ? { region: {} } : null; },
    async request() {
      if (opts.validateError) throw new ClientError(400, 'bad', { error: { message: opts.validateError, type: 'StackValidationFailed' } });
      return { status: 200, headers: {}, body: {} };
    },
  };
}

test('OS::Heat::Stack creates its template as a nested stack and answers its outputs', async () => {
  const r = fakeResource(RemoteStack, { template: tmpl, context: { region_name: 'RegionOne' } });
  await RemoteStack.validate!(r.properties, { client: client() });
  await RemoteStack.handleCreate(r);
  const s = r.nested.get(r.physicalId!);
  assert.equal((s.def.template as any).resources.random1.type, 'OS::Heat::RandomString');
  s.outputs = { remote_key: 'x' };
  r.nested.finish(r.physicalId!);
  assert.equal(await RemoteStack.checkCreateComplete!(r), true);
  assert.deepEqual(await RemoteStack.resolveAttribute(r, 'outputs'), { remote_key: 'x' });
  await RemoteStack.handleUpdate!(r, updated(RemoteStack, r, { template: tmpl.replace('random1', 'random2') }));
  assert.ok((r.nested.get(r.physicalId!).def.template as any).resources.random2);
});

test('OS::Heat::Stack rejects an unknown region and an invalid template with Heat\'s messages', async () => {
  await assert.rejects(RemoteStack.validate!({ template: tmpl, context: { region_name: 'DARKHOLE' } }, { client: client() }),
    (e: any) => e.status === 400 && /Cannot establish connection to Heat endpoint at region "DARKHOLE" due to "public endpoint for orchestration service in DARKHOLE region not found"/.test(e.message));
  await assert.rejects(RemoteStack.validate!({ template: tmpl, context: { region_name: 'RegionOne' } },
    { client: client({ validateError: 'The template section is invalid: resource' }) }),
  (e: any) => e.status === 400 && e.message === 'Failed validating stack template using Heat endpoint at region "RegionOne" due to "ERROR: The template section is invalid: resource"');
});
