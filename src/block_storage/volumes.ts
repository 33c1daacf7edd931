// Cinder's volumes: POST/GET/PUT/DELETE /volumes, /volumes/detail, volume metadata, and the
// durable tasks that realise them on the volume driver (create — empty, from an image, a
// snapshot or another volume —, delete, extend). The database holds the desired state; a task
// written in the same transaction converges the backend towards it, and every handler is safe to
// run again after a crash (the driver's createVolume is idempotent per volume id).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { AuthContext } from '../core/auth.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { VirtDriverError, type VolumeLocation, type VolumeSource } from '../core/virt.ts';
import { PermanentError, type TaskRecord } from '../core/tasks.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { isUuid, nowIso, uuid } from '../core/ids.ts';
import { cinderTime } from './db.ts';
import { atLeast, requireVersion } from './microversion.ts';
import { createHash } from 'node:crypto';
import { ACTIONS, DETAILS, recordMessage, type MessageEvent } from './messages.ts';
import { groupForNewVolume } from './groups.ts';
import { satisfiesExtraSpecs } from './capabilities.ts';
import { enforceVolumeQuota } from './quotas.ts';
import { assertNotFrozen, backendState } from './services.ts';
import { resolveVolumeType, volumeSpecFromType } from './types.ts';
import {
  allowed, collectionLinks, invalidInput, isAdmin, listRows, looseBool, notFoundError, optionalString, paginationParams,
  parseMetadataFilter, queryParams, resourceLinks, sortParams, validateMetadata,
} from './common.ts';

export const TASK_CREATE = 'cinder.volume.create';
export const TASK_DELETE = 'cinder.volume.delete';
export const TASK_EXTEND = 'cinder.volume.extend';

/** The one availability zone of this cloud's volumes (Cinder's storage_availability_zone). */
export const VOLUME_AZ = 'nova';
const GiB = 1024 ** 3;

// ---- rows ---------------------------------------------------------------------------------

export interface VolumeRow {
  id: string; project_id: string; user_id: string; name: string | null; description: string | null;
  size: number; status: string; attach_status: string; availability_zone: string; volume_type_id: string;
  bootable: boolean; readonly: boolean; readonly_set: boolean; multiattach: boolean; snapshot_id: string | null; source_volid: string | null;
  image_id: string | null; metadata: Record<string, string>; image_metadata: Record<string, string>;
  location: VolumeLocation | null; previous_status: string | null; launched_at: string | null;
  created_at: string; updated_at: string; volume_type_name: string | null;
  /** The generic volume group (3.13) it belongs to. */
  group_id: string | null;
}

export interface AttachmentRow {
  id: string; volume_id: string; instance_id: string | null; project_id: string; status: string; attach_mode: string;
  mountpoint: string | null; host: string | null; connector: Record<string, unknown> | null; attached_at: string | null;
  created_at: string; updated_at: string;
}

const SELECT_VOLUME = `SELECT v.*, vt.name AS volume_type_name FROM cinder_volumes v LEFT JOIN cinder_volume_types vt ON vt.id = v.volume_type_id`;

export function toVolume(r: any): VolumeRow {
  return {
    ...r, size: Number(r.size), bootable: bool(r.bootable), readonly: bool(r.readonly), readonly_set: r.readonly !== null && r.readonly !== undefined, multiattach: bool(r.multiattach),
    metadata: fromJson(r.metadata, {}), image_metadata: fromJson(r.image_metadata, {}), location: fromJson(r.location, null),
    volume_type_name: r.volume_type_name ?? null, group_id: r.group_id ?? null,
  };
}

export function toAttachment(r: any): AttachmentRow {
  return { ...r, connector: fromJson(r.connector, null) };
}

export async function getVolume(q: Queryable, id: string, forUpdate = ''): Promise<VolumeRow | null> {
  if (!isUuid(id)) return null;
  const r = await q.get(`${SELECT_VOLUME} WHERE v.id = ?${forUpdate ? ' FOR UPDATE OF v' : ''}`, [id]);
  return r ? toVolume(r) : null;
}

export async function attachmentsOf(q: Queryable, volumeIds: string[]): Promise<Map<string, AttachmentRow[]>> {
  const out = new Map<string, AttachmentRow[]>();
  if (!volumeIds.length) return out;
  for (let i = 0; i < volumeIds.length; i += 500) {
    const chunk = volumeIds.slice(i, i + 500);
    const rows = await q.all(`SELECT * FROM cinder_attachments WHERE volume_id IN (${chunk.map(() => '?').join(',')}) ORDER BY created_at, id`, chunk);
    for (const r of rows) {
      const a = toAttachment(r);
      if (!out.has(a.volume_id)) out.set(a.volume_id, []);
      out.get(a.volume_id)!.push(a);
    }
  }
  return out;
}

/** Sets columns of a volume row (updated_at too); `where` adds a compare-and-set condition. */
export async function updateVolume(q: Queryable, id: string, set: Record<string, unknown>, where = '', whereParams: any[] = []): Promise<number> {
  const cols = Object.keys(set);
  const vals = cols.map((k) => {
    const v = set[k];
    if (k === 'metadata' || k === 'image_metadata' || k === 'location') return v === null ? null : toJson(v);
    return v as any;
  });
  const r = await q.run(`UPDATE cinder_volumes SET ${[...cols.map((c) => `${c} = ?`), 'updated_at = ?'].join(', ')} WHERE id = ?${where ? ` AND (${where})` : ''}`,
    [...vals, nowIso(), id, ...whereParams]);
  return r.changes;
}

