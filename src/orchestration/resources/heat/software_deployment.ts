// OS::Heat::SoftwareDeployment(s) and OS::Heat::StructuredDeployment(s). A deployment row (in the
// software store) points at a config derived for each action: the source config with its inputs
// carrying values plus the deploy_* inputs, among them deploy_signal_id, the URL the server posts
// its outputs to. The resource completes when that signal (or an API update) marks the row
// COMPLETE, and fails when it is FAILED or the stack's timeout passes (the store expires it).
import type { PropertySchema, ResourceContext, ResourcePlugin } from '../../types.ts';
import { validationFailed } from '../../types.ts';
import { uuid } from '../../../core/ids.ts';
import {
  createConfig, createDeployment, deleteConfig, deleteDeployment, deploymentView, findConfig, findDeployment, signalDeployment,
  updateDeployment, TIMEOUT_REASON, type ConfigInput, type SoftwareConfig,
} from '../../software/store.ts';
import { nestedDeleted, nestedDone, selectPath, signalUrls } from './common.ts';
import { NESTED_VERSION } from './resource_group.ts';

const ACTIONS = ['CREATE', 'UPDATE', 'DELETE', 'SUSPEND', 'RESUME'];
const TRANSPORTS = ['CFN_SIGNAL', 'TEMP_URL_SIGNAL', 'HEAT_SIGNAL', 'NO_SIGNAL', 'ZAQAR_SIGNAL'];
// Both end in a POST to this cloud's signal URL; TEMP_URL (Swift) and ZAQAR have no service here.
const SERVED = ['CFN_SIGNAL', 'HEAT_SIGNAL', 'NO_SIGNAL'];
/** Heat's stack timeout default when the stack sets none (minutes). */
const DEFAULT_TIMEOUT_MINS = 60;

const COMMON_PROPERTIES: Record<string, PropertySchema> = {
  config: { type: 'string', description: 'The software config (its id) to apply to the server.', update_allowed: true },
  input_values: { type: 'map', description: 'Values of the config\'s inputs for this server.', update_allowed: true },
  actions: {
    type: 'list', description: 'Which actions of this resource apply the config to the server.', default: ['CREATE', 'UPDATE'],
    update_allowed: true, constraints: [{ allowed_values: ACTIONS }],
  },
  name: {
    type: 'string', update_allowed: true,
    description: 'Name of the derived config; the server applies its configs in the order of their names.',
  },
  signal_transport: {
    type: 'string', default: 'CFN_SIGNAL', constraints: [{ allowed_values: TRANSPORTS }],
    description: 'How the server reports its outputs: CFN_SIGNAL and HEAT_SIGNAL post them to deploy_signal_id; NO_SIGNAL completes without waiting.',
  },
};

const STRUCTURED_PROPERTIES: Record<string, PropertySchema> = {
  input_key: {
    type: 'string', default: 'get_input',
    description: 'Key of the single-key maps in the structured config that are replaced by the input of that name.',
  },
  input_values_validate: {
    type: 'string', default: 'LAX', constraints: [{ allowed_values: ['LAX', 'STRICT'] }],
    description: 'STRICT: a reference to an input that has no value is an error; LAX: it becomes null.',
  },
};

const ATTRIBUTES = {
  deploy_stdout: { description: 'Standard output of the configuration run on the server.', type: 'string' as const },
  deploy_stderr: { description: 'Standard error of the configuration run on the server.', type: 'string' as const },
  deploy_status_code: { description: 'Exit status of the configuration run on the server.', type: 'string' as const },
};

async function validateTransport(p: Record<string, any>) {
  const t = p.signal_transport ?? 'CFN_SIGNAL';
  if (!SERVED.includes(t)) throw validationFailed(`signal_transport ${t} is not supported by this cloud (no such service)`);
}

/** {input_key: name} maps replaced by the named input's value, everywhere in the structure. */
export function substituteInputs(v: unknown, inputs: Record<string, unknown>, key: string, strict: boolean): unknown {
  if (Array.isArray(v)) return v.map((x) => substituteInputs(x, inputs, key, strict));
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    if (entries.length === 1 && entries[0][0] === key && typeof entries[0][1] === 'string') {
      const name = entries[0][1] as string;
      if (name in inputs) return inputs[name];
      if (strict) throw new Error(`Failed to find input ${name} for structured config`);
      return null;
    }
    return Object.fromEntries(entries.map(([k, x]) => [k, substituteInputs(x, inputs, key, strict)]));
  }
  return v;
}

