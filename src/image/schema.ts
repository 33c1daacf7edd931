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
  id: { type: 'string', description: 'The image UUID', pattern: UUID_PATTERN },
  name: { type: ['null', 'string'], description: 'A free-form name chosen by the owner', maxLength: 255 },
  status: { type: 'string', readOnly: true, description: 'Where the image is in its lifecycle', enum: IMAGE_STATUSES },
  visibility: { type: 'string', description: 'Who may see and use the image', enum: VISIBILITIES },
  protected: { type: 'boolean', description: 'When true, the image cannot be deleted' },
  os_hidden: { type: 'boolean', description: 'When true, the image is left out of image lists unless asked for' },
  checksum: { type: ['null', 'string'], readOnly: true, description: 'MD5 digest of the stored data', maxLength: 32 },
  os_hash_algo: { type: ['null', 'string'], readOnly: true, description: 'Name of the hash function behind os_hash_value', maxLength: 64 },
  os_hash_value: { type: ['null', 'string'], readOnly: true, description: 'Digest of the stored data, computed with os_hash_algo', maxLength: 128 },
  owner: { type: ['null', 'string'], description: 'Project that owns the image', maxLength: 255 },
  size: { type: ['null', 'integer'], readOnly: true, description: 'Length of the stored data, in bytes' },
  virtual_size: { type: ['null', 'integer'], readOnly: true, description: 'Size of the disk the data expands to, in bytes' },
  container_format: { type: ['null', 'string'], description: 'How the disk data is packaged', enum: [null, ...CONTAINER_FORMATS] },
  disk_format: { type: ['null', 'string'], description: 'On-disk format of the image data', enum: [null, ...DISK_FORMATS] },
  created_at: { type: 'string', readOnly: true, description: 'When the image record was created' },
  updated_at: { type: 'string', readOnly: true, description: 'When the image record last changed' },
  tags: { type: 'array', description: 'Free-form labels attached to the image', items: { type: 'string', maxLength: 255 } },
  direct_url: { type: 'string', readOnly: true, description: 'Where the store keeps the data (when exposed)' },
  min_ram: { type: 'integer', description: 'Least memory, in MiB, a server needs to boot from the image' },
  min_disk: { type: 'integer', description: 'Least root disk, in GiB, a server needs to boot from the image' },
  self: { type: 'string', readOnly: true, description: 'Link to this image' },
  file: { type: 'string', readOnly: true, description: 'Link to the image data' },
  stores: { type: 'string', readOnly: true, description: 'Identifiers of the stores holding the data; shown only with several stores configured' },
  schema: { type: 'string', readOnly: true, description: 'Link to the image schema' },
  locations: {
    type: 'array',
    description: 'Where the image data can be fetched from',
    items: {
      type: 'object',
      properties: {
        url: { type: 'string', maxLength: 255 },
        metadata: { type: 'object' },
        validation_data: {
          description: 'Hash and hash-algorithm values for the image; once the image has data they must equal the recorded ones',
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
  kernel_id: { type: ['null', 'string'], pattern: UUID_PATTERN, description: 'Image to use as kernel when booting an AMI-style image', is_base: false },
  ramdisk_id: { type: ['null', 'string'], pattern: UUID_PATTERN, description: 'Image to use as ramdisk when booting an AMI-style image', is_base: false },
  instance_uuid: { type: 'string', description: 'Server this image was taken from (for information only)', is_base: false },
  architecture: { type: 'string', description: 'CPU architecture of the guest operating system', is_base: false },
  os_distro: { type: 'string', description: 'Distribution name of the guest operating system', is_base: false },
  os_version: { type: 'string', description: 'Version of the guest operating system', is_base: false },
  description: { type: 'string', description: 'Free-form text about the image', is_base: false },
  cinder_encryption_key_id: { type: 'string', description: 'Key-manager id of the key Cinder uses for volumes made from this image', is_base: false },
  cinder_encryption_key_deletion_policy: { type: 'string', enum: ['on_image_deletion', 'do_not_delete'], description: 'Whether the key named by cinder_encryption_key_id is deleted together with the image', is_base: false },
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
  member_id: { type: 'string', description: 'Project the image is shared with' },
  image_id: { type: 'string', description: 'The shared image', pattern: UUID_PATTERN },
  created_at: { type: 'string', description: 'When the membership was created' },
  updated_at: { type: 'string', description: 'When the membership last changed' },
  status: { type: 'string', description: 'Whether the member accepted the share', enum: ['pending', 'accepted', 'rejected'] },
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
  id: { type: 'string', description: 'The task UUID', pattern: UUID_PATTERN },
  type: { type: 'string', description: 'Kind of work the task does', enum: ['import', 'api_image_import', 'location_import'] },
  status: { type: 'string', description: 'Where the task is in its lifecycle', enum: ['pending', 'processing', 'success', 'failure'] },
  input: { type: ['null', 'object'], description: 'Parameters the task was given' },
  result: { type: ['null', 'object'], description: 'What the task produced' },
  owner: { type: 'string', description: 'Project that owns the task' },
  message: { type: 'string', description: 'Explanation, mainly on failure' },
  image_id: { type: 'string', description: 'Image the task works on' },
  request_id: { type: 'string', description: 'Request that started the task' },
  user_id: { type: 'string', description: 'User that started the task' },
  expires_at: { type: ['null', 'string'], description: 'When the task record may be purged' },
  created_at: { type: 'string', description: 'When the task was created' },
  updated_at: { type: 'string', description: 'When the task last changed' },
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
