// The servers' tables and their data access: `instances` (the row Nova calls an Instance, shared
// by contract with quotas and hypervisors: live rows have deleted = 0), its metadata, tags,
// faults and the instance actions/events history. Rows are read in batches (one query per
// related table for a whole page) so that listing 1,000 servers costs a handful of queries.
import type { Queryable, Tx } from '../../core/db/index.ts';
import { bool, fromJson, toJson } from '../../core/db/index.ts';
import type { Migration } from '../../core/db/migrate.ts';
import type { FlavorSpec } from '../../core/virt.ts';
import { nowIso, uuid as newUuid } from '../../core/ids.ts';

export const migrations: Migration[] = [{
  id: 'compute-100-instances',
  sql: `
CREATE TABLE instances (
  uuid TEXT PRIMARY KEY,
  id INTEGER NOT NULL,
  project_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  display_name TEXT,
  display_description TEXT,
  hostname TEXT,
  vcpus INTEGER NOT NULL,
  memory_mb INTEGER NOT NULL,
  root_gb INTEGER NOT NULL,
  ephemeral_gb INTEGER NOT NULL,
  swap_mb INTEGER NOT NULL DEFAULT 0,
  flavor_id TEXT NOT NULL,
  flavor TEXT NOT NULL,
  old_flavor TEXT,
  image_ref TEXT,
  host TEXT,
  node TEXT,
  availability_zone TEXT,
  requested_availability_zone TEXT,
  vm_state TEXT NOT NULL,
  task_state TEXT,
  power_state INTEGER NOT NULL DEFAULT 0,
  key_name TEXT,
  key_data TEXT,
  user_data TEXT,
  config_drive TEXT NOT NULL DEFAULT '',
  access_ip_v4 TEXT,
  access_ip_v6 TEXT,
  auto_disk_config INTEGER NOT NULL DEFAULT 0,
  reservation_id TEXT NOT NULL,
  launch_index INTEGER NOT NULL DEFAULT 0,
  locked_by TEXT,
  locked_reason TEXT,
  progress INTEGER NOT NULL DEFAULT 0,
  launched_at TEXT,
  terminated_at TEXT,
  security_groups TEXT NOT NULL DEFAULT '[]',
  requested_networks TEXT,
  scheduler_hints TEXT NOT NULL DEFAULT '{}',
  trusted_certs TEXT,
  block_device_mapping TEXT NOT NULL DEFAULT '[]',
  system_metadata TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  deleted_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX instances_id_uq ON instances (id);
CREATE INDEX instances_project_idx ON instances (project_id, deleted, created_at);
CREATE INDEX instances_deleted_idx ON instances (deleted, created_at);
CREATE INDEX instances_updated_idx ON instances (updated_at);
CREATE INDEX instances_node_idx ON instances (node, deleted);
CREATE INDEX instances_host_idx ON instances (host, deleted);
CREATE INDEX instances_reservation_idx ON instances (reservation_id);
CREATE TABLE instance_metadata (
  instance_uuid TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (instance_uuid, key)
);
CREATE TABLE instance_tags (
  instance_uuid TEXT NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (instance_uuid, tag)
);
CREATE INDEX instance_tags_tag_idx ON instance_tags (tag);
CREATE TABLE instance_faults (
  id TEXT PRIMARY KEY,
  instance_uuid TEXT NOT NULL,
  code INTEGER NOT NULL,
  message TEXT NOT NULL,
  details TEXT,
  host TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX instance_faults_instance_idx ON instance_faults (instance_uuid, created_at);
CREATE TABLE instance_actions (
  id TEXT PRIMARY KEY,
  action TEXT NOT NULL,
  instance_uuid TEXT NOT NULL,
  request_id TEXT NOT NULL,
  user_id TEXT,
  project_id TEXT,
  start_time TEXT NOT NULL,
  finish_time TEXT,
  message TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX instance_actions_instance_idx ON instance_actions (instance_uuid, created_at);
CREATE INDEX instance_actions_request_idx ON instance_actions (instance_uuid, request_id);
CREATE TABLE instance_actions_events (
  id TEXT PRIMARY KEY,
  action_id TEXT NOT NULL,
  event TEXT NOT NULL,
  start_time TEXT NOT NULL,
  finish_time TEXT,
  result TEXT,
  traceback TEXT,
  details TEXT,
  host TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX instance_actions_events_action_idx ON instance_actions_events (action_id, start_time)`,
}];

