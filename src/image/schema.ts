// The image, member and task JSON schemas Glance publishes under /v2/schemas, and the validation
// Glance performs with them: the image schema is "permissive" (additional properties must be
// strings), base properties have types, enums and lengths, and DevStack's schema-image.json adds a
// few typed custom properties (kernel_id, ramdisk_id ...).

export const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'];
export const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'];
export const IMAGE_STATUSES = ['queued', 'saving', 'active', 'killed', 'deleted', 'uploading', 'importing', 'pending_delete', 'deactivated'];
export const VISIBILITIES = ['community', 'public', 'private', 'shared'];

const UUID_PATTERN = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

type Prop = Record<string, any>;

export const BASE_PROPERTIES: Record<string, Prop> = {
  id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
  name: { type: ['null', 'string'], description: 'Descriptive name for the image', maxLength: 255 },
  status: { type: 'string', readOnly: true, description: 'Status of the image', enum: IMAGE_STATUSES },
  visibility: { type: 'string', description: 'Scope of image accessibility', enum: VISIBILITIES },
  protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
  os_hidden: { type: 'boolean', description: 'If true, image will not appear in default image list response.' },
  checksum: { type: ['null', 'string'], readOnly: true, description: 'md5 hash of image contents.', maxLength: 32 },
  os_hash_algo: { type: ['null', 'string'], readOnly: true, description: 'Algorithm to calculate the os_hash_value', maxLength: 64 },
  os_hash_value: { type: ['null', 'string'], readOnly: true, description: 'Hexdigest of the image contents using the algorithm specified by the os_hash_algo', maxLength: 128 },
  owner: { type: ['null', 'string'], description: 'Owner of the image', maxLength: 255 },
  size: { type: ['null', 'integer'], readOnly: true, description: 'Size of image file in bytes' },
  virtual_size: { type: ['null', 'integer'], readOnly: true, description: 'Virtual size of image in bytes' },
  container_format: { type: ['null', 'string'], description: 'Format of the container', enum: [null, ...CONTAINER_FORMATS] },
  disk_format: { type: ['null', 'string'], description: 'Format of the disk', enum: [null, ...DISK_FORMATS] },
  created_at: { type: 'string', readOnly: true, description: 'Date and time of image registration' },
  updated_at: { type: 'string', readOnly: true, description: 'Date and time of the last image modification' },
  tags: { type: 'array', description: 'List of strings related to the image', items: { type: 'string', maxLength: 255 } },
  direct_url: { type: 'string', readOnly: true, description: 'URL to access the image file kept in external store' },
  min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
  min_disk: { type: 'integer', description: 'Amount of disk space (in GB) required to boot image.' },
  self: { type: 'string', readOnly: true, description: 'An image self url' },
  file: { type: 'string', readOnly: true, description: 'An image file url' },
  stores: { type: 'string', readOnly: true, description: 'Store in which image data resides. Only present when the operator has enabled multiple stores. May be a comma-separated list of store identifiers.' },
  schema: { type: 'string', readOnly: true, description: 'An image schema url' },
  locations: {
    type: 'array',
    description: 'A set of URLs to access the image file kept in external store',
    items: {
      type: 'object',
      properties: {
        url: { type: 'string', maxLength: 255 },
        metadata: { type: 'object' },
        validation_data: {
          description: 'Values to be used to populate the corresponding image properties. If the image status is not \'queued\', values must exactly match those already contained in the image properties.',
          type: 'object', writeOnly: true, additionalProperties: false,
          properties: {
            checksum: { type: 'string', minLength: 32, maxLength: 32 },
            os_hash_algo: { type: 'string', maxLength: 64 },
            os_hash_value: { type: 'string', maxLength: 128 },
          },
          required: ['os_hash_algo', 'os_hash_value'],
        },
      },
      required: ['url', 'metadata'],
    },
  },
};

/** The custom properties DevStack installs with etc/schema-image.json. */
export const CUSTOM_PROPERTIES: Record<string, Prop> = {
  kernel_id: { type: ['null', 'string'], pattern: UUID_PATTERN, description: 'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.', is_base: false },
  ramdisk_id: { type: ['null', 'string'], pattern: UUID_PATTERN, description: 'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.', is_base: false },
  instance_uuid: { type: 'string', description: 'Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)', is_base: false },
  architecture: { type: 'string', description: 'Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html', is_base: false },
  os_distro: { type: 'string', description: 'Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html', is_base: false },
  os_version: { type: 'string', description: 'Operating system version as specified by the distributor.', is_base: false },
  description: { type: 'string', description: 'A human-readable string describing this image.', is_base: false },
  cinder_encryption_key_id: { type: 'string', description: 'Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image', is_base: false },
  cinder_encryption_key_deletion_policy: { type: 'string', enum: ['on_image_deletion', 'do_not_delete'], description: 'States the condition under which the Image Service will delete the object associated with the \'cinder_encryption_key_id\' image property. If this property is missing, the Image Service will take no action', is_base: false },
};

const ALL_PROPERTIES: Record<string, Prop> = { ...BASE_PROPERTIES, ...CUSTOM_PROPERTIES };