/** The volume as the caller may see it: 404 "Volume X could not be found." otherwise. */
export async function findVolume(ctx: Context, req: FastifyRequest, id: string, q: Queryable = ctx.db, forUpdate = ''): Promise<VolumeRow> {
  const v = await getVolume(q, id, forUpdate);
  if (!v || (v.project_id !== req.auth!.projectId && !isAdmin(ctx, req))) throw notFoundError('Volume', id);
  return v;
}

export const volumeTarget = (v: { project_id: string; user_id?: string }) => ({ project_id: v.project_id, user_id: v.user_id });

// ---- views --------------------------------------------------------------------------------

/** Cinder's backend host string of a volume: host@backend#pool (the pool is the datastore). */
export const volumeHost = (v: VolumeRow) => (v.location ? `vistack@vmdk#${v.location.datastore}` : null);

export function attachmentView(v: VolumeRow, a: AttachmentRow) {
  return {
    id: v.id, attachment_id: a.id, volume_id: v.id, server_id: a.instance_id, host_name: a.host ?? null,
    device: a.mountpoint ?? null, attached_at: cinderTime(a.attached_at),
  };
}

/**
 * Cinder's detailed volume view. The extension attributes (tenant, host, migration status,
 * image metadata) are added to show and list answers only, as Cinder's extensions do; create and
 * update answer the core view (`extended` false).
 */
export function volumeView(ctx: Context, req: FastifyRequest, v: VolumeRow, atts: AttachmentRow[], extended = true) {
  const out: Record<string, unknown> = {
    id: v.id,
    status: v.status,
    size: v.size,
    availability_zone: v.availability_zone,
    created_at: cinderTime(v.created_at),
    updated_at: cinderTime(v.updated_at),
    attachments: atts.filter((a) => a.status === 'attached').map((a) => attachmentView(v, a)),
    name: v.name,
    description: v.description,
    volume_type: v.volume_type_name,
    snapshot_id: v.snapshot_id,
    source_volid: v.source_volid,
    // The read-only flag shows as metadata once set, as Cinder's admin metadata does.
    metadata: v.readonly_set ? { ...v.metadata, readonly: v.readonly ? 'True' : 'False' } : v.metadata,
    links: resourceLinks(ctx, req, 'volumes', v.id),
    user_id: v.user_id,
    bootable: v.bootable ? 'true' : 'false',
    encrypted: false,
    replication_status: 'disabled',
    consistencygroup_id: null,
    multiattach: v.multiattach,
  };
  // Cinder's view builder adds the migration status for admins (no volume migrates here).
  if (isAdmin(ctx, req)) out.migration_status = null;
  if (atLeast(req, '3.13')) out.group_id = v.group_id;
  // The backend's own id of the volume: the VMDK driver sets none.
  if (atLeast(req, '3.21') && isAdmin(ctx, req)) out.provider_id = null;
  if (!extended) return out;
  if (allowed(ctx, req, 'volume_extension:volume_tenant_attribute', volumeTarget(v))) out['os-vol-tenant-attr:tenant_id'] = v.project_id;
  if (allowed(ctx, req, 'volume_extension:volume_host_attribute', volumeTarget(v))) out['os-vol-host-attr:host'] = volumeHost(v);
  if (isAdmin(ctx, req)) {
    out['os-vol-mig-status-attr:migstat'] = null;
    out['os-vol-mig-status-attr:name_id'] = null;
  }
  if (Object.keys(v.image_metadata).length) out.volume_image_metadata = v.image_metadata;
  return out;
}

const summaryView = (ctx: Context, req: FastifyRequest, v: VolumeRow) => ({ id: v.id, name: v.name, links: resourceLinks(ctx, req, 'volumes', v.id) });

export async function showVolume(ctx: Context, req: FastifyRequest, id: string, extended = true) {
  // Found by the caller, but a concurrent delete may have removed it since.
  const v = await getVolume(ctx.db, id);
  if (!v) throw notFoundError('Volume', id);
  return volumeView(ctx, req, v, (await attachmentsOf(ctx.db, [id])).get(id) ?? [], extended);
}

// ---- create -------------------------------------------------------------------------------

export interface CreateParams {
  id?: string;
  projectId: string;
  userId: string;
  size: number | null;
  name: string | null;
  description: string | null;
  volumeType: string | null;
  availabilityZone: string | null;
  metadata: Record<string, string>;
  snapshotId: string | null;
  sourceVolid: string | null;
  imageId: string | null;
  multiattach: boolean;
  /** The API request asking for it (recorded in a user message if the create fails). */
  requestId?: string;
  /** The generic volume group to put it in (3.13). */
  groupId?: string | null;
}

/** Parses the `size` of a create request: a positive integer (or its string), or absent. */
function parseSize(raw: unknown): number | null {
  if (raw === undefined || raw === null) return null;
  if ((typeof raw === 'number' && Number.isInteger(raw)) || (typeof raw === 'string' && /^[0-9]+$/.test(raw))) {
    const n = Number(raw);
    if (n >= 1 && n <= 0x7fffffff) return n;
  }
  throw badRequest(`Invalid input for field/attribute size. Value: ${JSON.stringify(raw)}. ${JSON.stringify(raw)} is not valid under any of the given schemas`);
}

