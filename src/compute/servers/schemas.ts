// Nova's request schemas for servers and their sub-resources, per microversion (from
// nova/api/openstack/compute/schemas/*.py and nova/api/validation/parameter_types.py), up to
// this deployment's maximum microversion.
import type { FastifyRequest } from 'fastify';
import { mv } from '../microversion.ts';
import type { Schema } from './validate.ts';

const clone = <T>(x: T): T => structuredClone(x);

// ---- parameter_types ------------------------------------------------------------------------

export const name: Schema = { type: 'string', format: 'name', minLength: 1, maxLength: 255 };
export const nameOrNone: Schema = { oneOf: [{ type: 'string', minLength: 1, maxLength: 255 }, { type: 'null' }] };
export const description: Schema = { type: ['string', 'null'], minLength: 0, maxLength: 255, pattern: '^[^\\p{C}\\p{Zl}\\p{Zp}]*$' };
export const boolean: Schema = {
  type: ['boolean', 'string'],
  enum: [true, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes',
    false, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'],
};
export const positiveInteger: Schema = { type: ['integer', 'string'], pattern: '^[0-9]*$', minimum: 1, minLength: 1 };
export const nonNegativeInteger: Schema = { type: ['integer', 'string'], pattern: '^[0-9]*$', minimum: 0, minLength: 1 };
const uuidStr: Schema = { type: 'string', format: 'uuid' };
const fqdn: Schema = { type: 'string', pattern: '^[a-zA-Z0-9-._]*$', minLength: 1, maxLength: 255 };
export const metadata: Schema = {
  type: 'object',
  patternProperties: { '^[a-zA-Z0-9-_:. ]{1,255}$': { type: 'string', maxLength: 255 } },
  additionalProperties: false,
};
const ipAddress: Schema = { type: 'string', oneOf: [{ format: 'ipv4' }, { format: 'ipv6' }] };
const diskConfig: Schema = { type: 'string', enum: ['AUTO', 'MANUAL'] };
const accessIPv4: Schema = { type: 'string', format: 'ipv4' };
const accessIPv6: Schema = { type: 'string', format: 'ipv6' };
const adminPassword: Schema = { type: 'string' };
const flavorRef: Schema = { type: ['string', 'integer'], minLength: 1 };
export const tag: Schema = { type: 'string', pattern: '^[^,/]*$', minLength: 1, maxLength: 60 };
export const MAX_TAG_COUNT = 50;
const personality: Schema = {
  type: 'array',
  items: { type: 'object', properties: { path: { type: 'string' }, contents: { type: 'string', format: 'base64' } }, additionalProperties: false },
};
const trustedCerts: Schema = { type: ['array', 'null'], minItems: 1, maxItems: 50, uniqueItems: true, items: { type: 'string', minLength: 1 } };
const volumeSize: Schema = { type: ['integer', 'string'], pattern: '^[0-9]+$', minimum: 1, maximum: 0x7fffffff };
const userData: Schema = { type: 'string', format: 'base64', maxLength: 65535 };

// ---- server create ----------------------------------------------------------------------------

const legacyBdm: Schema = {
  type: 'object',
  properties: {
    virtual_name: { type: 'string', maxLength: 255 },
    volume_id: uuidStr,
    snapshot_id: uuidStr,
    volume_size: volumeSize,
    device_name: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9._/-]*$' },
    delete_on_termination: boolean,
    no_device: {},
    connection_info: { type: 'string', maxLength: 16777215 },
  },
  additionalProperties: false,
};
const bdmV2: Schema = clone(legacyBdm);
Object.assign(bdmV2.properties!, {
  source_type: { type: 'string', enum: ['volume', 'image', 'snapshot', 'blank'] },
  uuid: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9._-]*$' },
  image_id: uuidStr,
  destination_type: { type: 'string', enum: ['local', 'volume'] },
  guest_format: { type: 'string', maxLength: 255 },
  device_type: { type: 'string', maxLength: 255 },
  disk_bus: { type: 'string', maxLength: 255 },
  boot_index: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$' },
});

const hints: Schema = {
  type: 'object',
  properties: {
    group: { oneOf: [{ type: 'array', items: uuidStr }, uuidStr] },
    different_host: { oneOf: [uuidStr, { type: 'array', items: uuidStr }] },
    same_host: { type: ['string', 'array'], items: uuidStr },
    query: { type: ['string', 'object'] },
    target_cell: name,
    different_cell: { type: ['string', 'array'], items: { type: 'string' } },
    build_near_host_ip: ipAddress,
    cidr: { type: 'string', pattern: '^/[0-9a-f.:]+$' },
  },
  additionalProperties: true,
};