const IMAGE_LINKS = [
  { rel: 'self', href: '{self}' },
  { rel: 'enclosure', href: '{file}' },
  { rel: 'describedby', href: '{schema}' },
];

export function imageSchema() {
  return { name: 'image', properties: ALL_PROPERTIES, additionalProperties: { type: 'string' }, links: IMAGE_LINKS };
}

export function imagesSchema() {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: imageSchema() },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

const MEMBER_PROPERTIES = {
  member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
  image_id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
  created_at: { type: 'string', description: 'Date and time of image member creation' },
  updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
  status: { type: 'string', description: 'The status of this image member', enum: ['pending', 'accepted', 'rejected'] },
  schema: { readOnly: true, type: 'string' },
};

export function memberSchema() { return { name: 'member', properties: MEMBER_PROPERTIES }; }
export function membersSchema() {
  return {
    name: 'members',
    properties: { members: { type: 'array', items: memberSchema() }, schema: { type: 'string' } },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}

const TASK_PROPERTIES = {
  id: { type: 'string', description: 'An identifier for the task', pattern: UUID_PATTERN },
  type: { type: 'string', description: 'The type of task represented by this content', enum: ['import', 'api_image_import', 'location_import'] },
  status: { type: 'string', description: 'The current status of this task', enum: ['pending', 'processing', 'success', 'failure'] },
  input: { type: ['null', 'object'], description: 'The parameters required by task, JSON blob' },
  result: { type: ['null', 'object'], description: 'The result of current task, JSON blob' },
  owner: { type: 'string', description: 'An identifier for the owner of this task' },
  message: { type: 'string', description: 'Human-readable informative message only included when appropriate (usually on failure)' },
  image_id: { type: 'string', description: 'Image associated with the task' },
  request_id: { type: 'string', description: 'Human-readable informative request-id' },
  user_id: { type: 'string', description: 'User associated with the task' },
  expires_at: { type: ['null', 'string'], description: 'Datetime when this resource would be subject to removal' },
  created_at: { type: 'string', description: 'Datetime when this resource was created' },
  updated_at: { type: 'string', description: 'Datetime when this resource was updated' },
  self: { type: 'string' },
  schema: { type: 'string' },
};

export function taskSchema() { return { name: 'task', properties: TASK_PROPERTIES }; }
export function tasksSchema() {
  return {
    name: 'tasks',
    properties: { tasks: { type: 'array', items: taskSchema() }, schema: { type: 'string' } },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}

// --- validation -------------------------------------------------------------------------------

function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as object).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return String(v);
}

function typeOk(v: unknown, t: string): boolean {
  switch (t) {
    case 'null': return v === null;
    case 'string': return typeof v === 'string';
    case 'boolean': return typeof v === 'boolean';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'array': return Array.isArray(v);
    case 'object': return v !== null && typeof v === 'object' && !Array.isArray(v);
    default: return true;
  }
}

/** Validates `v` against a (small subset of) JSON schema; returns jsonschema's message or null. */
function check(v: unknown, s: Prop): string | null {
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeOk(v, t))) {
      return types.length === 1 ? `${pyRepr(v)} is not of type '${types[0]}'` : `${pyRepr(v)} is not of type ${types.map((t) => `'${t}'`).join(', ')}`;
    }
  }
  if (s.enum && !s.enum.some((e: unknown) => e === v)) return `${pyRepr(v)} is not one of ${pyRepr(s.enum)}`;
  if (typeof v === 'string') {
    if (s.maxLength !== undefined && [...v].length > s.maxLength) return `${pyRepr(v)} is too long`;
    if (s.minLength !== undefined && [...v].length < s.minLength) return `${pyRepr(v)} is too short`;
    if (s.pattern && !new RegExp(s.pattern).test(v)) return `${pyRepr(v)} does not match ${pyRepr(s.pattern)}`;
  }
  if (Array.isArray(v) && s.items) {
    for (const item of v) { const e = check(item, s.items); if (e) return e; }
  }
  if (typeOk(v, 'object') && s.properties) {
    const o = v as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) return `${pyRepr(r)} is a required property`;
    for (const [k, x] of Object.entries(o)) {
      if (s.properties[k]) { const e = check(x, s.properties[k]); if (e) return e; }
      else if (s.additionalProperties === false) return `Additional properties are not allowed (${pyRepr(k)} was unexpected)`;
    }
  }
  return null;
}

/**
 * Validates an image body (or the partial image of one PATCH operation) against the image
 * schema; returns Glance's InvalidObject message, or null when valid.
 */
export function validateImage(obj: Record<string, unknown>): string | null {
  for (const [k, v] of Object.entries(obj)) {
    const s = ALL_PROPERTIES[k];
    const e = s ? check(v, s) : (typeof v === 'string' ? null : `${pyRepr(v)} is not of type 'string'`);
    if (e) return `Provided object does not match schema 'image': ${e}`;
  }
  return null;
}

export const isUuidString = (s: string) => new RegExp(UUID_PATTERN).test(s);