/** An AuthContext for in-process callers (Nova) acting for a project. */
export function projectAuth(projectId: string, userId: string, roles: string[] = ['member', 'reader']): AuthContext {
  return {
    token: '', userId, userName: '', userDomainId: 'default', userDomainName: 'Default', projectId, roles, roleIds: [],
    methods: [], issuedAt: '', expiresAt: '', auditIds: [], isAdminProject: false,
  };
}

/**
 * Checks a create request and writes the volume (status creating) with its quota and its create
 * task in one transaction; the id is returned at once. With a given id that exists already (a
 * rerun after a crash), nothing is written and the id is returned.
 */
export async function createVolume(ctx: Context, auth: AuthContext, p: CreateParams, opts: { imageVisibleTo?: AuthContext | null } = {}): Promise<string> {
  const given = [p.snapshotId && 'snapshot_id', p.sourceVolid && 'source_volid', p.imageId && 'imageRef'].filter(Boolean);
  if (given.length > 1) throw invalidInput('Only one of snapshot_id, source_volid and imageRef may be specified.');
  if (p.availabilityZone && p.availabilityZone !== VOLUME_AZ) throw invalidInput(`Availability zone '${p.availabilityZone}' is invalid.`);

  // The image is Glance's: read it before the transaction.
  let image: Awaited<ReturnType<NonNullable<Context['services']['image']>['get']>> = null;
  if (p.imageId) {
    const api = ctx.services.image;
    image = api && isUuid(p.imageId) ? await api.get(p.imageId, opts.imageVisibleTo === undefined ? auth : opts.imageVisibleTo) : null;
    if (!image) throw invalidInput(`Image ${p.imageId} could not be found.`);
    if (image.status !== 'active') throw invalidInput(`Image ${p.imageId} is not active.`);
  }

  return ctx.db.tx(async (t) => {
    const id = p.id ?? uuid();
    if (p.id && (await t.get('SELECT id FROM cinder_volumes WHERE id = ?', [id]))) return id;
    await assertNotFrozen(t);
    let size = p.size;
    let typeRef = p.volumeType;
    let bootable = false;
    let imageMeta: Record<string, string> = {};
    if (p.snapshotId) {
      const s = isUuid(p.snapshotId) ? await t.get('SELECT * FROM cinder_snapshots WHERE id = ?', [p.snapshotId]) : undefined;
      if (!s || (s.project_id !== auth.projectId && !auth.roles.includes('admin'))) throw notFoundError('Snapshot', p.snapshotId);
      if (s.status !== 'available') throw badRequest("Invalid snapshot: Originating snapshot status must be one of 'available' values");
      const src = await getVolume(t, s.volume_id);
      if (size === null) size = Number(s.size);
      if (size < Number(s.size)) throw invalidInput(`Volume size '${size}'GB cannot be smaller than the snapshot size ${s.size}GB. They must be >= original snapshot size.`);
      if (!typeRef && src) typeRef = src.volume_type_id;
      if (src) { bootable = src.bootable; imageMeta = src.image_metadata; }
    } else if (p.sourceVolid) {
      const src = await getVolume(t, p.sourceVolid);
      if (!src || (src.project_id !== auth.projectId && !auth.roles.includes('admin'))) throw notFoundError('Volume', p.sourceVolid);
      if (src.status !== 'available' && src.status !== 'in-use') {
        throw badRequest("Invalid volume: Unable to create a volume from an originating source volume when its status is not 'available' or 'in-use'.");
      }
      if (size === null) size = src.size;
      if (size < src.size) throw invalidInput(`Volume size '${size}'GB cannot be smaller than original volume size ${src.size}GB. They must be >= original volume size.`);
      if (!typeRef) typeRef = src.volume_type_id;
      bootable = src.bootable;
      imageMeta = src.image_metadata;
    } else if (image) {
      if (size === null) throw invalidInput(`Volume size '${size}' must be an integer and greater than 0`);
      const imageGb = Math.ceil((image.size ?? 0) / GiB);
      if (imageGb > size) throw invalidInput(`Size of specified image ${imageGb}GB is larger than volume size ${size}GB.`);
      const virtualGb = Math.ceil((image.virtualSize ?? 0) / GiB);
      if (virtualGb > size) throw invalidInput(`Image virtual size is ${virtualGb}GB and doesn't fit in a volume of size ${size}GB.`);
      if ((image.minDisk ?? 0) > size) throw invalidInput(`Volume size ${size}GB cannot be smaller than the image minDisk size ${image.minDisk}GB.`);
      bootable = true;
      imageMeta = imageMetadataOf(image);
    }
    if (size === null || size < 1) throw invalidInput(`Volume size '${size}' must be an integer and greater than 0`);
    const type = await resolveVolumeType(t, auth, typeRef);
    const multiattach = p.multiattach || /^<is>\s*true$/i.test(type.extraSpecs.multiattach ?? '');
    if (type.extraSpecs['vmware:storage_profile']) {
      const pools = await ctx.volumeDriver.pools();
      if (!pools.some((x) => x.storageProfiles.includes(type.extraSpecs['vmware:storage_profile']))) {
        throw badRequest(`Invalid volume type: No valid backend was found. No storage with profile ${type.extraSpecs['vmware:storage_profile']}.`);
      }
    }
    const groupId = p.groupId ? await groupForNewVolume(t, auth, p.groupId, type.id) : null;
    await enforceVolumeQuota(t, p.projectId, { volumes: 1, gigabytes: size, volumeType: type.name });
    const ts = nowIso();
    await t.run(
      `INSERT INTO cinder_volumes (id, project_id, user_id, name, description, size, status, attach_status, availability_zone,
        volume_type_id, bootable, readonly, multiattach, snapshot_id, source_volid, image_id, metadata, image_metadata, location,
        previous_status, launched_at, created_at, updated_at, group_id)
       VALUES (?, ?, ?, ?, ?, ?, 'creating', 'detached', ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?)`,
      [id, p.projectId, p.userId, p.name, p.description, size, VOLUME_AZ, type.id, bootable, multiattach,
        p.snapshotId, p.sourceVolid, p.imageId, toJson(p.metadata), toJson(imageMeta), ts, ts, groupId]);
    await ctx.tasks.enqueue(t, TASK_CREATE, { volumeId: id, requestId: p.requestId ?? null }, { resourceId: id });
    return id;
  });
}