const create: Schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: {
        name,
        imageRef: { oneOf: [uuidStr, { type: 'string', maxLength: 0 }] },
        flavorRef,
        adminPass: adminPassword,
        metadata,
        networks: {
          type: 'array',
          items: {
            type: 'object',
            properties: { fixed_ip: ipAddress, port: { type: ['string', 'null'], format: 'uuid' }, uuid: { type: 'string' } },
            additionalProperties: false,
          },
        },
        'OS-DCF:diskConfig': diskConfig,
        accessIPv4,
        accessIPv6,
        personality,
        availability_zone: name,
        block_device_mapping: { type: 'array', items: legacyBdm },
        block_device_mapping_v2: { type: 'array', items: bdmV2 },
        config_drive: boolean,
        key_name: name,
        min_count: positiveInteger,
        max_count: positiveInteger,
        return_reservation_id: boolean,
        security_groups: { type: 'array', items: { type: 'object', properties: { name }, additionalProperties: false } },
        user_data: userData,
      },
      required: ['name', 'flavorRef'],
      additionalProperties: false,
    },
    'os:scheduler_hints': hints,
    'OS-SCH-HNT:scheduler_hints': hints,
  },
  required: ['server'],
  additionalProperties: false,
};
const srv = (s: Schema) => s.properties!.server.properties!;

const createV219 = clone(create);
srv(createV219).description = description;
const createV232 = clone(createV219);
srv(createV232).networks.items!.properties!.tag = tag;
srv(createV232).block_device_mapping_v2.items!.properties!.tag = tag;
const createV233 = clone(createV219);
srv(createV233).networks.items!.properties!.tag = tag;
const createV237 = clone(createV233);
createV237.properties!.server.required!.push('networks');
srv(createV237).networks = {
  oneOf: [
    {
      type: 'array',
      items: {
        type: 'object',
        properties: { fixed_ip: ipAddress, port: { type: ['string', 'null'], format: 'uuid' }, uuid: uuidStr },
        additionalProperties: false,
      },
    },
    { type: 'string', enum: ['none', 'auto'] },
  ],
};
const createV242 = clone(createV237);
srv(createV242).networks.oneOf![0].items!.properties!.tag = tag;
srv(createV242).block_device_mapping_v2.items!.properties!.tag = tag;
const createV252 = clone(createV242);
srv(createV252).tags = { type: 'array', items: tag, maxItems: MAX_TAG_COUNT };
const createV257 = clone(createV252);
delete srv(createV257).personality;
const createV263 = clone(createV257);
srv(createV263).trusted_image_certificates = trustedCerts;
const createV267 = clone(createV263);
srv(createV267).block_device_mapping_v2.items!.properties!.volume_type = { type: ['string', 'null'], minLength: 0, maxLength: 255 };
const createV274 = clone(createV267);
srv(createV274).host = fqdn;
srv(createV274).hypervisor_hostname = fqdn;

export function createSchema(req: FastifyRequest): Schema {
  const v = mv(req);
  if (v.atLeast('2.74')) return createV274;
  if (v.atLeast('2.67')) return createV267;
  if (v.atLeast('2.63')) return createV263;
  if (v.atLeast('2.57')) return createV257;
  if (v.atLeast('2.52')) return createV252;
  if (v.atLeast('2.42')) return createV242;
  if (v.atLeast('2.37')) return createV237;
  if (v.atLeast('2.33')) return createV233;
  if (v.atLeast('2.32')) return createV232;
  if (v.atLeast('2.19')) return createV219;
  return create;
}

// ---- update / rebuild / resize ------------------------------------------------------------------

const update: Schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: { name, 'OS-DCF:diskConfig': diskConfig, accessIPv4, accessIPv6 },
      additionalProperties: false,
    },
  },
  required: ['server'],
  additionalProperties: false,
};
const updateV219 = clone(update);
srv(updateV219).description = description;
export const updateSchema = (req: FastifyRequest) => (mv(req).atLeast('2.19') ? updateV219 : update);

const rebuild: Schema = {
  type: 'object',
  properties: {
    rebuild: {
      type: 'object',
      properties: {
        name, imageRef: uuidStr, adminPass: adminPassword, metadata, preserve_ephemeral: boolean,
        'OS-DCF:diskConfig': diskConfig, accessIPv4, accessIPv6, personality,
      },
      required: ['imageRef'],
      additionalProperties: false,
    },
  },
  required: ['rebuild'],
  additionalProperties: false,
};
const rb = (s: Schema) => s.properties!.rebuild.properties!;
const rebuildV219 = clone(rebuild);
rb(rebuildV219).description = description;
const rebuildV254 = clone(rebuildV219);
rb(rebuildV254).key_name = nameOrNone;
const rebuildV257 = clone(rebuildV254);
delete rb(rebuildV257).personality;
rb(rebuildV257).user_data = { type: ['string', 'null'], format: 'base64', maxLength: 65535 };
const rebuildV263 = clone(rebuildV257);
rb(rebuildV263).trusted_image_certificates = trustedCerts;

