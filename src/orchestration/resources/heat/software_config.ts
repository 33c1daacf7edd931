// OS::Heat::SoftwareConfig, ::StructuredConfig, ::CloudConfig and ::MultipartMime: immutable
// configs stored through the software store (any change replaces them); refId = the config id.
import { stringify as toYaml } from 'yaml';
import { randomBytes } from 'node:crypto';
import type { PropertySchema, ResourceContext, ResourcePlugin } from '../../types.ts';
import { uuid } from '../../../core/ids.ts';
import { createConfig, deleteConfig, findConfig, type NewConfig } from '../../software/store.ts';

const IO_TYPES = ['String', 'Number', 'CommaDelimitedList', 'Json', 'Boolean'];

export const INPUTS_SCHEMA: PropertySchema = {
  type: 'list', description: 'Inputs the config takes.',
  schema: {
    '*': {
      type: 'map',
      schema: {
        name: { type: 'string', description: 'Name of the input.', required: true },
        description: { type: 'string', description: 'What the input is for.' },
        type: { type: 'string', description: 'Type of the input.', default: 'String', constraints: [{ allowed_values: IO_TYPES }] },
        default: { type: 'any', description: 'Value of the input when a deployment gives none.' },
        replace_on_change: {
          type: 'boolean', description: 'Whether a change of this input\'s value replaces the deployment instead of updating it.',
          default: false,
        },
      },
    },
  },
};

export const OUTPUTS_SCHEMA: PropertySchema = {
  type: 'list', description: 'Outputs the config produces.',
  schema: {
    '*': {
      type: 'map',
      schema: {
        name: { type: 'string', description: 'Name of the output.', required: true },
        description: { type: 'string', description: 'What the output is.' },
        type: { type: 'string', description: 'Type of the output.', default: 'String', constraints: [{ allowed_values: IO_TYPES }] },
        error_output: {
          type: 'boolean', description: 'Whether a value for this output means the deployment failed.', default: false,
        },
      },
    },
  },
};

const GROUP: PropertySchema = {
  type: 'string', default: 'Heat::Ungrouped',
  description: 'Which configuration tool on the server applies the config (e.g. script, puppet); Heat::Ungrouped by default.',
};
const OPTIONS: PropertySchema = { type: 'map', description: 'Options for the configuration tool.' };

/** Stores the config once (the id is kept in data first, so a retried create finds its row). */
async function storeConfig(r: ResourceContext, c: Omit<NewConfig, 'id' | 'name'>): Promise<void> {
  const id = r.physicalId ?? r.data.config_id ?? uuid();
  if (!r.data.config_id) await r.setData('config_id', id);
  await createConfig(r.cloud.db, r.stack.projectId, { ...c, id, name: r.physicalName() });
  if (r.physicalId !== id) await r.setPhysicalId(id);
}

function configPlugin(type: string, description: string, version: string, properties: Record<string, PropertySchema>,
  body: (r: ResourceContext) => Promise<Omit<NewConfig, 'id' | 'name'>>): ResourcePlugin {
  return {
    type, description, supportStatus: { status: 'SUPPORTED', version }, properties,
    attributes: { config: { description: 'The config as stored (what deployments hand to the server).' } },
    async handleCreate(r) { await storeConfig(r, await body(r)); },
    async handleDelete(r) {
      if (!r.physicalId) return;
      if (await findConfig(r.cloud.db, r.physicalId)) await deleteConfig(r.cloud.db, r.physicalId, null, { force: true });
    },
    async resolveAttribute(r, name) {
      if (name !== 'config' || !r.physicalId) return null;
      return (await findConfig(r.cloud.db, r.physicalId))?.config ?? null;
    },
    async show(r) { return r.physicalId ? findConfig(r.cloud.db, r.physicalId) : null; },
  };
}