async function derivedInputs(r: ResourceContext, action: string, source: SoftwareConfig | null): Promise<ConfigInput[]> {
  const values: Record<string, unknown> = { ...(r.properties.input_values ?? {}) };
  const out: ConfigInput[] = [];
  for (const i of source?.inputs ?? []) {
    const value = i.name in values ? values[i.name] : i.default ?? null;
    delete values[i.name];
    out.push({ ...i, value });
  }
  // Input values without a declared input still reach the server.
  for (const [name, value] of Object.entries(values)) out.push({ name, type: 'String', value });
  const transport = r.properties.signal_transport ?? 'CFN_SIGNAL';
  const extra: [string, unknown, string][] = [
    ['deploy_server_id', r.properties.server, 'ID of the server the config is deployed to'],
    ['deploy_action', action, 'The action being deployed'],
    ['deploy_stack_id', `${r.stack.name}/${r.stack.id}`, 'The stack this deployment belongs to'],
    ['deploy_resource_name', r.name, 'Name of this deployment in its stack'],
    ['deploy_signal_transport', transport, 'How the server reports its outputs'],
  ];
  if (transport !== 'NO_SIGNAL') {
    extra.push(['deploy_signal_id', await signalUrls.of(r.cloud, r.stack.id, r.name), 'URL to POST the outputs to']);
    extra.push(['deploy_signal_verb', 'POST', 'HTTP method to send the outputs with']);
  }
  for (const [name, value, description] of extra) out.push({ name, type: 'String', description, value, replace_on_change: false });
  return out;
}

/**
 * Applies the config for one action: a new derived config, the deployment row pointed at it
 * (created on first use), the previous derived config removed. The pending derived config's id is
 * kept in data first so that a retry after a crash reuses it.
 */
async function runAction(r: ResourceContext, action: string, structured: boolean): Promise<void> {
  const db = r.cloud.db;
  const p = r.properties;
  const source = p.config ? await findConfig(db, String(p.config)) : null;
  if (p.config && !source) throw new Error(`Software config with id ${p.config} not found`);
  const derivedId = r.data.derived_pending ?? uuid();
  if (!r.data.derived_pending) await r.setData('derived_pending', derivedId);
  const deploymentId = r.physicalId ?? r.data.deployment_id ?? uuid();
  if (!r.data.deployment_id) await r.setData('deployment_id', deploymentId);

  const inputs = await derivedInputs(r, action, source);
  let config: unknown = source?.config ?? '';
  if (structured) {
    const values = Object.fromEntries(inputs.map((i) => [i.name, i.value]));
    config = substituteInputs(config, values, p.input_key ?? 'get_input', p.input_values_validate === 'STRICT');
  }
  await createConfig(db, r.stack.projectId, {
    id: derivedId, name: p.name || source?.name || r.physicalName(), group: source?.group || 'Heat::Ungrouped', config,
    options: source?.options ?? null, inputs, outputs: source?.outputs ?? [],
  });
  const noSignal = (p.signal_transport ?? 'CFN_SIGNAL') === 'NO_SIGNAL';
  const status = noSignal ? 'COMPLETE' : 'IN_PROGRESS';
  const reason = noSignal ? 'Not waiting for outputs signal' : 'Deploy data available';
  const deadline = noSignal ? null : Date.now() + (r.stack.timeoutMins ?? DEFAULT_TIMEOUT_MINS) * 60_000;
  const existing = await findDeployment(db, deploymentId);
  if (!existing) {
    await createDeployment(db, r.stack.projectId, {
      id: deploymentId, server_id: String(p.server), config_id: derivedId, input_values: p.input_values ?? {}, action, status,
      status_reason: reason, deadline,
    });
  } else {
    const previous = existing.config_id;
    await updateDeployment(db, deploymentId, null, {
      config_id: derivedId, input_values: p.input_values ?? {}, action, status, status_reason: reason, deadline,
    });
    if (previous && previous !== derivedId && (await findConfig(db, previous))) await deleteConfig(db, previous, null, { force: true });
  }
  if (r.physicalId !== deploymentId) await r.setPhysicalId(deploymentId);
  await r.setData('awaiting', noSignal ? null : action);
  await r.setData('derived_pending', null);
}