/** volume_image_metadata as Cinder copies it from Glance: the image's properties and core fields. */
function imageMetadataOf(image: { id: string; name: string | null; checksum: string | null; containerFormat: string | null; diskFormat: string | null; minDisk: number; minRam: number; size: number | null; properties: Record<string, string> }) {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(image.properties ?? {})) if (v !== null && v !== undefined) out[k] = String(v);
  out.image_id = image.id;
  if (image.name !== null) out.image_name = image.name;
  if (image.checksum) out.checksum = image.checksum;
  if (image.containerFormat) out.container_format = image.containerFormat;
  if (image.diskFormat) out.disk_format = image.diskFormat;
  out.min_disk = String(image.minDisk ?? 0);
  out.min_ram = String(image.minRam ?? 0);
  if (image.size !== null) out.size = String(image.size);
  return out;
}

// ---- delete -------------------------------------------------------------------------------

const DELETABLE = ['available', 'error', 'error_restoring', 'error_extending', 'error_managing'];
const DELETE_REFUSED = 'Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.';

/**
 * Marks a volume deleting and writes its delete task (in `t`). Cinder's rules: a deletable status
 * (any but attached with force), no attachments, and no snapshots unless `cascade` (then they are
 * deleted first, by the same task).
 */
export async function beginDelete(ctx: Context, t: Tx, v: VolumeRow, o: { cascade?: boolean; force?: boolean; internal?: boolean; unmanage?: boolean }) {
  if (v.status === 'deleting') return;
  if (!o.internal) await assertNotFrozen(t);
  const atts = await t.get('SELECT COUNT(*) AS n FROM cinder_attachments WHERE volume_id = ?', [v.id]);
  const statusOk = o.force ? v.attach_status !== 'attached' && v.status !== 'in-use' : DELETABLE.includes(v.status) || (o.internal && v.status === 'creating');
  if (!statusOk || Number(atts?.n ?? 0) > 0 || (v.group_id && !o.internal)) throw badRequest(DELETE_REFUSED);
  const snaps = await t.all('SELECT id, status FROM cinder_snapshots WHERE volume_id = ?', [v.id]);
  if (snaps.length && !o.cascade) throw badRequest(DELETE_REFUSED);
  if (o.cascade && snaps.some((s) => s.status !== 'available' && s.status !== 'error' && s.status !== 'deleting')) {
    throw badRequest('Invalid volume: Snapshot of volume is not in a state that allows deleting it.');
  }
  if (snaps.length) await t.run(`UPDATE cinder_snapshots SET status = 'deleting', updated_at = ? WHERE volume_id = ?`, [nowIso(), v.id]);
  await updateVolume(t, v.id, { status: 'deleting', previous_status: v.status });
  await ctx.tasks.enqueue(t, TASK_DELETE, { volumeId: v.id, cascade: !!o.cascade, ...(o.unmanage ? { unmanage: true } : {}) }, { resourceId: v.id });
}

// ---- tasks --------------------------------------------------------------------------------

async function runCreate(ctx: Context, task: TaskRecord) {
  const v = await getVolume(ctx.db, task.payload.volumeId);
  // Deleted meanwhile: the VMDK is still made when the create might have reached the driver before
  // a crash, so that the delete task (queued after this one) finds and removes it.
  if (!v || (v.status !== 'creating' && v.status !== 'deleting')) return;
  if (v.location) return;
  // The scheduler's answer when the only backend is disabled.
  if (v.status === 'creating' && (await backendState(ctx.db)).disabled) throw new VolumeError('No valid backend was found. The cinder-volume service is disabled.');
  const typeRow = await ctx.db.get('SELECT extra_specs FROM cinder_volume_types WHERE id = ?', [v.volume_type_id]);
  const extraSpecs = fromJson<Record<string, string>>(typeRow?.extra_specs, {});
  // The scheduler's CapabilitiesFilter: a type asking for what the backend has not fits nowhere.
  if (v.status === 'creating' && !satisfiesExtraSpecs(await ctx.volumeDriver.pools(), extraSpecs)) {
    throw new VolumeError('No valid backend was found. No weighed backends available.');
  }
  const spec = volumeSpecFromType(extraSpecs);
  let source: VolumeSource | undefined;
  if (v.image_id) {
    const api = ctx.services.image;
    const rec = api ? await api.get(v.image_id, null) : null;
    if (!rec || rec.status !== 'active' || !api) {
      if (v.status === 'deleting') return;
      throw new VolumeError(`Image ${v.image_id} could not be found.`);
    }
    source = {
      image: {
        id: rec.id, name: rec.name ?? '', diskFormat: rec.diskFormat ?? 'vmdk', containerFormat: rec.containerFormat ?? 'bare',
        size: rec.size ?? 0, checksum: rec.checksum ?? undefined, properties: { ...rec.properties }, open: () => api.open(rec.id),
      },
    };
  } else if (v.snapshot_id) {
    const s = await ctx.db.get('SELECT location FROM cinder_snapshots WHERE id = ?', [v.snapshot_id]);
    const loc = fromJson<VolumeLocation | null>(s?.location, null);
    if (!loc) { if (v.status === 'deleting') return; throw new VolumeError(`Snapshot ${v.snapshot_id} has no backing.`); }
    source = { snapshot: loc };
  } else if (v.source_volid) {
    const src = await getVolume(ctx.db, v.source_volid);
    if (!src?.location) { if (v.status === 'deleting') return; throw new VolumeError(`Volume ${v.source_volid} has no backing.`); }
    source = { volume: src.location };
  }
  const loc = await ctx.volumeDriver.createVolume({
    volumeId: v.id, name: `volume-${v.id}`, projectId: v.project_id, sizeGb: v.size, ...spec, availabilityZone: v.availability_zone,
  }, source);
  await ctx.db.tx(async (t) => {
    await updateVolume(t, v.id, { location: loc });
    await updateVolume(t, v.id, { status: 'available', launched_at: nowIso() }, "status = 'creating'");
  });
}