export const SoftwareConfigResource = configPlugin('OS::Heat::SoftwareConfig',
  'A configuration script or manifest for a tool on the server, applied by deployments.', '2014.1', {
    group: GROUP,
    config: { type: 'string', description: 'The configuration (script, manifest ...), as the group\'s tool reads it.' },
    options: OPTIONS,
    inputs: INPUTS_SCHEMA,
    outputs: OUTPUTS_SCHEMA,
  }, async (r) => ({
    group: r.properties.group, config: r.properties.config ?? '', options: r.properties.options ?? null,
    inputs: r.properties.inputs ?? [], outputs: r.properties.outputs ?? [],
  }));

export const StructuredConfig = configPlugin('OS::Heat::StructuredConfig',
  'A configuration given as a map, for tools that take structured data; {get_input: name} in it takes input values.', '2014.1', {
    group: GROUP,
    config: { type: 'map', description: 'The configuration as a map.' },
    options: OPTIONS,
    inputs: INPUTS_SCHEMA,
    outputs: OUTPUTS_SCHEMA,
  }, async (r) => ({
    group: r.properties.group, config: r.properties.config ?? {}, options: r.properties.options ?? null,
    inputs: r.properties.inputs ?? [], outputs: r.properties.outputs ?? [],
  }));

export const CloudConfig = configPlugin('OS::Heat::CloudConfig',
  'A cloud-init cloud-config, written as a map and stored as its #cloud-config YAML.', '2014.1', {
    cloud_config: { type: 'map', description: 'The cloud-config as a map.' },
  }, async (r) => ({ group: 'Heat::Ungrouped', config: `#cloud-config\n${toYaml(r.properties.cloud_config ?? {})}` }));

/** A multipart/mixed MIME message of the parts (each a literal or a config id; multipart parts are merged). */
export async function mimeMessage(r: ResourceContext, parts: any[]): Promise<string> {
  const boundary = `===============${randomBytes(8).toString('hex')}==`;
  const out: string[] = [`Content-Type: multipart/mixed; boundary="${boundary}"`, 'MIME-Version: 1.0', ''];
  for (const p of parts ?? []) {
    let text = String(p.config ?? '');
    const stored = text ? await findConfig(r.cloud.db, text) : null;
    if (stored) text = typeof stored.config === 'string' ? stored.config : JSON.stringify(stored.config);
    if ((p.type ?? 'text') === 'multipart') {
      // Parts of an embedded multipart message become parts of this one.
      const m = /boundary="?([^"\r\n]+)"?/.exec(text);
      if (m) {
        const inner = text.split(`--${m[1]}`).slice(1).filter((s) => !s.startsWith('--'));
        for (const s of inner) out.push(`--${boundary}`, s.replace(/^\r?\n/, '').replace(/\r?\n$/, ''));
      }
      continue;
    }
    out.push(`--${boundary}`, `Content-Type: text/${p.subtype || 'plain'}; charset="us-ascii"`, 'MIME-Version: 1.0',
      'Content-Transfer-Encoding: 7bit');
    if (p.filename) out.push(`Content-Disposition: attachment; filename="${p.filename}"`);
    out.push('', text);
  }
  out.push(`--${boundary}--`, '');
  return out.join('\n');
}

export const MultipartMime = configPlugin('OS::Heat::MultipartMime',
  'Several configs joined in one multipart MIME message, as cloud-init reads user data.', '2014.1', {
    parts: {
      type: 'list', description: 'The parts of the message, in order.', default: [],
      schema: {
        '*': {
          type: 'map',
          schema: {
            config: { type: 'string', description: 'A config id or the literal content of the part.' },
            filename: { type: 'string', description: 'File name given to the part.' },
            type: {
              type: 'string', description: 'text for a single part, multipart to merge the parts of a MIME message.', default: 'text',
              constraints: [{ allowed_values: ['text', 'multipart'] }],
            },
            subtype: { type: 'string', description: 'MIME subtype of a text part (e.g. x-shellscript, cloud-config).' },
          },
        },
      },
    },
  }, async (r) => ({ group: 'Heat::Ungrouped', config: await mimeMessage(r, r.properties.parts) }));