async function checkDeployment(r: ResourceContext): Promise<boolean> {
  if (!r.data.awaiting || !r.physicalId) return true;
  const d = await findDeployment(r.cloud.db, r.physicalId);
  if (!d) throw new Error(`Deployment ${r.physicalId} not found`);
  if (d.status === 'FAILED') throw new Error(`Deployment to server failed: ${d.status_reason}`);
  if (d.status !== 'COMPLETE') return false;
  await r.setData('awaiting', null);
  return true;
}

async function removeDeployment(r: ResourceContext): Promise<void> {
  if (!r.physicalId) return;
  const db = r.cloud.db;
  const d = await findDeployment(db, r.physicalId);
  if (!d) return;
  await deleteDeployment(db, d.id, null);
  if (d.config_id && (await findConfig(db, d.config_id))) await deleteConfig(db, d.config_id, null, { force: true });
}

/** Whether the deployment's server still exists (a lookup error counts as existing: keep waiting, bounded by the deadline). */
async function serverExists(r: ResourceContext, serverId: string): Promise<boolean> {
  try {
    return (await r.client.find('compute', `/servers/${encodeURIComponent(serverId)}`)) !== null;
  } catch {
    return true;
  }
}

async function outputOf(r: ResourceContext, name: string, path: unknown[]): Promise<unknown> {
  if (!r.physicalId) return null;
  const d = await findDeployment(r.cloud.db, r.physicalId);
  return selectPath(d?.output_values?.[name] ?? null, path);
}

function deploymentPlugin(type: string, description: string, structured: boolean): ResourcePlugin {
  const plugin: ResourcePlugin = {
    type, description, supportStatus: { status: 'SUPPORTED', version: '2014.1' },
    properties: {
      ...COMMON_PROPERTIES,
      server: { type: 'string', description: 'The server (its id) to apply the config to.', required: true },
      ...(structured ? STRUCTURED_PROPERTIES : {}),
    },
    attributes: ATTRIBUTES,
    validate: validateTransport,
    async handleCreate(r) {
      if ((r.properties.actions ?? ['CREATE', 'UPDATE']).includes('CREATE')) await runAction(r, 'CREATE', structured);
    },
    async checkCreateComplete(r) { return checkDeployment(r); },
    async handleUpdate(r) {
      if ((r.properties.actions ?? []).includes('UPDATE')) await runAction(r, 'UPDATE', structured);
    },
    async checkUpdateComplete(r) { return checkDeployment(r); },
    // Only a DELETE in actions runs a config at delete time and waits for its signal (as Heat);
    // otherwise, and whatever an earlier action left unsignalled (a create that timed out), the
    // deployment simply goes. A server that never answered the last run (still waiting, or timed
    // out) or that is gone will not answer the DELETE run either, so that is not waited for.
    async handleDelete(r) {
      const d = r.physicalId ? await findDeployment(r.cloud.db, r.physicalId) : null;
      if (r.data.awaiting && r.data.awaiting !== 'DELETE') await r.setData('awaiting', null);
      const answered = d && d.status !== 'IN_PROGRESS' && !(d.status === 'FAILED' && d.status_reason === TIMEOUT_REASON);
      if (d && answered && (r.properties.actions ?? []).includes('DELETE') && !r.data.delete_ran && (await serverExists(r, d.server_id))) {
        await runAction(r, 'DELETE', structured);
        await r.setData('delete_ran', '1');
      }
    },
    async checkDeleteComplete(r) {
      if (r.data.awaiting === 'DELETE' && r.physicalId) {
        const d = await findDeployment(r.cloud.db, r.physicalId);
        // A server that is gone will never signal; a failed delete-time run does not keep the deployment alive.
        const done = !d || !(await serverExists(r, d.server_id)) || (await checkDeployment(r).catch(() => true));
        if (!done) return false;
        await r.setData('awaiting', null);
      }
      await removeDeployment(r);
      return true;
    },
    async handleSuspend(r) { if ((r.properties.actions ?? []).includes('SUSPEND')) await runAction(r, 'SUSPEND', structured); },
    async handleResume(r) { if ((r.properties.actions ?? []).includes('RESUME')) await runAction(r, 'RESUME', structured); },
    async handleSignal(r, details) {
      if (!r.physicalId) return;
      await signalDeployment(r.cloud.db, r.physicalId, details);
    },
    async resolveAttribute(r, name) { return outputOf(r, name, []); },
    // Outputs the config declares are attributes too, so any name is looked up in the outputs.
    async resolveAttributePath(r, name, path) { return outputOf(r, name, path); },
    async show(r) {
      if (!r.physicalId) return null;
      const d = await findDeployment(r.cloud.db, r.physicalId);
      return d ? deploymentView(d) : null;
    },
  };
  return plugin;
}