/** Makes a volume's VMDK now (the create task's work, idempotent): for groups made from a source. */
export const realiseVolume = (ctx: Context, volumeId: string) => runCreate(ctx, { payload: { volumeId } } as TaskRecord);
/** Deletes a volume marked deleting, its snapshots and VMDK now (the delete task's work, idempotent). */
export const destroyVolume = (ctx: Context, volumeId: string) => runDelete(ctx, { payload: { volumeId } } as TaskRecord);

/** A failure that retrying will not cure (the volume goes to error at once). */
export class VolumeError extends Error {}

async function runDelete(ctx: Context, task: TaskRecord) {
  const v = await getVolume(ctx.db, task.payload.volumeId);
  if (!v) return;
  if (v.status !== 'deleting') return;
  for (const s of await ctx.db.all('SELECT id, location FROM cinder_snapshots WHERE volume_id = ?', [v.id])) {
    const loc = fromJson<VolumeLocation | null>(s.location, null);
    if (loc) await ctx.volumeDriver.deleteSnapshot(loc);
    await ctx.db.run('DELETE FROM cinder_snapshots WHERE id = ?', [s.id]);
  }
  // os-unmanage: Cinder forgets the volume, its VMDK stays on the datastore (manageable again).
  if (v.location && !task.payload.unmanage) await ctx.volumeDriver.deleteVolume(v.location);
  await ctx.db.tx(async (t) => {
    await t.run('DELETE FROM cinder_attachments WHERE volume_id = ?', [v.id]);
    await t.run("DELETE FROM cinder_volumes WHERE id = ? AND status = 'deleting'", [v.id]);
  });
}

async function runExtend(ctx: Context, task: TaskRecord) {
  const v = await getVolume(ctx.db, task.payload.volumeId);
  if (!v || v.status !== 'extending') return;
  if (!v.location) throw new VolumeError(`Volume ${v.id} has no backing.`);
  await ctx.volumeDriver.extendVolume(v.location, task.payload.newSize);
  await updateVolume(ctx.db, v.id, { size: task.payload.newSize, status: v.previous_status === 'in-use' ? 'in-use' : 'available', previous_status: 'extending' }, "status = 'extending'");
}

/** Runs a handler; our own and the driver's faults (no space, no such file ...) do not heal by retrying. */
export const wrap = (fn: (ctx: Context, t: TaskRecord) => Promise<void>, ctx: Context) => async (t: TaskRecord) => {
  try { await fn(ctx, t); } catch (e) {
    if (e instanceof VolumeError || e instanceof VirtDriverError) throw new PermanentError((e as Error).message);
    throw e;
  }
};

export function registerVolumeTasks(ctx: Context) {
  // The failure sets the error status (compare-and-set) and, when it did, tells the project
  // with a user message, in one transaction.
  const failTo = (status: string, from: string, message?: (v: VolumeRow) => Promise<MessageEvent['action' | 'detail'][]>) => async (t: TaskRecord) => {
    const v = await getVolume(ctx.db, t.payload.volumeId);
    if (!v) return;
    const why = message ? await message(v) : undefined;
    await ctx.db.tx(async (tx) => {
      const changed = await updateVolume(tx, v.id, { status }, 'status = ?', [from]);
      if (changed && why) {
        await recordMessage(tx, { projectId: v.project_id, resourceType: 'VOLUME', resourceId: v.id, action: why[0], detail: why[1], requestId: t.payload.requestId });
      }
    });
  };
  const createFailure = async (v: VolumeRow) => {
    const typeRow = await ctx.db.get('SELECT extra_specs FROM cinder_volume_types WHERE id = ?', [v.volume_type_id]);
    if ((await backendState(ctx.db)).disabled || !satisfiesExtraSpecs(await ctx.volumeDriver.pools(), fromJson(typeRow?.extra_specs, {}))) {
      return [ACTIONS.SCHEDULE_ALLOCATE_VOLUME, DETAILS.NO_BACKEND_AVAILABLE];
    }
    if (v.image_id) return [ACTIONS.COPY_IMAGE_TO_VOLUME, DETAILS.UNKNOWN_ERROR];
    return [ACTIONS.CREATE_VOLUME_FROM_BACKEND, DETAILS.DRIVER_FAILED_CREATE];
  };
  ctx.tasks.register(TASK_CREATE, { run: wrap(runCreate, ctx), onFailure: failTo('error', 'creating', createFailure) });
  ctx.tasks.register(TASK_DELETE, { run: wrap(runDelete, ctx), onFailure: failTo('error_deleting', 'deleting') });
  ctx.tasks.register(TASK_EXTEND, {
    run: wrap(runExtend, ctx), onFailure: failTo('error_extending', 'extending', async () => [ACTIONS.EXTEND_VOLUME, DETAILS.DRIVER_FAILED_EXTEND]),
  });
}