// Nova's vm_states and task_states (nova/compute/vm_states.py, task_states.py).
export const VM = {
  ACTIVE: 'active', BUILDING: 'building', PAUSED: 'paused', SUSPENDED: 'suspended', STOPPED: 'stopped',
  RESCUED: 'rescued', RESIZED: 'resized', SOFT_DELETED: 'soft-delete', DELETED: 'deleted', ERROR: 'error',
  SHELVED: 'shelved', SHELVED_OFFLOADED: 'shelved_offloaded',
} as const;

/** The flavor as the instance keeps it (Nova embeds a copy: deleting the flavor does not change servers). */
export interface InstanceFlavor extends FlavorSpec {
  /** flavors.id (migrations' *_instance_type_id). */
  internalId?: number;
  rxtxFactor?: number;
  isPublic?: boolean;
  description?: string | null;
}

export interface Instance {
  uuid: string;
  id: number;
  projectId: string;
  userId: string;
  displayName: string;
  displayDescription: string | null;
  hostname: string;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  ephemeralGb: number;
  swapMb: number;
  flavorId: string;
  flavor: InstanceFlavor;
  oldFlavor: InstanceFlavor | null;
  imageRef: string;
  host: string | null;
  node: string | null;
  availabilityZone: string | null;
  requestedAvailabilityZone: string | null;
  vmState: string;
  taskState: string | null;
  powerState: number;
  keyName: string | null;
  keyData: string | null;
  userData: string | null;
  configDrive: string;
  accessIpV4: string | null;
  accessIpV6: string | null;
  autoDiskConfig: boolean;
  reservationId: string;
  launchIndex: number;
  lockedBy: string | null;
  lockedReason: string | null;
  progress: number;
  launchedAt: string | null;
  terminatedAt: string | null;
  securityGroups: string[];
  requestedNetworks: unknown;
  schedulerHints: Record<string, unknown>;
  trustedCerts: string[] | null;
  blockDeviceMapping: unknown[];
  systemMetadata: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  deleted: boolean;
}

/**
 * An instance row. The JSON columns are parsed on first use only (prototype getters): a page of
 * 1,000 servers never needs most of them.
 */