export const SoftwareDeploymentResource = deploymentPlugin('OS::Heat::SoftwareDeployment',
  'Applies a software config to a server and waits for the server to report the outputs.', false);
export const StructuredDeployment = deploymentPlugin('OS::Heat::StructuredDeployment',
  'A software deployment of a structured config whose {get_input: name} maps are replaced by input values.', true);

// ------------------------------------------------------------------ one deployment per server

function groupTemplate(p: Record<string, any>, memberType: string, structured: boolean): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  for (const [key, server] of Object.entries(p.servers ?? {})) {
    const properties: Record<string, unknown> = {
      config: p.config, server, input_values: p.input_values, actions: p.actions, name: p.name, signal_transport: p.signal_transport,
    };
    if (structured) Object.assign(properties, { input_key: p.input_key, input_values_validate: p.input_values_validate });
    for (const k of Object.keys(properties)) if (properties[k] === null || properties[k] === undefined) delete properties[k];
    resources[key] = { type: memberType, properties };
  }
  return { heat_template_version: NESTED_VERSION, resources };
}

const PLURAL_ATTRIBUTES = {
  deploy_stdouts: { description: 'Map of server names to the standard output of their deployment.', type: 'map' as const },
  deploy_stderrs: { description: 'Map of server names to the standard error of their deployment.', type: 'map' as const },
  deploy_status_codes: { description: 'Map of server names to the exit status of their deployment.', type: 'map' as const },
};
const SINGULAR: Record<string, string> = { deploy_stdouts: 'deploy_stdout', deploy_stderrs: 'deploy_stderr', deploy_status_codes: 'deploy_status_code' };

function deploymentsPlugin(type: string, description: string, memberType: string, structured: boolean): ResourcePlugin {
  const plugin: ResourcePlugin = {
    type, description, supportStatus: { status: 'SUPPORTED', version: '2014.2' },
    properties: {
      ...COMMON_PROPERTIES,
      servers: {
        type: 'map', update_allowed: true,
        description: 'Map of names to server ids; each server gets a deployment, named by its key in the nested stack.',
      },
      ...(structured ? STRUCTURED_PROPERTIES : {}),
    },
    attributes: PLURAL_ATTRIBUTES,
    validate: validateTransport,
    async handleCreate(r) {
      const id = await r.nested.create({ template: groupTemplate(r.properties, memberType, structured) });
      if (r.physicalId !== id) await r.setPhysicalId(id);
    },
    async checkCreateComplete(r) { return nestedDone(r, r.physicalId, 'CREATE'); },
    async handleUpdate(r) {
      if (!r.physicalId) return plugin.handleCreate(r);
      await r.nested.update(r.physicalId, { template: groupTemplate(r.properties, memberType, structured) });
    },
    async checkUpdateComplete(r) { return nestedDone(r, r.physicalId, 'UPDATE'); },
    async handleDelete(r) { if (r.physicalId) await r.nested.delete(r.physicalId); },
    async checkDeleteComplete(r) { return nestedDeleted(r, r.physicalId); },
    async resolveAttribute(r, name) {
      if (!r.physicalId || !SINGULAR[name]) return null;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(r.properties.servers ?? {})) out[key] = await r.nested.resourceAttr(r.physicalId, key, SINGULAR[name]);
      return out;
    },
  };
  return plugin;
}

export const SoftwareDeployments = deploymentsPlugin('OS::Heat::SoftwareDeployments',
  'Applies one software config to several servers, one OS::Heat::SoftwareDeployment each.', 'OS::Heat::SoftwareDeployment', false);
export const StructuredDeployments = deploymentsPlugin('OS::Heat::StructuredDeployments',
  'Applies one structured config to several servers, one OS::Heat::StructuredDeployment each.', 'OS::Heat::StructuredDeployment', true);