// ---- routes -------------------------------------------------------------------------------

const SORT_KEYS = ['id', 'name', 'status', 'size', 'availability_zone', 'created_at', 'updated_at', 'bootable', 'project_id', 'user_id', 'volume_type', 'description'];
const SORT_COLUMNS: Record<string, string> = {
  id: 'v.id', name: 'v.name', status: 'v.status', size: 'v.size', availability_zone: 'v.availability_zone', created_at: 'v.created_at',
  updated_at: 'v.updated_at', bootable: 'v.bootable', project_id: 'v.project_id', user_id: 'v.user_id', volume_type: 'vt.name', description: 'v.description',
};

function bodyOf(req: FastifyRequest, key: string): Record<string, any> {
  const b = req.body as Record<string, unknown> | null | undefined;
  const v = b && typeof b === 'object' ? b[key] : undefined;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest(`Missing required element '${key}' in request body.`);
  return v as Record<string, any>;
}

/**
 * The bootable filter: from 3.2 a strict boolean (400 otherwise); before it only the spellings
 * of False select non-bootable volumes and anything else bootable ones.
 */
function bootableFilter(req: FastifyRequest, raw: string): boolean {
  if (!atLeast(req, '3.2')) return !['False', 'false', 'FALSE'].includes(raw);
  const s = raw.trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(s)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(s)) return false;
  throw invalidInput(`'bootable = ${raw}'`);
}

async function listVolumes(ctx: Context, req: FastifyRequest, detail: boolean) {
  ctx.policy.authorize('volume:get_all', req.auth!, { project_id: req.auth!.projectId });
  const page = paginationParams(req);
  const sort = sortParams(req, SORT_KEYS);
  const q = queryParams(req);
  const admin = isAdmin(ctx, req);
  const where: string[] = [];
  const params: any[] = [];
  if (admin && q.all_tenants !== undefined && (q.all_tenants === '' || looseBool(q.all_tenants))) {
    if (q.project_id) { where.push('v.project_id = ?'); params.push(q.project_id); }
  } else {
    where.push('v.project_id = ?'); params.push(req.auth!.projectId ?? '');
  }
  const name = q.name ?? q.display_name;
  if (name !== undefined) { where.push('v.name = ?'); params.push(name); }
  if (q.status !== undefined) { where.push('v.status = ?'); params.push(q.status); }
  if (q.availability_zone !== undefined) { where.push('v.availability_zone = ?'); params.push(q.availability_zone); }
  if (q.bootable !== undefined) { where.push('v.bootable = ?'); params.push(bootableFilter(req, q.bootable) ? 1 : 0); }
  // glance_metadata (3.4) and group_id (3.10) are ignored before their versions, as Cinder pops them.
  const glanceMeta = q.glance_metadata !== undefined && atLeast(req, '3.4') ? parseMetadataFilter(q.glance_metadata) : undefined;
  if (q.group_id !== undefined && atLeast(req, '3.10')) { where.push('v.group_id = ?'); params.push(q.group_id); }
  if (q.size !== undefined && /^\d+$/.test(q.size)) { where.push('v.size = ?'); params.push(Number(q.size)); }
  if (admin && q.user_id !== undefined) { where.push('v.user_id = ?'); params.push(q.user_id); }
  let rows = await listRows<any>(ctx.db, {
    from: 'cinder_volumes v LEFT JOIN cinder_volume_types vt ON vt.id = v.volume_type_id', select: 'v.*, vt.name AS volume_type_name',
    where, params, sort, sortColumns: SORT_COLUMNS, idColumn: 'v.id',
    page: q.metadata !== undefined || glanceMeta ? { ...page, limit: Number.MAX_SAFE_INTEGER, offset: 0, marker: undefined } : page,
    markerNotFound: (m) => notFoundError('Volume', m),
  });
  let vols = rows.map(toVolume);
  if (q.metadata !== undefined || glanceMeta) {
    // Metadata is a JSON column: filter after the query, then page.
    const want = q.metadata !== undefined ? parseMetadataFilter(q.metadata) : {};
    vols = vols.filter((v) => Object.entries(want).every(([k, x]) => v.metadata[k] === x));
    if (glanceMeta) vols = vols.filter((v) => Object.entries(glanceMeta).every(([k, x]) => v.image_metadata[k] === x));
    let start = 0;
    if (page.marker !== undefined) {
      start = vols.findIndex((v) => v.id === page.marker) + 1;
      if (start === 0) throw notFoundError('Volume', page.marker);
    }
    start += page.offset;
    vols = vols.slice(start, start + page.limit);
  }
  rows = [];
  const atts = detail ? await attachmentsOf(ctx.db, vols.map((v) => v.id)) : new Map();
  const out: Record<string, unknown> = {
    volumes: vols.map((v) => (detail ? volumeView(ctx, req, v, atts.get(v.id) ?? []) : summaryView(ctx, req, v))),
  };
  const links = collectionLinks(ctx, req, detail ? 'volumes/detail' : 'volumes', vols, page);
  if (links) out.volumes_links = links;
  return out;
}

