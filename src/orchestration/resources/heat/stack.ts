// OS::Heat::Stack: a stack created from a template given as a property. Heat creates it through
// the Heat API of the given region; this cloud has one Heat, so it is a nested stack of this
// resource, after the region and the template are checked as that API would check them.
import { parse as parseYaml } from 'yaml';
import type { ResourcePlugin } from '../../types.ts';
import { ClientError, validationFailed } from '../../types.ts';
import { nestedDeleted, nestedDone, selectPath } from './common.ts';

export function parseTemplate(text: unknown): Record<string, unknown> {
  if (text && typeof text === 'object' && !Array.isArray(text)) return text as Record<string, unknown>;
  let t: unknown;
  try { t = parseYaml(String(text ?? '')); } catch (e: any) {
    throw validationFailed(`Failed to parse the template of the stack: ${e.message}`);
  }
  if (!t || typeof t !== 'object' || Array.isArray(t)) throw validationFailed('The template of the stack must be a map');
  return t as Record<string, unknown>;
}

export const RemoteStack: ResourcePlugin = {
  type: 'OS::Heat::Stack',
  description: 'A stack made from the template in its properties, in the region given by its context.',
  supportStatus: { status: 'SUPPORTED', version: '6.0.0' },
  properties: {
    context: {
      type: 'map', description: 'Where the stack is created.',
      schema: {
        region_name: { type: 'string', description: 'Region of the Heat that creates the stack.' },
        ca_cert: { type: 'string', description: 'CA certificate to trust on that Heat endpoint.', support_status: { status: 'SUPPORTED', version: '12.0.0' } },
        insecure: { type: 'boolean', description: 'Skip certificate checks on that Heat endpoint.', default: false, support_status: { status: 'SUPPORTED', version: '12.0.0' } },
        credential_secret_id: {
          type: 'string', description: 'Secret holding the credentials of another OpenStack cloud.',
          support_status: { status: 'SUPPORTED', version: '12.0.0' },
        },
      },
    },
    template: { type: 'string', description: 'The template of the stack.', required: true, update_allowed: true },
    timeout: { type: 'integer', description: 'Minutes the stack has to be created.', update_allowed: true },
    parameters: { type: 'map', description: 'Parameter values of the stack.', default: {}, update_allowed: true },
  },
  attributes: {
    stack_name: { description: 'Name of the stack.', type: 'string' },
    outputs: { description: 'Map of the stack\'s output names to their values.', type: 'map' },
  },
  async validate(props, { client }) {
    const region = props.context?.region_name;
    if (region) {
      const found = await client.find('identity', `/regions/${encodeURIComponent(region)}`).catch(() => null);
      if (!found) {
        throw validationFailed(`Cannot establish connection to Heat endpoint at region "${region}" due to ` +
          `"public endpoint for orchestration service in ${region} region not found"`);
      }
    }
    const template = parseTemplate(props.template);
    try {
      await client.request('orchestration', 'POST', '/validate', { template, parameters: props.parameters ?? {} });
    } catch (e) {
      if (!(e instanceof ClientError) || e.status >= 500) throw e;
      const msg = (e.body as any)?.error?.message ?? e.message;
      throw validationFailed(`Failed validating stack template using Heat endpoint at region "${region ?? 'RegionOne'}" due to "ERROR: ${msg}"`);
    }
  },
  async handleCreate(r) {
    const id = await r.nested.create({
      template: parseTemplate(r.properties.template), parameters: r.properties.parameters ?? {},
      timeoutMins: r.properties.timeout ?? undefined,
    });
    if (r.physicalId !== id) await r.setPhysicalId(id);
  },
  async checkCreateComplete(r) { return nestedDone(r, r.physicalId, 'CREATE'); },
  async handleUpdate(r) {
    if (!r.physicalId) return RemoteStack.handleCreate(r);
    await r.nested.update(r.physicalId, {
      template: parseTemplate(r.properties.template), parameters: r.properties.parameters ?? {},
      timeoutMins: r.properties.timeout ?? undefined,
    });
  },
  async checkUpdateComplete(r) { return nestedDone(r, r.physicalId, 'UPDATE'); },
  async handleDelete(r) { if (r.physicalId) await r.nested.delete(r.physicalId); },
  async checkDeleteComplete(r) { return nestedDeleted(r, r.physicalId); },
  // The engine suspends and resumes nested stacks with their owner; nothing else to do here.
  async handleSuspend() {},
  async handleResume() {},
  async resolveAttribute(r, name) {
    if (!r.physicalId) return null;
    if (name === 'outputs') return r.nested.outputs(r.physicalId);
    if (name === 'stack_name') {
      const s = await r.client.find('orchestration', `/stacks/${r.physicalId}`).catch(() => null);
      return selectPath(s, ['stack', 'stack_name']);
    }
    return null;
  },
};