export function rebuildSchema(req: FastifyRequest): Schema {
  const v = mv(req);
  if (v.atLeast('2.63')) return rebuildV263;
  if (v.atLeast('2.57')) return rebuildV257;
  if (v.atLeast('2.54')) return rebuildV254;
  if (v.atLeast('2.19')) return rebuildV219;
  return rebuild;
}

const obj = (key: string, inner: Schema): Schema => ({ type: 'object', properties: { [key]: inner }, required: [key], additionalProperties: false });
/** `{"<action>": <anything>}`, the historical schema of the bodiless actions. */
export const anyBody = (key: string): Schema => obj(key, {});

export const resizeSchema = obj('resize', {
  type: 'object', properties: { flavorRef, 'OS-DCF:diskConfig': diskConfig }, required: ['flavorRef'], additionalProperties: false,
});
export const createImageSchema = obj('createImage', {
  type: 'object', properties: { name, metadata }, required: ['name'], additionalProperties: false,
});
export const createBackupSchema = obj('createBackup', {
  type: 'object', properties: { name, backup_type: { type: 'string' }, rotation: nonNegativeInteger, metadata },
  required: ['name', 'backup_type', 'rotation'], additionalProperties: false,
});
export const rebootSchema = obj('reboot', {
  type: 'object', properties: { type: { type: 'string', enum: ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft'] } },
  required: ['type'], additionalProperties: false,
});
export const lockSchema = (req: FastifyRequest) => (mv(req).atLeast('2.73')
  ? obj('lock', { type: ['object', 'null'], properties: { locked_reason: { type: 'string', minLength: 1, maxLength: 255 } }, additionalProperties: false })
  : anyBody('lock'));
export const rescueSchema = obj('rescue', {
  type: ['object', 'null'], properties: { adminPass: adminPassword, rescue_image_ref: uuidStr }, additionalProperties: false,
});
export const unshelveSchema = (req: FastifyRequest) => (mv(req).atLeast('2.77')
  ? obj('unshelve', { type: ['object', 'null'], properties: { availability_zone: name }, required: ['availability_zone'], additionalProperties: false })
  : anyBody('unshelve'));
export const consoleOutputSchema = obj('os-getConsoleOutput', {
  type: 'object', properties: { length: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$', minimum: -1 } }, additionalProperties: false,
});
export const resetStateSchema = obj('os-resetState', {
  type: 'object', properties: { state: { type: 'string', enum: ['active', 'error'] } }, required: ['state'], additionalProperties: false,
});
export const changePasswordSchema = obj('changePassword', {
  type: 'object', properties: { adminPass: adminPassword }, required: ['adminPass'], additionalProperties: false,
});
export const triggerCrashDumpSchema = obj('trigger_crash_dump', { type: 'null' });
export const migrateSchema = obj('migrate', { type: ['object', 'null'], properties: { host: { type: ['string', 'null'], pattern: '^[a-zA-Z0-9-._]*$', maxLength: 255 } }, additionalProperties: false });
export const migrateLiveSchema = obj('os-migrateLive', {
  type: 'object',
  properties: { host: { type: ['string', 'null'], maxLength: 255 }, block_migration: { type: ['boolean', 'string'] }, disk_over_commit: { type: ['boolean', 'string'] }, force: boolean },
  required: ['host'], additionalProperties: false,
});
export const evacuateSchema = obj('evacuate', {
  type: 'object',
  properties: { host: { type: 'string', maxLength: 255 }, onSharedStorage: boolean, adminPass: adminPassword, force: boolean },
  additionalProperties: false,
});
export const securityGroupActionSchema = (key: string) => obj(key, {
  type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'], additionalProperties: false,
});

// ---- metadata / tags ------------------------------------------------------------------------

export const metadataSetSchema: Schema = obj('metadata', metadata);
export const metadataItemSchema: Schema = obj('meta', { ...clone(metadata), minProperties: 1, maxProperties: 1 });
export const tagsSchema: Schema = obj('tags', { type: 'array', items: tag, maxItems: MAX_TAG_COUNT });

// ---- list query ------------------------------------------------------------------------------

const multi = (s: Schema): Schema => ({ type: 'array', items: s });
const single = (s: Schema): Schema => ({ type: 'array', items: s, maxItems: 1 });
const qp = multi({ type: 'string' });
const qre = multi({ type: 'string', format: 'regex' });

export const SERVER_LIST_IGNORE_SORT_KEY = [
  'architecture', 'cell_name', 'cleaned', 'default_ephemeral_device', 'default_swap_device', 'deleted', 'deleted_at',
  'disable_terminate', 'ephemeral_gb', 'ephemeral_key_uuid', 'id', 'key_data', 'launched_on', 'locked', 'memory_mb',
  'os_type', 'reservation_id', 'root_gb', 'shutdown_terminate', 'user_data', 'vcpus', 'vm_mode',
];
export const VALID_SORT_KEYS = [
  'access_ip_v4', 'access_ip_v6', 'auto_disk_config', 'availability_zone', 'config_drive', 'created_at',
  'display_description', 'display_name', 'host', 'hostname', 'image_ref', 'instance_type_id', 'kernel_id', 'key_name',
  'launch_index', 'launched_at', 'locked_by', 'node', 'power_state', 'progress', 'project_id', 'ramdisk_id',
  'root_device_name', 'task_state', 'terminated_at', 'updated_at', 'user_id', 'uuid', 'vm_state',
];

export function listQuerySchema(req: FastifyRequest): Schema {
  const v = mv(req);
  let sortKeys = [...VALID_SORT_KEYS, ...SERVER_LIST_IGNORE_SORT_KEY];
  if (v.atLeast('2.73')) sortKeys = [...VALID_SORT_KEYS, 'locked', ...SERVER_LIST_IGNORE_SORT_KEY.filter((k) => k !== 'locked')];
  if (v.atLeast('2.75')) sortKeys = [...VALID_SORT_KEYS, 'locked'];
  const props: Record<string, Schema> = {
    user_id: qp, project_id: qp, tenant_id: qp, launch_index: qp, image_ref: qp, image: qp,
    kernel_id: qre, ramdisk_id: qre, hostname: qre, key_name: qre, power_state: qre, vm_state: qp, task_state: qp,
    host: qp, node: qre, flavor: qre, reservation_id: qre, launched_at: qre, terminated_at: qre, availability_zone: qre,
    name: qre, display_name: qre, description: qre, display_description: qre, locked_by: qre, uuid: qp,
    root_device_name: qre, config_drive: qre, access_ip_v4: qre, access_ip_v6: qre, auto_disk_config: qre, progress: qre,
    sort_key: multi({ type: 'string', enum: sortKeys }), sort_dir: qp, all_tenants: qp, soft_deleted: qp, deleted: qp,
    status: qp, 'changes-since': multi({ type: 'string', format: 'date-time' }), ip: qre, ip6: qre, created_at: qre,
    block_device_mapping: qp, services: qp, metadata: qp, system_metadata: qp, info_cache: qp, security_groups: qp,
    pci_devices: qp, limit: multi(nonNegativeInteger), marker: multi({ type: 'string' }),
  };
  if (v.atLeast('2.26')) Object.assign(props, { tags: qre, 'tags-any': qre, 'not-tags': qre, 'not-tags-any': qre });
  if (v.atLeast('2.66')) props['changes-before'] = multi({ type: 'string', format: 'date-time' });
  if (v.atLeast('2.73')) props.locked = qp;
  return {
    type: 'object', properties: props, additionalProperties: !v.atLeast('2.75'),
    patternProperties: { '^_': qp },
  };
}

export function instanceActionsQuerySchema(req: FastifyRequest): Schema | null {
  const v = mv(req);
  if (v.below('2.58')) return null;
  const props: Record<string, Schema> = {
    limit: single(nonNegativeInteger), marker: single({ type: 'string' }), 'changes-since': single({ type: 'string', format: 'date-time' }),
  };
  if (v.atLeast('2.66')) props['changes-before'] = single({ type: 'string', format: 'date-time' });
  return { type: 'object', properties: props, additionalProperties: false };
}

export const externalEventsSchema = (req: FastifyRequest): Schema => {
  const names = ['network-changed', 'network-vif-plugged', 'network-vif-unplugged', 'network-vif-deleted'];
  const v = mv(req);
  if (v.atLeast('2.51')) names.push('volume-extended');
  if (v.atLeast('2.76')) names.push('power-update');
  return {
    type: 'object',
    properties: {
      events: {
        type: 'array', minItems: 1,
        items: {
          type: 'object',
          properties: {
            server_uuid: uuidStr,
            name: { type: 'string', enum: names },
            status: { type: 'string', enum: ['failed', 'completed', 'in-progress'] },
            tag: { type: 'string', maxLength: 255 },
          },
          required: ['server_uuid', 'name'],
          additionalProperties: false,
        },
      },
    },
    required: ['events'],
    additionalProperties: false,
  };
};