export async function volumeRoutes(app: FastifyInstance, ctx: Context) {
  app.post('/volumes', async (req, reply: FastifyReply) => {
    const b = bodyOf(req, 'volume');
    const target = { project_id: req.auth!.projectId, user_id: req.auth!.userId };
    ctx.policy.authorize('volume:create', req.auth!, target);
    const imageId = b.imageRef ?? b.image_id ?? null;
    if (imageId !== null) {
      if (typeof imageId !== 'string') throw badRequest('Invalid input for field/attribute imageRef. Value must be a string.');
      ctx.policy.authorize('volume:create_from_image', req.auth!, target);
    }
    const str = (k: string) => optionalString(b[k], k);
    for (const k of ['snapshot_id', 'source_volid', 'volume_type', 'availability_zone', 'consistencygroup_id', 'group_id', 'backup_id']) str(k);
    if (b.backup_id) throw badRequest('Invalid input received: Creating a volume from a backup is not supported: this cloud has no backup service.');
    if (b.consistencygroup_id) throw badRequest('Invalid input received: Consistency groups are not supported by this cloud: use generic volume groups.');
    // group_id came with 3.13; before it Cinder ignores it.
    const groupId = atLeast(req, '3.13') ? (str('group_id') ?? null) as string | null : null;
    const id = await createVolume(ctx, req.auth!, {
      projectId: req.auth!.projectId!, userId: req.auth!.userId, size: parseSize(b.size),
      name: (str('name') ?? str('display_name') ?? null) as string | null,
      description: (optionalString(b.description, 'description', 65535) ?? optionalString(b.display_description, 'display_description', 65535) ?? null) as string | null,
      volumeType: (str('volume_type') ?? null) as string | null, availabilityZone: (str('availability_zone') ?? null) as string | null,
      metadata: b.metadata === undefined || b.metadata === null ? {} : validateMetadata(b.metadata),
      snapshotId: (str('snapshot_id') ?? null) as string | null, sourceVolid: (str('source_volid') ?? null) as string | null,
      imageId, multiattach: b.multiattach === undefined ? false : parseBoolStrict(b.multiattach, 'multiattach'), requestId: req.id, groupId,
    });
    reply.code(202);
    return { volume: await showVolume(ctx, req, id, false) };
  });

  app.get('/volumes', (req) => {
    // "/volumes/" (an empty id) is a show, as Cinder's router reads it: nothing is found.
    if (/\/volumes\/(\?|$)/.test(req.url)) throw notFoundError('Volume', '');
    return listVolumes(ctx, req, false);
  });
  app.get('/volumes/detail', (req) => listVolumes(ctx, req, true));

  // 3.12: the count and total size of the volumes the caller would list.
  app.get('/volumes/summary', async (req) => {
    requireVersion(req, '3.12');
    ctx.policy.authorize('volume:get_all', req.auth!, { project_id: req.auth!.projectId });
    const q = queryParams(req);
    const all = isAdmin(ctx, req) && q.all_tenants !== undefined && (q.all_tenants === '' || looseBool(q.all_tenants));
    const r = await ctx.db.get(`SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS total FROM cinder_volumes${all ? '' : ' WHERE project_id = ?'}`,
      all ? [] : [req.auth!.projectId ?? '']);
    return { 'volume-summary': { total_size: Number(r?.total ?? 0), total_count: Number(r?.n ?? 0) } };
  });

  app.get<{ Params: { id: string } }>('/volumes/:id', async (req) => {
    const v = await findVolume(ctx, req, req.params.id);
    ctx.policy.authorize('volume:get', req.auth!, volumeTarget(v));
    return { volume: await showVolume(ctx, req, v.id) };
  });

  app.put<{ Params: { id: string } }>('/volumes/:id', async (req) => {
    const b = bodyOf(req, 'volume');
    const allowedKeys = ['name', 'description', 'display_name', 'display_description', 'metadata'];
    const extra = Object.keys(b).filter((k) => !allowedKeys.includes(k));
    if (extra.length) throw badRequest(`Additional properties are not allowed ('${extra[0]}' was unexpected)`);
    if (!Object.keys(b).length) throw badRequest("Invalid input for field/attribute volume. Value: {}. {} does not have enough properties");
    const set: Record<string, unknown> = {};
    const name = b.name !== undefined ? optionalString(b.name, 'name') : optionalString(b.display_name, 'display_name');
    if (name !== undefined) set.name = name;
    const desc = b.description !== undefined ? optionalString(b.description, 'description', 65535) : optionalString(b.display_description, 'display_description', 65535);
    if (desc !== undefined) set.description = desc;
    if (b.metadata !== undefined) set.metadata = validateMetadata(b.metadata);
    const v = await findVolume(ctx, req, req.params.id);
    ctx.policy.authorize('volume:update', req.auth!, volumeTarget(v));
    await updateVolume(ctx.db, v.id, set);
    return { volume: await showVolume(ctx, req, v.id, false) };
  });

  app.delete<{ Params: { id: string }; Querystring: Record<string, string> }>('/volumes/:id', async (req, reply: FastifyReply) => {
    const q = queryParams(req);
    const cascade = q.cascade !== undefined ? parseBoolStrict(q.cascade, 'cascade') : false;
    // force came with 3.23; before it Cinder ignores it.
    const force = q.force !== undefined && atLeast(req, '3.23') ? parseBoolStrict(q.force, 'force') : false;
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:volume:${req.params.id}`);
      const v = await findVolume(ctx, req, req.params.id, t, t.forUpdate);
      ctx.policy.authorize('volume:delete', req.auth!, volumeTarget(v));
      if (force) ctx.policy.authorize('volume:force_delete', req.auth!, volumeTarget(v));
      await beginDelete(ctx, t, v, { cascade, force });
    });
    reply.code(202);
    return reply.send();
  });

  // ---- metadata ----
  const meta = async (req: FastifyRequest, rule: string, write: boolean) => {
    const { id } = req.params as { id: string };
    const v = await findVolume(ctx, req, id);
    ctx.policy.authorize(rule, req.auth!, volumeTarget(v));
    if (write && v.status === 'maintenance') throw badRequest(`Invalid volume: Volume ${id} is in maintenance status.`);
    return v;
  };
  const writeMeta = async (id: string, fn: (m: Record<string, string>) => Record<string, string>) => ctx.db.tx(async (t) => {
    await t.lock(`cinder:volume:${id}`);
    const cur = await getVolume(t, id, t.forUpdate);
    if (!cur) throw notFoundError('Volume', id);
    const next = fn({ ...cur.metadata });
    await updateVolume(t, id, { metadata: next });
    return next;
  });
  // 3.15: the metadata's Etag on GET, and If-Match honoured on the PUTs (412 when stale), so that
  // concurrent writers do not lose each other's updates.
  app.get('/volumes/:id/metadata', async (req, reply) => {
    const m = (await meta(req, 'volume:get_volume_metadata', false)).metadata;
    if (atLeast(req, '3.15')) reply.header('Etag', metadataEtag(m));
    return { metadata: m };
  });
  const staleEtag = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!atLeast(req, '3.15')) return false;
    const h = req.headers['if-match'];
    if (typeof h !== 'string' || !h.trim()) return false;
    const v = await findVolume(ctx, req, (req.params as { id: string }).id);
    const tags = h.split(',').map((x) => x.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'));
    if (tags.includes('*') || tags.includes(metadataEtag(v.metadata))) return false;
    reply.code(412).send();
    return true;
  };
  app.post('/volumes/:id/metadata', async (req) => {
    const m = validateMetadata(bodyOf(req, 'metadata'));
    const v = await meta(req, 'volume:create_volume_metadata', true);
    return { metadata: await writeMeta(v.id, (cur) => ({ ...cur, ...m })) };
  });
  app.put('/volumes/:id/metadata', async (req, reply) => {
    if (await staleEtag(req, reply)) return reply;
    const m = validateMetadata(bodyOf(req, 'metadata'));
    const v = await meta(req, 'volume:update_volume_metadata', true);
    return { metadata: await writeMeta(v.id, () => m) };
  });
  app.get<{ Params: { id: string; key: string } }>('/volumes/:id/metadata/:key', async (req) => {
    const v = await meta(req, 'volume:get_volume_metadata', false);
    if (!(req.params.key in v.metadata)) throw new ApiError(404, `Volume ${v.id} has no metadata with key ${req.params.key}.`);
    return { meta: { [req.params.key]: v.metadata[req.params.key] } };
  });
  app.put<{ Params: { id: string; key: string } }>('/volumes/:id/metadata/:key', async (req, reply) => {
    if (await staleEtag(req, reply)) return reply;
    const m = validateMetadata(bodyOf(req, 'meta'), 'meta');
    const keys = Object.keys(m);
    if (keys.length > 1) throw badRequest('Request body contains too many items.');
    if (keys[0] !== req.params.key) throw badRequest('Request body and URI mismatch');
    const v = await meta(req, 'volume:update_volume_metadata', true);
    await writeMeta(v.id, (cur) => ({ ...cur, ...m }));
    return { meta: m };
  });
  app.delete<{ Params: { id: string; key: string } }>('/volumes/:id/metadata/:key', async (req, reply) => {
    const v = await meta(req, 'volume:delete_volume_metadata', true);
    if (!(req.params.key in v.metadata)) throw new ApiError(404, `Volume ${v.id} has no metadata with key ${req.params.key}.`);
    await writeMeta(v.id, (cur) => { delete cur[req.params.key]; return cur; });
    return reply.code(200).send();
  });
}

/** The Etag of volume metadata: the MD5 of its JSON as Cinder writes it (Python's json.dumps). */
export function metadataEtag(m: Record<string, string>): string {
  const py = (x: string) => JSON.stringify(x).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const body = `{"metadata": {${Object.entries(m).map(([k, v]) => `${py(k)}: ${py(v)}`).join(', ')}}}`;
  return createHash('md5').update(body).digest('hex');
}

/** Strict booleans for body/query flags (400 otherwise). */
export function parseBoolStrict(v: unknown, name: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['1', 't', 'true', 'on', 'y', 'yes'].includes(s)) return true;
    if (['0', 'f', 'false', 'off', 'n', 'no'].includes(s)) return false;
  }
  throw invalidInput(`Invalid value '${String(v)}' for ${name}: must be a boolean.`);
}