class InstanceRecord {
  declare uuid: string;
  declare id: number;
  declare projectId: string;
  declare userId: string;
  declare displayName: string;
  declare displayDescription: string | null;
  declare hostname: string;
  declare vcpus: number;
  declare memoryMb: number;
  declare rootGb: number;
  declare ephemeralGb: number;
  declare swapMb: number;
  declare flavorId: string;
  declare imageRef: string;
  declare host: string | null;
  declare node: string | null;
  declare availabilityZone: string | null;
  declare requestedAvailabilityZone: string | null;
  declare vmState: string;
  declare taskState: string | null;
  declare powerState: number;
  declare keyName: string | null;
  declare keyData: string | null;
  declare userData: string | null;
  declare configDrive: string;
  declare accessIpV4: string | null;
  declare accessIpV6: string | null;
  declare autoDiskConfig: boolean;
  declare reservationId: string;
  declare launchIndex: number;
  declare lockedBy: string | null;
  declare lockedReason: string | null;
  declare progress: number;
  declare launchedAt: string | null;
  declare terminatedAt: string | null;
  declare createdAt: string;
  declare updatedAt: string;
  declare deletedAt: string | null;
  declare deleted: boolean;
  #raw: any;
  #parsed: Record<string, unknown> | null = null;
  constructor(r: any) {
    this.#raw = r;
    this.uuid = r.uuid;
    this.id = Number(r.id);
    this.projectId = r.project_id;
    this.userId = r.user_id;
    this.displayName = r.display_name ?? '';
    this.displayDescription = r.display_description ?? null;
    this.hostname = r.hostname ?? '';
    this.vcpus = Number(r.vcpus);
    this.memoryMb = Number(r.memory_mb);
    this.rootGb = Number(r.root_gb);
    this.ephemeralGb = Number(r.ephemeral_gb);
    this.swapMb = Number(r.swap_mb);
    this.flavorId = r.flavor_id;
    this.imageRef = r.image_ref ?? '';
    this.host = r.host ?? null;
    this.node = r.node ?? null;
    this.availabilityZone = r.availability_zone ?? null;
    this.requestedAvailabilityZone = r.requested_availability_zone ?? null;
    this.vmState = r.vm_state;
    this.taskState = r.task_state ?? null;
    this.powerState = Number(r.power_state);
    this.keyName = r.key_name ?? null;
    this.keyData = r.key_data ?? null;
    this.userData = r.user_data ?? null;
    this.configDrive = r.config_drive ?? '';
    this.accessIpV4 = r.access_ip_v4 ?? null;
    this.accessIpV6 = r.access_ip_v6 ?? null;
    this.autoDiskConfig = bool(r.auto_disk_config);
    this.reservationId = r.reservation_id;
    this.launchIndex = Number(r.launch_index);
    this.lockedBy = r.locked_by ?? null;
    this.lockedReason = r.locked_reason ?? null;
    this.progress = Number(r.progress ?? 0);
    this.launchedAt = r.launched_at ?? null;
    this.terminatedAt = r.terminated_at ?? null;
    this.createdAt = r.created_at;
    this.updatedAt = r.updated_at;
    this.deletedAt = r.deleted_at ?? null;
    this.deleted = Number(r.deleted) !== 0;
  }
  #json<T>(col: string, dflt: T): T {
    const p = (this.#parsed ??= {});
    if (!(col in p)) p[col] = fromJson(this.#raw[col], dflt);
    return p[col] as T;
  }
  get flavor() { return this.#json<InstanceFlavor>('flavor', null as any); }
  get oldFlavor() { return this.#json<InstanceFlavor | null>('old_flavor', null); }
  get securityGroups() { return this.#json<string[]>('security_groups', []); }
  get requestedNetworks() { return this.#json<unknown>('requested_networks', null); }
  get schedulerHints() { return this.#json<Record<string, unknown>>('scheduler_hints', {}); }
  get trustedCerts() { return this.#json<string[] | null>('trusted_certs', null); }
  get blockDeviceMapping() { return this.#json<unknown[]>('block_device_mapping', []); }
  get systemMetadata() { return this.#json<Record<string, string>>('system_metadata', {}); }
}

export function instanceFromRow(r: any): Instance {
  return new InstanceRecord(r) as unknown as Instance;
}

/** A live or deleted instance by uuid (null when no such row). */
export async function getInstance(q: Queryable, uuid: string): Promise<Instance | null> {
  const r = await q.get('SELECT * FROM instances WHERE uuid = ?', [uuid]);
  return r ? instanceFromRow(r) : null;
}

/**
 * The next free numeric id (for instance_name "instance-0000000a"), under a lock held until the
 * transaction ends: the caller inserts its rows (first, first + 1, ...) before anyone else reads it.
 */
export async function nextInstanceIds(t: Tx): Promise<number> {
  await t.lock('compute:instances:id');
  const r = await t.get('SELECT COALESCE(MAX(id), 0) AS m FROM instances');
  return Number(r?.m ?? 0) + 1;
}

/** Nova's instance_name template "instance-%08x". */
export const instanceName = (id: number) => `instance-${id.toString(16).padStart(8, '0')}`;

/** Chunked IN-list query over uuids, keeping the parameter count small on both databases. */
export async function byUuids<T = any>(q: Queryable, sql: (placeholders: string) => string, uuids: string[]): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < uuids.length; i += 500) {
    const chunk = uuids.slice(i, i + 500);
    out.push(...await q.all<T>(sql(chunk.map(() => '?').join(',')), chunk));
  }
  return out;
}

export async function metadataOf(q: Queryable, uuids: string[]): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const u of uuids) out.set(u, {});
  if (!uuids.length) return out;
  const rows = await byUuids(q, (p) => `SELECT instance_uuid, key, value FROM instance_metadata WHERE instance_uuid IN (${p}) ORDER BY key`, uuids);
  for (const r of rows) out.get(r.instance_uuid)![r.key] = r.value;
  return out;
}

export async function tagsOf(q: Queryable, uuids: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const u of uuids) out.set(u, []);
  if (!uuids.length) return out;
  const rows = await byUuids(q, (p) => `SELECT instance_uuid, tag FROM instance_tags WHERE instance_uuid IN (${p}) ORDER BY tag`, uuids);
  for (const r of rows) out.get(r.instance_uuid)!.push(r.tag);
  return out;
}

export interface Fault { code: number; message: string; details: string | null; createdAt: string }

/** The latest fault of each instance. */
export async function faultsOf(q: Queryable, uuids: string[]): Promise<Map<string, Fault>> {
  const out = new Map<string, Fault>();
  if (!uuids.length) return out;
  const rows = await byUuids(q, (p) => `SELECT instance_uuid, code, message, details, created_at FROM instance_faults
    WHERE instance_uuid IN (${p}) ORDER BY created_at, id`, uuids);
  for (const r of rows) out.set(r.instance_uuid, { code: Number(r.code), message: r.message, details: r.details ?? null, createdAt: r.created_at });
  return out;
}

export async function addFault(q: Queryable, uuid: string, code: number, message: string, details: string | null, host: string | null) {
  await q.run('INSERT INTO instance_faults (id, instance_uuid, code, message, details, host, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    [newUuid(), uuid, code, message.slice(0, 255), details, host, nowIso()]);
}

/** Replaces all metadata of an instance. */
export async function setMetadata(t: Queryable, uuid: string, md: Record<string, string>) {
  await t.run('DELETE FROM instance_metadata WHERE instance_uuid = ?', [uuid]);
  for (const [k, v] of Object.entries(md)) {
    await t.run('INSERT INTO instance_metadata (instance_uuid, key, value) VALUES (?, ?, ?)', [uuid, k, v]);
  }
}

export async function setTags(t: Queryable, uuid: string, tags: string[]) {
  await t.run('DELETE FROM instance_tags WHERE instance_uuid = ?', [uuid]);
  for (const tag of [...new Set(tags)]) await t.run('INSERT INTO instance_tags (instance_uuid, tag) VALUES (?, ?)', [uuid, tag]);
}

/** Column updates with updated_at, optionally only when the task_state is one of `expect` (Nova's expected_task_state). */
export async function updateInstance(q: Queryable, uuid: string, fields: Record<string, unknown>,
  opts: { expectTask?: (string | null)[]; expectVm?: string[]; live?: boolean } = {}): Promise<boolean> {
  const sets: string[] = [];
  const params: any[] = [];
  for (const [k, v] of Object.entries(fields)) {
    sets.push(`${k} = ?`);
    params.push(v === undefined ? null : (typeof v === 'object' && v !== null) ? toJson(v) : typeof v === 'boolean' ? (v ? 1 : 0) : v as any);
  }
  if (!('updated_at' in fields)) { sets.push('updated_at = ?'); params.push(nowIso()); }
  let where = 'uuid = ?';
  params.push(uuid);
  if (opts.live !== false) where += ' AND deleted = 0';
  if (opts.expectTask) {
    const vals = opts.expectTask.filter((x) => x !== null) as string[];
    const parts: string[] = [];
    if (vals.length) { parts.push(`task_state IN (${vals.map(() => '?').join(',')})`); params.push(...vals); }
    if (opts.expectTask.includes(null)) parts.push('task_state IS NULL');
    where += ` AND (${parts.join(' OR ') || '1 = 0'})`;
  }
  if (opts.expectVm) {
    where += ` AND vm_state IN (${opts.expectVm.map(() => '?').join(',')})`;
    params.push(...opts.expectVm);
  }
  const r = await q.run(`UPDATE instances SET ${sets.join(', ')} WHERE ${where}`, params);
  return r.changes > 0;
}
