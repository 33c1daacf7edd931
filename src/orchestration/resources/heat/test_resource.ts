// OS::Heat::TestResource: stores a string and simulates slow or failing actions, for testing
// stacks. Waits are deadlines in resource data that check* compares against the clock.
import type { ResourceContext, ResourcePlugin } from '../../types.ts';
import { sleep, startWait, waitOver } from './common.ts';

type Action = 'create' | 'update' | 'delete';

function waitSecs(r: ResourceContext, action: Action): number {
  const per = r.properties.action_wait_secs?.[action];
  const secs = per ?? r.properties.wait_secs ?? 0;
  return Number(secs);
}

function check(r: ResourceContext, action: Action): boolean {
  if (!waitOver(r, `${action}_until`)) return false;
  if (r.properties.fail && action !== 'delete') throw new Error(`Test Resource failed ${r.name}`);
  return true;
}

export const TestResource: ResourcePlugin = {
  type: 'OS::Heat::TestResource',
  description: 'Keeps the string it is given; knobs make its actions slow or failing, for testing Heat itself.',
  supportStatus: { status: 'SUPPORTED', version: '5.0.0' },
  properties: {
    value: { type: 'string', description: 'The string to keep.', default: 'test_string', update_allowed: true },
    fail: { type: 'boolean', description: 'When true, the create or update fails (after any wait).', default: false, update_allowed: true },
    update_replace: {
      type: 'boolean', description: 'Setting this to true in an update replaces the resource instead of updating it.',
      default: false, update_allowed: true,
    },
    wait_secs: { type: 'number', description: 'Seconds every action takes (-1 waits forever).', default: 0, update_allowed: true },
    action_wait_secs: {
      type: 'map', description: 'Seconds to take per action, overriding wait_secs.', update_allowed: true,
      schema: {
        create: { type: 'number', description: 'Seconds the create takes (default: wait_secs).', update_allowed: true },
        update: { type: 'number', description: 'Seconds an update takes (default: wait_secs).', update_allowed: true },
        delete: { type: 'number', description: 'Seconds the delete takes (default: wait_secs).', update_allowed: true },
      },
    },
    client_name: { type: 'string', description: 'Client to poll while waiting.', default: '', update_allowed: true },
    entity_name: { type: 'string', description: 'Entity of that client to poll while waiting.', default: '', update_allowed: true },
    attr_wait_secs: { type: 'number', description: 'Seconds that resolving the output attribute takes.', default: 0, update_allowed: true },
    update_replace_value: {
      type: 'string', description: 'A value that cannot change in place: changing it replaces the resource.',
      support_status: { status: 'SUPPORTED', version: '7.0.0' },
    },
    constraint_prop_secs: {
      type: 'number', description: 'Seconds that validating this property takes.', default: 0, update_allowed: true,
      support_status: { status: 'SUPPORTED', version: '6.0.0' },
    },
  },
  attributes: {
    output: { description: 'The stored string; referencing the resource gives it too.', type: 'string' },
  },
  async validate(props) {
    const secs = Number(props.constraint_prop_secs ?? 0);
    if (secs > 0) await sleep(secs * 1000);
  },
  async handleCreate(r) {
    if (!r.properties.fail) {
      await r.setData('value', String(r.properties.value ?? ''));
      if (!r.physicalId) await r.setPhysicalId(r.physicalName());
    }
    await startWait(r, 'create_until', waitSecs(r, 'create'));
  },
  async checkCreateComplete(r) { return check(r, 'create'); },
  needsReplace(change) {
    return change.changed.includes('update_replace') && !!change.newProperties.update_replace;
  },
  async handleUpdate(r, change) {
    const valueChanged = change.changed.includes('value');
    if (valueChanged && !r.properties.fail) await r.setData('value', String(r.properties.value ?? ''));
    await startWait(r, 'update_until', valueChanged ? waitSecs(r, 'update') : 0, true);
  },
  async checkUpdateComplete(r) { return check(r, 'update'); },
  async handleDelete(r) { await startWait(r, 'delete_until', waitSecs(r, 'delete')); },
  async checkDeleteComplete(r) { return check(r, 'delete'); },
  async resolveAttribute(r, name) {
    if (name !== 'output') return null;
    const secs = Number(r.properties.attr_wait_secs ?? 0);
    if (secs > 0) await sleep(secs * 1000);
    return r.data.value ?? null;
  },
  refId(r) { return r.physicalId; },
};
